//! The website-name linter: the name rules that cost applicants a rejection round.

use std::collections::BTreeSet;

use crate::domain::forms::{SubjectInput, WebsiteInput};
use crate::domain::reference::{NameRules, ReferenceData};
use crate::domain::{FieldError, FieldErrorCode, PreApprovalCategory, SubjectType};

fn is_chinese(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}')
}

/// Findings on a website's name, with field `name` (the caller prefixes the website's path).
pub fn lint_website_name(
    website: &WebsiteInput,
    subject: &SubjectInput,
    held: &BTreeSet<PreApprovalCategory>,
    reference: &ReferenceData,
) -> Vec<FieldError> {
    let rules = &reference.website_names;
    let name = website.name.trim();
    let mut out = Vec::new();
    if name.is_empty() {
        return out;
    }
    let compact: String = name.chars().filter(|c| !c.is_whitespace()).collect();
    let lower = compact.to_lowercase();

    out.extend(sensitive_word_finding(rules, &lower));
    let looks_like_domain = website.domains.iter().any(|d| lower == *d || lower == format!("www.{d}"))
        || (lower.contains('.') && crate::domain::domain_name::normalize_domain(&lower).is_ok());
    out.extend(name_shape_finding(rules, &compact, looks_like_domain));
    if !looks_like_domain {
        out.extend(symbol_finding(&compact));
    }
    out.extend(reserved_prefix_finding(rules, subject, &compact));
    out.extend(subject_type_finding(rules, subject, &compact));
    out.extend(pre_approval_findings(reference, held, &compact));
    out
}

/// A finding on the website's name.
fn finding(code: FieldErrorCode) -> FieldError {
    FieldError::new("name", code)
}

/// The first sensitive word the name contains (case ignored), if any.
fn sensitive_word_finding(rules: &NameRules, lower: &str) -> Option<FieldError> {
    let word = rules.sensitive_words.iter().find(|w| lower.contains(&w.to_lowercase()))?;
    Some(
        finding(FieldErrorCode::NameSensitiveWord)
            .suggest(format!("Remove \"{word}\" from the name."), format!("请删除名称中的“{word}”。")),
    )
}

/// Whether the name describes the site in Chinese: not a domain, not only digits or only letters, and with at least
/// the minimum of Chinese characters. Only the first of these that fails is reported.
fn name_shape_finding(rules: &NameRules, compact: &str, looks_like_domain: bool) -> Option<FieldError> {
    let only_digits_or_letters = compact.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        || compact.chars().all(|c| c.is_ascii_alphabetic());
    if looks_like_domain {
        Some(finding(FieldErrorCode::NameIsDomain).suggest(
            "Name the website by what it offers, in Chinese, e.g. 示例科技官网.",
            "请用中文描述网站内容作为名称，如“示例科技官网”。",
        ))
    } else if only_digits_or_letters {
        Some(
            finding(FieldErrorCode::NameOnlyDigitsOrLetters)
                .suggest("Use a Chinese name of at least 3 characters.", "请使用至少 3 个汉字的中文名称。"),
        )
    } else if compact.chars().filter(|&c| is_chinese(c)).count() < rules.min_chinese_characters {
        Some(finding(FieldErrorCode::NameTooShort).suggest(
            format!("Use at least {} Chinese characters.", rules.min_chinese_characters),
            format!("请使用至少 {} 个汉字。", rules.min_chinese_characters),
        ))
    } else {
        None
    }
}

/// The first character that is not a Chinese character, an ASCII letter or digit, or `·`, if any.
fn symbol_finding(compact: &str) -> Option<FieldError> {
    let symbol = compact.chars().find(|&c| !(is_chinese(c) || c.is_ascii_alphanumeric() || c == '·'))?;
    Some(finding(FieldErrorCode::NameHasSymbols).suggest(
        format!("Remove \"{symbol}\": names use Chinese characters, letters and digits only."),
        format!("请删除“{symbol}”：名称只能包含汉字、字母和数字。"),
    ))
}

/// A reserved prefix the name starts with, unless the subject is a government or national-defence body.
fn reserved_prefix_finding(rules: &NameRules, subject: &SubjectInput, compact: &str) -> Option<FieldError> {
    let national = matches!(subject.subject_type, SubjectType::Government | SubjectType::NationalDefence);
    if national {
        return None;
    }
    let prefix = rules.reserved_prefixes.iter().find(|p| compact.starts_with(p.as_str()))?;
    Some(
        finding(FieldErrorCode::NameReservedPrefix)
            .suggest(format!("Do not start the name with \"{prefix}\"."), format!("名称请勿以“{prefix}”开头。")),
    )
}

/// What the subject's type makes of the name: a word an individual's site may not use, or (for an organisation) a
/// warning that 官网/官方 may draw a question.
fn subject_type_finding(rules: &NameRules, subject: &SubjectInput, compact: &str) -> Option<FieldError> {
    if subject.subject_type == SubjectType::Individual {
        let word = rules.personal_forbidden_words.iter().find(|w| compact.contains(w.as_str()))?;
        Some(finding(FieldErrorCode::NameNotForPersonalSite).suggest(
            format!("Remove \"{word}\"; a personal site is named like 张三的个人博客."),
            format!("请删除“{word}”，个人网站名称可参考“张三的个人博客”。"),
        ))
    } else if ["官网", "官方"].iter().any(|w| compact.contains(w)) {
        Some(finding(FieldErrorCode::NameMayDrawQuestion).warning().suggest(
            "Have the trademark or the organisation's short name ready to show.",
            "请准备商标注册证或能证明名称的材料。",
        ))
    } else {
        None
    }
}

/// One finding per pre-approval category a word of the name requires and the website does not hold.
fn pre_approval_findings(
    reference: &ReferenceData,
    held: &BTreeSet<PreApprovalCategory>,
    compact: &str,
) -> Vec<FieldError> {
    let mut out = Vec::new();
    let mut reported = BTreeSet::new();
    for (category, word) in reference.required_by_name(compact) {
        if !held.contains(&category) && reported.insert(category) {
            out.push(finding(FieldErrorCode::NameNeedsPreApproval).suggest(
                format!("\"{word}\" needs the {} pre-approval: add it, or rename the website.", category.as_str()),
                format!("“{word}”需要{}前置审批：请填写许可证，或修改网站名称。", category.label_zh()),
            ));
        }
    }
    out
}
