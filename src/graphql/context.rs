//! What every resolver can reach: the database, the caller, the GraphQL settings.

use std::sync::Arc;

use async_graphql::Context;
use sea_orm::DatabaseConnection;

use super::error::gql;
use crate::auth::Actor;
use crate::config::GraphqlConfig;
use crate::services::ServiceError;

/// Per-request data: who is calling.
#[derive(Clone)]
pub struct RequestContext {
    pub actor: Option<Actor>,
}

/// Per-schema data: shared handles.
#[derive(Clone)]
pub struct AppData {
    pub db: DatabaseConnection,
    pub graphql: Arc<GraphqlConfig>,
}

pub fn db<'a>(ctx: &'a Context<'_>) -> &'a DatabaseConnection {
    &ctx.data_unchecked::<AppData>().db
}

pub fn settings<'a>(ctx: &'a Context<'_>) -> &'a GraphqlConfig {
    &ctx.data_unchecked::<AppData>().graphql
}

/// The authenticated caller, or UNAUTHENTICATED.
pub fn actor<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Actor> {
    ctx.data_opt::<RequestContext>()
        .and_then(|r| r.actor.as_ref())
        .ok_or_else(|| {
            gql(ServiceError::Unauthenticated(
                "send a tenant API key as `Authorization: Bearer <key>`",
            ))
        })
}
