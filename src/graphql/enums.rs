//! GraphQL enumerations. Each mirrors a domain enumeration (`remote`), which generates the conversions both ways;
//! the GraphQL names are the stored names, so a value means the same in the API, the database and the logs.

use async_graphql::Enum;

use crate::domain;

/// The kind of filing order.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "domain::FilingType")]
pub enum FilingType {
    /// 首次备案 (first filing)
    FirstFiling,
    /// 新增网站 (add website)
    AddWebsite,
    /// 新增接入 (add access)
    AddAccess,
    /// 变更主体 (change subject)
    ChangeSubject,
    /// 变更网站 (change website)
    ChangeWebsite,
    /// 变更接入 (change access)
    ChangeAccess,
    /// 注销主体 (cancel subject)
    CancelSubject,
    /// 注销网站 (cancel website)
    CancelWebsite,
    /// 取消接入 (cancel access)
    CancelAccess,
}

/// What an order does with one of its websites.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "domain::WebsiteOperation")]
pub enum WebsiteOperation {
    /// 新增: new to the record (every website of a first filing or an add-access order, an added website)
    New,
    /// 沿用: a filed website carried over from the record (changed only where the order's type allows)
    Carried,
    /// 注销: the order cancels the website's filing
    Cancel,
    /// 取消接入: the registrar stops hosting the website; its number stays with the subject
    CancelAccess,
}

/// Where a filing stands in the review workflow.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "domain::FilingStatus")]
pub enum FilingStatus {
    /// 草稿 (draft)
    Draft,
    /// 待初审 (pending review)
    PendingReview,
    /// 初审中 (in review)
    InReview,
    /// 已退回 (returned)
    Returned,
    /// 工信部短信核验 (sms verification)
    SmsVerification,
    /// 短信核验未通过 (SMS check timed out or failed: back with the registrar, who resends it or returns the filing)
    SmsFailed,
    /// 管局审核 (bureau review)
    BureauReview,
    /// 已备案 (approved)
    Approved,
    /// 已放弃 (abandoned)
    Abandoned,
}

/// Subject type (单位性质).
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "domain::SubjectType")]
pub enum SubjectType {
    /// 国防机构 (national defence)
    NationalDefence,
    /// 政府机关 (government)
    Government,
    /// 事业单位 (public institution)
    PublicInstitution,
    /// 企业 (enterprise)
    Enterprise,
    /// 个人 (individual)
    Individual,
    /// 社会团体 (social organisation)
    SocialOrganisation,
    /// 民办非企业单位 (private non enterprise)
    PrivateNonEnterprise,
    /// 基金会 (foundation)
    Foundation,
    /// 律师执业机构 (law firm)
    LawFirm,
    /// 外国在华文化中心 (foreign cultural centre)
    ForeignCulturalCentre,
    /// 群众性团体组织 (mass organisation)
    MassOrganisation,
    /// 司法鉴定机构 (forensic institution)
    ForensicInstitution,
    /// 宗教团体 (religious group)
    ReligiousGroup,
    /// 境外机构 (overseas institution)
    OverseasInstitution,
    /// 医疗机构 (medical institution)
    MedicalInstitution,
    /// 公证机构 (notary)
    Notary,
    /// 集体经济 (collective economy)
    CollectiveEconomy,
    /// 仲裁机构 (arbitration)
    Arbitration,
}

