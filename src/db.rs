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
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

use crate::config::{Config, redact_url};

pub mod migrations;

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("cannot create the data folder {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("cannot connect to the database {url}: {source}")]
    Connect { url: String, source: DbErr },
    #[error("cannot apply migrations: {0}")]
    Migrate(DbErr),
    #[error(
        "the database has {0} pending migration(s); run `beian migrate` first (or set database.auto_migrate = true)"
    )]
    PendingMigrations(usize),
    #[error(
        "the data folder {folder} is in use by another beian process ({holder}): one SQLite database serves one \
         process; stop that one first, or give this one a data folder of its own (data_dir, BEIAN_DATA_DIR)"
    )]
    DataDirInUse { folder: String, holder: String },
}

impl DbSetupError {
    /// Whether the configuration is at fault (the command line answers exit code 2, as for an invalid one).
    pub fn is_configuration(&self) -> bool {
        matches!(self, Self::DataDirInUse { .. })
    }
}

/// The folder of the SQLite database, held by this process (`beian serve` for its life, `beian migrate` while it
/// migrates): a second process on the same folder would run its own migrations, background jobs and embedded
/// store beside the first one's. The lock is the operating system's (`flock`) on `beian.lock` in the folder, so it
/// ends with the process however it ends; the file names the holder's process id for the refusal.
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

