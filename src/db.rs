//! Database connection and migrations, and the tenant scope PostgreSQL's row-level security enforces.
//!
//! Every tenant-owned table has a policy (migration 000014): a row is visible and writable only when the
//! session setting `beian.tenant` names its tenant, or is `*` (the server itself: background jobs, operator
//! commands, and the anonymous steps that find a tenant by slug or a credential by its hash). Code that serves a
//! signed-in caller runs inside [`as_tenant`]; the pool writes the setting on every checkout of a connection, from
//! the scope of the task that takes it, so a connection never carries one caller's tenant into another's work and
//! a query that forgot its tenant filter still sees only the caller's registrar. SQLite has no row-level security:
//! there the services' own scoping is the only one.

use std::future::Future;
use std::sync::{Arc, OnceLock};
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
        crate::config::create_private_dir(&config.data_dir)
            .map_err(|source| DbSetupError::DataDir { path: config.data_dir.display().to_string(), source })?;
    }
    if let Some(path) = sqlite_file(&url) {
        private_file(&path).map_err(|source| DbSetupError::DataDir { path: path.display().to_string(), source })?;
    }
    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(config.database.max_connections)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // The scope written on every checkout (below) is a round trip that also proves the connection alive.
        .test_before_acquire(false)
        .map_sqlx_postgres_pool_opts(|pool| {
            pool.after_connect(|conn, _| Box::pin(async move { write_scope(conn).await }))
                .before_acquire(|conn, _| Box::pin(async move { write_scope(conn).await.map(|()| true) }))
        })
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

/// The file of a SQLite URL (`sqlite://path?mode=rwc`, `sqlite:path`); none for an in-memory database.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// Makes the SQLite file the owner's alone (mode 0600), creating it empty if it does not exist yet: SQLite would
/// create it with the process's umask (typically 0644, readable by every local user), and gives its write-ahead log
/// and shared-memory files the database file's mode.
fn private_file(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

tokio::task_local! {
    /// The tenant the current task works for, once known.
    static TENANT: TenantCell;
}

/// Runs `work` for `tenant`: on PostgreSQL every statement it sends sees and writes only that tenant's rows.
pub async fn as_tenant<F: Future>(tenant: uuid::Uuid, work: F) -> F::Output {
    with_tenant_cell(TenantCell(Arc::new(OnceLock::from(tenant))), work).await
}

/// Runs `work` in a scope whose tenant becomes known later ([`TenantCell::set`]), e.g. a WebSocket connection
/// after its `connection_init`. Until then `work` acts as the server.
pub async fn with_tenant_cell<F: Future>(cell: TenantCell, work: F) -> F::Output {
    TENANT.scope(cell, work).await
}

/// The tenant of a scope that learns it late; set once.
#[derive(Clone, Default)]
pub struct TenantCell(Arc<OnceLock<uuid::Uuid>>);

impl TenantCell {
    pub fn set(&self, tenant: uuid::Uuid) {
        let _ = self.0.set(tenant);
    }
}

/// The value of `beian.tenant` for the current task: its tenant, or `*` for the server itself.
fn scope_setting() -> String {
    let tenant = TENANT.try_with(|cell| cell.0.get().copied()).ok().flatten();
    tenant.map(|t| t.to_string()).unwrap_or_else(|| "*".to_owned())
}

async fn write_scope(conn: &mut sea_orm::sqlx::PgConnection) -> Result<(), sea_orm::sqlx::Error> {
    sea_orm::sqlx::query("SELECT set_config('beian.tenant', $1, false)")
        .bind(scope_setting())
        .execute(conn)
        .await
        .map(|_| ())
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
    warn_if_row_security_is_bypassed(&db).await;
    Ok(db)
}

/// Row-level security binds no superuser and no role with BYPASSRLS: say so, once, at start-up.
async fn warn_if_row_security_is_bypassed(db: &DatabaseConnection) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let sql = "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user";
    let bypasses = db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await.ok().flatten();
    if bypasses.and_then(|row| row.try_get_by_index::<bool>(0).ok()) == Some(true) {
        tracing::warn!(
            "the database role is a superuser or has BYPASSRLS: row-level security does not apply to this server; \
             run it as an ordinary role (README: Tenant isolation in the database)"
        );
    }
}
