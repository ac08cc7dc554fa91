//! The hand-off from desktop to phone: a session per responsible person with its token (the QR code's link),
//! revoked or listed by the desktop, and the phone authenticated by that token.

use crate::language::Text;
use chrono::Duration;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use super::{MobileCaller, TOKEN_PREFIX};
use crate::auth::Actor;
use crate::db::write_txn;
use crate::services::Deps;
use crate::services::ServiceError;
use crate::services::audit::{self, FilingAction, NewEvent};
use entity::mobile_session::{self, Column};

/// A started hand-off: the token (shown this once) and the session.
#[derive(Clone, Debug)]
pub struct Started {
    pub token: String,
    pub session: mobile_session::Model,
}

/// Starts a hand-off for the subject's responsible person (`website_id` none) or a website's, on a filing the
/// applicant may still edit. Valid for `mobile.session_ttl_minutes`.
pub async fn start(
    deps: &Deps,
    actor: &Actor,
    filing_id: Uuid,
    website_id: Option<Uuid>,
) -> Result<Started, ServiceError> {
    let db = &deps.db;
    crate::services::access::require_editor(actor)?;
    let filing = crate::services::access::get_filing(deps, actor, filing_id).await?;
    if !filing.status.is_editable() {
        return Err(ServiceError::InvalidTransition { action: "startMobileVerification", from: filing.status });
    }
    let stored = crate::services::access::stored_filing(db, &deps.keys, actor, filing_id).await?;
    let person = match website_id {
        None => stored.form.subject.responsible_person.clone(),
        Some(id) => {
            let index = stored.websites.iter().position(|w| w.id == id).ok_or(ServiceError::NotFound)?;
            stored.form.websites[index].responsible_person.clone()
        }
    };
    let now = deps.now();
    let (token, hash) = crate::auth::tokens::opaque(TOKEN_PREFIX);
    let txn = write_txn(db).await?;
    let session = mobile_session::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(actor.tenant_id),
        filing_id: Set(filing_id),
        website_id: Set(website_id),
        person_name: Set(person.name.clone()),
        mobile: Set(deps.keys.seal(actor.tenant_id, &person.mobile)),
        token_hash: Set(hash),
        token_prefix: Set(token[..TOKEN_PREFIX.len() + 6].to_owned()),
        expires_at: Set(now + Duration::minutes(deps.mobile.session_ttl_minutes)),
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
    Ok(Started { token, session: opened(&deps.keys, session)? })
}

/// Ends a hand-off before it expires.
pub async fn revoke(deps: &Deps, actor: &Actor, id: Uuid) -> Result<mobile_session::Model, ServiceError> {
    let db = &deps.db;
    crate::services::access::require_editor(actor)?;
    let session = get(deps, actor, id).await?;
    if session.revoked_at.is_none() {
        let now = deps.now();
        let details = serde_json::json!({ "sessionId": session.id, "person": session.person_name });
        let event =
            NewEvent::new(session.filing_id, FilingAction::MobileVerificationRevoked, now).details(Some(details));
        let txn = write_txn(db).await?;
        let mut active: mobile_session::ActiveModel = session.into();
        active.revoked_at = Set(Some(now));
        active.updated_at = Set(now);
        active.update(&txn).await?;
        audit::record(&txn, actor, event).await?;
        txn.commit().await?;
    }
    get(deps, actor, id).await
}

/// One hand-off of a filing the caller may see.
pub async fn get(deps: &Deps, actor: &Actor, id: Uuid) -> Result<mobile_session::Model, ServiceError> {
    let db = &deps.db;
    let session = mobile_session::Entity::find_by_id(id)
        .filter(Column::TenantId.eq(actor.tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    crate::services::access::ensure_visible(db, actor, session.filing_id).await?;
    opened(&deps.keys, session)
}

/// A session as read, with its mobile number opened ([`crate::pii`]). Updating it through `into()` leaves the stored
/// (sealed) number as it is: only the fields set afterwards are written.
pub(super) fn opened(
    keys: &crate::pii::Keyring,
    mut session: mobile_session::Model,
) -> Result<mobile_session::Model, ServiceError> {
    session.mobile = keys.open(session.tenant_id, &session.mobile).map_err(ServiceError::internal)?;
    Ok(session)
}

/// The hand-offs of a filing the caller may see, newest first.
pub async fn of_filing(
    deps: &Deps,
    actor: &Actor,
    filing_id: Uuid,
) -> Result<Vec<mobile_session::Model>, ServiceError> {
    let db = &deps.db;
    crate::services::access::ensure_visible(db, actor, filing_id).await?;
    mobile_session::Entity::find()
        .filter(Column::TenantId.eq(actor.tenant_id))
        .filter(Column::FilingId.eq(filing_id))
        .order_by_desc(Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|session| opened(&deps.keys, session))
        .collect()
}

/// The phone behind a mobile token, if the token is known, not expired and not revoked.
pub async fn authenticate(deps: &Deps, token: &str) -> Result<MobileCaller, ServiceError> {
    let (db, now) = (&deps.db, deps.now());
    let hash = crate::auth::api_key::hash(token);
    let session = mobile_session::Entity::find()
        .filter(Column::TokenHash.eq(hash))
        .one(db)
        .await?
        .filter(|s| s.revoked_at.is_none() && s.expires_at > now)
        .ok_or(ServiceError::Unauthenticated(Text::new(
            "this mobile link is not valid any more: ask for a new QR code",
            "该手机链接已失效，请重新生成二维码",
        )))?;
    Ok(MobileCaller {
        tenant_id: session.tenant_id,
        session_id: session.id,
        filing_id: session.filing_id,
        website_id: session.website_id,
    })
}

/// The session behind a phone.
pub async fn session(deps: &Deps, caller: &MobileCaller) -> Result<mobile_session::Model, ServiceError> {
    let db = &deps.db;
    mobile_session::Entity::find_by_id(caller.session_id)
        .filter(Column::TenantId.eq(caller.tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)
        .and_then(|session| opened(&deps.keys, session))
}

/// The page a phone opens, and its QR code as SVG and as a PNG data URL.
#[derive(Clone, Debug)]
pub struct HandOffLink {
    pub url: String,
    pub svg: String,
    pub png_data_url: String,
}

/// The link of a hand-off: `base#token=...` (a fragment, so the token never reaches the page's server logs); the
/// base is kept as written (a registrar's page may live at `.../beian/`).
pub fn hand_off_link(base: &str, token: &str) -> HandOffLink {
    use base64::Engine;
    let url = format!("{base}#token={token}");
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
