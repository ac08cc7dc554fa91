//! Reference data of the rules (which certificates a subject type files with, what calls for a pre-approval,
//! approved top-level domains, name rules) as data: a TOML file built in, replaceable by the registrar.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};

use serde::Deserialize;

use super::{CertificateType, PreApprovalCategory, ServiceContent, SubjectType};

/// The built-in reference data.
pub const BUILT_IN: &str = include_str!("data/reference.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceData {
    /// Approved top-level domains and public suffixes, lower-case, Unicode or punycode.
    pub approved_tlds: Vec<String>,
    pub subject_types: BTreeMap<SubjectType, SubjectTypeRules>,
    pub individuals: IndividualRules,
    pub pre_approvals: BTreeMap<PreApprovalCategory, PreApprovalRules>,
    pub website_names: NameRules,
    /// The materials checklist.
    pub materials: Vec<MaterialRequirement>,
    /// Review deadlines and the working-day calendar.
    pub review: ReviewRules,
    /// The approved suffixes in punycode, for matching normalised domains (derived on load).
    #[serde(skip)]
    pub approved_suffixes: BTreeSet<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectTypeRules {
    pub certificate_types: Vec<CertificateType>,
    /// USCC categories (the first two characters) that fit the subject type; empty: any.
    #[serde(default)]
    pub uscc_categories: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndividualRules {
    pub service_content: Vec<ServiceContent>,
    pub max_websites: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreApprovalRules {
    /// The licence or approval document the category needs.
    pub licence: String,
    /// Service content that requires this pre-approval.
    pub service_content: Vec<ServiceContent>,
    /// Words in a website name that call for it.
    pub name_words: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameRules {
    pub reserved_prefixes: Vec<String>,
    pub personal_forbidden_words: Vec<String>,
    pub sensitive_words: Vec<String>,
    pub min_chinese_characters: usize,
}

/// Review deadlines and the working-day calendar.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRules {
    /// Working days a registrar takes for the preliminary review (初审).
    pub preliminary_review_working_days: u32,
    /// Days off besides weekends.
    pub holidays: Vec<chrono::NaiveDate>,
    /// Weekend days that are working days (调休).
    pub extra_working_days: Vec<chrono::NaiveDate>,
}

impl ReviewRules {
    pub fn calendar(&self) -> super::calendar::WorkingCalendar {
        super::calendar::WorkingCalendar::new(self.holidays.iter().copied(), self.extra_working_days.iter().copied())
    }
}

/// How many of a material a filing needs.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MaterialScope {
    Subject,
    SubjectPerson,
    WebsitePerson,
    Website,
    PreApproval,
}

/// When a material is needed beyond the filters.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MaterialCondition {
    /// An organisation whose responsible person is not its legal representative.
    ResponsiblePersonNotLegalRepresentative,
}

/// One row of the materials checklist table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialRequirement {
    pub kind: super::MaterialKind,
    pub per: MaterialScope,
    #[serde(default)]
    pub subject_types: Vec<SubjectType>,
    #[serde(default)]
    pub not_subject_types: Vec<SubjectType>,
    #[serde(default)]
    pub filing_types: Vec<super::FilingType>,
    #[serde(default)]
    pub provinces: Vec<String>,
    #[serde(default)]
    pub not_provinces: Vec<String>,
    pub condition: Option<MaterialCondition>,
}

