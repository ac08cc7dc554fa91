//! Query root: filings, the filing list, and `node`.

use async_graphql::{Context, ID, Object, Result};
use futures_util::{StreamExt, TryStreamExt};

use super::context::{actor, deps, settings};
use super::error::gql;
use super::ids::{self, Kind};
use super::inputs::{FilingEventFilterInput, FilingFilterInput};
use super::loaders;
use super::objects::account::{Account, ApiKey};
use super::objects::attachment::Attachment;
use super::objects::filing::{Filing, FilingEdge, FilingEvent};
use super::objects::mobile::MobileVerification;
use super::objects::node::Node;
use super::objects::notification::Notification;
use super::objects::webhook::{WebhookDelivery, WebhookEndpoint};
use super::objects::website::Website;
use super::objects::workflow::SmsCheck;
use super::paging::{PageInfo, page_size};
use crate::auth::Actor;
use crate::domain::{FieldError, FieldErrorCode};
use crate::services::filings::{self, FeedPosition, FilingFilter};
use crate::services::{self, Page, ServiceError, models};

#[derive(Default)]
pub struct FilingQuery;

#[Object]
impl FilingQuery {
    /// A filing of the caller's registrar. Another registrar's filing is NOT_FOUND.
    async fn filing(&self, ctx: &Context<'_>, #[graphql(desc = "The filing's global ID.")] id: ID) -> Result<Filing> {
        let actor = actor(ctx)?;
        let id = ids::decode(&id, Kind::Filing, "id").map_err(gql)?;
        Ok(Filing(crate::services::access::get_filing(deps(ctx), actor, id).await.map_err(gql)?))
    }

    /// The caller's filings, newest first, as a cursor connection.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity + 1")]
    async fn filings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (`pageInfo.endCursor` of the previous page).")] after: Option<
            String,
        >,
        #[graphql(desc = "Filters; every given filter must match.")] filter: Option<FilingFilterInput>,
    ) -> Result<FilingConnection> {
        let actor = actor(ctx)?;
        let first = page_size(settings(ctx), first)?;
        let after = after.as_deref().map(ids::decode_cursor).transpose().map_err(gql)?;
        let filter: FilingFilter = filter.unwrap_or_default().into();
        let page = filings::list_filings(deps(ctx), actor, &filter, u64::from(first), after).await.map_err(gql)?;
        Ok(FilingConnection { page, filter, actor: actor.clone() })
    }

    /// The change feed: every event of the registrar's filings, oldest first, after a cursor. A system that polls
    /// keeps `pageInfo.endCursor` of the last page it read and asks again with it: it misses nothing and sees
    /// nothing twice, even while changes commit concurrently (the README's "Connecting your systems" says how).
    /// An event appears once its transaction has committed and every transaction that began before it has ended,
    /// usually within milliseconds. Staff and API keys only (FORBIDDEN for applicants).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity + 1")]
    async fn filing_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (`pageInfo.endCursor` of the previous page); from the \
                          beginning when absent.")]
        after: Option<String>,
        #[graphql(desc = "Filters; every given filter must match.")] filter: Option<FilingEventFilterInput>,
    ) -> Result<FilingEventConnection> {
        let actor = actor(ctx)?;
        let first = page_size(settings(ctx), first)?;
        let after = after.as_deref().map(ids::decode_feed_cursor).transpose().map_err(gql)?;
        let filter = filter.unwrap_or_default().into();
        let page = filings::filing_events(deps(ctx), actor, &filter, u64::from(first), after).await.map_err(gql)?;
        Ok(FilingEventConnection { page })
    }

    /// Any object with a global ID. Another registrar's object is NOT_FOUND.
    async fn node(&self, ctx: &Context<'_>, #[graphql(desc = "A global ID.")] id: ID) -> Result<Node> {
        let actor = actor(ctx)?;
        let found = ids::decode_any(&id, "id").map_err(gql)?;
        node_of(deps(ctx), actor, found).await.map_err(gql)
    }

    /// Several objects by global ID, in the order asked (a console refetching what it shows). An ID that names no
    /// object the caller may see (another registrar's, a deleted one, one the caller's role may not read) gives null
    /// in its place; a malformed ID is BAD_USER_INPUT on `ids[<i>]`, every one reported, nothing fetched. At most
    /// `graphql.max_page_size` IDs.
    #[graphql(complexity = "ids.len() * child_complexity + 1")]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global IDs, of any types.")] ids: Vec<ID>,
    ) -> Result<Vec<Option<Node>>> {
        let (actor, deps) = (actor(ctx)?, deps(ctx));
        let most = settings(ctx).max_page_size as usize;
        if ids.len() > most {
            return Err(gql(ServiceError::InvalidInput(vec![
                FieldError::new("ids", FieldErrorCode::TooMany)
                    .with_message(format!("At most {most} IDs at once."), format!("一次最多 {most} 个 ID。")),
            ])));
        }
        let mut decoded = Vec::with_capacity(ids.len());
        let mut bad = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            match ids::decode_any(id, &format!("ids[{i}]")) {
                Ok(found) => decoded.push(found),
                Err(ServiceError::InvalidInput(errors)) => bad.extend(errors),
                Err(other) => return Err(gql(other)),
            }
        }
        if !bad.is_empty() {
            return Err(gql(ServiceError::InvalidInput(bad)));
        }
        // A few at a time, in order: one request does not hold many of the pool's connections.
        futures_util::stream::iter(decoded)
            .map(|found| async move {
                match node_of(deps, actor, found).await {
                    Ok(node) => Ok(Some(node)),
                    Err(ServiceError::NotFound | ServiceError::Forbidden(_)) => Ok(None),
                    Err(other) => Err(gql(other)),
                }
            })
            .buffered(4)
            .try_collect()
            .await
    }
}

