//! Use cases: one function per user intent. Each takes the calling [`Actor`](crate::auth::Actor), touches only that
//! actor's tenant, runs in one database transaction, and writes the audit event together with the change.

pub mod accounts;
pub mod api_keys;
pub mod attachments;
pub mod audit;
pub mod credentials;
pub mod documents;
pub mod error;
pub mod filings;
pub mod inputs;
pub mod mobile;
pub mod models;
pub mod notifications;
pub mod orders;
pub mod outbox;
pub mod personal_data;
pub mod phone_code_limits;
pub mod queue;
pub mod rows;
pub mod rules;
pub mod tenants;
pub(crate) mod validation;
pub mod webhook;
pub mod workflow;

pub use error::ServiceError;

use sea_orm::{DatabaseConnection, DatabaseTransaction, SqliteTransactionMode, TransactionOptions, TransactionTrait};

/// Starts a transaction that will write. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a deferred
/// transaction that reads first could otherwise fail when another writer commits in between.
pub(crate) async fn write_txn(db: &DatabaseConnection) -> Result<DatabaseTransaction, sea_orm::DbErr> {
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
pub(crate) async fn lock_key(
    txn: &impl sea_orm::ConnectionTrait,
    scope: &str,
    key: &str,
) -> Result<(), sea_orm::DbErr> {
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

/// `column` holds `text` (case aside) as a substring, every character of `text` taken literally: `%`, `_` and `\`
/// match themselves, not "anything". The one way lists filter by "contains" (sea-orm's `contains` would let a
/// caller's `%` match every row).
pub(crate) fn contains_text(
    column: impl sea_orm::sea_query::IntoColumnRef,
    text: &str,
) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Expr::expr(Func::lower(Expr::col(column))).like(LikeExpr::new(pattern).escape('\\'))
}

/// A page of a keyset-paginated list, newest first.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Whether more items follow the last one.
    pub has_next_page: bool,
}
