//! Materials of a filing in S3: presigned uploads checked before they count, uploads through the server,
//! short-lived download URLs, one current file per material slot, and cleanup of uploads never completed.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::ServiceError;
use super::access::{ensure_visible, require_editor};
use super::audit::{self, FieldChange, FilingAction, NewEvent};
use crate::auth::Actor;
use crate::config::StorageConfig;
use crate::db::write_txn;
use crate::domain::materials::{SizeClass, extension, sniff_content_type};
use crate::domain::{FieldError, FieldErrorCode, MaterialKind, PreApprovalCategory};
use crate::storage::{ObjectRef, PresignedRequest, Storage, StorageError, TenantPlace};
use entity::{attachment, upload_url};

/// Where an attachment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum AttachmentStatus {
    /// An upload URL was issued; the file is not checked yet.
    Pending,
    /// The file is stored and checked.
    Uploaded,
}

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
    pub review_status: Option<String>,
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
        use super::models::parse;
        Ok(Self {
            id: row.id,
            filing_id: row.filing_id,
            kind: parse("attachments.kind", &row.kind)?,
            website_id: row.website_id,
            pre_approval_category: row
                .pre_approval_category
                .as_deref()
                .map(|c| parse("attachments.pre_approval_category", c))
                .transpose()?,
            file_name: row.file_name,
            content_type: row.content_type,
            size: row.size_bytes.max(0) as u64,
            sha256: row.sha256,
            status: parse("attachments.status", &row.status)?,
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

/// Which material an upload is for, and what the client says the file is.
#[derive(Clone, Debug)]
pub struct UploadRequest {
    pub filing_id: Uuid,
    pub kind: MaterialKind,
    pub website_id: Option<Uuid>,
    pub pre_approval_category: Option<PreApprovalCategory>,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    /// Hex SHA-256 of the file.
    pub sha256: String,
    /// For a face video recorded on a phone: the challenge it reads out.
    pub face_challenge: Option<String>,
}

/// A presigned upload: PUT the file to the URL with exactly these headers before it expires, then complete it.
#[derive(Clone, Debug)]
pub struct UploadTicket {
    pub attachment: Attachment,
    pub request: PresignedRequest,
    pub expires_at: DateTime<Utc>,
}

/// The largest file of a size class.
pub fn limit(config: &StorageConfig, class: SizeClass) -> u64 {
    match class {
        SizeClass::Image => config.max_image_bytes,
        SizeClass::Document => config.max_document_bytes,
        SizeClass::Video => config.max_video_bytes,
    }
}

/// Starts a presigned upload after checking who asks, for which material, and what the file claims to be.
pub async fn request_upload(
    db: &DatabaseConnection,
    storage: &Storage,
    config: &StorageConfig,
    actor: &Actor,
    request: UploadRequest,
) -> Result<UploadTicket, ServiceError> {
    let file_name = check_request(db, config, actor, &request, true).await?;
    let now = Utc::now();
    let expires_at = now + chrono::Duration::seconds(config.upload_url_ttl_seconds as i64);
    let id = Uuid::now_v7();
    let object = locate(db, storage, actor, &request, id).await?;
    let ttl = Duration::from_secs(config.upload_url_ttl_seconds);
    let presigned = storage.presign_put(&object, &request.content_type, request.size, &request.sha256, ttl).await?;
    let txn = write_txn(db).await?;
    let row = new_row(actor, &request, id, file_name, &object, AttachmentStatus::Pending, expires_at, now)
        .insert(&txn)
        .await?;
    // Whatever the URL writes is removed after it expired, whatever becomes of the attachment.
    upload_url::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(actor.tenant_id),
        attachment_id: Set(id),
        bucket: Set(object.bucket.clone()),
        object_key: Set(object.key.clone()),
        expires_at: Set(expires_at),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(UploadTicket { attachment: Attachment::try_from(row)?, request: presigned, expires_at })
}

/// Checks an uploaded file (size, type by its first bytes, SHA-256) and only then counts it; it replaces the
/// material's earlier file. A file that fails a check is deleted; the upload URL can be used again until it expires.
///
/// The URL stays valid until it expires, so what it writes can change after any check of it: the file is first
/// copied to a key no URL was ever issued for, the copy is what gets checked (a PUT may race the copy), and the
/// material points at the copy. The upload's own object is deleted; what the URL writes later is swept after it
/// expired ([`clean_up_expired_uploads`]).
pub async fn complete_upload(
    db: &DatabaseConnection,
    storage: &Storage,
    actor: &Actor,
    id: Uuid,
) -> Result<Attachment, ServiceError> {
    require_editor(actor)?;
    let row = find(db, actor, id).await?;
    let current = Attachment::try_from(row.clone())?;
    if current.status == AttachmentStatus::Uploaded {
        return Ok(current);
    }
    ensure_editable(db, actor, current.filing_id).await?;
    let refuse = |code: FieldErrorCode| ServiceError::InvalidInput(vec![FieldError::new("id", code)]);
    if current.upload_expires_at <= Utc::now() {
        return Err(refuse(FieldErrorCode::UploadExpired));
    }
    let upload = current.object(storage);
    // Cheap refusals first, from what HEAD tells of the upload.
    let Some(meta) = storage.head(&upload).await? else {
        return Err(refuse(FieldErrorCode::UploadMissing));
    };
    let early = if meta.size != current.size {
        Some(FieldErrorCode::SizeMismatch)
    } else if meta.content_type.as_deref().is_some_and(|t| t != current.content_type) {
        Some(FieldErrorCode::ContentMismatch)
    } else {
        None
    };
    if let Some(code) = early {
        forget_upload(storage, &upload, id).await;
        tracing::warn!(attachment = %id, code = code.as_str(), "uploaded file refused");
        return Err(refuse(code));
    }
    let checked = storage.fresh_key_beside(&upload);
    match storage.copy(&upload, &checked, &current.content_type).await {
        Ok(()) => {}
        Err(StorageError::Missing) => return Err(refuse(FieldErrorCode::UploadMissing)),
        Err(e) => {
            // A copy that timed out may still have been made.
            discard(db, storage, actor, id, &checked).await;
            return Err(e.into());
        }
    }
    let verdict = match check_stored(storage, &checked, &current).await {
        Ok(verdict) => verdict,
        Err(e) => {
            discard(db, storage, actor, id, &checked).await;
            return Err(e);
        }
    };
    if let Some(code) = verdict {
        discard(db, storage, actor, id, &checked).await;
        forget_upload(storage, &upload, id).await;
        tracing::warn!(attachment = %id, code = code.as_str(), "uploaded file refused");
        return Err(refuse(code));
    }
    let now = Utc::now();
    let mut active: attachment::ActiveModel = row.into();
    active.status = Set(AttachmentStatus::Uploaded.to_string());
    active.object_key = Set(checked.key.clone());
    active.bucket = Set(Some(checked.bucket.clone()));
    active.uploaded_at = Set(Some(now));
    active.updated_at = Set(now);
    match make_current(db, storage, actor, active, Write::Complete, now).await {
        Ok(Some(done)) => {
            if let Err(error) = storage.delete(&upload).await {
                // Not lost: the sweep of expired upload URLs deletes it later.
                tracing::warn!(attachment = %id, %error, "deleting a completed upload's object failed");
            }
            Ok(done)
        }
        // Completed by a concurrent call (or deleted meanwhile): that call's outcome stands, this copy goes.
        Ok(None) => {
            discard(db, storage, actor, id, &checked).await;
            get(db, actor, id).await
        }
        Err(e) => {
            discard(db, storage, actor, id, &checked).await;
            Err(e)
        }
    }
}

/// What is wrong with a stored file, judged against what the client announced (size, type by its first bytes,
/// SHA-256); `None`: it is exactly the announced file.
async fn check_stored(
    storage: &Storage,
    object: &ObjectRef,
    announced: &Attachment,
) -> Result<Option<FieldErrorCode>, ServiceError> {
    let Some(meta) = storage.head(object).await? else {
        return Ok(Some(FieldErrorCode::UploadMissing));
    };
    if meta.size != announced.size {
        return Ok(Some(FieldErrorCode::SizeMismatch));
    }
    let head = storage.read_head_bytes(object, 512).await?;
    if sniff_content_type(&head) != Some(announced.content_type.as_str()) {
        return Ok(Some(FieldErrorCode::ContentMismatch));
    }
    if storage.sha256(object).await? != announced.sha256 {
        return Ok(Some(FieldErrorCode::ChecksumMismatch));
    }
    Ok(None)
}

/// Uploads a file the client sent through the server (GraphQL multipart request), from a temporary file: the
/// same checks as a presigned upload, then straight to S3 in parts.
pub async fn upload_file(
    db: &DatabaseConnection,
    storage: &Storage,
    config: &StorageConfig,
    actor: &Actor,
    mut request: UploadRequest,
    file: std::fs::File,
) -> Result<Attachment, ServiceError> {
    request.size = file.metadata().map_err(ServiceError::internal)?.len();
    let (sha256, head) = tokio::task::spawn_blocking({
        let file = file.try_clone().map_err(ServiceError::internal)?;
        move || digest_file(file)
    })
    .await
    .map_err(ServiceError::internal)?
    .map_err(ServiceError::internal)?;
    request.sha256 = sha256;
    let file_name = check_request(db, config, actor, &request, false).await?;
    if sniff_content_type(&head) != Some(request.content_type.as_str()) {
        return Err(ServiceError::InvalidInput(vec![FieldError::new("file", FieldErrorCode::ContentMismatch)]));
    }
    let now = Utc::now();
    let id = Uuid::now_v7();
    let object = locate(db, storage, actor, &request, id).await?;
    if let Err(e) = storage.put_file(&object, &request.content_type, &file).await {
        // An upload that timed out may still have arrived whole.
        discard(db, storage, actor, id, &object).await;
        return Err(e.into());
    }
    let mut active = new_row(actor, &request, id, file_name, &object, AttachmentStatus::Uploaded, now, now);
    active.uploaded_at = Set(Some(now));
    match make_current(db, storage, actor, active, Write::Insert, now).await {
        Ok(Some(attachment)) => Ok(attachment),
        Ok(None) => Err(ServiceError::internal(anyhow::anyhow!("an inserted attachment row was not written"))),
        Err(e) => {
            // The object must not outlive a failed write of its row.
            discard(db, storage, actor, id, &object).await;
            Err(e)
        }
    }
}

/// A short-lived download URL, for whoever may see the filing.
pub async fn download_url(
    db: &DatabaseConnection,
    storage: &Storage,
    config: &StorageConfig,
    actor: &Actor,
    attachment: &Attachment,
) -> Result<Option<(String, DateTime<Utc>)>, ServiceError> {
    if attachment.status != AttachmentStatus::Uploaded {
        return Ok(None);
    }
    ensure_visible(db, actor, attachment.filing_id).await?;
    let ttl = Duration::from_secs(config.download_url_ttl_seconds);
    let url = storage.presign_get(&attachment.object(storage), &attachment.file_name, ttl).await?;
    Ok(Some((url, Utc::now() + chrono::Duration::seconds(config.download_url_ttl_seconds as i64))))
}

/// Removes a material of an editable filing, its object included.
pub async fn delete(db: &DatabaseConnection, storage: &Storage, actor: &Actor, id: Uuid) -> Result<(), ServiceError> {
    require_editor(actor)?;
    let row = find(db, actor, id).await?;
    ensure_editable(db, actor, row.filing_id).await?;
    let txn = write_txn(db).await?;
    attachment::Entity::delete_by_id(row.id).exec(&txn).await?;
    if row.status == AttachmentStatus::Uploaded.to_string() {
        let change =
            FieldChange { field: "attachment".into(), old: Some(format!("{} {}", row.kind, row.file_name)), new: None };
        record(&txn, actor, row.filing_id, FilingAction::AttachmentRemoved, change, Utc::now()).await?;
    }
    txn.commit().await?;
    // The row is gone: a store that cannot delete the file now gets it deleted by the sweep later.
    discard(db, storage, actor, row.id, &storage.object(row.bucket.as_deref(), &row.object_key)).await;
    Ok(())
}

/// One attachment of a filing the caller may see.
pub async fn get(db: &DatabaseConnection, actor: &Actor, id: Uuid) -> Result<Attachment, ServiceError> {
    Attachment::try_from(find(db, actor, id).await?)
}

/// The attachments of the given filings, oldest first, keyed by filing (for batch loading).
pub async fn attachments_by_filing(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Attachment>>, ServiceError> {
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

/// Removes uploads never completed whose URL expired (with a minute's grace for uploads still in flight), then
/// empties the keys of upload URLs expired an hour ago. Safe to run on every replica at once: deleting twice is
/// harmless.
pub async fn clean_up_expired_uploads(db: &DatabaseConnection, storage: &Storage) -> Result<usize, ServiceError> {
    let cutoff = Utc::now() - chrono::Duration::seconds(60);
    let expired = attachment::Entity::find()
        .filter(attachment::Column::Status.eq(AttachmentStatus::Pending.to_string()))
        .filter(attachment::Column::UploadExpiresAt.lt(cutoff))
        .all(db)
        .await?;
    let mut removed = 0;
    let mut reachable = true;
    for row in &expired {
        // The row goes first, and only while it is still pending: of several replicas cleaning up at once exactly
        // one removes it, and an upload completed meanwhile keeps both its row and its file.
        let gone = attachment::Entity::delete_many()
            .filter(attachment::Column::Id.eq(row.id))
            .filter(attachment::Column::Status.eq(AttachmentStatus::Pending.to_string()))
            .exec(db)
            .await?;
        if gone.rows_affected == 0 {
            continue;
        }
        removed += 1;
        // Its key is an upload URL's, which the sweep below empties in any case: deleting now only saves the wait,
        // and is not tried again in this pass once the store turned out to be unavailable.
        if reachable && let Err(error) = storage.delete(&storage.object(row.bucket.as_deref(), &row.object_key)).await {
            reachable = !matches!(error, StorageError::Unavailable(_));
            tracing::warn!(attachment = %row.id, %error, "removing an expired upload's object failed");
        }
    }
    if removed > 0 {
        tracing::info!(count = removed, "expired uploads removed");
    }
    sweep_expired_upload_urls(db, storage).await?;
    Ok(removed)
}

/// How long after its URL expired an upload key is emptied: S3 checks a presigned URL when a request starts, so a
/// PUT accepted just before the expiry may still be arriving well after it.
const SWEEP_AFTER_EXPIRY_SECONDS: i64 = 60 * 60;

/// Empties the keys of upload URLs that expired (and then forgets them). A completed upload's file lives under
/// another key, so nothing a material points at is touched, while whatever an upload URL wrote after the check
/// (or for an attachment deleted, replaced or purged since) does not linger.
async fn sweep_expired_upload_urls(db: &DatabaseConnection, storage: &Storage) -> Result<usize, ServiceError> {
    let cutoff = Utc::now() - chrono::Duration::seconds(SWEEP_AFTER_EXPIRY_SECONDS);
    let due = upload_url::Entity::find()
        .filter(upload_url::Column::ExpiresAt.lt(cutoff))
        .order_by_asc(upload_url::Column::ExpiresAt)
        .limit(500)
        .all(db)
        .await?;
    let mut swept = 0;
    for row in &due {
        // The object first, then the row: a failed delete is retried on the next run, and replicas sweeping at
        // once only delete twice, which is harmless.
        match storage.delete(&storage.object(Some(&row.bucket), &row.object_key)).await {
            Ok(()) => {
                upload_url::Entity::delete_by_id(row.id).exec(db).await?;
                swept += 1;
            }
            // The next pass tries again; with the store down, each key would only wait for its timeout.
            Err(error @ StorageError::Unavailable(_)) => {
                tracing::warn!(%error, "the store is unavailable: expired upload keys are emptied on a later pass");
                break;
            }
            Err(error) => {
                tracing::warn!(attachment = %row.attachment_id, %error, "emptying an expired upload key failed")
            }
        }
    }
    if swept > 0 {
        tracing::info!(count = swept, "expired upload keys emptied");
    }
    Ok(swept)
}

/// Checks the caller, the filing and the material; returns the file name to keep.
async fn check_request(
    db: &DatabaseConnection,
    config: &StorageConfig,
    actor: &Actor,
    request: &UploadRequest,
    check_sha256: bool,
) -> Result<String, ServiceError> {
    require_editor(actor)?;
    ensure_editable(db, actor, request.filing_id).await?;
    let mut errors = Vec::new();
    // One line without controls: the name is shown to reviewers and sent back in the download's
    // Content-Disposition, where a right-to-left override would make `invoice\u{202E}fdp.exe` read as a PDF.
    let file_name =
        super::validation::one_line(&request.file_name, "fileName", 255, &mut errors).replace(['/', '\\'], "_");
    let allowed = request.kind.allowed_content_types();
    if !allowed.contains(&request.content_type.as_str()) {
        errors.push(FieldError::new("contentType", FieldErrorCode::UnsupportedContentType).suggest(
            format!("Use one of: {}.", allowed.join(", ")),
            format!("可用的文件类型：{}。", allowed.join("、")),
        ));
    }
    let max = limit(config, request.kind.size_class());
    if request.size == 0 {
        errors.push(FieldError::new("size", FieldErrorCode::Required));
    } else if request.size > max {
        errors.push(FieldError::new("size", FieldErrorCode::FileTooLarge).suggest(
            format!("At most {} MB for this material.", max / (1024 * 1024)),
            format!("该材料最大 {} MB。", max / (1024 * 1024)),
        ));
    }
    if check_sha256 && !(request.sha256.len() == 64 && request.sha256.bytes().all(|b| b.is_ascii_hexdigit())) {
        errors.push(FieldError::new("sha256", FieldErrorCode::InvalidFormat));
    }
    let websites = super::filings::websites_by_filing(db, actor, &[request.filing_id]).await?;
    let website =
        request.website_id.map(|id| websites.get(&request.filing_id).and_then(|list| list.iter().find(|w| w.id == id)));
    match (request.kind.needs_website(), request.website_id, website.flatten()) {
        (true, None, _) => errors.push(FieldError::new("websiteId", FieldErrorCode::Required)),
        (_, Some(_), None) => errors.push(FieldError::new("websiteId", FieldErrorCode::InvalidId)),
        _ => {}
    }
    match (request.kind.needs_pre_approval_category(), request.pre_approval_category, website.flatten()) {
        (true, None, _) => errors.push(FieldError::new("preApprovalCategory", FieldErrorCode::Required)),
        (true, Some(category), Some(site)) if !site.pre_approvals.iter().any(|a| a.category == category) => errors
            .push(
                FieldError::new("preApprovalCategory", FieldErrorCode::InvalidFormat)
                    .with_message("The website does not list this pre-approval.", "该网站未填写此前置审批。"),
            ),
        (false, Some(_), _) => errors.push(FieldError::new("preApprovalCategory", FieldErrorCode::InvalidFormat)),
        _ => {}
    }
    if errors.is_empty() { Ok(file_name) } else { Err(ServiceError::InvalidInput(errors)) }
}

/// Where a new attachment goes: the tenant's own bucket or prefix, if it has one; the bucket exists afterwards.
async fn locate(
    db: &DatabaseConnection,
    storage: &Storage,
    actor: &Actor,
    request: &UploadRequest,
    id: Uuid,
) -> Result<ObjectRef, ServiceError> {
    let tenant = super::tenants::tenant_by_id(db, actor.tenant_id).await?;
    let place = TenantPlace { bucket: tenant.storage_bucket, prefix: tenant.storage_prefix };
    let object = storage.locate(&place, actor.tenant_id, request.filing_id, id, extension(&request.content_type));
    storage.ensure_bucket(&object.bucket).await?;
    Ok(object)
}

/// The filing must be visible to the caller and editable.
async fn ensure_editable(db: &DatabaseConnection, actor: &Actor, filing_id: Uuid) -> Result<(), ServiceError> {
    let filing = super::access::get_filing(db, actor, filing_id).await?;
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

#[allow(clippy::too_many_arguments)]
fn new_row(
    actor: &Actor,
    request: &UploadRequest,
    id: Uuid,
    file_name: String,
    object: &ObjectRef,
    status: AttachmentStatus,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> attachment::ActiveModel {
    attachment::ActiveModel {
        id: Set(id),
        tenant_id: Set(actor.tenant_id),
        filing_id: Set(request.filing_id),
        kind: Set(request.kind.as_str().to_owned()),
        website_id: Set(request.website_id),
        pre_approval_category: Set(request.pre_approval_category.map(|c| c.as_str().to_owned())),
        file_name: Set(file_name),
        content_type: Set(request.content_type.clone()),
        size_bytes: Set(request.size as i64),
        sha256: Set(request.sha256.to_lowercase()),
        object_key: Set(object.key.clone()),
        bucket: Set(Some(object.bucket.clone())),
        status: Set(status.to_string()),
        upload_expires_at: Set(expires_at),
        uploaded_at: Set(None),
        created_by: Set(actor.id),
        review_status: Set(None),
        review_reason: Set(None),
        face_challenge: Set(request.face_challenge.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Whether the row to make current is already stored (a presigned upload being completed) or new (an upload
/// through the server).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    Complete,
    Insert,
}

/// Makes a checked file the material's current one, replacing the earlier one. `None`: the row to complete is no
/// longer pending (another call completed it, or it was deleted), and nothing was written.
async fn make_current(
    db: &DatabaseConnection,
    storage: &Storage,
    actor: &Actor,
    active: attachment::ActiveModel,
    write: Write,
    now: DateTime<Utc>,
) -> Result<Option<Attachment>, ServiceError> {
    let txn = write_txn(db).await?;
    let row = match write {
        Write::Complete => {
            let id = active.id.clone().unwrap();
            // Only while pending: of two concurrent completions exactly one points the row at its copy.
            let updated = attachment::Entity::update_many()
                .set(active)
                .filter(attachment::Column::Id.eq(id))
                .filter(attachment::Column::Status.eq(AttachmentStatus::Pending.to_string()))
                .exec(&txn)
                .await?;
            if updated.rows_affected == 0 {
                return Ok(None);
            }
            attachment::Entity::find_by_id(id).one(&txn).await?.ok_or(ServiceError::NotFound)?
        }
        Write::Insert => active.insert(&txn).await?,
    };
    let replaced = replace_slot(&txn, actor, &row, now).await?;
    txn.commit().await?;
    for (bucket, key) in replaced {
        discard(db, storage, actor, row.id, &storage.object(bucket.as_deref(), &key)).await;
    }
    Attachment::try_from(row).map(Some)
}

/// Deletes the slot's earlier uploaded files (rows now, objects after commit) and records the upload.
async fn replace_slot(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    row: &attachment::Model,
    now: DateTime<Utc>,
) -> Result<Vec<(Option<String>, String)>, ServiceError> {
    let mut query = attachment::Entity::find()
        .filter(attachment::Column::TenantId.eq(actor.tenant_id))
        .filter(attachment::Column::FilingId.eq(row.filing_id))
        .filter(attachment::Column::Kind.eq(row.kind.clone()))
        .filter(attachment::Column::Status.eq(AttachmentStatus::Uploaded.to_string()))
        .filter(attachment::Column::Id.ne(row.id));
    query = match row.website_id {
        Some(id) => query.filter(attachment::Column::WebsiteId.eq(id)),
        None => query.filter(attachment::Column::WebsiteId.is_null()),
    };
    query = match &row.pre_approval_category {
        Some(c) => query.filter(attachment::Column::PreApprovalCategory.eq(c.clone())),
        None => query.filter(attachment::Column::PreApprovalCategory.is_null()),
    };
    let earlier = query.all(txn).await?;
    for old in &earlier {
        attachment::Entity::delete_by_id(old.id).exec(txn).await?;
    }
    let change = FieldChange {
        field: "attachment".into(),
        old: earlier.first().map(|o| format!("{} {}", o.kind, o.file_name)),
        new: Some(format!("{} {}", row.kind, row.file_name)),
    };
    record(txn, actor, row.filing_id, FilingAction::AttachmentUploaded, change, now).await?;
    Ok(earlier.into_iter().map(|o| (o.bucket, o.object_key)).collect())
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

/// Deletes an object no row points at (a checked copy or an upload whose row was not written, a deleted or replaced
/// material's file). When the store cannot do it now (it is down, or did not answer), the key is noted as an
/// expired upload key: the sweep ([`sweep_expired_upload_urls`]) deletes it on its next pass that reaches the
/// store. So no file outlives its row, even across a store outage.
async fn discard(db: &DatabaseConnection, storage: &Storage, actor: &Actor, attachment: Uuid, object: &ObjectRef) {
    let Err(error) = storage.delete(object).await else { return };
    tracing::warn!(%attachment, %error, "deleting an unused object failed; the sweep deletes it later");
    let now = Utc::now();
    let noted = upload_url::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(actor.tenant_id),
        attachment_id: Set(attachment),
        bucket: Set(object.bucket.clone()),
        object_key: Set(object.key.clone()),
        // Due at once: no URL was issued for it.
        expires_at: Set(now - chrono::Duration::seconds(SWEEP_AFTER_EXPIRY_SECONDS + 1)),
        created_at: Set(now),
    }
    .insert(db)
    .await;
    if let Err(error) = noted {
        tracing::error!(%attachment, %error, key = %object.key, "an unused object could not be noted for the sweep");
    }
}

/// Deletes a refused upload's object now if the store lets us: its upload URL's key is swept after it expired
/// anyway, so a failure here only leaves it until then.
async fn forget_upload(storage: &Storage, upload: &ObjectRef, attachment: Uuid) {
    if let Err(error) = storage.delete(upload).await {
        tracing::warn!(%attachment, %error, "deleting a refused upload failed; the sweep deletes it later");
    }
}

/// SHA-256 (hex) and the first 512 bytes of a file, read from its start in 64 KiB chunks.
fn digest_file(mut file: std::fs::File) -> std::io::Result<(String, Vec<u8>)> {
    use sha2::{Digest, Sha256};
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    let mut head = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        if head.len() < 512 {
            head.extend_from_slice(&buffer[..n.min(512 - head.len())]);
        }
        hasher.update(&buffer[..n]);
    }
    Ok((hex::encode(hasher.finalize()), head))
}

/// The state of one checklist item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum ItemState {
    /// Nothing uploaded yet.
    Missing,
    /// Uploaded and checked, not reviewed yet.
    Uploaded,
    /// A reviewer accepted it.
    Accepted,
    /// A reviewer asked for a new file.
    NeedsRevision,
}

/// One material the filing needs, and where it stands.
#[derive(Clone, Debug)]
pub struct ChecklistItem {
    pub kind: MaterialKind,
    pub website_id: Option<Uuid>,
    pub pre_approval_category: Option<PreApprovalCategory>,
    /// The responsible person an ID card is about.
    pub person: Option<String>,
    pub state: ItemState,
    /// The reviewer's reason, for NEEDS_REVISION.
    pub reason: Option<String>,
    pub attachment_id: Option<Uuid>,
}

/// The materials checklist of a filing: what the requirements table asks for, matched with the uploaded files.
pub async fn checklist(
    db: &DatabaseConnection,
    actor: &Actor,
    reference: &crate::domain::reference::ReferenceData,
    filing_id: Uuid,
) -> Result<Vec<ChecklistItem>, ServiceError> {
    let filing = super::access::get_filing(db, actor, filing_id).await?;
    let stored = super::access::stored_filing(db, actor, filing_id).await?;
    let record = super::access::record_of_order(db, actor, &filing).await?;
    let in_scope = super::access::websites_in_scope(filing.filing_type, &stored, record.as_ref());
    let website_ids: Vec<Uuid> = stored.websites.iter().map(|w| w.id).collect();
    let uploaded: Vec<Attachment> = attachments_by_filing(db, actor, &[filing_id])
        .await?
        .remove(&filing_id)
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.status == AttachmentStatus::Uploaded)
        .collect();
    let required = crate::domain::materials::required_materials(&stored.form, filing.filing_type, &in_scope, reference);
    Ok(required
        .into_iter()
        .map(|item| {
            let website_id = item.website.and_then(|i| website_ids.get(i).copied());
            let found = uploaded.iter().find(|a| {
                a.kind == item.kind
                    && a.website_id == website_id
                    && a.pre_approval_category == item.pre_approval_category
            });
            let state = match found.and_then(|a| a.review_status.as_deref()) {
                _ if found.is_none() => ItemState::Missing,
                Some("ACCEPTED") => ItemState::Accepted,
                Some("NEEDS_REVISION") => ItemState::NeedsRevision,
                _ => ItemState::Uploaded,
            };
            ChecklistItem {
                kind: item.kind,
                website_id,
                pre_approval_category: item.pre_approval_category,
                person: item.person,
                state,
                reason: found.and_then(|a| a.review_reason.clone()),
                attachment_id: found.map(|a| a.id),
            }
        })
        .collect())
}

/// HEAD requests at most in flight when a submission checks its materials' files.
const FILE_CHECKS_AT_ONCE: usize = 8;

/// What a material whose file was found gone is marked with, for the checklist (NEEDS_REVISION) and the applicant.
const FILE_MISSING_REASON: &str =
    "The file is no longer in the file store: upload it again. 该文件已不在文件存储中，请重新上传。";

/// The current materials of a filing whose files are gone from the store (lost with it, or deleted behind the
/// server's back): one MATERIAL_FILE_MISSING error each, at the path MATERIAL_MISSING uses. Each is marked as needing
/// a new file, so the checklist shows it to upload again. Every file is asked for (HEAD, a few at once); a store that
/// does not answer makes this STORAGE_UNAVAILABLE, never "files missing".
pub async fn missing_files(
    db: &DatabaseConnection,
    storage: &Storage,
    actor: &Actor,
    reference: &crate::domain::reference::ReferenceData,
    filing_id: Uuid,
) -> Result<Vec<FieldError>, ServiceError> {
    use futures_util::{StreamExt, TryStreamExt};
    let items = checklist(db, actor, reference, filing_id).await?;
    let current: Vec<(ChecklistItem, Uuid)> = items
        .into_iter()
        .filter(|item| matches!(item.state, ItemState::Uploaded | ItemState::Accepted))
        .filter_map(|item| item.attachment_id.map(|id| (item, id)))
        .collect();
    let rows: HashMap<Uuid, attachment::Model> = attachment::Entity::find()
        .filter(attachment::Column::TenantId.eq(actor.tenant_id))
        .filter(attachment::Column::Id.is_in(current.iter().map(|(_, id)| *id)))
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.id, row))
        .collect();
    let found: Vec<(ChecklistItem, Uuid, bool)> =
        futures_util::stream::iter(current)
            .filter_map(|(item, id)| {
                let object = rows.get(&id).map(|row| storage.object(row.bucket.as_deref(), &row.object_key));
                async move { object.map(|object| (item, id, object)) }
            })
            .map(|(item, id, object)| async move {
                Ok::<_, StorageError>((item, id, storage.head(&object).await?.is_some()))
            })
            .buffer_unordered(FILE_CHECKS_AT_ONCE)
            .try_collect()
            .await?;
    let mut errors = Vec::new();
    for (item, id, _) in found.into_iter().filter(|(_, _, exists)| !exists) {
        mark_file_missing(db, id).await?;
        tracing::warn!(attachment = %id, kind = item.kind.as_str(), "a material's file is gone from the store");
        let at = item.website_id.map(|w| format!("[{w}]")).unwrap_or_default();
        errors.push(FieldError::new(
            format!("materials.{}{at}", item.kind.as_str()),
            FieldErrorCode::MaterialFileMissing,
        ));
    }
    Ok(errors)
}

/// Marks a material whose file is gone as needing a new one (while it is still the uploaded file it was).
async fn mark_file_missing(db: &DatabaseConnection, id: Uuid) -> Result<(), ServiceError> {
    use sea_orm::sea_query::Expr;
    attachment::Entity::update_many()
        .col_expr(attachment::Column::ReviewStatus, Expr::value("NEEDS_REVISION"))
        .col_expr(attachment::Column::ReviewReason, Expr::value(FILE_MISSING_REASON))
        .col_expr(attachment::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(attachment::Column::Id.eq(id))
        .filter(attachment::Column::Status.eq(AttachmentStatus::Uploaded.to_string()))
        .exec(db)
        .await?;
    Ok(())
}
