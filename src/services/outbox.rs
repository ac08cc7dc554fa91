//! The transactional outbox: messages to people are rows written with the change that causes them. Until a
//! dispatcher delivers them, operators read them with `beian outbox list`.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sea_orm::{QueryOrder, QuerySelect, Set};
use uuid::Uuid;

use super::ServiceError;

/// The messages the server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum Template {
    /// Confirm the address of a new applicant account.
    EmailVerification,
    /// Someone tried to register with an address that already has an account.
    AccountExists,
    /// A link to choose a new password.
    PasswordReset,
    /// A registrar's staff member is invited to set up their account.
    StaffInvitation,
    /// The password of the account was changed.
    PasswordChanged,
}

/// Queues a message in the caller's transaction.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    template: Template,
    recipient: &str,
    payload: serde_json::Value,
) -> Result<(), ServiceError> {
    entity::outbox_message::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        template: Set(template.to_string()),
        recipient: Set(recipient.to_owned()),
        payload: Set(payload),
        status: Set("QUEUED".to_owned()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The newest queued messages, of one tenant or of all (for operators).
pub async fn latest(
    db: &DatabaseConnection,
    tenant_id: Option<Uuid>,
    limit: u64,
) -> Result<Vec<entity::outbox_message::Model>, ServiceError> {
    let mut query = entity::outbox_message::Entity::find();
    if let Some(tenant_id) = tenant_id {
        query = query.filter(entity::outbox_message::Column::TenantId.eq(tenant_id));
    }
    Ok(query.order_by_desc(entity::outbox_message::Column::Id).limit(limit).all(db).await?)
}
