//! Uploading a material: presigned uploads checked before they count, uploads through the server, and making the
//! checked file the current one of its slot.

use crate::domain::MaterialRules;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::cleanup::SWEEP_AFTER_EXPIRY_SECONDS;
use super::{Attachment, AttachmentStatus, ensure_editable, find, get, record};
use crate::auth::Actor;
use crate::config::StorageConfig;
use crate::db::write_txn;
use crate::domain::materials::{SizeClass, extension, sniff_content_type};
use crate::domain::{FieldError, FieldErrorCode, MaterialKind, PreApprovalCategory};
use crate::services::Deps;
use crate::services::ServiceError;
use crate::services::access::require_editor;
use crate::services::audit::{FieldChange, FilingAction};
use crate::storage::{ObjectRef, PresignedRequest, Storage, StorageError, TenantPlace};
use entity::{attachment, upload_url};

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
pub async fn request_upload(deps: &Deps, actor: &Actor, request: UploadRequest) -> Result<UploadTicket, ServiceError> {
    let (db, storage, config) = (&deps.db, &deps.storage, &deps.storage_config);
    let file_name = check_request(deps, config, actor, &request, true).await?;
    let now = deps.now();
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
pub async fn complete_upload(deps: &Deps, actor: &Actor, id: Uuid) -> Result<Attachment, ServiceError> {
    let (db, storage) = (&deps.db, &deps.storage);
    require_editor(actor)?;
    let row = find(db, actor, id).await?;
    let current = Attachment::try_from(row.clone())?;
    if current.status == AttachmentStatus::Uploaded {
        return Ok(current);
    }
    ensure_editable(deps, actor, current.filing_id).await?;
    let refuse = |code: FieldErrorCode| ServiceError::InvalidInput(vec![FieldError::new("id", code)]);
    if current.upload_expires_at <= deps.now() {
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
            discard(deps, storage, actor, id, &checked).await;
            return Err(e.into());
        }
    }
    let verdict = match check_stored(storage, &checked, &current).await {
        Ok(verdict) => verdict,
        Err(e) => {
            discard(deps, storage, actor, id, &checked).await;
            return Err(e);
        }
    };
    if let Some(code) = verdict {
        discard(deps, storage, actor, id, &checked).await;
        forget_upload(storage, &upload, id).await;
        tracing::warn!(attachment = %id, code = code.as_str(), "uploaded file refused");
        return Err(refuse(code));
    }
    let now = deps.now();
    let mut active: attachment::ActiveModel = row.into();
    active.status = Set(AttachmentStatus::Uploaded);
    active.object_key = Set(checked.key.clone());
    active.bucket = Set(Some(checked.bucket.clone()));
    active.uploaded_at = Set(Some(now));
    active.updated_at = Set(now);
    match make_current(deps, storage, actor, active, Write::Complete, now).await {
        Ok(Some(done)) => {
            if let Err(error) = storage.delete(&upload).await {
                // Not lost: the sweep of expired upload URLs deletes it later.
                tracing::warn!(attachment = %id, %error, "deleting a completed upload's object failed");
            }
            Ok(done)
        }
        // Completed by a concurrent call (or deleted meanwhile): that call's outcome stands, this copy goes.
        Ok(None) => {
            discard(deps, storage, actor, id, &checked).await;
            get(deps, actor, id).await
        }
        Err(e) => {
            discard(deps, storage, actor, id, &checked).await;
            Err(e)
        }
    }
}

/// What is wrong with a stored file, judged against what the client announced (size, type by its first bytes,
/// SHA-256); `None`: it is exactly the announced file.
pub(super) async fn check_stored(
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
    deps: &Deps,
    actor: &Actor,
    mut request: UploadRequest,
    file: std::fs::File,
) -> Result<Attachment, ServiceError> {
    let (db, storage, config) = (&deps.db, &deps.storage, &deps.storage_config);
    request.size = file.metadata().map_err(ServiceError::internal)?.len();
    let (sha256, head) = tokio::task::spawn_blocking({
        let file = file.try_clone().map_err(ServiceError::internal)?;
        move || digest_file(file)
    })
    .await
    .map_err(ServiceError::internal)?
    .map_err(ServiceError::internal)?;
    request.sha256 = sha256;
    let file_name = check_request(deps, config, actor, &request, false).await?;
    if sniff_content_type(&head) != Some(request.content_type.as_str()) {
        return Err(ServiceError::InvalidInput(vec![FieldError::new("file", FieldErrorCode::ContentMismatch)]));
    }
    let now = deps.now();
    let id = Uuid::now_v7();
    let object = locate(db, storage, actor, &request, id).await?;
    if let Err(e) = storage.put_file(&object, &request.content_type, &file).await {
        // An upload that timed out may still have arrived whole.
        discard(deps, storage, actor, id, &object).await;
        return Err(e.into());
    }
    let mut active = new_row(actor, &request, id, file_name, &object, AttachmentStatus::Uploaded, now, now);
    active.uploaded_at = Set(Some(now));
    match make_current(deps, storage, actor, active, Write::Insert, now).await {
        Ok(Some(attachment)) => Ok(attachment),
        Ok(None) => Err(ServiceError::internal(anyhow::anyhow!("an inserted attachment row was not written"))),
        Err(e) => {
            // The object must not outlive a failed write of its row.
            discard(deps, storage, actor, id, &object).await;
            Err(e)
        }
    }
}

