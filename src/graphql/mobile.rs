//! The mobile hand-off over GraphQL: the desktop starts it (a token, the link and its QR code) and sees its state;
//! the phone, with the mobile token, does the person's steps (the phone code).

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Duration, Utc};

use super::context::{actor, db, deps, mobile};
use super::error::gql;
use super::ids::{self, Kind};
use super::objects::attachment::Attachment;
use super::objects::mobile::MobileVerification;
use crate::domain::masking::{mask_name, mask_phone};
use crate::services::mobile as svc;
use entity::mobile_session;

/// A started hand-off: show the QR code on the desktop; the phone opens the link.
#[derive(SimpleObject)]
pub struct MobileVerificationStart {
    /// The mobile token, shown this once (it is in the link too).
    pub token: String,
    /// The page the phone opens, with the token in its fragment (`#token=...`).
    pub url: String,
    /// The link as a QR code, SVG.
    pub qr_svg: String,
    /// The link as a QR code, a PNG data URL for an `<img src>`.
    pub qr_png_data_url: String,
    /// The hand-off.
    pub verification: MobileVerification,
}

/// Start a hand-off for a responsible person.
#[derive(InputObject)]
pub struct StartMobileVerificationInput {
    /// The filing (a draft, or returned).
    pub filing_id: ID,
    /// The website whose responsible person it is; omit it for the subject's responsible person.
    pub website_id: Option<ID>,
}

/// A file the phone is about to upload.
#[derive(InputObject)]
pub struct RequestMobileUploadInput {
    /// ID_CARD_FRONT, ID_CARD_BACK (the person's own), SUBJECT_CERTIFICATE, FACE_VIDEO (a website's person, after
    /// `startFaceCheck`), VERIFICATION_SHEET or COMMITMENT_LETTER.
    pub kind: super::enums::MaterialKind,
    /// The file's name.
    pub file_name: String,
    /// Its content type.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// For ID_CARD_FRONT and SUBJECT_CERTIFICATE: the number printed on the document, as the person reads it; it
    /// must match the form (CERTIFICATE_NUMBER_MISMATCH otherwise).
    pub document_number: Option<String>,
    /// The document's last valid day, where the person enters it: more than three months ahead.
    pub valid_until: Option<chrono::NaiveDate>,
}

/// What the phone shows: whose steps, for which registrar and filing, where the phone check stands, and the
/// person's materials.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct MobileSession {
    /// The responsible person, masked (`张*`): the link may be opened by someone else before the phone check.
    pub person_name: String,
    /// The mobile number the code goes to, masked.
    pub mobile: String,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// Whether the mobile number is confirmed.
    pub phone_verified: bool,
    /// When the last code was sent.
    pub code_sent_at: Option<DateTime<Utc>>,
    /// When the last code stops working.
    pub code_expires_at: Option<DateTime<Utc>>,
    /// When another code may be sent.
    pub next_code_at: Option<DateTime<Utc>>,
    /// How many more codes this link may send.
    pub codes_left: i32,
    /// The digits to read aloud in the face video (a website's responsible person, after `startFaceCheck`).
    pub face_challenge: Option<String>,
    /// Until when the face challenge may be used.
    pub face_challenge_expires_at: Option<DateTime<Utc>>,
    /// Read once per request, for the fields below.
    #[graphql(skip)]
    overview: tokio::sync::OnceCell<svc::Overview>,
}

/// The registrar as its phone page shows it (its settings).
#[derive(SimpleObject)]
pub struct MobileRegistrar {
    /// Its name.
    pub name: String,
    /// The page's accent colour, `#rrggbb`; null: beian's.
    pub brand_color: Option<String>,
    /// Its logo, an image data URL; null: show the name.
    pub brand_logo: Option<String>,
    /// How applicants reach its support; shown on every screen.
    pub support_contact: Option<String>,
    /// What the person accepts before the steps (plain text); null: the page's own wording.
    pub consent_text: Option<String>,
}

