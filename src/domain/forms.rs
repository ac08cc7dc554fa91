//! The data of the filing forms, as callers hand it in: plain values with their single-field limits. The rules of
//! [`crate::domain::rules`] judge a whole form; `services::inputs` normalises and validates it.

use validator::Validate;

use super::{AccessMethod, CertificateType, Language, PreApprovalCategory, ServiceContent, SubjectType};

/// A responsible person (负责人) of the subject or of a website.
#[derive(Clone, Debug, PartialEq, Eq, Validate, serde::Serialize)]
pub struct PersonInput {
    #[validate(length(min = 1, max = 100), custom(function = "crate::domain::text::single_line"))]
    pub name: String,
    pub certificate_type: CertificateType,
    #[validate(length(min = 1, max = 64), custom(function = "crate::domain::text::single_line"))]
    pub certificate_number: String,
    #[validate(length(min = 1, max = 32), custom(function = "crate::domain::text::single_line"))]
    pub mobile: String,
    #[validate(length(min = 1, max = 32), custom(function = "crate::domain::text::single_line"))]
    pub emergency_phone: Option<String>,
    #[validate(length(min = 1, max = 254), email, custom(function = "crate::domain::text::single_line"))]
    pub email: String,
}

/// The subject (主体) of a filing.
#[derive(Clone, Debug, PartialEq, Eq, Validate, serde::Serialize)]
pub struct SubjectInput {
    pub subject_type: SubjectType,
    #[validate(length(min = 1, max = 200), custom(function = "crate::domain::text::single_line"))]
    pub name: String,
    pub certificate_type: CertificateType,
    #[validate(length(min = 1, max = 64), custom(function = "crate::domain::text::single_line"))]
    pub certificate_number: String,
    #[validate(length(min = 1, max = 300), custom(function = "crate::domain::text::single_line"))]
    pub certificate_address: Option<String>,
    pub province_code: String,
    pub city_code: String,
    pub district_code: String,
    #[validate(length(min = 1, max = 300), custom(function = "crate::domain::text::single_line"))]
    pub mailing_address: String,
    #[validate(length(min = 1, max = 200), custom(function = "crate::domain::text::single_line"))]
    pub investor: Option<String>,
    #[validate(length(min = 1, max = 1000), custom(function = "crate::domain::text::multi_line"))]
    pub remark: Option<String>,
    #[validate(nested)]
    pub responsible_person: PersonInput,
    /// Whether the responsible person is the organisation's legal representative (for individuals: always).
    pub responsible_person_is_legal_representative: bool,
}

/// A pre-approval (前置审批) a website holds.
#[derive(Clone, Debug, PartialEq, Eq, Validate, serde::Serialize)]
pub struct PreApprovalInput {
    pub category: PreApprovalCategory,
    #[validate(length(min = 1, max = 100), custom(function = "crate::domain::text::single_line"))]
    pub licence_number: String,
}

/// A website of a filing.
#[derive(Clone, Debug, PartialEq, Eq, Validate, serde::Serialize)]
pub struct WebsiteInput {
    #[validate(length(min = 1, max = 100), custom(function = "crate::domain::text::single_line"))]
    pub name: String,
    #[validate(length(min = 1, max = 10))]
    pub domains: Vec<String>,
    #[validate(length(min = 1, max = 2048), url, custom(function = "crate::domain::text::single_line"))]
    pub homepage_url: String,
    #[validate(length(min = 1, max = 10))]
    pub service_content: Vec<ServiceContent>,
    #[validate(length(min = 1, max = 17))]
    pub languages: Vec<Language>,
    /// Empty means "none of these", chosen explicitly.
    #[validate(nested, length(max = 12))]
    pub pre_approvals: Vec<PreApprovalInput>,
    pub access_method: AccessMethod,
    #[validate(length(min = 1, max = 1000), custom(function = "crate::domain::text::multi_line"))]
    pub remark: Option<String>,
    #[validate(nested)]
    pub responsible_person: PersonInput,
}

/// A new first-filing draft: the subject and, optionally, its websites at once.
#[derive(Clone, Debug, PartialEq, Eq, Validate, serde::Serialize)]
pub struct CreateFilingInput {
    #[validate(nested)]
    pub subject: SubjectInput,
    #[validate(nested, length(max = 10))]
    pub websites: Vec<WebsiteInput>,
}
