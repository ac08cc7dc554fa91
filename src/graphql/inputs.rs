//! GraphQL input objects, converted once into the service inputs.

use async_graphql::{ID, InputObject};
use chrono::{DateTime, Utc};

use super::enums;
use crate::services::filings::FilingFilter;
use crate::services::inputs as svc;

/// A responsible person (负责人).
#[derive(InputObject)]
pub struct PersonInput {
    /// Full name as on the certificate (1-100 characters).
    pub name: String,
    /// A personal document type.
    pub certificate_type: enums::CertificateType,
    /// Certificate number (1-64 characters).
    pub certificate_number: String,
    /// Mainland mobile number.
    pub mobile: String,
    /// Emergency phone: a mobile or a landline such as 010-12345678.
    pub emergency_phone: Option<String>,
    /// Email address.
    pub email: String,
}

/// The subject (主体) of a filing.
#[derive(InputObject)]
pub struct SubjectInput {
    /// Subject type (单位性质).
    pub subject_type: enums::SubjectType,
    /// Name of the organisation or person (1-200 characters).
    pub name: String,
    /// Certificate type; an individual uses a personal document, an organisation its own certificate.
    pub certificate_type: enums::CertificateType,
    /// Certificate number (1-64 characters).
    pub certificate_number: String,
    /// Address on the certificate (证件住所).
    pub certificate_address: Option<String>,
    /// Six-digit GB/T 2260 code of the province, e.g. 110000. It decides which bureau reviews the filing.
    pub province_code: String,
    /// Six-digit code of the city, within the province, e.g. 110100.
    pub city_code: String,
    /// Six-digit code of the district or county, within the city, e.g. 110105.
    pub district_code: String,
    /// Mailing address (通信地址), within the district.
    pub mailing_address: String,
    /// Investor or supervising unit (投资者或上级主管单位).
    pub investor: Option<String>,
    /// Remarks.
    pub remark: Option<String>,
    /// The subject's responsible person (主体负责人).
    pub responsible_person: PersonInput,
    /// Whether the responsible person is the organisation's legal representative; when not, the filing needs the
    /// legal representative's authorisation (法人授权书).
    #[graphql(default = true)]
    pub responsible_person_is_legal_representative: bool,
}

/// A pre-approval (前置审批) a website holds.
#[derive(InputObject)]
pub struct PreApprovalInput {
    /// The category.
    pub category: enums::PreApprovalCategory,
    /// Number of the licence or approval document.
    pub licence_number: String,
}

/// A website of a filing.
#[derive(InputObject)]
pub struct WebsiteInput {
    /// Website name (1-100 characters).
    pub name: String,
    /// 1-10 domain names, e.g. `example.com` or `例子.中国`; stored in ASCII.
    pub domains: Vec<String>,
    /// Homepage URL, `http://` or `https://`.
    pub homepage_url: String,
    /// Service content (服务内容): at least one.
    pub service_content: Vec<enums::ServiceContent>,
    /// Languages: at least one.
    pub languages: Vec<enums::Language>,
    /// Pre-approvals; pass an empty list to state explicitly that the website needs none.
    pub pre_approvals: Vec<PreApprovalInput>,
    /// Access method (接入方式).
    pub access_method: enums::AccessMethod,
    /// Description of the service (备注).
    pub remark: Option<String>,
    /// The website's responsible person (网站负责人).
    pub responsible_person: PersonInput,
}

/// A new draft: a first filing (首次备案), or an add-access order (新增接入) for a subject the bureau already filed
/// through another registrar. Orders that amend a record filed here start from it with `startOrder`.
#[derive(InputObject)]
pub struct CreateFilingInput {
    /// FIRST_FILING (the default) or ADD_ACCESS.
    pub filing_type: Option<enums::FilingType>,
    /// For ADD_ACCESS: the subject's ICP number (京ICP备2026000001号), in the subject's province.
    pub icp_number: Option<String>,
    /// The subject.
    pub subject: SubjectInput,
    /// Websites to add at once (more can be added later with `addWebsite`).
    #[graphql(default)]
    pub websites: Vec<WebsiteInput>,
}

/// Start an order from a filed record.
#[derive(InputObject)]
pub struct StartOrderInput {
    /// The filed record: a filing whose `isCurrentRecord` is true.
    pub filing_id: ID,
    /// ADD_WEBSITE, CHANGE_SUBJECT, CHANGE_WEBSITE, CHANGE_ACCESS, CANCEL_SUBJECT, CANCEL_WEBSITE or CANCEL_ACCESS.
    pub filing_type: enums::FilingType,
    /// For CANCEL_WEBSITE and CANCEL_ACCESS: the record's websites the order cancels.
    #[graphql(default)]
    pub website_ids: Vec<ID>,
}

/// Replace the subject of a draft.
#[derive(InputObject)]
pub struct UpdateFilingSubjectInput {
    /// The filing.
    pub filing_id: ID,
    /// The filing's version as last read.
    pub version: i32,
    /// The whole subject, as it should be.
    pub subject: SubjectInput,
}

/// Add a website to a draft.
#[derive(InputObject)]
pub struct AddWebsiteInput {
    /// The filing.
    pub filing_id: ID,
    /// The filing's version as last read.
    pub version: i32,
    /// The website.
    pub website: WebsiteInput,
}

