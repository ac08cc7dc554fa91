//! The provincial bureau's (管局) decision: approval with the ICP numbers it issued, or rejection.

use sea_orm::prelude::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

use super::preliminary::check_reasons;
use super::{ReturnReason, Step, lock, simple, transition};
use crate::auth::Actor;
use crate::db::write_txn;
use crate::domain::identifiers::{IcpNumber, IcpNumberKind};
use crate::domain::workflow::WorkflowAction;
use crate::domain::{FieldError, FieldErrorCode, FilingStatus};
use crate::services::Deps;
use crate::services::ServiceError;
use crate::services::audit::FilingAction;
use crate::services::models::Filing;
use entity::{filing, website};

/// The numbers of the bureau's approval.
#[derive(Clone, Debug, Default)]
pub struct BureauApproval {
    /// The subject's number; an order that carries one already keeps it.
    pub subject_number: Option<String>,
    /// Numbers for websites (by id) that have none yet.
    pub websites: Vec<(Uuid, String)>,
}

/// The bureau's decision, recorded by the registrar: approved with the ICP numbers (the subject's and one per new
/// website, in the filing's province), or refused with reasons (back to the applicant). An order that amends a filed
/// record keeps the record's numbers (a number given for them must match) and replaces the record.
pub async fn record_bureau_decision(
    deps: &Deps,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    approval: Option<BureauApproval>,
    reasons: Vec<ReturnReason>,
) -> Result<Filing, ServiceError> {
    let db = &deps.db;
    let Some(BureauApproval { subject_number: given_subject, websites: website_numbers }) = approval else {
        check_reasons(&reasons)?;
        let step = Step::new(WorkflowAction::BureauReject, FilingAction::BureauRejected)
            .details(serde_json::json!({ "reasons": reasons }));
        return simple(deps, actor, filing_id, version, step, |_| {}).await;
    };
    let filing = crate::services::access::get_filing(deps, actor, filing_id).await?;
    let stored = crate::services::access::stored_filing(db, &deps.keys, actor, filing_id).await?;
    let mut errors = Vec::new();
    let subject = approved_subject_number(
        given_subject.as_deref(),
        filing.icp_number.as_deref(),
        &stored.form.subject.province_code,
        &mut errors,
    );
    let rows = website::Entity::find()
        .filter(website::Column::TenantId.eq(actor.tenant_id))
        .filter(website::Column::FilingId.eq(filing_id))
        .all(db)
        .await?;
    let assigned = assigned_website_numbers(&stored.websites, &rows, &website_numbers, subject.as_ref(), &mut errors);
    let (Some(subject), true) = (subject, errors.is_empty()) else {
        return Err(ServiceError::InvalidInput(errors));
    };
    let txn = write_txn(db).await?;
    let filing = approve(
        deps,
        &txn,
        actor,
        filing_id,
        version,
        Numbers { subject: &subject.to_string(), websites: &assigned, filed: &stored.websites },
    )
    .await
    .map_err(number_race)?;
    txn.commit().await.map_err(|e| number_race(e.into()))?;
    Ok(filing)
}

/// The subject number the approval files under: the one given (a subject number of the filing's province, equal to
/// the filing's own number if it has one), else the filing's own. `None` with the reason pushed to `errors` when
/// neither gives a valid number.
pub(super) fn approved_subject_number(
    given: Option<&str>,
    known: Option<&str>,
    province_code: &str,
    errors: &mut Vec<FieldError>,
) -> Option<IcpNumber> {
    let parsed =
        given.map(|n| crate::domain::identifiers::icp_number::subject_number(n, province_code, "subjectNumber"));
    match (parsed, known) {
        (Some(Err(error)), _) => {
            errors.push(*error);
            None
        }
        (Some(Ok(given)), Some(known)) if given.to_string() != known => {
            errors.push(FieldError::new("subjectNumber", FieldErrorCode::NumberMismatch).with_message(
                format!("This order's subject is filed as {known}."),
                format!("该订单的主体备案号为 {known}。"),
            ));
            None
        }
        (Some(Ok(given)), _) => Some(given),
        (None, Some(known)) => {
            crate::domain::identifiers::icp_number::subject_number(known, province_code, "subjectNumber").ok()
        }
        (None, None) => {
            errors.push(FieldError::new("subjectNumber", FieldErrorCode::Required));
            None
        }
    }
}

