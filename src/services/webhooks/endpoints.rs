//! Registering, changing, rotating and removing endpoints.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};
use tracing::instrument;
use uuid::Uuid;

use super::{Endpoint, MAX_ENDPOINTS, authorize};
use crate::auth::Actor;
use crate::db::write_txn;
use crate::domain::text::SingleLine;
use crate::domain::{FieldError, FieldErrorCode};
use crate::services::Deps;
use crate::services::audit::FilingAction;
use crate::services::webhook::{Egress, is_public};
use crate::services::{ServiceError, models};
use entity::webhook_endpoint::{self, Column, Entity};

/// A new endpoint.
#[derive(Clone, Debug)]
pub struct NewEndpoint {
    pub url: String,
    pub description: Option<String>,
    /// Empty: every type.
    pub event_types: Vec<FilingAction>,
    pub enabled: bool,
}

/// What to change of an endpoint; `None` keeps the value.
#[derive(Clone, Debug, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<FilingAction>>,
    pub enabled: Option<bool>,
}

/// The longest overlap of an old and a new secret after a rotation, in hours (a week).
pub const MAX_OVERLAP_HOURS: i64 = 168;

/// Registers an endpoint; returns it and its signing secret, which is shown this once.
#[instrument(skip_all, fields(tenant = %actor.tenant_id))]
pub async fn create_endpoint(
    deps: &Deps,
    actor: &Actor,
    input: NewEndpoint,
) -> Result<(Endpoint, String), ServiceError> {
    authorize(actor)?;
    let mut errors = Vec::new();
    let url = check_url(deps, "url", &input.url, &mut errors).await;
    let description = check_description(input.description.as_deref().unwrap_or(""), &mut errors);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let now = deps.now();
    let txn = write_txn(&deps.db).await?;
    crate::db::lock_key(&txn, "webhook-endpoints", &actor.tenant_id.to_string()).await?;
    let existing = Entity::find().filter(Column::TenantId.eq(actor.tenant_id)).count(&txn).await?;
    if existing >= MAX_ENDPOINTS {
        return Err(ServiceError::InvalidInput(vec![FieldError::new("url", FieldErrorCode::TooMany).with_message(
            format!("A registrar has at most {MAX_ENDPOINTS} webhook endpoints: remove one first."),
            format!("每个接入商最多登记 {MAX_ENDPOINTS} 个 Webhook 地址，请先删除一个。"),
        )]));
    }
    let secret = new_secret();
    let row = webhook_endpoint::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(actor.tenant_id),
        url: Set(url.unwrap_or_default()),
        description: Set(description.unwrap_or_default()),
        event_types: Set(types_json(&input.event_types)),
        enabled: Set(input.enabled),
        disabled_reason: Set(None),
        secret: Set(deps.keys.seal(actor.tenant_id, &secret)),
        previous_secret: Set(None),
        previous_secret_expires_at: Set(None),
        failing_since: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    tracing::info!(endpoint = %row.id, "webhook endpoint registered");
    Ok((Endpoint::read(row, deps.now())?, secret))
}

/// Changes an endpoint. Enabling it again resumes delivery, including what waited while it was disabled.
#[instrument(skip_all, fields(tenant = %actor.tenant_id))]
pub async fn update_endpoint(
    deps: &Deps,
    actor: &Actor,
    id: Uuid,
    changes: EndpointChanges,
) -> Result<Endpoint, ServiceError> {
    authorize(actor)?;
    let mut errors = Vec::new();
    let url = match &changes.url {
        Some(url) => check_url(deps, "url", url, &mut errors).await,
        None => None,
    };
    let description = changes.description.as_deref().and_then(|d| check_description(d, &mut errors));
    let row = find(deps, actor, id).await?;
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let mut active: webhook_endpoint::ActiveModel = row.clone().into();
    if let Some(url) = url {
        active.url = Set(url);
    }
    if let Some(description) = description {
        active.description = Set(description);
    }
    if let Some(types) = &changes.event_types {
        active.event_types = Set(types_json(types));
    }
    if let Some(enabled) = changes.enabled {
        active.enabled = Set(enabled);
        active.disabled_reason = Set(None);
        if enabled && !row.enabled {
            // A fresh start: the failures that disabled it are not counted against it again.
            active.failing_since = Set(None);
        }
    }
    active.updated_at = Set(deps.now());
    let row = active.update(&deps.db).await?;
    Endpoint::read(row, deps.now())
}

/// Removes an endpoint and its delivery log.
#[instrument(skip_all, fields(tenant = %actor.tenant_id))]
pub async fn delete_endpoint(deps: &Deps, actor: &Actor, id: Uuid) -> Result<(), ServiceError> {
    authorize(actor)?;
    let row = find(deps, actor, id).await?;
    Entity::delete_by_id(row.id).exec(&deps.db).await?;
    Ok(())
}

