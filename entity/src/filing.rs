use sea_orm::entity::prelude::*;

/// A filing order (备案订单): one subject and its websites, moving through the review workflow.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "filings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The applicant account that owns the filing; none when a registrar backend created it.
    pub owner_account_id: Option<Uuid>,
    pub filing_type: crate::enums::FilingType,
    pub status: crate::enums::FilingStatus,
    /// Optimistic concurrency: every change increments it, and a write naming an older version is refused.
    pub version: i32,
    /// The reviewer who claimed the preliminary review (初审).
    pub reviewer_id: Option<Uuid>,
    pub submitted_at: Option<DateTimeUtc>,
    /// When the MIIT SMS check of the current round times out.
    pub sms_deadline_at: Option<DateTimeUtc>,
    /// The subject's ICP number once the bureau approved.
    pub icp_number: Option<String>,
    /// The filed record (an approved filing) this order amends; none for a first filing or an add-access order.
    pub base_filing_id: Option<Uuid>,
    /// The later order that replaced this filed record, once the bureau approved it.
    pub superseded_by_id: Option<Uuid>,
    /// When the reminder of the current SMS round went out.
    pub sms_reminded_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When retention purged the personal data and files of this abandoned draft.
    pub purged_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_one = "super::filing_subject::Entity")]
    Subject,
    #[sea_orm(has_many = "super::website::Entity")]
    Website,
    #[sea_orm(has_many = "super::filing_event::Entity")]
    Event,
}

impl Related<super::filing_subject::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Subject.def()
    }
}

impl Related<super::website::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Website.def()
    }
}

impl Related<super::filing_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Event.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
