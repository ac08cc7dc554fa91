//! Field-level input errors, with stable machine codes and messages in Chinese and English.

use std::fmt;

/// Why a field was refused. The names are part of the API (`extensions.fields[].code`): never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumIter)]
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
    /// A webhook URL that the server may not post to (not https, a private address, a host not allowed).
    UrlNotAllowed,
    InvalidCertificateNumber,
    ProvinceMismatch,
    SubjectTypeMismatch,
    PersonMismatch,
    InvalidMobile,
    InvalidPhone,
    AddressOutsideRegion,
    TldNotApproved,
    NotRegistrableDomain,
    HomepageNotOnDomain,
    NotAllowedForIndividuals,
    PreApprovalRequired,
    SharedContact,
    MobileTaken,
    NameTooShort,
    NameOnlyDigitsOrLetters,
    NameHasSymbols,
    NameIsDomain,
    NameReservedPrefix,
    NameSensitiveWord,
    NameNotForPersonalSite,
    NameNeedsPreApproval,
    NameMayDrawQuestion,
    UnsupportedContentType,
    FileTooLarge,
    UploadMissing,
    UploadExpired,
    SizeMismatch,
    ContentMismatch,
    ChecksumMismatch,
    MaterialMissing,
    MaterialNeedsRevision,
    /// A material's file is no longer in the store (lost with it): it must be uploaded again.
    MaterialFileMissing,
    OrderInFlight,
    ChangeNotAllowed,
    DomainRemovalNotAllowed,
    NoChange,
    LastWebsite,
    NotCurrentRecord,
    NumberMismatch,
    InvalidTemplate,
    WrongCode,
    CodeExpired,
    CertificateNumberMismatch,
    CertificateExpiring,
    ControlCharacter,
    /// An ICP number another subject's current record of the registrar holds.
    NumberInUse,
    /// A responsible person's mobile number is not confirmed yet (the phone check of a mobile hand-off).
    PhoneUnverified,
}

/// Whether a finding blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Severity {
    /// The reviewer or the bureau would refuse this: saves that introduce it are refused.
    #[default]
    Error,
    /// Worth a look (it often draws a question), but it does not block.
    Warning,
}