/// The numbers the approval assigns to websites that have none yet, as `(website id, number)`. A website that has a
/// number keeps it (a number given for it must match); one without needs a website number under the subject's,
/// not already held by a website of this filing nor given twice. Every refusal, and numbers given for websites the
/// filing does not hold, are pushed to `errors`.
pub(super) fn assigned_website_numbers(
    websites: &[crate::services::access::StoredWebsite],
    rows: &[website::Model],
    website_numbers: &[(Uuid, String)],
    subject: Option<&IcpNumber>,
    errors: &mut Vec<FieldError>,
) -> Vec<(Uuid, String)> {
    let mut assigned = Vec::new();
    for (i, w) in websites.iter().enumerate() {
        let field = format!("websites[{i}]");
        let known = rows.iter().find(|r| r.id == w.id).and_then(|r| r.icp_number.clone());
        let given = website_numbers.iter().find(|(id, _)| *id == w.id).map(|(_, n)| IcpNumber::parse(n));
        match (given, known) {
            (None, Some(_)) => {}
            (None, None) => errors.push(FieldError::new(field, FieldErrorCode::Required)),
            (Some(Ok(n)), Some(known)) if n.to_string() != known => {
                errors.push(
                    FieldError::new(field, FieldErrorCode::NumberMismatch).with_message(
                        format!("This website is filed as {known}."),
                        format!("该网站的备案号为 {known}。"),
                    ),
                );
            }
            (Some(Ok(_)), Some(_)) => {}
            (Some(Ok(n)), None)
                if matches!(n.kind(), IcpNumberKind::Website(_))
                    && subject.is_none_or(|s| n.subject_number() == *s) =>
            {
                let number = n.to_string();
                let taken = rows.iter().any(|r| r.icp_number.as_deref() == Some(number.as_str()))
                    || assigned.iter().any(|(_, a)| *a == number);
                if taken {
                    errors.push(FieldError::new(field, FieldErrorCode::Duplicate));
                } else {
                    assigned.push((w.id, number));
                }
            }
            (Some(_), _) => errors.push(FieldError::new(field, FieldErrorCode::InvalidFormat).with_message(
                "A website number is the subject number with its serial (京ICP备2026000001号-1).",
                "网站备案号为主体备案号加序号（如 京ICP备2026000001号-1）。",
            )),
        }
    }
    if website_numbers.iter().any(|(w, _)| !websites.iter().any(|s| s.id == *w)) {
        errors.push(FieldError::new("websites", FieldErrorCode::InvalidId));
    }
    assigned
}

/// The numbers an approval files: the subject's, those it assigns to websites that had none, and the websites of
/// the order.
pub(super) struct Numbers<'a> {
    subject: &'a str,
    websites: &'a [(Uuid, String)],
    filed: &'a [crate::services::access::StoredWebsite],
}

/// Records the bureau's approval in `txn`: the numbers, the record this order amends superseded, the order approved.
/// A number another subject's current record holds is refused (NUMBER_IN_USE); the check runs on the locked filing
/// and under a lock on the number, and the unique indexes over current records' numbers back it.
pub(super) async fn approve(
    deps: &Deps,
    txn: &DatabaseTransaction,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    numbers: Numbers<'_>,
) -> Result<Filing, ServiceError> {
    let Numbers { subject: number, websites: assigned, filed: websites } = numbers;
    let current = lock(txn, actor, filing_id).await?;
    crate::db::lock_key(txn, "icp-number", &format!("{}/{number}", actor.tenant_id)).await?;
    let held = numbers_held_elsewhere(txn, actor, &current, number, assigned, websites).await?;
    if !held.is_empty() {
        return Err(ServiceError::InvalidInput(held));
    }
    let details = serde_json::json!({ "subjectNumber": number,
        "websites": assigned.iter().map(|(id, n)| serde_json::json!({ "websiteId": id, "number": n })).collect::<Vec<_>>() });
    let step = Step::new(WorkflowAction::BureauApprove, FilingAction::BureauApproved).details(details);
    // The order becomes the subject's record and the one it amended history: superseded first, so that the two
    // never stand as current records with one number at once (the unique index would refuse it).
    if let Some(base) = current.base_filing_id {
        filing::Entity::update_many()
            .col_expr(filing::Column::SupersededById, Expr::value(filing_id))
            .filter(filing::Column::TenantId.eq(actor.tenant_id))
            .filter(filing::Column::Id.eq(base))
            .filter(filing::Column::SupersededById.is_null())
            .exec(txn)
            .await?;
    }
    // The numbers before the transition, so the approval's notification carries them.
    for (id, number) in assigned {
        website::Entity::update_many()
            .col_expr(website::Column::IcpNumber, Expr::value(number.as_str()))
            .filter(website::Column::TenantId.eq(actor.tenant_id))
            .filter(website::Column::FilingId.eq(filing_id))
            .filter(website::Column::Id.eq(*id))
            .exec(txn)
            .await?;
    }
    let number = number.to_owned();
    transition(deps, txn, actor, filing_id, version, step, |m| m.icp_number = Set(Some(number))).await
}

