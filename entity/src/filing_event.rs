use sea_orm::entity::prelude::*;

/// One entry of a filing's audit trail. Rows are only ever inserted.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "filing_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub filing_id: Uuid,
    /// Who acted: `API_KEY` (a registrar backend), later also accounts and the system.
    pub actor_kind: crate::enums::ActorKind,
    pub actor_id: Option<Uuid>,
    /// A human-readable name of the actor at the time (the API key's name), kept even if the actor is deleted.
    pub actor_label: String,
    pub action: crate::enums::FilingAction,
    pub from_status: Option<crate::enums::FilingStatus>,
    pub to_status: Option<crate::enums::FilingStatus>,
    /// JSON array of `{"field": ..., "old": ..., "new": ...}`; personal data is masked.
    pub changes: Json,
    pub reason: Option<String>,
    /// Structured details: rejection reasons, decisions, ICP numbers.
    pub details: Option<Json>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "super::filing::Entity", from = "Column::FilingId", to = "super::filing::Column::Id")]
    Filing,
}

impl Related<super::filing::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Filing.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
