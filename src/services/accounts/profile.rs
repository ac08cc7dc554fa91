//! A signed-in person's own account.

use crate::language::Text;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

use super::{Account, check_display_name, tenant_account};
use crate::auth::{Actor, Principal};
use crate::services::Deps;
use crate::services::ServiceError;
use entity::account;

/// The caller's own account.
pub async fn me(deps: &Deps, actor: &Actor) -> Result<Option<Account>, ServiceError> {
    let db = &deps.db;
    match actor.principal {
        Principal::Account { .. } => Ok(Some(Account::try_from(own_account(db, actor).await?)?)),
        Principal::ApiKey { .. } | Principal::System => Ok(None),
    }
}

/// Changes the caller's own name or mail language (`Some(None)`: both languages).
pub async fn update_profile(
    deps: &Deps,
    actor: &Actor,
    display_name: Option<String>,
    language: Option<Option<crate::mail::MailLanguage>>,
) -> Result<Account, ServiceError> {
    let db = &deps.db;
    if !matches!(actor.principal, crate::auth::Principal::Account { .. }) {
        return Err(ServiceError::Forbidden(Text::new("only people have a profile", "只有账号用户才有个人资料")));
    }
    let mut errors = Vec::new();
    let name = display_name.map(|n| check_display_name(&n, "displayName", &mut errors));
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let row = own_account(db, actor).await?;
    let mut active: account::ActiveModel = row.into();
    if let Some(name) = name {
        active.display_name = Set(name);
    }
    if let Some(language) = language {
        active.preferred_language = Set(language.map(|l| l.as_str().to_owned()));
    }
    active.updated_at = Set(deps.now());
    Account::try_from(active.update(db).await?)
}

pub(super) async fn own_account(db: &impl ConnectionTrait, actor: &Actor) -> Result<account::Model, ServiceError> {
    tenant_account(db, actor, actor.id).await
}
