//! The registrar's preliminary review (初审): claiming and releasing a filing, reviewing its materials, and the
//! decision.

use crate::language::Text;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use uuid::Uuid;

use super::sms::begin_sms_round;
use super::{ReturnReason, Step, ensure_assignee, lock, record, roles, simple};
use crate::auth::Actor;
use crate::db::write_txn;
use crate::domain::workflow::{WorkflowAction, WorkflowRole};
use crate::domain::{FieldError, FieldErrorCode, FilingStatus};
use crate::services::Deps;
use crate::services::ServiceError;
use crate::services::audit::FilingAction;
use crate::services::models::Filing;

/// A reviewer takes a filing for the preliminary review; one reviewer at a time.
pub async fn claim_review(deps: &Deps, actor: &Actor, filing_id: Uuid, version: i32) -> Result<Filing, ServiceError> {
    let reviewer = actor.id;
    simple(deps, actor, filing_id, version, Step::new(WorkflowAction::ClaimReview, FilingAction::ReviewClaimed), |m| {
        m.reviewer_id = Set(Some(reviewer));
    })
    .await
}

/// The assigned reviewer (or an administrator) puts the filing back in the queue.
pub async fn release_review(deps: &Deps, actor: &Actor, filing_id: Uuid, version: i32) -> Result<Filing, ServiceError> {
    let db = &deps.db;
    ensure_assignee(db, actor, filing_id).await?;
    simple(
        deps,
        actor,
        filing_id,
        version,
        Step::new(WorkflowAction::ReleaseReview, FilingAction::ReviewReleased),
        |m| {
            m.reviewer_id = Set(None);
        },
    )
    .await
}

/// The preliminary review passes: the MIIT SMS check starts for every responsible person, open for `sms_window`.
pub async fn approve_preliminary(
    deps: &Deps,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
) -> Result<Filing, ServiceError> {
    let (db, now, sms_window) = (&deps.db, deps.now(), deps.sms_window);
    ensure_assignee(db, actor, filing_id).await?;
    let step = Step::new(WorkflowAction::ApprovePreliminary, FilingAction::PreliminaryApproved);
    begin_sms_round(deps, actor, filing_id, version, step, now, now + sms_window).await
}

/// The preliminary review returns the filing to the applicant with its reasons.
pub async fn reject_preliminary(
    deps: &Deps,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    reasons: Vec<ReturnReason>,
) -> Result<Filing, ServiceError> {
    let db = &deps.db;
    check_reasons(&reasons)?;
    ensure_assignee(db, actor, filing_id).await?;
    let step = Step::new(WorkflowAction::RejectPreliminary, FilingAction::PreliminaryRejected)
        .details(serde_json::json!({ "reasons": reasons }));
    simple(deps, actor, filing_id, version, step, |m| m.reviewer_id = Set(None)).await
}

/// The assigned reviewer decides on one material: accepted, or needs revision with a reason.
pub async fn review_attachment(
    deps: &Deps,
    actor: &Actor,
    attachment_id: Uuid,
    accepted: bool,
    reason: Option<String>,
) -> Result<crate::services::attachments::Attachment, ServiceError> {
    let db = &deps.db;
    if !roles(actor).contains(&WorkflowRole::Reviewer) {
        return Err(ServiceError::Forbidden(Text::new("only reviewers decide on materials", "只有审核员可以审核材料")));
    }
    let attachment = crate::services::attachments::get(deps, actor, attachment_id).await?;
    ensure_assignee(db, actor, attachment.filing_id).await?;
    let filing = crate::services::access::get_filing(deps, actor, attachment.filing_id).await?;
    if filing.status != FilingStatus::InReview {
        return Err(ServiceError::InvalidTransition { action: "reviewAttachment", from: filing.status });
    }
    let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    if let Some(text) = &reason {
        let mut errors = Vec::new();
        crate::services::validation::multi_line(text, "reason", 2000, &mut errors);
        if !errors.is_empty() {
            return Err(ServiceError::InvalidInput(errors));
        }
    }
    if !accepted && reason.is_none() {
        return Err(ServiceError::invalid("reason", FieldErrorCode::Required));
    }
    let now = deps.now();
    let txn = write_txn(db).await?;
    // Decided on the filing as it is now: a review that lands after the filing left 初审 changes nothing.
    let filing = lock(&txn, actor, attachment.filing_id).await?;
    if filing.status != FilingStatus::InReview {
        return Err(ServiceError::InvalidTransition { action: "reviewAttachment", from: filing.status });
    }
    let row = entity::attachment::Entity::find_by_id(attachment_id).one(&txn).await?.ok_or(ServiceError::NotFound)?;
    let mut active: entity::attachment::ActiveModel = row.into();
    active.review_status = Set(Some(if accepted {
        entity::enums::ReviewStatus::Accepted
    } else {
        entity::enums::ReviewStatus::NeedsRevision
    }));
    active.review_reason = Set(if accepted { None } else { reason.clone() });
    active.updated_at = Set(now);
    active.update(&txn).await?;
    let details = serde_json::json!({ "attachmentId": attachment_id, "kind": attachment.kind.as_str(),
        "accepted": accepted, "reason": reason });
    record(&txn, actor, attachment.filing_id, FilingAction::AttachmentReviewed, None, None, Some(details), now).await?;
    txn.commit().await?;
    crate::services::attachments::get(deps, actor, attachment_id).await
}

pub(super) fn check_reasons(reasons: &[ReturnReason]) -> Result<(), ServiceError> {
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
        use crate::services::validation::{multi_line, one_line};
        one_line(&reason.field, &format!("reasons[{i}].field"), 200, &mut errors);
        one_line(&reason.code, &format!("reasons[{i}].code"), 100, &mut errors);
        multi_line(&reason.message, &format!("reasons[{i}].message"), 2000, &mut errors);
        if let Some(suggestion) = reason.suggestion.as_deref().filter(|s| !s.trim().is_empty()) {
            multi_line(suggestion, &format!("reasons[{i}].suggestion"), 2000, &mut errors);
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(ServiceError::InvalidInput(errors)) }
}
