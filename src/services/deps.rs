//! What the services work with, built once at start-up ([`Deps::from_config`]) and handed to every use case: the
//! database, the personal-data keyring, the reference data, sign-in, attachment storage, the phone-step senders,
//! the workflow's settings, the stream of changed filings, and the clock. Nothing of it is process-wide: two
//! servers in one process (or two tests) each have their own.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use super::accounts::AuthContext;
use super::mobile::{LivenessChecker, SmsSender};
use crate::changes::FilingChanges;
use crate::config::{Config, MobileConfig, StorageConfig, WebhooksConfig};
use crate::domain::reference::ReferenceData;
use crate::pii::Keyring;
use crate::storage::Storage;

/// The dependencies of the service layer. Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct Deps {
    pub db: DatabaseConnection,
    /// Seals and opens personal data, and keys its blind indexes (`pii.*`).
    pub keys: Arc<Keyring>,
    /// Regions, certificate types and the other closed sets of the ICP domain.
    pub reference: Arc<ReferenceData>,
    /// Token signing, sign-in throttles and the account settings (`auth.*`).
    pub auth: Arc<AuthContext>,
    pub storage: Arc<Storage>,
    pub storage_config: Arc<StorageConfig>,
    /// The mobile hand-off settings, how phone codes are sent and how face videos are checked.
    pub mobile: Arc<MobileConfig>,
    /// The registrars' webhooks: where endpoints may point, and how deliveries are retried.
    pub webhooks: Arc<WebhooksConfig>,
    pub sms: Arc<SmsSender>,
    pub liveness: Arc<LivenessChecker>,
    /// How long the MIIT SMS check lasts (`workflow.sms_window_hours`).
    pub sms_window: chrono::Duration,
    /// The changed filings, as the database announces their events, for `filingUpdated` subscribers.
    pub changes: FilingChanges,
    pub clock: Clock,
}

impl Deps {
    /// Builds every part from the configuration, on a database from [`crate::db::connect_ready`]. Fails on a bad
    /// setting (keys, reference data, storage, senders), before anything listens.
    pub async fn from_config(config: &Config, db: DatabaseConnection) -> anyhow::Result<Self> {
        let secret = config.jwt_secret().map_err(|e| anyhow::anyhow!(e))?;
        Self::build(config, db, &secret).await
    }

    /// As [`from_config`](Self::from_config), for a `beian` command: those sign and check no access token, so on
    /// PostgreSQL they need no `auth.jwt_secret` (a random one stands in when none is set).
    pub async fn for_command(config: &Config, db: DatabaseConnection) -> anyhow::Result<Self> {
        let secret = config.jwt_secret().unwrap_or_else(|_| crate::auth::tokens::opaque("").0.into_bytes());
        Self::build(config, db, &secret).await
    }

    async fn build(config: &Config, db: DatabaseConnection, secret: &[u8]) -> anyhow::Result<Self> {
        Ok(Self {
            keys: Arc::new(config.pii_keyring().map_err(|e| anyhow::anyhow!(e))?),
            reference: config.reference_data().map_err(|e| anyhow::anyhow!(e))?,
            auth: Arc::new(AuthContext::new(&config.auth, secret)?),
            storage: Arc::new(Storage::connect(config).await?),
            storage_config: Arc::new(config.storage.clone()),
            mobile: Arc::new(config.mobile.clone()),
            webhooks: Arc::new(config.webhooks.clone()),
            sms: Arc::new(SmsSender::from_config(&config.mobile)?),
            liveness: Arc::new(LivenessChecker::from_config(&config.mobile)?),
            sms_window: config.workflow.sms_window()?,
            changes: FilingChanges::new(db.clone()),
            clock: Clock::System,
            db,
        })
    }

    /// The time now, by this server's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The same dependencies with the clock stopped at `at`: a background job's pass at a chosen time, a test of
    /// a deadline.
    pub fn at(&self, at: DateTime<Utc>) -> Self {
        Self { clock: Clock::Fixed(at), ..self.clone() }
    }
}

/// Where the services read the time.
#[derive(Clone, Copy, Debug, Default)]
pub enum Clock {
    /// The system's clock.
    #[default]
    System,
    /// Always this instant.
    Fixed(DateTime<Utc>),
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(at) => *at,
        }
    }
}
