//! Orders beyond the first filing. An order that amends a filed record starts as a copy of the record (the subject
//! and every website still filed here, with their ICP numbers), is edited within what its type allows (the domain's
//! [`orders::check`]), goes through the workflow, and replaces the record once the bureau approved it.

use super::access::violations;
use super::access::{Record, record_of, record_of_order};
use crate::services::Deps;
use chrono::Utc;
use sea_orm::prelude::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use uuid::Uuid;

use super::ServiceError;
use super::access::StoredWebsite;
use super::audit;
use super::models::Filing;
use crate::auth::Actor;
use crate::db::write_txn;
use crate::domain::orders::FOLLOW_UP_TYPES;
use crate::domain::{FieldError, FieldErrorCode, FilingStatus, FilingType, WebsiteOperation};
use entity::{filing, filing_subject, website};

/// Starts an order from a filed record: a draft holding the record as it stands, with the websites a cancellation
/// names marked. One open order per record: a second is refused until the first is decided or abandoned.
pub async fn start(
    deps: &Deps,
    actor: &Actor,
    base_id: Uuid,
    filing_type: FilingType,
    targets: Vec<Uuid>,
) -> Result<Filing, ServiceError> {
    let db = &deps.db;
    super::access::require_editor(actor)?;
    let marks = cancellation_mark(filing_type);
    check_order_request(filing_type, marks, &targets)?;
    let now = deps.now();
    let txn = write_txn(db).await?;
    let base = lock_current_record(&txn, actor, base_id).await?;
    refuse_second_open_order(&txn, actor, base_id).await?;

    let record = record_of(&txn, &deps.keys, actor, base_id).await?;
    let websites = plan_websites(filing_type, marks, &targets, &record)?;

    let filing_id = Uuid::now_v7();
    let details = order_details(filing_type, base_id, &websites);
    let draft = super::filings::NewDraft {
        id: filing_id,
        owner: base.owner_account_id,
        filing_type,
        icp_number: base.icp_number.clone(),
        base: Some(base_id),
    };
    let row = super::filings::insert_draft(&txn, actor, draft, Some(details), now).await?;
    copy_record(&txn, actor, base_id, filing_id, &websites, now).await?;
    txn.commit().await?;
    tracing::info!(filing = %filing_id, base = %base_id, filing_type = filing_type.as_str(), "order started");
    Filing::try_from(row)
}

/// The operation a cancellation order marks on the websites it names; `None` for the order types that name none.
fn cancellation_mark(filing_type: FilingType) -> Option<WebsiteOperation> {
    match filing_type {
        FilingType::CancelWebsite => Some(WebsiteOperation::Cancel),
        FilingType::CancelAccess => Some(WebsiteOperation::CancelAccess),
        _ => None,
    }
}

/// Whether the request is well formed before anything is read: the type must amend a record, and websites are named
/// exactly when the type cancels some.
fn check_order_request(
    filing_type: FilingType,
    marks: Option<WebsiteOperation>,
    targets: &[Uuid],
) -> Result<(), ServiceError> {
    if !FOLLOW_UP_TYPES.contains(&filing_type) {
        return Err(ServiceError::InvalidInput(vec![
            FieldError::new("filingType", FieldErrorCode::ChangeNotAllowed).with_message(
                "First filings and add-access orders do not amend a record: they start with createFiling.",
                "首次备案和新增接入订单不基于已有备案记录，请使用 createFiling 创建。",
            ),
        ]));
    }
    match (marks, targets.is_empty()) {
        (Some(_), true) => Err(ServiceError::InvalidInput(vec![
            FieldError::new("websiteIds", FieldErrorCode::Required)
                .with_message("Name the websites this order cancels.", "请选择要注销或取消接入的网站。"),
        ])),
        (None, false) => Err(ServiceError::InvalidInput(vec![
            FieldError::new("websiteIds", FieldErrorCode::ChangeNotAllowed).with_message(
                "Only cancel-website and cancel-access orders name websites.",
                "只有注销网站和取消接入订单需要选择网站。",
            ),
        ])),
        _ => Ok(()),
    }
}

/// Locks the base filing's row and reads it: it must be visible to the caller and be the current record.
async fn lock_current_record(txn: &DatabaseTransaction, actor: &Actor, base_id: Uuid) -> Result<Filing, ServiceError> {
    // Writing the record's row first takes its lock (a row lock on PostgreSQL, the write lock on SQLite): two orders
    // started from one record at once are serialised, and the second sees the first.
    filing::Entity::update_many()
        .col_expr(filing::Column::UpdatedAt, Expr::col(filing::Column::UpdatedAt))
        .filter(filing::Column::TenantId.eq(actor.tenant_id))
        .filter(filing::Column::Id.eq(base_id))
        .exec(txn)
        .await?;
    let base = super::access::visible(actor)
        .filter(filing::Column::Id.eq(base_id))
        .one(txn)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let base = Filing::try_from(base)?;
    if !base.is_current_record() {
        return Err(ServiceError::invalid("filingId", FieldErrorCode::NotCurrentRecord));
    }
    Ok(base)
}

