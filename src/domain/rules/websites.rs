//! Websites: domains, homepage, service content, pre-approvals, remark; and limits across a filing's websites.

use std::collections::BTreeSet;

use super::Context;
use crate::domain::forms::{CreateFilingInput, SubjectInput, WebsiteInput};
use crate::domain::reference::ReferenceData;
use crate::domain::{FieldError, FieldErrorCode, PreApprovalCategory, SubjectType};

/// The remark (a description of the service) runs from 20 to 200 characters.
pub const REMARK_LENGTH: std::ops::RangeInclusive<usize> = 20..=200;

/// The findings on one website of the form (at `path`): its domains, homepage, service content and pre-approvals,
/// remark, name and responsible person.
pub(super) fn check(
    website: &WebsiteInput,
    path: &str,
    subject: &SubjectInput,
    context: &Context<'_>,
    out: &mut Vec<FieldError>,
) {
    let field = |name: &str| format!("{path}.{name}");
    let reference = context.reference;

    check_domains(website, path, reference, out);
    check_homepage(website, path, out);
    let held: BTreeSet<PreApprovalCategory> = website.pre_approvals.iter().map(|a| a.category).collect();
    check_service_content(website, path, subject, reference, &held, out);
    check_remark(website, path, out);

    out.extend(super::names::lint_website_name(website, subject, &held, reference).into_iter().map(|mut f| {
        f.field = format!("{path}.{}", f.field);
        f
    }));
    super::people::check(&website.responsible_person, &field("responsiblePerson"), context, out);
}

/// Each domain must be registrable under an approved top-level domain: not the suffix itself, and not a subdomain
/// (the filing covers those).
fn check_domains(website: &WebsiteInput, path: &str, reference: &ReferenceData, out: &mut Vec<FieldError>) {
    for (i, domain) in website.domains.iter().enumerate() {
        let at = format!("{path}.domains[{i}]");
        match reference.approved_suffix(domain) {
            None => out.push(FieldError::new(at, FieldErrorCode::TldNotApproved).suggest(
                "Use a domain under an approved top-level domain (see referenceData.approvedTlds).",
                "请使用工信部批准的顶级域名下的域名（见 referenceData.approvedTlds）。",
            )),
            Some(suffix) if domain.len() > suffix.len() => {
                let label = domain[..domain.len() - suffix.len() - 1].rsplit('.').next().unwrap_or_default();
                let registrable = format!("{label}.{suffix}");
                if registrable != *domain {
                    out.push(FieldError::new(at, FieldErrorCode::NotRegistrableDomain).suggest(
                        format!("Enter {registrable}: the filing covers its subdomains."),
                        format!("请填写 {registrable}，备案后其子域名均可使用。"),
                    ));
                }
            }
            Some(_) => out.push(FieldError::new(at, FieldErrorCode::NotRegistrableDomain)),
        }
    }
}

/// A homepage with a host must be on one of the website's domains (or a subdomain of one).
fn check_homepage(website: &WebsiteInput, path: &str, out: &mut Vec<FieldError>) {
    if let Ok(url) = url::Url::parse(&website.homepage_url)
        && let Some(host) = url.host_str()
        && !website.domains.is_empty()
        && !website.domains.iter().any(|d| host == d || host.ends_with(&format!(".{d}")))
    {
        out.push(FieldError::new(format!("{path}.homepageUrl"), FieldErrorCode::HomepageNotOnDomain).suggest(
            format!("Use an address on {}.", website.domains.join(" or ")),
            format!("请使用 {} 下的网址。", website.domains.join(" 或 ")),
        ));
    }
}

/// The service content: an individual chooses only from what individuals may offer, and every pre-approval the
/// content requires must be `held`.
fn check_service_content(
    website: &WebsiteInput,
    path: &str,
    subject: &SubjectInput,
    reference: &ReferenceData,
    held: &BTreeSet<PreApprovalCategory>,
    out: &mut Vec<FieldError>,
) {
    if subject.subject_type == SubjectType::Individual {
        let allowed = &reference.individuals.service_content;
        if website.service_content.iter().any(|c| !allowed.contains(c)) {
            let names: Vec<&str> = allowed.iter().map(|c| c.label_zh()).collect();
            out.push(
                FieldError::new(format!("{path}.serviceContent"), FieldErrorCode::NotAllowedForIndividuals).suggest(
                    format!(
                        "Individuals choose from: {}.",
                        allowed.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                    format!("个人网站只能选择：{}。", names.join("、")),
                ),
            );
        }
    }
    let mut needed: BTreeSet<PreApprovalCategory> = BTreeSet::new();
    for content in &website.service_content {
        needed.extend(reference.required_by_service(*content));
    }
    let missing: Vec<PreApprovalCategory> = needed.difference(held).copied().collect();
    if !missing.is_empty() {
        let licences: Vec<&str> = missing.iter().map(|c| reference.pre_approvals[c].licence.as_str()).collect();
        out.push(FieldError::new(format!("{path}.preApprovals"), FieldErrorCode::PreApprovalRequired).suggest(
            format!(
                "Add the pre-approval {} with its licence number, or choose other service content.",
                missing.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
            ),
            format!("请填写前置审批（{}）及许可证编号，或调整服务内容。", licences.join("、")),
        ));
    }
}

/// The remark is required and runs [`REMARK_LENGTH`] characters.
fn check_remark(website: &WebsiteInput, path: &str, out: &mut Vec<FieldError>) {
    let field = format!("{path}.remark");
    match website.remark.as_deref().map(|r| r.chars().count()) {
        None | Some(0) => out.push(
            FieldError::new(field, FieldErrorCode::Required)
                .with_message("Describe the service in 20 to 200 characters.", "请用 20 至 200 字描述网站的服务内容。"),
        ),
        Some(n) if n < *REMARK_LENGTH.start() => out.push(
            FieldError::new(field, FieldErrorCode::TooShort)
                .with_message("Describe the service in 20 to 200 characters.", "网站备注须为 20 至 200 字。"),
        ),
        Some(n) if n > *REMARK_LENGTH.end() => out.push(
            FieldError::new(field, FieldErrorCode::TooLong)
                .with_message("Describe the service in 20 to 200 characters.", "网站备注须为 20 至 200 字。"),
        ),
        Some(_) => {}
    }
}

/// Limits across the websites of one filing.
pub(super) fn check_all(form: &CreateFilingInput, context: &Context<'_>, out: &mut Vec<FieldError>) {
    let max = context.reference.individuals.max_websites;
    if form.subject.subject_type == SubjectType::Individual && form.websites.len() > max {
        out.push(
            FieldError::new("websites", FieldErrorCode::TooMany)
                .with_message(
                    format!("An individual files at most {max} website."),
                    format!("个人主体最多备案 {max} 个网站。"),
                )
                .suggest("Keep one website in this filing.", "请只保留一个网站。"),
        );
    }
}
