use sea_orm::entity::prelude::*;

/// A message to a person, written in the same transaction as the change that causes it (transactional outbox).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox_messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Which message: `EMAIL_VERIFICATION`, `PASSWORD_RESET`, `STAFF_INVITATION`, ...
    pub template: String,
    /// The address (or, for recorded phone codes, the mobile), sealed (`beian::pii`).
    pub recipient: String,
    /// What the template needs (names, links, tokens).
    pub payload: Json,
    /// `QUEUED` until a dispatcher delivers it (`SENT`), or gives up (`FAILED`).
    pub status: crate::enums::OutboxStatus,
    pub created_at: DateTimeUtc,
    /// The filing a workflow notification is about.
    pub filing_id: Option<Uuid>,
    pub recipient_name: Option<String>,
    /// `ZH` or `EN`; none: both languages.
    pub language: Option<String>,
    pub attempts: i32,
    /// When the next attempt is due; none: at once.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// A dispatcher's claim on the message: until when, and which dispatcher.
    pub locked_until: Option<DateTimeUtc>,
    pub locked_by: Option<String>,
    /// The Message-ID header, the same on every attempt so a resend can be recognised.
    pub message_id: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    /// What was sent, rendered at the first attempt.
    pub subject: Option<String>,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    pub updated_at: Option<DateTimeUtc>,
    /// Blind index of the lower-cased address, to find a recipient's messages without opening every row.
    pub recipient_index: Option<String>,
    /// When the first of the current run of transient failures happened: the message is retried for
    /// `mail.retry_for_hours` from then. None: it has not failed (or an administrator queued it again).
    pub retrying_since: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
