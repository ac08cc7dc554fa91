//! Prometheus metrics at `/metrics` (OpenMetrics text): GraphQL requests by operation and status and their
//! latency, the database pool, failed mail sends, and, read from the database at each scrape, the outbox (by
//! status, how many are being retried, the age of the oldest undelivered message) and the filings by state.
//! No label carries personal data; operation names are bounded (a client cannot grow the label set at will).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

/// Distinct operation names kept as labels; later ones count as `other`.
const MAX_OPERATIONS: usize = 200;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// How a mail send failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendFailure {
    /// Retried later.
    Transient,
    /// Parked as failed.
    Permanent,
}

impl SendFailure {
    const ALL: [Self; 2] = [Self::Transient, Self::Permanent];

    fn label(self) -> KindLabels {
        let kind = match self {
            Self::Transient => "transient",
            Self::Permanent => "permanent",
        };
        KindLabels { kind: kind.to_owned() }
    }
}

/// What a server's mail dispatchers count: the sends the relay (or the file transport) did not take, by kind. One
/// is made with the server's [`Metrics`] at start-up and handed to its dispatchers; clones share the counters, so
/// every dispatcher of that server counts into what its `/metrics` reports, and another server in the same process
/// counts its own.
#[derive(Clone, Debug)]
pub struct MailMetrics {
    send_failures: Family<KindLabels, Counter>,
}

impl Default for MailMetrics {
    fn default() -> Self {
        let send_failures = Family::<KindLabels, Counter>::default();
        // Both kinds from the start, at 0, so that an alert on their rate has a series to read.
        for kind in SendFailure::ALL {
            drop(send_failures.get_or_create(&kind.label()));
        }
        Self { send_failures }
    }
}

impl MailMetrics {
    /// Counts a mail send that failed.
    pub fn send_failed(&self, kind: SendFailure) {
        self.send_failures.get_or_create(&kind.label()).inc();
    }
}

/// Why the exposition text could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("reading the gauges from the database failed: {0}")]
    Database(#[from] DbErr),
    #[error("encoding the exposition text failed")]
    Encode(#[from] std::fmt::Error),
}

/// What a server's webhook dispatchers count: attempts by outcome (`delivered`; `retrying`: failed, tried again
/// later; `failed`: given up). Clones share the counters.
#[derive(Clone, Debug)]
pub struct WebhookMetrics {
    attempts: Family<OutcomeLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

impl Default for WebhookMetrics {
    fn default() -> Self {
        let attempts = Family::<OutcomeLabels, Counter>::default();
        for outcome in ["delivered", "retrying", "failed"] {
            drop(attempts.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }));
        }
        Self { attempts }
    }
}

impl WebhookMetrics {
    /// Counts an attempt that ended as `outcome`.
    pub fn attempted(&self, outcome: &str) {
        self.attempts.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: String,
}

/// The metrics of one server, made at its start-up: its HTTP routes count requests here and its mail dispatchers
/// count into [`Metrics::mail`]. Clones share the counters.
#[derive(Clone)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabels, Histogram>,
    operations: Arc<Mutex<HashSet<String>>>,
    mail: MailMetrics,
    webhooks: WebhookMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 16))),
            operations: Arc::default(),
            mail: MailMetrics::default(),
            webhooks: WebhookMetrics::default(),
        }
    }
}

/// What a GraphQL request is counted as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Counted {
    /// A request with a valid credential, by the name of its operation (`anonymous` without one).
    Operation(Option<String>),
    /// A request without a valid credential: `unauthenticated`, whatever it names. Anyone can send any operation
    /// name, and the first 200 names seen would otherwise fill the label set, so that real operations later
    /// counted as `other`.
    Unauthenticated,
}

impl Metrics {
    /// The mail dispatchers' counters of this server (shared: what a dispatcher counts, `/metrics` reports).
    pub fn mail(&self) -> MailMetrics {
        self.mail.clone()
    }

    /// The webhook dispatchers' counters of this server.
    pub fn webhooks(&self) -> WebhookMetrics {
        self.webhooks.clone()
    }

