use sea_orm::entity::prelude::*;

/// A website of a filing, with its responsible person (网站负责人, columns prefixed `rp_`). The person's certificate
/// number, phones and email are sealed (`beian::pii`).
///
/// List-valued columns are JSON arrays: `domains` of ASCII (punycode) names, `service_content` and `languages` of
/// enum names, `pre_approvals` of `{"category": ..., "licenceNumber": ...}` objects.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "websites")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub filing_id: Uuid,
    pub name: String,
    pub domains: Json,
    pub homepage_url: String,
    pub service_content: Json,
    pub languages: Json,
    pub pre_approvals: Json,
    pub access_method: crate::enums::AccessMethod,
    pub remark: Option<String>,
    /// The website's ICP number once the bureau approved.
    pub icp_number: Option<String>,
    /// What the order does with the website: NEW, CARRIED (from the record), CANCEL or CANCEL_ACCESS.
    pub operation: crate::enums::WebsiteOperation,
    /// The filed website this one continues, for a carried or cancelled website.
    pub base_website_id: Option<Uuid>,
    pub rp_name: String,
    pub rp_certificate_type: crate::enums::CertificateType,
    pub rp_certificate_number: String,
    pub rp_mobile: String,
    pub rp_emergency_phone: Option<String>,
    pub rp_email: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Blind index (keyed hash) of the responsible person's mobile, for equality lookups; `rp_mobile` is sealed.
    pub rp_mobile_bidx: String,
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
