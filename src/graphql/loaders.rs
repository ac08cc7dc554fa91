//! Per-request DataLoaders: nested fields of a list are fetched in one statement per field, whatever the page size.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::services::Deps;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use uuid::Uuid;

use crate::auth::Actor;
use crate::services::ServiceError;
use crate::services::filings;
use crate::services::models::{Filing, FilingEvent, Subject, Website};

/// Loads through the services, scoped to the caller's tenant.
pub struct TenantLoader {
    deps: Deps,
    actor: Actor,
    /// Whether a list may load its items' children for the whole page up front (see [`prefetch_children`]).
    prefetch: bool,
}

/// The loaders of a request (or of a subscription's connection).
pub type Loaders = DataLoader<TenantLoader, HashMapCache>;

/// The loaders of one HTTP request. Their cache stays off until a list of a query turns it on to prefetch.
pub fn for_request(deps: &Deps, actor: &Actor) -> Loaders {
    loaders(deps, actor, true)
}

/// The loaders of a graphql-ws connection: it lives for many events, so nothing is ever cached.
pub fn for_connection(deps: &Deps, actor: &Actor) -> Loaders {
    loaders(deps, actor, false)
}

fn loaders(deps: &Deps, actor: &Actor, prefetch: bool) -> Loaders {
    let loader = TenantLoader { deps: deps.clone(), actor: actor.clone(), prefetch };
    // Batches run in tasks of their own: they carry the caller's tenant scope there (row-level security).
    let tenant = actor.tenant_id;
    let spawner = move |batch| tokio::spawn(crate::db::as_tenant(tenant, batch));
    let loaders = DataLoader::with_cache(loader, spawner, HashMapCache::default());
    loaders.enable_all_cache(false);
    loaders
}

/// Which children the items of a page asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Children {
    pub subject: bool,
    pub websites: bool,
    pub attachments: bool,
    pub events: bool,
    /// The applicant account that owns each filing.
    pub applicant: bool,
    /// The reviewer who claimed each filing.
    pub reviewer: bool,
}

impl Children {
    /// The children a filing's selection (the lookahead of a `Filing`) asks for.
    pub fn selected(filing: async_graphql::Lookahead<'_>) -> Self {
        Self {
            subject: filing.field("subject").exists(),
            websites: filing.field("websites").exists(),
            attachments: filing.field("attachments").exists(),
            events: filing.field("events").exists(),
            applicant: filing.field("applicant").exists(),
            reviewer: filing.field("reviewer").exists(),
        }
    }
}

/// Loads the asked-for children of a whole page of filings at once, one statement per child table, into the
/// request's cache, where the items' own loads find them. Without it a page's loads split into several batches
/// whenever resolving the items outlasts the loader's batching delay (under load, or at 100 items), and the
/// statements of a request grew with its page size.
///
/// Only lists of queries call this: a query writes nothing, so nothing cached can go stale while it runs (the
/// cache of mutations, and of subscriptions' long-lived loaders, stays off).
pub async fn prefetch_children<'a>(
    loaders: &Loaders,
    filings: impl IntoIterator<Item = &'a Filing>,
    children: Children,
) -> Result<(), Arc<ServiceError>> {
    let filings: Vec<&Filing> = filings.into_iter().collect();
    if !loaders.loader().prefetch || filings.is_empty() {
        return Ok(());
    }
    loaders.enable_all_cache(true);
    let ids = || filings.iter().map(|f| f.id);
    let accounts: HashSet<Uuid> = filings
        .iter()
        .flat_map(|f| {
            let applicant = f.owner_account_id.filter(|_| children.applicant);
            let reviewer = f.reviewer_id.filter(|_| children.reviewer);
            applicant.into_iter().chain(reviewer)
        })
        .collect();
    let (subjects, websites, attachments, events, accounts) = tokio::join!(
        warm(loaders, children.subject, ids().map(SubjectOf)),
        warm(loaders, children.websites, ids().map(WebsitesOf)),
        warm(loaders, children.attachments, ids().map(AttachmentsOf)),
        warm(loaders, children.events, ids().map(EventsOf)),
        warm(loaders, !accounts.is_empty(), accounts.iter().copied().map(AccountById)),
    );
    subjects.and(websites).and(attachments).and(events).and(accounts)
}

/// Loads the children that a list's filings (`items`, the lookahead of its `Filing`s) asked for, for the whole
/// list at once (see [`prefetch_children`]).
pub async fn prefetch<'a>(
    ctx: &async_graphql::Context<'_>,
    items: async_graphql::Lookahead<'_>,
    filings: impl IntoIterator<Item = &'a Filing>,
) -> async_graphql::Result<()> {
    let Some(loaders) = ctx.data_opt::<Loaders>() else { return Ok(()) };
    prefetch_children(loaders, filings, Children::selected(items)).await.map_err(loader_error)
}

