//! What callers hand the filing use cases, and its validation: every refused field is reported at once.

use std::collections::HashSet;

use validator::Validate;

use super::validation::{flatten, join};
use crate::domain::domain_name::normalize_domain;
use crate::domain::province::is_division_code;
use crate::domain::{
    AccessMethod, CertificateType, FieldError, FieldErrorCode, Language, PreApprovalCategory, Province, ServiceContent,
    SubjectType,
};

/// The most websites one filing may carry (organisations; individuals are limited further by the ICP rules).
pub const MAX_WEBSITES_PER_FILING: usize = 10;

/// A responsible person (负责人) of the subject or of a website.
#[derive(Clone, Debug, Validate, serde::Serialize)]
pub struct PersonInput {
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    pub certificate_type: CertificateType,
    #[validate(length(min = 1, max = 64))]
    pub certificate_number: String,
    #[validate(length(min = 1, max = 32))]
    pub mobile: String,
    #[validate(length(min = 1, max = 32))]
    pub emergency_phone: Option<String>,
    #[validate(length(min = 1, max = 254), email)]
    pub email: String,
}

/// The subject (主体) of a filing.
#[derive(Clone, Debug, Validate, serde::Serialize)]
pub struct SubjectInput {
    pub subject_type: SubjectType,
    #[validate(length(min = 1, max = 200))]
    pub name: String,
    pub certificate_type: CertificateType,
    #[validate(length(min = 1, max = 64))]
    pub certificate_number: String,
    #[validate(length(min = 1, max = 300))]
    pub certificate_address: Option<String>,
    pub province_code: String,
    pub city_code: String,
    pub district_code: String,
    #[validate(length(min = 1, max = 300))]
    pub mailing_address: String,
    #[validate(length(min = 1, max = 200))]
    pub investor: Option<String>,
    #[validate(length(min = 1, max = 1000))]
    pub remark: Option<String>,
    #[validate(nested)]
    pub responsible_person: PersonInput,
}

/// A pre-approval (前置审批) a website holds.
#[derive(Clone, Debug, Validate, serde::Serialize)]
pub struct PreApprovalInput {
    pub category: PreApprovalCategory,
    #[validate(length(min = 1, max = 100))]
    pub licence_number: String,
}

/// A website of a filing.
#[derive(Clone, Debug, Validate, serde::Serialize)]
pub struct WebsiteInput {
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    #[validate(length(min = 1, max = 10))]
    pub domains: Vec<String>,
    #[validate(length(min = 1, max = 2048), url)]
    pub homepage_url: String,
    #[validate(length(min = 1, max = 10))]
    pub service_content: Vec<ServiceContent>,
    #[validate(length(min = 1, max = 17))]
    pub languages: Vec<Language>,
    /// Empty means "none of these", chosen explicitly.
    #[validate(nested, length(max = 12))]
    pub pre_approvals: Vec<PreApprovalInput>,
    pub access_method: AccessMethod,
    #[validate(length(min = 1, max = 1000))]
    pub remark: Option<String>,
    #[validate(nested)]
    pub responsible_person: PersonInput,
}

/// A new first-filing draft: the subject and, optionally, its websites at once.
#[derive(Clone, Debug, Validate, serde::Serialize)]
pub struct CreateFilingInput {
    #[validate(nested)]
    pub subject: SubjectInput,
    #[validate(nested, length(max = 10))]
    pub websites: Vec<WebsiteInput>,
}

impl PersonInput {
    fn normalize(&mut self) {
        trim(&mut self.name);
        trim(&mut self.certificate_number);
        self.certificate_number = self.certificate_number.to_uppercase();
        trim(&mut self.mobile);
        trim_optional(&mut self.emergency_phone);
        trim(&mut self.email);
    }

    fn check(&self, path: &str, errors: &mut Vec<FieldError>) {
        if !self.certificate_type.is_personal() {
            errors.push(
                FieldError::new(join(path, "certificateType"), FieldErrorCode::CertificateTypeNotAllowed).with_message(
                    "A responsible person is identified by a personal document (ID card, passport, permit).",
                    "负责人须使用个人证件（身份证、护照、通行证等）。",
                ),
            );
        }
        check_phone(&self.mobile, &join(path, "mobile"), errors);
        if let Some(phone) = &self.emergency_phone {
            check_phone(phone, &join(path, "emergencyPhone"), errors);
        }
    }
}

impl SubjectInput {
    fn normalize(&mut self) {
        trim(&mut self.name);
        trim(&mut self.certificate_number);
        self.certificate_number = self.certificate_number.to_uppercase();
        trim_optional(&mut self.certificate_address);
        trim(&mut self.province_code);
        trim(&mut self.city_code);
        trim(&mut self.district_code);
        trim(&mut self.mailing_address);
        trim_optional(&mut self.investor);
        trim_optional(&mut self.remark);
        self.responsible_person.normalize();
    }