/// Certificate (证件) types, of people and of organisations.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "domain::CertificateType")]
pub enum CertificateType {
    /// 居民身份证 (resident id card)
    ResidentIdCard,
    /// 护照 (passport)
    Passport,
    /// 台湾居民来往大陆通行证 (taiwan travel permit)
    TaiwanTravelPermit,
    /// 港澳居民来往内地通行证 (hk macau travel permit)
    HkMacauTravelPermit,
    /// 外国人永久居留身份证 (foreign permanent resident id)
    ForeignPermanentResidentId,
    /// 港澳居民居住证 (hk macau residence permit)
    HkMacauResidencePermit,
    /// 台湾居民居住证 (taiwan residence permit)
    TaiwanResidencePermit,
    /// 营业执照 (business licence)
    BusinessLicence,
    /// 组织机构代码证 (organisation code certificate)
    OrganisationCodeCertificate,
    /// 外国企业常驻代表机构登记证 (foreign enterprise representative office)
    ForeignEnterpriseRepresentativeOffice,
    /// 统一社会信用代码证书 (uscc certificate)
    UsccCertificate,
    /// 事业单位法人证书 (public institution legal person certificate)
    PublicInstitutionLegalPersonCertificate,
    /// 社会团体法人登记证书 (social organisation registration)
    SocialOrganisationRegistration,
    /// 民办非企业单位登记证书 (private non enterprise registration)
    PrivateNonEnterpriseRegistration,
    /// 基金会法人登记证书 (foundation registration)
    FoundationRegistration,
    /// 律师事务所执业许可证 (law firm practice licence)
    LawFirmPracticeLicence,
    /// 其他组织证件 (other organisation certificate)
    OtherOrganisationCertificate,
}

/// Service content (服务内容) of a website.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "domain::ServiceContent")]
pub enum ServiceContent {
    /// 即时通信 (instant messaging)
    InstantMessaging,
    /// 搜索引擎 (search engine)
    SearchEngine,
    /// 综合门户 (comprehensive portal)
    ComprehensivePortal,
    /// 网上邮局 (webmail)
    Webmail,
    /// 网络新闻 (online news)
    OnlineNews,
    /// 博客/个人空间 (blog personal space)
    BlogPersonalSpace,
    /// 网络广告/信息 (online advertising)
    OnlineAdvertising,
    /// 单位门户网站 (organisation portal)
    OrganisationPortal,
    /// 网上购物 (online shopping)
    OnlineShopping,
    /// 网上支付 (online payment)
    OnlinePayment,
    /// 网上银行 (online banking)
    OnlineBanking,
    /// 网上炒股/股票基金 (online securities)
    OnlineSecurities,
    /// 网络游戏 (online games)
    OnlineGames,
    /// 网络音乐 (online music)
    OnlineMusic,
    /// 网络影视 (online video)
    OnlineVideo,
    /// 网络图片 (online pictures)
    OnlinePictures,
    /// 网络软件/下载 (software download)
    SoftwareDownload,
    /// 求职招聘 (job search)
    JobSearch,
    /// 网上交友/婚介 (dating)
    Dating,
    /// 房地产 (real estate)
    RealEstate,
    /// 网络教育 (online education)
    OnlineEducation,
    /// 网站建设 (website building)
    WebsiteBuilding,
    /// WAP (wap)
    Wap,
    /// 其他 (other)
    Other,
    /// APP (app)
    App,
    /// P2P网络借贷中介 (p2p lending)
    #[graphql(name = "P2P_LENDING")]
    P2pLending,
    /// 股权众筹 (equity crowdfunding)
    EquityCrowdfunding,
    /// 互联网保险 (online insurance)
    OnlineInsurance,
    /// 互联网跨界金融 (cross sector finance)
    CrossSectorFinance,
    /// 非银行支付 (non bank payment)
    NonBankPayment,
}

/// Languages a website is published in.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "domain::Language")]
pub enum Language {
    /// 中文简体 (simplified chinese)
    SimplifiedChinese,
    /// 中文繁体 (traditional chinese)
    TraditionalChinese,
    /// 维吾尔语 (uyghur)
    Uyghur,
    /// 哈萨克语 (kazakh)
    Kazakh,
    /// 柯尔克孜语 (kyrgyz)
    Kyrgyz,
    /// 蒙古语 (mongolian)
    Mongolian,
    /// 藏语 (tibetan)
    Tibetan,
    /// 壮语 (zhuang)
    Zhuang,
    /// 朝鲜语 (korean)
    Korean,
    /// 彝语 (yi)
    Yi,
    /// 苗语 (miao)
    Miao,
    /// 英语 (english)
    English,
    /// 日语 (japanese)
    Japanese,
    /// 法语 (french)
    French,
    /// 俄语 (russian)
    Russian,
    /// 西班牙语 (spanish)
    Spanish,
    /// 阿拉伯语 (arabic)
    Arabic,
}

