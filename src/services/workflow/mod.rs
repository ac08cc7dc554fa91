//! The review workflow: submission, preliminary review (初审), the MIIT SMS check, the bureau's decision. Every
//! step is checked against the domain's transition table, runs in one transaction with an optimistic version, and
//! leaves an audit event.
//!
//! By stage: [`submission`], [`preliminary`] review, the [`sms`] check, the [`bureau`]'s decision. This module holds
//! what they share: the transition machinery (lock, version check, audit event), roles and the actions on offer,
//! and what changed since a filing was last returned.

mod bureau;
mod preliminary;
mod sms;
mod submission;

pub use bureau::{BureauApproval, record_bureau_decision};
pub use preliminary::{approve_preliminary, claim_review, reject_preliminary, release_review, review_attachment};
pub use sms::{expire_sms_checks, record_sms, resubmit_to_miit, return_to_applicant, sms_check, sms_checks};
pub use submission::{abandon, submit, withdraw};

use crate::language::Text;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use uuid::Uuid;

use super::audit::{self, FilingAction, NewEvent};
use super::models::Filing;
use super::{Deps, ServiceError};
use crate::auth::{Actor, ApiKeyScope, Principal, Role};
use crate::db::write_txn;
use crate::domain::FilingStatus;
use crate::domain::workflow::{self, WorkflowAction, WorkflowRole};
use entity::filing;

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
        Principal::ApiKey { scope: ApiKeyScope::Full | ApiKeyScope::Admin } => {
            vec![WorkflowRole::Applicant, WorkflowRole::Registrar]
        }
        Principal::ApiKey { scope: ApiKeyScope::ReadOnly } => vec![],
        Principal::System => vec![WorkflowRole::System],
    }
}

/// A workflow mutation a caller can perform, named after the mutation (`SubmitFiling` is `submitFiling`). Several
/// transitions share one mutation (`recordBureauDecision` approves or refuses); transitions only the server takes
/// (the SMS deadline) are none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::EnumIter)]
pub enum AvailableAction {
    SubmitFiling,
    WithdrawFiling,
    AbandonFiling,
    ClaimReview,
    ReleaseReview,
    ApprovePreliminaryReview,
    RejectPreliminaryReview,
    RecordSmsVerification,
    ResubmitToMiit,
    ReturnToApplicant,
    RecordBureauDecision,
}

impl AvailableAction {
    /// The mutation's name in the schema.
    pub fn name(self) -> &'static str {
        match self {
            Self::SubmitFiling => "submitFiling",
            Self::WithdrawFiling => "withdrawFiling",
            Self::AbandonFiling => "abandonFiling",
            Self::ClaimReview => "claimReview",
            Self::ReleaseReview => "releaseReview",
            Self::ApprovePreliminaryReview => "approvePreliminaryReview",
            Self::RejectPreliminaryReview => "rejectPreliminaryReview",
            Self::RecordSmsVerification => "recordSmsVerification",
            Self::ResubmitToMiit => "resubmitToMiit",
            Self::ReturnToApplicant => "returnToApplicant",
            Self::RecordBureauDecision => "recordBureauDecision",
        }
    }

    /// The mutation that performs `action` for `role`; none for what only the server does.
    fn performing(action: WorkflowAction, role: WorkflowRole) -> Option<Self> {
        if role == WorkflowRole::System {
            return None;
        }
        Some(match action {
            WorkflowAction::Submit | WorkflowAction::SubmitCancellation => Self::SubmitFiling,
            WorkflowAction::Withdraw => Self::WithdrawFiling,
            WorkflowAction::Abandon => Self::AbandonFiling,
            WorkflowAction::ClaimReview => Self::ClaimReview,
            WorkflowAction::ReleaseReview => Self::ReleaseReview,
            WorkflowAction::ApprovePreliminary => Self::ApprovePreliminaryReview,
            WorkflowAction::RejectPreliminary => Self::RejectPreliminaryReview,
            WorkflowAction::SmsAllConfirmed | WorkflowAction::SmsFailed => Self::RecordSmsVerification,
            WorkflowAction::ResubmitToMiit => Self::ResubmitToMiit,
            WorkflowAction::ReturnToApplicant => Self::ReturnToApplicant,
            WorkflowAction::BureauApprove | WorkflowAction::BureauReject => Self::RecordBureauDecision,
        })
    }
}

