//! Read models the use cases return: entity rows with their enumerations parsed into domain types.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::ServiceError;
use crate::auth::ActorKind;
use crate::domain::{
    AccessMethod, CertificateType, FilingStatus, FilingType, Language, PreApprovalCategory, ServiceContent,
    SubjectType, WebsiteOperation,
};
use crate::pii::Keyring;

#[derive(Clone, Debug)]
pub struct Filing {
    pub id: Uuid,
    /// The applicant account that owns the filing; none when a registrar backend created it.
    pub owner_account_id: Option<Uuid>,
    pub filing_type: FilingType,
    pub status: FilingStatus,
    pub version: i32,
    pub reviewer_id: Option<Uuid>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub sms_deadline_at: Option<DateTime<Utc>>,
    pub icp_number: Option<String>,
    /// The filed record this order amends.
    pub base_filing_id: Option<Uuid>,
    /// The later order that replaced this record.
    pub superseded_by_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When retention purged its personal data and files.
    pub purged_at: Option<DateTime<Utc>>,
}

impl Filing {
    /// Whether this filing is its subject's filed record as it stands: approved, not replaced by a later order, and
    /// not the cancellation of the subject.
    pub fn is_current_record(&self) -> bool {
        self.status == FilingStatus::Approved
            && self.superseded_by_id.is_none()
            && self.filing_type != FilingType::CancelSubject
    }
}

#[derive(Clone, Debug)]
pub struct ResponsiblePerson {
    pub name: String,
    pub certificate_type: CertificateType,
    pub certificate_number: String,
    pub mobile: String,
    pub emergency_phone: Option<String>,
    pub email: String,
}

#[derive(Clone, Debug)]
pub struct Subject {
    pub filing_id: Uuid,
    pub subject_type: SubjectType,
    pub name: String,
    pub certificate_type: CertificateType,
    pub certificate_number: String,
    pub certificate_address: Option<String>,
    pub province_code: String,
    pub city_code: String,
    pub district_code: String,
    pub mailing_address: String,
    pub investor: Option<String>,
    pub remark: Option<String>,
    pub responsible_person: ResponsiblePerson,
    pub responsible_person_is_legal_representative: bool,
}

#[derive(Clone, Debug)]
pub struct PreApproval {
    pub category: PreApprovalCategory,
    pub licence_number: String,
}

#[derive(Clone, Debug)]
pub struct Website {
    pub id: Uuid,
    pub filing_id: Uuid,
    pub name: String,
    pub domains: Vec<String>,
    pub homepage_url: String,
    pub service_content: Vec<ServiceContent>,
    pub languages: Vec<Language>,
    pub pre_approvals: Vec<PreApproval>,
    pub access_method: AccessMethod,
    pub remark: Option<String>,
    pub responsible_person: ResponsiblePerson,
    pub icp_number: Option<String>,
    pub operation: WebsiteOperation,
    pub base_website_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One entry of a filing's audit trail.
#[derive(Clone, Debug)]
pub struct FilingEvent {
    pub id: Uuid,
    pub filing_id: Uuid,
    pub actor_kind: ActorKind,
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    pub action: super::audit::FilingAction,
    pub from_status: Option<FilingStatus>,
    pub to_status: Option<FilingStatus>,
    pub changes: Vec<super::audit::FieldChange>,
    pub reason: Option<String>,
    pub details: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// Parses a stored enumeration name; a value the code does not know is a corrupt row, hence internal.
pub(crate) fn parse<T: FromStr>(column: &str, value: &str) -> Result<T, ServiceError> {
    value.parse().map_err(|_| ServiceError::internal(anyhow::anyhow!("unknown value {value:?} in column {column}")))
}

fn parse_list<T: FromStr>(column: &str, value: &serde_json::Value) -> Result<Vec<T>, ServiceError> {
    let names: Vec<String> = serde_json::from_value(value.clone()).map_err(ServiceError::internal)?;
    names.iter().map(|name| parse(column, name)).collect()
}

impl TryFrom<entity::filing::Model> for Filing {
    type Error = ServiceError;

