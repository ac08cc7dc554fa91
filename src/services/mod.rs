//! Use cases: one function per user intent. Each takes the calling [`Actor`](crate::auth::Actor), touches only that
//! actor's tenant, runs in one database transaction, and writes the audit event together with the change.

pub mod access;
pub mod accounts;
pub mod api_keys;
pub mod attachments;
pub mod audit;
pub mod credentials;
pub mod deps;
pub mod documents;
pub mod error;
pub mod filings;
pub mod inputs;
pub mod mobile;
pub mod models;
pub mod notifications;
pub mod orders;
pub mod personal_data;
pub mod phone_code_limits;
pub mod queue;
pub mod rows;
pub mod rules;
pub mod tenants;
pub(crate) mod validation;
pub mod webhook;
pub mod webhooks;
pub mod workflow;

pub use deps::{Clock, Deps};
pub use error::ServiceError;

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
