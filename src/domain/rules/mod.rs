//! The ICP rules a reviewer or the bureau applies, as one pure check of a whole filing form. Each finding names the
//! field, a stable code, messages in Chinese and English, often a suggestion, and whether it blocks.

mod names;
mod people;
mod subject;
mod websites;

use std::collections::HashSet;

use chrono::NaiveDate;

pub use names::lint_website_name;

use super::forms::CreateFilingInput;
use super::reference::ReferenceData;
use super::{FieldError, FieldErrorCode};

/// What the rules need to know beyond the form: facts from the registrar's other filings, and the date.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    pub reference: &'a ReferenceData,
    pub today: NaiveDate,
    /// Mobile numbers of the form that already back another subject of the tenant.
    pub mobiles_of_other_subjects: HashSet<String>,
}

/// Every finding on the filing form, errors and warnings.
///
/// `complete` asks for the checks that only a filing ready to submit must pass (at least one website); drafts
/// being saved skip them.
pub fn check_filing(form: &CreateFilingInput, context: &Context<'_>, complete: bool) -> Vec<FieldError> {
    let mut out = Vec::new();
    subject::check(&form.subject, "subject", context, &mut out);
    for (index, website) in form.websites.iter().enumerate() {
        websites::check(website, &format!("websites[{index}]"), &form.subject, context, &mut out);
    }
    websites::check_all(form, context, &mut out);
    people::check_contacts(form, context, &mut out);
    if complete && form.websites.is_empty() {
        out.push(
            FieldError::new("websites", FieldErrorCode::Required)
                .with_message("A filing carries at least one website.", "备案订单至少需要一个网站。")
                .suggest("Add the website this filing is for.", "请添加需要备案的网站。"),
        );
    }
    out
}

/// The short name of a province as it appears in addresses: 北京, 广西, 内蒙古.
pub(crate) fn province_short_name(name_zh: &str) -> &str {
    for suffix in ["维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市"] {
        if let Some(short) = name_zh.strip_suffix(suffix) {
            return short;
        }
    }
    name_zh
}

#[cfg(test)]
mod tests;
