//! The MIIT SMS check: every responsible person confirms by text within the window; a failed round is resubmitted or
//! the filing returned to the applicant.

use crate::language::Text;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::preliminary::check_reasons;
use super::{ReturnReason, Step, lock, record, roles, simple, transition};
use crate::auth::Actor;
use crate::db::write_txn;
use crate::domain::FilingStatus;
use crate::domain::workflow::{MAX_SMS_FAILURES, WorkflowAction, WorkflowRole};
use crate::services::Deps;
use crate::services::ServiceError;
use crate::services::audit::FilingAction;
use crate::services::models::Filing;
use entity::enums::SmsCheckStatus;
use entity::{filing, sms_check};

/// What the registrar learned from MIIT about one person's SMS confirmation. Every person confirmed sends the
/// filing to the bureau; five failures of one person end the round (back with the registrar).
pub async fn record_sms(deps: &Deps, actor: &Actor, check_id: Uuid, confirmed: bool) -> Result<Filing, ServiceError> {
    let (db, now) = (&deps.db, deps.now());
    if !roles(actor).contains(&WorkflowRole::Registrar) {
        return Err(ServiceError::Forbidden(Text::new(
            "only the registrar records MIIT's SMS results",
            "只有接入商可以登记工信部短信核验结果",
        )));
    }
    let of_tenant = || sms_check::Entity::find_by_id(check_id).filter(sms_check::Column::TenantId.eq(actor.tenant_id));
    let txn = write_txn(db).await?;
    let filing_id = of_tenant().one(&txn).await?.ok_or(ServiceError::NotFound)?.filing_id;
    // The filing first: two results recorded at once for two people are decided one after the other, each seeing
    // the other's check (and one person's failures are counted from what the other request wrote).
    let current = lock(&txn, actor, filing_id).await?;
    let check = of_tenant().one(&txn).await?.ok_or(ServiceError::NotFound)?;
    if current.status != FilingStatus::SmsVerification {
        return Err(ServiceError::InvalidTransition { action: "recordSmsVerification", from: current.status });
    }
    let failures = check.failures + i32::from(!confirmed);
    let status = if confirmed {
        SmsCheckStatus::Confirmed
    } else if failures >= MAX_SMS_FAILURES {
        SmsCheckStatus::Failed
    } else {
        SmsCheckStatus::Pending
    };
    let mut active: sms_check::ActiveModel = check.clone().into();
    active.status = Set(status);
    active.failures = Set(failures);
    active.updated_at = Set(now);
    active.update(&txn).await?;
    let details = serde_json::json!({ "person": check.person_name, "failures": failures });
    let event = if confirmed { FilingAction::SmsConfirmed } else { FilingAction::SmsAttemptFailed };
    record(&txn, actor, check.filing_id, event, None, None, Some(details), now).await?;

    let checks = sms_check::Entity::find().filter(sms_check::Column::FilingId.eq(check.filing_id)).all(&txn).await?;
    let filing = if status == SmsCheckStatus::Failed {
        let step =
            Step::new(WorkflowAction::SmsFailed, FilingAction::SmsCheckFailed).reason("too many failed confirmations");
        transition(deps, &txn, actor, check.filing_id, current.version, step, |_| {}).await?
    } else if checks.iter().all(|c| c.status == SmsCheckStatus::Confirmed) {
        let step = Step::new(WorkflowAction::SmsAllConfirmed, FilingAction::SmsCompleted);
        transition(deps, &txn, actor, check.filing_id, current.version, step, |m| m.sms_deadline_at = Set(None)).await?
    } else {
        current
    };
    txn.commit().await?;
    Ok(filing)
}