impl FieldErrorCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The default messages (English, Chinese); a finding may word it more precisely.
    pub fn messages(self) -> (&'static str, &'static str) {
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
            Self::InvalidCertificateNumber => {
                ("This is not a valid number for the certificate type.", "证件号码不符合该证件类型的规则。")
            }
            Self::ProvinceMismatch => (
                "The certificate was issued in another province: a filing is made in the subject's domicile province.",
                "证件签发地与所选省份不一致：须在主体所在地省份备案。",
            ),
            Self::SubjectTypeMismatch => (
                "The credit code belongs to another kind of organisation than the subject type chosen.",
                "统一社会信用代码的机构类别与所选主体性质不一致。",
            ),
            Self::PersonMismatch => (
                "For an individual, the responsible person is the subject itself: same name and certificate.",
                "个人主体的负责人须为本人：姓名和证件须与主体一致。",
            ),
            Self::InvalidMobile => ("Enter an 11-digit mainland mobile number.", "请输入 11 位中国大陆手机号码。"),
            Self::InvalidPhone => (
                "Enter a mobile number or a landline such as 010-12345678.",
                "请输入手机号码或固定电话（如 010-12345678）。",
            ),
            Self::AddressOutsideRegion => ("The address does not lie in the province chosen.", "地址不在所选省份内。"),
            Self::TldNotApproved => {
                ("This top-level domain is not on MIIT's approved list.", "该顶级域名不在工信部批准的域名列表中。")
            }
            Self::NotRegistrableDomain => {
                ("Enter the registered domain, not a subdomain.", "请填写注册的主域名，而不是子域名。")
            }
            Self::HomepageNotOnDomain => {
                ("The homepage must be on one of the website's domains.", "首页网址须使用本网站填写的域名。")
            }
            Self::NotAllowedForIndividuals => ("Individuals cannot choose this.", "个人主体不能选择此项。"),
            Self::PreApprovalRequired => (
                "This service needs a pre-approval (前置审批) with its licence.",
                "该服务内容需要前置审批，请填写相应的许可证。",
            ),
            Self::SharedContact => (
                "Different people cannot share a mobile number or an email address.",
                "不同负责人不能使用相同的手机号码或电子邮箱。",
            ),
            Self::MobileTaken => (
                "This mobile number already backs another subject: one number may back only one subject.",
                "该手机号码已用于其他主体：一个手机号码只能对应一个主体。",
            ),
            Self::NameTooShort => ("A website name has at least 3 Chinese characters.", "网站名称至少包含 3 个汉字。"),
            Self::NameOnlyDigitsOrLetters => {
                ("A website name cannot be only digits or only Latin letters.", "网站名称不能为纯数字或纯字母。")
            }
            Self::NameHasSymbols => ("A website name cannot contain special symbols.", "网站名称不能包含特殊符号。"),
            Self::NameIsDomain => ("A website name cannot be a domain name.", "网站名称不能是域名。"),
            Self::NameReservedPrefix => (
                "Only national bodies may start a name with 中国, 中华, 中央, 国家 or 人民.",
                "非国家机构的网站名称不能以“中国、中华、中央、国家、人民”等开头。",
            ),
            Self::NameSensitiveWord => {
                ("The website name contains a word that is not allowed.", "网站名称包含不允许的词语。")
            }
            Self::NameNotForPersonalSite => (
                "A personal website cannot use organisation, industry or generic words in its name.",
                "个人网站名称不能使用企业、行业或泛指性词语。",
            ),
            Self::NameNeedsPreApproval => {
                ("The name suggests a service that needs a pre-approval.", "网站名称涉及需要前置审批的服务内容。")
            }
            Self::NameMayDrawQuestion => (
                "Reviewers usually ask for proof (a trademark or authorisation) of names like this.",
                "此类名称通常需要提供商标或授权证明。",
            ),
            Self::UnsupportedContentType => {
                ("Files of this type cannot be used for this material.", "该材料不支持此文件类型。")
            }
            Self::FileTooLarge => ("The file is larger than allowed for this material.", "文件超过该材料允许的大小。"),
            Self::UploadMissing => {
                ("Nothing was uploaded yet: PUT the file to the upload URL first.", "尚未上传文件，请先上传。")
            }
            Self::UploadExpired => ("The upload URL has expired: ask for a new one.", "上传链接已过期，请重新获取。"),
            Self::SizeMismatch => ("The uploaded file does not have the announced size.", "上传的文件大小与申报不符。"),
            Self::ContentMismatch => (
                "The file is not what its type says (for example a renamed file).",
                "文件内容与声明的类型不符（例如修改了扩展名的文件）。",
            ),
            Self::ChecksumMismatch => (
                "The uploaded file does not match the announced SHA-256: upload it again.",
                "上传文件的 SHA-256 校验值与申报不符，请重新上传。",
            ),
            Self::MaterialMissing => ("This material has not been uploaded.", "该材料尚未上传。"),
            Self::MaterialFileMissing => (
                "This material's file is no longer in the file store: upload it again.",
                "该材料的文件已不在文件存储中，请重新上传。",
            ),
            Self::MaterialNeedsRevision => {
                ("A reviewer asked for a new file of this material.", "审核人员要求重新上传该材料。")
            }
            Self::OrderInFlight => (
                "This subject already has an order under review or at the bureau: one order per subject at a time.",
                "该主体已有正在审核或管局审核中的备案订单，同一主体同时只能有一个订单。",
            ),
            Self::ChangeNotAllowed => (
                "This kind of order cannot change this: start the order type that does.",
                "该类型的订单不能变更此项，请发起相应类型的订单。",
            ),
            Self::DomainRemovalNotAllowed => (
                "A filed domain can only be removed by a website change order (变更网站).",
                "已备案的域名只能通过变更网站订单删除。",
            ),
            Self::NoChange => ("This order changes nothing yet.", "该订单尚未作任何变更。"),
            Self::LastWebsite => (
                "A subject keeps at least one website: to cancel them all, cancel the subject (注销主体).",
                "主体下至少保留一个网站；如需全部注销，请办理注销主体。",
            ),
            Self::NotCurrentRecord => (
                "Orders start from the filed record as it stands now: this filing is not it (not approved yet, or \
                 superseded by a later order, or cancelled).",
                "只能基于当前有效的备案记录发起订单：该订单尚未备案、已被后续订单取代或已注销。",
            ),
            Self::NumberMismatch => ("This is not the ICP number this order names.", "与本订单所填的备案号不一致。"),
            Self::WrongCode => ("The code is not right.", "验证码不正确。"),
            Self::CodeExpired => ("This code no longer works: ask for a new one.", "验证码已失效，请重新获取。"),
            Self::CertificateNumberMismatch => {
                ("The number on the document differs from the one in the form.", "证件上的号码与表单中填写的不一致。")
            }
            Self::CertificateExpiring => {
                ("The document must stay valid for more than three months.", "证件有效期须在三个月以上。")
            }
            Self::InvalidTemplate => ("This template does not render.", "模板无法渲染。"),
            Self::ControlCharacter => (
                "Remove the line break, tab or invisible control character (such as a right-to-left override): \
                 this text must be plain.",
                "请删除换行符、制表符或不可见的控制字符（如从右至左覆盖字符），此处只能填写普通文字。",
            ),
            Self::NumberInUse => (
                "Another subject's filed record holds this ICP number: a number belongs to one subject.",
                "该备案号已属于另一主体的有效备案，一个备案号只能属于一个主体。",
            ),
            Self::PhoneUnverified => (
                "This responsible person has not confirmed their mobile number yet: start the mobile verification \
                 and let them enter the code sent to their phone.",
                "该负责人尚未完成手机号码验证：请发起手机验证，由负责人输入手机收到的验证码。",
            ),
            Self::LastAdmin => (
                "The registrar needs at least one active administrator: appoint another one first.",
                "至少需要保留一名有效的管理员，请先指定其他管理员。",
            ),
            Self::UrlNotAllowed => (
                "Webhooks go to https:// addresses on the public internet only.",
                "Webhook 地址须为公网上的 https:// 地址。",
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
    /// What to do about it, when there is more to say than the message.
    pub suggestion: Option<(String, String)>,
    pub severity: Severity,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: FieldErrorCode) -> Self {
        let (message, message_zh) = code.messages();
        Self {
            field: field.into(),
            code,
            message: message.to_owned(),
            message_zh: message_zh.to_owned(),
            suggestion: None,
            severity: Severity::Error,
        }
    }

    /// The same error with a more specific message than the code's default.
    pub fn with_message(mut self, message: impl Into<String>, message_zh: impl Into<String>) -> Self {
        self.message = message.into();
        self.message_zh = message_zh.into();
        self
    }
}

impl FieldError {
    /// The same finding with a suggestion (English, Chinese).
    pub fn suggest(mut self, suggestion: impl Into<String>, suggestion_zh: impl Into<String>) -> Self {
        self.suggestion = Some((suggestion.into(), suggestion_zh.into()));
        self
    }

    /// The same finding as a warning.
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.code.as_str())
    }
}