/// Checks the caller, the filing and the material; returns the file name to keep.
pub(super) async fn check_request(
    deps: &Deps,
    config: &StorageConfig,
    actor: &Actor,
    request: &UploadRequest,
    check_sha256: bool,
) -> Result<String, ServiceError> {
    require_editor(actor)?;
    ensure_editable(deps, actor, request.filing_id).await?;
    let mut errors = Vec::new();
    // One line without controls: the name is shown to reviewers and sent back in the download's
    // Content-Disposition, where a right-to-left override would make `invoice\u{202E}fdp.exe` read as a PDF.
    let file_name = crate::services::validation::one_line(&request.file_name, "fileName", 255, &mut errors)
        .replace(['/', '\\'], "_");
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
    let websites = crate::services::filings::websites_by_filing(deps, actor, &[request.filing_id]).await?;
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
pub(super) async fn locate(
    db: &DatabaseConnection,
    storage: &Storage,
    actor: &Actor,
    request: &UploadRequest,
    id: Uuid,
) -> Result<ObjectRef, ServiceError> {
    let tenant = crate::services::tenants::tenant_by_id(db, actor.tenant_id).await?;
    let place = TenantPlace { bucket: tenant.storage_bucket, prefix: tenant.storage_prefix };
    let object = storage.locate(&place, actor.tenant_id, request.filing_id, id, extension(&request.content_type));
    storage.ensure_bucket(&object.bucket).await?;
    Ok(object)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn new_row(
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
        kind: Set(request.kind),
        website_id: Set(request.website_id),
        pre_approval_category: Set(request.pre_approval_category),
        file_name: Set(file_name),
        content_type: Set(request.content_type.clone()),
        size_bytes: Set(request.size as i64),
        sha256: Set(request.sha256.to_lowercase()),
        object_key: Set(object.key.clone()),
        bucket: Set(Some(object.bucket.clone())),
        status: Set(status),
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
pub(super) enum Write {
    Complete,
    Insert,
}

/// Makes a checked file the material's current one, replacing the earlier one. `None`: the row to complete is no
/// longer pending (another call completed it, or it was deleted), and nothing was written.
pub(super) async fn make_current(
    deps: &Deps,
    storage: &Storage,
    actor: &Actor,
    active: attachment::ActiveModel,
    write: Write,
    now: DateTime<Utc>,
) -> Result<Option<Attachment>, ServiceError> {
    let db = &deps.db;
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
        discard(deps, storage, actor, row.id, &storage.object(bucket.as_deref(), &key)).await;
    }
    Attachment::try_from(row).map(Some)
}

/// Deletes the slot's earlier uploaded files (rows now, objects after commit) and records the upload.
pub(super) async fn replace_slot(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    row: &attachment::Model,
    now: DateTime<Utc>,
) -> Result<Vec<(Option<String>, String)>, ServiceError> {
    let mut query = attachment::Entity::find()
        .filter(attachment::Column::TenantId.eq(actor.tenant_id))
        .filter(attachment::Column::FilingId.eq(row.filing_id))
        .filter(attachment::Column::Kind.eq(row.kind))
        .filter(attachment::Column::Status.eq(AttachmentStatus::Uploaded.to_string()))
        .filter(attachment::Column::Id.ne(row.id));
    query = match row.website_id {
        Some(id) => query.filter(attachment::Column::WebsiteId.eq(id)),
        None => query.filter(attachment::Column::WebsiteId.is_null()),
    };
    query = match &row.pre_approval_category {
        Some(c) => query.filter(attachment::Column::PreApprovalCategory.eq(*c)),
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

/// Deletes an object no row points at (a checked copy or an upload whose row was not written, a deleted or replaced
/// material's file). When the store cannot do it now (it is down, or did not answer), the key is noted as an
/// expired upload key: the sweep ([`sweep_expired_upload_urls`]) deletes it on its next pass that reaches the
/// store. So no file outlives its row, even across a store outage.
pub(super) async fn discard(deps: &Deps, storage: &Storage, actor: &Actor, attachment: Uuid, object: &ObjectRef) {
    let db = &deps.db;
    let Err(error) = storage.delete(object).await else { return };
    tracing::warn!(%attachment, %error, "deleting an unused object failed; the sweep deletes it later");
    let now = deps.now();
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
pub(super) async fn forget_upload(storage: &Storage, upload: &ObjectRef, attachment: Uuid) {
    if let Err(error) = storage.delete(upload).await {
        tracing::warn!(%attachment, %error, "deleting a refused upload failed; the sweep deletes it later");
    }
}

/// SHA-256 (hex) and the first 512 bytes of a file, read from its start in 64 KiB chunks.
pub(super) fn digest_file(mut file: std::fs::File) -> std::io::Result<(String, Vec<u8>)> {
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
