//! Submission: the applicant (or the registrar's backend) submits a filing, withdraws it before the decision, or
//! abandons a draft.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

use super::sms::start_sms_round;
use super::{Step, simple, transition};
use crate::auth::Actor;
use crate::db::write_txn;
use crate::domain::workflow::WorkflowAction;
use crate::domain::{FieldError, FieldErrorCode, FilingStatus};
use crate::services::Deps;
use crate::services::ServiceError;
use crate::services::audit::FilingAction;
use crate::services::models::Filing;
use entity::filing;

/// Submits a draft (or a returned filing) for review: refused with every finding of the pre-submit check, every
/// missing material and everything the order's type does not allow. A cancellation order skips the preliminary
/// review: it goes straight to the MIIT SMS check, open for `sms_window` (and is not held to rules that changed since
/// its record was filed).
pub async fn submit(deps: &Deps, actor: &Actor, filing_id: Uuid, version: i32) -> Result<Filing, ServiceError> {
    let (db, sms_window) = (&deps.db, deps.sms_window);
    let filing = crate::services::access::get_filing(deps, actor, filing_id).await?;
    let cancellation = filing.filing_type.skips_preliminary_review();
    let mut errors: Vec<FieldError> = Vec::new();
    if !cancellation {
        let check = crate::services::rules::precheck(deps, actor, filing_id).await?;
        errors.extend(check.findings.into_iter().filter(|f| f.is_error()));
    }
    let stored = crate::services::access::stored_filing(db, &deps.keys, actor, filing_id).await?;
    let record = crate::services::access::record_of_order(db, &deps.keys, actor, &filing).await?;
    errors.extend(crate::services::access::violations(
        filing.filing_type,
        &stored.form,
        &stored.websites,
        record.as_ref(),
        true,
    ));
    for item in crate::services::attachments::checklist(deps, actor, filing_id).await? {
        use crate::services::attachments::ItemState;
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
    errors.extend(crate::services::attachments::missing_files(deps, actor, filing_id).await?);
    // Every responsible person has confirmed their mobile number (where the registrar requires it).
    errors.extend(crate::services::mobile::unconfirmed_phones(deps, actor, filing_id).await?);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let now = deps.now();
    let txn = write_txn(db).await?;
    // One order per subject at a time (within the registrar), checked in the transaction that submits, under a lock
    // on the subject: of two orders of one subject submitted at once, the second sees the first.
    let subject = crate::services::access::certificate_index(
        &deps.keys,
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
        let filing = transition(deps, &txn, actor, filing_id, version, step, |m| {
            m.submitted_at = Set(Some(now));
            m.reviewer_id = Set(None);
            m.sms_deadline_at = Set(Some(deadline));
            m.sms_reminded_at = Set(None);
        })
        .await?;
        start_sms_round(deps, &txn, actor, &filing, now).await?;
        filing
    } else {
        let step = Step::new(WorkflowAction::Submit, FilingAction::Submitted);
        transition(deps, &txn, actor, filing_id, version, step, |m| {
            m.submitted_at = Set(Some(now));
            m.reviewer_id = Set(None);
        })
        .await?
    };
    txn.commit().await?;
    Ok(filing)
}

/// Whether another filing of the same subject (by the blind index of its certificate) is under review or at the
/// bureau.
pub(super) async fn order_in_flight(
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

/// Withdraws a filing before the 初审 decision, back to an editable draft.
pub async fn withdraw(deps: &Deps, actor: &Actor, filing_id: Uuid, version: i32) -> Result<Filing, ServiceError> {
    simple(deps, actor, filing_id, version, Step::new(WorkflowAction::Withdraw, FilingAction::Withdrawn), |m| {
        m.reviewer_id = Set(None);
    })
    .await
}

/// Gives a filing up for good.
pub async fn abandon(deps: &Deps, actor: &Actor, filing_id: Uuid, version: i32) -> Result<Filing, ServiceError> {
    simple(deps, actor, filing_id, version, Step::new(WorkflowAction::Abandon, FilingAction::Abandoned), |_| {}).await
}
