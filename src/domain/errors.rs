//! Field-level input errors, with stable machine codes and messages in Chinese and English.

use std::fmt;

/// Why a field was refused. The names are part of the API (`extensions.fields[].code`): never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum FieldErrorCode {
    Required,
    TooShort,
    TooLong,
    TooMany,
    InvalidEmail,
    InvalidUrl,
    InvalidFormat,
    InvalidDomain,
    Duplicate,
    UnknownProvince,
    RegionMismatch,
    CertificateTypeNotAllowed,
    InvalidId,
    InvalidToken,
    WeakPassword,
    WrongPassword,
    LastAdmin,
}

impl FieldErrorCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn messages(self) -> (&'static str, &'static str) {
        match self {
            Self::Required => ("This field is required.", "此项为必填项。"),
            Self::TooShort => ("This value is too short.", "内容过短。"),
            Self::TooLong => ("This value is too long.", "内容过长。"),
            Self::TooMany => ("Too many entries.", "条目数量超过上限。"),
            Self::InvalidEmail => ("Enter a valid email address.", "请输入有效的电子邮箱地址。"),
            Self::InvalidUrl => {
                ("Enter a full http:// or https:// address.", "请输入以 http:// 或 https:// 开头的完整网址。")
            }
            Self::InvalidFormat => ("The format of this value is not valid.", "格式不正确。"),
            Self::InvalidDomain => (
                "Enter a domain name such as example.com, without http:// or a path.",
                "请输入域名（如 example.com），不要包含 http:// 或路径。",
            ),
            Self::Duplicate => ("This value is listed more than once.", "存在重复的内容。"),
            Self::UnknownProvince => ("Not a division code of a mainland province.", "不是有效的省级行政区划代码。"),
            Self::RegionMismatch => {
                ("This division does not lie within the one chosen above it.", "所选行政区划与上级区划不一致。")
            }
            Self::CertificateTypeNotAllowed => {
                ("This certificate type cannot be used here.", "此处不能使用该证件类型。")
            }
            Self::InvalidId => ("Not a valid ID.", "ID 无效。"),
            Self::InvalidToken => {
                ("The link is not valid or has expired: ask for a new one.", "链接无效或已过期，请重新获取。")
            }
            Self::WeakPassword => ("A password has at least 10 characters.", "密码至少需要 10 个字符。"),
            Self::WrongPassword => ("The current password is not correct.", "当前密码不正确。"),
            Self::LastAdmin => (
                "The registrar needs at least one active administrator: appoint another one first.",
                "至少需要保留一名有效的管理员，请先指定其他管理员。",
            ),
        }
    }
}

/// One refused field: where it is in the input, why, and what to tell the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path in the GraphQL input, in its camelCase names: `subject.responsiblePerson.email`, `websites[0].name`.
    pub field: String,
    pub code: FieldErrorCode,
    pub message: String,
    pub message_zh: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: FieldErrorCode) -> Self {
        let (message, message_zh) = code.messages();
        Self { field: field.into(), code, message: message.to_owned(), message_zh: message_zh.to_owned() }
    }

    /// The same error with a more specific message than the code's default.
    pub fn with_message(mut self, message: impl Into<String>, message_zh: impl Into<String>) -> Self {
        self.message = message.into();
        self.message_zh = message_zh.into();
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.code.as_str())
    }
}
