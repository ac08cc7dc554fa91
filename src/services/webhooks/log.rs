//! An endpoint's delivery log, redelivery, and test pings.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use tracing::instrument;
use uuid::Uuid;

use super::endpoints::find;
use super::{Delivery, DeliveryStatus, PING, authorize};
use crate::auth::Actor;
use crate::services::Deps;
use crate::services::{Page, ServiceError};
use entity::webhook_delivery::{self, Column, Entity};

/// Which deliveries of the log to list.
#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    pub statuses: Option<Vec<DeliveryStatus>>,
}

/// A page of an endpoint's deliveries, newest first, after the delivery `after` (its time and id).
#[instrument(skip_all, fields(tenant = %actor.tenant_id))]
pub async fn deliveries(
    deps: &Deps,
    actor: &Actor,
    endpoint_id: Uuid,
    filter: &DeliveryFilter,
    first: u64,
    after: Option<(DateTime<Utc>, Uuid)>,
) -> Result<Page<Delivery>, ServiceError> {
    authorize(actor)?;
    let endpoint = find(deps, actor, endpoint_id).await?;
    let mut query =
        Entity::find().filter(Column::TenantId.eq(actor.tenant_id)).filter(Column::EndpointId.eq(endpoint.id));
    if let Some(statuses) = &filter.statuses {
        query = query.filter(Column::Status.is_in(statuses.iter().copied()));
    }
    if let Some((at, id)) = after {
        query = query.filter(
            Condition::any()
                .add(Column::CreatedAt.lt(at))
                .add(Condition::all().add(Column::CreatedAt.eq(at)).add(Column::Id.lt(id))),
        );
    }
    let mut rows =
        query.order_by_desc(Column::CreatedAt).order_by_desc(Column::Id).limit(first + 1).all(&deps.db).await?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(first as usize);
    let items = rows.into_iter().map(Delivery::try_from).collect::<Result<_, _>>()?;
    Ok(Page { items, has_next_page })
}

/// One delivery of the registrar's endpoints; another registrar's is NOT_FOUND.
pub async fn get_delivery(deps: &Deps, actor: &Actor, id: Uuid) -> Result<Delivery, ServiceError> {
    authorize(actor)?;
    Delivery::try_from(find_delivery(deps, actor, id).await?)
}

/// Sends a delivery again: a pending one at once (its backoff skipped), a delivered or failed one as a new delivery
/// of the same message (the same `webhook-id`), in its filing's order. The endpoint must be enabled.
#[instrument(skip_all, fields(tenant = %actor.tenant_id))]
pub async fn redeliver(deps: &Deps, actor: &Actor, id: Uuid) -> Result<Delivery, ServiceError> {
    authorize(actor)?;
    let row = find_delivery(deps, actor, id).await?;
    let endpoint = find(deps, actor, row.endpoint_id).await?;
    if !endpoint.enabled && row.event_type != PING {
        let error = crate::domain::FieldError::new("deliveryId", crate::domain::FieldErrorCode::ChangeNotAllowed)
            .with_message(
                "The endpoint is disabled: enable it first (a test ping works while it is disabled).",
                "该 Webhook 地址已停用，请先启用（停用期间仍可发送测试推送）。",
            );
        return Err(ServiceError::InvalidInput(vec![error]));
    }
    let now = deps.now();
    let row = if row.status == DeliveryStatus::Pending {
        let mut active: webhook_delivery::ActiveModel = row.into();
        active.next_attempt_at = Set(now);
        active.update(&deps.db).await?
    } else {
        let message = Message { event_id: row.event_id, filing_id: row.filing_id, event_type: row.event_type };
        queued(row.tenant_id, row.endpoint_id, message, (row.event_txid, row.event_seq), now).insert(&deps.db).await?
    };
    Delivery::try_from(row)
}

/// Queues a test message (`type: PING`) to an endpoint, enabled or not, so an administrator can check the
/// receiver and its signature check before (re-)enabling it; its outcome is in the delivery log.
#[instrument(skip_all, fields(tenant = %actor.tenant_id))]
pub async fn ping(deps: &Deps, actor: &Actor, endpoint_id: Uuid) -> Result<Delivery, ServiceError> {
    authorize(actor)?;
    let endpoint = find(deps, actor, endpoint_id).await?;
    let now = deps.now();
    let message = Message { event_id: None, filing_id: None, event_type: PING.to_owned() };
    let row = queued(actor.tenant_id, endpoint.id, message, (0, 0), now).insert(&deps.db).await?;
    Delivery::try_from(row)
}

/// What a delivery carries: the event (none for a ping), its filing and its type.
struct Message {
    event_id: Option<Uuid>,
    filing_id: Option<Uuid>,
    event_type: String,
}

/// A new pending delivery of `message` to `endpoint`, due at once, in the place `order` (the event's feed position).
fn queued(
    tenant_id: Uuid,
    endpoint_id: Uuid,
    message: Message,
    order: (i64, i64),
    now: DateTime<Utc>,
) -> webhook_delivery::ActiveModel {
    webhook_delivery::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        endpoint_id: Set(endpoint_id),
        event_id: Set(message.event_id),
        filing_id: Set(message.filing_id),
        event_type: Set(message.event_type),
        event_txid: Set(order.0),
        event_seq: Set(order.1),
        status: Set(DeliveryStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        locked_by: Set(None),
        last_attempt_at: Set(None),
        last_status_code: Set(None),
        last_error: Set(None),
        last_latency_ms: Set(None),
        delivered_at: Set(None),
        created_at: Set(now),
    }
}

async fn find_delivery(deps: &Deps, actor: &Actor, id: Uuid) -> Result<webhook_delivery::Model, ServiceError> {
    super::of_tenant::<Entity>(deps, actor, (Column::TenantId, Column::Id), id).await
}
