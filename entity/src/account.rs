use sea_orm::entity::prelude::*;

/// A person with a login at one registrar: an applicant or a member of the registrar's staff.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Lower-cased; unique within the tenant.
    pub email: String,
    /// argon2id PHC string; none until an invited or registering person sets a password.
    pub password_hash: Option<String>,
    pub display_name: String,
    /// `APPLICANT`, `REVIEWER` or `ADMIN`.
    pub role: crate::enums::Role,
    /// `ACTIVE`, `DISABLED`, `PENDING` (email not yet verified) or `INVITED` (password not yet set).
    pub status: crate::enums::AccountStatus,
    /// The language of the account's mail: `ZH` or `EN`; none: both.
    pub preferred_language: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "super::tenant::Entity", from = "Column::TenantId", to = "super::tenant::Column::Id")]
    Tenant,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
