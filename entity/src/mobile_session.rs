use sea_orm::entity::prelude::*;

/// A mobile hand-off: one person's phone doing that person's verification steps of one filing, with a short-lived
/// token of its own (stored as a hash).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mobile_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub filing_id: Uuid,
    /// Whose steps: the subject's responsible person (none) or a website's.
    pub website_id: Option<Uuid>,
    pub person_name: String,
    pub mobile: String,
    /// SHA-256 (hex) of the token.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// The first characters of the token, to tell sessions apart in logs.
    pub token_prefix: String,
    pub expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    /// When the person confirmed the code sent to the mobile number.
    pub phone_verified_at: Option<DateTimeUtc>,
    /// The code in flight: SHA-256 (hex), expiry, when sent, wrong guesses, codes sent in this session.
    pub code_hash: Option<String>,
    pub code_expires_at: Option<DateTimeUtc>,
    pub code_sent_at: Option<DateTimeUtc>,
    pub code_attempts: i32,
    pub codes_sent: i32,
    /// The digits the person reads aloud in the face video, and until when they may be used.
    pub face_challenge: Option<String>,
    pub face_challenge_expires_at: Option<DateTimeUtc>,
    /// The account that started the hand-off.
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
