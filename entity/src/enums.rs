//! The closed sets stored in columns (the filing forms' enumerations and the statuses), as sea-orm active enums: a column holds the variant's stable
//! SCREAMING_SNAKE_CASE name (`PENDING`, `NEEDS_REVISION`, ...), Rust code sees the enum, and a row holding a name
//! no variant has fails to load instead of being misread. The names are part of the API (GraphQL enums mirror
//! them) and of the database: add variants, never rename one.

use sea_orm::entity::prelude::*;
use sea_orm::sqlx::{
    self, Postgres,
    postgres::{PgTypeInfo, PgValueRef},
};

macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum, strum::IntoStaticStr,
            strum::EnumString, strum::Display, serde::Serialize, serde::Deserialize,
        )]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = "SCREAMING_SNAKE_CASE")]
        #[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The stable name this value is stored and exchanged as.
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        // Decoding straight from PostgreSQL's row, for the service layer's positional decoder.
        impl sqlx::Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <&str as sqlx::Type<Postgres>>::type_info()
            }

            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as sqlx::Type<Postgres>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let name = <&str as sqlx::Decode<Postgres>>::decode(value)?;
                Ok(name.parse::<Self>().map_err(|_| format!("{} is not a {}", name, stringify!($name)))?)
            }
        }
    };
}

/// A stored enumeration of the filing forms: a [`stored_enum`] with each value's name on the Chinese forms.
macro_rules! domain_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $zh:literal),+ $(,)? }) => {
        stored_enum! { $(#[$meta])* $name { $($(#[$vmeta])* $variant),+ } }

        impl $name {
            /// The name used on the Chinese forms.
            pub fn label_zh(self) -> &'static str {
                match self {
                    $(Self::$variant => $zh),+
                }
            }
        }
    };
}

// ---- The enumerations of the ICP filing forms (see the domain reference). MIIT's numeric form codes are mapped
// only at the edges that need them. `beian::domain` re-exports them with the rules that use them.

domain_enum! {
    /// The kind of filing order.
    FilingType {
        FirstFiling => "首次备案",
        AddWebsite => "新增网站",
        AddAccess => "新增接入",
        ChangeSubject => "变更主体",
        ChangeWebsite => "变更网站",
        ChangeAccess => "变更接入",
        CancelSubject => "注销主体",
        CancelWebsite => "注销网站",
        CancelAccess => "取消接入",
    }
}

impl FilingType {
    /// Cancellation orders skip the preliminary review (初审): straight to the MIIT SMS check and the bureau.
    pub fn skips_preliminary_review(self) -> bool {
        matches!(self, Self::CancelSubject | Self::CancelWebsite | Self::CancelAccess)
    }

    /// Orders that amend a filed record (every type but a first filing and an add-access order, which bring a
    /// subject this registrar has no record of).
    pub fn amends_record(self) -> bool {
        !matches!(self, Self::FirstFiling | Self::AddAccess)
    }
}

domain_enum! {
    /// What an order does with one of its websites.
    WebsiteOperation {
        /// A website new to the record (every website of a first filing or an add-access order, added websites).
        New => "新增",
        /// A filed website carried over from the record (unchanged, or changed by a change order).
        Carried => "沿用",
        /// A filed website this order cancels (注销网站).
        Cancel => "注销",
        /// A filed website this registrar stops hosting (取消接入); its number stays with the subject.
        CancelAccess => "取消接入",
    }
}

domain_enum! {
    /// Where a filing stands in the review workflow.
    FilingStatus {
        Draft => "草稿",
        PendingReview => "待初审",
        InReview => "初审中",
        Returned => "已退回",
        SmsVerification => "工信部短信核验",
        SmsFailed => "短信核验未通过",
        BureauReview => "管局审核",
        Approved => "已备案",
        Abandoned => "已放弃",
    }
}

impl FilingStatus {
    /// Whether the applicant's data may be edited in this state: only before submission or after a return.
    pub fn is_editable(self) -> bool {
        matches!(self, Self::Draft | Self::Returned)
    }
}

domain_enum! {
    /// Subject type (单位性质).
    SubjectType {
        NationalDefence => "国防机构",
        Government => "政府机关",
        PublicInstitution => "事业单位",
        Enterprise => "企业",
        Individual => "个人",
        SocialOrganisation => "社会团体",
        PrivateNonEnterprise => "民办非企业单位",
        Foundation => "基金会",
        LawFirm => "律师执业机构",
        ForeignCulturalCentre => "外国在华文化中心",
        MassOrganisation => "群众性团体组织",
        ForensicInstitution => "司法鉴定机构",
        ReligiousGroup => "宗教团体",
        OverseasInstitution => "境外机构",
        MedicalInstitution => "医疗机构",
        Notary => "公证机构",
        CollectiveEconomy => "集体经济",
        Arbitration => "仲裁机构",
    }
}

