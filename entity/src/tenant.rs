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
    pub status: crate::enums::TenantStatus,
    /// Whether applicants may register themselves.
    pub open_signup: bool,
    /// Where the registrar's filing frontend lives; links in messages point there.
    pub frontend_base_url: Option<String>,
    /// The tenant's own bucket for materials; none: the configured one.
    pub storage_bucket: Option<String>,
    /// A key prefix of the tenant's own, inside the bucket.
    pub storage_prefix: Option<String>,
    /// The sender of the registrar's mail (name and address); none: the configured default.
    pub mail_sender_name: Option<String>,
    pub mail_sender_address: Option<String>,
    pub mail_reply_to: Option<String>,
    /// Closing lines of every message.
    pub mail_signature: Option<String>,
    /// How applicants reach the registrar's support (phone, address, hours).
    pub support_contact: Option<String>,
    /// Whether every responsible person confirms their mobile number (the hand-off's phone check) before a filing
    /// is submitted.
    pub require_phone_verification: bool,
    /// The accent colour of the registrar's pages (the hosted phone page), `#rrggbb`; none: beian's.
    pub brand_color: Option<String>,
    /// The registrar's logo for its pages: a `data:image/png|jpeg|webp;base64,` URL (served inline, so the page
    /// loads nothing from another host).
    pub brand_logo: Option<String>,
    /// What a responsible person agrees to before the phone steps (plain text); none: beian's wording.
    pub mobile_consent_text: Option<String>,
    /// The page a hand-off's QR code opens, for a registrar that replaces beian's hosted page with its own (the
    /// token follows as `#token=`); none: beian's page (`mobile.public_base_url`).
    pub mobile_page_url: Option<String>,
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
