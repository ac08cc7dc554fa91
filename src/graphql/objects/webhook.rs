//! Webhook endpoints and their deliveries, and the wire form of a delivered event.

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::filing::{FilingEvent, global_ids_in};
use crate::graphql::context::{actor, deps};
use crate::graphql::enums;
use crate::graphql::error::gql;
use crate::graphql::ids::{self, Kind};
use crate::graphql::paging::PageInfo;
use crate::services::webhooks::{self as svc, dispatcher::Payloads};
use crate::services::{Page, models};

/// Where a delivery stands.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "crate::services::webhooks::DeliveryStatus")]
pub enum WebhookDeliveryStatus {
    /// Not delivered yet: waiting for its turn (one filing's deliveries go in order) or for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up after `webhooks.retry_for_hours` of failures; `redeliverWebhook` sends it again.
    Failed,
}

pub struct WebhookEndpoint(pub svc::Endpoint);

/// A registered webhook endpoint of the registrar. Its signing secret is shown only when it is made or rotated.
#[Object]
impl WebhookEndpoint {
    /// The endpoint's opaque global ID.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::WebhookEndpoint, self.0.id)
    }

    /// Where deliveries are posted.
    async fn url(&self) -> &str {
        &self.0.url
    }

    /// What it is for, as the administrator described it.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The event types it receives; empty: every type.
    async fn event_types(&self) -> Vec<enums::FilingAction> {
        self.0.event_types.iter().copied().map(Into::into).collect()
    }

    /// Whether deliveries are made. A disabled endpoint's deliveries wait and go out once it is enabled again.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// Why the server disabled it (it kept failing); absent when enabled or disabled by a person.
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref()
    }

    /// Since when its deliveries fail; absent while it answers. After `webhooks.disable_after_hours` of this the
    /// endpoint is disabled and the administrators get an email.
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.0.failing_since
    }

    /// Until when the secret before the last rotation still signs beside the new one; absent when it does not.
    async fn previous_secret_expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.previous_secret_expires_at
    }

    /// When it was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it last changed (by a person, a rotation, or the server disabling it).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The delivery log, newest first.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity + 1")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (`pageInfo.endCursor` of the previous page).")] after: Option<
            String,
        >,
        #[graphql(desc = "Only deliveries in these states.")] status: Option<Vec<WebhookDeliveryStatus>>,
    ) -> Result<WebhookDeliveryConnection> {
        let actor = actor(ctx)?;
        let first = crate::graphql::paging::page_size(crate::graphql::context::settings(ctx), first)?;
        let after = after
            .as_deref()
            .map(|c| crate::graphql::ids::decode_time_cursor("delivery", c))
            .transpose()
            .map_err(gql)?;
        let filter = svc::DeliveryFilter { statuses: status.map(|s| s.into_iter().map(Into::into).collect()) };
        let page = svc::deliveries(deps(ctx), actor, self.0.id, &filter, u64::from(first), after).await.map_err(gql)?;
        Ok(WebhookDeliveryConnection(page))
    }
}

pub struct WebhookDelivery(pub svc::Delivery);

