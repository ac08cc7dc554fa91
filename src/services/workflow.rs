//! The review workflow: submission, preliminary review (初审), the MIIT SMS check, the bureau's decision. Every
//! step is checked against the domain's transition table, runs in one transaction with an optimistic version, and
//! leaves an audit event.

use chrono::{DateTime, Duration, Utc};
use sea_orm::prelude::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, Set,
};
use serde::Serialize;
use uuid::Uuid;

use super::ServiceError;
use super::audit::{self, FilingAction, NewEvent};
use super::models::Filing;
use crate::auth::{Actor, ApiKeyScope, Principal, Role};
use crate::db::write_txn;
use crate::domain::identifiers::{IcpNumber, IcpNumberKind};
use crate::domain::reference::ReferenceData;
use crate::domain::workflow::{self, MAX_SMS_FAILURES, WorkflowAction, WorkflowRole};
use crate::domain::{FieldError, FieldErrorCode, FilingStatus};
use entity::{filing, sms_check, website};

/// One reason a reviewer or the bureau gives for returning a filing (like WeChat's audit_data).
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReturnReason {
    /// The field (`subject.name`, `websites[0].name`) or material (`materials.ID_CARD_FRONT`) concerned.
    pub field: String,
    /// A machine code, e.g. NAME_NOT_ALLOWED.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub suggestion: Option<String>,
}

/// The roles a caller plays in the workflow.
pub fn roles(actor: &Actor) -> Vec<WorkflowRole> {
    match actor.principal {
        Principal::Account { role: Role::Applicant } => vec![WorkflowRole::Applicant],
        Principal::Account { role: Role::Reviewer } => vec![WorkflowRole::Reviewer],
        Principal::Account { role: Role::Admin } => vec![WorkflowRole::Reviewer, WorkflowRole::Registrar],
        Principal::ApiKey { scope: ApiKeyScope::Full } => vec![WorkflowRole::Applicant, WorkflowRole::Registrar],
        Principal::ApiKey { scope: ApiKeyScope::ReadOnly } => vec![],
        Principal::System => vec![WorkflowRole::System],
    }
}

/// The actions the caller may take on a filing now (a cancellation order is submitted as one).
pub fn available_actions(actor: &Actor, filing: &Filing) -> Vec<WorkflowAction> {
    let mut out = Vec::new();
    let wrong_submit = if filing.filing_type.skips_preliminary_review() {
        WorkflowAction::Submit
    } else {
        WorkflowAction::SubmitCancellation
    };
    for role in roles(actor) {
        for action in workflow::available(filing.status, role) {
            if action != wrong_submit && !out.contains(&action) {
                out.push(action);
            }
        }
    }
    out
}

