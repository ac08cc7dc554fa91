use chrono::{DateTime, Utc};
use sea_orm::Set;
use uuid::Uuid;

use crate::auth::Actor;
use crate::pii::Keyring;
use crate::services::inputs::{SubjectInput, WebsiteInput};
use entity::{filing_subject, website};

/// The row of a subject, its personal data sealed and blind-indexed ([`crate::pii`]).
pub(crate) fn subject_row(
    keys: &Keyring,
    actor: &Actor,
    filing_id: Uuid,
    id: Uuid,
    s: &SubjectInput,
) -> filing_subject::ActiveModel {
    let p = &s.responsible_person;
    let (keys, tenant) = (keys, actor.tenant_id);
    let seal = |value: &str| keys.seal(tenant, value);
    filing_subject::ActiveModel {
        id: Set(id),
        tenant_id: Set(actor.tenant_id),
        filing_id: Set(filing_id),
        subject_type: Set(s.subject_type),
        name: Set(s.name.clone()),
        certificate_type: Set(s.certificate_type),
        certificate_number: Set(seal(&s.certificate_number)),
        certificate_number_bidx: Set(crate::services::access::certificate_index(keys, tenant, &s.certificate_number)),
        certificate_address: Set(s.certificate_address.clone()),
        province_code: Set(s.province_code.clone()),
        city_code: Set(s.city_code.clone()),
        district_code: Set(s.district_code.clone()),
        mailing_address: Set(s.mailing_address.clone()),
        investor: Set(s.investor.clone()),
        remark: Set(s.remark.clone()),
        rp_name: Set(p.name.clone()),
        rp_certificate_type: Set(p.certificate_type),
        rp_certificate_number: Set(seal(&p.certificate_number)),
        rp_mobile: Set(seal(&p.mobile)),
        rp_mobile_bidx: Set(crate::services::access::mobile_index(keys, tenant, &p.mobile)),
        rp_emergency_phone: Set(p.emergency_phone.as_deref().map(seal)),
        rp_email: Set(seal(&p.email)),
        rp_is_legal_representative: Set(s.responsible_person_is_legal_representative),
    }
}

/// The row of a website, its responsible person's personal data sealed and blind-indexed ([`crate::pii`]).
pub(crate) fn website_row(
    keys: &Keyring,
    actor: &Actor,
    filing_id: Uuid,
    id: Uuid,
    w: &WebsiteInput,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> website::ActiveModel {
    let p = &w.responsible_person;
    let (keys, tenant) = (keys, actor.tenant_id);
    let seal = |value: &str| keys.seal(tenant, value);
    let names = |values: Vec<&'static str>| serde_json::Value::from(values);
    website::ActiveModel {
        id: Set(id),
        tenant_id: Set(actor.tenant_id),
        filing_id: Set(filing_id),
        name: Set(w.name.clone()),
        domains: Set(serde_json::Value::from(w.domains.clone())),
        homepage_url: Set(w.homepage_url.clone()),
        service_content: Set(names(w.service_content.iter().map(|s| s.as_str()).collect())),
        languages: Set(names(w.languages.iter().map(|l| l.as_str()).collect())),
        pre_approvals: Set(serde_json::Value::Array(
            w.pre_approvals
                .iter()
                .map(|a| serde_json::json!({"category": a.category.as_str(), "licenceNumber": a.licence_number}))
                .collect(),
        )),
        access_method: Set(w.access_method),
        remark: Set(w.remark.clone()),
        // Issued by the bureau, never by the applicant's form: an edit leaves it as it is.
        icp_number: sea_orm::ActiveValue::NotSet,
        // What the order does with the website is set when the row is created, never by an edit.
        operation: sea_orm::ActiveValue::NotSet,
        base_website_id: sea_orm::ActiveValue::NotSet,
        rp_name: Set(p.name.clone()),
        rp_certificate_type: Set(p.certificate_type),
        rp_certificate_number: Set(seal(&p.certificate_number)),
        rp_mobile: Set(seal(&p.mobile)),
        rp_mobile_bidx: Set(crate::services::access::mobile_index(keys, tenant, &p.mobile)),
        rp_emergency_phone: Set(p.emergency_phone.as_deref().map(seal)),
        rp_email: Set(seal(&p.email)),
        created_at: Set(created_at),
        updated_at: Set(updated_at),
    }
}
