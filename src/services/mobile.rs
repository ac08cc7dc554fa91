//! The mobile hand-off: the applicant (at a desktop) starts a session for one responsible person of one filing; the
//! person's phone opens its link and, with the session's token, does that person's steps. The token is shown once
//! (only its hash is kept), expires, can be revoked, and authenticates nothing but the mobile operations: it is not
//! an [`Actor`], so every other operation refuses it.
//!
//! The first step is the phone check: a six-digit code sent to the person's mobile (through [`SmsSender`]), valid
//! for a few minutes, with a limit on wrong guesses and on how often codes are sent.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::prelude::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use super::ServiceError;
use super::audit::{self, FilingAction, NewEvent};
use crate::auth::Actor;
use crate::db::write_txn;
use crate::domain::{FieldError, FieldErrorCode};
use entity::mobile_session::{self, Column};

/// Every mobile token starts with this.
pub const TOKEN_PREFIX: &str = "beian_m_";

/// How long a phone code works.
pub const CODE_TTL_MINUTES: i64 = 5;
/// Wrong guesses before a code is burnt (a new one must be sent).
pub const MAX_CODE_ATTEMPTS: i32 = 5;
/// The wait between two codes.
pub const RESEND_SECONDS: i64 = 60;
/// Codes one session may send.
pub const MAX_CODES_PER_SESSION: i32 = 5;

/// A phone, authenticated by a mobile token: one person's steps of one filing.
#[derive(Clone, Debug)]
pub struct MobileCaller {
    pub tenant_id: Uuid,
    pub session_id: Uuid,
    pub filing_id: Uuid,
    pub website_id: Option<Uuid>,
}

/// A started hand-off: the token (shown this once) and the session.
#[derive(Clone, Debug)]
pub struct Started {
    pub token: String,
    pub session: mobile_session::Model,
}

