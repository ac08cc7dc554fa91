//! What a caller may reach, shared by every use case: the filings in the caller's scope, who may edit or administer,
//! a stored filing as its form, and the record an order amends. The bottom of the service layer: it uses the
//! models and the domain, and no other service.

use crate::language::Text;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Select};
use uuid::Uuid;

use super::ServiceError;
use super::models::{Filing, Subject, Website};
use crate::auth::Actor;
use crate::domain::forms::{CreateFilingInput, PersonInput, PreApprovalInput, SubjectInput, WebsiteInput};
use crate::domain::orders::{self as order_rules, Order, WebsiteOrigin};
use crate::domain::{FieldError, FilingType, WebsiteOperation};
use crate::pii::{Blind, Keyring};
use crate::services::Deps;
use entity::{filing, filing_subject, website};

/// One filing of the caller's tenant.
pub async fn get_filing(deps: &Deps, actor: &Actor, id: Uuid) -> Result<Filing, ServiceError> {
    let db = &deps.db;
    let row = visible(actor).filter(filing::Column::Id.eq(id)).one(db).await?.ok_or(ServiceError::NotFound)?;
    Filing::try_from(row)
}

/// Only the applicant who owns a filing may see it; staff and backends see every filing of their tenant.
pub async fn ensure_visible(db: &impl ConnectionTrait, actor: &Actor, filing_id: Uuid) -> Result<(), ServiceError> {
    if actor.owner_scope().is_some() {
        visible(actor).filter(filing::Column::Id.eq(filing_id)).one(db).await?.ok_or(ServiceError::NotFound)?;
    }
    Ok(())
}

/// The filings of the caller's tenant that the caller may see.
pub fn visible(actor: &Actor) -> Select<filing::Entity> {
    let query = filing::Entity::find().filter(filing::Column::TenantId.eq(actor.tenant_id));
    match actor.owner_scope() {
        Some(owner) => query.filter(filing::Column::OwnerAccountId.eq(owner)),
        None => query,
    }
}

pub fn require_editor(actor: &Actor) -> Result<(), ServiceError> {
    if actor.may_edit_filings() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(Text::new(
            "only the applicant, or the registrar's backend with a full-access key, may change a filing's data",
            "只有申请人或持有完全权限密钥的接入商系统可以修改备案信息",
        )))
    }
}

/// The stored filing as a form, with its websites' ids in order.
pub async fn stored_form(
    db: &impl ConnectionTrait,
    keys: &Keyring,
    actor: &Actor,
    filing_id: Uuid,
) -> Result<(CreateFilingInput, Vec<Uuid>), ServiceError> {
    let stored = stored_filing(db, keys, actor, filing_id).await?;
    Ok((stored.form, stored.websites.iter().map(|w| w.id).collect()))
}

/// A stored filing as a form, with what its order does with each website.
#[derive(Clone, Debug)]
pub struct StoredFiling {
    pub form: CreateFilingInput,
    /// The websites of `form`, in the same order: id, operation and the filed website each continues.
    pub websites: Vec<StoredWebsite>,
}

#[derive(Clone, Copy, Debug)]
pub struct StoredWebsite {
    pub id: Uuid,
    pub operation: crate::domain::WebsiteOperation,
    pub base_website_id: Option<Uuid>,
}

/// The stored filing as a form, with its websites in order.
pub async fn stored_filing(
    db: &impl ConnectionTrait,
    keys: &Keyring,
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
    let websites: Vec<Website> = websites.into_iter().map(|row| Website::open(row, keys)).collect::<Result<_, _>>()?;
    let stored = websites
        .iter()
        .map(|w| StoredWebsite { id: w.id, operation: w.operation, base_website_id: w.base_website_id })
        .collect();
    let form = CreateFilingInput {
        subject: subject_form(&Subject::open(subject, keys)?),
        websites: websites.iter().map(website_form).collect(),
    };
    Ok(StoredFiling { form, websites: stored })
}