    /// Checks beyond single-field formats: division codes, certificate types fitting the subject type.
    fn check(&self, path: &str, errors: &mut Vec<FieldError>) {
        let province_path = join(path, "provinceCode");
        let province = Province::of_division_code(&self.province_code);
        if !is_division_code(&self.province_code) || !self.province_code.ends_with("0000") || province.is_none() {
            errors.push(FieldError::new(province_path, FieldErrorCode::UnknownProvince));
        }
        let city_ok = is_division_code(&self.city_code) && self.city_code.ends_with("00");
        if !city_ok {
            errors.push(FieldError::new(join(path, "cityCode"), FieldErrorCode::InvalidFormat));
        } else if province.is_some() && self.city_code[..2] != self.province_code[..2] {
            errors.push(FieldError::new(join(path, "cityCode"), FieldErrorCode::RegionMismatch));
        }
        if !is_division_code(&self.district_code) {
            errors.push(FieldError::new(join(path, "districtCode"), FieldErrorCode::InvalidFormat));
        } else if city_ok && self.district_code[..4] != self.city_code[..4] {
            errors.push(FieldError::new(join(path, "districtCode"), FieldErrorCode::RegionMismatch));
        }

        let individual = self.subject_type == SubjectType::Individual;
        if individual != self.certificate_type.is_personal() {
            let (message, message_zh) = if individual {
                ("An individual files with a personal document.", "个人主体须使用个人证件。")
            } else {
                ("An organisation files with its own certificate, not a personal document.", "单位主体须使用单位证件。")
            };
            errors.push(
                FieldError::new(join(path, "certificateType"), FieldErrorCode::CertificateTypeNotAllowed)
                    .with_message(message, message_zh),
            );
        }
        self.responsible_person.check(&join(path, "responsiblePerson"), errors);
    }
}

impl WebsiteInput {
    fn normalize(&mut self) {
        trim(&mut self.name);
        trim(&mut self.homepage_url);
        trim_optional(&mut self.remark);
        for approval in &mut self.pre_approvals {
            trim(&mut approval.licence_number);
        }
        self.responsible_person.normalize();
    }

    /// Normalises the domains to ASCII in place and checks what `validator` cannot.
    fn check(&mut self, path: &str, errors: &mut Vec<FieldError>) {
        let mut seen = HashSet::new();
        for (index, domain) in self.domains.iter_mut().enumerate() {
            let field = format!("{}[{index}]", join(path, "domains"));
            match normalize_domain(domain) {
                Ok(ascii) => {
                    if !seen.insert(ascii.clone()) {
                        errors.push(FieldError::new(field, FieldErrorCode::Duplicate));
                    }
                    *domain = ascii;
                }
                Err(reason) => errors.push(
                    FieldError::new(field, FieldErrorCode::InvalidDomain)
                        .with_message(format!("Not a domain name: {reason}."), "域名格式不正确。"),
                ),
            }
        }
        let scheme_ok = url::Url::parse(&self.homepage_url)
            .map(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
            .unwrap_or(false);
        if !scheme_ok && !self.homepage_url.is_empty() {
            errors.push(FieldError::new(join(path, "homepageUrl"), FieldErrorCode::InvalidUrl));
        }
        if has_duplicates(&self.service_content) {
            errors.push(FieldError::new(join(path, "serviceContent"), FieldErrorCode::Duplicate));
        }
        if has_duplicates(&self.languages) {
            errors.push(FieldError::new(join(path, "languages"), FieldErrorCode::Duplicate));
        }
        let categories: Vec<PreApprovalCategory> = self.pre_approvals.iter().map(|a| a.category).collect();
        if has_duplicates(&categories) {
            errors.push(FieldError::new(join(path, "preApprovals"), FieldErrorCode::Duplicate));
        }
        self.responsible_person.check(&join(path, "responsiblePerson"), errors);
    }
}

/// Normalises and validates a subject; `path` is where it sits in the GraphQL input.
pub fn validate_subject(subject: &mut SubjectInput, path: &str) -> Vec<FieldError> {
    subject.normalize();
    let mut errors = Vec::new();
    if let Err(e) = subject.validate() {
        flatten(path, &e, &mut errors);
    }
    subject.check(path, &mut errors);
    errors
}

/// Normalises and validates a website; `path` is where it sits in the GraphQL input.
pub fn validate_website(website: &mut WebsiteInput, path: &str) -> Vec<FieldError> {
    website.normalize();
    let mut errors = Vec::new();
    if let Err(e) = website.validate() {
        flatten(path, &e, &mut errors);
    }
    website.check(path, &mut errors);
    errors
}

/// Normalises and validates a whole new filing, including domains repeated across its websites.
pub fn validate_create_filing(input: &mut CreateFilingInput) -> Vec<FieldError> {
    let mut errors = validate_subject(&mut input.subject, "subject");
    if input.websites.len() > MAX_WEBSITES_PER_FILING {
        errors.push(FieldError::new("websites", FieldErrorCode::TooMany));
    }
    for (index, website) in input.websites.iter_mut().enumerate() {
        errors.extend(validate_website(website, &format!("websites[{index}]")));
    }
    let mut seen = HashSet::new();
    for (index, website) in input.websites.iter().enumerate() {
        for (d, domain) in website.domains.iter().enumerate() {
            if !seen.insert(domain.clone()) && !website.domains[..d].contains(domain) {
                errors.push(FieldError::new(format!("websites[{index}].domains[{d}]"), FieldErrorCode::Duplicate));
            }
        }
    }
    errors
}

fn check_phone(phone: &str, field: &str, errors: &mut Vec<FieldError>) {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | ' '));
    if !phone.is_empty() && (!allowed || digits < 5) {
        errors.push(FieldError::new(field, FieldErrorCode::InvalidFormat));
    }
}

fn has_duplicates<T: std::hash::Hash + Eq>(items: &[T]) -> bool {
    let mut seen = HashSet::new();
    !items.iter().all(|item| seen.insert(item))
}

fn trim(value: &mut String) {
    let trimmed = value.trim();
    if trimmed.len() != value.len() {
        *value = trimmed.to_owned();
    }
}

/// Trims, and treats a blank optional value as absent.
fn trim_optional(value: &mut Option<String>) {
    if let Some(inner) = value {
        trim(inner);
        if inner.is_empty() {
            *value = None;
        }
    }
}
