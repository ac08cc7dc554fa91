//! What callers hand the filing use cases, and its validation: every refused field is reported at once.

use std::collections::HashSet;

use validator::Validate;

pub use crate::domain::forms::{CreateFilingInput, PersonInput, PreApprovalInput, SubjectInput, WebsiteInput};

use super::validation::{flatten, join};
use crate::domain::domain_name::normalize_domain;
use crate::domain::identifiers::{EmergencyPhone, Mobile};
use crate::domain::province::is_division_code;
use crate::domain::{FieldError, FieldErrorCode, PreApprovalCategory, Province};

/// The most websites one filing may carry (organisations; individuals are limited further by the ICP rules).
pub const MAX_WEBSITES_PER_FILING: usize = 10;

impl PersonInput {
    fn normalize(&mut self) {
        trim(&mut self.name);
        trim(&mut self.certificate_number);
        self.certificate_number = self.certificate_number.to_uppercase();
        trim(&mut self.mobile);
        // Stored canonical, so that the same number typed two ways is recognised as the same.
        if let Ok(mobile) = Mobile::parse(&self.mobile) {
            self.mobile = mobile.as_str().to_owned();
        }
        trim_optional(&mut self.emergency_phone);
        if let Some(phone) = self.emergency_phone.as_mut()
            && let Ok(parsed) = EmergencyPhone::parse(phone)
        {
            *phone = parsed.as_str().to_owned();
        }
        trim(&mut self.email);
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
