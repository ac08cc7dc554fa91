//! Maps service errors to GraphQL errors with a stable `extensions.code` from a closed set.

use async_graphql::{ErrorExtensions, Value};

use crate::language::pick;
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

/// Every `extensions.code` with what it means: README.md's table of codes is made from this (and checked).
pub const CODES: &[(&str, &str)] = &[
    (code::UNAUTHENTICATED, "No caller, or a credential that does not authenticate (HTTP 401 before the query runs)."),
    (code::FORBIDDEN, "The caller's role or key scope does not allow it."),
    (code::NOT_FOUND, "No such object for this caller (another registrar's objects are not found either)."),
    (code::BAD_USER_INPUT, "The input was refused: `fields` lists every refused field with its `FieldErrorCode`."),
    (code::INVALID_TRANSITION, "The filing's state does not allow this mutation now (see `availableActions`)."),
    (code::CONFLICT, "Someone changed the filing since it was read: `currentVersion` is its version now."),
    (code::PAYLOAD_TOO_LARGE, "The request body is over the limit (HTTP 413)."),
    (code::RATE_LIMITED, "Too many attempts: `retryAfterSeconds` says when to try again."),
    (code::STORAGE_UNAVAILABLE, "The file store is down or slow: nothing changed; `retryable`, `retryAfterSeconds`."),
    (code::DATABASE_BUSY, "The database could not do it now: nothing was written; `retryable`, `retryAfterSeconds`."),
    (code::PERSISTED_QUERY_NOT_FOUND, "A persisted query's hash this server does not know: send the query with it."),
    (code::INTERNAL, "A fault of the server, logged with its cause; the cause is never sent."),
];

/// README.md's table of every error code: the top-level `extensions.code` values, then every `FieldErrorCode`
/// with its default messages.
pub fn codes_markdown() -> String {
    use strum::IntoEnumIterator;
    let mut out = String::from("| `extensions.code` | Meaning |\n|---|---|\n");
    for (name, meaning) in CODES {
        out.push_str(&format!("| `{name}` | {meaning} |\n"));
    }
    out.push_str("\n| `FieldErrorCode` | Default message | 默认提示 |\n|---|---|---|\n");
    for field_code in crate::domain::FieldErrorCode::iter() {
        let (en, zh) = field_code.messages();
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            field_code.as_str(),
            en.replace('|', "\\|"),
            zh.replace('|', "\\|")
        ));
    }
    out
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
    let message = error.message();
    let with_code = |error_code: &'static str| {
        async_graphql::Error::new(message.clone()).extend_with(|_, e| e.set("code", error_code))
    };
    match error {
        ServiceError::Unauthenticated(_) => with_code(code::UNAUTHENTICATED),
        ServiceError::Forbidden(_) => with_code(code::FORBIDDEN),
        ServiceError::RateLimited { retry_after } => with_code(code::RATE_LIMITED)
            .extend_with(|_, ext| ext.set("retryAfterSeconds", retry_after.as_secs().max(1))),
        ServiceError::NotFound => with_code(code::NOT_FOUND),
        ServiceError::InvalidInput(fields) => {
            let list: Vec<Value> = fields.iter().map(field_error).collect();
            with_code(code::BAD_USER_INPUT).extend_with(|_, e| e.set("fields", Value::List(list.clone())))
        }
        ServiceError::InvalidTransition { .. } => with_code(code::INVALID_TRANSITION),
        ServiceError::Conflict { current_version } => {
            with_code(code::CONFLICT).extend_with(|_, ext| ext.set("currentVersion", current_version))
        }
        ServiceError::DatabaseBusy => {
            tracing::warn!("the database was busy: answered DATABASE_BUSY");
            with_code(code::DATABASE_BUSY).extend_with(|_, ext| {
                ext.set("retryable", true);
                ext.set("retryAfterSeconds", DATABASE_BUSY_RETRY_AFTER_SECONDS);
            })
        }
        ServiceError::StorageUnavailable => with_code(code::STORAGE_UNAVAILABLE).extend_with(|_, ext| {
            ext.set("retryable", true);
            ext.set("retryAfterSeconds", STORAGE_RETRY_AFTER_SECONDS);
        }),
        ServiceError::Internal(cause) => {
            tracing::error!(error = ?cause, "internal error");
            with_code(code::INTERNAL)
        }
    }
}

/// One refused field as `extensions.fields[]` lists it: `message` and `suggestion` in the request's language;
/// `messageZh` and `suggestionZh` stay for clients of 1.x (deprecated: ask with `Accept-Language: zh`).
fn field_error(f: &crate::domain::FieldError) -> Value {
    let mut m = async_graphql::indexmap::IndexMap::new();
    m.insert(async_graphql::Name::new("field"), Value::from(f.field.clone()));
    m.insert(async_graphql::Name::new("code"), Value::from(f.code.as_str()));
    m.insert(async_graphql::Name::new("message"), Value::from(pick(&f.message, &f.message_zh).clone()));
    m.insert(async_graphql::Name::new("messageZh"), Value::from(f.message_zh.clone()));
    if let Some((suggestion, suggestion_zh)) = &f.suggestion {
        m.insert(async_graphql::Name::new("suggestion"), Value::from(pick(suggestion, suggestion_zh).clone()));
        m.insert(async_graphql::Name::new("suggestionZh"), Value::from(suggestion_zh.clone()));
    }
    Value::Object(m)
}

/// Shorthand for resolvers: `service(...).await.map_err(gql)?`.
pub fn gql(error: ServiceError) -> async_graphql::Error {
    to_gql(error)
}
