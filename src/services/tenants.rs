//! Registrars (tenants) and their API keys: operator commands and request authentication.

use crate::language::Text;
use chrono::{DateTime, Utc};
use sea_orm::SqlErr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use super::ServiceError;
use crate::auth::api_key;
use crate::auth::{Actor, ApiKeyScope, Principal};
use crate::domain::{FieldError, FieldErrorCode};
use crate::services::Deps;

pub use entity::enums::TenantStatus;

#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    pub created_at: DateTime<Utc>,
}

/// A new tenant with the secret of its first API key, to be shown once.
pub struct CreatedTenant {
    pub tenant: Tenant,
    pub api_key: String,
}

impl TryFrom<entity::tenant::Model> for Tenant {
    type Error = ServiceError;

    fn try_from(row: entity::tenant::Model) -> Result<Self, ServiceError> {
        Ok(Self { id: row.id, slug: row.slug, name: row.name, status: row.status, created_at: row.created_at })
    }
}

/// Whether `slug` is a tenant slug: 2-63 lower-case letters, digits and inner hyphens.
pub fn is_valid_slug(slug: &str) -> bool {
    (2..=63).contains(&slug.len())
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

/// Creates a registrar and its first API key (named `default`).
pub async fn create_tenant(deps: &Deps, slug: &str, name: &str) -> Result<CreatedTenant, ServiceError> {
    let db = &deps.db;
    let mut errors = Vec::new();
    if !is_valid_slug(slug) {
        errors.push(FieldError::new("slug", FieldErrorCode::InvalidFormat).with_message(
            "A slug is 2-63 lower-case letters, digits and inner hyphens.",
            "标识须为 2-63 位小写字母、数字或中间的连字符。",
        ));
    }
    // The registrar's name is the sender name of its mail unless it sets another: one line.
    let name = &super::validation::one_line(name, "name", 200, &mut errors);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let now = deps.now();
    let key = api_key::generate();
    let txn = crate::db::write_txn(db).await?;
    let inserted = entity::tenant::ActiveModel {
        id: Set(Uuid::now_v7()),
        slug: Set(slug.to_owned()),
        name: Set(name.to_owned()),
        status: Set(TenantStatus::Active),
        open_signup: Set(true),
        frontend_base_url: Set(None),
        storage_bucket: Set(None),
        storage_prefix: Set(None),
        mail_sender_name: Set(None),
        mail_sender_address: Set(None),
        mail_reply_to: Set(None),
        mail_signature: Set(None),
        support_contact: Set(None),
        require_phone_verification: Set(true),
        brand_color: Set(None),
        brand_logo: Set(None),
        mobile_consent_text: Set(None),
        mobile_page_url: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await;
    let tenant = match inserted {
        Ok(row) => row,
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(ServiceError::InvalidInput(vec![
                FieldError::new("slug", FieldErrorCode::Duplicate)
                    .with_message("A tenant with this slug already exists.", "该标识已被其他租户使用。"),
            ]));
        }
        Err(e) => return Err(e.into()),
    };
    entity::api_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.id),
        name: Set("default".to_owned()),
        key_prefix: Set(key.display_prefix),
        key_hash: Set(key.hash),
        scope: Set(ApiKeyScope::Full.to_string()),
        created_at: Set(now),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(CreatedTenant { tenant: Tenant::try_from(tenant)?, api_key: key.secret })
}

/// Every tenant, oldest first.
pub async fn list_tenants(deps: &Deps) -> Result<Vec<Tenant>, ServiceError> {
    let db = &deps.db;
    entity::tenant::Entity::find()
        .order_by_asc(entity::tenant::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Tenant::try_from)
        .collect()
}

/// Sets a tenant's status; a suspended tenant's keys are refused from the next request on.
pub async fn set_tenant_status(deps: &Deps, slug: &str, status: TenantStatus) -> Result<Tenant, ServiceError> {
    let db = &deps.db;
    let row = entity::tenant::Entity::find()
        .filter(entity::tenant::Column::Slug.eq(slug))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let mut active: entity::tenant::ActiveModel = row.into();
    active.status = Set(status);
    active.updated_at = Set(deps.now());
    Tenant::try_from(active.update(db).await?)
}

