//! A filing's materials (attachments) and its materials checklist.

use crate::domain::MaterialRules;
use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::graphql::context::{actor, deps};
use crate::graphql::enums;
use crate::graphql::error::gql;
use crate::graphql::heavy;
use crate::graphql::ids::{self, Kind};
use crate::services::attachments as svc;

pub struct Attachment(pub svc::Attachment);

/// A material of a filing (an ID photo, a signed sheet, a licence, the face video...).
#[Object(serial)]
impl Attachment {
    /// The attachment's opaque global ID.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Attachment, self.0.id)
    }

    /// The filing it belongs to.
    async fn filing_id(&self) -> ID {
        ids::encode(Kind::Filing, self.0.filing_id)
    }

    /// Which material it is.
    async fn kind(&self) -> enums::MaterialKind {
        self.0.kind.into()
    }

    /// The website it belongs to (its person, licence, domain); null for the subject's.
    async fn website_id(&self) -> Option<ID> {
        self.0.website_id.map(|id| ids::encode(Kind::Website, id))
    }

    /// The pre-approval a licence is for.
    async fn pre_approval_category(&self) -> Option<enums::PreApprovalCategory> {
        self.0.pre_approval_category.map(Into::into)
    }

    /// The file's name as uploaded.
    async fn file_name(&self) -> &str {
        &self.0.file_name
    }

    /// Its content type, checked against its first bytes.
    async fn content_type(&self) -> &str {
        &self.0.content_type
    }

    /// Its size in bytes.
    async fn size(&self) -> u64 {
        self.0.size
    }

    /// Its SHA-256, hex. Once UPLOADED, the stored file is exactly the one with this digest.
    async fn sha256(&self) -> &str {
        &self.0.sha256
    }

    /// PENDING until the upload is completed and checked, then UPLOADED.
    async fn status(&self) -> enums::AttachmentStatus {
        self.0.status.into()
    }

    /// When the upload URL stops working (for PENDING attachments).
    async fn upload_expires_at(&self) -> DateTime<Utc> {
        self.0.upload_expires_at
    }

    /// When the checked file was stored.
    async fn uploaded_at(&self) -> Option<DateTime<Utc>> {
        self.0.uploaded_at
    }

    /// The reviewer's verdict (null before review).
    async fn review_status(&self) -> Option<enums::ReviewStatus> {
        self.0.review_status.map(Into::into)
    }

    /// Why it needs revision.
    async fn review_reason(&self) -> Option<&str> {
        self.0.review_reason.as_deref()
    }

    /// For a face video recorded on a phone: the digits the person was asked to read aloud (check them against the
    /// video).
    async fn face_challenge(&self) -> Option<&str> {
        self.0.face_challenge.as_deref()
    }

    /// When the upload started.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// A short-lived URL to download the file (null until it is uploaded).
    async fn download_url(&self, ctx: &Context<'_>) -> Result<Option<DownloadUrl>> {
        heavy(async move {
            let actor = actor(ctx)?;
            let found = svc::download_url(deps(ctx), actor, &self.0).await.map_err(gql)?;
            Ok(found.map(|(url, expires_at)| DownloadUrl { url, expires_at }))
        })
        .await
    }
}

/// A presigned download.
#[derive(SimpleObject)]
pub struct DownloadUrl {
    /// GET this URL (no credentials needed) before it expires.
    pub url: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// One material the filing needs.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ChecklistItem {
    /// Which material.
    pub kind: enums::MaterialKind,
    /// Its name on the Chinese forms.
    pub label: String,
    /// The website it belongs to; null for the subject's.
    pub website_id: Option<ID>,
    /// The pre-approval, for licences.
    pub pre_approval_category: Option<enums::PreApprovalCategory>,
    /// The responsible person an ID card is about.
    pub person: Option<String>,
    /// Where it stands.
    pub state: enums::ChecklistItemState,
    /// The reviewer's reason, when it needs revision.
    pub reason: Option<String>,
    /// The uploaded file, if any.
    pub attachment_id: Option<ID>,
}

#[async_graphql::ComplexObject]
impl ChecklistItem {
    /// The content types a file of it may have (a page refuses others before uploading).
    async fn content_types(&self) -> Vec<&'static str> {
        crate::domain::MaterialKind::from(self.kind).allowed_content_types().to_vec()
    }

    /// The largest file of it the server takes, in bytes (`storage.max_*_bytes`).
    async fn max_bytes(&self, ctx: &Context<'_>) -> u64 {
        svc::limit(&deps(ctx).storage_config, crate::domain::MaterialKind::from(self.kind).size_class())
    }
}

impl From<svc::ChecklistItem> for ChecklistItem {
    fn from(s: svc::ChecklistItem) -> Self {
        ChecklistItem {
            kind: s.kind.into(),
            label: s.kind.label_zh().to_owned(),
            website_id: s.website_id.map(|id| ids::encode(Kind::Website, id)),
            pre_approval_category: s.pre_approval_category.map(Into::into),
            person: s.person,
            state: s.state.into(),
            reason: s.reason,
            attachment_id: s.attachment_id.map(|id| ids::encode(Kind::Attachment, id)),
        }
    }
}

/// The materials checklist of a filing.
#[derive(SimpleObject)]
pub struct Checklist {
    /// Whether the filing may be submitted as far as materials and phones go: every required material uploaded
    /// (none missing or needing revision) and, where the registrar requires it, every responsible person's mobile
    /// number confirmed.
    pub complete: bool,
    /// Each required material and its state.
    pub items: Vec<ChecklistItem>,
    /// Each responsible person's phone check (done on the phone, through a mobile hand-off).
    pub phones: Vec<PhoneCheckItem>,
    /// Whether the registrar requires every phone check before submission (`requirePhoneVerification`).
    pub phones_required: bool,
}

/// A responsible person's phone check.
#[derive(SimpleObject)]
pub struct PhoneCheckItem {
    /// The person.
    pub person: String,
    /// The website whose responsible person it is; null for the subject's.
    pub website_id: Option<ID>,
    /// MISSING until the person confirmed the code sent to their mobile, then ACCEPTED.
    pub state: enums::ChecklistItemState,
    /// When the number was confirmed.
    pub verified_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The checklist of a filing, for `Filing.checklist`.
pub async fn checklist(ctx: &Context<'_>, filing_id: uuid::Uuid) -> Result<Checklist> {
    let actor = actor(ctx)?;
    let items = svc::checklist(deps(ctx), actor, filing_id).await.map_err(gql)?;
    let phones = crate::services::mobile::phone_checks(deps(ctx), actor, filing_id).await.map_err(gql)?;
    let phones_required =
        crate::services::tenants::settings(deps(ctx), actor).await.map_err(gql)?.require_phone_verification;
    let complete = items.iter().all(|i| matches!(i.state, svc::ItemState::Uploaded | svc::ItemState::Accepted))
        && (!phones_required || phones.iter().all(|p| p.verified_at.is_some()));
    let phones = phones
        .into_iter()
        .map(|check| PhoneCheckItem {
            person: check.person,
            website_id: check.website_id.map(|id| ids::encode(Kind::Website, id)),
            state: if check.verified_at.is_some() {
                enums::ChecklistItemState::Accepted
            } else {
                enums::ChecklistItemState::Missing
            },
            verified_at: check.verified_at,
        })
        .collect();
    Ok(Checklist { complete, phones, phones_required, items: items.into_iter().map(Into::into).collect() })
}