/// The numbers of an approval that another subject's current record of the registrar holds: one NUMBER_IN_USE on
/// `subjectNumber` or `websites[i]` each. A record's own later orders keep its numbers: the record `filing` amends
/// is not another subject.
pub(super) async fn numbers_held_elsewhere(
    txn: &DatabaseTransaction,
    actor: &Actor,
    filing: &Filing,
    number: &str,
    assigned: &[(Uuid, String)],
    websites: &[crate::services::access::StoredWebsite],
) -> Result<Vec<FieldError>, ServiceError> {
    use sea_orm::sea_query::ExprTrait;
    use sea_orm::{JoinType, QuerySelect, RelationTrait};
    let ours: Vec<Uuid> = std::iter::once(filing.id).chain(filing.base_filing_id).collect();
    let current_records = filing::Column::TenantId
        .eq(actor.tenant_id)
        .and(filing::Column::Status.eq(FilingStatus::Approved.as_str()))
        .and(filing::Column::SupersededById.is_null())
        .and(filing::Column::FilingType.ne(crate::domain::FilingType::CancelSubject.as_str()))
        .and(filing::Column::Id.is_not_in(ours));
    let mut errors = Vec::new();
    let subject_held =
        filing::Entity::find().filter(current_records.clone()).filter(filing::Column::IcpNumber.eq(number)).count(txn);
    if subject_held.await? > 0 {
        errors.push(in_use("subjectNumber", number));
    }
    if assigned.is_empty() {
        return Ok(errors);
    }
    let held: Vec<String> = website::Entity::find()
        .join(JoinType::InnerJoin, website::Relation::Filing.def())
        .filter(current_records)
        .filter(website::Column::IcpNumber.is_in(assigned.iter().map(|(_, n)| n.as_str())))
        .select_only()
        .column(website::Column::IcpNumber)
        .into_tuple()
        .all(txn)
        .await?;
    for (i, w) in websites.iter().enumerate() {
        if let Some((_, n)) = assigned.iter().find(|(id, n)| *id == w.id && held.contains(n)) {
            errors.push(in_use(&format!("websites[{i}]"), n));
        }
    }
    Ok(errors)
}

pub(super) fn in_use(field: &str, number: &str) -> FieldError {
    FieldError::new(field, FieldErrorCode::NumberInUse).with_message(
        format!("{number} belongs to another subject's filed record: a number belongs to one subject."),
        format!("{number} 已属于另一主体的有效备案，一个备案号只能属于一个主体。"),
    )
}

/// A unique index over current records' numbers refused the approval: another subject took the number between the
/// check and the write (the database decided). Answered like the check's own refusal, not as an internal error.
pub(super) fn number_race(error: ServiceError) -> ServiceError {
    let unique = match &error {
        ServiceError::Internal(e) => e
            .downcast_ref::<sea_orm::DbErr>()
            .and_then(|e| e.sql_err())
            .is_some_and(|e| matches!(e, sea_orm::SqlErr::UniqueConstraintViolation(_))),
        _ => false,
    };
    if unique {
        ServiceError::InvalidInput(vec![FieldError::new("subjectNumber", FieldErrorCode::NumberInUse)])
    } else {
        error
    }
}
