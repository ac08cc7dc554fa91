//! Announcements of changed filings, for `filingUpdated` subscribers on every replica.
//!
//! On PostgreSQL an announcement is a `NOTIFY` on [`CHANNEL`]; each process `LISTEN`s and passes what it hears to
//! its own subscribers, so a change made through one replica reaches subscribers connected to another (the
//! announcing process hears itself the same way). On SQLite, a single process, announcements stay in memory.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "beian_filing_changed";

/// A filing changed: (tenant, filing).
pub type FilingChanged = (Uuid, Uuid);

/// Announces changed filings and hands them to this process's subscribers.
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

    /// Whether announcements travel through the database (several processes may serve subscribers).
    fn shared(&self) -> bool {
        self.db.get_database_backend() == DatabaseBackend::Postgres
    }

    /// Tells every subscriber, on every replica, that the filing changed. Call it after the change committed.
    pub async fn announce(&self, changed: FilingChanged) {
        if !self.shared() {
            // No subscriber is not an error.
            let _ = self.local.send(changed);
            return;
        }
        let statement = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), encode(changed).into()],
        );
        if let Err(error) = self.db.execute_raw(statement).await {
            // Subscribers elsewhere miss this one; those of this process still hear it.
            tracing::warn!(error = %error, "announcing a filing change failed");
            let _ = self.local.send(changed);
        }
    }

    /// This process's stream of announcements.
    pub fn subscribe(&self) -> broadcast::Receiver<FilingChanged> {
        self.local.subscribe()
    }

    /// On PostgreSQL, starts listening for announcements from every replica (returns once listening, so nothing
    /// announced after start-up is missed) and passes them on until `stop`. Nothing to do on SQLite.
    pub async fn listen(&self, stop: CancellationToken) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
        if !self.shared() {
            return Ok(None);
        }
        let pool = self.db.get_postgres_connection_pool().clone();
        let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let local = self.local.clone();
        Ok(Some(tokio::spawn(async move {
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
        })))
    }
}

fn encode((tenant, filing): FilingChanged) -> String {
    format!("{}:{}", tenant.simple(), filing.simple())
}

fn decode(payload: &str) -> Option<FilingChanged> {
    let (tenant, filing) = payload.split_once(':')?;
    Some((Uuid::parse_str(tenant).ok()?, Uuid::parse_str(filing).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_survive_the_trip_through_the_database() {
        let changed = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(decode(&encode(changed)), Some(changed));
        assert_eq!(decode("nonsense"), None);
        assert_eq!(decode("a:b"), None);
    }
}
