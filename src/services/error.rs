use crate::domain::{FieldError, FilingStatus};
use crate::language::Text;

/// Why a use case refused or failed. The GraphQL layer maps each variant to one `extensions.code`.
///
/// `Display` never contains internal detail, so even a careless `?` into a GraphQL error leaks nothing.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Unauthenticated(Text),
    /// The caller may not do this (its role or key scope does not allow it).
    #[error("{0}")]
    Forbidden(Text),
    /// Too many attempts: try again after the given time.
    #[error("too many attempts: try again in {} seconds", retry_after.as_secs().max(1))]
    RateLimited { retry_after: std::time::Duration },
    /// The object does not exist in the caller's tenant (it may exist in another: that is not said).
    #[error("not found")]
    NotFound,
    /// Every refused field of the input; nothing was written.
    #[error("invalid input")]
    InvalidInput(Vec<FieldError>),
    /// The action is not allowed in the filing's current state.
    #[error("a filing in state {from} cannot be changed this way ({action})")]
    InvalidTransition { action: &'static str, from: FilingStatus },
    /// The caller named an older version than the current one: someone else changed the filing first.
    #[error("the filing was changed by someone else: it is now at version {current_version}")]
    Conflict { current_version: i32 },
    /// The database could not do it now (a lock held elsewhere, a time limit, no free connection: see
    /// [`crate::db::is_busy`]). Nothing was written; the same request may succeed when tried again shortly.
    #[error("the database is busy: try again in a moment")]
    DatabaseBusy,
    /// The object store could not be reached or did not answer in time; nothing was changed. Retryable.
    #[error("the file store is unavailable: try again later")]
    StorageUnavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ServiceError {
    /// What to tell the client, in the language of the request being answered ([`crate::language`]). `Display`
    /// is the English text, for logs.
    pub fn message(&self) -> String {
        use crate::language::pick;
        match self {
            Self::Unauthenticated(text) | Self::Forbidden(text) => text.current().to_owned(),
            Self::RateLimited { retry_after } => {
                let seconds = retry_after.as_secs().max(1);
                pick(
                    format!("too many attempts: try again in {seconds} seconds"),
                    format!("尝试次数过多，请 {seconds} 秒后再试"),
                )
            }
            Self::NotFound => pick("not found", "未找到").to_owned(),
            Self::InvalidInput(fields) => match fields.as_slice() {
                [one] => pick(
                    format!("invalid input: {one}"),
                    format!("输入有误：{}：{}（{}）", one.field, one.message_zh, one.code.as_str()),
                ),
                _ => pick(
                    format!("invalid input: {} fields refused", fields.len()),
                    format!("输入有误：{} 项未通过", fields.len()),
                ),
            },
            Self::InvalidTransition { action, from } => pick(
                format!("a filing in state {from} cannot be changed this way ({action})"),
                format!("处于“{}”状态的备案不能执行此操作（{action}）", from.label_zh()),
            ),
            Self::Conflict { current_version } => pick(
                format!("the filing was changed by someone else: it is now at version {current_version}"),
                format!("备案已被他人修改，当前版本为 {current_version}，请刷新后重试"),
            ),
            Self::DatabaseBusy => {
                pick("the database is busy: try again in a moment", "数据库繁忙，请稍后重试").to_owned()
            }
            Self::StorageUnavailable => {
                pick("the file store is unavailable: try again later", "文件存储暂时不可用，请稍后重试").to_owned()
            }
            Self::Internal(_) => pick("internal error", "服务器内部错误").to_owned(),
        }
    }

    /// An unexpected failure, unless it is the database being busy for now ([`ServiceError::DatabaseBusy`]).
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        let error = error.into();
        match error.downcast_ref::<sea_orm::DbErr>() {
            Some(db) if crate::db::is_busy(db) => Self::DatabaseBusy,
            _ => Self::Internal(error),
        }
    }

    pub fn invalid(field: impl Into<String>, code: crate::domain::FieldErrorCode) -> Self {
        Self::InvalidInput(vec![FieldError::new(field, code)])
    }
}

impl From<crate::storage::StorageError> for ServiceError {
    fn from(error: crate::storage::StorageError) -> Self {
        match error {
            crate::storage::StorageError::Unavailable(cause) => {
                tracing::warn!(%cause, "storage unavailable");
                Self::StorageUnavailable
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<sea_orm::DbErr> for ServiceError {
    fn from(error: sea_orm::DbErr) -> Self {
        if crate::db::is_busy(&error) { Self::DatabaseBusy } else { Self::Internal(error.into()) }
    }
}

impl From<sea_orm::TransactionError<ServiceError>> for ServiceError {
    fn from(error: sea_orm::TransactionError<ServiceError>) -> Self {
        match error {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(service) => service,
        }
    }
}