/// Submits a draft (or a returned filing) for review: refused with every finding of the pre-submit check, every
/// missing material and everything the order's type does not allow. A cancellation order skips the preliminary
/// review: it goes straight to the MIIT SMS check, open for `sms_window` (and is not held to rules that changed since
/// its record was filed).
pub async fn submit(
    db: &DatabaseConnection,
    storage: &crate::storage::Storage,
    actor: &Actor,
    reference: &ReferenceData,
    filing_id: Uuid,
    version: i32,
    sms_window: Duration,
) -> Result<Filing, ServiceError> {
    let filing = super::access::get_filing(db, actor, filing_id).await?;
    let cancellation = filing.filing_type.skips_preliminary_review();
    let mut errors: Vec<FieldError> = Vec::new();
    if !cancellation {
        let check = super::rules::precheck(db, actor, reference, filing_id).await?;
        errors.extend(check.findings.into_iter().filter(|f| f.is_error()));
    }
    let stored = super::access::stored_filing(db, actor, filing_id).await?;
    let record = super::access::record_of_order(db, actor, &filing).await?;
    errors.extend(super::access::violations(filing.filing_type, &stored.form, &stored.websites, record.as_ref(), true));
    for item in super::attachments::checklist(db, actor, reference, filing_id).await? {
        use super::attachments::ItemState;
        if matches!(item.state, ItemState::Missing | ItemState::NeedsRevision) {
            let code = if item.state == ItemState::Missing {
                FieldErrorCode::MaterialMissing
            } else {
                FieldErrorCode::MaterialNeedsRevision
            };
            let at = item.website_id.map(|w| format!("[{w}]")).unwrap_or_default();
            errors.push(FieldError::new(format!("materials.{}{at}", item.kind.as_str()), code));
        }
    }
    errors.extend(super::attachments::missing_files(db, storage, actor, reference, filing_id).await?);
    // Every responsible person has confirmed their mobile number (where the registrar requires it).
    errors.extend(super::mobile::unconfirmed_phones(db, actor, filing_id).await?);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let now = Utc::now();
    let txn = write_txn(db).await?;
    // One order per subject at a time (within the registrar), checked in the transaction that submits, under a lock
    // on the subject: of two orders of one subject submitted at once, the second sees the first.
    let subject = super::access::certificate_index(
        &crate::pii::keyring(),
        actor.tenant_id,
        &stored.form.subject.certificate_number,
    );
    crate::db::lock_key(&txn, "subject-order", &format!("{}/{subject}", actor.tenant_id)).await?;
    if order_in_flight(&txn, actor, filing_id, &subject).await? {
        return Err(ServiceError::InvalidInput(vec![
            FieldError::new("subject.certificateNumber", FieldErrorCode::OrderInFlight).suggest(
                "Wait for the other order's outcome, or withdraw it first.",
                "请等待另一订单办结，或先撤回该订单。",
            ),
        ]));
    }
    let filing = if cancellation {
        let step = Step::new(WorkflowAction::SubmitCancellation, FilingAction::Submitted);
        let deadline = now + sms_window;
        let filing = transition(&txn, actor, filing_id, version, step, now, |m| {
            m.submitted_at = Set(Some(now));
            m.reviewer_id = Set(None);
            m.sms_deadline_at = Set(Some(deadline));
            m.sms_reminded_at = Set(None);
        })
        .await?;
        start_sms_round(&txn, actor, &filing, now).await?;
        filing
    } else {
        let step = Step::new(WorkflowAction::Submit, FilingAction::Submitted);
        transition(&txn, actor, filing_id, version, step, now, |m| {
            m.submitted_at = Set(Some(now));
            m.reviewer_id = Set(None);
        })
        .await?
    };
    txn.commit().await?;
    Ok(filing)
}

/// Withdraws a filing before the 初审 decision, back to an editable draft.
pub async fn withdraw(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
) -> Result<Filing, ServiceError> {
    simple(db, actor, filing_id, version, Step::new(WorkflowAction::Withdraw, FilingAction::Withdrawn), |m| {
        m.reviewer_id = Set(None);
    })
    .await
}

/// Gives a filing up for good.
pub async fn abandon(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
) -> Result<Filing, ServiceError> {
    simple(db, actor, filing_id, version, Step::new(WorkflowAction::Abandon, FilingAction::Abandoned), |_| {}).await
}

/// A reviewer takes a filing for the preliminary review; one reviewer at a time.
pub async fn claim_review(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
) -> Result<Filing, ServiceError> {
    let reviewer = actor.id;
    simple(db, actor, filing_id, version, Step::new(WorkflowAction::ClaimReview, FilingAction::ReviewClaimed), |m| {
        m.reviewer_id = Set(Some(reviewer));
    })
    .await
}

/// The assigned reviewer (or an administrator) puts the filing back in the queue.
pub async fn release_review(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
) -> Result<Filing, ServiceError> {
    ensure_assignee(db, actor, filing_id).await?;
    simple(db, actor, filing_id, version, Step::new(WorkflowAction::ReleaseReview, FilingAction::ReviewReleased), |m| {
        m.reviewer_id = Set(None);
    })
    .await
}

/// The preliminary review passes: the MIIT SMS check starts for every responsible person, open for `sms_window`.
pub async fn approve_preliminary(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    now: DateTime<Utc>,
    sms_window: Duration,
) -> Result<Filing, ServiceError> {
    ensure_assignee(db, actor, filing_id).await?;
    let step = Step::new(WorkflowAction::ApprovePreliminary, FilingAction::PreliminaryApproved);
    begin_sms_round(db, actor, filing_id, version, step, now, now + sms_window).await
}

