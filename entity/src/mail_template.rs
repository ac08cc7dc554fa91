use sea_orm::entity::prelude::*;

/// A registrar's own wording of one email stage in one language, replacing the built-in template.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_templates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The stage: `SUBMISSION_RECEIVED`, `PRELIMINARY_REJECTED`, `PASSWORD_RESET`, ...
    pub stage: String,
    /// `ZH` or `EN`.
    pub language: String,
    /// A minijinja template of the subject line.
    pub subject: String,
    /// A minijinja template of the plain-text body (the HTML alternative is made from it).
    pub body: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
