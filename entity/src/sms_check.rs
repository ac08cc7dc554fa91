use sea_orm::entity::prelude::*;

/// The MIIT SMS check (工信部短信核验) of one responsible person in the current round.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sms_checks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub filing_id: Uuid,
    /// The website whose responsible person this is; none for the subject's.
    pub website_id: Option<Uuid>,
    pub person_name: String,
    pub mobile: String,
    /// `PENDING`, `CONFIRMED` or `FAILED`.
    pub status: crate::enums::SmsCheckStatus,
    pub failures: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