impl SubjectType {
    /// The code of this subject type on MIIT's forms.
    pub fn miit_code(self) -> u8 {
        match self {
            Self::NationalDefence => 1,
            Self::Government => 2,
            Self::PublicInstitution => 3,
            Self::Enterprise => 4,
            Self::Individual => 5,
            Self::SocialOrganisation => 6,
            Self::PrivateNonEnterprise => 9,
            Self::Foundation => 10,
            Self::LawFirm => 11,
            Self::ForeignCulturalCentre => 12,
            Self::MassOrganisation => 13,
            Self::ForensicInstitution => 14,
            Self::ReligiousGroup => 15,
            Self::OverseasInstitution => 16,
            Self::MedicalInstitution => 17,
            Self::Notary => 18,
            Self::CollectiveEconomy => 19,
            Self::Arbitration => 20,
        }
    }
}

domain_enum! {
    /// Certificate (证件) types, of people and of organisations.
    CertificateType {
        ResidentIdCard => "居民身份证",
        Passport => "护照",
        TaiwanTravelPermit => "台湾居民来往大陆通行证",
        HkMacauTravelPermit => "港澳居民来往内地通行证",
        ForeignPermanentResidentId => "外国人永久居留身份证",
        HkMacauResidencePermit => "港澳居民居住证",
        TaiwanResidencePermit => "台湾居民居住证",
        BusinessLicence => "营业执照",
        OrganisationCodeCertificate => "组织机构代码证",
        ForeignEnterpriseRepresentativeOffice => "外国企业常驻代表机构登记证",
        UsccCertificate => "统一社会信用代码证书",
        PublicInstitutionLegalPersonCertificate => "事业单位法人证书",
        SocialOrganisationRegistration => "社会团体法人登记证书",
        PrivateNonEnterpriseRegistration => "民办非企业单位登记证书",
        FoundationRegistration => "基金会法人登记证书",
        LawFirmPracticeLicence => "律师事务所执业许可证",
        OtherOrganisationCertificate => "其他组织证件",
    }
}

impl CertificateType {
    /// Whether this certificate identifies a natural person (as opposed to an organisation).
    pub fn is_personal(self) -> bool {
        matches!(
            self,
            Self::ResidentIdCard
                | Self::Passport
                | Self::TaiwanTravelPermit
                | Self::HkMacauTravelPermit
                | Self::ForeignPermanentResidentId
                | Self::HkMacauResidencePermit
                | Self::TaiwanResidencePermit
        )
    }
}

domain_enum! {
    /// Service content (服务内容) of a website.
    ServiceContent {
        InstantMessaging => "即时通信",
        SearchEngine => "搜索引擎",
        ComprehensivePortal => "综合门户",
        Webmail => "网上邮局",
        OnlineNews => "网络新闻",
        BlogPersonalSpace => "博客/个人空间",
        OnlineAdvertising => "网络广告/信息",
        OrganisationPortal => "单位门户网站",
        OnlineShopping => "网上购物",
        OnlinePayment => "网上支付",
        OnlineBanking => "网上银行",
        OnlineSecurities => "网上炒股/股票基金",
        OnlineGames => "网络游戏",
        OnlineMusic => "网络音乐",
        OnlineVideo => "网络影视",
        OnlinePictures => "网络图片",
        SoftwareDownload => "网络软件/下载",
        JobSearch => "求职招聘",
        Dating => "网上交友/婚介",
        RealEstate => "房地产",
        OnlineEducation => "网络教育",
        WebsiteBuilding => "网站建设",
        Wap => "WAP",
        Other => "其他",
        App => "APP",
        P2pLending => "P2P网络借贷中介",
        EquityCrowdfunding => "股权众筹",
        OnlineInsurance => "互联网保险",
        CrossSectorFinance => "互联网跨界金融",
        NonBankPayment => "非银行支付",
    }
}

domain_enum! {
    /// Languages a website is published in.
    Language {
        SimplifiedChinese => "中文简体",
        TraditionalChinese => "中文繁体",
        Uyghur => "维吾尔语",
        Kazakh => "哈萨克语",
        Kyrgyz => "柯尔克孜语",
        Mongolian => "蒙古语",
        Tibetan => "藏语",
        Zhuang => "壮语",
        Korean => "朝鲜语",
        Yi => "彝语",
        Miao => "苗语",
        English => "英语",
        Japanese => "日语",
        French => "法语",
        Russian => "俄语",
        Spanish => "西班牙语",
        Arabic => "阿拉伯语",
    }
}

domain_enum! {
    /// How a website is connected to the registrar (接入方式).
    AccessMethod {
        LeasedLine => "专线",
        Colocation => "主机托管",
        VirtualHosting => "虚拟主机",
        Cloud => "云主机",
        Other => "其他",
    }
}

