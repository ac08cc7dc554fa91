//! Query root: filings, the filing list, and `node`.

use async_graphql::{Context, ID, Object, Result};

use super::context::{actor, deps, settings};
use super::error::gql;
use super::ids::{self, Kind};
use super::inputs::{FilingEventFilterInput, FilingFilterInput};
use super::loaders;
use super::objects::filing::{Filing, FilingEdge, FilingEvent};
use super::objects::node::Node;
use super::objects::website::Website;
use super::paging::{PageInfo, page_size};
use crate::auth::Actor;
use crate::services::filings::{self, FeedPosition, FilingFilter};
use crate::services::{Page, ServiceError, models};

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
        let deps = deps(ctx);
        let node = match ids::decode_any(&id, "id").map_err(gql)? {
            (Kind::Filing, id) => {
                Node::Filing(Filing(crate::services::access::get_filing(deps, actor, id).await.map_err(gql)?))
            }
            (Kind::Website, id) => Node::Website(Website(filings::get_website(deps, actor, id).await.map_err(gql)?)),
            (Kind::FilingEvent, id) => {
                Node::FilingEvent(FilingEvent(filings::get_event(deps, actor, id).await.map_err(gql)?))
            }
            (Kind::Attachment, id) => Node::Attachment(super::attachments::node(ctx, id).await?),
            (Kind::SmsCheck | Kind::MobileVerification, _) => return Err(gql(ServiceError::NotFound)),
            (Kind::Notification, id) => Node::Notification(super::mail::node(ctx, id).await?),
            (kind @ (Kind::WebhookEndpoint | Kind::WebhookDelivery), id) => {
                super::webhooks::node(ctx, kind, id).await?.ok_or_else(|| gql(ServiceError::NotFound))?
            }
            (kind @ (Kind::Account | Kind::ApiKey), id) => {
                super::accounts::node(ctx, kind, id).await?.ok_or_else(|| gql(ServiceError::NotFound))?
            }
        };
        Ok(node)
    }
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
