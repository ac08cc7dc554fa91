//! Database connection and migrations.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::{Config, redact_url};

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("cannot create the data folder {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("cannot connect to the database {url}: {source}")]
    Connect { url: String, source: DbErr },
    #[error("personal-data keys: {0}")]
    Keys(String),
    #[error("cannot apply migrations: {0}")]
    Migrate(DbErr),
    #[error(
        "the database has {0} pending migration(s); run `beian migrate` first (or set database.auto_migrate = true)"
    )]
    PendingMigrations(usize),
}

/// Connects to the configured database; in the embedded default, creates the data folder first.
pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbSetupError> {
    let url = config.database_url();
    if config.database.url.is_none() {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|source| DbSetupError::DataDir { path: config.data_dir.display().to_string(), source })?;
    }
    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(config.database.max_connections)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            // WAL lets readers run beside the one writer; the busy timeout queues writers instead of failing them.
            // secure_delete overwrites what a change or delete frees, so purged personal data and spent tokens do
            // not linger in the file's free pages.
            opts.journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .pragma("secure_delete", "ON")
        });
    Database::connect(options).await.map_err(|source| DbSetupError::Connect { url: redact_url(&url), source })
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbSetupError> {
    Migrator::up(db, None).await.map_err(DbSetupError::Migrate)
}

/// Connects, then migrates when the configuration asks for it, or refuses to go on with pending migrations.
/// Installs the configuration's personal-data keyring ([`crate::pii`]) first: nothing reads or writes a filing
/// without it. (`beian migrate` connects without it: migrations need no keys.)
pub async fn connect_ready(config: &Config) -> Result<DatabaseConnection, DbSetupError> {
    crate::pii::install(config.pii_keyring().map_err(DbSetupError::Keys)?);
    let db = connect(config).await?;
    if config.auto_migrate() {
        migrate(&db).await?;
    } else {
        let pending = Migrator::get_pending_migrations(&db).await.map_err(DbSetupError::Migrate)?;
        if !pending.is_empty() {
            return Err(DbSetupError::PendingMigrations(pending.len()));
        }
    }
    Ok(db)
}
