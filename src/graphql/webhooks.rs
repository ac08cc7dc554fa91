//! Webhook endpoints over GraphQL: register, change, rotate, remove, test, and read and redeliver deliveries.
//! Administrators and API keys with the ADMIN scope only (FORBIDDEN otherwise); another registrar's endpoint or
//! delivery is NOT_FOUND.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use super::context::{actor, deps};
use super::enums;
use super::error::gql;
use super::ids::{self, Kind};
use super::objects::webhook::{WebhookDelivery, WebhookEndpoint};
use crate::services::webhooks as svc;

/// A new endpoint.
#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// Where to post: `https://` on the public internet (plain http and private addresses only where the operator
    /// allows them, `webhooks.allow_private_networks`). At most 2048 bytes.
    pub url: String,
    /// What it is for (at most 200 characters, one line).
    pub description: Option<String>,
    /// The event types to receive; empty or absent: every type.
    pub event_types: Option<Vec<enums::FilingAction>>,
    /// Whether to deliver at once (default true).
    #[graphql(default = true)]
    pub enabled: bool,
}

/// Changes to an endpoint; absent fields keep their value.
#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    /// The endpoint's global ID.
    pub id: ID,
    /// A new URL, checked as when the endpoint was made.
    pub url: Option<String>,
    /// A new description (at most 200 characters, one line).
    pub description: Option<String>,
    /// Empty: every type.
    pub event_types: Option<Vec<enums::FilingAction>>,
    /// Enabling an endpoint again resumes delivery, the deliveries that waited meanwhile first.
    pub enabled: Option<bool>,
}

/// An endpoint with its signing secret, shown this once: store it where the receiver can read it.
#[derive(SimpleObject)]
pub struct WebhookEndpointSecretPayload {
    /// The endpoint.
    pub endpoint: WebhookEndpoint,
    /// The Standard Webhooks signing secret (`whsec_` and base64 of 32 random bytes).
    pub secret: String,
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The registrar's webhook endpoints, oldest first.
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> Result<Vec<WebhookEndpoint>> {
        let actor = actor(ctx)?;
        Ok(svc::list_endpoints(deps(ctx), actor).await.map_err(gql)?.into_iter().map(WebhookEndpoint).collect())
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Registers an endpoint for the registrar's filing events. A URL that is malformed, not https, or points
    /// inside the server's network is a field error on `url` (URL_NOT_ALLOWED) and nothing is saved.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> Result<WebhookEndpointSecretPayload> {
        let actor = actor(ctx)?;
        let new = svc::NewEndpoint {
            url: input.url,
            description: input.description,
            event_types: input.event_types.unwrap_or_default().into_iter().map(Into::into).collect(),
            enabled: input.enabled,
        };
        let (endpoint, secret) = svc::create_endpoint(deps(ctx), actor, new).await.map_err(gql)?;
        Ok(WebhookEndpointSecretPayload { endpoint: WebhookEndpoint(endpoint), secret })
    }

    /// Changes an endpoint's URL, description, event types or whether it is enabled.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: UpdateWebhookEndpointInput,
    ) -> Result<WebhookEndpoint> {
        let actor = actor(ctx)?;
        let id = ids::decode(&input.id, Kind::WebhookEndpoint, "id").map_err(gql)?;
        let changes = svc::EndpointChanges {
            url: input.url,
            description: input.description,
            event_types: input.event_types.map(|t| t.into_iter().map(Into::into).collect()),
            enabled: input.enabled,
        };
        Ok(WebhookEndpoint(svc::update_endpoint(deps(ctx), actor, id, changes).await.map_err(gql)?))
    }

    /// Removes an endpoint and its delivery log; returns its ID.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] id: ID,
    ) -> Result<ID> {
        let actor = actor(ctx)?;
        let uuid = ids::decode(&id, Kind::WebhookEndpoint, "id").map_err(gql)?;
        svc::delete_endpoint(deps(ctx), actor, uuid).await.map_err(gql)?;
        Ok(id)
    }

    /// Gives an endpoint a new signing secret, shown this once. For `overlapHours` (default 24, at most 168) the
    /// old secret keeps signing too (the `webhook-signature` header then carries both signatures), so the receiver
    /// can switch to the new one without missing a delivery.
    async fn rotate_webhook_endpoint_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] id: ID,
        #[graphql(desc = "Hours the old secret still signs (0-168).", default = 24)] overlap_hours: i32,
    ) -> Result<WebhookEndpointSecretPayload> {
        let actor = actor(ctx)?;
        let id = ids::decode(&id, Kind::WebhookEndpoint, "id").map_err(gql)?;
        let (endpoint, secret) =
            svc::rotate_secret(deps(ctx), actor, id, i64::from(overlap_hours)).await.map_err(gql)?;
        Ok(WebhookEndpointSecretPayload { endpoint: WebhookEndpoint(endpoint), secret })
    }

    /// Sends a delivery again: a pending one at once, a delivered or failed one as a new delivery of the same
    /// message (the same `webhookId`). The endpoint must be enabled.
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery.")] delivery_id: ID,
    ) -> Result<WebhookDelivery> {
        let actor = actor(ctx)?;
        let id = ids::decode(&delivery_id, Kind::WebhookDelivery, "deliveryId").map_err(gql)?;
        Ok(WebhookDelivery(svc::redeliver(deps(ctx), actor, id).await.map_err(gql)?))
    }

    /// Posts a test message (`type: PING`) to an endpoint, enabled or not; its outcome appears in the delivery log.
    async fn ping_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] id: ID,
    ) -> Result<WebhookDelivery> {
        let actor = actor(ctx)?;
        let id = ids::decode(&id, Kind::WebhookEndpoint, "id").map_err(gql)?;
        Ok(WebhookDelivery(svc::ping(deps(ctx), actor, id).await.map_err(gql)?))
    }
}