    /// Counts a GraphQL request (by its operation name) with its HTTP status and duration.
    pub fn observe(&self, counted: &Counted, status: u16, seconds: f64) {
        let operation = match counted {
            Counted::Operation(name) => self.operation_label(name.as_deref()),
            Counted::Unauthenticated => "unauthenticated".to_owned(),
        };
        self.requests.get_or_create(&RequestLabels { operation: operation.clone(), status: status.to_string() }).inc();
        self.latency.get_or_create(&OperationLabels { operation }).observe(seconds);
    }

    fn operation_label(&self, operation: Option<&str>) -> String {
        let Some(name) = operation
            .filter(|n| !n.is_empty() && n.len() <= 64 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        else {
            return "anonymous".to_owned();
        };
        let mut known = self.operations.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if known.contains(name) || known.len() < MAX_OPERATIONS {
            known.insert(name.to_owned());
            name.to_owned()
        } else {
            "other".to_owned()
        }
    }

    /// The exposition text, with the gauges read now.
    pub async fn render(
        &self,
        db: &DatabaseConnection,
        storage: &crate::storage::StorageHealth,
    ) -> Result<String, MetricsError> {
        let mut registry = Registry::with_prefix("beian");
        registry.register("graphql_requests", "GraphQL requests by operation and HTTP status", self.requests.clone());
        registry.register(
            "graphql_request_duration_seconds",
            "GraphQL request latency by operation",
            self.latency.clone(),
        );
        let outbox = Family::<StatusLabels, Gauge>::default();
        let rows = count_by_status::<entity::outbox_message::Entity>(
            db,
            entity::outbox_message::Column::Status,
            entity::outbox_message::Column::Id,
        )
        .await?;
        for status in ["QUEUED", "SENT", "FAILED"] {
            let n = rows.iter().find(|(s, _)| s == status).map(|(_, n)| *n).unwrap_or(0);
            outbox.get_or_create(&StatusLabels { status: status.to_owned() }).set(n);
        }
        registry.register("outbox_messages", "Messages of the outbox by status (all registrars)", outbox);
        register_mail_delivery(&mut registry, db, &self.mail).await?;
        let deliveries = Family::<StatusLabels, Gauge>::default();
        let rows = count_by_status::<entity::webhook_delivery::Entity>(
            db,
            entity::webhook_delivery::Column::Status,
            entity::webhook_delivery::Column::Id,
        )
        .await?;
        for status in ["PENDING", "DELIVERED", "FAILED"] {
            let n = rows.iter().find(|(s, _)| s == status).map(|(_, n)| *n).unwrap_or(0);
            deliveries.get_or_create(&StatusLabels { status: status.to_owned() }).set(n);
        }
        registry.register("webhook_deliveries", "Webhook deliveries by status (all registrars)", deliveries);
        registry.register(
            "webhook_attempts",
            "Webhook posts by this server, by outcome: delivered, retrying (failed, tried again later), failed",
            self.webhooks.attempts.clone(),
        );
        let filings = Family::<StatusLabels, Gauge>::default();
        let rows =
            count_by_status::<entity::filing::Entity>(db, entity::filing::Column::Status, entity::filing::Column::Id)
                .await?;
        for (status, n) in rows {
            filings.get_or_create(&StatusLabels { status }).set(n);
        }
        registry.register("filings", "Filings by workflow state (all registrars)", filings);
        let pool = Family::<PoolLabels, Gauge>::default();
        let (size, idle) = pool_usage(db);
        pool.get_or_create(&PoolLabels { state: "idle".to_owned() }).set(idle);
        pool.get_or_create(&PoolLabels { state: "in_use".to_owned() }).set(size - idle);
        registry.register("db_pool_connections", "Database pool connections by state", pool);
        register_storage(&mut registry, storage);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)?;
        Ok(text)
    }
}

