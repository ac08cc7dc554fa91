//! Cleanup of uploads never completed: their objects, and every upload URL once it has expired.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::AttachmentStatus;
use crate::services::Deps;
use crate::services::ServiceError;
use crate::storage::{Storage, StorageError};
use entity::{attachment, upload_url};

/// Removes uploads never completed whose URL expired (with a minute's grace for uploads still in flight), then
/// empties the keys of upload URLs expired an hour ago. Safe to run on every replica at once: deleting twice is
/// harmless.
pub async fn clean_up_expired_uploads(deps: &Deps) -> Result<usize, ServiceError> {
    let (db, storage) = (&deps.db, &deps.storage);
    let cutoff = deps.now() - chrono::Duration::seconds(60);
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
    sweep_expired_upload_urls(deps, storage).await?;
    Ok(removed)
}

/// How long after its URL expired an upload key is emptied: S3 checks a presigned URL when a request starts, so a
/// PUT accepted just before the expiry may still be arriving well after it.
pub(super) const SWEEP_AFTER_EXPIRY_SECONDS: i64 = 60 * 60;

/// Empties the keys of upload URLs that expired (and then forgets them). A completed upload's file lives under
/// another key, so nothing a material points at is touched, while whatever an upload URL wrote after the check
/// (or for an attachment deleted, replaced or purged since) does not linger.
pub(super) async fn sweep_expired_upload_urls(deps: &Deps, storage: &Storage) -> Result<usize, ServiceError> {
    let db = &deps.db;
    let cutoff = deps.now() - chrono::Duration::seconds(SWEEP_AFTER_EXPIRY_SECONDS);
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