/// The actor an API key stands for; unknown, revoked and suspended-tenant keys are refused.
pub async fn authenticate_api_key(deps: &Deps, secret: &str) -> Result<Actor, ServiceError> {
    let db = &deps.db;
    const REFUSED: Text = Text::new("the API key is not valid", "API 密钥无效");
    if !secret.starts_with(api_key::KEY_PREFIX) {
        return Err(ServiceError::Unauthenticated(REFUSED));
    }
    let found = entity::api_key::Entity::find()
        .filter(entity::api_key::Column::KeyHash.eq(api_key::hash(secret)))
        .find_also_related(entity::tenant::Entity)
        .one(db)
        .await?;
    let Some((key, Some(tenant))) = found else {
        return Err(ServiceError::Unauthenticated(REFUSED));
    };
    if key.revoked_at.is_some() {
        return Err(ServiceError::Unauthenticated(REFUSED));
    }
    if tenant.status != TenantStatus::Active {
        return Err(ServiceError::Unauthenticated(Text::new(
            "this registrar's access is suspended",
            "该接入商的访问已被暂停",
        )));
    }
    let scope = super::models::parse("api_keys.scope", &key.scope)?;
    Ok(Actor {
        tenant_id: tenant.id,
        id: key.id,
        label: format!("API key {}", key.name),
        principal: Principal::ApiKey { scope },
    })
}

/// An active tenant by slug; unknown and suspended tenants are NOT_FOUND.
pub(crate) async fn active_tenant_by_slug(
    db: &impl ConnectionTrait,
    slug: &str,
) -> Result<entity::tenant::Model, ServiceError> {
    entity::tenant::Entity::find()
        .filter(entity::tenant::Column::Slug.eq(slug.trim()))
        .filter(entity::tenant::Column::Status.eq(TenantStatus::Active.to_string()))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)
}

pub(crate) async fn tenant_by_id(db: &impl ConnectionTrait, id: Uuid) -> Result<entity::tenant::Model, ServiceError> {
    entity::tenant::Entity::find_by_id(id).one(db).await?.ok_or(ServiceError::NotFound)
}

pub(crate) async fn tenant_is_active(db: &impl ConnectionTrait, id: Uuid) -> Result<bool, ServiceError> {
    Ok(tenant_by_id(db, id).await?.status == TenantStatus::Active)
}

/// What a registrar's administrators configure.
#[derive(Clone, Debug)]
pub struct TenantSettings {
    pub slug: String,
    pub name: String,
    /// Whether applicants may register themselves.
    pub open_signup: bool,
    /// Where the registrar's frontend lives; links in messages point there.
    pub frontend_base_url: Option<String>,
    /// The registrar's mail: sender name and address, reply-to, signature, support contact.
    pub mail_sender_name: Option<String>,
    pub mail_sender_address: Option<String>,
    pub mail_reply_to: Option<String>,
    pub mail_signature: Option<String>,
    pub support_contact: Option<String>,
    /// Whether every responsible person confirms their mobile number (a mobile hand-off's phone check) before a
    /// filing is submitted: part of the filing process, on by default. A registrar that checks phones its own way
    /// (at the counter, by a call) may turn it off.
    pub require_phone_verification: bool,
    /// The registrar's pages (the hosted phone page): accent colour (`#rrggbb`), logo (an image data URL) and the
    /// consent text a responsible person reads first; none: beian's.
    pub brand_color: Option<String>,
    pub brand_logo: Option<String>,
    pub mobile_consent_text: Option<String>,
    /// The page a hand-off's QR code opens when the registrar replaces beian's own (`/mobile`); none: beian's.
    pub mobile_page_url: Option<String>,
}

/// Changes to the settings; absent fields stay as they are, `Some(None)` clears an optional one.
#[derive(Clone, Debug, Default)]
pub struct SettingsChange {
    pub name: Option<String>,
    pub open_signup: Option<bool>,
    pub frontend_base_url: Option<Option<String>>,
    pub mail_sender_name: Option<Option<String>>,
    pub mail_sender_address: Option<Option<String>>,
    pub mail_reply_to: Option<Option<String>>,
    pub mail_signature: Option<Option<String>>,
    pub support_contact: Option<Option<String>>,
    pub require_phone_verification: Option<bool>,
    pub brand_color: Option<Option<String>>,
    pub brand_logo: Option<Option<String>>,
    pub mobile_consent_text: Option<Option<String>>,
    pub mobile_page_url: Option<Option<String>>,
}

impl From<entity::tenant::Model> for TenantSettings {
    fn from(t: entity::tenant::Model) -> Self {
        Self {
            slug: t.slug,
            name: t.name,
            open_signup: t.open_signup,
            frontend_base_url: t.frontend_base_url,
            mail_sender_name: t.mail_sender_name,
            mail_sender_address: t.mail_sender_address,
            mail_reply_to: t.mail_reply_to,
            mail_signature: t.mail_signature,
            support_contact: t.support_contact,
            require_phone_verification: t.require_phone_verification,
            brand_color: t.brand_color,
            brand_logo: t.brand_logo,
            mobile_consent_text: t.mobile_consent_text,
            mobile_page_url: t.mobile_page_url,
        }
    }
}