/// One message to one endpoint and how its delivery went.
#[Object]
impl WebhookDelivery {
    /// The delivery's opaque global ID.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::WebhookDelivery, self.0.id)
    }

    /// The `webhook-id` header: the same on every attempt and every redelivery of the message, and for every
    /// endpoint that receives the same event; receivers de-duplicate by it.
    async fn webhook_id(&self) -> &str {
        &self.0.webhook_id
    }

    /// The endpoint it goes to.
    async fn endpoint_id(&self) -> ID {
        ids::encode(Kind::WebhookEndpoint, self.0.endpoint_id)
    }

    /// The message's `type`: the event's `FilingAction`, or `PING` for a test ping.
    async fn event_type(&self) -> enums::WebhookEventType {
        enums::WebhookEventType(self.0.event_type.clone())
    }

    /// The event delivered (absent for a ping).
    async fn event(&self, ctx: &Context<'_>) -> Result<Option<FilingEvent>> {
        let Some(event) = self.0.event_id else { return Ok(None) };
        let actor = actor(ctx)?;
        Ok(Some(FilingEvent(crate::services::filings::get_event(deps(ctx), actor, event).await.map_err(gql)?)))
    }

    /// The filing the event is about.
    async fn filing_id(&self) -> Option<ID> {
        self.0.filing_id.map(|id| ids::encode(Kind::Filing, id))
    }

    /// Where the delivery stands.
    async fn status(&self) -> WebhookDeliveryStatus {
        self.0.status.into()
    }

    /// Attempts so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// When the next attempt is due (pending deliveries).
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_attempt_at
    }

    /// When it was last attempted.
    async fn last_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_attempt_at
    }

    /// The HTTP status of the last answer; absent when there was none (timeout, no connection).
    async fn last_status_code(&self) -> Option<i32> {
        self.0.last_status_code
    }

    /// What went wrong at the last attempt (with the start of the receiver's answer).
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    /// How long the last attempt took, in milliseconds.
    async fn last_latency_ms(&self) -> Option<i32> {
        self.0.last_latency_ms
    }

    /// When the endpoint accepted it.
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }

    /// When it was queued: in the event's own transaction, or when a ping or redelivery was asked for.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct WebhookDeliveryConnection(Page<svc::Delivery>);

/// A page of an endpoint's delivery log.
#[Object]
impl WebhookDeliveryConnection {
    /// The deliveries of this page with their cursors.
    async fn edges(&self) -> Vec<WebhookDeliveryEdge> {
        self.0
            .items
            .iter()
            .map(|d| WebhookDeliveryEdge { cursor: delivery_cursor(d), node: WebhookDelivery(d.clone()) })
            .collect()
    }

    /// The deliveries of this page.
    async fn nodes(&self) -> Vec<WebhookDelivery> {
        self.0.items.iter().cloned().map(WebhookDelivery).collect()
    }

    /// Where this page stands.
    async fn page_info(&self) -> PageInfo {
        let cursors: Vec<String> = self.0.items.iter().map(delivery_cursor).collect();
        PageInfo::forward(self.0.has_next_page, &cursors)
    }
}

/// A delivery with its cursor.
#[derive(SimpleObject)]
pub struct WebhookDeliveryEdge {
    /// Pass as `after` to continue after this delivery.
    pub cursor: String,
    /// The delivery.
    pub node: WebhookDelivery,
}

fn delivery_cursor(delivery: &svc::Delivery) -> String {
    crate::graphql::ids::encode_time_cursor("delivery", delivery.created_at, delivery.id)
}

/// What a webhook carries in `data`: an event as the API shows a `FilingEvent` (global IDs, masked personal data),
/// and, for a ping, the endpoint. See README "Connecting your systems".
pub struct WirePayloads;

impl Payloads for WirePayloads {
    fn event(&self, event: &models::FilingEvent) -> Value {
        let changes: Vec<Value> =
            event.changes.iter().map(|c| json!({ "field": c.field, "oldValue": c.old, "newValue": c.new })).collect();
        let reasons = event.details.as_ref().and_then(|d| d.get("reasons")).cloned().unwrap_or_else(|| json!([]));
        json!({
            "id": ids::encode(Kind::FilingEvent, event.id).0,
            "filingId": ids::encode(Kind::Filing, event.filing_id).0,
            "action": <&'static str>::from(event.action),
            "actor": { "kind": event.actor_kind.as_str(), "name": event.actor_label },
            "fromStatus": event.from_status.map(|s| s.as_str()),
            "toStatus": event.to_status.map(|s| s.as_str()),
            "changes": changes,
            "reason": event.reason,
            "reasons": reasons,
            "details": event.details.clone().map(global_ids_in),
            "createdAt": event.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        })
    }

    fn ping(&self, endpoint: Uuid) -> Value {
        json!({ "endpointId": ids::encode(Kind::WebhookEndpoint, endpoint).0, "message": "beian test ping" })
    }
}
