//! Running the ICP rules of [`crate::domain::rules`] on filings: the facts they need from the database, the
//! "a save may not introduce an error" policy, and the pre-submit check.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect, RelationTrait,
};
use uuid::Uuid;

use super::ServiceError;
use super::models::{Subject, Website};
use crate::auth::Actor;
use crate::domain::forms::{CreateFilingInput, PersonInput, PreApprovalInput, SubjectInput, WebsiteInput};
use crate::domain::reference::ReferenceData;
use crate::domain::rules::{self, Context};
use crate::domain::{FieldError, FilingStatus};
use crate::pii::{Blind, Keyring};
use entity::{filing, filing_subject, website};

/// The findings of the pre-submit check on a stored filing.
#[derive(Clone, Debug)]
pub struct Precheck {
    /// Errors and warnings; website paths are `websites[i]` in the filing's website order.
    pub findings: Vec<FieldError>,
    /// The ids of the filing's websites, in that order.
    pub website_ids: Vec<Uuid>,
}

/// Every finding on the filing form, with the facts the rules need from the tenant's other filings.
pub(crate) async fn findings(
    db: &impl ConnectionTrait,
    actor: &Actor,
    reference: &ReferenceData,
    form: &CreateFilingInput,
    this_filing: Option<Uuid>,
    complete: bool,
) -> Result<Vec<FieldError>, ServiceError> {
    let context = Context {
        reference,
        today: Utc::now().date_naive(),
        mobiles_of_other_subjects: mobiles_of_other_subjects(db, actor, form, this_filing).await?,
    };
    Ok(rules::check_filing(form, &context, complete))
}

/// The errors of `prospective` that `current` does not have: a save may not introduce an error, but a draft that
/// carries one (the rules or the facts changed since) can still be edited elsewhere.
pub(crate) fn introduced(prospective: Vec<FieldError>, current: &[FieldError]) -> Vec<FieldError> {
    let known: HashSet<(&str, _)> =
        current.iter().filter(|f| f.is_error()).map(|f| (f.field.as_str(), f.code)).collect();
    prospective.into_iter().filter(|f| f.is_error() && !known.contains(&(f.field.as_str(), f.code))).collect()
}

/// Basic field errors and rule errors together; where a field already has a basic error (empty, too long, ...),
/// rule errors on it would only repeat the problem.
pub(crate) fn merge(mut basic: Vec<FieldError>, rule_errors: Vec<FieldError>) -> Vec<FieldError> {
    let fields: HashSet<String> = basic.iter().map(|e| e.field.clone()).collect();
    basic.extend(rule_errors.into_iter().filter(|e| e.is_error() && !fields.contains(&e.field)));
    basic
}

/// Renames the paths of website `index` (`websites[3].name`) to the mutation's input (`website.name`).
pub(crate) fn as_website_input(errors: Vec<FieldError>, index: usize) -> Vec<FieldError> {
    let prefix = format!("websites[{index}]");
    errors
        .into_iter()
        .map(|mut e| {
            if let Some(rest) = e.field.strip_prefix(&prefix) {
                e.field = format!("website{rest}");
            }
            e
        })
        .collect()
}

/// The stored filing as a form, with its websites' ids in order.
pub(crate) async fn stored_form(
    db: &impl ConnectionTrait,
    actor: &Actor,
    filing_id: Uuid,
) -> Result<(CreateFilingInput, Vec<Uuid>), ServiceError> {
    let stored = stored_filing(db, actor, filing_id).await?;
    Ok((stored.form, stored.websites.iter().map(|w| w.id).collect()))
}

