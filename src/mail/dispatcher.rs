//! The outbox dispatcher: claims due messages, renders them once, sends them, and records the outcome. Several
//! dispatchers (replicas) may run at once: a claim is a lease on the row (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
//! SQLite has one writer at a time), renewed while the batch is being sent; every outcome is recorded only by the
//! holder of the lease, and a message whose dispatcher died is taken over when its lease ends, with the same
//! Message-ID. Transient failures are retried with capped exponential backoff and jitter for `mail.retry_for_hours`;
//! permanent ones, and messages still failing after that, are parked as failed.
//!
//! What is guaranteed: **at least once**, with the same Message-ID on every attempt, so that relays and mail clients
//! that de-duplicate by Message-ID show a resend once. Each message is its own short transaction: it is marked SENT
//! right after the relay's 250 to its data, before the next message starts (lettre keeps the pooled connection
//! open; there is no QUIT in between). A
//! message is sent again only when the relay took it but its dispatcher could not record that: the process was
//! killed (or lost the database) between the relay's 250 and the SENT update, or while the relay already held the
//! data and had not answered yet, or the shutdown grace period ran out in the middle of that one exchange. That is
//! at most the messages in hand (`mail.concurrency` per dispatcher), never the rest of a batch: on shutdown a
//! dispatcher starts no new message, finishes those in hand and gives the rest of its batch back at once.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Duration, Utc};
use futures_util::{FutureExt, StreamExt, stream};
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use sea_orm::prelude::Expr;
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::templates::{self, Branding, Overrides, TenantTemplates};
use super::transport::{SendError, Transport};
use super::{MailError, MailLanguage, Stage};
use crate::config::MailConfig;
use crate::db::write_txn;
use crate::domain::text::to_single_line;
use crate::metrics::{MailMetrics, SendFailure};
use crate::pii::Keyring;
use entity::enums::OutboxStatus;
use entity::outbox_message::{self, Column};

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub claimed: usize,
    pub sent: usize,
    /// Failed for now; another attempt is scheduled.
    pub retrying: usize,
    /// Parked as failed.
    pub failed: usize,
    /// Not started because the process is stopping: given back for another dispatcher to take at once.
    pub given_back: usize,
}

/// Delivers the outbox.
pub struct Dispatcher {
    db: DatabaseConnection,
    /// Opens the sealed recipients.
    keys: Arc<Keyring>,
    transport: Transport,
    config: MailConfig,
    /// The registrars' own templates and branding (kept by the services).
    tenants: Arc<dyn TenantTemplates>,
    /// The failed sends, as this server's `/metrics` reports them.
    metrics: MailMetrics,
    /// Names this dispatcher's leases.
    worker: String,
    /// Cancelled when the process stops: no new message is started, those in hand are finished, and the rest of the
    /// batch is given back.
    stop: CancellationToken,
}

/// The registrar's side of a message: its sender, reply-to and branding, and its own templates.
struct Sender {
    from: Mailbox,
    reply_to: Option<Mailbox>,
    branding: Branding,
    overrides: Overrides,
}

impl Dispatcher {
    /// A dispatcher of the outbox in `db`, whose recipients `keys` open: `tenants` gives each registrar's templates and branding, and its failed
    /// sends are counted in `metrics` (the server's, read at `/metrics`).
    pub fn new(
        db: DatabaseConnection,
        keys: Arc<Keyring>,
        transport: Transport,
        config: MailConfig,
        tenants: Arc<dyn TenantTemplates>,
        metrics: MailMetrics,
    ) -> Self {
        let worker = format!("dispatcher-{}", Uuid::now_v7().simple());
        Self { db, keys, transport, config, tenants, metrics, worker, stop: CancellationToken::new() }
    }

    /// This dispatcher, stopping when `stop` is cancelled (the server's shutdown): a pass in progress then starts no
    /// new message, finishes the ones in hand and gives the others back, so that a short grace period does not cut
    /// a send in the middle and another replica need not wait for the lease to end.
    pub fn stopping_with(self, stop: CancellationToken) -> Self {
        Self { stop, ..self }
    }

    /// Another dispatcher on the same database and transport (as a second replica would run).
    pub fn another(&self) -> Self {
        Self::new(
            self.db.clone(),
            self.keys.clone(),
            self.transport.clone(),
            self.config.clone(),
            self.tenants.clone(),
            self.metrics.clone(),
        )
    }

