//! The webhook dispatcher: claims due deliveries, posts them signed per the Standard Webhooks specification, and
//! records the outcome. Any number of replicas may run one.
//!
//! - **Claims** are leases (`locked_until`), taken with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite has one
//!   writer at a time). A dispatcher that dies loses its claims when the lease ends, and another takes them over.
//! - **At least once, in order per filing**: a delivery is claimed only when no earlier delivery of the same filing
//!   to the same endpoint is still pending (in the change feed's order), and on PostgreSQL only once the events'
//!   order is settled (no older transaction still running, as for the feed). A delivery that was posted but whose
//!   outcome was not recorded (the process died) is posted again with the same `webhook-id`.
//! - **Retries** on timeouts, connection errors and answers other than 2xx, with exponential backoff and jitter, for
//!   `webhooks.retry_for_hours` from the delivery's creation; then it is marked FAILED. An endpoint that has answered
//!   nothing successfully for `webhooks.disable_after_hours` is disabled and its administrators get an email.
//! - **A hostile receiver** cannot stall anyone else: posts time out (`webhooks.timeout_seconds`), redirects are
//!   failures, at most 1 KiB of an answer is read, addresses are checked on every connection, and one endpoint may
//!   hold at most a quarter of a dispatcher's concurrent posts; the dispatcher does not wait for a slow post before
//!   starting others.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::prelude::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, Statement,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{DeliveryStatus, PING, webhook_id};
use crate::config::WebhooksConfig;
use crate::db::write_txn;
use crate::mail::Stage;
use crate::mail::outbox::{self, Envelope};
use crate::metrics::WebhookMetrics;
use crate::pii::Keyring;
use crate::services::models::FilingEvent;
use crate::services::webhook::Egress;
use entity::webhook_delivery::{self, Column};
use entity::webhook_endpoint;

/// The most of a receiver's answer that is read (and kept, in part, as the last error).
const MAX_ANSWER_BYTES: usize = 1024;

/// How events and pings look on the wire (the GraphQL layer's shapes, with global IDs): `data` of the message.
pub trait Payloads: Send + Sync {
    /// The `data` of an event's message: the event as the API shows a `FilingEvent`.
    fn event(&self, event: &FilingEvent) -> serde_json::Value;
    /// The `data` of a test ping to `endpoint`.
    fn ping(&self, endpoint: Uuid) -> serde_json::Value;
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub claimed: usize,
    pub delivered: usize,
    /// Failed for now; another attempt is scheduled.
    pub retrying: usize,
    /// Given up.
    pub failed: usize,
}

/// A claimed delivery, with what posting it needs.
pub struct Claim {
    pub row: webhook_delivery::Model,
    pub endpoint: Arc<webhook_endpoint::Model>,
    /// The event delivered; none for a ping (or when the event is gone).
    pub event: Option<entity::filing_event::Model>,
}

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Retrying,
    Failed,
    /// Another dispatcher took the delivery over (our lease ended), or its endpoint was removed.
    Lost,
}

/// Posts the registrars' webhooks.
pub struct Dispatcher {
    db: DatabaseConnection,
    keys: Arc<Keyring>,
    config: WebhooksConfig,
    client: reqwest::Client,
    egress: Egress,
    payloads: Arc<dyn Payloads>,
    metrics: WebhookMetrics,
    worker: String,
    stop: CancellationToken,
}

impl Dispatcher {
    pub fn new(
        db: DatabaseConnection,
        keys: Arc<Keyring>,
        config: WebhooksConfig,
        payloads: Arc<dyn Payloads>,
        metrics: WebhookMetrics,
    ) -> anyhow::Result<Self> {
        let egress = Egress::for_endpoints(&config);
        let client = egress.client(std::time::Duration::from_secs(config.timeout_seconds.max(1)))?;
        let worker = format!("webhooks-{}", Uuid::now_v7().simple());
        Ok(Self { db, keys, config, client, egress, payloads, metrics, worker, stop: CancellationToken::new() })
    }

    /// This dispatcher, stopping when `stop` is cancelled: no new post starts, those in flight finish.
    pub fn stopping_with(self, stop: CancellationToken) -> Self {
        Self { stop, ..self }
    }

