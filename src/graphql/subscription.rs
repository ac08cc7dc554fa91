//! Live updates: `filingUpdated` over graphql-ws, authenticated when the connection starts.

use async_graphql::futures_util::Stream;
use async_graphql::{Context, ID, Result, Subscription};

use super::context::{AppData, actor, db};
use super::error::gql;
use super::ids::{self, Kind};
use super::types::Filing;
use crate::changes::FilingChanged;
use crate::services::filings;

pub struct SubscriptionRoot;

/// Live updates, over graphql-ws at `/graphql/ws` (send the token as `Authorization` in the connection_init payload).
#[Subscription]
impl SubscriptionRoot {
    /// The filing, each time it changes (a workflow step, an edit, a deadline). Another registrar's filing, or
    /// another applicant's, is NOT_FOUND.
    async fn filing_updated(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The filing's global ID.")] id: ID,
    ) -> Result<impl Stream<Item = Result<Filing>> + use<>> {
        let actor = actor(ctx)?.clone();
        let id = ids::decode(&id, Kind::Filing, "id").map_err(gql)?;
        let db = db(ctx).clone();
        filings::get_filing(&db, &actor, id).await.map_err(gql)?;
        let receiver = ctx.data_unchecked::<AppData>().changes.subscribe();
        Ok(async_graphql::futures_util::stream::unfold(
            (receiver, db, actor),
            move |(mut receiver, db, actor): (
                tokio::sync::broadcast::Receiver<FilingChanged>,
                _,
                crate::auth::Actor,
            )| async move {
                loop {
                    match receiver.recv().await {
                        Ok((tenant, filing)) if tenant == actor.tenant_id && filing == id => {
                            let next = filings::get_filing(&db, &actor, id).await.map(Filing).map_err(gql);
                            return Some((next, (receiver, db, actor)));
                        }
                        Ok(_) => continue,
                        // A slow subscriber that missed announcements still gets the latest state next time.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                }
            },
        ))
    }
}
