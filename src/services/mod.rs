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
pub mod queue;
pub mod rows;
pub mod rules;
pub mod tenants;
mod validation;
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

/// A page of a keyset-paginated list, newest first.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Whether more items follow the last one.
    pub has_next_page: bool,
}