/// Ends the SMS step of every filing whose deadline passed (back with the registrar). Safe on every replica at
/// once: on PostgreSQL each replica locks the filing it moves (`FOR UPDATE SKIP LOCKED`, so replicas share the work
/// instead of waiting on each other), and the conditional update lets exactly one of them move it in any case.
/// Returns the (tenant, filing) moved.
pub async fn expire_sms_checks(deps: &Deps) -> Result<Vec<(Uuid, Uuid)>, ServiceError> {
    let (db, now) = (&deps.db, deps.now());
    let due = filing::Entity::find()
        .filter(filing::Column::Status.eq(FilingStatus::SmsVerification.as_str()))
        .filter(filing::Column::SmsDeadlineAt.lte(now))
        .all(db)
        .await?;
    let mut moved = Vec::new();
    for row in due {
        let system = Actor::system(row.tenant_id);
        let txn = write_txn(db).await?;
        if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            use sea_orm::QuerySelect;
            use sea_orm::sea_query::{LockBehavior, LockType};
            let claimed = filing::Entity::find_by_id(row.id)
                .filter(filing::Column::Status.eq(FilingStatus::SmsVerification.as_str()))
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .one(&txn)
                .await?;
            if claimed.is_none() {
                // Another replica holds it (or already moved it).
                continue;
            }
        }
        let step = Step::new(WorkflowAction::SmsFailed, FilingAction::SmsCheckFailed).reason("the SMS window passed");
        match transition(deps, &txn, &system, row.id, row.version, step, |_| {}).await {
            Ok(_) => {
                txn.commit().await?;
                moved.push((row.tenant_id, row.id));
            }
            // Another replica (or a person) moved it first.
            Err(ServiceError::Conflict { .. } | ServiceError::InvalidTransition { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(moved)
}

/// After a failed SMS round, the registrar starts a new one (a new window of `sms_window`).
pub async fn resubmit_to_miit(
    deps: &Deps,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
) -> Result<Filing, ServiceError> {
    let (now, sms_window) = (deps.now(), deps.sms_window);
    let step = Step::new(WorkflowAction::ResubmitToMiit, FilingAction::SmsResent);
    begin_sms_round(deps, actor, filing_id, version, step, now, now + sms_window).await
}

/// Moves a filing into the SMS step: a new round of checks, one per responsible person, until `deadline`.
pub(super) async fn begin_sms_round(
    deps: &Deps,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    step: Step,
    now: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> Result<Filing, ServiceError> {
    let db = &deps.db;
    let txn = write_txn(db).await?;
    let filing = transition(deps, &txn, actor, filing_id, version, step, |m| {
        m.sms_deadline_at = Set(Some(deadline));
        m.sms_reminded_at = Set(None);
    })
    .await?;
    start_sms_round(deps, &txn, actor, &filing, now).await?;
    txn.commit().await?;
    Ok(filing)
}

/// After a failed SMS round, the registrar returns the filing to the applicant.
pub async fn return_to_applicant(
    deps: &Deps,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    reasons: Vec<ReturnReason>,
) -> Result<Filing, ServiceError> {
    check_reasons(&reasons)?;
    let step = Step::new(WorkflowAction::ReturnToApplicant, FilingAction::ReturnedToApplicant)
        .details(serde_json::json!({ "reasons": reasons }));
    simple(deps, actor, filing_id, version, step, |m| m.sms_deadline_at = Set(None)).await
}

/// A new SMS round: one check per distinct responsible person the order involves (the subject's, and those of the
/// websites it adds, changes or cancels: an unchanged filed website's person is not texted again).
pub(super) async fn start_sms_round(
    deps: &Deps,
    txn: &impl ConnectionTrait,
    actor: &Actor,
    filing: &Filing,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sms_check::Entity::delete_many().filter(sms_check::Column::FilingId.eq(filing.id)).exec(txn).await?;
    let stored = crate::services::access::stored_filing(txn, &deps.keys, actor, filing.id).await?;
    let record = crate::services::access::record_of_order(txn, &deps.keys, actor, filing).await?;
    let in_scope = crate::services::access::websites_in_scope(filing.filing_type, &stored, record.as_ref());
    let mut seen = Vec::new();
    let mut people = vec![(None, &stored.form.subject.responsible_person)];
    for ((website, w), involved) in stored.form.websites.iter().zip(&stored.websites).zip(in_scope) {
        use crate::domain::WebsiteOperation;
        if involved || matches!(w.operation, WebsiteOperation::Cancel | WebsiteOperation::CancelAccess) {
            people.push((Some(w.id), &website.responsible_person));
        }
    }
    for (website_id, person) in people {
        let identity = person.certificate_number.to_uppercase();
        if seen.contains(&identity) {
            continue;
        }
        seen.push(identity);
        sms_check::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(actor.tenant_id),
            filing_id: Set(filing.id),
            website_id: Set(website_id),
            person_name: Set(person.name.clone()),
            mobile: Set(deps.keys.seal(actor.tenant_id, &person.mobile)),
            status: Set(SmsCheckStatus::Pending),
            failures: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

/// One SMS check of a filing the caller may see (`node(id:)`).
pub async fn sms_check(deps: &Deps, actor: &Actor, id: Uuid) -> Result<sms_check::Model, ServiceError> {
    let db = &deps.db;
    let mut check = sms_check::Entity::find_by_id(id)
        .filter(sms_check::Column::TenantId.eq(actor.tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    crate::services::access::ensure_visible(db, actor, check.filing_id).await?;
    check.mobile = deps.keys.open(check.tenant_id, &check.mobile).map_err(ServiceError::internal)?;
    Ok(check)
}

/// The SMS checks of a filing (current round).
pub async fn sms_checks(deps: &Deps, actor: &Actor, filing_id: Uuid) -> Result<Vec<sms_check::Model>, ServiceError> {
    let db = &deps.db;
    crate::services::access::get_filing(deps, actor, filing_id).await?;
    let keys = &deps.keys;
    sms_check::Entity::find()
        .filter(sms_check::Column::TenantId.eq(actor.tenant_id))
        .filter(sms_check::Column::FilingId.eq(filing_id))
        .all(db)
        .await?
        .into_iter()
        .map(|mut check| {
            check.mobile = keys.open(check.tenant_id, &check.mobile).map_err(ServiceError::internal)?;
            Ok(check)
        })
        .collect()
}