/// A stored filing as a form, with what its order does with each website.
#[derive(Clone, Debug)]
pub(crate) struct StoredFiling {
    pub form: CreateFilingInput,
    /// The websites of `form`, in the same order: id, operation and the filed website each continues.
    pub websites: Vec<StoredWebsite>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct StoredWebsite {
    pub id: Uuid,
    pub operation: crate::domain::WebsiteOperation,
    pub base_website_id: Option<Uuid>,
}

/// The stored filing as a form, with its websites in order.
pub(crate) async fn stored_filing(
    db: &impl ConnectionTrait,
    actor: &Actor,
    filing_id: Uuid,
) -> Result<StoredFiling, ServiceError> {
    let subject = filing_subject::Entity::find()
        .filter(filing_subject::Column::TenantId.eq(actor.tenant_id))
        .filter(filing_subject::Column::FilingId.eq(filing_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let websites = website::Entity::find()
        .filter(website::Column::TenantId.eq(actor.tenant_id))
        .filter(website::Column::FilingId.eq(filing_id))
        .order_by_asc(website::Column::Id)
        .all(db)
        .await?;
    let websites: Vec<Website> = websites.into_iter().map(Website::try_from).collect::<Result<_, _>>()?;
    let stored = websites
        .iter()
        .map(|w| StoredWebsite { id: w.id, operation: w.operation, base_website_id: w.base_website_id })
        .collect();
    let form = CreateFilingInput {
        subject: subject_form(&Subject::try_from(subject)?),
        websites: websites.iter().map(website_form).collect(),
    };
    Ok(StoredFiling { form, websites: stored })
}

/// The pre-submit check: everything a reviewer or the bureau would refuse, and what would draw a question.
pub async fn precheck(
    db: &sea_orm::DatabaseConnection,
    actor: &Actor,
    reference: &ReferenceData,
    filing_id: Uuid,
) -> Result<Precheck, ServiceError> {
    super::filings::get_filing(db, actor, filing_id).await?;
    let (form, website_ids) = stored_form(db, actor, filing_id).await?;
    let findings = findings(db, actor, reference, &form, Some(filing_id), true).await?;
    Ok(Precheck { findings, website_ids })
}

/// Mobile numbers of the form that back another subject (another certificate) in another live filing of the tenant.
async fn mobiles_of_other_subjects(
    db: &impl ConnectionTrait,
    actor: &Actor,
    form: &CreateFilingInput,
    this_filing: Option<Uuid>,
) -> Result<HashSet<String>, ServiceError> {
    // The database compares blind indexes (the values are sealed); this maps them back to the form's mobiles.
    let keys = crate::pii::keyring();
    let by_index: HashMap<String, String> = std::iter::once(&form.subject.responsible_person)
        .chain(form.websites.iter().map(|w| &w.responsible_person))
        .map(|p| rules_mobile(&p.mobile))
        .filter(|m| !m.is_empty())
        .map(|m| (keys.blind(actor.tenant_id, Blind::Mobile, &m), m))
        .collect();
    if by_index.is_empty() {
        return Ok(HashSet::new());
    }
    let mobiles: Vec<String> = by_index.keys().cloned().collect();
    let ours = certificate_index(&keys, actor.tenant_id, &form.subject.certificate_number);
    let live = |query: sea_orm::Select<filing_subject::Entity>| {
        let query = query
            .join(JoinType::InnerJoin, filing_subject::Relation::Filing.def())
            .filter(filing_subject::Column::TenantId.eq(actor.tenant_id))
            .filter(filing::Column::Status.ne(FilingStatus::Abandoned.as_str()));
        match this_filing {
            Some(id) => query.filter(filing::Column::Id.ne(id)),
            None => query,
        }
    };
    // Subjects' responsible persons.
    let subjects: Vec<(String, String)> = live(filing_subject::Entity::find())
        .filter(filing_subject::Column::RpMobileBidx.is_in(mobiles.clone()))
        .select_only()
        .column(filing_subject::Column::RpMobileBidx)
        .column(filing_subject::Column::CertificateNumberBidx)
        .into_tuple()
        .all(db)
        .await?;
    let mut taken: HashSet<String> =
        subjects.into_iter().filter(|(_, cert)| *cert != ours).filter_map(|(m, _)| by_index.get(&m).cloned()).collect();
    // Websites' responsible persons, with their filing's subject certificate.
    let websites: Vec<(String, Uuid)> = website::Entity::find()
        .filter(website::Column::TenantId.eq(actor.tenant_id))
        .filter(website::Column::RpMobileBidx.is_in(mobiles))
        .select_only()
        .column(website::Column::RpMobileBidx)
        .column(website::Column::FilingId)
        .into_tuple()
        .all(db)
        .await?;
    if !websites.is_empty() {
        let filing_ids: Vec<Uuid> = websites.iter().map(|(_, f)| *f).collect();
        let certificates: HashMap<Uuid, String> = live(filing_subject::Entity::find())
            .filter(filing_subject::Column::FilingId.is_in(filing_ids))
            .select_only()
            .column(filing_subject::Column::FilingId)
            .column(filing_subject::Column::CertificateNumberBidx)
            .into_tuple::<(Uuid, String)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        taken.extend(websites.into_iter().filter_map(|(mobile, filing)| {
            certificates.get(&filing).filter(|cert| **cert != ours).and_then(|_| by_index.get(&mobile).cloned())
        }));
    }
    Ok(taken)
}

fn rules_mobile(mobile: &str) -> String {
    crate::domain::identifiers::Mobile::parse(mobile).map(|m| m.as_str().to_owned()).unwrap_or_default()
}

/// The blind index of a responsible person's mobile (normalised as the rules compare it; empty if not a mobile).
pub(crate) fn mobile_index(keys: &Keyring, tenant: Uuid, mobile: &str) -> String {
    keys.blind(tenant, Blind::Mobile, &rules_mobile(mobile))
}

/// The blind index of a certificate number (compared without regard to case).
pub(crate) fn certificate_index(keys: &Keyring, tenant: Uuid, certificate: &str) -> String {
    keys.blind(tenant, Blind::Certificate, &certificate.trim().to_uppercase())
}

fn person_form(p: &super::models::ResponsiblePerson) -> PersonInput {
    PersonInput {
        name: p.name.clone(),
        certificate_type: p.certificate_type,
        certificate_number: p.certificate_number.clone(),
        mobile: p.mobile.clone(),
        emergency_phone: p.emergency_phone.clone(),
        email: p.email.clone(),
    }
}

pub(crate) fn subject_form(s: &Subject) -> SubjectInput {
    SubjectInput {
        subject_type: s.subject_type,
        name: s.name.clone(),
        certificate_type: s.certificate_type,
        certificate_number: s.certificate_number.clone(),
        certificate_address: s.certificate_address.clone(),
        province_code: s.province_code.clone(),
        city_code: s.city_code.clone(),
        district_code: s.district_code.clone(),
        mailing_address: s.mailing_address.clone(),
        investor: s.investor.clone(),
        remark: s.remark.clone(),
        responsible_person: person_form(&s.responsible_person),
        responsible_person_is_legal_representative: s.responsible_person_is_legal_representative,
    }
}

pub(crate) fn website_form(w: &Website) -> WebsiteInput {
    WebsiteInput {
        name: w.name.clone(),
        domains: w.domains.clone(),
        homepage_url: w.homepage_url.clone(),
        service_content: w.service_content.clone(),
        languages: w.languages.clone(),
        pre_approvals: w
            .pre_approvals
            .iter()
            .map(|a| PreApprovalInput { category: a.category, licence_number: a.licence_number.clone() })
            .collect(),
        access_method: w.access_method,
        remark: w.remark.clone(),
        responsible_person: person_form(&w.responsible_person),
    }
}
