use sea_orm::entity::prelude::*;

/// A key a presigned upload URL was issued for. Whatever the URL writes there is removed once it has expired (the
/// checked file lives under another key), and then this row goes too.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upload_urls")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The attachment the URL was issued for (which may be gone by now).
    pub attachment_id: Uuid,
    pub bucket: String,
    pub object_key: String,
    /// When the URL stops being accepted.
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