/// The preliminary review returns the filing to the applicant with its reasons.
pub async fn reject_preliminary(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    reasons: Vec<ReturnReason>,
) -> Result<Filing, ServiceError> {
    check_reasons(&reasons)?;
    ensure_assignee(db, actor, filing_id).await?;
    let step = Step::new(WorkflowAction::RejectPreliminary, FilingAction::PreliminaryRejected)
        .details(serde_json::json!({ "reasons": reasons }));
    simple(db, actor, filing_id, version, step, |m| m.reviewer_id = Set(None)).await
}

/// The assigned reviewer decides on one material: accepted, or needs revision with a reason.
pub async fn review_attachment(
    db: &DatabaseConnection,
    actor: &Actor,
    attachment_id: Uuid,
    accepted: bool,
    reason: Option<String>,
) -> Result<super::attachments::Attachment, ServiceError> {
    if !roles(actor).contains(&WorkflowRole::Reviewer) {
        return Err(ServiceError::Forbidden("only reviewers decide on materials"));
    }
    let attachment = super::attachments::get(db, actor, attachment_id).await?;
    ensure_assignee(db, actor, attachment.filing_id).await?;
    let filing = super::access::get_filing(db, actor, attachment.filing_id).await?;
    if filing.status != FilingStatus::InReview {
        return Err(ServiceError::InvalidTransition { action: "reviewAttachment", from: filing.status });
    }
    let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    if let Some(text) = &reason {
        let mut errors = Vec::new();
        super::validation::multi_line(text, "reason", 2000, &mut errors);
        if !errors.is_empty() {
            return Err(ServiceError::InvalidInput(errors));
        }
    }
    if !accepted && reason.is_none() {
        return Err(ServiceError::invalid("reason", FieldErrorCode::Required));
    }
    let now = Utc::now();
    let txn = write_txn(db).await?;
    // Decided on the filing as it is now: a review that lands after the filing left 初审 changes nothing.
    let filing = lock(&txn, actor, attachment.filing_id).await?;
    if filing.status != FilingStatus::InReview {
        return Err(ServiceError::InvalidTransition { action: "reviewAttachment", from: filing.status });
    }
    let row = entity::attachment::Entity::find_by_id(attachment_id).one(&txn).await?.ok_or(ServiceError::NotFound)?;
    let mut active: entity::attachment::ActiveModel = row.into();
    active.review_status = Set(Some(if accepted { "ACCEPTED" } else { "NEEDS_REVISION" }.to_owned()));
    active.review_reason = Set(if accepted { None } else { reason.clone() });
    active.updated_at = Set(now);
    active.update(&txn).await?;
    let details = serde_json::json!({ "attachmentId": attachment_id, "kind": attachment.kind.as_str(),
        "accepted": accepted, "reason": reason });
    record(&txn, actor, attachment.filing_id, FilingAction::AttachmentReviewed, None, None, Some(details), now).await?;
    txn.commit().await?;
    super::attachments::get(db, actor, attachment_id).await
}

