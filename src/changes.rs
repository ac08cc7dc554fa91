//! Announcements of changed filings, for `filingUpdated` subscribers on every replica.
//!
//! Every change to a filing, or to anything hanging off it, writes a filing event in the changing transaction
//! (`services::audit::record`), and the events are the one source of announcements: nothing announces by hand.
//! - On PostgreSQL a trigger on `filing_events` issues a `NOTIFY` on [`CHANNEL`] for each event (migration
//!   `m20261204_000022`). PostgreSQL delivers it only if the transaction commits, so a rolled-back change is never
//!   announced and a committed one always is. Each process `LISTEN`s and passes what it hears to its own
//!   subscribers, so a change made through one replica reaches subscribers connected to another.
//! - On SQLite (one process) the server reads the events written since the last look, by row id, every
//!   [`SQLITE_POLL`]: SQLite has one writer at a time, so row ids grow in commit order and none is skipped.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::BACKGROUND_POLL_MARK;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "beian_filing_changed";

/// How often the SQLite server looks for new events.
pub const SQLITE_POLL: Duration = Duration::from_millis(200);

/// A filing changed: (tenant, filing).
pub type FilingChanged = (Uuid, Uuid);

/// Hands this process's subscribers the filings that changed, as the database announces them.
#[derive(Clone)]
pub struct FilingChanges {
    db: DatabaseConnection,
    local: broadcast::Sender<FilingChanged>,
}

impl FilingChanges {
    pub fn new(db: DatabaseConnection) -> Self {
        let (local, _) = broadcast::channel(1024);
        Self { db, local }
    }

    /// This process's stream of announcements.
    pub fn subscribe(&self) -> broadcast::Receiver<FilingChanged> {
        self.local.subscribe()
    }

    /// Starts following the announcements (returns once following, so nothing committed after start-up is missed)
    /// and passes them on until `stop`.
    pub async fn listen(&self, stop: CancellationToken) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        if self.db.get_database_backend() == DatabaseBackend::Postgres {
            self.listen_postgres(stop).await
        } else {
            let last = newest_event(&self.db).await?;
            Ok(tokio::spawn(tail_events(self.db.clone(), self.local.clone(), last, stop)))
        }
    }

    async fn listen_postgres(&self, stop: CancellationToken) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let pool = self.db.get_postgres_connection_pool().clone();
        let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let local = self.local.clone();
        Ok(tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    () = stop.cancelled() => return,
                    received = listener.recv() => received,
                };
                match received {
                    Ok(notification) => match decode(notification.payload()) {
                        Some(changed) => {
                            let _ = local.send(changed);
                        }
                        None => tracing::warn!(channel = CHANNEL, "ignoring a malformed notification"),
                    },
                    // The database is being closed (shutdown): let its connection go.
                    Err(sqlx::Error::PoolClosed) => return,
                    // The listener reconnects by itself on the next receive; what was announced meanwhile is
                    // lost, and subscribers see it with the next change.
                    Err(error) => {
                        tracing::warn!(error = %error, "listening for filing changes failed; reconnecting");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }))
    }
}

/// The row id of the newest event (SQLite).
async fn newest_event(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let sql = "SELECT COALESCE(MAX(rowid), 0) AS last FROM filing_events";
    let row = db.query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, sql)).await?;
    Ok(row.map(|r| r.try_get::<i64>("", "last")).transpose()?.unwrap_or(0))
}

/// Passes on the events written after `last` (SQLite), every [`SQLITE_POLL`], until `stop`. One announcement per
/// filing and look: a change that wrote two events is one change to a subscriber.
async fn tail_events(
    db: DatabaseConnection,
    local: broadcast::Sender<FilingChanged>,
    mut last: i64,
    stop: CancellationToken,
) {
    let sql = format!(
        "{BACKGROUND_POLL_MARK} SELECT rowid AS seq, tenant_id, filing_id FROM filing_events WHERE rowid > ? ORDER BY rowid \
         LIMIT 1000"
    );
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(SQLITE_POLL) => {}
        }
        let statement = Statement::from_sql_and_values(DatabaseBackend::Sqlite, &sql, [last.into()]);
        let rows = match db.query_all_raw(statement).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(error = %error, "reading new filing events failed; trying again");
                continue;
            }
        };
        let mut heard: Vec<FilingChanged> = Vec::new();
        for row in rows {
            let read = (|| {
                Ok::<_, DbErr>((row.try_get("", "seq")?, row.try_get("", "tenant_id")?, row.try_get("", "filing_id")?))
            })();
            match read {
                Ok((seq, tenant, filing)) => {
                    last = seq;
                    if !heard.contains(&(tenant, filing)) {
                        heard.push((tenant, filing));
                    }
                }
                Err(error) => tracing::warn!(error = %error, "ignoring an unreadable filing event"),
            }
        }
        for changed in heard {
            let _ = local.send(changed);
        }
    }
}

fn decode(payload: &str) -> Option<FilingChanged> {
    let (tenant, filing) = payload.split_once(':')?;
    Some((Uuid::parse_str(tenant).ok()?, Uuid::parse_str(filing).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_are_read_as_the_trigger_writes_them() {
        let (tenant, filing) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(decode(&format!("{tenant}:{filing}")), Some((tenant, filing)));
        assert_eq!(decode("nonsense"), None);
        assert_eq!(decode("a:b"), None);
    }
}
