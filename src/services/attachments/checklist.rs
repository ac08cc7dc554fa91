//! What a filing still needs: the checklist of materials, and the files that went missing from storage.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{Attachment, AttachmentStatus, ReviewStatus, attachments_by_filing};
use crate::auth::Actor;
use crate::domain::{FieldError, FieldErrorCode, MaterialKind, PreApprovalCategory};
use crate::services::Deps;
use crate::services::ServiceError;
use crate::storage::StorageError;
use entity::attachment;

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
pub async fn checklist(deps: &Deps, actor: &Actor, filing_id: Uuid) -> Result<Vec<ChecklistItem>, ServiceError> {
    let (db, reference) = (&deps.db, &deps.reference);
    let filing = crate::services::access::get_filing(deps, actor, filing_id).await?;
    let stored = crate::services::access::stored_filing(db, &deps.keys, actor, filing_id).await?;
    let record = crate::services::access::record_of_order(db, &deps.keys, actor, &filing).await?;
    let in_scope = crate::services::access::websites_in_scope(filing.filing_type, &stored, record.as_ref());
    let website_ids: Vec<Uuid> = stored.websites.iter().map(|w| w.id).collect();
    let uploaded: Vec<Attachment> = attachments_by_filing(deps, actor, &[filing_id])
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
            let state = match found.and_then(|a| a.review_status) {
                _ if found.is_none() => ItemState::Missing,
                Some(ReviewStatus::Accepted) => ItemState::Accepted,
                Some(ReviewStatus::NeedsRevision) => ItemState::NeedsRevision,
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
pub(super) const FILE_CHECKS_AT_ONCE: usize = 8;

/// What a material whose file was found gone is marked with, for the checklist (NEEDS_REVISION) and the applicant.
pub(super) const FILE_MISSING_REASON: &str =
    "The file is no longer in the file store: upload it again. 该文件已不在文件存储中，请重新上传。";

/// The current materials of a filing whose files are gone from the store (lost with it, or deleted behind the
/// server's back): one MATERIAL_FILE_MISSING error each, at the path MATERIAL_MISSING uses. Each is marked as needing
/// a new file, so the checklist shows it to upload again. Every file is asked for (HEAD, a few at once); a store that
/// does not answer makes this STORAGE_UNAVAILABLE, never "files missing".
pub async fn missing_files(deps: &Deps, actor: &Actor, filing_id: Uuid) -> Result<Vec<FieldError>, ServiceError> {
    let (db, storage) = (&deps.db, &deps.storage);
    use futures_util::{StreamExt, TryStreamExt};
    let items = checklist(deps, actor, filing_id).await?;
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
        mark_file_missing(deps, id).await?;
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
pub(super) async fn mark_file_missing(deps: &Deps, id: Uuid) -> Result<(), ServiceError> {
    let db = &deps.db;
    use sea_orm::sea_query::Expr;
    attachment::Entity::update_many()
        .col_expr(attachment::Column::ReviewStatus, Expr::value(ReviewStatus::NeedsRevision))
        .col_expr(attachment::Column::ReviewReason, Expr::value(FILE_MISSING_REASON))
        .col_expr(attachment::Column::UpdatedAt, Expr::value(deps.now()))
        .filter(attachment::Column::Id.eq(id))
        .filter(attachment::Column::Status.eq(AttachmentStatus::Uploaded.to_string()))
        .exec(db)
        .await?;
    Ok(())
}