/// Gives an endpoint a new secret, shown this once. The old one keeps signing beside it for `overlap_hours` (each
/// delivery then carries both signatures), so the receiver can switch without losing a delivery.
#[instrument(skip_all, fields(tenant = %actor.tenant_id))]
pub async fn rotate_secret(
    deps: &Deps,
    actor: &Actor,
    id: Uuid,
    overlap_hours: i64,
) -> Result<(Endpoint, String), ServiceError> {
    authorize(actor)?;
    if !(0..=MAX_OVERLAP_HOURS).contains(&overlap_hours) {
        return Err(ServiceError::InvalidInput(vec![
            FieldError::new("overlapHours", FieldErrorCode::InvalidFormat).with_message(
                format!("The overlap is 0 to {MAX_OVERLAP_HOURS} hours."),
                format!("新旧密钥并存时间须在 0 到 {MAX_OVERLAP_HOURS} 小时之间。"),
            ),
        ]));
    }
    let row = find(deps, actor, id).await?;
    let now = deps.now();
    let secret = new_secret();
    let mut active: webhook_endpoint::ActiveModel = row.clone().into();
    active.secret = Set(deps.keys.seal(actor.tenant_id, &secret));
    if overlap_hours > 0 {
        active.previous_secret = Set(Some(row.secret));
        active.previous_secret_expires_at = Set(Some(now + Duration::hours(overlap_hours)));
    } else {
        active.previous_secret = Set(None);
        active.previous_secret_expires_at = Set(None);
    }
    active.updated_at = Set(now);
    let row = active.update(&deps.db).await?;
    Ok((Endpoint::read(row, deps.now())?, secret))
}

/// The registrar's endpoints, oldest first.
pub async fn list_endpoints(deps: &Deps, actor: &Actor) -> Result<Vec<Endpoint>, ServiceError> {
    authorize(actor)?;
    let rows = Entity::find()
        .filter(Column::TenantId.eq(actor.tenant_id))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .all(&deps.db)
        .await?;
    let now = deps.now();
    rows.into_iter().map(|row| Endpoint::read(row, now)).collect()
}

/// One endpoint of the registrar; another registrar's is NOT_FOUND.
pub async fn get_endpoint(deps: &Deps, actor: &Actor, id: Uuid) -> Result<Endpoint, ServiceError> {
    authorize(actor)?;
    Endpoint::read(find(deps, actor, id).await?, deps.now())
}

pub(super) async fn find(deps: &Deps, actor: &Actor, id: Uuid) -> Result<webhook_endpoint::Model, ServiceError> {
    super::of_tenant::<Entity>(deps, actor, (Column::TenantId, Column::Id), id).await
}

impl Endpoint {
    /// An endpoint as it stands at `now` (a rotation's overlap that has ended is not shown).
    fn read(row: webhook_endpoint::Model, now: DateTime<Utc>) -> Result<Self, ServiceError> {
        let names: Vec<String> = serde_json::from_value(row.event_types).map_err(ServiceError::internal)?;
        let event_types =
            names.iter().map(|n| models::parse("webhook_endpoints.event_types", n)).collect::<Result<_, _>>()?;
        Ok(Self {
            id: row.id,
            url: row.url,
            description: row.description,
            event_types,
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            failing_since: row.failing_since,
            previous_secret_expires_at: row.previous_secret_expires_at.filter(|at| *at > now),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A new signing secret in the Standard Webhooks form: `whsec_` and 32 random bytes in base64.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn types_json(types: &[FilingAction]) -> serde_json::Value {
    let mut names: Vec<&'static str> = types.iter().map(|t| <&'static str>::from(*t)).collect();
    names.sort_unstable();
    names.dedup();
    serde_json::json!(names)
}

/// The longest endpoint URL, in bytes.
const MAX_URL_BYTES: usize = 2048;

/// A URL the server may post to, or a field error: well-formed, https (unless private networks are allowed), no
/// credentials, a host allowed by `[webhooks]`, and not a name or address inside the server's network. A name is
/// resolved here too, so `localhost` or a name pointing at 10.0.0.8 is refused at once; every connection checks
/// again (the answer of a name can change), and a name that does not resolve now is accepted and fails at delivery.
async fn check_url(deps: &Deps, field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        errors.push(FieldError::new(field, FieldErrorCode::Required));
        return None;
    }
    if raw.len() > MAX_URL_BYTES {
        errors.push(FieldError::new(field, FieldErrorCode::TooLong));
        return None;
    }
    let Ok(url) = url::Url::parse(raw) else {
        errors.push(FieldError::new(field, FieldErrorCode::InvalidUrl));
        return None;
    };
    let egress = Egress::for_endpoints(&deps.webhooks);
    let not_allowed = |why: String| {
        FieldError::new(field, FieldErrorCode::UrlNotAllowed).with_message(
            format!("This address may not receive webhooks: {why}."),
            "此地址不能接收 Webhook：须为公网上的 https:// 地址。",
        )
    };
    if let Some(why) = egress.refuse(&url) {
        errors.push(not_allowed(why));
        return None;
    }
    if !egress.allow_private_networks
        && let Some(host) = url.host_str().filter(|h| h.parse::<std::net::IpAddr>().is_err() && !h.starts_with('['))
    {
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup = tokio::time::timeout(std::time::Duration::from_secs(3), tokio::net::lookup_host((host, port)));
        if let Ok(Ok(addresses)) = lookup.await {
            let addresses: Vec<_> = addresses.collect();
            if !addresses.is_empty() && addresses.iter().all(|a| !is_public(a.ip())) {
                errors.push(not_allowed(format!("{host} resolves to an address that is not public")));
                return None;
            }
        }
    }
    Some(url.to_string())
}

fn check_description(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match SingleLine::parse(raw) {
        Ok(text) if text.chars() <= 200 => Some(text.into_string()),
        Ok(_) => {
            errors.push(FieldError::new("description", FieldErrorCode::TooLong));
            None
        }
        Err(code) => {
            errors.push(FieldError::new("description", code));
            None
        }
    }
}