/// How a website is connected to the registrar (接入方式).
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "domain::AccessMethod")]
pub enum AccessMethod {
    /// 专线 (leased line)
    LeasedLine,
    /// 主机托管 (colocation)
    Colocation,
    /// 虚拟主机 (virtual hosting)
    VirtualHosting,
    /// 云主机 (cloud)
    Cloud,
    /// 其他 (other)
    Other,
}

/// Pre-approval categories (前置审批). A website with none lists no pre-approvals, explicitly.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "domain::PreApprovalCategory")]
pub enum PreApprovalCategory {
    /// 新闻 (news)
    News,
    /// 出版 (publishing)
    Publishing,
    /// 教育 (education)
    Education,
    /// 医疗保健 (medical care)
    MedicalCare,
    /// 药品和医疗器械 (drugs and medical devices)
    DrugsAndMedicalDevices,
    /// 电子公告服务 (electronic bulletin)
    ElectronicBulletin,
    /// 文化 (culture)
    Culture,
    /// 广播电影电视节目 (radio film tv)
    RadioFilmTv,
    /// 网络预约出租汽车 (ride hailing)
    RideHailing,
    /// 互联网金融 (internet finance)
    InternetFinance,
    /// 校外培训 (off campus tutoring)
    OffCampusTutoring,
    /// 宗教 (religion)
    Religion,
}
/// What happened to a filing, as recorded in its audit trail, the change feed (`filingEvents`) and webhooks. Every
/// event carries who acted, when, the filing, and `fromStatus`/`toStatus` when the status moved; the values below
/// say what else each carries (`changes`, `reasons`, `details`).
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "crate::services::audit::FilingAction")]
pub enum FilingAction {
    /// The draft was created (`toStatus` DRAFT). A change order's details: `filingType`, `baseFilingId` (the
    /// filed record it amends) and `websites` (`baseWebsiteId`, `operation`) it does more than carry.
    FilingCreated,
    /// The subject or its responsible person changed (`changes`, personal data masked).
    SubjectUpdated,
    /// A website was added.
    WebsiteAdded,
    /// A website or its responsible person changed.
    WebsiteUpdated,
    /// A website was removed.
    WebsiteRemoved,
    /// A material was uploaded, replacing the one before it in its slot if any (`changes` names the slot).
    AttachmentUploaded,
    /// A material was removed.
    AttachmentRemoved,
    /// The applicant submitted the filing for review.
    Submitted,
    /// The applicant took the filing back before the 初审 decision.
    Withdrawn,
    /// The applicant gave the filing up.
    Abandoned,
    /// A reviewer took the filing for review.
    ReviewClaimed,
    /// A reviewer gave the review back to the queue.
    ReviewReleased,
    /// The preliminary review (初审) passed; the MIIT SMS check began.
    PreliminaryApproved,
    /// The preliminary review returned the filing with reasons (`reasons`; details `reasons`).
    PreliminaryRejected,
    /// A reviewer, or the face-verification service, decided on a material. Details: `attachmentId`, `kind`,
    /// `accepted`, `reason`, and `by` (LIVENESS_SERVICE for the face check).
    AttachmentReviewed,
    /// A responsible person confirmed the MIIT SMS.
    SmsConfirmed,
    /// A responsible person's SMS confirmation failed.
    SmsAttemptFailed,
    /// Every person confirmed: the filing went to the bureau.
    SmsCompleted,
    /// The SMS check failed (deadline passed or too many failures): back with the registrar (`reasons`).
    SmsCheckFailed,
    /// The registrar started a new SMS round.
    SmsResent,
    /// The registrar returned the filing to the applicant.
    ReturnedToApplicant,
    /// The bureau approved and issued ICP numbers. Details: `subjectNumber` (the 主体备案号) and `websites`, each
    /// `websiteId` with its `number`.
    BureauApproved,
    /// The bureau refused the filing with reasons (`reasons`; details `reasons`).
    BureauRejected,
    /// A mobile hand-off (QR code) was started for a responsible person. Details: `sessionId` (the
    /// MobileVerification), `person` (the person's name) and, for a website's person, `websiteId`.
    MobileVerificationStarted,
    /// A mobile hand-off was ended before it expired: its token stopped working. Details: `sessionId`, `person`.
    MobileVerificationRevoked,
    /// A code was sent to a responsible person's mobile. Details: `sessionId`, `person`.
    PhoneCodeSent,
    /// A responsible person confirmed their mobile number with the code sent to it. Details: `sessionId`, `person`.
    PhoneVerified,
    /// A website's responsible person started the face check: the digits to read aloud were drawn. Details:
    /// `sessionId`, `person`.
    FaceCheckStarted,
    /// The people who have not confirmed the MIIT SMS were reminded that its deadline is near. Details: `people`
    /// (their names).
    SmsReminderSent,
    /// Retention: the draft was left unchanged for the configured period (or abandoned that long ago), so its
    /// personal data and files were purged. Details: `retentionDays`, `attachments` (how many), `websites`.
    PersonalDataPurged,
}