pub fn rules_mobile(mobile: &str) -> String {
    crate::domain::identifiers::Mobile::parse(mobile).map(|m| m.as_str().to_owned()).unwrap_or_default()
}

/// The blind index of a responsible person's mobile (normalised as the rules compare it; empty if not a mobile).
pub fn mobile_index(keys: &Keyring, tenant: Uuid, mobile: &str) -> String {
    keys.blind(tenant, Blind::Mobile, &rules_mobile(mobile))
}

/// The blind index of a certificate number (compared without regard to case).
pub fn certificate_index(keys: &Keyring, tenant: Uuid, certificate: &str) -> String {
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

pub fn subject_form(s: &Subject) -> SubjectInput {
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

pub fn website_form(w: &Website) -> WebsiteInput {
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

/// A filed record as it stands: the subject and the websites still filed here (cancelled ones and those whose access
/// ended are gone), with the ids of those websites.
#[derive(Clone, Debug)]
pub struct Record {
    pub form: CreateFilingInput,
    pub website_ids: Vec<Uuid>,
}

/// The record `filing_id` holds.
pub async fn record_of(
    db: &impl ConnectionTrait,
    keys: &Keyring,
    actor: &Actor,
    filing_id: Uuid,
) -> Result<Record, ServiceError> {
    let StoredFiling { mut form, websites } = super::access::stored_filing(db, keys, actor, filing_id).await?;
    let live: Vec<bool> =
        websites.iter().map(|w| matches!(w.operation, WebsiteOperation::New | WebsiteOperation::Carried)).collect();
    let mut keep = live.iter();
    form.websites.retain(|_| *keep.next().unwrap_or(&false));
    let website_ids = websites.iter().zip(&live).filter(|(_, l)| **l).map(|(w, _)| w.id).collect();
    Ok(Record { form, website_ids })
}

/// The record an order amends, when its type amends one.
pub async fn record_of_order(
    db: &impl ConnectionTrait,
    keys: &Keyring,
    actor: &Actor,
    filing: &Filing,
) -> Result<Option<Record>, ServiceError> {
    match (filing.filing_type.amends_record(), filing.base_filing_id) {
        (true, Some(base)) => Ok(Some(record_of(db, keys, actor, base).await?)),
        (true, None) => Err(ServiceError::internal(anyhow::anyhow!("order {} amends no record", filing.id))),
        (false, _) => Ok(None),
    }
}

pub fn require_admin(actor: &Actor) -> Result<(), ServiceError> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(Text::new(
            "only the registrar's administrators may do this",
            "只有接入商管理员可以执行此操作",
        )))
    }
}

/// Where each website of an order comes from, as the domain sees it.
pub fn origins(websites: &[StoredWebsite], record: Option<&Record>) -> Vec<WebsiteOrigin> {
    websites
        .iter()
        .map(|w| WebsiteOrigin {
            operation: w.operation,
            base: w
                .base_website_id
                .and_then(|base| record.and_then(|r| r.website_ids.iter().position(|id| *id == base))),
        })
        .collect()
}

/// What `form` (with `websites`) breaks of what the order's type allows; nothing for a first filing.
pub fn violations(
    filing_type: FilingType,
    form: &CreateFilingInput,
    websites: &[StoredWebsite],
    record: Option<&Record>,
    complete: bool,
) -> Vec<FieldError> {
    let origins = origins(websites, record);
    let order = Order { filing_type, form, origins: &origins, base: record.map(|r| &r.form) };
    order_rules::check(&order, complete)
}

/// Which websites of the order its per-website materials are asked for.
pub fn websites_in_scope(filing_type: FilingType, stored: &StoredFiling, record: Option<&Record>) -> Vec<bool> {
    let origins = origins(&stored.websites, record);
    let order = Order { filing_type, form: &stored.form, origins: &origins, base: record.map(|r| &r.form) };
    order_rules::websites_in_scope(&order)
}