/// Loads `keys` into the cache when the page asked for them.
async fn warm<K>(loaders: &Loaders, wanted: bool, keys: impl Iterator<Item = K>) -> Result<(), Arc<ServiceError>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    TenantLoader: Loader<K, Error = Arc<ServiceError>>,
{
    if wanted {
        loaders.load_many(keys).await?;
    }
    Ok(())
}

/// Every key gets a value (an empty list when a filing has none), so a cached page answers every item. The lists
/// are shared: the loader's cache and every field that reads one hold the same list, never a copy.
fn with_empty<K: std::hash::Hash + Eq + Copy, V>(keys: &[K], mut found: HashMap<K, Vec<V>>) -> HashMap<K, Arc<[V]>> {
    for key in keys {
        found.entry(*key).or_default();
    }
    found.into_iter().map(|(key, list)| (key, Arc::from(list))).collect()
}

/// Key: the subject of a filing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubjectOf(pub Uuid);
/// Key: the websites of a filing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WebsitesOf(pub Uuid);
/// Key: an account by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AccountById(pub Uuid);
/// Key: the attachments of a filing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttachmentsOf(pub Uuid);
/// Key: the notifications of a filing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NotificationsOf(pub Uuid);
/// Key: a filing by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FilingById(pub Uuid);
/// Key: the audit trail of a filing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventsOf(pub Uuid);

impl Loader<SubjectOf> for TenantLoader {
    type Value = Arc<Subject>;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[SubjectOf]) -> Result<HashMap<SubjectOf, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let found = filings::subjects_by_filing(&self.deps, &self.actor, &ids).await.map_err(Arc::new)?;
        Ok(found.into_iter().map(|(id, s)| (SubjectOf(id), Arc::new(s))).collect())
    }
}

impl Loader<WebsitesOf> for TenantLoader {
    type Value = Arc<[Website]>;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[WebsitesOf]) -> Result<HashMap<WebsitesOf, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let found = filings::websites_by_filing(&self.deps, &self.actor, &ids).await.map_err(Arc::new)?;
        Ok(with_empty(keys, found.into_iter().map(|(id, w)| (WebsitesOf(id), w)).collect()))
    }
}

impl Loader<EventsOf> for TenantLoader {
    type Value = Arc<[FilingEvent]>;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[EventsOf]) -> Result<HashMap<EventsOf, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let found = filings::events_by_filing(&self.deps, &self.actor, &ids).await.map_err(Arc::new)?;
        Ok(with_empty(keys, found.into_iter().map(|(id, e)| (EventsOf(id), e)).collect()))
    }
}

impl Loader<FilingById> for TenantLoader {
    type Value = Filing;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[FilingById]) -> Result<HashMap<FilingById, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let found = filings::filings_by_id(&self.deps, &self.actor, &ids).await.map_err(Arc::new)?;
        Ok(found.into_iter().map(|(id, f)| (FilingById(id), f)).collect())
    }
}

impl Loader<NotificationsOf> for TenantLoader {
    type Value = Vec<entity::outbox_message::Model>;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[NotificationsOf]) -> Result<HashMap<NotificationsOf, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let found = crate::services::notifications::by_filing(&self.deps, &self.actor, &ids).await.map_err(Arc::new)?;
        Ok(found.into_iter().map(|(id, n)| (NotificationsOf(id), n)).collect())
    }
}

impl Loader<AccountById> for TenantLoader {
    type Value = crate::services::accounts::Account;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[AccountById]) -> Result<HashMap<AccountById, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let found = crate::services::accounts::accounts_by_id(&self.deps, &self.actor, &ids).await.map_err(Arc::new)?;
        Ok(found.into_iter().map(|(id, a)| (AccountById(id), a)).collect())
    }
}

impl Loader<AttachmentsOf> for TenantLoader {
    type Value = Arc<[crate::services::attachments::Attachment]>;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[AttachmentsOf]) -> Result<HashMap<AttachmentsOf, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let found = crate::services::attachments::attachments_by_filing(&self.deps, &self.actor, &ids)
            .await
            .map_err(Arc::new)?;
        Ok(with_empty(keys, found.into_iter().map(|(id, a)| (AttachmentsOf(id), a)).collect()))
    }
}

/// Turns a loader failure into the client's error without leaking the cause.
pub fn loader_error(error: Arc<ServiceError>) -> async_graphql::Error {
    let error = Arc::try_unwrap(error).unwrap_or_else(|shared| match &*shared {
        ServiceError::NotFound => ServiceError::NotFound,
        ServiceError::Forbidden(why) => ServiceError::Forbidden(*why),
        other => ServiceError::internal(anyhow::anyhow!("{other:?}")),
    });
    super::error::gql(error)
}