/// The kind of caller that acted.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "crate::auth::ActorKind")]
pub enum ActorKind {
    /// A registrar backend, calling with one of the tenant's API keys.
    ApiKey,
    /// A person signed in with an account.
    Account,
    /// The server itself, acting on a deadline.
    System,
}

/// The role of an account within its registrar.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "crate::auth::Role")]
pub enum Role {
    /// Files for their own subject and websites; sees only their own filings.
    Applicant,
    /// Registrar staff doing the preliminary review (初审); sees every filing of the registrar.
    Reviewer,
    /// Registrar staff managing accounts, API keys and settings; sees every filing of the registrar.
    Admin,
}

/// Whether an account may sign in.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "crate::services::accounts::AccountStatus")]
pub enum AccountStatus {
    /// May sign in.
    Active,
    /// Registered; the email address is not confirmed yet.
    Pending,
    /// Invited staff who has not set a password yet.
    Invited,
    /// Switched off by an administrator.
    Disabled,
}

/// What an API key may do.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "crate::auth::ApiKeyScope")]
pub enum ApiKeyScope {
    /// Read every filing of the registrar; change nothing.
    ReadOnly,
    /// Read, and create and edit filings on the applicants' behalf.
    Full,
    /// Everything a full-access key may do, and manage the registrar's webhook endpoints.
    Admin,
}

/// Something a caller may do.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "crate::auth::Permission")]
pub enum Permission {
    /// Read the filings the caller owns.
    ReadOwnFilings,
    /// Read every filing of the registrar.
    ReadAllFilings,
    /// Create filings and edit their data while they are editable.
    EditFilings,
    /// Read personal data in full: certificate (ID) numbers, phones and emails of subjects and responsible persons.
    /// Without it (administrators, read-only API keys) they are masked: `138****8000`, `110***********002X`,
    /// `a***@example.com`.
    ReadPersonalData,
    /// Invite staff, change roles, disable accounts.
    ManageAccounts,
    /// Create and revoke API keys.
    ManageApiKeys,
    /// Change the registrar's settings.
    ManageSettings,
    /// Register, change and test the registrar's webhook endpoints, and read their delivery logs.
    ManageWebhooks,
}

/// Kinds of material (备案材料) a filing carries.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "domain::MaterialKind")]
pub enum MaterialKind {
    /// 主体证件: the subject's certificate (business licence, ...).
    SubjectCertificate,
    /// 负责人证件正面: front of a responsible person's ID (the subject's, or the website's with websiteId).
    IdCardFront,
    /// 负责人证件反面: back of a responsible person's ID.
    IdCardBack,
    /// 真实性核验照片: the website responsible person's verification photo.
    FacePhoto,
    /// 真实性核验视频: the website responsible person's verification video.
    FaceVideo,
    /// 网站备案信息真实性核验单: the signed verification sheet.
    VerificationSheet,
    /// 承诺书: the signed commitment letter.
    CommitmentLetter,
    /// 信息安全管理协议: the information security management agreement.
    SecurityAgreement,
    /// 法人授权书: the legal representative's authorisation.
    LegalRepresentativeAuthorisation,
    /// 前置审批文件: a pre-approval licence (with websiteId and preApprovalCategory).
    PreApprovalLicence,
    /// 域名证书: a domain certificate (with websiteId).
    DomainCertificate,
    /// 居住证明: proof of residence for individuals filing outside their ID's province.
    ResidenceProof,
    /// 注销申请书: the signed application of a cancellation order (注销主体, 注销网站, 取消接入).
    CancellationApplication,
    /// 其他材料: anything else the registrar asks for.
    Other,
}

