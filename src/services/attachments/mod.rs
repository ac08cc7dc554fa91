//! Materials of a filing in S3: presigned uploads checked before they count, uploads through the server,
//! short-lived download URLs, one current file per material slot, and cleanup of uploads never completed.
//!
//! By use case: uploads (`uploads`), what a filing still needs (`checklist`) and the cleanup of abandoned uploads
//! (`cleanup`). This module holds the material as the API shows it, reading, downloading and deleting one.

mod checklist;
mod cleanup;
mod uploads;

pub use checklist::{ChecklistItem, ItemState, checklist, missing_files};
pub use cleanup::clean_up_expired_uploads;
pub use uploads::{UploadRequest, UploadTicket, complete_upload, limit, request_upload, upload_file};

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::ServiceError;
use super::access::{ensure_visible, require_editor};
use super::audit::{self, FieldChange, FilingAction, NewEvent};
use crate::auth::Actor;
use crate::db::write_txn;
use crate::domain::{MaterialKind, PreApprovalCategory};
use crate::services::Deps;
use crate::storage::{ObjectRef, Storage};
use entity::attachment;
use uploads::discard;

pub use entity::enums::{AttachmentStatus, ReviewStatus};

#[derive(Clone, Debug)]
pub struct Attachment {
    pub id: Uuid,
    pub filing_id: Uuid,
    pub kind: MaterialKind,
    pub website_id: Option<Uuid>,
    pub pre_approval_category: Option<PreApprovalCategory>,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub status: AttachmentStatus,
    pub upload_expires_at: DateTime<Utc>,
    pub uploaded_at: Option<DateTime<Utc>>,
    pub review_status: Option<ReviewStatus>,
    pub review_reason: Option<String>,
    /// For a face video: the digits the person was asked to read aloud.
    pub face_challenge: Option<String>,
    pub created_at: DateTime<Utc>,
    object_key: String,
    bucket: Option<String>,
}

impl Attachment {
    fn object(&self, storage: &Storage) -> ObjectRef {
        storage.object(self.bucket.as_deref(), &self.object_key)
    }
}

impl TryFrom<attachment::Model> for Attachment {
    type Error = ServiceError;

    fn try_from(row: attachment::Model) -> Result<Self, ServiceError> {
        Ok(Self {
            id: row.id,
            filing_id: row.filing_id,
            kind: row.kind,
            website_id: row.website_id,
            pre_approval_category: row.pre_approval_category,
            file_name: row.file_name,
            content_type: row.content_type,
            size: row.size_bytes.max(0) as u64,
            sha256: row.sha256,
            status: row.status,
            upload_expires_at: row.upload_expires_at,
            uploaded_at: row.uploaded_at,
            review_status: row.review_status,
            review_reason: row.review_reason,
            face_challenge: row.face_challenge,
            created_at: row.created_at,
            object_key: row.object_key,
            bucket: row.bucket,
        })
    }
}

/// A short-lived download URL, for whoever may see the filing.
pub async fn download_url(
    deps: &Deps,
    actor: &Actor,
    attachment: &Attachment,
) -> Result<Option<(String, DateTime<Utc>)>, ServiceError> {
    let (db, storage, config) = (&deps.db, &deps.storage, &deps.storage_config);
    if attachment.status != AttachmentStatus::Uploaded {
        return Ok(None);
    }
    ensure_visible(db, actor, attachment.filing_id).await?;
    let ttl = Duration::from_secs(config.download_url_ttl_seconds);
    let url = storage.presign_get(&attachment.object(storage), &attachment.file_name, ttl).await?;
    Ok(Some((url, deps.now() + chrono::Duration::seconds(config.download_url_ttl_seconds as i64))))
}

/// Removes a material of an editable filing, its object included.
pub async fn delete(deps: &Deps, actor: &Actor, id: Uuid) -> Result<(), ServiceError> {
    let (db, storage) = (&deps.db, &deps.storage);
    require_editor(actor)?;
    let row = find(db, actor, id).await?;
    ensure_editable(deps, actor, row.filing_id).await?;
    let txn = write_txn(db).await?;
    attachment::Entity::delete_by_id(row.id).exec(&txn).await?;
    if row.status == AttachmentStatus::Uploaded {
        let change =
            FieldChange { field: "attachment".into(), old: Some(format!("{} {}", row.kind, row.file_name)), new: None };
        record(&txn, actor, row.filing_id, FilingAction::AttachmentRemoved, change, deps.now()).await?;
    }
    txn.commit().await?;
    // The row is gone: a store that cannot delete the file now gets it deleted by the sweep later.
    discard(deps, storage, actor, row.id, &storage.object(row.bucket.as_deref(), &row.object_key)).await;
    Ok(())
}

/// One attachment of a filing the caller may see.
pub async fn get(deps: &Deps, actor: &Actor, id: Uuid) -> Result<Attachment, ServiceError> {
    let db = &deps.db;
    Attachment::try_from(find(db, actor, id).await?)
}

/// The attachments of the given filings, oldest first, keyed by filing (for batch loading).
pub async fn attachments_by_filing(
    deps: &Deps,
    actor: &Actor,
    filing_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Attachment>>, ServiceError> {
    let db = &deps.db;
    let rows = attachment::Entity::find()
        .filter(attachment::Column::TenantId.eq(actor.tenant_id))
        .filter(attachment::Column::FilingId.is_in(filing_ids.iter().copied()))
        .order_by_asc(attachment::Column::Id)
        .into_model()
        .all(db)
        .await?;
    super::filings::group_by_filing(
        super::rows::models::<attachment::Model>(rows),
        |r| r.filing_id,
        Attachment::try_from,
    )
}

/// The filing must be visible to the caller and editable.
async fn ensure_editable(deps: &Deps, actor: &Actor, filing_id: Uuid) -> Result<(), ServiceError> {
    let filing = super::access::get_filing(deps, actor, filing_id).await?;
    if !filing.status.is_editable() {
        return Err(ServiceError::InvalidTransition { action: "changing materials", from: filing.status });
    }
    Ok(())
}

async fn find(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<attachment::Model, ServiceError> {
    let row = attachment::Entity::find_by_id(id)
        .filter(attachment::Column::TenantId.eq(actor.tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    ensure_visible(db, actor, row.filing_id).await?;
    Ok(row)
}

async fn record(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    filing_id: Uuid,
    action: FilingAction,
    change: FieldChange,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    audit::record(txn, actor, NewEvent::new(filing_id, action, now).changes(vec![change])).await
}
