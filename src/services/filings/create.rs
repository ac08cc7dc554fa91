use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use tracing::instrument;
use uuid::Uuid;

use super::rows::{subject_row, website_row};
use crate::auth::Actor;
use crate::domain::{FieldError, FieldErrorCode, FilingStatus, FilingType, WebsiteOperation};
use crate::services::Deps;
use crate::services::access::require_editor;
use crate::services::audit::{self, FilingAction, NewEvent};
use crate::services::inputs::{CreateFilingInput, validate_create_filing};
use crate::services::models::Filing;
use crate::services::{ServiceError, rules};
use entity::filing;

/// What kind of order a new draft is: a first filing, or an add-access order (新增接入) for a subject the bureau
/// already filed (through another registrar), which names the subject's ICP number.
#[derive(Clone, Debug, Default)]
pub struct NewOrder {
    pub filing_type: Option<FilingType>,
    pub icp_number: Option<String>,
}

/// Creates a draft with its subject and, optionally, its websites: a first filing, or an add-access order.
#[instrument(skip_all, fields(tenant = %actor.tenant_id))]
pub async fn create_filing(
    deps: &Deps,
    actor: &Actor,
    mut input: CreateFilingInput,
    order: NewOrder,
) -> Result<Filing, ServiceError> {
    let db = &deps.db;
    require_editor(actor)?;
    let mut basic = validate_create_filing(&mut input);
    let filing_type = order.filing_type.unwrap_or(FilingType::FirstFiling);
    let icp_number = order.icp_number.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    basic.extend(new_order_errors(filing_type, icp_number.as_deref(), &input.subject.province_code));
    let found = rules::findings(deps, db, actor, &input, None, false).await?;
    let errors = rules::merge(basic, found);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let now = deps.now();
    let filing_id = Uuid::now_v7();
    let txn = crate::db::write_txn(db).await?;
    let draft = NewDraft { id: filing_id, owner: actor.owner_scope(), filing_type, icp_number, base: None };
    let row = insert_draft(&txn, actor, draft, None, now).await?;
    subject_row(&deps.keys, actor, filing_id, Uuid::now_v7(), &input.subject).insert(&txn).await?;
    for website in &input.websites {
        let mut row = website_row(&deps.keys, actor, filing_id, Uuid::now_v7(), website, now, now);
        row.operation = Set(WebsiteOperation::New);
        row.base_website_id = Set(None);
        row.insert(&txn).await?;
    }
    txn.commit().await?;
    tracing::info!(filing = %filing_id, "filing draft created");
    Filing::try_from(row)
}

/// A new draft order.
pub(crate) struct NewDraft {
    pub id: Uuid,
    pub owner: Option<Uuid>,
    pub filing_type: FilingType,
    pub icp_number: Option<String>,
    /// The filed record it amends.
    pub base: Option<Uuid>,
}

/// Inserts a draft's filing row and the event that created it (with `details`).
pub(crate) async fn insert_draft(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    draft: NewDraft,
    details: Option<serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<filing::Model, ServiceError> {
    let row = filing::ActiveModel {
        id: Set(draft.id),
        tenant_id: Set(actor.tenant_id),
        owner_account_id: Set(draft.owner),
        filing_type: Set(draft.filing_type),
        status: Set(FilingStatus::Draft),
        version: Set(1),
        reviewer_id: Set(None),
        submitted_at: Set(None),
        sms_deadline_at: Set(None),
        icp_number: Set(draft.icp_number),
        base_filing_id: Set(draft.base),
        superseded_by_id: Set(None),
        sms_reminded_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        purged_at: Set(None),
    }
    .insert(txn)
    .await?;
    let event = NewEvent::new(draft.id, FilingAction::FilingCreated, now)
        .transition(None, Some(FilingStatus::Draft))
        .details(details);
    audit::record(txn, actor, event).await?;
    Ok(row)
}

/// What is wrong with the kind of a new draft: only first filings and add-access orders start from a form (the
/// others from a filed record), and an add-access order names the subject's ICP number in its province.
fn new_order_errors(filing_type: FilingType, icp_number: Option<&str>, province_code: &str) -> Vec<FieldError> {
    match (filing_type, icp_number) {
        (FilingType::FirstFiling, None) => vec![],
        (FilingType::FirstFiling, Some(_)) => {
            vec![FieldError::new("icpNumber", FieldErrorCode::ChangeNotAllowed).with_message(
                "A first filing receives its number from the bureau; a subject already filed elsewhere comes with an \
                 add-access order (ADD_ACCESS).",
                "首次备案的备案号由管局下发；已在其他接入商备案的主体请办理新增接入。",
            )]
        }
        (FilingType::AddAccess, None) => vec![FieldError::new("icpNumber", FieldErrorCode::Required).with_message(
            "An add-access order names the subject's ICP number (京ICP备2026000001号).",
            "新增接入须填写主体备案号（如 京ICP备2026000001号）。",
        )],
        (FilingType::AddAccess, Some(number)) => {
            crate::domain::identifiers::icp_number::subject_number(number, province_code, "icpNumber")
                .err()
                .map(|e| *e)
                .into_iter()
                .collect()
        }
        (_, _) => vec![FieldError::new("filingType", FieldErrorCode::ChangeNotAllowed).with_message(
            "Orders that amend a filed record start from it with startOrder.",
            "基于已有备案的订单请通过 startOrder 从该备案发起。",
        )],
    }
}