impl MobileSession {
    async fn overview(&self, ctx: &Context<'_>) -> Result<&svc::Overview> {
        self.overview.get_or_try_init(|| async { svc::overview(deps(ctx), mobile(ctx)?).await.map_err(gql) }).await
    }
}

#[async_graphql::ComplexObject]
impl MobileSession {
    /// The registrar whose filing system this is.
    async fn registrar(&self, ctx: &Context<'_>) -> Result<MobileRegistrar> {
        let branding = &self.overview(ctx).await?.registrar;
        Ok(MobileRegistrar {
            name: branding.name.clone(),
            brand_color: branding.color.clone(),
            brand_logo: branding.logo.clone(),
            support_contact: branding.support_contact.clone(),
            consent_text: branding.consent_text.clone(),
        })
    }

    /// The filing's subject (the organisation, or the person, filing).
    async fn subject_name(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.overview(ctx).await?.subject_name.clone())
    }

    /// The website whose responsible person this is; null for the subject's responsible person.
    async fn website_id(&self, ctx: &Context<'_>) -> Result<Option<ID>> {
        Ok(self.overview(ctx).await?.website.as_ref().map(|(id, _)| ids::encode(Kind::Website, *id)))
    }

    /// That website's name.
    async fn website_name(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(self.overview(ctx).await?.website.as_ref().map(|(_, name)| name.clone()))
    }

    /// The filing's materials this person uploads from the phone (`requestMobileUpload`), each with where it
    /// stands: their ID card; for a website's person the face video; for the subject's person the subject's
    /// certificate, the signed verification sheet and the commitment letter (those the filing needs).
    async fn materials(&self, ctx: &Context<'_>) -> Result<Vec<super::objects::attachment::ChecklistItem>> {
        Ok(self.overview(ctx).await?.materials.iter().cloned().map(Into::into).collect())
    }
}

impl From<mobile_session::Model> for MobileSession {
    fn from(s: mobile_session::Model) -> Self {
        Self {
            person_name: mask_name(&s.person_name),
            mobile: mask_phone(&s.mobile),
            expires_at: s.expires_at,
            phone_verified: s.phone_verified_at.is_some(),
            code_sent_at: s.code_sent_at,
            code_expires_at: s.code_expires_at.filter(|_| s.code_hash.is_some()),
            next_code_at: s.code_sent_at.map(|t| t + Duration::seconds(svc::RESEND_SECONDS)),
            codes_left: (svc::MAX_CODES_PER_SESSION - s.codes_sent).max(0),
            face_challenge: s.face_challenge,
            face_challenge_expires_at: s.face_challenge_expires_at,
            overview: tokio::sync::OnceCell::new(),
        }
    }
}

#[derive(Default)]
pub struct MobileQuery;

#[Object]
impl MobileQuery {
    /// The hand-off of the calling phone (needs the mobile token).
    async fn mobile_session(&self, ctx: &Context<'_>) -> Result<MobileSession> {
        let caller = mobile(ctx)?;
        Ok(svc::session(deps(ctx), caller).await.map_err(gql)?.into())
    }
}

#[derive(Default)]
pub struct MobileMutation;

