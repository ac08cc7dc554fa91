//! The GraphQL API: schema, types, resolvers. Resolvers are thin: they take the caller from the context, call one
//! service function and map its result.

pub mod accounts;
pub mod attachments;
pub mod context;
pub mod enums;
pub mod error;
pub mod ids;
pub mod inputs;
pub mod limits;
pub mod loaders;
pub mod mail;
pub mod mobile;
pub mod mutation;
pub mod objects;
pub mod paging;
pub mod persisted;
pub mod plain_text;
pub mod query;
pub mod reference;
pub mod subscription;
pub mod webhooks;
pub mod workflow;

use async_graphql::{MergedObject, SDLExportOptions, Schema};

use context::AppData;

/// Reads: filings, accounts, keys and settings of the caller's registrar.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    query::FilingQuery,
    accounts::AccountQuery,
    reference::ReferenceQuery,
    workflow::WorkflowQuery,
    mail::MailQuery,
    mobile::MobileQuery,
    webhooks::WebhookQuery,
);

/// Writes: filing drafts, sign-in and sessions, staff, keys and settings.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    mutation::FilingMutation,
    accounts::AccountMutation,
    attachments::AttachmentMutation,
    workflow::WorkflowMutation,
    mail::MailMutation,
    mobile::MobileMutation,
    webhooks::WebhookMutation,
);

pub type BeianSchema = Schema<QueryRoot, MutationRoot, subscription::SubscriptionRoot>;

/// Runs a resolver's work in an allocation of its own. async-graphql boxes a future for every selected field of
/// every object, and that future is as large as the largest resolver of the object's type: one resolver with a deep
/// service call inline would make each scalar field of each list item copy kilobytes. Resolvers that await
/// services or loaders go through here, so the fields that only read a value stay small.
/// (Not an `async fn`: that would hold `work` inline until first polled.)
pub(crate) fn heavy<'a, T>(
    work: impl std::future::Future<Output = T> + Send + 'a,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>> {
    Box::pin(work)
}

/// Builds the schema the server serves, with its shared handles.
pub fn build_schema(data: AppData) -> BeianSchema {
    let limits = data.graphql.clone();
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), subscription::SubscriptionRoot)
        .data(data)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
    // A persisted query's document first (it registers one only after the limits passed it), then the limits:
    // nothing else works on a document before its size is known to be bounded.
    if let Some(capacity) = std::num::NonZeroUsize::new(limits.persisted_queries) {
        builder = builder.extension(self::persisted::PersistedQueries::new(capacity));
    }
    builder = builder.extension(self::limits::FieldLimit(limits.max_fields)).extension(self::plain_text::PlainText);
    if !limits.introspection {
        // Without introspection, "Did you mean ...?" in an error would tell the schema field by field.
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The SDL of the schema, sorted, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    let schema = Schema::build(QueryRoot::default(), MutationRoot::default(), subscription::SubscriptionRoot).finish();
    schema.sdl_with_options(SDLExportOptions::new().sorted_fields().sorted_arguments().sorted_enum_items())
}
