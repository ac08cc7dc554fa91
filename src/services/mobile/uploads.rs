//! The person's documents from the phone: upload targets checked against the form, and their completion.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::face::{LivenessChecker, check_liveness};
use super::handoff::session;
use super::{MobileCaller, acting_for, require_phone};
use crate::domain::{FieldError, FieldErrorCode};
use crate::services::Deps;
use crate::services::ServiceError;
use entity::mobile_session::{self};

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
    deps: &Deps,
    caller: &MobileCaller,
    upload: MobileUpload,
) -> Result<crate::services::attachments::UploadTicket, ServiceError> {
    let (db, now) = (&deps.db, deps.now());
    let current = session(deps, caller).await?;
    require_phone(&current)?;
    let actor = acting_for(db, caller, &current).await?;
    let stored = crate::services::access::stored_filing(db, &deps.keys, &actor, caller.filing_id).await?;
    let person = session_person(&stored, caller.website_id)?;
    let (website_id, face_challenge) = check_mobile_upload(
        &upload,
        caller.website_id,
        &current,
        &person.certificate_number,
        &stored.form.subject.certificate_number,
        now,
    )?;
    let request = crate::services::attachments::UploadRequest {
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
    crate::services::attachments::request_upload(deps, &actor, request).await
}

/// The responsible person a session is for: the subject's, or that of the session's website (not found when the
/// filing no longer holds it).
pub(super) fn session_person(
    stored: &crate::services::access::StoredFiling,
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
pub(super) fn check_mobile_upload(
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
pub(super) fn check_document_number(read: Option<&str>, expected: &str, errors: &mut Vec<FieldError>) {
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
pub(super) fn face_video_target(
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
    deps: &Deps,
    caller: &MobileCaller,
    attachment_id: Uuid,
) -> Result<crate::services::attachments::Attachment, ServiceError> {
    let db = &deps.db;
    let current = session(deps, caller).await?;
    let actor = acting_for(db, caller, &current).await?;
    let attachment = crate::services::attachments::get(deps, &actor, attachment_id).await?;
    // Only uploads of this phone's filing.
    if attachment.filing_id != caller.filing_id {
        return Err(ServiceError::NotFound);
    }
    let done = crate::services::attachments::complete_upload(deps, &actor, attachment_id).await?;
    if done.kind == crate::domain::MaterialKind::FaceVideo
        && let LivenessChecker::Webhook(webhook) = &*deps.liveness
    {
        check_liveness(deps, webhook, &actor, &done, &current).await?;
        return crate::services::attachments::get(deps, &actor, attachment_id).await;
    }
    Ok(done)
}