/// Takes the SQLite database's folder for this process, or refuses with the folder and its holder. Nothing to take
/// for PostgreSQL or an in-memory database.
pub fn lock_data_dir(config: &Config) -> Result<Option<DataDirLock>, DbSetupError> {
    use std::io::Write;
    let Some(file) = sqlite_file(&config.database_url()) else {
        return Ok(None);
    };
    let folder = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let data_dir = |source| DbSetupError::DataDir { path: folder.display().to_string(), source };
    if config.database.url.is_none() {
        crate::config::create_private_dir(folder).map_err(data_dir)?;
    }
    let path = folder.join("beian.lock");
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut lock = options.open(&path).map_err(data_dir)?;
    match lock.try_lock() {
        Ok(()) => {
            lock.set_len(0).and_then(|()| writeln!(lock, "{}", std::process::id())).map_err(data_dir)?;
            Ok(Some(DataDirLock { _file: lock }))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = match pid.trim() {
                "" => "process id not yet recorded".to_owned(),
                pid => format!("pid {pid}"),
            };
            Err(DbSetupError::DataDirInUse { folder: folder.display().to_string(), holder })
        }
        Err(std::fs::TryLockError::Error(source)) => Err(data_dir(source)),
    }
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
    let limits = SessionLimits::of(&config.database);
    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(config.database.max_connections)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(config.database.acquire_timeout_seconds.max(1)))
        .sqlx_logging(false)
        // The scope written on every checkout (below) is a round trip that also proves the connection alive.
        .test_before_acquire(false)
        .map_sqlx_postgres_pool_opts(move |pool| {
            pool.after_connect(move |conn, _| {
                Box::pin(async move {
                    limits.apply(conn).await?;
                    write_scope(conn).await
                })
            })
            .before_acquire(|conn, _| Box::pin(async move { write_scope(conn).await.map(|()| true) }))
        })
        .map_sqlx_sqlite_opts(|opts| {
            // WAL lets readers run beside the one writer; the busy timeout queues writers instead of failing them
            // (one that waited it out is answered DATABASE_BUSY, see `is_busy`).
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

/// A comment in the SQL of the server's background looks for new work (new filing events on SQLite, due webhook
/// deliveries), which run every fraction of a second whatever requests do: statement counts of requests leave them
/// out.
pub const BACKGROUND_POLL_MARK: &str = "/* beian: background poll */";

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

/// The time limits of every pooled PostgreSQL session (`[database]`): a statement that runs or waits for a lock too
/// long fails, and its pooled connection is free again, instead of one held row lock making every request that
/// touches it hold a connection until the pool is empty for every registrar.
#[derive(Clone, Copy, Debug)]
struct SessionLimits {
    statement_timeout_seconds: u64,
    lock_timeout_seconds: u64,
    idle_in_transaction_timeout_seconds: u64,
}

impl SessionLimits {
    fn of(database: &crate::config::DatabaseConfig) -> Self {
        Self {
            statement_timeout_seconds: database.statement_timeout_seconds,
            lock_timeout_seconds: database.lock_timeout_seconds,
            idle_in_transaction_timeout_seconds: database.idle_in_transaction_timeout_seconds,
        }
    }

    /// Sets the limits for the session (`0`: none), once, when the pool opens the connection.
    async fn apply(self, conn: &mut sea_orm::sqlx::PgConnection) -> Result<(), sea_orm::sqlx::Error> {
        sea_orm::sqlx::query(
            "SELECT set_config('statement_timeout', $1, false), set_config('lock_timeout', $2, false),
                    set_config('idle_in_transaction_session_timeout', $3, false)",
        )
        .bind(format!("{}s", self.statement_timeout_seconds))
        .bind(format!("{}s", self.lock_timeout_seconds))
        .bind(format!("{}s", self.idle_in_transaction_timeout_seconds))
        .execute(conn)
        .await
        .map(|_| ())
    }
}

/// Whether the database refused for now rather than for good: a lock not granted within `lock_timeout` (SQLSTATE
/// 55P03), a statement cancelled at `statement_timeout` (57014), no pooled connection within the acquire timeout,
/// SQLite's database lock not granted within its busy timeout (SQLITE_BUSY, SQLITE_LOCKED). Nothing was written
/// (the transaction is rolled back); the same request may well succeed a moment later.
pub fn is_busy(error: &DbErr) -> bool {
    use sea_orm::{ConnAcquireErr, RuntimeErr};
    let sqlx = match error {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) => e,
        DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx.as_ref() {
        sea_orm::sqlx::Error::PoolTimedOut => true,
        sea_orm::sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("55P03" | "57014") => true,
            // SQLite reports extended result codes: the primary one is the low byte (5 BUSY, 6 LOCKED).
            Some(code) if db.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>().is_some() => {
                code.parse::<i32>().is_ok_and(|code| matches!(code & 0xff, 5 | 6))
            }
            _ => false,
        },
        _ => false,
    }
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
pub async fn connect_ready(config: &Config) -> Result<DatabaseConnection, DbSetupError> {
    let db = connect(config).await?;
    let pending = pending_migrations(&db).await?;
    if pending > 0 {
        if !config.auto_migrate() {
            return Err(DbSetupError::PendingMigrations(pending));
        }
        migrate(&db).await?;
    }
    warn_if_row_security_is_bypassed(&db).await;
    Ok(db)
}

/// How many of this version's migrations the database has not applied, found read-only ([`migrations::status`]):
/// the server may run as a role that can only read and write rows (README: Tenant isolation in the database).
/// Migrations a newer version applied (during a rolling update, an older replica that restarts) are no reason to
/// stop.
async fn pending_migrations(db: &DatabaseConnection) -> Result<usize, DbSetupError> {
    let states = migrations::status(db).await.map_err(DbSetupError::Migrate)?;
    let newer = states.iter().filter(|m| !m.known).count();
    if newer > 0 {
        tracing::warn!(migrations = newer, "the database has migrations this version does not know (a newer one's)");
    }
    Ok(states.iter().filter(|m| m.is_pending()).count())
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

/// Starts a transaction that will write. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a deferred
/// transaction that reads first could otherwise fail when another writer commits in between.
pub async fn write_txn(db: &DatabaseConnection) -> Result<DatabaseTransaction, sea_orm::DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Holds a lock on `key` (within `scope`) until the transaction ends, so that a rule of the form "at most one X per
/// key", checked by reading and then writing, holds when two requests act at once: the second waits for the first
/// to commit and then reads what it wrote. PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash of scope
/// and key. SQLite: nothing to do, a write transaction ([`write_txn`]) holds the database's only write lock already.
pub async fn lock_key(txn: &impl sea_orm::ConnectionTrait, scope: &str, key: &str) -> Result<(), sea_orm::DbErr> {
    use sha2::Digest;
    if txn.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    let digest = sha2::Sha256::new().chain_update(scope).chain_update([0]).chain_update(key).finalize();
    let id = i64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 digest has 8 bytes"));
    let statement = sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)::text",
        [id.into()],
    );
    txn.query_one_raw(statement).await?;
    Ok(())
}
