use sea_orm::entity::prelude::*;

/// One phone code handed to the SMS sender: what the limits on codes per mobile number and per registrar count. The
/// number is named only by its blind index.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "phone_code_sends")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The blind index of the normalised mobile number.
    pub mobile_bidx: String,
    /// The hand-off that asked for the code.
    pub session_id: Uuid,
    /// `SENDING`, `SENT` or `FAILED`.
    pub status: crate::enums::PhoneCodeSendStatus,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
