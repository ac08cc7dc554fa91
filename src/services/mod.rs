//! Use cases: one function per user intent. Each takes the calling [`Actor`](crate::auth::Actor), touches only that
//! actor's tenant, runs in one database transaction, and writes the audit event together with the change.

pub mod audit;
pub mod error;
pub mod filings;
pub mod inputs;
pub mod models;
pub mod tenants;
mod validation;

pub use error::ServiceError;

/// A page of a keyset-paginated list, newest first.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Whether more items follow the last one.
    pub has_next_page: bool,
}
