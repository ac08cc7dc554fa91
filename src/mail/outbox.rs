//! The transactional outbox: messages to people are rows written with the change that causes them; the
//! [`dispatcher`](super::dispatcher) delivers them. Operators read them with `beian outbox list`. Database errors
//! come back as they are (`DbErr`): the caller's layer maps them.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use sea_orm::{QueryOrder, QuerySelect, Set};
use uuid::Uuid;

use super::{MailLanguage, Stage};
use crate::pii::Keyring;

/// One message to queue.
#[derive(Clone, Debug)]
pub struct Envelope<'a> {
    pub tenant_id: Uuid,
    pub stage: Stage,
    pub recipient: &'a str,
    pub recipient_name: Option<&'a str>,
    /// None: both languages.
    pub language: Option<MailLanguage>,
    /// The filing a workflow notification is about.
    pub filing_id: Option<Uuid>,
    /// What the template needs (names, links, reasons, numbers).
    pub payload: serde_json::Value,
}

impl<'a> Envelope<'a> {
    /// A message about an account.
    pub fn account(
        tenant_id: Uuid,
        stage: Stage,
        account: &'a entity::account::Model,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            tenant_id,
            stage,
            recipient: &account.email,
            recipient_name: Some(&account.display_name),
            language: account.preferred_language.as_deref().and_then(|l| l.parse().ok()),
            filing_id: None,
            payload,
        }
    }
}

/// Queues a message in the caller's transaction: it is sent if and only if the change that causes it commits.
/// The recipient's address is personal data: it is stored sealed, with a blind index to find it by.
pub async fn enqueue(db: &impl ConnectionTrait, keys: &Keyring, envelope: Envelope<'_>) -> Result<(), DbErr> {
    let now = Utc::now();
    entity::outbox_message::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(envelope.tenant_id),
        template: Set(envelope.stage.to_string()),
        recipient: Set(keys.seal(envelope.tenant_id, envelope.recipient)),
        recipient_index: Set(Some(recipient_index(keys, envelope.tenant_id, envelope.recipient))),
        payload: Set(envelope.payload),
        status: Set(entity::enums::OutboxStatus::Queued),
        created_at: Set(now),
        filing_id: Set(envelope.filing_id),
        recipient_name: Set(envelope.recipient_name.map(str::to_owned)),
        language: Set(envelope.language.map(|l| l.as_str().to_owned())),
        attempts: Set(0),
        next_attempt_at: Set(Some(now)),
        locked_until: Set(None),
        locked_by: Set(None),
        message_id: Set(None),
        sent_at: Set(None),
        last_error: Set(None),
        subject: Set(None),
        body_text: Set(None),
        body_html: Set(None),
        updated_at: Set(Some(now)),
        retrying_since: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The blind index of a recipient's address (lower-cased) in the tenant.
pub fn recipient_index(keys: &Keyring, tenant_id: Uuid, address: &str) -> String {
    keys.blind(tenant_id, crate::pii::Blind::Email, &address.trim().to_lowercase())
}

/// The recipient of a stored message, opened (rows written before sealing hold it in clear and come back as they
/// are). `None` if it does not open: a key that is gone, or a value copied from another registrar's row.
pub fn recipient(keys: &Keyring, message: &entity::outbox_message::Model) -> Option<String> {
    match keys.open(message.tenant_id, &message.recipient) {
        Ok(address) => Some(address),
        Err(error) => {
            tracing::error!(message = %message.id, error = %error, "an outbox recipient does not open");
            None
        }
    }
}

/// The newest queued messages, of one tenant or of all (for operators).
pub async fn latest(
    db: &DatabaseConnection,
    tenant_id: Option<Uuid>,
    limit: u64,
) -> Result<Vec<entity::outbox_message::Model>, DbErr> {
    let mut query = entity::outbox_message::Entity::find();
    if let Some(tenant_id) = tenant_id {
        query = query.filter(entity::outbox_message::Column::TenantId.eq(tenant_id));
    }
    query.order_by_desc(entity::outbox_message::Column::Id).limit(limit).all(db).await
}
