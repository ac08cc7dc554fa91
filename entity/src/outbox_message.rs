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
    pub recipient: String,
    /// What the template needs (names, links, tokens).
    pub payload: Json,
    /// `QUEUED` until a dispatcher delivers it.
    pub status: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