/// The transition table as README.md's "The review workflow" shows it: one row per transition a caller takes,
/// with the mutation that takes it (the README is checked against this).
pub fn markdown_table() -> String {
    let role = |r: WorkflowRole| match r {
        WorkflowRole::Applicant => "applicant",
        WorkflowRole::Reviewer => "reviewer",
        WorkflowRole::Registrar => "registrar",
        WorkflowRole::System => "the server",
    };
    let note = |a: WorkflowAction| match a {
        WorkflowAction::SubmitCancellation => " (a cancellation order)",
        WorkflowAction::SmsAllConfirmed => " (the last person confirms)",
        WorkflowAction::SmsFailed => " (a fifth failure; the server, when the window passes)",
        WorkflowAction::BureauApprove => " (approved, with the ICP numbers)",
        WorkflowAction::BureauReject => " (refused, with reasons)",
        WorkflowAction::RejectPreliminary => " (with reasons)",
        WorkflowAction::ReturnToApplicant => " (with reasons)",
        _ => "",
    };
    // One row per (mutation, who, where to), with every state it starts from.
    let mut rows: Vec<(Vec<String>, String, String, FilingStatus)> = Vec::new();
    for (action, from, roles, to) in workflow::transitions() {
        let Some(mutation) = roles.iter().find_map(|r| AvailableAction::performing(action, *r)) else { continue };
        let mutation = format!("`{}`{}", mutation.name(), note(action));
        let callers: Vec<&str> = roles.iter().copied().filter(|r| *r != WorkflowRole::System).map(role).collect();
        let callers = callers.join(", ");
        let from = format!("`{}`", from.as_str());
        match rows.iter_mut().find(|(_, m, c, t)| *m == mutation && *c == callers && *t == to) {
            Some(row) => row.0.push(from),
            None => rows.push((vec![from], mutation, callers, to)),
        }
    }
    let mut out = String::from("| From | Mutation | Who | To |\n|---|---|---|---|\n");
    for (froms, mutation, callers, to) in rows {
        out.push_str(&format!("| {} | {mutation} | {callers} | `{}` |\n", froms.join(", "), to.as_str()));
    }
    out
}

/// The workflow mutations the caller may perform on a filing now, in the order of the transition table (a
/// cancellation order is submitted as one, so its `submitFiling` skips the preliminary review).
pub fn available_actions(actor: &Actor, filing: &Filing) -> Vec<AvailableAction> {
    let mut out = Vec::new();
    let wrong_submit = if filing.filing_type.skips_preliminary_review() {
        WorkflowAction::Submit
    } else {
        WorkflowAction::SubmitCancellation
    };
    for role in roles(actor) {
        for action in workflow::available(filing.status, role) {
            if action == wrong_submit {
                continue;
            }
            if let Some(mutation) = AvailableAction::performing(action, role).filter(|m| !out.contains(m)) {
                out.push(mutation);
            }
        }
    }
    out
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
    deps: &Deps,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    step: Step,
    change: impl FnOnce(&mut filing::ActiveModel),
) -> Result<Filing, ServiceError> {
    let db = &deps.db;
    let txn = write_txn(db).await?;
    let filing = transition(deps, &txn, actor, filing_id, version, step, change).await?;
    txn.commit().await?;
    Ok(filing)
}

/// Moves a filing by the table, at the version the caller saw, and records the event.
async fn transition(
    deps: &Deps,
    txn: &impl ConnectionTrait,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    step: Step,
    change: impl FnOnce(&mut filing::ActiveModel),
) -> Result<Filing, ServiceError> {
    let now = deps.now();
    let current = lock(txn, actor, filing_id).await?;
    let roles = roles(actor);
    if roles.is_empty() {
        return Err(ServiceError::Forbidden(Text::new("this key may only read", "该密钥只能读取")));
    }
    // A caller who saw an older version is told so first: what they meant to act on has changed.
    if current.version != version {
        return Err(ServiceError::Conflict { current_version: current.version });
    }
    let Some(to) = roles.iter().find_map(|&role| workflow::next(current.status, step.action, role)) else {
        // Named as the caller knows it: the mutation.
        let action =
            AvailableAction::performing(step.action, WorkflowRole::Registrar).map_or("", AvailableAction::name);
        return Err(ServiceError::InvalidTransition { action, from: current.status });
    };
    let mut active = filing::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(filing_id),
        status: Set(to),
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
    super::notifications::on_transition(deps, txn, actor, &filing, step.event, details.as_ref()).await?;
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
            Err(ServiceError::Forbidden(Text::new(
                "another reviewer has claimed this filing",
                "该备案已由其他审核员领取",
            )))
        }
        _ => Ok(()),
    }
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
