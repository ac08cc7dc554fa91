//! API keys of a tenant, managed by its administrators.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use super::ServiceError;
use super::access::require_admin;
use crate::auth::{Actor, ApiKeyScope, api_key};
use crate::services::Deps;

#[derive(Clone, Debug)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub scope: ApiKeyScope,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<entity::api_key::Model> for ApiKey {
    type Error = ServiceError;

    fn try_from(row: entity::api_key::Model) -> Result<Self, ServiceError> {
        Ok(Self {
            id: row.id,
            name: row.name,
            prefix: row.key_prefix,
            scope: super::models::parse("api_keys.scope", &row.scope)?,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// Creates a key; returns it with its secret, which is never shown again.
pub async fn create_api_key(
    deps: &Deps,
    actor: &Actor,
    name: &str,
    scope: ApiKeyScope,
) -> Result<(ApiKey, String), ServiceError> {
    let db = &deps.db;
    require_admin(actor)?;
    let mut errors = Vec::new();
    let name = &super::validation::one_line(name, "name", 100, &mut errors);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let key = api_key::generate();
    let row = entity::api_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(actor.tenant_id),
        name: Set(name.to_owned()),
        key_prefix: Set(key.display_prefix),
        key_hash: Set(key.hash),
        scope: Set(scope.to_string()),
        created_at: Set(deps.now()),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok((ApiKey::try_from(row)?, key.secret))
}

/// Revokes a key: it is refused from the next request on. Revoking twice keeps the first time.
pub async fn revoke_api_key(deps: &Deps, actor: &Actor, id: Uuid) -> Result<ApiKey, ServiceError> {
    let db = &deps.db;
    require_admin(actor)?;
    let row = find(db, actor, id).await?;
    if row.revoked_at.is_some() {
        return ApiKey::try_from(row);
    }
    let mut active: entity::api_key::ActiveModel = row.into();
    active.revoked_at = Set(Some(deps.now()));
    ApiKey::try_from(active.update(db).await?)
}

/// Every key of the tenant, newest first (administrators).
pub async fn list_api_keys(deps: &Deps, actor: &Actor) -> Result<Vec<ApiKey>, ServiceError> {
    let db = &deps.db;
    require_admin(actor)?;
    entity::api_key::Entity::find()
        .filter(entity::api_key::Column::TenantId.eq(actor.tenant_id))
        .order_by_desc(entity::api_key::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(ApiKey::try_from)
        .collect()
}

/// One key of the tenant (administrators).
pub async fn get_api_key(deps: &Deps, actor: &Actor, id: Uuid) -> Result<ApiKey, ServiceError> {
    let db = &deps.db;
    require_admin(actor)?;
    ApiKey::try_from(find(db, actor, id).await?)
}

async fn find(db: &DatabaseConnection, actor: &Actor, id: Uuid) -> Result<entity::api_key::Model, ServiceError> {
    entity::api_key::Entity::find_by_id(id)
        .filter(entity::api_key::Column::TenantId.eq(actor.tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)
}
