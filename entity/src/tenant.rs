use sea_orm::entity::prelude::*;

/// A registrar (接入商) running its filing system on this server.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub slug: String,
    pub name: String,
    /// `ACTIVE` or `SUSPENDED`.
    pub status: String,
    /// Whether applicants may register themselves.
    pub open_signup: bool,
    /// Where the registrar's filing frontend lives; links in messages point there.
    pub frontend_base_url: Option<String>,
    /// The tenant's own bucket for materials; none: the configured one.
    pub storage_bucket: Option<String>,
    /// A key prefix of the tenant's own, inside the bucket.
    pub storage_prefix: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::api_key::Entity")]
    ApiKey,
}

impl Related<super::api_key::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApiKey.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
