//! Reference data over GraphQL, so frontends build their forms from the server's rules rather than hard-coding them.

use async_graphql::{Context, Object, SimpleObject};
use strum::IntoEnumIterator;

use super::context::reference;
use super::enums;
use super::objects::subject::Province;
use crate::domain::{self, AccessMethod, CertificateType, Language, PreApprovalCategory, ServiceContent, SubjectType};

/// A subject type with the certificates it files with.
#[derive(SimpleObject)]
pub struct SubjectTypeInfo {
    /// The value.
    pub value: enums::SubjectType,
    /// Name on the Chinese forms.
    pub label: String,
    /// Code on MIIT's forms.
    pub miit_code: i32,
    /// Certificate types this subject type may file with.
    pub certificate_types: Vec<enums::CertificateType>,
}

/// A certificate type.
#[derive(SimpleObject)]
pub struct CertificateTypeInfo {
    /// The value.
    pub value: enums::CertificateType,
    /// Name on the Chinese forms.
    pub label: String,
    /// Whether it identifies a person (as responsible persons must be).
    pub personal: bool,
}

/// A kind of service content.
#[derive(SimpleObject)]
pub struct ServiceContentInfo {
    /// The value.
    pub value: enums::ServiceContent,
    /// Name on the Chinese forms.
    pub label: String,
    /// Whether individuals may choose it.
    pub allowed_for_individuals: bool,
    /// Pre-approvals a website with this service content must hold.
    pub requires_pre_approvals: Vec<enums::PreApprovalCategory>,
}

/// A pre-approval category.
#[derive(SimpleObject)]
pub struct PreApprovalCategoryInfo {
    /// The value.
    pub value: enums::PreApprovalCategory,
    /// Name on the Chinese forms.
    pub label: String,
    /// The licence or approval document it takes.
    pub licence: String,
    /// Words in a website name that call for it.
    pub name_words: Vec<String>,
}

/// A language.
#[derive(SimpleObject)]
pub struct LanguageInfo {
    /// The value.
    pub value: enums::Language,
    /// Name on the Chinese forms.
    pub label: String,
}

/// An access method.
#[derive(SimpleObject)]
pub struct AccessMethodInfo {
    /// The value.
    pub value: enums::AccessMethod,
    /// Name on the Chinese forms.
    pub label: String,
}

/// Limits a website name must keep.
#[derive(SimpleObject)]
pub struct WebsiteNameRules {
    /// Fewest Chinese characters.
    pub min_chinese_characters: i32,
    /// Prefixes only national bodies may use.
    pub reserved_prefixes: Vec<String>,
    /// Words a personal website may not use.
    pub personal_forbidden_words: Vec<String>,
}

pub struct ReferenceDataObject;

/// The lists and rules the filing forms are built from.
#[Object(name = "ReferenceData")]
impl ReferenceDataObject {
    /// Provinces with their ICP-number prefixes.
    async fn provinces(&self) -> Vec<Province> {
        domain::province::PROVINCES.iter().copied().map(Province::from).collect()
    }

    /// Subject types and the certificates each files with.
    async fn subject_types(&self, ctx: &Context<'_>) -> Vec<SubjectTypeInfo> {
        let data = reference(ctx);
        SubjectType::iter()
            .map(|t| SubjectTypeInfo {
                value: t.into(),
                label: t.label_zh().to_owned(),
                miit_code: i32::from(t.miit_code()),
                certificate_types: data.subject_type(t).certificate_types.iter().map(|&c| c.into()).collect(),
            })
            .collect()
    }

    /// Certificate types.
    async fn certificate_types(&self) -> Vec<CertificateTypeInfo> {
        CertificateType::iter()
            .map(|c| CertificateTypeInfo { value: c.into(), label: c.label_zh().to_owned(), personal: c.is_personal() })
            .collect()
    }

    /// Service content, with who may choose it and what it requires.
    async fn service_content(&self, ctx: &Context<'_>) -> Vec<ServiceContentInfo> {
        let data = reference(ctx);
        ServiceContent::iter()
            .map(|s| ServiceContentInfo {
                value: s.into(),
                label: s.label_zh().to_owned(),
                allowed_for_individuals: data.individuals.service_content.contains(&s),
                requires_pre_approvals: data.required_by_service(s).into_iter().map(Into::into).collect(),
            })
            .collect()
    }

    /// Pre-approval categories with their licences.
    async fn pre_approval_categories(&self, ctx: &Context<'_>) -> Vec<PreApprovalCategoryInfo> {
        let data = reference(ctx);
        PreApprovalCategory::iter()
            .map(|c| PreApprovalCategoryInfo {
                value: c.into(),
                label: c.label_zh().to_owned(),
                licence: data.pre_approvals[&c].licence.clone(),
                name_words: data.pre_approvals[&c].name_words.clone(),
            })
            .collect()
    }

    /// Languages.
    async fn languages(&self) -> Vec<LanguageInfo> {
        Language::iter().map(|l| LanguageInfo { value: l.into(), label: l.label_zh().to_owned() }).collect()
    }

    /// Access methods.
    async fn access_methods(&self) -> Vec<AccessMethodInfo> {
        AccessMethod::iter().map(|a| AccessMethodInfo { value: a.into(), label: a.label_zh().to_owned() }).collect()
    }

    /// Top-level domains and public suffixes on MIIT's approved list, as configured.
    async fn approved_tlds(&self, ctx: &Context<'_>) -> Vec<String> {
        reference(ctx).approved_tlds.clone()
    }

    /// How many websites an individual may file.
    async fn individual_max_websites(&self, ctx: &Context<'_>) -> i32 {
        reference(ctx).individuals.max_websites as i32
    }

    /// The website-name rules.
    async fn website_name_rules(&self, ctx: &Context<'_>) -> WebsiteNameRules {
        let rules = &reference(ctx).website_names;
        WebsiteNameRules {
            min_chinese_characters: rules.min_chinese_characters as i32,
            reserved_prefixes: rules.reserved_prefixes.clone(),
            personal_forbidden_words: rules.personal_forbidden_words.clone(),
        }
    }
}

#[derive(Default)]
pub struct ReferenceQuery;

#[Object]
impl ReferenceQuery {
    /// The lists and rules of the filing forms (no sign-in needed).
    async fn reference_data(&self) -> ReferenceDataObject {
        ReferenceDataObject
    }

    /// Which API this server speaks (no sign-in needed): frontends check `schema` before relying on a field.
    async fn api_version(&self) -> ApiVersion {
        ApiVersion
    }
}

/// The version of the schema, by semantic versioning: the minor number grows when fields, types or enumeration
/// values are added; a field is removed (the major number grows) only after it was marked `@deprecated`, with the
/// replacement named, for at least 90 days. schema.graphql is the contract of each release; CHANGELOG.md lists
/// each version's breaking changes with their replacements.
pub const SCHEMA_VERSION: &str = "2.0.0";

pub struct ApiVersion;

/// The versions of the API and of the server.
#[Object]
impl ApiVersion {
    /// The schema's semantic version (see README, "API versioning").
    async fn schema(&self) -> &'static str {
        SCHEMA_VERSION
    }

    /// The server's release.
    async fn server(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}
