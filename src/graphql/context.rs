//! What every resolver can reach: the database, the caller (and how it may see personal data), the GraphQL
//! settings.

use crate::language::Text;
use std::net::IpAddr;
use std::sync::Arc;

use async_graphql::Context;
use sea_orm::DatabaseConnection;

use super::error::gql;
use crate::auth::Actor;
use crate::config::GraphqlConfig;
use crate::domain::masking;
use crate::domain::reference::ReferenceData;
use crate::services::{Deps, ServiceError};
use crate::storage::Storage;

/// Per-request data: who is calling, and from where.
#[derive(Clone)]
pub struct RequestContext {
    pub actor: Option<Actor>,
    /// A phone, authenticated by a mobile hand-off token (never together with an actor).
    pub mobile: Option<crate::services::mobile::MobileCaller>,
    pub client_ip: Option<IpAddr>,
}

/// Per-schema data: what the services work with, and the GraphQL settings.
#[derive(Clone)]
pub struct AppData {
    pub deps: Deps,
    pub graphql: Arc<GraphqlConfig>,
}

/// What the services work with: every resolver passes it on.
pub fn deps<'a>(ctx: &'a Context<'_>) -> &'a Deps {
    &ctx.data_unchecked::<AppData>().deps
}

pub fn db<'a>(ctx: &'a Context<'_>) -> &'a DatabaseConnection {
    &deps(ctx).db
}

pub fn settings<'a>(ctx: &'a Context<'_>) -> &'a GraphqlConfig {
    &ctx.data_unchecked::<AppData>().graphql
}

pub fn storage<'a>(ctx: &'a Context<'_>) -> &'a Storage {
    &deps(ctx).storage
}

pub fn reference<'a>(ctx: &'a Context<'_>) -> &'a ReferenceData {
    &deps(ctx).reference
}

/// The client's address, for throttling.
pub fn client_ip(ctx: &Context<'_>) -> Option<IpAddr> {
    ctx.data_opt::<RequestContext>().and_then(|r| r.client_ip)
}

/// The phone of a mobile hand-off, or UNAUTHENTICATED.
pub fn mobile<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a crate::services::mobile::MobileCaller> {
    ctx.data_opt::<RequestContext>().and_then(|r| r.mobile.as_ref()).ok_or_else(|| {
        gql(ServiceError::Unauthenticated(Text::new(
            "open the link of the QR code: this needs its mobile token",
            "请打开二维码中的链接：此操作需要手机令牌",
        )))
    })
}

/// The authenticated caller, or UNAUTHENTICATED.
pub fn actor<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Actor> {
    ctx.data_opt::<RequestContext>().and_then(|r| r.actor.as_ref()).ok_or_else(|| {
        gql(ServiceError::Unauthenticated(Text::new(
            "sign in, or send an API key: `Authorization: Bearer <token>`",
            "请登录，或发送 API 密钥：`Authorization: Bearer <token>`",
        )))
    })
}

/// A personal value as the caller may see it: in full with READ_PERSONAL_DATA, masked otherwise.
pub(crate) fn personal(ctx: &Context<'_>, value: &str, mask: fn(&str) -> String) -> String {
    disclosure(ctx).show(value, mask)
}

/// How the caller sees personal data: the actor's [`Disclosure`](masking::Disclosure); masked for anyone else
/// (a phone's mobile token, no caller).
pub(crate) fn disclosure(ctx: &Context<'_>) -> masking::Disclosure {
    match ctx.data_opt::<RequestContext>().and_then(|r| r.actor.as_ref()) {
        Some(actor) => actor.disclosure(),
        None => masking::Disclosure::Masked,
    }
}
