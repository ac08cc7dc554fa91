//! The website-name linter: the name rules that cost applicants a rejection round.

use std::collections::BTreeSet;

use crate::domain::forms::{SubjectInput, WebsiteInput};
use crate::domain::reference::ReferenceData;
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
    let finding = |code| FieldError::new("name", code);
    let compact: String = name.chars().filter(|c| !c.is_whitespace()).collect();
    let lower = compact.to_lowercase();

    if let Some(word) = rules.sensitive_words.iter().find(|w| lower.contains(&w.to_lowercase())) {
        out.push(
            finding(FieldErrorCode::NameSensitiveWord)
                .suggest(format!("Remove \"{word}\" from the name."), format!("请删除名称中的“{word}”。")),
        );
    }

    let looks_like_domain = website.domains.iter().any(|d| lower == *d || lower == format!("www.{d}"))
        || (lower.contains('.') && crate::domain::domain_name::normalize_domain(&lower).is_ok());
    let only_digits_or_letters = compact.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        || compact.chars().all(|c| c.is_ascii_alphabetic());
    if looks_like_domain {
        out.push(finding(FieldErrorCode::NameIsDomain).suggest(
            "Name the website by what it offers, in Chinese, e.g. 示例科技官网.",
            "请用中文描述网站内容作为名称，如“示例科技官网”。",
        ));
    } else if only_digits_or_letters {
        out.push(
            finding(FieldErrorCode::NameOnlyDigitsOrLetters)
                .suggest("Use a Chinese name of at least 3 characters.", "请使用至少 3 个汉字的中文名称。"),
        );
    } else if compact.chars().filter(|&c| is_chinese(c)).count() < rules.min_chinese_characters {
        out.push(finding(FieldErrorCode::NameTooShort).suggest(
            format!("Use at least {} Chinese characters.", rules.min_chinese_characters),
            format!("请使用至少 {} 个汉字。", rules.min_chinese_characters),
        ));
    }

    let symbol = compact.chars().find(|&c| !(is_chinese(c) || c.is_ascii_alphanumeric() || c == '·'));
    if let Some(symbol) = symbol.filter(|_| !looks_like_domain) {
        out.push(finding(FieldErrorCode::NameHasSymbols).suggest(
            format!("Remove \"{symbol}\": names use Chinese characters, letters and digits only."),
            format!("请删除“{symbol}”：名称只能包含汉字、字母和数字。"),
        ));
    }

    let national = matches!(subject.subject_type, SubjectType::Government | SubjectType::NationalDefence);
    if !national && let Some(prefix) = rules.reserved_prefixes.iter().find(|p| compact.starts_with(p.as_str())) {
        out.push(
            finding(FieldErrorCode::NameReservedPrefix)
                .suggest(format!("Do not start the name with \"{prefix}\"."), format!("名称请勿以“{prefix}”开头。")),
        );
    }

    if subject.subject_type == SubjectType::Individual {
        if let Some(word) = rules.personal_forbidden_words.iter().find(|w| compact.contains(w.as_str())) {
            out.push(finding(FieldErrorCode::NameNotForPersonalSite).suggest(
                format!("Remove \"{word}\"; a personal site is named like 张三的个人博客."),
                format!("请删除“{word}”，个人网站名称可参考“张三的个人博客”。"),
            ));
        }
    } else if ["官网", "官方"].iter().any(|w| compact.contains(w)) {
        out.push(finding(FieldErrorCode::NameMayDrawQuestion).warning().suggest(
            "Have the trademark or the organisation's short name ready to show.",
            "请准备商标注册证或能证明名称的材料。",
        ));
    }

    let mut reported = BTreeSet::new();
    for (category, word) in reference.required_by_name(&compact) {
        if !held.contains(&category) && reported.insert(category) {
            out.push(finding(FieldErrorCode::NameNeedsPreApproval).suggest(
                format!("\"{word}\" needs the {} pre-approval: add it, or rename the website.", category.as_str()),
                format!("“{word}”需要{}前置审批：请填写许可证，或修改网站名称。", category.label_zh()),
            ));
        }
    }
    out
}