#[Object]
impl MobileMutation {
    /// Starts a hand-off for the subject's responsible person or a website's (the applicant, or the registrar's
    /// backend): a short-lived token that works only for that person's mobile steps of this filing, the link the
    /// phone opens and its QR code.
    async fn start_mobile_verification(
        &self,
        ctx: &Context<'_>,
        input: StartMobileVerificationInput,
    ) -> Result<MobileVerificationStart> {
        let actor = actor(ctx)?;
        let filing = ids::decode(&input.filing_id, Kind::Filing, "filingId").map_err(gql)?;
        let website =
            input.website_id.map(|id| ids::decode(&id, Kind::Website, "websiteId")).transpose().map_err(gql)?;
        let started = svc::start(deps(ctx), actor, filing, website).await.map_err(gql)?;
        let tenant = crate::services::tenants::tenant_by_id(db(ctx), actor.tenant_id).await.map_err(gql)?;
        // beian's own page is `/mobile` (no route with a trailing slash); a registrar's page is linked as written.
        let own = || deps(ctx).mobile.public_base_url.trim_end_matches('/').to_owned();
        let base = tenant.mobile_page_url.unwrap_or_else(own);
        let link = svc::hand_off_link(&base, &started.token);
        Ok(MobileVerificationStart {
            token: started.token,
            url: link.url,
            qr_svg: link.svg,
            qr_png_data_url: link.png_data_url,
            verification: MobileVerification(started.session),
        })
    }

    /// Ends a hand-off before it expires: its token stops working.
    async fn revoke_mobile_verification(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The hand-off.")] id: ID,
    ) -> Result<MobileVerification> {
        let actor = actor(ctx)?;
        let id = ids::decode(&id, Kind::MobileVerification, "id").map_err(gql)?;
        Ok(MobileVerification(svc::revoke(deps(ctx), actor, id).await.map_err(gql)?))
    }

    /// Sends a six-digit code to the person's mobile (needs the mobile token). One a minute and five per link, and
    /// per mobile number across every link of the registrar one a minute, five an hour and ten a day, by default
    /// (`[mobile]` settings); RATE_LIMITED with `retryAfterSeconds` (when the next code may go) otherwise. A code
    /// works for five minutes.
    async fn send_phone_code(&self, ctx: &Context<'_>) -> Result<MobileSession> {
        let caller = mobile(ctx)?;
        Ok(svc::send_phone_code(deps(ctx), caller).await.map_err(gql)?.into())
    }

    /// Starts the face check of a website's responsible person (needs the mobile token, after the phone check): the
    /// digits to read aloud in the video, valid ten minutes.
    async fn start_face_check(&self, ctx: &Context<'_>) -> Result<MobileSession> {
        let caller = mobile(ctx)?;
        Ok(svc::start_face_check(deps(ctx), caller).await.map_err(gql)?.into())
    }

    /// Starts an upload from the phone (needs the mobile token, after the phone check), for one of the person's own
    /// materials: PUT the file to the URL with the headers, then `completeMobileUpload`.
    async fn request_mobile_upload(
        &self,
        ctx: &Context<'_>,
        input: RequestMobileUploadInput,
    ) -> Result<super::attachments::AttachmentUpload> {
        let caller = mobile(ctx)?;
        let upload = svc::MobileUpload {
            kind: input.kind.into(),
            file_name: input.file_name,
            content_type: input.content_type,
            size: input.size,
            sha256: input.sha256,
            document_number: input.document_number,
            valid_until: input.valid_until,
        };
        let ticket = svc::request_upload(deps(ctx), caller, upload).await.map_err(gql)?;
        Ok(super::attachments::AttachmentUpload::from(ticket))
    }

    /// Checks the uploaded file and makes it the material's current one (needs the mobile token); the desktop's
    /// checklist turns green.
    async fn complete_mobile_upload(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The attachment the upload started.")] id: ID,
    ) -> Result<Attachment> {
        let caller = mobile(ctx)?;
        let id = ids::decode(&id, Kind::Attachment, "id").map_err(gql)?;
        let attachment = svc::complete_upload(deps(ctx), caller, id).await.map_err(gql)?;
        Ok(Attachment(attachment))
    }

    /// Confirms the mobile number with the code (needs the mobile token). Five wrong tries burn the code.
    async fn confirm_phone_code(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The six digits of the text message.")] code: String,
    ) -> Result<MobileSession> {
        let caller = mobile(ctx)?;
        let session = svc::confirm_phone_code(deps(ctx), caller, &code).await.map_err(gql)?;
        Ok(session.into())
    }
}
