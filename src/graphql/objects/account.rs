//! Accounts and API keys as the schema shows them.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};

use crate::graphql::enums;
use crate::graphql::ids::{self, Kind};
use crate::services::accounts as svc;
use crate::services::api_keys::ApiKey as ApiKeyModel;

pub struct Account(pub svc::Account);

/// A person with a login at the registrar: an applicant or a member of staff.
#[Object]
impl Account {
    /// The account's opaque global ID.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Account, self.0.id)
    }

    /// Email address (lower-cased); the sign-in name.
    async fn email(&self) -> &str {
        &self.0.email
    }

    /// Name shown to others.
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// Role within the registrar.
    async fn role(&self) -> enums::Role {
        self.0.role.into()
    }

    /// Whether the account may sign in.
    async fn status(&self) -> enums::AccountStatus {
        self.0.status.into()
    }

    /// The language of the account's mail; null: both languages.
    async fn preferred_language(&self) -> Option<enums::PreferredLanguage> {
        self.0.preferred_language.map(Into::into)
    }

    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct ApiKey(pub ApiKeyModel);

/// A credential of the registrar's backend.
#[Object]
impl ApiKey {
    /// The key's opaque global ID.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::ApiKey, self.0.id)
    }

    /// Name given at creation.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The first characters of the key, to tell keys apart (the key itself is never shown again).
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }

    /// What the key may do.
    async fn scope(&self) -> enums::ApiKeyScope {
        self.0.scope.into()
    }

    /// When the key was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the key was revoked; revoked keys are refused.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}
