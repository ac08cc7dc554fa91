//! The mobile hand-off: the applicant (at a desktop) starts a session for one responsible person of one filing; the
//! person's phone opens its link and, with the session's token, does that person's steps. The token is shown once
//! (only its hash is kept), expires, can be revoked, and authenticates nothing but the mobile operations: it is not
//! an [`Actor`], so every other operation refuses it.
//!
//! The first step is the phone check: a six-digit code sent to the person's mobile (through [`SmsSender`]), valid
//! for a few minutes, with a limit on wrong guesses and on how often codes are sent.
//!
//! By use case: the [`handoff`] itself, the [`phone_code`], the person's document [`uploads`], and the [`face`]
//! video. This module holds what they share: the caller a token authenticates and whom a session acts for.

mod face;
mod handoff;
mod overview;
mod phone_code;
mod uploads;

pub use face::{FACE_CHALLENGE_MINUTES, LivenessChecker, start_face_check};
pub use handoff::{HandOffLink, Started, authenticate, get, hand_off_link, of_filing, revoke, session, start};
pub use overview::{Branding, Overview, overview};
pub use phone_code::{
    PhoneCheck, PhoneCode, SmsSender, confirm_phone_code, phone_checks, send_phone_code, unconfirmed_phones,
};
pub use uploads::{MobileUpload, complete_upload, request_upload};

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::ServiceError;
use crate::auth::Actor;
use crate::domain::{FieldError, FieldErrorCode};
use entity::mobile_session::{self};

/// Every mobile token starts with this.
pub const TOKEN_PREFIX: &str = crate::auth::api_key::MOBILE_TOKEN_PREFIX;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_reads_back_as_the_link() {
        use base64::Engine;
        let link = hand_off_link("https://beian.xinnet.example/mobile", "beian_m_abcDEF123");
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