/// The object a decoded global ID names, as the caller may see it.
async fn node_of(deps: &services::Deps, actor: &Actor, (kind, id): (Kind, uuid::Uuid)) -> Result<Node, ServiceError> {
    Ok(match kind {
        Kind::Filing => Node::Filing(Filing(services::access::get_filing(deps, actor, id).await?)),
        Kind::Website => Node::Website(Website(filings::get_website(deps, actor, id).await?)),
        Kind::FilingEvent => Node::FilingEvent(FilingEvent(filings::get_event(deps, actor, id).await?)),
        Kind::Attachment => Node::Attachment(Attachment(services::attachments::get(deps, actor, id).await?)),
        Kind::SmsCheck => Node::SmsCheck(SmsCheck(services::workflow::sms_check(deps, actor, id).await?)),
        Kind::MobileVerification => {
            Node::MobileVerification(MobileVerification(services::mobile::get(deps, actor, id).await?))
        }
        Kind::Notification => Node::Notification(Notification(services::notifications::get(deps, actor, id).await?)),
        Kind::WebhookEndpoint => {
            Node::WebhookEndpoint(WebhookEndpoint(services::webhooks::get_endpoint(deps, actor, id).await?))
        }
        Kind::WebhookDelivery => {
            Node::WebhookDelivery(WebhookDelivery(services::webhooks::get_delivery(deps, actor, id).await?))
        }
        Kind::Account => Node::Account(Account(services::accounts::get_account(deps, actor, id).await?)),
        Kind::ApiKey => Node::ApiKey(ApiKey(services::api_keys::get_api_key(deps, actor, id).await?)),
    })
}

pub struct FilingConnection {
    page: Page<models::Filing>,
    filter: FilingFilter,
    actor: Actor,
}

/// A page of filings (Relay cursor connection).
#[Object]
impl FilingConnection {
    /// The filings of this page with their cursors.
    async fn edges(&self, ctx: &Context<'_>) -> Result<Vec<FilingEdge>> {
        self.prefetch(ctx, ctx.look_ahead().field("node")).await?;
        Ok(self
            .page
            .items
            .iter()
            .map(|f| FilingEdge { cursor: ids::encode_cursor(f.id), node: Filing(f.clone()) })
            .collect())
    }

    /// The filings of this page.
    async fn nodes(&self, ctx: &Context<'_>) -> Result<Vec<Filing>> {
        self.prefetch(ctx, ctx.look_ahead()).await?;
        Ok(self.page.items.iter().cloned().map(Filing).collect())
    }

    /// Where this page stands.
    async fn page_info(&self) -> PageInfo {
        let cursors: Vec<String> = self.page.items.iter().map(|f| ids::encode_cursor(f.id)).collect();
        PageInfo::forward(self.page.has_next_page, &cursors)
    }

    /// How many filings match the filter in all (costs one counting query; ask only when shown).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        filings::count_filings(deps(ctx), &self.actor, &self.filter).await.map_err(gql)
    }
}

impl FilingConnection {
    /// Loads the children the items asked for, for the whole page at once.
    async fn prefetch(&self, ctx: &Context<'_>, items: async_graphql::Lookahead<'_>) -> Result<()> {
        loaders::prefetch(ctx, items, &self.page.items).await
    }
}

pub struct FilingEventConnection {
    page: Page<(FeedPosition, models::FilingEvent)>,
}

/// A page of the change feed (Relay cursor connection).
#[Object]
impl FilingEventConnection {
    /// The events of this page with their cursors.
    async fn edges(&self) -> Vec<FilingEventEdge> {
        self.page
            .items
            .iter()
            .map(|(position, event)| FilingEventEdge {
                cursor: ids::encode_feed_cursor(*position),
                node: FilingEvent(event.clone()),
            })
            .collect()
    }

    /// The events of this page.
    async fn nodes(&self) -> Vec<FilingEvent> {
        self.page.items.iter().map(|(_, event)| FilingEvent(event.clone())).collect()
    }

    /// Where this page stands. On the last page `endCursor` is where to resume later; an empty page has none (keep
    /// the cursor you have).
    async fn page_info(&self) -> PageInfo {
        let cursors: Vec<String> = self.page.items.iter().map(|(p, _)| ids::encode_feed_cursor(*p)).collect();
        PageInfo::forward(self.page.has_next_page, &cursors)
    }
}

/// An event of the change feed with its cursor.
#[derive(async_graphql::SimpleObject)]
pub struct FilingEventEdge {
    /// Pass as `after` to continue after this event.
    pub cursor: String,
    /// The event.
    pub node: FilingEvent,
}
