//! Maps service errors to GraphQL errors with a stable `extensions.code` from a closed set.

use async_graphql::{ErrorExtensions, Value};

use crate::services::ServiceError;

/// The closed set of `extensions.code` values clients can rely on.
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const INVALID_TRANSITION: &str = "INVALID_TRANSITION";
    pub const CONFLICT: &str = "CONFLICT";
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// The file store is down or slow: nothing was changed, the same request may work later.
    pub const STORAGE_UNAVAILABLE: &str = "STORAGE_UNAVAILABLE";
    pub const INTERNAL: &str = "INTERNAL";
    /// The database could not do it now (a lock held elsewhere, a time limit, no free connection): nothing was
    /// written; retry after `retryAfterSeconds`.
    pub const DATABASE_BUSY: &str = "DATABASE_BUSY";
    /// A persisted query's hash this server does not know (yet): send the query with its hash once.
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
}

/// An error of the engine's own steps (limits, persisted queries), before any resolver runs, with its code.
pub fn refusal(message: impl Into<String>, error_code: &str) -> async_graphql::ServerError {
    let mut error = async_graphql::ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", error_code);
    error.extensions = Some(extensions);
    error
}

/// The wait a `DATABASE_BUSY` answer suggests before a retry, in seconds.
pub const DATABASE_BUSY_RETRY_AFTER_SECONDS: u64 = 1;
/// When a client may try again after STORAGE_UNAVAILABLE: a short wait: the store is asked again on every request.
const STORAGE_RETRY_AFTER_SECONDS: u64 = 10;

/// Converts a service error for the client. Internal causes are logged here, with their whole chain, and never sent.
pub fn to_gql(error: ServiceError) -> async_graphql::Error {
    match error {
        ServiceError::Unauthenticated(message) => {
            async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code::UNAUTHENTICATED))
        }
        ServiceError::Forbidden(message) => {
            async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code::FORBIDDEN))
        }
        e @ ServiceError::RateLimited { retry_after } => {
            async_graphql::Error::new(e.to_string()).extend_with(|_, ext| {
                ext.set("code", code::RATE_LIMITED);
                ext.set("retryAfterSeconds", retry_after.as_secs().max(1));
            })
        }
        ServiceError::NotFound => {
            async_graphql::Error::new("not found").extend_with(|_, e| e.set("code", code::NOT_FOUND))
        }
        ServiceError::InvalidInput(fields) => {
            let list: Vec<Value> = fields
                .iter()
                .map(|f| {
                    let mut m = async_graphql::indexmap::IndexMap::new();
                    m.insert(async_graphql::Name::new("field"), Value::from(f.field.clone()));
                    m.insert(async_graphql::Name::new("code"), Value::from(f.code.as_str()));
                    m.insert(async_graphql::Name::new("message"), Value::from(f.message.clone()));
                    m.insert(async_graphql::Name::new("messageZh"), Value::from(f.message_zh.clone()));
                    if let Some((suggestion, suggestion_zh)) = &f.suggestion {
                        m.insert(async_graphql::Name::new("suggestion"), Value::from(suggestion.clone()));
                        m.insert(async_graphql::Name::new("suggestionZh"), Value::from(suggestion_zh.clone()));
                    }
                    Value::Object(m)
                })
                .collect();
            let summary = match fields.as_slice() {
                [one] => format!("invalid input: {one}"),
                _ => format!("invalid input: {} fields refused", fields.len()),
            };
            async_graphql::Error::new(summary).extend_with(|_, e| {
                e.set("code", code::BAD_USER_INPUT);
                e.set("fields", Value::List(list.clone()));
            })
        }
        e @ ServiceError::InvalidTransition { .. } => {
            async_graphql::Error::new(e.to_string()).extend_with(|_, ext| ext.set("code", code::INVALID_TRANSITION))
        }
        e @ ServiceError::Conflict { current_version } => {
            async_graphql::Error::new(e.to_string()).extend_with(|_, ext| {
                ext.set("code", code::CONFLICT);
                ext.set("currentVersion", current_version);
            })
        }
        e @ ServiceError::DatabaseBusy => {
            tracing::warn!("the database was busy: answered DATABASE_BUSY");
            async_graphql::Error::new(e.to_string()).extend_with(|_, ext| {
                ext.set("code", code::DATABASE_BUSY);
                ext.set("retryable", true);
                ext.set("retryAfterSeconds", DATABASE_BUSY_RETRY_AFTER_SECONDS);
            })
        }
        e @ ServiceError::StorageUnavailable => async_graphql::Error::new(e.to_string()).extend_with(|_, ext| {
            ext.set("code", code::STORAGE_UNAVAILABLE);
            ext.set("retryable", true);
            ext.set("retryAfterSeconds", STORAGE_RETRY_AFTER_SECONDS);
        }),
        ServiceError::Internal(cause) => {
            tracing::error!(error = ?cause, "internal error");
            async_graphql::Error::new("internal error").extend_with(|_, e| e.set("code", code::INTERNAL))
        }
    }
}

/// Shorthand for resolvers: `service(...).await.map_err(gql)?`.
pub fn gql(error: ServiceError) -> async_graphql::Error {
    to_gql(error)
}