    fn try_from(row: entity::filing::Model) -> Result<Self, ServiceError> {
        Ok(Self {
            id: row.id,
            owner_account_id: row.owner_account_id,
            filing_type: row.filing_type,
            status: row.status,
            version: row.version,
            reviewer_id: row.reviewer_id,
            submitted_at: row.submitted_at,
            sms_deadline_at: row.sms_deadline_at,
            icp_number: row.icp_number,
            base_filing_id: row.base_filing_id,
            superseded_by_id: row.superseded_by_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            purged_at: row.purged_at,
        })
    }
}

impl Subject {
    /// The subject of a stored row, its personal data opened with `keys`.
    pub fn open(row: entity::filing_subject::Model, keys: &Keyring) -> Result<Self, ServiceError> {
        let open = |value: &str| keys.open(row.tenant_id, value).map_err(ServiceError::internal);
        Ok(Self {
            filing_id: row.filing_id,
            subject_type: row.subject_type,
            name: row.name,
            certificate_type: row.certificate_type,
            certificate_number: open(&row.certificate_number)?,
            certificate_address: row.certificate_address,
            province_code: row.province_code,
            city_code: row.city_code,
            district_code: row.district_code,
            mailing_address: row.mailing_address,
            investor: row.investor,
            remark: row.remark,
            responsible_person: ResponsiblePerson {
                name: row.rp_name,
                certificate_type: row.rp_certificate_type,
                certificate_number: open(&row.rp_certificate_number)?,
                mobile: open(&row.rp_mobile)?,
                emergency_phone: row.rp_emergency_phone.as_deref().map(open).transpose()?,
                email: open(&row.rp_email)?,
            },
            responsible_person_is_legal_representative: row.rp_is_legal_representative,
        })
    }
}

impl Website {
    /// The website of a stored row, its personal data opened with `keys`.
    pub fn open(row: entity::website::Model, keys: &Keyring) -> Result<Self, ServiceError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct StoredPreApproval {
            category: String,
            licence_number: String,
        }
        let open = |value: &str| keys.open(row.tenant_id, value).map_err(ServiceError::internal);
        let approvals: Vec<StoredPreApproval> =
            serde_json::from_value(row.pre_approvals).map_err(ServiceError::internal)?;
        Ok(Self {
            id: row.id,
            filing_id: row.filing_id,
            name: row.name,
            domains: serde_json::from_value(row.domains).map_err(ServiceError::internal)?,
            homepage_url: row.homepage_url,
            service_content: parse_list("websites.service_content", &row.service_content)?,
            languages: parse_list("websites.languages", &row.languages)?,
            pre_approvals: approvals
                .into_iter()
                .map(|a| {
                    Ok(PreApproval {
                        category: parse("websites.pre_approvals", &a.category)?,
                        licence_number: a.licence_number,
                    })
                })
                .collect::<Result<_, ServiceError>>()?,
            access_method: row.access_method,
            remark: row.remark,
            responsible_person: ResponsiblePerson {
                name: row.rp_name,
                certificate_type: row.rp_certificate_type,
                certificate_number: open(&row.rp_certificate_number)?,
                mobile: open(&row.rp_mobile)?,
                emergency_phone: row.rp_emergency_phone.as_deref().map(open).transpose()?,
                email: open(&row.rp_email)?,
            },
            icp_number: row.icp_number,
            operation: row.operation,
            base_website_id: row.base_website_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl TryFrom<entity::filing_event::Model> for FilingEvent {
    type Error = ServiceError;

    fn try_from(row: entity::filing_event::Model) -> Result<Self, ServiceError> {
        Ok(Self {
            id: row.id,
            filing_id: row.filing_id,
            actor_kind: row.actor_kind,
            actor_id: row.actor_id,
            actor_label: row.actor_label,
            action: row.action,
            from_status: row.from_status,
            to_status: row.to_status,
            changes: serde_json::from_value(row.changes).map_err(ServiceError::internal)?,
            reason: row.reason,
            details: row.details,
            created_at: row.created_at,
        })
    }
}