/// What the registrar learned from MIIT about one person's SMS confirmation. Every person confirmed sends the
/// filing to the bureau; five failures of one person end the round (back with the registrar).
pub async fn record_sms(
    db: &DatabaseConnection,
    actor: &Actor,
    check_id: Uuid,
    confirmed: bool,
    now: DateTime<Utc>,
) -> Result<Filing, ServiceError> {
    if !roles(actor).contains(&WorkflowRole::Registrar) {
        return Err(ServiceError::Forbidden("only the registrar records MIIT's SMS results"));
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
        "CONFIRMED"
    } else if failures >= MAX_SMS_FAILURES {
        "FAILED"
    } else {
        "PENDING"
    };
    let mut active: sms_check::ActiveModel = check.clone().into();
    active.status = Set(status.to_owned());
    active.failures = Set(failures);
    active.updated_at = Set(now);
    active.update(&txn).await?;
    let details = serde_json::json!({ "person": check.person_name, "failures": failures });
    let event = if confirmed { FilingAction::SmsConfirmed } else { FilingAction::SmsAttemptFailed };
    record(&txn, actor, check.filing_id, event, None, None, Some(details), now).await?;

    let checks = sms_check::Entity::find().filter(sms_check::Column::FilingId.eq(check.filing_id)).all(&txn).await?;
    let filing = if status == "FAILED" {
        let step =
            Step::new(WorkflowAction::SmsFailed, FilingAction::SmsCheckFailed).reason("too many failed confirmations");
        transition(&txn, actor, check.filing_id, current.version, step, now, |_| {}).await?
    } else if checks.iter().all(|c| c.status == "CONFIRMED") {
        let step = Step::new(WorkflowAction::SmsAllConfirmed, FilingAction::SmsCompleted);
        transition(&txn, actor, check.filing_id, current.version, step, now, |m| m.sms_deadline_at = Set(None)).await?
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
pub async fn expire_sms_checks(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<Vec<(Uuid, Uuid)>, ServiceError> {
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
        match transition(&txn, &system, row.id, row.version, step, now, |_| {}).await {
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
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    now: DateTime<Utc>,
    sms_window: Duration,
) -> Result<Filing, ServiceError> {
    let step = Step::new(WorkflowAction::ResubmitToMiit, FilingAction::SmsResent);
    begin_sms_round(db, actor, filing_id, version, step, now, now + sms_window).await
}

/// Moves a filing into the SMS step: a new round of checks, one per responsible person, until `deadline`.
async fn begin_sms_round(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    step: Step,
    now: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> Result<Filing, ServiceError> {
    let txn = write_txn(db).await?;
    let filing = transition(&txn, actor, filing_id, version, step, now, |m| {
        m.sms_deadline_at = Set(Some(deadline));
        m.sms_reminded_at = Set(None);
    })
    .await?;
    start_sms_round(&txn, actor, &filing, now).await?;
    txn.commit().await?;
    Ok(filing)
}

/// After a failed SMS round, the registrar returns the filing to the applicant.
pub async fn return_to_applicant(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    reasons: Vec<ReturnReason>,
) -> Result<Filing, ServiceError> {
    check_reasons(&reasons)?;
    let step = Step::new(WorkflowAction::ReturnToApplicant, FilingAction::ReturnedToApplicant)
        .details(serde_json::json!({ "reasons": reasons }));
    simple(db, actor, filing_id, version, step, |m| m.sms_deadline_at = Set(None)).await
}

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
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    approval: Option<BureauApproval>,
    reasons: Vec<ReturnReason>,
) -> Result<Filing, ServiceError> {
    let Some(BureauApproval { subject_number: given_subject, websites: website_numbers }) = approval else {
        check_reasons(&reasons)?;
        let step = Step::new(WorkflowAction::BureauReject, FilingAction::BureauRejected)
            .details(serde_json::json!({ "reasons": reasons }));
        return simple(db, actor, filing_id, version, step, |_| {}).await;
    };
    let filing = super::access::get_filing(db, actor, filing_id).await?;
    let stored = super::access::stored_filing(db, actor, filing_id).await?;
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
    let filing = approve(&txn, actor, filing_id, version, &subject.to_string(), &assigned, &stored.websites)
        .await
        .map_err(number_race)?;
    txn.commit().await.map_err(|e| number_race(e.into()))?;
    Ok(filing)
}

/// The subject number the approval files under: the one given (a subject number of the filing's province, equal to
/// the filing's own number if it has one), else the filing's own. `None` with the reason pushed to `errors` when
/// neither gives a valid number.
fn approved_subject_number(
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
fn assigned_website_numbers(
    websites: &[super::access::StoredWebsite],
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

/// Records the bureau's approval in `txn`: the numbers, the record this order amends superseded, the order approved.
/// A number another subject's current record holds is refused (NUMBER_IN_USE); the check runs on the locked filing
/// and under a lock on the number, and the unique indexes over current records' numbers back it.
async fn approve(
    txn: &DatabaseTransaction,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    number: &str,
    assigned: &[(Uuid, String)],
    websites: &[super::access::StoredWebsite],
) -> Result<Filing, ServiceError> {
    let current = lock(txn, actor, filing_id).await?;
    crate::db::lock_key(txn, "icp-number", &format!("{}/{number}", actor.tenant_id)).await?;
    let held = numbers_held_elsewhere(txn, actor, &current, number, assigned, websites).await?;
    if !held.is_empty() {
        return Err(ServiceError::InvalidInput(held));
    }
    let now = Utc::now();
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
    transition(txn, actor, filing_id, version, step, now, |m| m.icp_number = Set(Some(number))).await
}

/// The numbers of an approval that another subject's current record of the registrar holds: one NUMBER_IN_USE on
/// `subjectNumber` or `websites[i]` each. A record's own later orders keep its numbers: the record `filing` amends
/// is not another subject.
async fn numbers_held_elsewhere(
    txn: &DatabaseTransaction,
    actor: &Actor,
    filing: &Filing,
    number: &str,
    assigned: &[(Uuid, String)],
    websites: &[super::access::StoredWebsite],
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

fn in_use(field: &str, number: &str) -> FieldError {
    FieldError::new(field, FieldErrorCode::NumberInUse).with_message(
        format!("{number} belongs to another subject's filed record: a number belongs to one subject."),
        format!("{number} 已属于另一主体的有效备案，一个备案号只能属于一个主体。"),
    )
}

/// A unique index over current records' numbers refused the approval: another subject took the number between the
/// check and the write (the database decided). Answered like the check's own refusal, not as an internal error.
fn number_race(error: ServiceError) -> ServiceError {
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

/// The SMS checks of a filing (current round).
pub async fn sms_checks(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
) -> Result<Vec<sms_check::Model>, ServiceError> {
    super::access::get_filing(db, actor, filing_id).await?;
    let keys = crate::pii::keyring();
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

/// Whether another filing of the same subject (by the blind index of its certificate) is under review or at the
/// bureau.
async fn order_in_flight(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    filing_id: Uuid,
    subject: &str,
) -> Result<bool, ServiceError> {
    use sea_orm::{JoinType, QuerySelect, RelationTrait};
    let in_flight = [
        FilingStatus::PendingReview,
        FilingStatus::InReview,
        FilingStatus::SmsVerification,
        FilingStatus::SmsFailed,
        FilingStatus::BureauReview,
    ];
    let others = filing::Entity::find()
        .join(JoinType::InnerJoin, filing::Relation::Subject.def())
        .filter(filing::Column::TenantId.eq(actor.tenant_id))
        .filter(filing::Column::Id.ne(filing_id))
        .filter(filing::Column::Status.is_in(in_flight.iter().map(|s| s.as_str())))
        .filter(entity::filing_subject::Column::CertificateNumberBidx.eq(subject))
        .count(txn)
        .await?;
    Ok(others > 0)
}

/// One transition: the domain action, how the audit trail names it, and what it records.
struct Step {
    action: WorkflowAction,
    event: FilingAction,
    reason: Option<&'static str>,
    details: Option<serde_json::Value>,
}

impl Step {
    fn new(action: WorkflowAction, event: FilingAction) -> Self {
        Self { action, event, reason: None, details: None }
    }

    fn details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    fn reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }
}

async fn simple(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    step: Step,
    change: impl FnOnce(&mut filing::ActiveModel),
) -> Result<Filing, ServiceError> {
    let txn = write_txn(db).await?;
    let filing = transition(&txn, actor, filing_id, version, step, Utc::now(), change).await?;
    txn.commit().await?;
    Ok(filing)
}

/// Moves a filing by the table, at the version the caller saw, and records the event.
async fn transition(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    step: Step,
    now: DateTime<Utc>,
    change: impl FnOnce(&mut filing::ActiveModel),
) -> Result<Filing, ServiceError> {
    let current = lock(txn, actor, filing_id).await?;
    let roles = roles(actor);
    if roles.is_empty() {
        return Err(ServiceError::Forbidden("this key may only read"));
    }
    // A caller who saw an older version is told so first: what they meant to act on has changed.
    if current.version != version {
        return Err(ServiceError::Conflict { current_version: current.version });
    }
    let Some(to) = roles.iter().find_map(|&role| workflow::next(current.status, step.action, role)) else {
        let action: &'static str = step.action.into();
        return Err(ServiceError::InvalidTransition { action, from: current.status });
    };
    let mut active = filing::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(filing_id),
        status: Set(to.as_str().to_owned()),
        version: Set(version + 1),
        updated_at: Set(now),
        ..Default::default()
    };
    change(&mut active);
    // The version condition makes two concurrent decisions on the same filing exclusive: one wins, one conflicts.
    let updated = filing::Entity::update_many()
        .set(active)
        .filter(filing::Column::TenantId.eq(actor.tenant_id))
        .filter(filing::Column::Id.eq(filing_id))
        .filter(filing::Column::Version.eq(version))
        .exec(txn)
        .await?;
    if updated.rows_affected == 0 {
        let latest = load(txn, actor, filing_id).await?;
        return Err(ServiceError::Conflict { current_version: latest.version });
    }
    let details = step.details.clone();
    record(txn, actor, filing_id, step.event, Some(current.status), Some(to), step.details, now).await.map(|_| ())?;
    if let Some(reason) = step.reason {
        tracing::info!(filing = %filing_id, reason, "workflow step");
    }
    let filing = load(txn, actor, filing_id).await?;
    // The people concerned hear about it if and only if the step commits.
    super::notifications::on_transition(txn, actor, &filing, step.event, details.as_ref()).await?;
    Ok(filing)
}

#[allow(clippy::too_many_arguments)]
async fn record(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    filing_id: Uuid,
    action: FilingAction,
    from: Option<FilingStatus>,
    to: Option<FilingStatus>,
    details: Option<serde_json::Value>,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    audit::record(txn, actor, NewEvent::new(filing_id, action, at).transition(from, to).details(details)).await
}

async fn load(txn: &impl ConnectionTrait, actor: &Actor, filing_id: Uuid) -> Result<Filing, ServiceError> {
    let mut query = filing::Entity::find()
        .filter(filing::Column::TenantId.eq(actor.tenant_id))
        .filter(filing::Column::Id.eq(filing_id));
    if let Some(owner) = actor.owner_scope() {
        query = query.filter(filing::Column::OwnerAccountId.eq(owner));
    }
    Filing::try_from(query.one(txn).await?.ok_or(ServiceError::NotFound)?)
}

/// Reads a filing and locks its row until the transaction ends (PostgreSQL: `FOR UPDATE`; SQLite serialises write
/// transactions already). Every step that decides from a filing's other rows (its SMS checks, its materials, its
/// numbers) takes this first, so that two decisions on one filing run one after the other and the second reads
/// what the first wrote: with only the version condition, two requests that each change a sibling row and then
/// read the others could both miss the other's change and neither move the filing.
pub(crate) async fn lock(txn: &impl ConnectionTrait, actor: &Actor, filing_id: Uuid) -> Result<Filing, ServiceError> {
    if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        use sea_orm::QuerySelect;
        filing::Entity::find_by_id(filing_id)
            .filter(filing::Column::TenantId.eq(actor.tenant_id))
            .lock_exclusive()
            .one(txn)
            .await?;
    }
    load(txn, actor, filing_id).await
}

/// Reviewer actions on a claimed filing belong to its reviewer (administrators may step in).
async fn ensure_assignee(db: &DatabaseConnection, actor: &Actor, filing_id: Uuid) -> Result<(), ServiceError> {
    let row = filing::Entity::find_by_id(filing_id)
        .filter(filing::Column::TenantId.eq(actor.tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if actor.owner_scope().is_some_and(|owner| row.owner_account_id != Some(owner)) {
        return Err(ServiceError::NotFound);
    }
    match row.reviewer_id {
        Some(reviewer)
            if reviewer != actor.id && !actor.is_admin() && roles(actor).contains(&WorkflowRole::Reviewer) =>
        {
            Err(ServiceError::Forbidden("another reviewer has claimed this filing"))
        }
        _ => Ok(()),
    }
}

/// A new SMS round: one check per distinct responsible person the order involves (the subject's, and those of the
/// websites it adds, changes or cancels: an unchanged filed website's person is not texted again).
async fn start_sms_round(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    filing: &Filing,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sms_check::Entity::delete_many().filter(sms_check::Column::FilingId.eq(filing.id)).exec(txn).await?;
    let stored = super::access::stored_filing(txn, actor, filing.id).await?;
    let record = super::access::record_of_order(txn, actor, filing).await?;
    let in_scope = super::access::websites_in_scope(filing.filing_type, &stored, record.as_ref());
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
            mobile: Set(crate::pii::keyring().seal(actor.tenant_id, &person.mobile)),
            status: Set("PENDING".to_owned()),
            failures: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

fn check_reasons(reasons: &[ReturnReason]) -> Result<(), ServiceError> {
    if reasons.is_empty() {
        return Err(ServiceError::InvalidInput(vec![
            FieldError::new("reasons", FieldErrorCode::Required).with_message(
                "Give at least one reason: the applicant must know what to fix.",
                "请至少填写一条退回原因。",
            ),
        ]));
    }
    let mut errors = Vec::new();
    for (i, reason) in reasons.iter().enumerate() {
        use super::validation::{multi_line, one_line};
        one_line(&reason.field, &format!("reasons[{i}].field"), 200, &mut errors);
        one_line(&reason.code, &format!("reasons[{i}].code"), 100, &mut errors);
        multi_line(&reason.message, &format!("reasons[{i}].message"), 2000, &mut errors);
        if let Some(suggestion) = reason.suggestion.as_deref().filter(|s| !s.trim().is_empty()) {
            multi_line(suggestion, &format!("reasons[{i}].suggestion"), 2000, &mut errors);
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(ServiceError::InvalidInput(errors)) }
}

/// What changed since a filing was last returned, so the reviewer re-checks only that, and which of the return's
/// reasons the changes answer.
#[derive(Clone, Debug, Default)]
pub struct SinceReturn {
    pub returned_at: Option<DateTime<Utc>>,
    pub changes: Vec<super::audit::FieldChange>,
    pub answered: Vec<ReturnReason>,
    pub open: Vec<ReturnReason>,
}

/// Reads the audit trail (oldest first): the last return, the reasons it gave, and the edits after it.
pub fn since_last_return(events: &[super::models::FilingEvent]) -> Option<SinceReturn> {
    let index = events.iter().rposition(|e| e.to_status == Some(FilingStatus::Returned))?;
    let returned = &events[index];
    let reasons: Vec<ReturnReason> = returned
        .details
        .as_ref()
        .and_then(|d| d.get("reasons"))
        .and_then(|r| serde_json::from_value(r.clone()).ok())
        .unwrap_or_default();
    let edits = [
        FilingAction::SubjectUpdated,
        FilingAction::WebsiteAdded,
        FilingAction::WebsiteUpdated,
        FilingAction::WebsiteRemoved,
        FilingAction::AttachmentUploaded,
        FilingAction::AttachmentRemoved,
    ];
    let changes: Vec<super::audit::FieldChange> =
        events[index + 1..].iter().filter(|e| edits.contains(&e.action)).flat_map(|e| e.changes.clone()).collect();
    let (answered, open) = reasons.into_iter().partition(|reason| changes.iter().any(|c| answers(reason, c)));
    Some(SinceReturn { returned_at: Some(returned.created_at), changes, answered, open })
}

/// Whether a change touches what a reason names: the same field (website edits are recorded as `website.*`, so
/// they answer any `websites[i].*` reason), or a new upload of the named material.
fn answers(reason: &ReturnReason, change: &super::audit::FieldChange) -> bool {
    let field = reason.field.trim();
    if let Some(kind) = field.strip_prefix("materials.") {
        let kind = kind.split('[').next().unwrap_or(kind);
        return change.field == "attachment"
            && change.new.as_deref().is_some_and(|n| n.starts_with(&format!("{kind} ")));
    }
    let normalized = match field.strip_prefix("websites[") {
        Some(rest) => {
            rest.split_once(']').map(|(_, tail)| format!("website{tail}")).unwrap_or_else(|| field.to_owned())
        }
        None => field.to_owned(),
    };
    change.field == normalized
        || change.field.starts_with(&format!("{normalized}."))
        || normalized.starts_with(&format!("{}.", change.field))
        || (normalized.starts_with("website") && change.field == "website")
}
