//! Paging shared by the cursor connections: the Relay page information and the page size a list asked for.

use async_graphql::{Result, SimpleObject};

use super::error::gql;
use crate::config::GraphqlConfig;
use crate::domain::{FieldError, FieldErrorCode};
use crate::services::ServiceError;

/// Relay page information.
#[derive(SimpleObject)]
#[graphql(serial)]
pub struct PageInfo {
    /// Whether another page follows; fetch it with `after: endCursor`.
    pub has_next_page: bool,
    /// Always false: pages are walked forwards only.
    pub has_previous_page: bool,
    /// Cursor of the first item of the page.
    pub start_cursor: Option<String>,
    /// Cursor of the last item of the page.
    pub end_cursor: Option<String>,
}

impl PageInfo {
    /// The page information of a forward-only page whose items have these cursors, in order.
    pub fn forward(has_next_page: bool, cursors: &[String]) -> Self {
        Self {
            has_next_page,
            has_previous_page: false,
            start_cursor: cursors.first().cloned(),
            end_cursor: cursors.last().cloned(),
        }
    }
}

/// The page size a connection asked for, within the configured bounds.
pub fn page_size(limits: &GraphqlConfig, first: Option<i32>) -> Result<u32> {
    match first {
        None => Ok(limits.default_page_size),
        Some(n) if n >= 1 && n as u32 <= limits.max_page_size => Ok(n as u32),
        Some(_) => Err(gql(ServiceError::InvalidInput(vec![
            FieldError::new("first", FieldErrorCode::InvalidFormat).with_message(
                format!("first must be between 1 and {}.", limits.max_page_size),
                format!("first 须在 1 到 {} 之间。", limits.max_page_size),
            ),
        ]))),
    }
}