/// A trimmed optional text change (empty clears), checked against a length.
fn text_change(
    value: Option<Option<String>>,
    field: &str,
    max_chars: usize,
    lines: Lines,
    errors: &mut Vec<FieldError>,
) -> Option<Option<String>> {
    let value = value.map(|v| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()));
    match &value {
        Some(Some(v)) => Some(Some(match lines {
            Lines::One => super::validation::one_line(v, field, max_chars, errors),
            Lines::Many => super::validation::multi_line(v, field, max_chars, errors),
        })),
        _ => value,
    }
}

/// Whether a setting is one line (a name, an address, a URL: some reach mail headers) or may hold line breaks.
#[derive(Clone, Copy)]
enum Lines {
    One,
    Many,
}

/// Like [`text_change`], for an http(s) URL that links are built on: a path or a `#token=` is appended, so it has no
/// fragment of its own.
fn url_change(value: Option<Option<String>>, field: &str, errors: &mut Vec<FieldError>) -> Option<Option<String>> {
    let refused = errors.len();
    let value = text_change(value, field, 2048, Lines::One, errors);
    if let Some(Some(url)) = &value
        && errors.len() == refused
    {
        // (The URL parser drops tabs and line breaks silently: the check above must come first.)
        let ok = url::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.fragment().is_none());
        if !ok {
            errors.push(FieldError::new(field, FieldErrorCode::InvalidUrl));
        }
    }
    value
}

/// Like [`text_change`], for an email address.
fn address_change(value: Option<Option<String>>, field: &str, errors: &mut Vec<FieldError>) -> Option<Option<String>> {
    let refused = errors.len();
    let value = text_change(value, field, 254, Lines::One, errors).map(|v| v.map(|a| a.to_lowercase()));
    if let Some(Some(address)) = &value
        && errors.len() == refused
        && address.parse::<lettre::Address>().is_err()
    {
        errors.push(FieldError::new(field, FieldErrorCode::InvalidEmail));
    }
    value
}

/// The largest logo, decoded: it is sent inline with every phone page's session.
pub const MAX_LOGO_BYTES: usize = 64 * 1024;

/// An accent colour: `#rrggbb` (stored in lower case); empty clears it.
fn color_change(value: Option<Option<String>>, errors: &mut Vec<FieldError>) -> Option<Option<String>> {
    let value = text_change(value, "brandColor", 7, Lines::One, errors)?;
    let Some(color) = value else { return Some(None) };
    let hex = color.strip_prefix('#').filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if hex.is_none() {
        errors.push(FieldError::new("brandColor", FieldErrorCode::InvalidFormat).with_message(
            "An accent colour is # and six hexadecimal digits, such as #c8102e.",
            "主题色须为 # 加六位十六进制数字，例如 #c8102e。",
        ));
    }
    Some(Some(color.to_ascii_lowercase()))
}

/// A logo: a base64 `data:` URL of a PNG, JPEG or WebP image of at most [`MAX_LOGO_BYTES`], whose bytes are what
/// it says it is (pages show it inline, so nothing is fetched from another host); empty clears it.
fn logo_change(value: Option<Option<String>>, errors: &mut Vec<FieldError>) -> Option<Option<String>> {
    use base64::Engine;
    let value = value.map(|v| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()));
    let Some(Some(url)) = &value else { return value };
    let parsed = url.strip_prefix("data:").and_then(|rest| rest.split_once(";base64,"));
    let Some((declared, data)) = parsed else {
        errors.push(FieldError::new("brandLogo", FieldErrorCode::InvalidFormat).with_message(
            "A logo is a data URL: data:image/png;base64,... (PNG, JPEG or WebP).",
            "标志须为 data URL：data:image/png;base64,...（PNG、JPEG 或 WebP）。",
        ));
        return value;
    };
    if data.len() > MAX_LOGO_BYTES.div_ceil(3) * 4 + 4 {
        errors.push(FieldError::new("brandLogo", FieldErrorCode::FileTooLarge).with_message(
            format!("A logo is at most {} KiB.", MAX_LOGO_BYTES / 1024),
            format!("标志不得超过 {} KiB。", MAX_LOGO_BYTES / 1024),
        ));
        return value;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(data);
    let sniffed = bytes.as_deref().ok().and_then(infer::get).map(|kind| kind.mime_type());
    let allowed = ["image/png", "image/jpeg", "image/webp"];
    if !allowed.contains(&declared) || sniffed != Some(declared) {
        errors.push(FieldError::new("brandLogo", FieldErrorCode::UnsupportedContentType).with_message(
            "The logo must be a PNG, JPEG or WebP image, and its data URL must name its type.",
            "标志须为 PNG、JPEG 或 WebP 图片，且 data URL 须注明其类型。",
        ));
    } else if bytes.is_ok_and(|b| b.len() > MAX_LOGO_BYTES) {
        errors.push(FieldError::new("brandLogo", FieldErrorCode::FileTooLarge));
    }
    value
}