/// Where an attachment stands.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "crate::services::attachments::AttachmentStatus")]
pub enum AttachmentStatus {
    /// An upload URL was issued; the file is not checked yet.
    Pending,
    /// The file is stored and checked.
    Uploaded,
}

/// A reviewer's verdict on a material.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "entity::enums::ReviewStatus")]
pub enum ReviewStatus {
    /// Accepted as it is.
    Accepted,
    /// A new file is needed; `reviewReason` says why.
    NeedsRevision,
}

/// Where a responsible person's MIIT SMS check (工信部短信核验) stands in the current round.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "entity::enums::SmsCheckStatus")]
pub enum SmsCheckStatus {
    /// Texted; the person has not confirmed yet.
    Pending,
    /// The person confirmed.
    Confirmed,
    /// Five failed confirmations ended the round.
    Failed,
}

/// Where a required material stands.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "crate::services::attachments::ItemState")]
pub enum ChecklistItemState {
    /// Nothing uploaded yet.
    Missing,
    /// Uploaded and checked, not reviewed yet.
    Uploaded,
    /// A reviewer accepted it.
    Accepted,
    /// A reviewer asked for a new file (see the reason).
    NeedsRevision,
}

/// A workflow mutation the caller may perform on a filing now (`Filing.availableActions`). Each value is the
/// mutation's name: `SUBMIT_FILING` is `submitFiling`.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "crate::services::workflow::AvailableAction")]
pub enum AvailableAction {
    /// `submitFiling`: to the preliminary review (a cancellation order: straight to the MIIT SMS check).
    SubmitFiling,
    /// `withdrawFiling`: back to a draft before the preliminary review's decision.
    WithdrawFiling,
    /// `abandonFiling`: give the filing up.
    AbandonFiling,
    /// `claimReview`: a reviewer takes the filing.
    ClaimReview,
    /// `releaseReview`: the reviewer hands it back to the queue.
    ReleaseReview,
    /// `approvePreliminaryReview`: on to the MIIT SMS check.
    ApprovePreliminaryReview,
    /// `rejectPreliminaryReview`: back to the applicant with reasons.
    RejectPreliminaryReview,
    /// `recordSmsVerification`: a responsible person confirmed MIIT's text, or failed to.
    RecordSmsVerification,
    /// `resubmitToMiit`: a new SMS round after the check failed.
    ResubmitToMiit,
    /// `returnToApplicant`: after a failed SMS check, back to the applicant.
    ReturnToApplicant,
    /// `recordBureauDecision`: the bureau approved (with the ICP number) or refused.
    RecordBureauDecision,
}

/// The messages the server sends: account mail and one per stage of a filing.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "crate::mail::Stage")]
pub enum EmailStage {
    /// Confirm the address of a new applicant account.
    EmailVerification,
    /// Someone tried to register with an address that already has an account.
    AccountExists,
    /// A link to choose a new password.
    PasswordReset,
    /// A staff member is invited to set up their account.
    StaffInvitation,
    /// The password of the account was changed.
    PasswordChanged,
    /// The filing was submitted (applicant).
    SubmissionReceived,
    /// A reviewer started the preliminary review (applicant).
    ReviewStarted,
    /// The preliminary review returned the filing, with every reason and suggestion (applicant).
    PreliminaryRejected,
    /// The preliminary review passed: what the MIIT SMS check is and its 24-hour deadline (applicant and responsible
    /// persons).
    PreliminaryApproved,
    /// A new MIIT SMS round (resubmission to MIIT, or a cancellation order) (applicant and responsible persons).
    SmsCheckStarted,
    /// The SMS deadline is near (applicant and the persons who have not confirmed).
    SmsReminder,
    /// The SMS check timed out or failed (applicant).
    SmsFailed,
    /// Returned after a failed SMS check, with reasons (applicant).
    ReturnedToApplicant,
    /// Every person confirmed: at the bureau (applicant).
    SentToBureau,
    /// The bureau approved: the ICP numbers and how to show them (applicant and responsible persons).
    BureauApproved,
    /// The bureau refused, with reasons (applicant).
    BureauRejected,
    /// The filing was withdrawn (applicant).
    Withdrawn,
    /// The filing was abandoned (applicant).
    Abandoned,
    /// A webhook endpoint kept failing and was disabled (administrators).
    WebhookDisabled,
}

