//! Live updates: `filingUpdated` over graphql-ws, authenticated when the connection starts and checked again on
//! every message.

use async_graphql::futures_util::Stream;
use async_graphql::{Context, ID, Result, Subscription};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::context::{actor, deps};
use super::error::gql;
use super::ids::{self, Kind};
use super::objects::filing::Filing;
use crate::changes::FilingChanged;
use crate::services::ServiceError;
use crate::services::credentials::ConnectionCredential;

pub struct SubscriptionRoot;

/// Live updates, over graphql-ws at `/graphql/ws` (send the token as `Authorization` in the connection_init payload).
#[Subscription]
impl SubscriptionRoot {
    /// The filing, each time it changes (a workflow step, an edit, a deadline). Another registrar's filing, or
    /// another applicant's, is NOT_FOUND. Each message is checked as it goes out: a filing the caller no longer
    /// sees ends the subscription with NOT_FOUND, and a credential that died (session ended, account disabled, API
    /// key revoked, registrar suspended, access token expired) ends it with UNAUTHENTICATED and closes the
    /// connection.
    async fn filing_updated(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The filing's global ID.")] id: ID,
    ) -> Result<impl Stream<Item = Result<Filing>> + use<>> {
        actor(ctx)?;
        let credential = ctx.data::<ConnectionCredential>()?.clone();
        let id = ids::decode(&id, Kind::Filing, "id").map_err(gql)?;
        let deps = deps(ctx).clone();
        let current = credential.check().await.map_err(gql)?;
        crate::services::access::get_filing(&deps, &current, id).await.map_err(gql)?;
        let receiver = deps.changes.subscribe();
        let state = Watch { receiver, deps, credential, tenant: current.tenant_id, ended: false };
        Ok(async_graphql::futures_util::stream::unfold(state, move |mut watch| async move {
            if watch.ended {
                return None;
            }
            loop {
                match watch.receiver.recv().await {
                    Ok((tenant, filing)) if tenant == watch.tenant && filing == id => {
                        let next = watch.current(filing).await;
                        // The caller lost the right to see it, or their credential died: this was the last one.
                        watch.ended = matches!(
                            next,
                            Err(ServiceError::NotFound | ServiceError::Unauthenticated(_) | ServiceError::Forbidden(_))
                        );
                        return Some((next.map(Filing).map_err(gql), watch));
                    }
                    Ok(_) => continue,
                    // A slow subscriber that missed announcements still gets the latest state next time.
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        }))
    }
}

/// One `filingUpdated` subscription between messages.
struct Watch {
    receiver: Receiver<FilingChanged>,
    deps: crate::services::Deps,
    credential: ConnectionCredential,
    tenant: uuid::Uuid,
    ended: bool,
}

impl Watch {
    /// The filing as the caller may see it now: their credential authenticated again, then the same visibility
    /// rule as the `filing` query.
    async fn current(&self, filing: uuid::Uuid) -> Result<crate::services::models::Filing, ServiceError> {
        let actor = self.credential.check().await?;
        crate::services::access::get_filing(&self.deps, &actor, filing).await
    }
}