/// What an operator alerts on when mail does not go out: how many messages are being retried, how long the oldest
/// undelivered one has waited (it grows through a relay outage), and the failed sends.
async fn register_mail_delivery(
    registry: &mut Registry,
    db: &DatabaseConnection,
    mail: &MailMetrics,
) -> Result<(), DbErr> {
    use entity::outbox_message::{Column, Entity};
    let queued = || Entity::find().filter(Column::Status.eq(entity::enums::OutboxStatus::Queued));
    let retrying = queued().filter(Column::Attempts.gt(0)).count(db).await?;
    let gauge = Gauge::<i64>::default();
    gauge.set(i64::try_from(retrying).unwrap_or(i64::MAX));
    registry.register("outbox_retrying_messages", "Queued messages that failed at least once (all registrars)", gauge);
    let oldest: Option<chrono::DateTime<chrono::Utc>> =
        queued().select_only().column(Column::CreatedAt).order_by_asc(Column::CreatedAt).into_tuple().one(db).await?;
    let age = oldest.map(|at| (chrono::Utc::now() - at).num_seconds().max(0)).unwrap_or(0);
    let gauge = Gauge::<i64>::default();
    gauge.set(age);
    registry.register(
        "outbox_oldest_undelivered_age_seconds",
        "Age of the oldest queued message, 0 when none waits (all registrars)",
        gauge,
    );
    registry.register(
        "mail_send_failures",
        "Mail sends that failed, by kind: transient (retried) or permanent (parked as failed)",
        mail.send_failures.clone(),
    );
    Ok(())
}

/// The object store as this process sees it: `beian_storage_up` (1 when its last call reached the store, 0 when the
/// store was unavailable or not checked yet) and `beian_storage_failed_calls_total`.
fn register_storage(registry: &mut Registry, storage: &crate::storage::StorageHealth) {
    let up = Gauge::<i64>::default();
    up.set(i64::from(storage.state() == crate::storage::StorageState::Up));
    registry.register("storage_up", "Whether the object store answered this process's last call (1) or not (0)", up);
    let failed = Counter::<u64>::default();
    failed.inc_by(storage.failed_calls());
    registry.register("storage_failed_calls", "Calls to the object store that failed (timeouts, errors)", failed);
}

/// How many rows of a table are in each status.
async fn count_by_status<E: EntityTrait>(
    db: &DatabaseConnection,
    status: E::Column,
    id: E::Column,
) -> Result<Vec<(String, i64)>, DbErr> {
    E::find().select_only().column(status).column_as(id.count(), "count").group_by(status).into_tuple().all(db).await
}

/// The name of a document's first operation (`query FilingCount { ... }` is `FilingCount`), for requests that do
/// not say `operationName`; none for an anonymous one.
pub fn operation_name(query: &str) -> Option<String> {
    let rest = query.trim_start();
    let rest = ["query", "mutation", "subscription"].iter().find_map(|keyword| rest.strip_prefix(keyword))?;
    if !rest.starts_with(|c: char| c.is_whitespace()) {
        return None;
    }
    let name: String = rest.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some(name)
}

/// (open connections, idle connections) of the pool.
fn pool_usage(db: &DatabaseConnection) -> (i64, i64) {
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (i64::from(pool.size()), pool.num_idle() as i64)
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (i64::from(pool.size()), pool.num_idle() as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mail_send_failures_are_counted_per_server_and_shared_by_its_dispatchers() {
        use super::{Metrics, SendFailure};
        let count =
            |metrics: &Metrics, kind: SendFailure| metrics.mail.send_failures.get_or_create(&kind.label()).get();
        let (one, two) = (Metrics::default(), Metrics::default());
        // Two dispatchers of the first server (handles from it) count into its one counter.
        let (a, b) = (one.mail(), one.mail());
        a.send_failed(SendFailure::Transient);
        b.send_failed(SendFailure::Transient);
        a.send_failed(SendFailure::Permanent);
        assert_eq!(count(&one, SendFailure::Transient), 2);
        assert_eq!(count(&one, SendFailure::Permanent), 1);
        // The second server in the same process counted nothing.
        assert_eq!(count(&two, SendFailure::Transient), 0);
        assert_eq!(count(&two, SendFailure::Permanent), 0);
    }

    #[test]
    fn operation_names_are_read_off_the_document() {
        use super::operation_name;
        assert_eq!(operation_name("query FilingCount { filings { totalCount } }").as_deref(), Some("FilingCount"));
        assert_eq!(operation_name("  mutation Submit($input: X!) { a }").as_deref(), Some("Submit"));
        assert_eq!(operation_name("mutation($input: X!) { a }"), None);
        assert_eq!(operation_name("{ me { name } }"), None);
        assert_eq!(operation_name("queryX { a }"), None);
    }
}
