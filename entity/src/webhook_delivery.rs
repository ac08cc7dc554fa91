use sea_orm::entity::prelude::*;

/// One message for one endpoint: a filing event (written by a trigger in the event's transaction) or a test ping.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    /// The event delivered (its id is the `webhook-id`); none for a ping.
    pub event_id: Option<Uuid>,
    pub filing_id: Option<Uuid>,
    /// `FilingAction` name, or `PING`.
    pub event_type: String,
    /// The event's place in the change feed: deliveries of one filing go out in this order.
    pub event_txid: i64,
    pub event_seq: i64,
    /// `PENDING` until delivered (`DELIVERED`) or given up (`FAILED`).
    pub status: crate::enums::DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// A dispatcher's claim: until when, and which dispatcher.
    pub locked_until: Option<DateTimeUtc>,
    pub locked_by: Option<String>,
    pub last_attempt_at: Option<DateTimeUtc>,
    /// The HTTP status of the last answer; none when there was no answer.
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<i32>,
    pub delivered_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