/// The language of a person's mail.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "crate::mail::MailLanguage")]
pub enum PreferredLanguage {
    /// Simplified Chinese.
    Zh,
    /// English.
    En,
}

/// Why a field was refused or flagged (`Finding.code`; `extensions.fields[].code` of BAD_USER_INPUT carries the
/// same names). Made from the domain's codes, each described by its default messages, so the schema lists every
/// code there is. A finding's own message may say more than the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldErrorCode(pub domain::FieldErrorCode);

impl async_graphql::OutputType for FieldErrorCode {
    fn type_name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("FieldErrorCode")
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        use strum::IntoEnumIterator;
        let values = domain::FieldErrorCode::iter().map(|code| {
            let (en, zh) = code.messages();
            (code.as_str().to_owned(), enum_value(code.as_str(), format!("{en} {zh}")))
        });
        let description = "Why a field was refused or flagged (`Finding.code`; `extensions.fields[].code` of \
                           BAD_USER_INPUT carries the same names). Each value's description is its default message, \
                           in English and Chinese; a finding may say more.";
        register_enum::<Self>(registry, description, values.collect())
    }

    async fn resolve(
        &self,
        _: &async_graphql::ContextSelectionSet<'_>,
        _: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<async_graphql::Value> {
        Ok(async_graphql::Value::Enum(async_graphql::Name::new(self.0.as_str())))
    }
}

/// A webhook message's `type`: the `FilingAction` of the event it carries, or `PING` for a test ping. Made from
/// `FilingAction` (its values and their descriptions) and `PING`, so the two lists cannot drift apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEventType(pub String);

impl async_graphql::OutputType for WebhookEventType {
    fn type_name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("WebhookEventType")
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        use async_graphql::registry::MetaType;
        <FilingAction as async_graphql::OutputType>::create_type_info(registry);
        let actions = <FilingAction as async_graphql::OutputType>::type_name();
        let mut values = match registry.types.get(actions.as_ref()) {
            Some(MetaType::Enum { enum_values, .. }) => enum_values.clone(),
            _ => Default::default(),
        };
        let ping = crate::services::webhooks::PING;
        values.insert(ping.to_owned(), enum_value(ping, "A test ping (`pingWebhookEndpoint`); it carries no event."));
        let description = "A webhook message's `type`: the `FilingAction` of the event it carries, or `PING`.";
        register_enum::<Self>(registry, description, values)
    }

    async fn resolve(
        &self,
        _: &async_graphql::ContextSelectionSet<'_>,
        _: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<async_graphql::Value> {
        Ok(async_graphql::Value::Enum(async_graphql::Name::new(&self.0)))
    }
}

/// One value of an enumeration this module builds by hand.
fn enum_value(name: &str, description: impl Into<String>) -> async_graphql::registry::MetaEnumValue {
    async_graphql::registry::MetaEnumValue {
        name: name.to_owned(),
        description: Some(description.into()),
        deprecation: async_graphql::registry::Deprecation::NoDeprecated,
        visible: None,
        inaccessible: false,
        tags: Vec::new(),
        directive_invocations: Vec::new(),
    }
}

/// Registers an enumeration built by hand (its values made from another list) under `T`'s name.
fn register_enum<T: async_graphql::OutputType>(
    registry: &mut async_graphql::registry::Registry,
    description: &str,
    values: async_graphql::indexmap::IndexMap<String, async_graphql::registry::MetaEnumValue>,
) -> String {
    use async_graphql::registry::{MetaType, MetaTypeId};
    registry.create_output_type::<T, _>(MetaTypeId::Enum, |_| MetaType::Enum {
        name: T::type_name().into_owned(),
        description: Some(description.to_owned()),
        enum_values: values.clone(),
        visible: None,
        inaccessible: false,
        tags: Vec::new(),
        rust_typename: Some(std::any::type_name::<T>()),
        directive_invocations: Vec::new(),
        requires_scopes: Vec::new(),
    })
}