/// Refuses the order while another order on the same record is neither approved nor abandoned.
async fn refuse_second_open_order(txn: &DatabaseTransaction, actor: &Actor, base_id: Uuid) -> Result<(), ServiceError> {
    let open = filing::Entity::find()
        .filter(filing::Column::TenantId.eq(actor.tenant_id))
        .filter(filing::Column::BaseFilingId.eq(base_id))
        .filter(filing::Column::Status.is_not_in([FilingStatus::Approved.as_str(), FilingStatus::Abandoned.as_str()]))
        .count(txn)
        .await?;
    if open > 0 {
        return Err(ServiceError::InvalidInput(vec![
            FieldError::new("filingId", FieldErrorCode::OrderInFlight).suggest(
                "This record already has an open order: finish or abandon it first (a change cannot run beside an \
                 add order).",
                "该备案已有未办结的订单：请先办结或放弃该订单（变更与新增订单不能同时进行）。",
            ),
        ]));
    }
    Ok(())
}

/// The order's websites, one per website still filed in the record, each with the operation the order applies to it
/// (the mark on a named website, cancel for all under a subject cancellation, carried otherwise). Refuses named
/// websites the record does not hold, and an order the domain rules refuse, with every error at once.
fn plan_websites(
    filing_type: FilingType,
    marks: Option<WebsiteOperation>,
    targets: &[Uuid],
    record: &Record,
) -> Result<Vec<StoredWebsite>, ServiceError> {
    let mut errors: Vec<FieldError> = targets
        .iter()
        .enumerate()
        .filter(|(_, t)| !record.website_ids.contains(t))
        .map(|(i, _)| FieldError::new(format!("websiteIds[{i}]"), FieldErrorCode::InvalidId))
        .collect();
    let websites: Vec<StoredWebsite> = record
        .website_ids
        .iter()
        .map(|base_website| StoredWebsite {
            id: Uuid::now_v7(),
            operation: match marks {
                Some(mark) if targets.contains(base_website) => mark,
                _ if filing_type == FilingType::CancelSubject => WebsiteOperation::Cancel,
                _ => WebsiteOperation::Carried,
            },
            base_website_id: Some(*base_website),
        })
        .collect();
    errors.extend(violations(filing_type, &record.form, &websites, Some(record), false));
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    Ok(websites)
}

/// The order's stored details: its type, the record it amends, and the websites it does something other than carry.
fn order_details(filing_type: FilingType, base_id: Uuid, websites: &[StoredWebsite]) -> serde_json::Value {
    serde_json::json!({
        "filingType": filing_type.as_str(),
        "baseFilingId": base_id,
        "websites": websites.iter().filter(|w| w.operation != WebsiteOperation::Carried)
            .map(|w| serde_json::json!({ "baseWebsiteId": w.base_website_id, "operation": w.operation.as_str() }))
            .collect::<Vec<_>>(),
    })
}

/// Copies the record's subject and the filed websites the order plans into the new order, each website under its
/// planned id and operation.
async fn copy_record(
    txn: &DatabaseTransaction,
    actor: &Actor,
    base_id: Uuid,
    filing_id: Uuid,
    websites: &[StoredWebsite],
    now: chrono::DateTime<Utc>,
) -> Result<(), ServiceError> {
    let subject = filing_subject::Entity::find()
        .filter(filing_subject::Column::TenantId.eq(actor.tenant_id))
        .filter(filing_subject::Column::FilingId.eq(base_id))
        .one(txn)
        .await?
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("filing {base_id} has no subject")))?;
    let mut copy = subject.into_active_model().reset_all();
    copy.id = Set(Uuid::now_v7());
    copy.filing_id = Set(filing_id);
    copy.insert(txn).await?;
    let filed = website::Entity::find()
        .filter(website::Column::TenantId.eq(actor.tenant_id))
        .filter(website::Column::FilingId.eq(base_id))
        .order_by_asc(website::Column::Id)
        .all(txn)
        .await?;
    for planned in websites {
        let Some(source) = filed.iter().find(|w| Some(w.id) == planned.base_website_id) else { continue };
        let mut copy = source.clone().into_active_model().reset_all();
        copy.id = Set(planned.id);
        copy.filing_id = Set(filing_id);
        copy.operation = Set(planned.operation);
        copy.base_website_id = Set(planned.base_website_id);
        copy.created_at = Set(now);
        copy.updated_at = Set(now);
        copy.insert(txn).await?;
    }
    Ok(())
}

/// The order types the caller could start from `filing` now: none unless it is the current record.
pub fn startable_types(actor: &Actor, filing: &Filing) -> Vec<FilingType> {
    if filing.is_current_record() && actor.may_edit_filings() { FOLLOW_UP_TYPES.to_vec() } else { Vec::new() }
}

/// What this order changes in the record it amends, field by field (personal data masked as in the audit trail).
pub async fn changes_from_record(
    deps: &Deps,
    actor: &Actor,
    filing: &Filing,
) -> Result<Vec<audit::FieldChange>, ServiceError> {
    let db = &deps.db;
    let Some(record) = record_of_order(db, &deps.keys, actor, filing).await? else {
        return Ok(Vec::new());
    };
    let stored = super::access::stored_filing(db, &deps.keys, actor, filing.id).await?;
    Ok(super::filings::form_changes(&record, &stored))
}
