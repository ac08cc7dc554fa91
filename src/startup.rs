//! Building and running the server: `Application::build` binds the port (0 in tests) before serving.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, redact_url};
use crate::mail::dispatcher::Dispatcher;
use crate::mail::transport::Transport;
use crate::metrics::Metrics;
use crate::services::Deps;
use crate::storage::Storage;
use crate::{db, graphql, http, http_server};

/// A bound, ready-to-run server.
pub struct Application {
    http_listener: TcpListener,
    local_addr: SocketAddr,
    /// What the services work with: the database, keys, storage, senders, settings and clock.
    deps: Deps,
    transport: Transport,
    /// This server's metrics: its routes and its mail dispatchers count here, and its `/metrics` reads them.
    metrics: Metrics,
    config: Config,
    /// The SQLite database's folder, this process's while it serves (none for PostgreSQL).
    _data_dir_lock: Option<db::DataDirLock>,
    /// Stops the background work when the server shuts down.
    stop: CancellationToken,
    /// Passes the announcements of changed filings (every replica's, on PostgreSQL) to this process's subscribers.
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Connects to the database (migrating where the configuration says so) and binds the listen address.
    /// A SQLite database's folder is taken first: a second server on it is refused before it migrates anything.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let lock = db::lock_data_dir(&config)?;
        let db = db::connect_ready(&config).await?;
        tracing::info!(database = %redact_url(&config.database_url()), "database ready");
        let mut app = Self::with_database(config, db).await?;
        app._data_dir_lock = lock;
        Ok(app)
    }

    /// Binds the listen address and serves on a database from [`db::connect_ready`].
    pub async fn with_database(config: Config, db: DatabaseConnection) -> anyhow::Result<Self> {
        // A bad setting stops the start, before anything listens.
        let deps = Deps::from_config(&config, db).await?;
        let transport = Transport::from_config(&config)?;
        let http_listener = TcpListener::bind(config.listen).await?;
        let local_addr = http_listener.local_addr()?;
        let stop = CancellationToken::new();
        // Listening starts before the first request, so no announcement after start-up is missed.
        let listener = Some(deps.changes.listen(stop.clone()).await?);
        Ok(Self {
            http_listener,
            local_addr,
            deps,
            transport,
            metrics: Metrics::default(),
            config,
            _data_dir_lock: None,
            stop,
            listener,
        })
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The database connection the server uses.
    pub fn db(&self) -> &DatabaseConnection {
        &self.deps.db
    }

    /// What the server's services work with (tests call services directly with it).
    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    /// Serves until `shutdown` completes. Then: `/readyz` answers 503 for `shutdown_drain_seconds` while requests
    /// are still served; the listener closes; in-flight requests, the messages the mail dispatcher has in hand (the
    /// rest of its batch is given back at once) and the background jobs' current pass finish, for at most
    /// `shutdown_grace_seconds`. What is still claimed then is picked up by another replica when its lease ends.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let stop = self.stop.clone();
        let draining = Arc::new(AtomicBool::new(false));
        let schema = graphql::build_schema(self.schema_data());
        let app = http::routes(
            schema,
            self.deps.clone(),
            &self.config,
            draining.clone(),
            self.deps.storage.health(),
            self.metrics.clone(),
        );
        let background = self.start_background_jobs();
        let drain = Duration::from_secs(self.config.shutdown_drain_seconds);
        let grace = Duration::from_secs(self.config.shutdown_grace_seconds);
        let deadline = Arc::new(std::sync::OnceLock::new());
        let signal = draining_on(shutdown, stop.clone(), draining, deadline.clone(), drain, grace);
        tracing::info!(address = %self.local_addr, "beian listening; GraphQL at /graphql");
        let timeouts = http_server::Timeouts {
            idle: Duration::from_secs(self.config.http.idle_timeout_seconds.max(1)),
            header_read: Duration::from_secs(self.config.http.header_read_timeout_seconds.max(1)),
            grace,
        };
        let served = http_server::serve(self.http_listener, app, timeouts, signal).await;
        // The server also returns when it fails; background work stops then too.
        stop.cancel();
        let deadline = deadline.get().copied().unwrap_or_else(|| tokio::time::Instant::now() + grace);
        finish_background_jobs(background, deadline).await;
        tracing::info!("stopped");
        Ok(served?)
    }

    /// What every resolver reaches: this server's database, storage, settings and senders.
    fn schema_data(&self) -> crate::graphql::context::AppData {
        crate::graphql::context::AppData { deps: self.deps.clone(), graphql: Arc::new(self.config.graphql.clone()) }
    }

    /// Starts the background jobs (the change listener, upload clean-up, storage checks, the retention purge, SMS
    /// deadlines and, where configured, the webhook and mail dispatchers); each stops taking work when `self.stop` is cancelled.
    fn start_background_jobs(&mut self) -> Vec<tokio::task::JoinHandle<()>> {
        let stop = self.stop.clone();
        let mut background = Vec::new();
        background.extend(self.listener.take());
        let jobs = &self.config.jobs;
        background.push(tokio::spawn(repeat(stop.clone(), jobs.upload_cleanup_interval_seconds, {
            let deps = self.deps.clone();
            move || clean_up_uploads(deps.clone())
        })));
        background.push(tokio::spawn(repeat(stop.clone(), self.config.storage.check_interval_seconds, {
            let storage = self.deps.storage.clone();
            move || check_storage(storage.clone())
        })));
        background.push(tokio::spawn(repeat(stop.clone(), jobs.retention_interval_seconds, {
            let (deps, days) = (self.deps.clone(), self.config.pii.abandoned_draft_retention_days);
            move || purge_abandoned_drafts(deps.clone(), days)
        })));
        background.push(tokio::spawn(repeat(stop.clone(), jobs.sms_deadline_interval_seconds, {
            let (deps, hours) = (self.deps.clone(), self.config.mail.sms_reminder_hours);
            move || enforce_sms_deadlines(deps.clone(), hours)
        })));
        if self.config.mail.max_attempts.is_some() {
            tracing::warn!(
                "mail.max_attempts is no longer used and is ignored: a message that keeps failing is \
                retried for mail.retry_for_hours (24 by default); remove max_attempts from the configuration"
            );
        }
        if self.config.webhooks.dispatch {
            match self.webhook_dispatcher() {
                Ok(webhooks) => {
                    background.push(tokio::spawn(Arc::new(webhooks.stopping_with(stop.clone())).run()));
                }
                Err(error) => tracing::error!(error = %error, "the webhook dispatcher cannot start"),
            }
        }
        if self.config.mail.dispatch {
            let dispatcher = Arc::new(self.dispatcher().stopping_with(stop.clone()));
            let stopped = stop.clone();
            background.push(tokio::spawn(repeat(
                stop.clone(),
                self.config.mail.dispatch_interval_seconds,
                move || dispatch_mail(dispatcher.clone(), stopped.clone()),
            )));
        }
        background
    }

    /// A dispatcher of this server's outbox with its configured transport, the registrars' templates and branding
    /// from the services, counting into this server's metrics (tests drive it with their own clock).
    pub fn dispatcher(&self) -> Dispatcher {
        Dispatcher::new(
            self.deps.db.clone(),
            self.deps.keys.clone(),
            self.transport.clone(),
            self.config.mail.clone(),
            Arc::new(crate::services::notifications::RegistrarTemplates),
            self.metrics.mail(),
        )
    }

    /// A dispatcher of the registrars' webhooks, counting into this server's metrics (tests drive it with their
    /// own clock).
    pub fn webhook_dispatcher(&self) -> anyhow::Result<crate::services::webhooks::dispatcher::Dispatcher> {
        crate::services::webhooks::dispatcher::Dispatcher::new(
            self.deps.db.clone(),
            self.deps.keys.clone(),
            self.config.webhooks.clone(),
            Arc::new(graphql::objects::webhook::WirePayloads),
            self.metrics.webhooks(),
        )
    }

    /// The object store the server uses.
    pub fn storage(&self) -> Arc<Storage> {
        self.deps.storage.clone()
    }
}

