//! The GraphQL API: schema, types, resolvers. Resolvers are thin: they take the caller from the context, call one
//! service function and map its result.

pub mod accounts;
pub mod attachments;
pub mod context;
pub mod enums;
pub mod error;
pub mod ids;
pub mod inputs;
pub mod loaders;
pub mod mail;
pub mod mutation;
pub mod query;
pub mod reference;
pub mod subscription;
pub mod types;
pub mod workflow;

use std::sync::Arc;

use async_graphql::{MergedObject, SDLExportOptions, Schema};
use sea_orm::DatabaseConnection;

use crate::config::{GraphqlConfig, StorageConfig};
use crate::domain::reference::ReferenceData;
use crate::services::accounts::AuthContext;
use crate::storage::Storage;
use context::AppData;

/// Reads: filings, accounts, keys and settings of the caller's registrar.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    query::FilingQuery,
    accounts::AccountQuery,
    reference::ReferenceQuery,
    workflow::WorkflowQuery,
    mail::MailQuery,
);

/// Writes: filing drafts, sign-in and sessions, staff, keys and settings.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    mutation::FilingMutation,
    accounts::AccountMutation,
    attachments::AttachmentMutation,
    workflow::WorkflowMutation,
    mail::MailMutation,
);

pub type BeianSchema = Schema<QueryRoot, MutationRoot, subscription::SubscriptionRoot>;

/// Builds the schema the server serves.
pub fn build_schema(
    db: DatabaseConnection,
    config: &GraphqlConfig,
    auth: Arc<AuthContext>,
    reference: Arc<ReferenceData>,
    storage: Arc<Storage>,
    storage_config: &StorageConfig,
    updates: tokio::sync::broadcast::Sender<context::FilingChanged>,
) -> BeianSchema {
    let data = AppData {
        db,
        graphql: Arc::new(config.clone()),
        auth,
        reference,
        storage,
        storage_config: Arc::new(storage_config.clone()),
        updates,
    };
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), subscription::SubscriptionRoot)
        .data(data)
        .limit_depth(config.max_depth)
        .limit_complexity(config.max_complexity);
    if !config.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The SDL of the schema, sorted, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    let schema = Schema::build(QueryRoot::default(), MutationRoot::default(), subscription::SubscriptionRoot).finish();
    schema.sdl_with_options(SDLExportOptions::new().sorted_fields().sorted_arguments().sorted_enum_items())
}
