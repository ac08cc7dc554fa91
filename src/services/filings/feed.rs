//! The change feed: every event of the registrar's filings, oldest first after a cursor, for systems that poll.
//!
//! The order is one a reader can resume in without missing or repeating anything, even while transactions commit
//! out of order (migration `m20261205_000023`): on PostgreSQL `(transaction id, sequence)`, showing only events of
//! transactions older than the oldest one still running; on SQLite the row id, which grows in commit order because
//! SQLite has one writer at a time.

use crate::language::Text;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Order};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait,
};
use tracing::instrument;

use crate::auth::Actor;
use crate::services::Deps;
use crate::services::audit::FilingAction;
use crate::services::models::FilingEvent;
use crate::services::{Page, ServiceError};
use entity::filing_event;

/// A position in the feed: after the event it was read from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedPosition {
    /// The writing transaction (PostgreSQL); 0 on SQLite.
    pub txid: i64,
    /// The event's sequence number (PostgreSQL) or row id (SQLite).
    pub seq: i64,
}

/// Which events of the feed to return; the position moves past the others all the same.
#[derive(Clone, Debug, Default)]
pub struct FeedFilter {
    /// Only these kinds of event.
    pub actions: Option<Vec<FilingAction>>,
    /// Only events at or after this instant.
    pub since: Option<DateTime<Utc>>,
}

/// A page of the registrar's events after `after`, oldest first, each with its position. Staff and API keys only:
/// an applicant follows their own filings' `events`.
#[instrument(skip_all, fields(tenant = %actor.tenant_id))]
pub async fn filing_events(
    deps: &Deps,
    actor: &Actor,
    filter: &FeedFilter,
    first: u64,
    after: Option<FeedPosition>,
) -> Result<Page<(FeedPosition, FilingEvent)>, ServiceError> {
    if actor.owner_scope().is_some() {
        return Err(ServiceError::Forbidden(Text::new(
            "the change feed is for registrar staff and API keys",
            "变更流仅供接入商工作人员和 API 密钥使用",
        )));
    }
    let after = after.unwrap_or_default();
    let backend = deps.db.get_database_backend();
    let mut query = filing_event::Entity::find().filter(filing_event::Column::TenantId.eq(actor.tenant_id));
    query = if backend == DatabaseBackend::Postgres {
        query
            .expr_as(Expr::cust("filing_events.txid::text::bigint"), "feed_txid")
            .expr_as(Expr::cust("filing_events.seq"), "feed_seq")
            // Only settled transactions: whatever commits later sorts after everything returned here.
            .filter(Expr::cust("filing_events.txid < pg_snapshot_xmin(pg_current_snapshot())"))
            .filter(Expr::cust_with_values(
                "(filing_events.txid, filing_events.seq) > (CAST($1 AS xid8), $2)",
                [after.txid.to_string().into(), sea_orm::Value::from(after.seq)],
            ))
            .order_by(Expr::cust("filing_events.txid"), Order::Asc)
            .order_by(Expr::cust("filing_events.seq"), Order::Asc)
    } else {
        query
            .expr_as(Expr::cust("0"), "feed_txid")
            .expr_as(Expr::cust("filing_events.rowid"), "feed_seq")
            .filter(Expr::cust_with_values("filing_events.rowid > ?", [after.seq]))
            .order_by(Expr::cust("filing_events.rowid"), Order::Asc)
    };
    if let Some(actions) = &filter.actions {
        let names: Vec<&'static str> = actions.iter().map(|a| <&'static str>::from(*a)).collect();
        query = query.filter(filing_event::Column::Action.is_in(names));
    }
    if let Some(since) = filter.since {
        query = query.filter(filing_event::Column::CreatedAt.gte(since));
    }
    let statement = query.limit(first + 1).build(backend);
    let rows = deps.db.query_all_raw(statement).await?;
    let has_next_page = rows.len() as u64 > first;
    let items = rows
        .iter()
        .take(first as usize)
        .map(|row| {
            let position = FeedPosition { txid: row.try_get("", "feed_txid")?, seq: row.try_get("", "feed_seq")? };
            let event = FilingEvent::try_from(filing_event::Model::from_query_result(row, "")?)?;
            Ok((position, event))
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    Ok(Page { items, has_next_page })
}
