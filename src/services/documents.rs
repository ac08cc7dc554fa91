//! The documents of a filing the applicant prints and signs.

use chrono::FixedOffset;
use uuid::Uuid;

use super::ServiceError;
use crate::auth::Actor;
use crate::documents::{SheetPerson, SheetSubject, SheetWebsite, VerificationSheet, verification_sheet_html};
use crate::domain::forms::PersonInput;
use crate::domain::{Province, WebsiteOperation};
use crate::services::Deps;

/// The verification sheet (网站备案信息真实性核验单) of a filing the caller may see, as printable HTML, filled in from
/// the filing as it stands (the websites an order keeps; cancelled ones are left out).
pub async fn verification_sheet(deps: &Deps, actor: &Actor, filing_id: Uuid) -> Result<String, ServiceError> {
    let db = &deps.db;
    let filing = super::access::get_filing(deps, actor, filing_id).await?;
    let stored = super::access::stored_filing(db, &deps.keys, actor, filing_id).await?;
    let tenant = super::tenants::tenant_by_id(db, actor.tenant_id).await?;
    let numbers = super::notifications::website_numbers(db, actor.tenant_id, filing_id).await?;
    // The sheet shows personal data as the caller sees it everywhere else: in full to the applicant who prints
    // and signs it (and to reviewers and the full-access backend), masked to administrators and read-only keys.
    let shown = actor.disclosure();
    let person = |p: &PersonInput| SheetPerson {
        name: p.name.clone(),
        certificate_type: p.certificate_type.label_zh().to_owned(),
        certificate_number: shown.certificate_number(&p.certificate_number),
        mobile: shown.phone(&p.mobile),
        emergency_phone: p.emergency_phone.as_deref().map(|phone| shown.phone(phone)),
        email: shown.email(&p.email),
    };
    let s = &stored.form.subject;
    let labels = |items: Vec<&str>| items.join("、");
    let websites = stored
        .form
        .websites
        .iter()
        .zip(&stored.websites)
        .filter(|(_, w)| matches!(w.operation, WebsiteOperation::New | WebsiteOperation::Carried))
        .map(|(w, stored)| SheetWebsite {
            name: w.name.clone(),
            domains: w.domains.join("、"),
            homepage_url: w.homepage_url.clone(),
            service_content: labels(w.service_content.iter().map(|c| c.label_zh()).collect()),
            languages: labels(w.languages.iter().map(|l| l.label_zh()).collect()),
            pre_approvals: w
                .pre_approvals
                .iter()
                .map(|a| format!("{} {}", a.category.label_zh(), a.licence_number))
                .collect::<Vec<_>>()
                .join("；"),
            access_method: w.access_method.label_zh().to_owned(),
            icp_number: numbers.get(&stored.id).cloned(),
            person: person(&w.responsible_person),
        })
        .collect();
    let cst = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    let sheet = VerificationSheet {
        registrar: tenant.name,
        filing_type: filing.filing_type.label_zh().to_owned(),
        reference: filing.id.simple().to_string(),
        icp_number: filing.icp_number.clone(),
        subject: SheetSubject {
            name: s.name.clone(),
            subject_type: s.subject_type.label_zh().to_owned(),
            certificate_type: s.certificate_type.label_zh().to_owned(),
            certificate_number: shown.certificate_number(&s.certificate_number),
            certificate_address: s.certificate_address.clone(),
            province: Province::of_division_code(&s.province_code).map(|p| p.name_zh).unwrap_or_default().to_owned(),
            district_code: s.district_code.clone(),
            mailing_address: s.mailing_address.clone(),
            investor: s.investor.clone(),
            person: person(&s.responsible_person),
        },
        websites,
        generated_at: deps.now().with_timezone(&cst).format("%Y-%m-%d %H:%M (UTC+8)").to_string(),
    };
    Ok(verification_sheet_html(&sheet))
}
