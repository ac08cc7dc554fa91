//! Building and running the server: `Application::build` binds the port (0 in tests) before serving.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::{EndpointExt, Server};
use sea_orm::DatabaseConnection;

use crate::config::{Config, redact_url};
use crate::domain::reference::ReferenceData;
use crate::mail::dispatcher::Dispatcher;
use crate::mail::transport::Transport;
use crate::services::accounts::AuthContext;
use crate::services::mobile::{LivenessChecker, SmsSender};
use crate::storage::Storage;
use crate::{db, graphql, http};

/// A bound, ready-to-run server.
pub struct Application {
    acceptor: TcpAcceptor,
    local_addr: SocketAddr,
    db: DatabaseConnection,
    auth: Arc<AuthContext>,
    reference: Arc<ReferenceData>,
    storage: Arc<Storage>,
    updates: tokio::sync::broadcast::Sender<crate::graphql::context::FilingChanged>,
    transport: Transport,
    sms: Arc<SmsSender>,
    liveness: Arc<LivenessChecker>,
    config: Config,
}

impl Application {
    /// Connects to the database (migrating where the configuration says so) and binds the listen address.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = db::connect_ready(&config).await?;
        tracing::info!(database = %redact_url(&config.database_url()), "database ready");
        Self::with_database(config, db).await
    }

    /// Binds the listen address and serves on an already connected and migrated database.
    pub async fn with_database(config: Config, db: DatabaseConnection) -> anyhow::Result<Self> {
        let acceptor = TcpListener::bind(config.listen).into_acceptor().await?;
        let local_addr = acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().copied())
            .ok_or_else(|| anyhow::anyhow!("the listener has no socket address"))?;
        let secret = config.jwt_secret().map_err(|e| anyhow::anyhow!(e))?;
        let auth = Arc::new(AuthContext::new(&config.auth, &secret)?);
        let reference = config.reference_data().map_err(|e| anyhow::anyhow!(e))?;
        let storage = Arc::new(Storage::connect(&config).await?);
        let (updates, _) = tokio::sync::broadcast::channel(1024);
        let transport = Transport::from_config(&config)?;
        let sms = Arc::new(SmsSender::from_config(&config.mobile)?);
        let liveness = Arc::new(LivenessChecker::from_config(&config.mobile)?);
        Ok(Self { acceptor, local_addr, db, auth, reference, storage, updates, transport, sms, liveness, config })
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The database connection the server uses.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish (up to 30 s).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let schema = graphql::build_schema(crate::graphql::context::AppData {
            db: self.db.clone(),
            graphql: Arc::new(self.config.graphql.clone()),
            auth: self.auth.clone(),
            reference: self.reference.clone(),
            storage: self.storage.clone(),
            storage_config: Arc::new(self.config.storage.clone()),
            updates: self.updates.clone(),
            mobile: Arc::new(self.config.mobile.clone()),
            sms: self.sms.clone(),
            liveness: self.liveness.clone(),
        });
        let app = http::routes(schema, self.db.clone(), self.auth, &self.config).with(poem::middleware::Tracing);
        let cleanup = tokio::spawn(clean_up_uploads(self.db.clone(), self.storage.clone()));
        let deadlines = tokio::spawn(enforce_sms_deadlines(
            self.db.clone(),
            self.updates.clone(),
            self.config.mail.sms_reminder_hours,
        ));
        let dispatcher = self.config.mail.dispatch.then(|| {
            let dispatcher = Dispatcher::new(self.db.clone(), self.transport.clone(), self.config.mail.clone());
            tokio::spawn(dispatch_mail(dispatcher, self.config.mail.dispatch_interval_seconds))
        });
        tracing::info!(address = %self.local_addr, "beian listening; GraphQL at /graphql");
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, shutdown, Some(Duration::from_secs(30)))
            .await;
        cleanup.abort();
        deadlines.abort();
        if let Some(dispatcher) = dispatcher {
            dispatcher.abort();
        }
        served
    }

    /// A dispatcher of this server's outbox with its configured transport (tests drive it with their own clock).
    pub fn dispatcher(&self) -> Dispatcher {
        Dispatcher::new(self.db.clone(), self.transport.clone(), self.config.mail.clone())
    }

    /// The object store the server uses.
    pub fn storage(&self) -> Arc<Storage> {
        self.storage.clone()
    }
}

/// Delivers the outbox every `interval_seconds` (safe on several replicas).
async fn dispatch_mail(dispatcher: Dispatcher, interval_seconds: u64) {
    let mut tick = tokio::time::interval(Duration::from_secs(interval_seconds.max(1)));
    loop {
        tick.tick().await;
        if let Err(error) = dispatcher.run_until_idle(chrono::Utc::now()).await {
            tracing::warn!(error = ?error, "dispatching mail failed");
        }
    }
}

/// Ends the MIIT SMS step of filings whose 24-hour window passed, and reminds those who have not confirmed when the
/// deadline is near, every 30 seconds (safe on several replicas).
async fn enforce_sms_deadlines(
    db: DatabaseConnection,
    updates: tokio::sync::broadcast::Sender<crate::graphql::context::FilingChanged>,
    reminder_hours: i64,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        if let Err(error) =
            crate::services::notifications::send_sms_reminders(&db, chrono::Utc::now(), reminder_hours).await
        {
            tracing::warn!(error = ?error, "sending SMS reminders failed");
        }
        match crate::services::workflow::expire_sms_checks(&db, chrono::Utc::now()).await {
            Ok(moved) => {
                for changed in moved {
                    let _ = updates.send(changed);
                }
            }
            Err(error) => tracing::warn!(error = ?error, "enforcing SMS deadlines failed"),
        }
    }
}

/// Removes uploads never completed, once a minute.
async fn clean_up_uploads(db: DatabaseConnection, storage: Arc<Storage>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(error) = crate::services::attachments::clean_up_expired_uploads(&db, &storage).await {
            tracing::warn!(error = ?error, "cleaning up expired uploads failed");
        }
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