/// The caller's tenant and its settings.
pub async fn settings(deps: &Deps, actor: &Actor) -> Result<TenantSettings, ServiceError> {
    let db = &deps.db;
    Ok(tenant_by_id(db, actor.tenant_id).await?.into())
}

/// Changes the tenant's settings (administrators).
pub async fn update_settings(
    deps: &Deps,
    actor: &Actor,
    change: SettingsChange,
) -> Result<TenantSettings, ServiceError> {
    let db = &deps.db;
    super::access::require_admin(actor)?;
    let mut errors = Vec::new();
    let name = change.name.as_deref().map(|n| super::validation::one_line(n, "name", 200, &mut errors));
    let url = url_change(change.frontend_base_url.clone(), "frontendBaseUrl", &mut errors);
    let mobile_page = url_change(change.mobile_page_url, "mobilePageUrl", &mut errors);
    let sender_name = text_change(change.mail_sender_name, "mailSenderName", 200, Lines::One, &mut errors);
    let sender_address = address_change(change.mail_sender_address, "mailSenderAddress", &mut errors);
    let reply_to = address_change(change.mail_reply_to, "mailReplyTo", &mut errors);
    let signature = text_change(change.mail_signature, "mailSignature", 2000, Lines::Many, &mut errors);
    let support = text_change(change.support_contact, "supportContact", 300, Lines::Many, &mut errors);
    let color = color_change(change.brand_color, &mut errors);
    let logo = logo_change(change.brand_logo, &mut errors);
    let consent = text_change(change.mobile_consent_text, "mobileConsentText", 2000, Lines::Many, &mut errors);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let row = tenant_by_id(db, actor.tenant_id).await?;
    let mut active: entity::tenant::ActiveModel = row.into();
    if let Some(v) = sender_name {
        active.mail_sender_name = Set(v);
    }
    if let Some(v) = sender_address {
        active.mail_sender_address = Set(v);
    }
    if let Some(v) = reply_to {
        active.mail_reply_to = Set(v);
    }
    if let Some(v) = signature {
        active.mail_signature = Set(v);
    }
    if let Some(v) = support {
        active.support_contact = Set(v);
    }
    if let Some(v) = color {
        active.brand_color = Set(v);
    }
    if let Some(v) = logo {
        active.brand_logo = Set(v);
    }
    if let Some(v) = consent {
        active.mobile_consent_text = Set(v);
    }
    if let Some(v) = mobile_page {
        active.mobile_page_url = Set(v);
    }
    if let Some(name) = name {
        active.name = Set(name);
    }
    if let Some(open) = change.open_signup {
        active.open_signup = Set(open);
    }
    if let Some(url) = url {
        active.frontend_base_url = Set(url);
    }
    if let Some(required) = change.require_phone_verification {
        active.require_phone_verification = Set(required);
    }
    active.updated_at = Set(deps.now());
    Ok(active.update(db).await?.into())
}

/// Gives a tenant a bucket or key prefix of its own for new materials (`None` returns to the configured ones);
/// files stored before stay where they are.
pub async fn set_tenant_storage(
    deps: &Deps,
    slug: &str,
    bucket: Option<String>,
    prefix: Option<String>,
) -> Result<Tenant, ServiceError> {
    let db = &deps.db;
    let valid_bucket = |b: &str| {
        (3..=63).contains(&b.len())
            && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
            && !b.starts_with(['-', '.'])
            && !b.ends_with(['-', '.'])
    };
    let mut errors = Vec::new();
    if bucket.as_deref().is_some_and(|b| !valid_bucket(b)) {
        errors.push(FieldError::new("bucket", FieldErrorCode::InvalidFormat).with_message(
            "A bucket name is 3-63 lower-case letters, digits, dots and hyphens.",
            "存储桶名称须为 3-63 位小写字母、数字、点或连字符。",
        ));
    }
    if prefix.as_deref().is_some_and(|p| p.len() > 40 || p.contains("..")) {
        errors.push(FieldError::new("prefix", FieldErrorCode::InvalidFormat));
    }
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let row = entity::tenant::Entity::find()
        .filter(entity::tenant::Column::Slug.eq(slug))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let mut active: entity::tenant::ActiveModel = row.into();
    active.storage_bucket = Set(bucket);
    active.storage_prefix = Set(prefix.map(|p| p.trim_matches('/').to_owned()).filter(|p| !p.is_empty()));
    active.updated_at = Set(deps.now());
    Tenant::try_from(active.update(db).await?)
}