impl ReferenceData {
    /// Parses reference data, refusing unknown names and subject types without rules.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut data: ReferenceData = toml::from_str(text).map_err(|e| e.to_string())?;
        use strum::IntoEnumIterator;
        let missing: Vec<&str> =
            SubjectType::iter().filter(|t| !data.subject_types.contains_key(t)).map(|t| t.as_str()).collect();
        if !missing.is_empty() {
            return Err(format!("no rules for subject types {}", missing.join(", ")));
        }
        let missing: Vec<&str> =
            PreApprovalCategory::iter().filter(|c| !data.pre_approvals.contains_key(c)).map(|c| c.as_str()).collect();
        if !missing.is_empty() {
            return Err(format!("no rules for pre-approval categories {}", missing.join(", ")));
        }
        let mut suffixes = BTreeSet::new();
        for tld in &data.approved_tlds {
            let ascii = url::Host::parse(tld.trim())
                .ok()
                .and_then(|h| match h {
                    url::Host::Domain(d) => Some(d),
                    _ => None,
                })
                .ok_or_else(|| format!("{tld:?} is not a domain suffix"))?;
            suffixes.insert(ascii);
        }
        data.approved_suffixes = suffixes;
        Ok(data)
    }

    /// The built-in data.
    pub fn built_in() -> Arc<ReferenceData> {
        static DATA: LazyLock<Arc<ReferenceData>> =
            LazyLock::new(|| Arc::new(ReferenceData::parse(BUILT_IN).expect("the built-in reference data is valid")));
        DATA.clone()
    }

    /// Rules of a subject type.
    pub fn subject_type(&self, subject_type: SubjectType) -> &SubjectTypeRules {
        &self.subject_types[&subject_type]
    }

    /// The longest approved suffix of a normalised domain, if any.
    pub fn approved_suffix<'a>(&self, domain: &'a str) -> Option<&'a str> {
        let mut candidate = domain;
        loop {
            if self.approved_suffixes.contains(candidate) {
                return Some(candidate);
            }
            candidate = candidate.split_once('.')?.1;
        }
    }

    /// The pre-approval categories that service content requires.
    pub fn required_by_service(&self, content: ServiceContent) -> Vec<PreApprovalCategory> {
        self.pre_approvals.iter().filter(|(_, r)| r.service_content.contains(&content)).map(|(c, _)| *c).collect()
    }

    /// The pre-approval categories words in a website name call for, with the word found.
    pub fn required_by_name<'a>(&'a self, name: &str) -> Vec<(PreApprovalCategory, &'a str)> {
        let upper = name.to_uppercase();
        self.pre_approvals
            .iter()
            .filter_map(|(c, r)| {
                r.name_words.iter().find(|w| upper.contains(&w.to_uppercase())).map(|w| (*c, w.as_str()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_data_covers_every_subject_type_and_category() {
        let data = ReferenceData::built_in();
        assert!(
            data.subject_type(SubjectType::Individual).certificate_types.contains(&CertificateType::ResidentIdCard)
        );
        assert!(
            !data.subject_type(SubjectType::Enterprise).certificate_types.contains(&CertificateType::ResidentIdCard)
        );
        assert_eq!(data.individuals.max_websites, 1);
        assert!(data.approved_suffixes.contains("xn--fiqs8s"), "中国 in punycode");
    }

    #[test]
    fn suffixes_match_longest_first() {
        let data = ReferenceData::built_in();
        assert_eq!(data.approved_suffix("example.com.cn"), Some("com.cn"));
        assert_eq!(data.approved_suffix("www.example.cn"), Some("cn"));
        assert_eq!(data.approved_suffix("example.zz"), None);
    }

    #[test]
    fn pre_approvals_follow_service_content_and_name_words() {
        let data = ReferenceData::built_in();
        assert_eq!(data.required_by_service(ServiceContent::OnlineNews), vec![PreApprovalCategory::News]);
        assert!(data.required_by_service(ServiceContent::OrganisationPortal).is_empty());
        let found = data.required_by_name("小明理财论坛");
        assert!(found.contains(&(PreApprovalCategory::InternetFinance, "理财")));
        assert!(found.contains(&(PreApprovalCategory::ElectronicBulletin, "论坛")));
        assert!(data.required_by_name("ABC p2p 之家").iter().any(|(c, _)| *c == PreApprovalCategory::InternetFinance));
    }

    #[test]
    fn broken_files_are_refused_with_a_reason() {
        assert!(ReferenceData::parse("approved_tlds = []").unwrap_err().contains("missing field"));
        let unknown = BUILT_IN.replace("[subject_types.ARBITRATION]", "[subject_types.PIRATES]");
        assert!(ReferenceData::parse(&unknown).is_err());
    }
}