/// Replace a website of a draft.
#[derive(InputObject)]
pub struct UpdateWebsiteInput {
    /// The website.
    pub website_id: ID,
    /// The version of the website's filing as last read.
    pub version: i32,
    /// The whole website, as it should be.
    pub website: WebsiteInput,
}

/// Remove a website from a draft.
#[derive(InputObject)]
pub struct RemoveWebsiteInput {
    /// The website.
    pub website_id: ID,
    /// The version of the website's filing as last read.
    pub version: i32,
}

/// Filters of the filing list; every given filter must match.
#[derive(InputObject, Default)]
pub struct FilingFilterInput {
    /// Any of these statuses.
    pub status: Option<Vec<enums::FilingStatus>>,
    /// Any of these filing types.
    pub filing_type: Option<Vec<enums::FilingType>>,
    /// The subject's province: six-digit code (110000) or two-digit prefix (11).
    pub province_code: Option<String>,
    /// Case-insensitive part of the subject's name.
    pub subject_name_contains: Option<String>,
    /// Created at or after this instant.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before this instant.
    pub created_before: Option<DateTime<Utc>>,
    /// Changed at or after this instant: the filing, or anything hanging off it (materials, reviews, phone steps),
    /// has an event in `filingEvents` from then on. Pollers keep the time of their last look; the change feed
    /// (`filingEvents`) says exactly what changed.
    pub updated_after: Option<DateTime<Utc>>,
}

/// Which events `filingEvents` returns; the cursor moves past the others all the same.
#[derive(InputObject, Default)]
pub struct FilingEventFilterInput {
    /// Only these kinds of event.
    pub types: Option<Vec<enums::FilingAction>>,
    /// Only events at or after this instant.
    pub since: Option<DateTime<Utc>>,
}

impl From<FilingEventFilterInput> for crate::services::filings::FeedFilter {
    fn from(f: FilingEventFilterInput) -> Self {
        Self { actions: f.types.map(|list| list.into_iter().map(Into::into).collect()), since: f.since }
    }
}

/// `From` both ways between a GraphQL input and the service form it carries, field by field: `same` fields move as
/// they are, `into` fields convert (enums, nested inputs), `each` fields are lists converted item by item. The way
/// back serves `beian dev sample-input`, which prints generated forms in the shape `createFiling(input:)` accepts.
macro_rules! both_ways {
    ($gql:ident <-> $svc:path { same: [$($same:ident),*], into: [$($into:ident),*], each: [$($each:ident),*] }) => {
        impl From<$gql> for $svc {
            fn from(v: $gql) -> Self {
                Self { $($same: v.$same,)* $($into: v.$into.into(),)* $($each: v.$each.into_iter().map(Into::into).collect(),)* }
            }
        }

        impl From<$svc> for $gql {
            fn from(v: $svc) -> Self {
                Self { $($same: v.$same,)* $($into: v.$into.into(),)* $($each: v.$each.into_iter().map(Into::into).collect(),)* }
            }
        }
    };
}

both_ways!(PersonInput <-> svc::PersonInput {
    same: [name, certificate_number, mobile, emergency_phone, email],
    into: [certificate_type],
    each: []
});

both_ways!(SubjectInput <-> svc::SubjectInput {
    same: [
        name,
        certificate_number,
        certificate_address,
        province_code,
        city_code,
        district_code,
        mailing_address,
        investor,
        remark,
        responsible_person_is_legal_representative
    ],
    into: [subject_type, certificate_type, responsible_person],
    each: []
});

both_ways!(PreApprovalInput <-> svc::PreApprovalInput { same: [licence_number], into: [category], each: [] });

both_ways!(WebsiteInput <-> svc::WebsiteInput {
    same: [name, domains, homepage_url, remark],
    into: [access_method, responsible_person],
    each: [service_content, languages, pre_approvals]
});

/// A first filing (the default type) of the form.
impl From<svc::CreateFilingInput> for CreateFilingInput {
    fn from(form: svc::CreateFilingInput) -> Self {
        Self {
            filing_type: None,
            icp_number: None,
            subject: form.subject.into(),
            websites: form.websites.into_iter().map(Into::into).collect(),
        }
    }
}

impl CreateFilingInput {
    /// The form, and what kind of order it starts.
    pub fn split(self) -> (svc::CreateFilingInput, crate::services::filings::NewOrder) {
        let order = crate::services::filings::NewOrder {
            filing_type: self.filing_type.map(Into::into),
            icp_number: self.icp_number,
        };
        (
            svc::CreateFilingInput {
                subject: self.subject.into(),
                websites: self.websites.into_iter().map(Into::into).collect(),
            },
            order,
        )
    }
}

impl From<FilingFilterInput> for FilingFilter {
    fn from(f: FilingFilterInput) -> Self {
        Self {
            statuses: f.status.map(|list| list.into_iter().map(Into::into).collect()),
            filing_types: f.filing_type.map(|list| list.into_iter().map(Into::into).collect()),
            province_code: f.province_code,
            subject_name_contains: f.subject_name_contains,
            created_after: f.created_after,
            created_before: f.created_before,
            updated_after: f.updated_after,
        }
    }
}
