use sea_orm::entity::prelude::*;

/// Where a registrar wants its filing events posted (Standard Webhooks).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub url: String,
    pub description: String,
    /// JSON array of the event types wanted (`FilingAction` names); empty: every type.
    pub event_types: Json,
    pub enabled: bool,
    /// Why the server disabled it (it kept failing); none when enabled or disabled by a person.
    pub disabled_reason: Option<String>,
    /// The signing secret (`whsec_...`), sealed (`beian::pii`).
    pub secret: String,
    /// The secret before the last rotation, sealed, still signing until `previous_secret_expires_at`.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    /// When the current run of failed attempts began; none while the endpoint answers.
    pub failing_since: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