/// Runs `job` every `seconds` until `stop`; a pass that has started is finished, never cut off. A pass that panics
/// is logged and the next one runs on time: one bad row must not end a background job for the life of the process.
/// Waits for `shutdown`, then drains: `/readyz` answers 503 for `drain` (so load balancers stop sending), background
/// work stops taking new work, and the listener closes with `grace` left for in-flight work (`deadline`).
async fn draining_on(
    shutdown: impl Future<Output = ()> + Send,
    stop: CancellationToken,
    draining: Arc<AtomicBool>,
    deadline: Arc<std::sync::OnceLock<tokio::time::Instant>>,
    drain: Duration,
    grace: Duration,
) {
    shutdown.await;
    let _ = deadline.set(tokio::time::Instant::now() + drain + grace);
    draining.store(true, Ordering::SeqCst);
    // Background work stops taking new work now and finishes what it holds within the grace period.
    stop.cancel();
    if !drain.is_zero() {
        tracing::info!(seconds = drain.as_secs(), "draining: /readyz answers 503");
        tokio::time::sleep(drain).await;
    }
    tracing::info!(grace_seconds = grace.as_secs(), "closing the listener; finishing in-flight work");
}

/// Lets the background jobs finish what they hold until `deadline`, then aborts those still running (their claims
/// expire by lease, so another replica takes them over).
async fn finish_background_jobs(background: Vec<tokio::task::JoinHandle<()>>, deadline: tokio::time::Instant) {
    for task in background {
        let abort = task.abort_handle();
        if tokio::time::timeout_at(deadline, task).await.is_err() {
            abort.abort();
            tracing::warn!("background work did not finish within the grace period; its claims expire by lease");
        }
    }
}

