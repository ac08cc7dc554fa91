//! Bearer credentials of people and backends (access tokens and API keys), and the credential of a long-lived
//! connection, which is checked again while the connection lives: a credential that died stops working everywhere,
//! on the next request as on an open subscription.

use crate::language::Text;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use super::ServiceError;
use super::accounts::{self};
use super::tenants;
use crate::auth::Actor;
use crate::services::Deps;

/// The actor an API key or an access token speaks for, as of now. UNAUTHENTICATED once the key is revoked, the
/// session ended (logout, password change or reset, refresh-token replay), the account is disabled, the token
/// expired, or the registrar is suspended.
pub async fn authenticate_actor(deps: &Deps, token: &str) -> Result<Actor, ServiceError> {
    if token.starts_with(crate::auth::api_key::KEY_PREFIX) {
        tenants::authenticate_api_key(deps, token).await
    } else {
        accounts::authenticate_access_token(deps, token).await
    }
}

/// The credential a connection (a graphql-ws socket) opened with. The connection speaks for the actor it opened
/// as; [`check`](Self::check) authenticates the credential again, and once it fails (or the actor's rights
/// changed) the credential is dead for good and [`died`](Self::died) resolves, so the connection can close.
#[derive(Clone)]
pub struct ConnectionCredential(Arc<Inner>);

struct Inner {
    deps: Deps,
    /// Set by the connection's first message.
    opened: OnceLock<Opened>,
    dead: CancellationToken,
    reason: OnceLock<Text>,
}

struct Opened {
    token: SecretString,
    actor: Actor,
}

const RIGHTS_CHANGED: Text = Text::new("the caller's rights changed: connect again", "调用方的权限已变更，请重新连接");
const NOT_OPENED: Text = Text::new("the connection has not authenticated", "连接尚未认证");

impl ConnectionCredential {
    pub fn new(deps: Deps) -> Self {
        Self(Arc::new(Inner { deps, opened: OnceLock::new(), dead: CancellationToken::new(), reason: OnceLock::new() }))
    }

    /// Records the credential the connection authenticated with, and the actor it authenticated as. Once only.
    pub fn open(&self, token: &str, actor: Actor) {
        let _ = self.0.opened.set(Opened { token: SecretString::from(token.to_owned()), actor });
    }

    /// The connection's actor, authenticated again now (one indexed statement). UNAUTHENTICATED, for good, once
    /// the credential died or the actor's role changed (its open results were shaped by the old rights). Other
    /// errors (the database unreachable) leave the credential alive.
    pub async fn check(&self) -> Result<Actor, ServiceError> {
        if let Some(reason) = self.dead_reason() {
            return Err(ServiceError::Unauthenticated(reason));
        }
        let Some(opened) = self.0.opened.get() else {
            return Err(ServiceError::Unauthenticated(NOT_OPENED));
        };
        let token = opened.token.expose_secret();
        match authenticate_actor(&self.0.deps, token).await {
            Ok(actor) if same_rights(&actor, &opened.actor) => Ok(actor),
            Ok(_) => Err(self.kill(RIGHTS_CHANGED)),
            Err(ServiceError::Unauthenticated(reason)) => Err(self.kill(reason)),
            Err(other) => Err(other),
        }
    }

    /// Resolves, with the reason, once the credential is dead: found so by a [`check`](Self::check), or by the one
    /// this runs every `interval` while the connection is open (so a credential that dies while nothing is sent
    /// still ends its connection, an access token at the latest when it expires).
    pub async fn died(&self, interval: Duration) -> Text {
        loop {
            tokio::select! {
                () = self.0.dead.cancelled() => break,
                () = tokio::time::sleep(interval) => {
                    if self.0.opened.get().is_some()
                        && let Err(error) = self.check().await
                        && !matches!(error, ServiceError::Unauthenticated(_))
                    {
                        tracing::warn!(error = ?error, "checking a connection's credential failed; trying again later");
                    }
                }
            }
        }
        self.dead_reason().unwrap_or(NOT_OPENED)
    }

    fn dead_reason(&self) -> Option<Text> {
        self.0.dead.is_cancelled().then(|| self.0.reason.get().copied().unwrap_or(NOT_OPENED))
    }

    fn kill(&self, reason: Text) -> ServiceError {
        let _ = self.0.reason.set(reason);
        self.0.dead.cancel();
        tracing::info!(reason = reason.en, "a connection's credential died");
        ServiceError::Unauthenticated(self.0.reason.get().copied().unwrap_or(reason))
    }
}

/// Whether two authentications of one credential carry the same rights (a new display name does not matter).
fn same_rights(now: &Actor, then: &Actor) -> bool {
    (now.tenant_id, now.id, now.principal) == (then.tenant_id, then.id, then.principal)
}