domain_enum! {
    /// Pre-approval categories (前置审批). A website with none lists no pre-approvals, explicitly.
    PreApprovalCategory {
        News => "新闻",
        Publishing => "出版",
        Education => "教育",
        MedicalCare => "医疗保健",
        DrugsAndMedicalDevices => "药品和医疗器械",
        ElectronicBulletin => "电子公告服务",
        Culture => "文化",
        RadioFilmTv => "广播电影电视节目",
        RideHailing => "网络预约出租汽车",
        InternetFinance => "互联网金融",
        OffCampusTutoring => "校外培训",
        Religion => "宗教",
    }
}

domain_enum! {
    /// Kinds of material (备案材料) a filing carries.
    MaterialKind {
        SubjectCertificate => "主体证件",
        IdCardFront => "负责人证件正面",
        IdCardBack => "负责人证件反面",
        FacePhoto => "真实性核验照片",
        FaceVideo => "真实性核验视频",
        VerificationSheet => "网站备案信息真实性核验单",
        CommitmentLetter => "承诺书",
        SecurityAgreement => "信息安全管理协议",
        LegalRepresentativeAuthorisation => "法人授权书",
        PreApprovalLicence => "前置审批文件",
        DomainCertificate => "域名证书",
        ResidenceProof => "居住证明",
        CancellationApplication => "注销申请书",
        Other => "其他材料",
    }
}

// ---- Status-like columns.

stored_enum! {
    /// Whether a registrar may use the server.
    TenantStatus {
        Active,
        Suspended,
    }
}

stored_enum! {
    /// The role of an account within its registrar.
    Role {
        /// Files for their own subject and websites; sees only their own filings.
        Applicant,
        /// Registrar staff doing the preliminary review (初审); sees every filing of the tenant.
        Reviewer,
        /// Registrar staff managing accounts, API keys and settings; sees every filing of the tenant.
        Admin,
    }
}

stored_enum! {
    /// Whether an account may sign in.
    AccountStatus {
        /// May sign in.
        Active,
        /// Registered, email address not yet confirmed.
        Pending,
        /// Invited staff who has not set a password yet.
        Invited,
        /// Switched off by an administrator.
        Disabled,
    }
}

stored_enum! {
    /// The kind of caller, as the audit trail records it.
    ActorKind {
        /// A registrar backend with an API key.
        ApiKey,
        /// A person with an account.
        Account,
        /// The server itself, acting on a deadline.
        System,
    }
}

stored_enum! {
    /// Where an attachment's file stands.
    AttachmentStatus {
        /// An upload URL was issued; the file is not checked yet.
        Pending,
        /// The file is stored and checked.
        Uploaded,
    }
}

stored_enum! {
    /// A reviewer's (or the face check's) verdict on a material.
    ReviewStatus {
        /// Accepted as it is.
        Accepted,
        /// A new file is needed (the review reason says why).
        NeedsRevision,
    }
}

stored_enum! {
    /// Where a responsible person's MIIT SMS check (工信部短信核验) stands in the current round.
    SmsCheckStatus {
        /// Texted, not answered yet.
        Pending,
        /// The person confirmed.
        Confirmed,
        /// Five failed confirmations ended the round.
        Failed,
    }
}

stored_enum! {
    /// Where a message of the outbox stands.
    OutboxStatus {
        /// Waiting for the dispatcher (or for its next attempt after a failure).
        Queued,
        /// Accepted by the mail relay (or written to the mail folder).
        Sent,
        /// Refused for good, or out of attempts.
        Failed,
        /// A phone code the embedded SMS sender recorded instead of sending.
        Recorded,
    }
}

stored_enum! {
    /// Where a phone code sent to a mobile number stands.
    PhoneCodeSendStatus {
        /// Counted against the number's limits, handed to the sender.
        Sending,
        /// The sender took it.
        Sent,
        /// The sender refused it (not counted against the limits).
        Failed,
    }
}

stored_enum! {
    /// Where a webhook delivery stands.
    DeliveryStatus {
        /// Not delivered yet: waiting for its turn or for its next attempt.
        Pending,
        /// The endpoint answered 2xx.
        Delivered,
        /// Given up after `webhooks.retry_for_hours` (an administrator can redeliver it).
        Failed,
    }
}

stored_enum! {
    /// What happened to a filing (an event of its audit trail; the webhook and change-feed event types).
    FilingAction {
        FilingCreated,
        SubjectUpdated,
        WebsiteAdded,
        WebsiteUpdated,
        WebsiteRemoved,
        AttachmentUploaded,
        AttachmentRemoved,
        Submitted,
        Withdrawn,
        Abandoned,
        ReviewClaimed,
        ReviewReleased,
        PreliminaryApproved,
        PreliminaryRejected,
        AttachmentReviewed,
        SmsConfirmed,
        SmsAttemptFailed,
        SmsCompleted,
        SmsCheckFailed,
        SmsResent,
        ReturnedToApplicant,
        BureauApproved,
        BureauRejected,
        MobileVerificationStarted,
        MobileVerificationRevoked,
        PhoneCodeSent,
        PhoneVerified,
        FaceCheckStarted,
        SmsReminderSent,
        PersonalDataPurged,
    }
}
