//! An email of the outbox (a notification) as the schema shows it.

use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::filing::Filing;
use crate::graphql::context::{actor, deps, disclosure};
use crate::graphql::enums;
use crate::graphql::error::gql;
use crate::graphql::ids::{self, Kind};
use crate::services::access;
use entity::enums::OutboxStatus;
use entity::outbox_message;

/// Where a message stands.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "entity::enums::OutboxStatus")]
pub enum NotificationStatus {
    /// Waiting for the dispatcher (or for its next attempt after a failure).
    Queued,
    /// Accepted by the mail relay (or written to the mail folder).
    Sent,
    /// Refused for good, or out of attempts; `retryNotification` queues it again.
    Failed,
    /// A phone code the embedded SMS sender recorded instead of sending (no SMS gateway configured).
    Recorded,
}

pub struct Notification(pub outbox_message::Model);

/// One email: what it is about, to whom, and whether it went out.
#[Object]
impl Notification {
    /// The notification's opaque global ID.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Notification, self.0.id)
    }

    /// The stage (or account message) it announces.
    async fn stage(&self) -> Option<enums::EmailStage> {
        self.0.template.parse::<crate::mail::Stage>().ok().map(Into::into)
    }

    /// The recipient's address; masked without the READ_PERSONAL_DATA permission (filter by the full address).
    async fn recipient(&self, ctx: &Context<'_>) -> String {
        let address = crate::mail::outbox::recipient(&deps(ctx).keys, &self.0).unwrap_or_default();
        disclosure(ctx).email(&address)
    }

    /// The recipient's name.
    async fn recipient_name(&self) -> Option<&str> {
        self.0.recipient_name.as_deref()
    }

    /// The language it is written in; null: both.
    async fn language(&self) -> Option<enums::PreferredLanguage> {
        self.0.language.as_deref().and_then(|l| l.parse::<crate::mail::MailLanguage>().ok()).map(Into::into)
    }

    /// Where it stands.
    async fn status(&self) -> NotificationStatus {
        self.0.status.into()
    }

    /// Delivery attempts so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// When the next attempt is due (queued messages).
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.0.status == OutboxStatus::Queued).then_some(self.0.next_attempt_at).flatten()
    }

    /// Why the last attempt failed.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    /// The subject line, once rendered (at the first attempt).
    async fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }

    /// The Message-ID header: the same on every attempt, so a resend can be recognised.
    async fn message_id(&self) -> Option<&str> {
        self.0.message_id.as_deref()
    }

    /// When it was queued.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it went out.
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }

    /// The filing it is about.
    async fn filing(&self, ctx: &Context<'_>) -> Result<Option<Filing>> {
        let Some(id) = self.0.filing_id else {
            return Ok(None);
        };
        Ok(Some(Filing(access::get_filing(deps(ctx), actor(ctx)?, id).await.map_err(gql)?)))
    }
}
