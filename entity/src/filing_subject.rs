use sea_orm::entity::prelude::*;

/// The subject (主体) of a filing, with its responsible person (主体负责人, columns prefixed `rp_`). Certificate
/// numbers, phones and emails are sealed (`beian::pii`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "filing_subjects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[sea_orm(unique)]
    pub filing_id: Uuid,
    pub subject_type: crate::enums::SubjectType,
    pub name: String,
    pub certificate_type: crate::enums::CertificateType,
    pub certificate_number: String,
    pub certificate_address: Option<String>,
    pub province_code: String,
    pub city_code: String,
    pub district_code: String,
    pub mailing_address: String,
    pub investor: Option<String>,
    pub remark: Option<String>,
    pub rp_name: String,
    pub rp_certificate_type: crate::enums::CertificateType,
    pub rp_certificate_number: String,
    pub rp_mobile: String,
    pub rp_emergency_phone: Option<String>,
    pub rp_email: String,
    /// Whether the responsible person is the organisation's legal representative.
    pub rp_is_legal_representative: bool,
    /// Blind index (keyed hash) of the responsible person's mobile, for equality lookups; `rp_mobile` is sealed.
    pub rp_mobile_bidx: String,
    /// Blind index of the subject's certificate number; `certificate_number` is sealed.
    pub certificate_number_bidx: String,
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
