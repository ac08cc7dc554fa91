use sea_orm::entity::prelude::*;

/// A material of a filing, stored in S3 under `object_key`: while PENDING the key its upload URL writes to, once
/// UPLOADED the key the checked file was copied to (no URL was ever issued for it). Files stored before that change
/// keep their upload key.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attachments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub filing_id: Uuid,
    /// A material kind name (`ID_CARD_FRONT`, ...).
    pub kind: crate::enums::MaterialKind,
    pub website_id: Option<Uuid>,
    pub pre_approval_category: Option<crate::enums::PreApprovalCategory>,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    /// SHA-256 the client announced, hex; checked against the stored object.
    pub sha256: String,
    pub object_key: String,
    /// The bucket the object went to; none: the configured one.
    pub bucket: Option<String>,
    /// `PENDING` or `UPLOADED`.
    pub status: crate::enums::AttachmentStatus,
    pub upload_expires_at: DateTimeUtc,
    pub uploaded_at: Option<DateTimeUtc>,
    /// The account or API key that started the upload.
    pub created_by: Uuid,
    /// `ACCEPTED` or `NEEDS_REVISION`.
    pub review_status: Option<crate::enums::ReviewStatus>,
    pub review_reason: Option<String>,
    /// For a face video: the digits the person was asked to read aloud in it.
    pub face_challenge: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
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