    /// How many messages one pass claims at most.
    pub fn batch_size(&self) -> u64 {
        self.config.batch_size
    }

    /// Claims and delivers due messages until none is left (or a pass claims less than a batch).
    pub async fn run_until_idle(&self, now: DateTime<Utc>) -> Result<Pass, MailError> {
        let mut total = Pass::default();
        loop {
            let pass = self.run_once(now).await?;
            total.claimed += pass.claimed;
            total.sent += pass.sent;
            total.retrying += pass.retrying;
            total.failed += pass.failed;
            total.given_back += pass.given_back;
            if (pass.claimed as u64) < self.config.batch_size || self.stop.is_cancelled() {
                return Ok(total);
            }
        }
    }

    /// One batch: claim, then deliver the messages, `mail.concurrency` at a time, renewing the claim on those not
    /// done yet while it lasts.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<Pass, MailError> {
        if self.stop.is_cancelled() {
            return Ok(Pass::default());
        }
        let claimed = self.claim(now).await?;
        if claimed.is_empty() {
            return Ok(Pass::default());
        }
        let ids: Vec<Uuid> = claimed.iter().map(|m| m.id).collect();
        let mut pass = Pass { claimed: claimed.len(), ..Pass::default() };
        let mut senders: HashMap<Uuid, Option<Sender>> = HashMap::new();
        for message in &claimed {
            if let std::collections::hash_map::Entry::Vacant(entry) = senders.entry(message.tenant_id) {
                entry.insert(self.sender(message.tenant_id).await?);
            }
        }
        let deliveries = claimed.into_iter().map(|message| {
            let sender = senders.get(&message.tenant_id).and_then(Option::as_ref);
            self.isolated(message, sender, now)
        });
        let all = stream::iter(deliveries).buffer_unordered(self.config.concurrency.max(1)).collect::<Vec<_>>();
        let outcomes: Vec<Result<Outcome, MailError>> = tokio::select! {
            biased;
            outcomes = all => outcomes,
            never = self.keep_claims(&ids, now) => match never {},
        };
        // Every delivery ran to its end (each records its own outcome); the first failure, if any, is the pass's.
        for outcome in outcomes {
            match outcome? {
                Outcome::Sent => pass.sent += 1,
                Outcome::Retrying => pass.retrying += 1,
                Outcome::Failed => pass.failed += 1,
                Outcome::GivenBack => pass.given_back += 1,
                Outcome::Lost => {}
            }
        }
        Ok(pass)
    }

    /// Takes a lease on up to a batch of due messages that nobody holds.
    pub async fn claim(&self, now: DateTime<Utc>) -> Result<Vec<outbox_message::Model>, MailError> {
        let due = || {
            outbox_message::Entity::find()
                .filter(Column::Status.eq(OutboxStatus::Queued))
                .filter(Condition::any().add(Column::NextAttemptAt.is_null()).add(Column::NextAttemptAt.lte(now)))
                .filter(Condition::any().add(Column::LockedUntil.is_null()).add(Column::LockedUntil.lt(now)))
        };
        // Most passes find nothing: ask with a plain read first, so an idle dispatcher does not take SQLite's write
        // lock (or open a transaction on PostgreSQL) every few seconds.
        if due().one(&self.db).await?.is_none() {
            return Ok(Vec::new());
        }
        let txn = write_txn(&self.db).await?;
        let mut query = due().order_by_asc(Column::Id).limit(self.config.batch_size);
        if self.db.get_database_backend() == DatabaseBackend::Postgres {
            query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = query.all(&txn).await?;
        if rows.is_empty() {
            txn.rollback().await?;
            return Ok(rows);
        }
        let until = now + Duration::seconds(self.config.lease_seconds);
        outbox_message::Entity::update_many()
            .col_expr(Column::LockedUntil, Expr::value(until))
            .col_expr(Column::LockedBy, Expr::value(self.worker.clone()))
            .filter(Column::Id.is_in(rows.iter().map(|r| r.id)))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows
            .into_iter()
            .map(|r| outbox_message::Model { locked_until: Some(until), locked_by: Some(self.worker.clone()), ..r })
            .collect())
    }

    /// Renews the claim on the batch's messages not done yet, every third of the lease, until the pass ends (the
    /// caller drops this future then). Without it, a batch (or one slow send) that outlasted the lease was taken over
    /// and sent a second time by another dispatcher while this one was still sending. Time runs from the pass's
    /// clock, as the claim's did.
    async fn keep_claims(&self, ids: &[Uuid], now: DateTime<Utc>) -> std::convert::Infallible {
        let lease = self.config.lease_seconds.max(1);
        let every = std::time::Duration::from_millis(u64::try_from(lease).unwrap_or(1) * 1000 / 3);
        let started = std::time::Instant::now();
        loop {
            tokio::time::sleep(every).await;
            let fresh = now + Duration::from_std(started.elapsed()).unwrap_or_default();
            let renewed = outbox_message::Entity::update_many()
                .col_expr(Column::LockedUntil, Expr::value(fresh + Duration::seconds(lease)))
                .filter(Column::Id.is_in(ids.iter().copied()))
                .filter(Column::Status.eq(OutboxStatus::Queued))
                .filter(Column::LockedBy.eq(self.worker.clone()))
                // Done (sent, or waiting for a retry) or given back: not ours to hold any more.
                .filter(Column::LockedUntil.is_not_null())
                .exec(&self.db)
                .await;
            if let Err(error) = renewed {
                tracing::warn!(error = %error, "renewing the claim on a mail batch failed; retrying");
            }
        }
    }

    /// Gives a claimed message back unsent (the process is stopping): another dispatcher may take it at once.
    async fn give_back(&self, message: &outbox_message::Model) -> Result<Outcome, MailError> {
        outbox_message::Entity::update_many()
            .col_expr(Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(Column::LockedBy, Expr::value(Option::<String>::None))
            .filter(Column::Id.eq(message.id))
            .filter(Column::Status.eq(OutboxStatus::Queued))
            .filter(Column::LockedBy.eq(self.worker.clone()))
            .exec(&self.db)
            .await?;
        Ok(Outcome::GivenBack)
    }

    async fn sender(&self, tenant_id: Uuid) -> Result<Option<Sender>, MailError> {
        let Some(tenant) = entity::tenant::Entity::find_by_id(tenant_id).one(&self.db).await? else {
            return Ok(None);
        };
        let default: Mailbox =
            self.config.from.parse().map_err(|e: lettre::address::AddressError| MailError::Sender(e.to_string()))?;
        let address = tenant.mail_sender_address.as_deref().and_then(|a| a.parse().ok()).unwrap_or(default.email);
        // Names are one line since input refuses line breaks; values stored before that are made one line here.
        let name = to_single_line(tenant.mail_sender_name.as_deref().unwrap_or(&tenant.name));
        let reply_to = tenant.mail_reply_to.as_deref().and_then(|a| a.parse().ok()).map(|a| Mailbox::new(None, a));
        let overrides = self.tenants.overrides(&self.db, tenant_id).await?;
        Ok(Some(Sender {
            from: Mailbox::new(Some(name), address),
            reply_to,
            branding: self.tenants.branding(&tenant),
            overrides,
        }))
    }

    /// Delivers one message so that nothing about it can stop the others: a panic while it is built or sent (a
    /// bug, or a value the mail library cannot encode) parks it as failed with the reason, and the pass goes on.
    /// (Before this, one name with a line break made lettre panic, which ended the dispatcher; after a restart the
    /// same message was claimed again and ended it again, and no registrar's mail went out.)
    async fn isolated(
        &self,
        message: outbox_message::Model,
        sender: Option<&Sender>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, MailError> {
        // Stopping: what has not started yet is not started now.
        if self.stop.is_cancelled() {
            return self.give_back(&message).await;
        }
        let kept = message.clone();
        match AssertUnwindSafe(self.deliver(message, sender, now)).catch_unwind().await {
            Ok(outcome) => outcome,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                self.fail(&kept, &format!("the message could not be built or sent: {what}"), now).await
            }
        }
    }

    async fn deliver(
        &self,
        message: outbox_message::Model,
        sender: Option<&Sender>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, MailError> {
        let Some(sender) = sender else {
            return self.fail(&message, "the registrar no longer exists", now).await;
        };
        // Render once, before the first attempt, and keep it: every attempt sends the same message.
        let message = match (&message.subject, &message.message_id) {
            (Some(_), Some(_)) => message,
            _ => match self.render(&message, sender) {
                Ok((subject, text, html, message_id)) => {
                    let kept = outbox_message::Entity::update_many()
                        .col_expr(Column::Subject, Expr::value(subject.clone()))
                        .col_expr(Column::BodyText, Expr::value(text.clone()))
                        .col_expr(Column::BodyHtml, Expr::value(html.clone()))
                        .col_expr(Column::MessageId, Expr::value(message_id.clone()))
                        .col_expr(Column::UpdatedAt, Expr::value(now))
                        .filter(Column::Id.eq(message.id))
                        .filter(Column::LockedBy.eq(self.worker.clone()))
                        .exec(&self.db)
                        .await?;
                    if kept.rows_affected == 0 {
                        return Ok(Outcome::Lost);
                    }
                    outbox_message::Model {
                        subject: Some(subject),
                        body_text: Some(text),
                        body_html: Some(html),
                        message_id: Some(message_id),
                        ..message
                    }
                }
                Err(reason) => return self.fail(&message, &reason, now).await,
            },
        };
        let email = match build(&self.keys, &message, sender) {
            Ok(email) => email,
            Err(reason) => return self.fail(&message, &reason, now).await,
        };
        // Renew the lease right before sending (the pass renews it while it runs, too): a message whose lease ran out
        // anyway (the database was unreachable for a while) must not be sent when another dispatcher has claimed it
        // since.
        let fresh = Utc::now().max(now);
        let renewed = outbox_message::Entity::update_many()
            .col_expr(Column::LockedUntil, Expr::value(fresh + Duration::seconds(self.config.lease_seconds)))
            .filter(Column::Id.eq(message.id))
            .filter(Column::Status.eq(OutboxStatus::Queued))
            .filter(Column::LockedBy.eq(self.worker.clone()))
            .filter(Column::LockedUntil.gt(fresh))
            .exec(&self.db)
            .await?;
        if renewed.rows_affected == 0 {
            return Ok(Outcome::Lost);
        }
        let sent = self.transport.send(message.id, email).await;
        self.record(&message, sent, now).await
    }

    /// Records what the relay answered, at once and in a statement of its own: a message the relay accepted is SENT
    /// before this delivery's slot starts the next message.
    async fn record(
        &self,
        message: &outbox_message::Model,
        sent: Result<Option<std::path::PathBuf>, SendError>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, MailError> {
        match sent {
            Ok(path) => {
                let mut done = outbox_message::Entity::update_many();
                // A message that carried a one-time token (sign-up, reset, invitation link) keeps no copy of it
                // once it is out: the database then holds nothing that would open the account.
                if let Some(scrubbed) = without_secrets(&message.payload) {
                    done = done
                        .col_expr(Column::Payload, Expr::value(scrubbed))
                        .col_expr(Column::BodyText, Expr::value(Option::<String>::None))
                        .col_expr(Column::BodyHtml, Expr::value(Option::<String>::None));
                }
                let done = done
                    .col_expr(Column::Status, Expr::value(OutboxStatus::Sent))
                    .col_expr(Column::Attempts, Expr::value(message.attempts + 1))
                    .col_expr(Column::SentAt, Expr::value(now))
                    .col_expr(Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
                    .col_expr(Column::LastError, Expr::value(Option::<String>::None))
                    .col_expr(Column::UpdatedAt, Expr::value(now))
                    .filter(Column::Id.eq(message.id))
                    .filter(Column::LockedBy.eq(self.worker.clone()))
                    .exec(&self.db)
                    .await?;
                match path {
                    Some(path) => tracing::info!(message = %message.id, stage = %message.template,
                        path = %path.display(), "mail written"),
                    None => tracing::info!(message = %message.id, stage = %message.template, "mail sent"),
                }
                Ok(if done.rows_affected == 0 { Outcome::Lost } else { Outcome::Sent })
            }
            Err(SendError::Permanent(reason)) => {
                self.metrics.send_failed(SendFailure::Permanent);
                self.fail(message, &reason, now).await
            }
            Err(SendError::Transient(reason)) => {
                self.metrics.send_failed(SendFailure::Transient);
                self.retry_later(message, &reason, now).await
            }
        }
    }

    /// Schedules another attempt after a transient failure, for `mail.retry_for_hours` from the first failure (an
    /// outage of the relay of a few hours delays mail; it does not lose it); after that the message is parked as
    /// failed. The last attempt falls at the end of the period.
    async fn retry_later(
        &self,
        message: &outbox_message::Model,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Outcome, MailError> {
        let attempts = message.attempts + 1;
        let since = message.retrying_since.unwrap_or(now);
        let hours = self.config.retry_for_hours.max(0);
        let until = since + Duration::hours(hours);
        if now >= until {
            let why = format!("{reason} (still failing after retrying for {hours} hours, {attempts} attempts)");
            return self.fail(message, &why, now).await;
        }
        let next = (now + self.backoff(attempts)).min(until);
        let retried = outbox_message::Entity::update_many()
            .col_expr(Column::Attempts, Expr::value(attempts))
            .col_expr(Column::NextAttemptAt, Expr::value(next))
            .col_expr(Column::RetryingSince, Expr::value(since))
            .col_expr(Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(Column::LastError, Expr::value(reason.to_owned()))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(message.id))
            .filter(Column::LockedBy.eq(self.worker.clone()))
            .exec(&self.db)
            .await?;
        tracing::warn!(message = %message.id, attempts, next = %next, error = %reason, "mail not sent; retrying");
        Ok(if retried.rows_affected == 0 { Outcome::Lost } else { Outcome::Retrying })
    }

    /// Parks a message as failed (an administrator may retry it).
    async fn fail(
        &self,
        message: &outbox_message::Model,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Outcome, MailError> {
        let failed = outbox_message::Entity::update_many()
            .col_expr(Column::Status, Expr::value(OutboxStatus::Failed))
            .col_expr(Column::Attempts, Expr::value(message.attempts + 1))
            .col_expr(Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(Column::LastError, Expr::value(reason.to_owned()))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(message.id))
            .filter(Column::LockedBy.eq(self.worker.clone()))
            .exec(&self.db)
            .await?;
        tracing::error!(message = %message.id, stage = %message.template, error = reason, "mail failed");
        Ok(if failed.rows_affected == 0 { Outcome::Lost } else { Outcome::Failed })
    }

    /// The wait before attempt `attempts + 1`: doubling from the base, capped, with jitter (half to all of it), so
    /// messages that failed together do not retry together.
    fn backoff(&self, attempts: i32) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(30);
        let full = self.config.retry_base_seconds.saturating_mul(1_i64 << exponent).min(self.config.retry_max_seconds);
        let jittered = (full as f64) * (0.5 + rand::random::<f64>() * 0.5);
        Duration::milliseconds((jittered * 1000.0) as i64)
    }

    fn render(
        &self,
        message: &outbox_message::Model,
        sender: &Sender,
    ) -> Result<(String, String, String, String), String> {
        let stage: Stage = message.template.parse().map_err(|_| format!("unknown stage {}", message.template))?;
        let language = message.language.as_deref().and_then(|l| l.parse::<MailLanguage>().ok());
        let rendered = templates::render(stage, language, &sender.overrides, &sender.branding, &message.payload)
            .map_err(|e| format!("the {stage} template does not render: {e}"))?;
        let domain = sender.from.email.domain().to_owned();
        let subject = to_single_line(&rendered.subject);
        Ok((subject, rendered.text, rendered.html, format!("<{}@{domain}>", message.id)))
    }
}

enum Outcome {
    Sent,
    Retrying,
    Failed,
    /// Another dispatcher took the message over (our lease ended): the outcome is theirs to record.
    Lost,
    /// Not started: the process is stopping.
    GivenBack,
}

/// The payload without its one-time token and the links that carry it, if it had one.
fn without_secrets(payload: &serde_json::Value) -> Option<serde_json::Value> {
    let fields = payload.as_object()?;
    fields.contains_key("token").then(|| {
        let kept = fields.iter().filter(|(k, _)| !matches!(k.as_str(), "token" | "url"));
        serde_json::Value::Object(kept.map(|(k, v)| (k.clone(), v.clone())).collect())
    })
}

/// The email of a rendered message.
fn build(keys: &Keyring, message: &outbox_message::Model, sender: &Sender) -> Result<Message, String> {
    let recipient = super::outbox::recipient(keys, message).ok_or("the recipient's address does not open")?;
    let address = recipient.parse().map_err(|e| format!("not a deliverable address: {e}"))?;
    // Header values are one line (names stored before input refused line breaks, a subject a template made).
    let to = Mailbox::new(message.recipient_name.as_deref().map(to_single_line), address);
    let mut builder = Message::builder()
        .from(sender.from.clone())
        .to(to)
        .subject(to_single_line(message.subject.as_deref().unwrap_or_default()))
        .message_id(message.message_id.clone())
        .date(SystemTime::now());
    if let Some(reply_to) = &sender.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            message.body_text.clone().unwrap_or_default(),
            message.body_html.clone().unwrap_or_default(),
        ))
        .map_err(|e| format!("cannot build the message: {e}"))
}