/// Starts a hand-off for the subject's responsible person (`website_id` none) or a website's, on a filing the
/// applicant may still edit. Valid for `ttl_minutes`.
pub async fn start(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
    website_id: Option<Uuid>,
    ttl_minutes: i64,
) -> Result<Started, ServiceError> {
    super::access::require_editor(actor)?;
    let filing = super::access::get_filing(db, actor, filing_id).await?;
    if !filing.status.is_editable() {
        return Err(ServiceError::InvalidTransition { action: "startMobileVerification", from: filing.status });
    }
    let stored = super::access::stored_filing(db, actor, filing_id).await?;
    let person = match website_id {
        None => stored.form.subject.responsible_person.clone(),
        Some(id) => {
            let index = stored.websites.iter().position(|w| w.id == id).ok_or(ServiceError::NotFound)?;
            stored.form.websites[index].responsible_person.clone()
        }
    };
    let now = Utc::now();
    let (token, hash) = crate::auth::tokens::opaque(TOKEN_PREFIX);
    let txn = write_txn(db).await?;
    let session = mobile_session::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(actor.tenant_id),
        filing_id: Set(filing_id),
        website_id: Set(website_id),
        person_name: Set(person.name.clone()),
        mobile: Set(crate::pii::keyring().seal(actor.tenant_id, &person.mobile)),
        token_hash: Set(hash),
        token_prefix: Set(token[..TOKEN_PREFIX.len() + 6].to_owned()),
        expires_at: Set(now + Duration::minutes(ttl_minutes)),
        revoked_at: Set(None),
        phone_verified_at: Set(None),
        code_hash: Set(None),
        code_expires_at: Set(None),
        code_sent_at: Set(None),
        code_attempts: Set(0),
        codes_sent: Set(0),
        face_challenge: Set(None),
        face_challenge_expires_at: Set(None),
        created_by: Set(Some(actor.id)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let details = serde_json::json!({ "sessionId": session.id, "person": person.name, "websiteId": website_id });
    audit::record(
        &txn,
        actor,
        NewEvent::new(filing_id, FilingAction::MobileVerificationStarted, now).details(Some(details)),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(filing = %filing_id, session = %session.id, "mobile verification started");
    Ok(Started { token, session: opened(session)? })
}

/// Ends a hand-off before it expires.
pub async fn revoke(db: &DatabaseConnection, actor: &Actor, id: Uuid) -> Result<mobile_session::Model, ServiceError> {
    super::access::require_editor(actor)?;
    let session = get(db, actor, id).await?;
    if session.revoked_at.is_none() {
        let now = Utc::now();
        let mut active: mobile_session::ActiveModel = session.into();
        active.revoked_at = Set(Some(now));
        active.updated_at = Set(now);
        active.update(db).await?;
    }
    get(db, actor, id).await
}

/// One hand-off of a filing the caller may see.
pub async fn get(db: &DatabaseConnection, actor: &Actor, id: Uuid) -> Result<mobile_session::Model, ServiceError> {
    let session = mobile_session::Entity::find_by_id(id)
        .filter(Column::TenantId.eq(actor.tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    super::access::ensure_visible(db, actor, session.filing_id).await?;
    opened(session)
}

/// A session as read, with its mobile number opened ([`crate::pii`]). Updating it through `into()` leaves the stored
/// (sealed) number as it is: only the fields set afterwards are written.
fn opened(mut session: mobile_session::Model) -> Result<mobile_session::Model, ServiceError> {
    session.mobile = crate::pii::keyring().open(session.tenant_id, &session.mobile).map_err(ServiceError::internal)?;
    Ok(session)
}

/// The hand-offs of a filing the caller may see, newest first.
pub async fn of_filing(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
) -> Result<Vec<mobile_session::Model>, ServiceError> {
    super::access::ensure_visible(db, actor, filing_id).await?;
    mobile_session::Entity::find()
        .filter(Column::TenantId.eq(actor.tenant_id))
        .filter(Column::FilingId.eq(filing_id))
        .order_by_desc(Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(opened)
        .collect()
}

/// Where one responsible person's phone check stands.
#[derive(Clone, Debug)]
pub struct PhoneCheck {
    pub person: String,
    /// The website whose responsible person it is; none for the subject's.
    pub website_id: Option<Uuid>,
    /// The person in the filing's input: `subject.responsiblePerson`, `websites[0].responsiblePerson`.
    pub field: String,
    /// When the person confirmed the code sent to their mobile (the number in the form now).
    pub verified_at: Option<DateTime<Utc>>,
}

/// Where each responsible person's phone check stands, one per person (a person responsible for several things
/// once, at the first place they appear).
pub async fn phone_checks(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
) -> Result<Vec<PhoneCheck>, ServiceError> {
    let sessions = of_filing(db, actor, filing_id).await?;
    let stored = super::access::stored_filing(db, actor, filing_id).await?;
    let mut people = vec![(None, "subject.responsiblePerson".to_owned(), &stored.form.subject.responsible_person)];
    people.extend(
        stored
            .websites
            .iter()
            .zip(&stored.form.websites)
            .enumerate()
            .map(|(i, (w, f))| (Some(w.id), format!("websites[{i}].responsiblePerson"), &f.responsible_person)),
    );
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for (website_id, field, person) in people {
        let identity = person.certificate_number.to_uppercase();
        if seen.contains(&identity) {
            continue;
        }
        seen.push(identity);
        // A confirmation counts for the person whatever hand-off it came through: same mobile number.
        let verified = sessions.iter().filter(|s| s.mobile == person.mobile).filter_map(|s| s.phone_verified_at).max();
        out.push(PhoneCheck { person: person.name.clone(), website_id, field, verified_at: verified });
    }
    Ok(out)
}

/// What keeps a filing from being submitted on the phone side: one PHONE_UNVERIFIED per responsible person who has
/// not confirmed their mobile number, where the registrar requires it (`requirePhoneVerification`, on by default).
pub async fn unconfirmed_phones(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
) -> Result<Vec<FieldError>, ServiceError> {
    if !super::tenants::settings(db, actor).await?.require_phone_verification {
        return Ok(Vec::new());
    }
    Ok(phone_checks(db, actor, filing_id)
        .await?
        .into_iter()
        .filter(|check| check.verified_at.is_none())
        .map(|check| {
            FieldError::new(check.field, FieldErrorCode::PhoneUnverified).with_message(
                format!(
                    "{} has not confirmed their mobile number: start the mobile verification for them and let them \
                     enter the code sent to their phone.",
                    check.person
                ),
                format!("{} 尚未完成手机号码验证：请为其发起手机验证，并输入手机收到的验证码。", check.person),
            )
        })
        .collect())
}

/// The phone behind a mobile token, if the token is known, not expired and not revoked.
pub async fn authenticate(
    db: &DatabaseConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<MobileCaller, ServiceError> {
    let hash = crate::auth::api_key::hash(token);
    let session = mobile_session::Entity::find()
        .filter(Column::TokenHash.eq(hash))
        .one(db)
        .await?
        .filter(|s| s.revoked_at.is_none() && s.expires_at > now)
        .ok_or(ServiceError::Unauthenticated("this mobile link is not valid any more: ask for a new QR code"))?;
    Ok(MobileCaller {
        tenant_id: session.tenant_id,
        session_id: session.id,
        filing_id: session.filing_id,
        website_id: session.website_id,
    })
}

/// The session behind a phone.
pub async fn session(db: &DatabaseConnection, caller: &MobileCaller) -> Result<mobile_session::Model, ServiceError> {
    mobile_session::Entity::find_by_id(caller.session_id)
        .filter(Column::TenantId.eq(caller.tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)
        .and_then(opened)
}

/// Sends a code to the person's mobile: at most one a minute and [`MAX_CODES_PER_SESSION`] per session, and within
/// the limits on codes per mobile number and per registrar ([`super::phone_code_limits`]), across every link.
pub async fn send_phone_code(
    db: &DatabaseConnection,
    sender: &SmsSender,
    caller: &MobileCaller,
    now: DateTime<Utc>,
) -> Result<mobile_session::Model, ServiceError> {
    let current = session(db, caller).await?;
    if current.phone_verified_at.is_some() {
        return Err(ServiceError::InvalidInput(vec![
            FieldError::new("phone", FieldErrorCode::ChangeNotAllowed)
                .with_message("The mobile number is already confirmed.", "手机号码已验证。"),
        ]));
    }
    if let Some(sent) = current.code_sent_at {
        let wait = sent + Duration::seconds(RESEND_SECONDS) - now;
        if wait > Duration::zero() {
            return Err(ServiceError::RateLimited { retry_after: wait.to_std().unwrap_or_default() });
        }
    }
    if current.codes_sent >= MAX_CODES_PER_SESSION {
        return Err(ServiceError::RateLimited { retry_after: (current.expires_at - now).to_std().unwrap_or_default() });
    }
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000));
    // The number's and the registrar's limits decide, and the code is recorded, in the transaction that claims the
    // session: what one request decides, every other request (on any replica) sees.
    let txn = write_txn(db).await?;
    let reservation =
        super::phone_code_limits::reserve(&txn, &sender.limits, caller.tenant_id, &current.mobile, current.id, now)
            .await?;
    // Claimed with the count the check above saw, so two sends through one link at once cannot both go out.
    let claimed = mobile_session::Entity::update_many()
        .col_expr(Column::CodeHash, Expr::value(crate::auth::api_key::hash(&code)))
        .col_expr(Column::CodeExpiresAt, Expr::value(now + Duration::minutes(CODE_TTL_MINUTES)))
        .col_expr(Column::CodeSentAt, Expr::value(now))
        .col_expr(Column::CodeAttempts, Expr::value(0))
        .col_expr(Column::CodesSent, Expr::value(current.codes_sent + 1))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(current.id))
        .filter(Column::CodesSent.eq(current.codes_sent))
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        return Err(ServiceError::RateLimited { retry_after: std::time::Duration::from_secs(RESEND_SECONDS as u64) });
    }
    txn.commit().await?;
    let message =
        PhoneCode { tenant_id: caller.tenant_id, mobile: &current.mobile, code: &code, person: &current.person_name };
    if let Err(error) = sender.send(db, &message).await {
        // The code never reached the phone: it does not count, and the person may ask again at once.
        super::phone_code_limits::settle(db, reservation, false).await?;
        mobile_session::Entity::update_many()
            .col_expr(Column::CodeSentAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(Column::CodesSent, Expr::value(current.codes_sent))
            .filter(Column::Id.eq(current.id))
            .exec(db)
            .await?;
        return Err(error);
    }
    super::phone_code_limits::settle(db, reservation, true).await?;
    session(db, caller).await
}

/// Checks the code the person typed; a right one confirms the mobile number (and shows on the filing's trail).
pub async fn confirm_phone_code(
    db: &DatabaseConnection,
    caller: &MobileCaller,
    code: &str,
    now: DateTime<Utc>,
) -> Result<mobile_session::Model, ServiceError> {
    let current = session(db, caller).await?;
    if current.phone_verified_at.is_some() {
        return Ok(current);
    }
    let hash = usable_code_hash(&current, now)?;
    if crate::auth::api_key::hash(code.trim()) != *hash {
        return Err(count_wrong_guess(db, caller, current.id, now).await?);
    }
    confirm_phone(db, caller, &current, hash, now).await
}

/// A refusal of the code typed, on the `code` field.
fn code_error(code: FieldErrorCode, en: String, zh: String) -> ServiceError {
    ServiceError::InvalidInput(vec![FieldError::new("code", code).with_message(en, zh)])
}

/// The refusal of a code that expired or whose guesses are used up.
fn code_no_longer_works() -> ServiceError {
    code_error(
        FieldErrorCode::CodeExpired,
        "This code no longer works: ask for a new one.".into(),
        "验证码已失效，请重新获取。".into(),
    )
}

/// The hash of the session's code while it may still be guessed: one was sent, it has not expired, and guesses are
/// left.
fn usable_code_hash(current: &mobile_session::Model, now: DateTime<Utc>) -> Result<&String, ServiceError> {
    let (Some(hash), Some(expires)) = (&current.code_hash, current.code_expires_at) else {
        return Err(code_error(FieldErrorCode::Required, "Ask for a code first.".into(), "请先获取验证码。".into()));
    };
    if expires <= now || current.code_attempts >= MAX_CODE_ATTEMPTS {
        return Err(code_no_longer_works());
    }
    Ok(hash)
}

/// Counts a wrong guess against the session's code and returns the refusal to give: the tries left, or that the
/// code no longer works when the guesses were already used up.
async fn count_wrong_guess(
    db: &DatabaseConnection,
    caller: &MobileCaller,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> Result<ServiceError, ServiceError> {
    // Counted by the database, and only while guesses are left: wrong guesses sent at once each count (a read
    // count written back would let them overwrite each other), and never past the limit.
    let counted = mobile_session::Entity::update_many()
        .col_expr(Column::CodeAttempts, sea_orm::sea_query::ExprTrait::add(Expr::col(Column::CodeAttempts), 1))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(session_id))
        .filter(Column::CodeAttempts.lt(MAX_CODE_ATTEMPTS))
        .exec(db)
        .await?;
    let attempts = session(db, caller).await?.code_attempts;
    if counted.rows_affected == 0 {
        return Ok(code_no_longer_works());
    }
    let left = (MAX_CODE_ATTEMPTS - attempts).max(0);
    Ok(code_error(
        FieldErrorCode::WrongCode,
        format!("The code is not right; {left} tries left."),
        format!("验证码不正确，还可尝试 {left} 次。"),
    ))
}

/// Confirms the mobile number with the code checked right (`hash`), and records it on the filing's trail, in one
/// transaction. If the code stopped working meanwhile the confirmation is refused, unless a right answer sent at the
/// same moment confirmed the number already.
async fn confirm_phone(
    db: &DatabaseConnection,
    caller: &MobileCaller,
    current: &mobile_session::Model,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<mobile_session::Model, ServiceError> {
    let txn = write_txn(db).await?;
    // Only the code checked above, while it still works (wrong guesses sent at the same moment may have used it
    // up) and once (a second right answer at the same moment confirms nothing more).
    let confirmed = mobile_session::Entity::update_many()
        .col_expr(Column::PhoneVerifiedAt, Expr::value(now))
        .col_expr(Column::CodeHash, Expr::value(Option::<String>::None))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(current.id))
        .filter(Column::CodeHash.eq(hash))
        .filter(Column::CodeAttempts.lt(MAX_CODE_ATTEMPTS))
        .filter(Column::PhoneVerifiedAt.is_null())
        .exec(&txn)
        .await?;
    if confirmed.rows_affected == 0 {
        drop(txn);
        let now_current = session(db, caller).await?;
        if now_current.phone_verified_at.is_some() {
            return Ok(now_current);
        }
        return Err(code_no_longer_works());
    }
    let system = Actor::system(caller.tenant_id);
    let details = serde_json::json!({ "sessionId": current.id, "person": current.person_name });
    audit::record(
        &txn,
        &system,
        NewEvent::new(caller.filing_id, FilingAction::PhoneVerified, now).details(Some(details)),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(filing = %caller.filing_id, session = %current.id, "mobile number confirmed");
    session(db, caller).await
}

/// How long the digits of a face check may be used.
pub const FACE_CHALLENGE_MINUTES: i64 = 10;

/// Starts the face check of a website's responsible person: the digits to read aloud in the video, valid for
/// [`FACE_CHALLENGE_MINUTES`]. A new challenge replaces the one before.
pub async fn start_face_check(
    db: &DatabaseConnection,
    caller: &MobileCaller,
    now: DateTime<Utc>,
) -> Result<mobile_session::Model, ServiceError> {
    let current = session(db, caller).await?;
    require_phone(&current)?;
    if current.website_id.is_none() {
        return Err(ServiceError::InvalidInput(vec![
            FieldError::new("session", FieldErrorCode::ChangeNotAllowed).with_message(
                "Only a website's responsible person does the face check.",
                "只有网站负责人需要进行人脸核验。",
            ),
        ]));
    }
    let digits: String = (0..4).map(|_| char::from(b'0' + rand::rng().random_range(0..10u8))).collect();
    mobile_session::Entity::update_many()
        .col_expr(Column::FaceChallenge, Expr::value(digits))
        .col_expr(Column::FaceChallengeExpiresAt, Expr::value(now + Duration::minutes(FACE_CHALLENGE_MINUTES)))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(current.id))
        .exec(db)
        .await?;
    session(db, caller).await
}

/// What a phone uploads: the material, the file, and what the person read off the document.
#[derive(Clone, Debug)]
pub struct MobileUpload {
    pub kind: crate::domain::MaterialKind,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    /// The number on the certificate or ID card, as the person reads it: it must match the form.
    pub document_number: Option<String>,
    /// The last day the document is valid, where the person enters it: at least three months ahead.
    pub valid_until: Option<chrono::NaiveDate>,
}

/// Starts an upload from the phone, for one of the person's own materials: their ID card (the number on it must
/// match the form), the subject's certificate (likewise), the face video (a website person, against a live
/// challenge), the signed verification sheet and the commitment letter. The mobile number is confirmed first.
pub async fn request_upload(
    db: &DatabaseConnection,
    storage: &crate::storage::Storage,
    config: &crate::config::StorageConfig,
    caller: &MobileCaller,
    upload: MobileUpload,
    now: DateTime<Utc>,
) -> Result<super::attachments::UploadTicket, ServiceError> {
    let current = session(db, caller).await?;
    require_phone(&current)?;
    let actor = acting_for(db, caller, &current).await?;
    let stored = super::access::stored_filing(db, &actor, caller.filing_id).await?;
    let person = session_person(&stored, caller.website_id)?;
    let (website_id, face_challenge) = check_mobile_upload(
        &upload,
        caller.website_id,
        &current,
        &person.certificate_number,
        &stored.form.subject.certificate_number,
        now,
    )?;
    let request = super::attachments::UploadRequest {
        filing_id: caller.filing_id,
        kind: upload.kind,
        website_id,
        pre_approval_category: None,
        file_name: upload.file_name,
        content_type: upload.content_type,
        size: upload.size,
        sha256: upload.sha256,
        face_challenge,
    };
    super::attachments::request_upload(db, storage, config, &actor, request).await
}

/// The responsible person a session is for: the subject's, or that of the session's website (not found when the
/// filing no longer holds it).
fn session_person(
    stored: &super::access::StoredFiling,
    website_id: Option<Uuid>,
) -> Result<&crate::domain::forms::PersonInput, ServiceError> {
    Ok(match website_id {
        None => &stored.form.subject.responsible_person,
        Some(id) => {
            let index = stored.websites.iter().position(|w| w.id == id).ok_or(ServiceError::NotFound)?;
            &stored.form.websites[index].responsible_person
        }
    })
}

/// Whether the phone may upload this material, and where it goes: the website it belongs to and, for a face video,
/// the live challenge it answers. Refuses materials uploaded on the desktop, a document number that does not match
/// the form, a face video without a live challenge or from a subject's person, and a document about to expire, with
/// every error at once.
fn check_mobile_upload(
    upload: &MobileUpload,
    caller_website: Option<Uuid>,
    current: &mobile_session::Model,
    person_certificate: &str,
    subject_certificate: &str,
    now: DateTime<Utc>,
) -> Result<(Option<Uuid>, Option<String>), ServiceError> {
    use crate::domain::MaterialKind as K;
    let mut errors = Vec::new();
    let document_number = upload.document_number.as_deref();
    let target = match upload.kind {
        K::IdCardFront | K::IdCardBack => {
            if upload.kind == K::IdCardFront {
                check_document_number(document_number, person_certificate, &mut errors);
            }
            (caller_website, None)
        }
        K::SubjectCertificate => {
            check_document_number(document_number, subject_certificate, &mut errors);
            (None, None)
        }
        K::VerificationSheet | K::CommitmentLetter => (None, None),
        K::FaceVideo => face_video_target(caller_website, current, now, &mut errors),
        _ => {
            errors.push(
                FieldError::new("kind", FieldErrorCode::ChangeNotAllowed)
                    .with_message("This material is uploaded on the desktop.", "该材料请在电脑端上传。"),
            );
            (None, None)
        }
    };
    if let Some(valid_until) = upload.valid_until
        && valid_until < (now + Duration::days(91)).date_naive()
    {
        errors.push(FieldError::new("validUntil", FieldErrorCode::CertificateExpiring));
    }
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    Ok(target)
}

/// Whether the number the person read off the document is there and matches the form's (`expected`, ASCII case
/// ignored); the error goes to `errors`.
fn check_document_number(read: Option<&str>, expected: &str, errors: &mut Vec<FieldError>) {
    match read.map(str::trim) {
        None | Some("") => errors.push(
            FieldError::new("documentNumber", FieldErrorCode::Required)
                .with_message("Type the number printed on the document.", "请输入证件上的号码。"),
        ),
        Some(read) if !read.eq_ignore_ascii_case(expected) => {
            errors.push(FieldError::new("documentNumber", FieldErrorCode::CertificateNumberMismatch).suggest(
                "If the document is right, correct the number in the form on the desktop; otherwise photograph the \
                 right document.",
                "如证件无误，请在电脑端修改表单中的号码；否则请拍摄正确的证件。",
            ))
        }
        Some(_) => {}
    }
}

/// Where a face video goes: the session's website with its face challenge while that is live. A subject's person
/// records none, and a website's person must start (or restart) the face check first; the error goes to `errors`.
fn face_video_target(
    caller_website: Option<Uuid>,
    current: &mobile_session::Model,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> (Option<Uuid>, Option<String>) {
    let live = current.face_challenge.clone().filter(|_| current.face_challenge_expires_at.is_some_and(|t| t > now));
    match (caller_website, live) {
        (None, _) => {
            errors.push(FieldError::new("kind", FieldErrorCode::ChangeNotAllowed).with_message(
                "Only a website's responsible person records the face video.",
                "只有网站负责人需要录制人脸核验视频。",
            ));
            (None, None)
        }
        (Some(_), None) => {
            errors.push(FieldError::new("kind", FieldErrorCode::CodeExpired).with_message(
                "Start the face check first (or again): the video reads out its digits.",
                "请先开始（或重新开始）人脸核验：视频中需读出页面显示的数字。",
            ));
            (caller_website, None)
        }
        (Some(website), Some(digits)) => (Some(website), Some(digits)),
    }
}

/// Completes an upload the phone started (the same checks as on the desktop). A face video then goes to the
/// liveness checker.
pub async fn complete_upload(
    db: &DatabaseConnection,
    storage: &crate::storage::Storage,
    config: &crate::config::StorageConfig,
    liveness: &LivenessChecker,
    caller: &MobileCaller,
    attachment_id: Uuid,
) -> Result<super::attachments::Attachment, ServiceError> {
    let current = session(db, caller).await?;
    let actor = acting_for(db, caller, &current).await?;
    let attachment = super::attachments::get(db, &actor, attachment_id).await?;
    // Only uploads of this phone's filing.
    if attachment.filing_id != caller.filing_id {
        return Err(ServiceError::NotFound);
    }
    let done = super::attachments::complete_upload(db, storage, &actor, attachment_id).await?;
    if done.kind == crate::domain::MaterialKind::FaceVideo
        && let LivenessChecker::Webhook(webhook) = liveness
    {
        check_liveness(db, storage, config, webhook, &actor, &done, &current).await?;
        return super::attachments::get(db, &actor, attachment_id).await;
    }
    Ok(done)
}

/// Who decides whether a face video shows a live person reading the challenge: the reviewer during the
/// preliminary review (the default: the video waits, with its challenge beside it), or a face-verification service.
#[derive(Clone, Debug)]
pub enum LivenessChecker {
    Reviewer,
    Webhook(super::webhook::Webhook),
}

impl LivenessChecker {
    pub fn from_config(config: &crate::config::MobileConfig) -> anyhow::Result<Self> {
        match &config.liveness_webhook_url {
            None => Ok(Self::Reviewer),
            Some(url) => Ok(Self::Webhook(super::webhook::Webhook::new(
                url,
                config.liveness_webhook_secret.as_ref(),
                &super::webhook::Egress::from_config(config),
            )?)),
        }
    }
}

/// Asks the face-verification service about a video and records its verdict as the material's review. An answer
/// that cannot be used leaves the video to the reviewer.
async fn check_liveness(
    db: &DatabaseConnection,
    storage: &crate::storage::Storage,
    config: &crate::config::StorageConfig,
    webhook: &super::webhook::Webhook,
    actor: &Actor,
    video: &super::attachments::Attachment,
    session: &mobile_session::Model,
) -> Result<(), ServiceError> {
    let Some((url, _)) = super::attachments::download_url(db, storage, config, actor, video).await? else {
        return Ok(());
    };
    let body = serde_json::json!({ "type": "FACE_VIDEO", "tenantId": actor.tenant_id, "filingId": video.filing_id,
        "attachmentId": video.id, "person": session.person_name, "challenge": video.face_challenge,
        "videoUrl": url, "contentType": video.content_type });
    let answer = match webhook.post_for_json(&body).await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(attachment = %video.id, error = %error, "liveness check failed; the reviewer decides");
            return Ok(());
        }
    };
    let Some(passed) = answer.get("passed").and_then(|p| p.as_bool()) else {
        tracing::warn!(attachment = %video.id, "the liveness service's answer has no \"passed\"; the reviewer decides");
        return Ok(());
    };
    let reason = answer
        .get("reason")
        .and_then(|r| r.as_str())
        // Outside text: made one plain line (a U+0000 would not even store on PostgreSQL).
        .map(|r| crate::domain::text::to_single_line(r).chars().take(500).collect::<String>())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "人脸核验未通过，请重新录制。".to_owned());
    let now = Utc::now();
    let txn = write_txn(db).await?;
    entity::attachment::Entity::update_many()
        .col_expr(
            entity::attachment::Column::ReviewStatus,
            Expr::value(if passed { "ACCEPTED" } else { "NEEDS_REVISION" }),
        )
        .col_expr(entity::attachment::Column::ReviewReason, Expr::value((!passed).then(|| reason.clone())))
        .col_expr(entity::attachment::Column::UpdatedAt, Expr::value(now))
        .filter(entity::attachment::Column::Id.eq(video.id))
        .exec(&txn)
        .await?;
    let checker = Actor { label: "人脸核验服务".to_owned(), ..Actor::system(actor.tenant_id) };
    let details = serde_json::json!({ "attachmentId": video.id, "kind": video.kind.as_str(), "accepted": passed,
        "reason": (!passed).then_some(reason), "by": "LIVENESS_SERVICE" });
    let event = NewEvent::new(video.filing_id, FilingAction::AttachmentReviewed, now).details(Some(details));
    audit::record(&txn, &checker, event).await?;
    txn.commit().await?;
    tracing::info!(attachment = %video.id, passed, "liveness checked");
    Ok(())
}

fn require_phone(session: &mobile_session::Model) -> Result<(), ServiceError> {
    if session.phone_verified_at.is_some() {
        Ok(())
    } else {
        Err(ServiceError::InvalidInput(vec![
            FieldError::new("phone", FieldErrorCode::Required)
                .with_message("Confirm the mobile number first.", "请先完成手机号码验证。"),
        ]))
    }
}

/// The phone uploads on the applicant's behalf: the filing's owner (or, for a filing the registrar's backend
/// created, the backend), named after the person in the audit trail. Used only inside the mobile operations.
async fn acting_for(
    db: &DatabaseConnection,
    caller: &MobileCaller,
    session: &mobile_session::Model,
) -> Result<Actor, ServiceError> {
    use crate::auth::{ApiKeyScope, Principal, Role};
    let filing = entity::filing::Entity::find_by_id(caller.filing_id)
        .filter(entity::filing::Column::TenantId.eq(caller.tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let label = format!("手机核验 {}", session.person_name);
    Ok(match filing.owner_account_id {
        Some(owner) => Actor {
            tenant_id: caller.tenant_id,
            id: owner,
            label,
            principal: Principal::Account { role: Role::Applicant },
        },
        None => Actor {
            tenant_id: caller.tenant_id,
            id: session.created_by.unwrap_or(session.id),
            label,
            principal: Principal::ApiKey { scope: ApiKeyScope::Full },
        },
    })
}

/// A code on its way to a phone.
#[derive(Clone, Copy, Debug)]
pub struct PhoneCode<'a> {
    pub tenant_id: Uuid,
    pub mobile: &'a str,
    pub code: &'a str,
    pub person: &'a str,
}

/// How codes reach phones, and how many may go ([`super::phone_code_limits`]).
#[derive(Clone, Debug)]
pub struct SmsSender {
    channel: SmsChannel,
    limits: super::phone_code_limits::CodeLimits,
}

/// Where codes go: recorded for the operator (the embedded default: the log and the outbox, where `beian outbox
/// list` shows them), or posted to the registrar's SMS gateway.
#[derive(Clone, Debug)]
enum SmsChannel {
    Recorded,
    Webhook(super::webhook::Webhook),
}

impl SmsSender {
    pub fn from_config(config: &crate::config::MobileConfig) -> anyhow::Result<Self> {
        let limits = super::phone_code_limits::CodeLimits::from_config(config)?;
        let channel = match &config.sms_webhook_url {
            None => SmsChannel::Recorded,
            Some(url) => SmsChannel::Webhook(super::webhook::Webhook::new(
                url,
                config.sms_webhook_secret.as_ref(),
                &super::webhook::Egress::from_config(config),
            )?),
        };
        Ok(Self { channel, limits })
    }

    async fn send(&self, db: &DatabaseConnection, message: &PhoneCode<'_>) -> Result<(), ServiceError> {
        match &self.channel {
            SmsChannel::Recorded => {
                tracing::info!(mobile = %crate::domain::masking::mask_phone(message.mobile), code = message.code,
                    "phone code (recorded: no SMS gateway configured)");
                entity::outbox_message::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    tenant_id: Set(message.tenant_id),
                    template: Set(super::personal_data::PHONE_CODE.to_owned()),
                    recipient: Set(crate::pii::keyring().seal(message.tenant_id, message.mobile)),
                    payload: Set(serde_json::json!({ "code": message.code, "person": message.person })),
                    // Recorded, not queued: the mail dispatcher leaves it alone.
                    status: Set("RECORDED".to_owned()),
                    created_at: Set(Utc::now()),
                    attempts: Set(0),
                    ..Default::default()
                }
                .insert(db)
                .await?;
                Ok(())
            }
            SmsChannel::Webhook(webhook) => {
                let body = serde_json::json!({ "type": "PHONE_CODE", "tenantId": message.tenant_id,
                    "mobile": message.mobile, "code": message.code, "person": message.person,
                    "validMinutes": CODE_TTL_MINUTES });
                webhook.post(&body).await.map_err(|e| {
                    tracing::warn!(error = %e, "the SMS gateway did not take the code");
                    ServiceError::internal(anyhow::anyhow!("the SMS gateway did not take the code: {e}"))
                })
            }
        }
    }
}

/// The page a phone opens, and its QR code as SVG and as a PNG data URL.
#[derive(Clone, Debug)]
pub struct HandOffLink {
    pub url: String,
    pub svg: String,
    pub png_data_url: String,
}

/// The link of a hand-off: `base#token=...` (a fragment, so the token never reaches the page's server logs).
pub fn hand_off_link(base: &str, token: &str) -> HandOffLink {
    use base64::Engine;
    let url = format!("{}#token={token}", base.trim_end_matches('/'));
    let code = qrcode::QrCode::new(url.as_bytes()).expect("a link of a few hundred bytes fits a QR code");
    let svg = code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(240, 240).build();
    // The PNG: 6 pixels per module and the standard quiet zone of 4 modules, black on white.
    let (scale, quiet, width) = (6, 4, code.width());
    let size = (width + 2 * quiet) * scale;
    let mut pixels = vec![255u8; size * size];
    for (i, color) in code.to_colors().into_iter().enumerate() {
        if color == qrcode::Color::Dark {
            let (x, y) = (i % width + quiet, i / width + quiet);
            for dy in 0..scale {
                let row = (y * scale + dy) * size;
                pixels[row + x * scale..row + (x + 1) * scale].fill(0);
            }
        }
    }
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, size as u32, size as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("a PNG header writes to memory");
        writer.write_image_data(&pixels).expect("a PNG writes to memory");
    }
    let png_data_url = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png_bytes));
    HandOffLink { url, svg, png_data_url }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_reads_back_as_the_link() {
        use base64::Engine;
        let link = hand_off_link("https://beian.xinnet.example/mobile/", "beian_m_abcDEF123");
        assert_eq!(link.url, "https://beian.xinnet.example/mobile#token=beian_m_abcDEF123");
        assert!(link.svg.contains("<svg") && link.svg.contains("</svg>"));
        // Decode the PNG and read the QR code in it with an independent decoder.
        let data = link.png_data_url.strip_prefix("data:image/png;base64,").expect("a PNG data URL");
        let bytes = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, link.url);
    }
}