    /// The lease of a claim: long enough for the slowest post, whatever `lease_seconds` says.
    fn lease(&self) -> Duration {
        let timeout = i64::try_from(self.config.timeout_seconds).unwrap_or(i64::MAX / 4);
        Duration::seconds(self.config.lease_seconds.max(timeout.saturating_mul(2).saturating_add(5)))
    }

    /// How many posts one endpoint may have in flight in this dispatcher.
    fn per_endpoint(&self) -> usize {
        (self.config.concurrency / 4).max(1)
    }

    /// Claims one batch of due deliveries and posts them all, `concurrency` at a time (tests and tools; the
    /// server runs [`Dispatcher::run`]). One endpoint may take the whole batch.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<Pass, DbErr> {
        use futures_util::StreamExt;
        let batch = self.config.batch_size.max(1) as usize;
        let claimed = self.claim(now, batch, batch, &HashMap::new()).await?;
        let mut pass = Pass { claimed: claimed.len(), ..Pass::default() };
        let posts = claimed.into_iter().map(|claim| self.deliver(claim));
        let outcomes: Vec<Outcome> =
            futures_util::stream::iter(posts).buffer_unordered(self.config.concurrency.max(1)).collect().await;
        for outcome in outcomes {
            match outcome {
                Outcome::Delivered => pass.delivered += 1,
                Outcome::Retrying => pass.retrying += 1,
                Outcome::Failed => pass.failed += 1,
                Outcome::Lost => {}
            }
        }
        Ok(pass)
    }

    /// Passes until one claims nothing (or claims less than a batch).
    pub async fn run_until_idle(&self, now: DateTime<Utc>) -> Result<Pass, DbErr> {
        let mut total = Pass::default();
        loop {
            let pass = self.run_once(now).await?;
            total.claimed += pass.claimed;
            total.delivered += pass.delivered;
            total.retrying += pass.retrying;
            total.failed += pass.failed;
            if pass.claimed == 0 {
                return Ok(total);
            }
        }
    }

    /// Delivers until `stop`: claims as many deliveries as it has free posts (at most a quarter per endpoint),
    /// starts each as soon as it is claimed, and claims again when a post ends or every
    /// `webhooks.dispatch_interval_ms`. On stop it starts nothing new and lets the posts in flight finish.
    pub async fn run(self: Arc<Self>) {
        let mut in_flight: tokio::task::JoinSet<Uuid> = tokio::task::JoinSet::new();
        let mut per_endpoint: HashMap<Uuid, usize> = HashMap::new();
        let interval = std::time::Duration::from_millis(self.config.dispatch_interval_ms.max(10));
        let concurrency = self.config.concurrency.max(1);
        loop {
            if self.stop.is_cancelled() {
                break;
            }
            let free = concurrency.saturating_sub(in_flight.len()).min(self.config.batch_size.max(1) as usize);
            let mut claimed_any = false;
            if free > 0 {
                match self.claim(Utc::now(), free, self.per_endpoint(), &per_endpoint).await {
                    Ok(claims) => {
                        for claim in claims {
                            claimed_any = true;
                            let endpoint = claim.endpoint.id;
                            *per_endpoint.entry(endpoint).or_default() += 1;
                            let me = self.clone();
                            in_flight.spawn(async move {
                                me.deliver(claim).await;
                                endpoint
                            });
                        }
                    }
                    Err(error) => tracing::warn!(error = %error, "claiming webhook deliveries failed"),
                }
            }
            if claimed_any && in_flight.len() < concurrency {
                continue;
            }
            tokio::select! {
                biased;
                () = self.stop.cancelled() => break,
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => release(&mut per_endpoint, done),
                () = tokio::time::sleep(interval) => {}
            }
        }
        while let Some(done) = in_flight.join_next().await {
            release(&mut per_endpoint, done);
        }
    }

    /// Takes a lease on up to `limit` due deliveries that nobody holds, each the first pending one of its filing
    /// for its endpoint, and at most `per_endpoint` less what `in_flight` says an endpoint already has; with the
    /// endpoint and the event of each. Earliest due first.
    ///
    /// One statement takes the lease (`UPDATE … RETURNING`; on PostgreSQL its rows chosen `FOR UPDATE SKIP
    /// LOCKED`), after a plain read that finds whether anything is due at all, then one read of the claim's
    /// endpoints and one of its events. Each filing's turn and each endpoint's share are window functions over the
    /// pending deliveries (sorts, whatever the planner knows of the table: a `NOT EXISTS` for "no earlier pending
    /// delivery" became a nested loop over the whole table when its statistics were stale, 86 ms a claim at 1,400
    /// pending).
    pub async fn claim(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        per_endpoint: usize,
        in_flight: &HashMap<Uuid, usize>,
    ) -> Result<Vec<Claim>, DbErr> {
        let backend = self.db.get_database_backend();
        let postgres = backend == DatabaseBackend::Postgres;
        let mut values: Vec<sea_orm::Value> = vec![now.into()];
        // Endpoints with no room left here are not looked at.
        let full: Vec<String> = in_flight
            .iter()
            .filter(|(_, taken)| **taken >= per_endpoint)
            .map(|(endpoint, _)| bind(&mut values, (*endpoint).into()))
            .collect();
        let not_full =
            if full.is_empty() { String::new() } else { format!("AND d.endpoint_id NOT IN ({})", full.join(", ")) };
        // On PostgreSQL, as the change feed: an older transaction still running may yet add an earlier delivery of
        // the filing.
        let settled =
            if postgres { "AND d.event_txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint" } else { "" };
        let due = format!(
            "d.status = 'PENDING' AND d.next_attempt_at <= $1 AND (d.locked_until IS NULL OR d.locked_until < $1)
             AND (e.enabled OR d.event_type = '{PING}') {settled} {not_full}"
        );
        let probe_values = values.len();
        // How many more each endpoint may take: `per_endpoint`, less what it has in flight here.
        let mut room = String::new();
        for (endpoint, taken) in in_flight.iter().filter(|(_, taken)| **taken < per_endpoint) {
            room.push_str(&format!(" WHEN {} THEN {}", bind(&mut values, (*endpoint).into()), per_endpoint - taken));
        }
        let room = if room.is_empty() {
            per_endpoint.to_string()
        } else {
            format!("CASE d.endpoint_id{room} ELSE {per_endpoint} END")
        };
        let until = now + self.lease();
        let (until_mark, worker_mark) =
            (bind(&mut values, until.into()), bind(&mut values, self.worker.clone().into()));
        let statement = |sql: String, values: &[sea_orm::Value]| {
            let sql = if postgres { sql } else { sql.replace('$', "?") };
            Statement::from_sql_and_values(backend, sql, values.to_vec())
        };
        // Most looks find nothing: ask with a plain read first, so an idle dispatcher takes no write lock.
        let probe = format!(
            "{} SELECT 1 AS due FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
             WHERE {due} LIMIT 1",
            crate::db::BACKGROUND_POLL_MARK
        );
        if self.db.query_one_raw(statement(probe, &values[..probe_values])).await?.is_none() {
            return Ok(Vec::new());
        }
        let lock = if postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
        let order = "next_attempt_at, event_txid, event_seq";
        let take = format!(
            "UPDATE webhook_deliveries SET locked_until = {until_mark}, locked_by = {worker_mark}
             WHERE id IN (
                 SELECT t.id FROM webhook_deliveries t
                 WHERE t.id IN (
                     SELECT ranked.id FROM (
                         SELECT d.id, d.next_attempt_at, d.event_txid, d.event_seq,
                                row_number() OVER (PARTITION BY d.endpoint_id ORDER BY {order}) AS place,
                                {room} AS room
                         FROM (
                             SELECT p.*, row_number() OVER (
                                 PARTITION BY p.endpoint_id, COALESCE(p.filing_id, p.id)
                                 ORDER BY p.event_txid, p.event_seq) AS turn
                             FROM webhook_deliveries p WHERE p.status = 'PENDING'
                         ) d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                         WHERE d.turn = 1 AND {due}
                     ) ranked
                     WHERE ranked.place <= ranked.room
                     ORDER BY {order}
                     LIMIT {limit})
                   AND t.status = 'PENDING' AND (t.locked_until IS NULL OR t.locked_until < $1)
                 {lock})
             RETURNING *"
        );
        let rows = self.db.query_all_raw(statement(take, &values)).await?;
        let mut rows: Vec<webhook_delivery::Model> =
            rows.iter().map(|row| webhook_delivery::Model::from_query_result(row, "")).collect::<Result<_, _>>()?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        rows.sort_by_key(|r| (r.next_attempt_at, r.event_txid, r.event_seq));
        let endpoints: HashMap<Uuid, Arc<webhook_endpoint::Model>> = webhook_endpoint::Entity::find()
            .filter(webhook_endpoint::Column::Id.is_in(rows.iter().map(|r| r.endpoint_id)))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|e| (e.id, Arc::new(e)))
            .collect();
        let event_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.event_id).collect();
        let events: HashMap<Uuid, entity::filing_event::Model> = if event_ids.is_empty() {
            HashMap::new()
        } else {
            entity::filing_event::Entity::find()
                .filter(entity::filing_event::Column::Id.is_in(event_ids))
                .all(&self.db)
                .await?
                .into_iter()
                .map(|e| (e.id, e))
                .collect()
        };
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                // An endpoint deleted since: its deliveries went with it.
                let endpoint = endpoints.get(&row.endpoint_id)?.clone();
                // One event goes to every endpoint that wants it.
                let event = row.event_id.and_then(|id| events.get(&id).cloned());
                Some(Claim { row, endpoint, event })
            })
            .collect())
    }

    /// Posts one claimed delivery and records how it went; errors are recorded or logged, never returned.
    async fn deliver(&self, claim: Claim) -> Outcome {
        let started = Instant::now();
        let sent = match self.message(&claim) {
            Ok(body) => self.post(&claim.endpoint, &claim.row, body).await,
            Err(error) => Err((None, error)),
        };
        let latency = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        match self.record(&claim.endpoint, &claim.row, sent, latency).await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::warn!(delivery = %claim.row.id, error = %error, "a webhook delivery could not be recorded");
                Outcome::Lost
            }
        }
    }

    /// The body of a delivery: `{type, timestamp, data}`.
    fn message(&self, claim: &Claim) -> Result<Vec<u8>, String> {
        let (data, at) = match (claim.row.event_id, &claim.event) {
            (None, _) => (self.payloads.ping(claim.row.endpoint_id), claim.row.created_at),
            (Some(_), None) => return Err("the event is gone".to_owned()),
            (Some(_), Some(event)) => match FilingEvent::try_from(event.clone()) {
                Ok(event) => (self.payloads.event(&event), event.created_at),
                Err(error) => return Err(format!("the event cannot be read: {error}")),
            },
        };
        let message = serde_json::json!({
            "type": claim.row.event_type,
            "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": data,
        });
        serde_json::to_vec(&message).map_err(|e| e.to_string())
    }

    /// Posts `body`; the HTTP status of a 2xx answer, or the status (if any) and what went wrong.
    async fn post(
        &self,
        endpoint: &webhook_endpoint::Model,
        row: &webhook_delivery::Model,
        body: Vec<u8>,
    ) -> Result<u16, (Option<u16>, String)> {
        let url = url::Url::parse(&endpoint.url).map_err(|e| (None, format!("not a URL: {e}")))?;
        if let Some(why) = self.egress.refuse(&url) {
            return Err((None, format!("refused: {why}")));
        }
        let msg_id = webhook_id(row);
        let timestamp = Utc::now().timestamp();
        let signature = self.signatures(endpoint, &msg_id, timestamp, &body).map_err(|e| (None, e))?;
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", concat!("beian-webhooks/", env!("CARGO_PKG_VERSION")))
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| (None, describe(&e)))?;
        let status = response.status().as_u16();
        let answer = read_some(response).await;
        if (200..300).contains(&status) {
            Ok(status)
        } else if (300..400).contains(&status) {
            Err((Some(status), format!("answered {status}: redirects are not followed")))
        } else {
            Err((Some(status), format!("answered {status}: {}", answer.trim())))
        }
    }

    /// `v1,<signature>` under the current secret, and under the previous one while a rotation overlaps.
    fn signatures(
        &self,
        endpoint: &webhook_endpoint::Model,
        msg_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<String, String> {
        let mut sealed = vec![&endpoint.secret];
        if let (Some(previous), Some(until)) = (&endpoint.previous_secret, endpoint.previous_secret_expires_at)
            && until > Utc::now()
        {
            sealed.push(previous);
        }
        let mut signatures = Vec::new();
        for secret in sealed {
            let secret = self.keys.open(endpoint.tenant_id, secret).map_err(|e| format!("the secret: {e}"))?;
            let signer = standardwebhooks::Webhook::new(&secret).map_err(|e| format!("the secret: {e}"))?;
            signatures.push(signer.sign(msg_id, timestamp, body).map_err(|e| e.to_string())?);
        }
        Ok(signatures.join(" "))
    }

    /// Records an attempt, if this dispatcher still holds the delivery.
    async fn record(
        &self,
        endpoint: &webhook_endpoint::Model,
        row: &webhook_delivery::Model,
        sent: Result<u16, (Option<u16>, String)>,
        latency_ms: i32,
    ) -> Result<Outcome, DbErr> {
        let now = Utc::now();
        let txn = write_txn(&self.db).await?;
        let mut update = webhook_delivery::Entity::update_many()
            .col_expr(Column::Attempts, sea_orm::sea_query::ExprTrait::add(Expr::col(Column::Attempts), Expr::value(1)))
            .col_expr(Column::LastAttemptAt, Expr::value(now))
            .col_expr(Column::LastLatencyMs, Expr::value(latency_ms))
            .col_expr(Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(Column::LockedBy, Expr::value(Option::<String>::None));
        let outcome = match &sent {
            Ok(status) => {
                update = update
                    .col_expr(Column::Status, Expr::value(DeliveryStatus::Delivered.as_str()))
                    .col_expr(Column::LastStatusCode, Expr::value(i32::from(*status)))
                    .col_expr(Column::LastError, Expr::value(Option::<String>::None))
                    .col_expr(Column::DeliveredAt, Expr::value(now));
                Outcome::Delivered
            }
            Err((status, error)) => {
                let give_up = now >= row.created_at + Duration::hours(self.config.retry_for_hours.max(0));
                let status_value = if give_up { DeliveryStatus::Failed } else { DeliveryStatus::Pending };
                update = update
                    .col_expr(Column::Status, Expr::value(status_value.as_str()))
                    .col_expr(Column::LastStatusCode, Expr::value(status.map(i32::from)))
                    .col_expr(Column::LastError, Expr::value(truncate(error, 500)))
                    .col_expr(Column::NextAttemptAt, Expr::value(now + backoff(&self.config, row.attempts + 1)));
                if give_up { Outcome::Failed } else { Outcome::Retrying }
            }
        };
        let updated = update
            .filter(Column::Id.eq(row.id))
            .filter(Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(Column::LockedBy.eq(self.worker.clone()))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(Outcome::Lost);
        }
        if row.event_type != PING {
            self.track_endpoint(&txn, endpoint, sent.is_ok(), now, sent.as_ref().err().map(|e| e.1.as_str())).await?;
        }
        txn.commit().await?;
        self.metrics.attempted(match outcome {
            Outcome::Delivered => "delivered",
            Outcome::Retrying => "retrying",
            _ => "failed",
        });
        if let Err((_, error)) = &sent {
            tracing::info!(delivery = %row.id, endpoint = %endpoint.id, attempts = row.attempts + 1, %error,
                "webhook delivery failed");
        }
        Ok(outcome)
    }

    /// Keeps the endpoint's failure run: cleared by an answer, started by a failure, and when it has lasted
    /// `disable_after_hours` the endpoint is disabled and its administrators are told (once: in the same
    /// transaction that disables it).
    async fn track_endpoint(
        &self,
        txn: &impl ConnectionTrait,
        endpoint: &webhook_endpoint::Model,
        answered: bool,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), DbErr> {
        use webhook_endpoint::Column as E;
        if answered {
            if endpoint.failing_since.is_some() {
                webhook_endpoint::Entity::update_many()
                    .col_expr(E::FailingSince, Expr::value(Option::<DateTime<Utc>>::None))
                    .filter(E::Id.eq(endpoint.id))
                    .exec(txn)
                    .await?;
            }
            return Ok(());
        }
        webhook_endpoint::Entity::update_many()
            .col_expr(E::FailingSince, Expr::value(now))
            .filter(E::Id.eq(endpoint.id))
            .filter(E::FailingSince.is_null())
            .exec(txn)
            .await?;
        let since = endpoint.failing_since.unwrap_or(now);
        if !endpoint.enabled || now < since + Duration::hours(self.config.disable_after_hours.max(0)) {
            return Ok(());
        }
        let reason =
            format!("no successful delivery since {}", since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let disabled = webhook_endpoint::Entity::update_many()
            .col_expr(E::Enabled, Expr::value(false))
            .col_expr(E::DisabledReason, Expr::value(reason))
            .col_expr(E::UpdatedAt, Expr::value(now))
            .filter(E::Id.eq(endpoint.id))
            .filter(E::Enabled.eq(true))
            .exec(txn)
            .await?;
        if disabled.rows_affected == 0 {
            return Ok(());
        }
        tracing::warn!(endpoint = %endpoint.id, "webhook endpoint disabled: it kept failing");
        let admins = entity::account::Entity::find()
            .filter(entity::account::Column::TenantId.eq(endpoint.tenant_id))
            .filter(entity::account::Column::Role.eq(entity::enums::Role::Admin))
            .filter(entity::account::Column::Status.eq(entity::enums::AccountStatus::Active))
            .all(txn)
            .await?;
        for admin in &admins {
            let payload = serde_json::json!({
                "displayName": admin.display_name,
                "url": endpoint.url,
                "description": endpoint.description,
                "failingSince": since,
                "lastError": error.map(|e| truncate(e, 300)),
            });
            let envelope = Envelope::account(endpoint.tenant_id, Stage::WebhookDisabled, admin, payload);
            outbox::enqueue(txn, &self.keys, envelope).await?;
        }
        Ok(())
    }
}

/// The wait before attempt `attempts + 1`: from `retry_base_seconds`, doubling, at most `retry_max_seconds`, less up
/// to a fifth at random so that a receiver coming back is not hit by every retry at once.
fn backoff(config: &WebhooksConfig, attempts: i32) -> Duration {
    let base = config.retry_base_seconds.max(1);
    let cap = config.retry_max_seconds.max(base);
    let exponent = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(30);
    let full = base.saturating_mul(1_i64 << exponent).min(cap);
    let jitter = rand::rng().random_range(0..=full.saturating_mul(1000) / 5);
    Duration::milliseconds(full.saturating_mul(1000) - jitter)
}

/// Adds a value to a statement's and returns its placeholder.
fn bind(values: &mut Vec<sea_orm::Value>, value: sea_orm::Value) -> String {
    values.push(value);
    format!("${}", values.len())
}

fn release(per_endpoint: &mut HashMap<Uuid, usize>, done: Result<Uuid, tokio::task::JoinError>) {
    if let Ok(endpoint) = done
        && let Some(count) = per_endpoint.get_mut(&endpoint)
    {
        *count = count.saturating_sub(1);
        if *count == 0 {
            per_endpoint.remove(&endpoint);
        }
    }
}

/// Reads at most [`MAX_ANSWER_BYTES`] of an answer (the rest is never read), as text.
async fn read_some(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk[..chunk.len().min(MAX_ANSWER_BYTES - bytes.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&bytes).chars().filter(|c| !c.is_control()).collect()
}

/// A transport error with its causes (reqwest names only the URL at the top).
fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "cannot post"
    };
    let mut out = what.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn truncate(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_cap() {
        let config = WebhooksConfig { retry_base_seconds: 10, retry_max_seconds: 3600, ..WebhooksConfig::default() };
        for (attempts, full) in [(1, 10), (2, 20), (3, 40), (10, 3600), (40, 3600)] {
            let wait = backoff(&config, attempts).num_milliseconds();
            assert!(wait <= full * 1000 && wait >= full * 800, "attempt {attempts}: {wait} ms");
        }
    }
}
