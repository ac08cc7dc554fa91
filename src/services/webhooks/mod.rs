//! The registrars' webhooks: endpoints their administrators register, and the deliveries of filing events to them.
//!
//! Every filing event gets a delivery row per enabled endpoint that wants its type, written by a database trigger
//! in the event's own transaction (migration `m20261205_000024`), so nothing is announced that did not commit and
//! nothing committed is lost. The [`dispatcher`] posts them, signed per the Standard Webhooks specification.

pub mod dispatcher;
mod endpoints;
mod log;

pub use endpoints::{
    EndpointChanges, NewEndpoint, create_endpoint, delete_endpoint, get_endpoint, list_endpoints, rotate_secret,
    update_endpoint,
};
pub use log::{DeliveryFilter, deliveries, get_delivery, ping, redeliver};

use crate::language::Text;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::audit::FilingAction;
use super::{Deps, ServiceError};
use crate::auth::Actor;

/// The most endpoints one registrar may register.
pub const MAX_ENDPOINTS: u64 = 20;

/// A registered endpoint (never its secret: that is shown once, when made).
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// The event types it wants; empty: all.
    pub event_types: Vec<FilingAction>,
    pub enabled: bool,
    /// Why the server disabled it; none when a person did, or when it is enabled.
    pub disabled_reason: Option<String>,
    /// Since when its deliveries fail; none while it answers.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub use entity::enums::DeliveryStatus;

/// The type of a test ping.
pub const PING: &str = "PING";

/// One message to one endpoint, and how its delivery went.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    /// The `webhook-id` header: the same on every attempt and redelivery, so receivers can de-duplicate.
    pub webhook_id: String,
    pub event_id: Option<Uuid>,
    pub filing_id: Option<Uuid>,
    /// A `FilingAction` name, or `PING`.
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<i32>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The `webhook-id` of a message: the event's id (or a ping's own), so every endpoint, attempt and redelivery of
/// one event carries the same one.
pub fn webhook_id(row: &entity::webhook_delivery::Model) -> String {
    format!("msg_{}", row.event_id.unwrap_or(row.id).simple())
}

impl TryFrom<entity::webhook_delivery::Model> for Delivery {
    type Error = ServiceError;

    fn try_from(row: entity::webhook_delivery::Model) -> Result<Self, ServiceError> {
        let status = row.status;
        Ok(Self {
            webhook_id: webhook_id(&row),
            id: row.id,
            endpoint_id: row.endpoint_id,
            event_id: row.event_id,
            filing_id: row.filing_id,
            event_type: row.event_type,
            status,
            attempts: row.attempts,
            next_attempt_at: (status == DeliveryStatus::Pending).then_some(row.next_attempt_at),
            last_attempt_at: row.last_attempt_at,
            last_status_code: row.last_status_code,
            last_error: row.last_error,
            last_latency_ms: row.last_latency_ms,
            delivered_at: row.delivered_at,
            created_at: row.created_at,
        })
    }
}

/// The row `id` of `E` if it is the registrar's; another registrar's (or none) is NOT_FOUND.
async fn of_tenant<E: EntityTrait>(
    deps: &Deps,
    actor: &Actor,
    (tenant, key): (E::Column, E::Column),
    id: Uuid,
) -> Result<E::Model, ServiceError> {
    E::find().filter(tenant.eq(actor.tenant_id)).filter(key.eq(id)).one(&deps.db).await?.ok_or(ServiceError::NotFound)
}

/// Only administrators and admin-scope keys manage webhooks.
fn authorize(actor: &Actor) -> Result<(), ServiceError> {
    if actor.manages_webhooks() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(Text::new(
            "managing webhooks needs an administrator or an API key with the ADMIN scope",
            "管理 Webhook 需要管理员账号或 ADMIN 范围的 API 密钥",
        )))
    }
}
