//! Identifiers of the ICP forms as types that can only exist valid: parse once, at the edge, then trust.

pub mod icp_number;
pub mod org_code;
pub mod permits;
pub mod phone;
pub mod resident_id;
pub mod uscc;

pub use icp_number::{IcpNumber, IcpNumberKind};
pub use org_code::OrgCode;
pub use permits::{ForeignPermanentResidentId, HkMacauTravelPermit, Passport, TaiwanTravelPermit};
pub use phone::{EmergencyPhone, Landline, Mobile};
pub use resident_id::{ResidentId, ResidentIdKind};
pub use uscc::Uscc;

/// Why an identifier was refused, for the field error's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("wrong length")]
    Length,
    #[error("contains characters that are not allowed")]
    Charset,
    #[error("the check character does not match")]
    Checksum,
    #[error("not a real date of birth")]
    BirthDate,
    #[error("unknown region code")]
    Region,
    #[error("unknown registration authority or category code")]
    Category,
    #[error("the format is not valid")]
    Format,
}

impl IdError {
    /// The message in Chinese.
    pub fn message_zh(self) -> &'static str {
        match self {
            IdError::Length => "位数不正确",
            IdError::Charset => "含有不允许的字符",
            IdError::Checksum => "校验位不正确",
            IdError::BirthDate => "出生日期无效",
            IdError::Region => "地区代码无效",
            IdError::Category => "登记管理部门或机构类别代码无效",
            IdError::Format => "格式不正确",
        }
    }
}