async fn repeat<F, Fut>(stop: CancellationToken, seconds: u64, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    use futures_util::FutureExt;
    let mut tick = tokio::time::interval(Duration::from_secs(seconds.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            _ = tick.tick() => {
                if std::panic::AssertUnwindSafe(job()).catch_unwind().await.is_err() {
                    tracing::error!("a background job's pass panicked; the next pass runs on schedule");
                }
            }
        }
    }
}

/// Delivers the due outbox, batch after batch, until it is empty or the process stops (the messages in hand are
/// finished first, the rest of the batch given back). Safe on several replicas.
async fn dispatch_mail(dispatcher: Arc<Dispatcher>, stop: CancellationToken) {
    loop {
        match dispatcher.run_once(chrono::Utc::now()).await {
            Ok(pass) if pass.claimed as u64 >= dispatcher.batch_size() && !stop.is_cancelled() => continue,
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(error = ?error, "dispatching mail failed");
                return;
            }
        }
    }
}

/// Ends the MIIT SMS step of filings whose 24-hour window passed, and reminds those who have not confirmed when the
/// deadline is near. Safe on several replicas.
async fn enforce_sms_deadlines(deps: Deps, reminder_hours: i64) {
    if let Err(error) = crate::services::notifications::send_sms_reminders(&deps, reminder_hours).await {
        tracing::warn!(error = ?error, "sending SMS reminders failed");
    }
    // The filings it moves are announced by their events, as every change is.
    if let Err(error) = crate::services::workflow::expire_sms_checks(&deps).await {
        tracing::warn!(error = ?error, "enforcing SMS deadlines failed");
    }
}

/// Checks that the store answers and the bucket exists (recreating a deleted one); the outcome is what `/readyz` and
/// `/metrics` report. A replica that started while the store was down finds it here when it returns.
async fn check_storage(storage: Arc<Storage>) {
    let was = storage.health().state();
    match storage.check().await {
        Ok(()) if was != crate::storage::StorageState::Up => tracing::info!("storage reachable"),
        Ok(()) => {}
        Err(error) => tracing::warn!(%error, "storage check failed"),
    }
}

/// Purges abandoned drafts past their retention.
async fn purge_abandoned_drafts(deps: Deps, days: u32) {
    match crate::services::personal_data::purge_abandoned_drafts(&deps, days).await {
        Ok(purged) if !purged.is_empty() => tracing::info!(drafts = purged.len(), "retention: abandoned drafts purged"),
        Ok(_) => {}
        Err(error) => tracing::warn!(error = ?error, "retention purge failed"),
    }
}

async fn clean_up_uploads(deps: Deps) {
    if let Err(error) = crate::services::attachments::clean_up_expired_uploads(&deps).await {
        tracing::warn!(error = ?error, "cleaning up expired uploads failed");
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
