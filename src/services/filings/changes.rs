use crate::domain::masking::{mask_certificate_number, mask_email, mask_phone};
use crate::services::access::{self};
use crate::services::audit::{self, ChangeSet};
use crate::services::inputs::{PersonInput, SubjectInput, WebsiteInput};

fn person_changes(changes: &mut ChangeSet, prefix: &str, old: &PersonInput, new: &PersonInput) {
    let f = |name: &str| format!("{prefix}.{name}");
    changes.compare(f("name"), Some(&old.name), Some(&new.name));
    changes.compare(f("certificateType"), Some(old.certificate_type.as_str()), Some(new.certificate_type.as_str()));
    changes.compare_masked(
        f("certificateNumber"),
        Some(&old.certificate_number),
        Some(&new.certificate_number),
        mask_certificate_number,
    );
    changes.compare_masked(f("mobile"), Some(&old.mobile), Some(&new.mobile), mask_phone);
    changes.compare_masked(
        f("emergencyPhone"),
        old.emergency_phone.as_deref(),
        new.emergency_phone.as_deref(),
        mask_phone,
    );
    changes.compare_masked(f("email"), Some(&old.email), Some(&new.email), mask_email);
}

pub(super) fn subject_changes(old: &SubjectInput, new: &SubjectInput) -> ChangeSet {
    let mut c = ChangeSet::default();
    c.compare("subject.subjectType", Some(old.subject_type.as_str()), Some(new.subject_type.as_str()));
    c.compare("subject.name", Some(&old.name), Some(&new.name));
    c.compare("subject.certificateType", Some(old.certificate_type.as_str()), Some(new.certificate_type.as_str()));
    c.compare_masked(
        "subject.certificateNumber",
        Some(&old.certificate_number),
        Some(&new.certificate_number),
        mask_certificate_number,
    );
    c.compare("subject.certificateAddress", old.certificate_address.as_deref(), new.certificate_address.as_deref());
    c.compare("subject.provinceCode", Some(&old.province_code), Some(&new.province_code));
    c.compare("subject.cityCode", Some(&old.city_code), Some(&new.city_code));
    c.compare("subject.districtCode", Some(&old.district_code), Some(&new.district_code));
    c.compare("subject.mailingAddress", Some(&old.mailing_address), Some(&new.mailing_address));
    c.compare("subject.investor", old.investor.as_deref(), new.investor.as_deref());
    c.compare("subject.remark", old.remark.as_deref(), new.remark.as_deref());
    let flag = |b: bool| if b { "true" } else { "false" };
    c.compare(
        "subject.responsiblePersonIsLegalRepresentative",
        Some(flag(old.responsible_person_is_legal_representative)),
        Some(flag(new.responsible_person_is_legal_representative)),
    );
    person_changes(&mut c, "subject.responsiblePerson", &old.responsible_person, &new.responsible_person);
    c
}

/// The changes between two versions of a website, under `prefix` (`website` in the audit trail of an edit,
/// `websites[i]` against a filed record).
pub(super) fn website_changes(prefix: &str, old: &WebsiteInput, new: &WebsiteInput) -> ChangeSet {
    let f = |name: &str| format!("{prefix}.{name}");
    let names = |items: Vec<&str>| items.join(", ");
    let approvals = |w: &WebsiteInput| {
        w.pre_approvals.iter().map(|a| format!("{} {}", a.category.as_str(), a.licence_number)).collect::<Vec<_>>()
    };
    let mut c = ChangeSet::default();
    c.compare(f("name"), Some(&old.name), Some(&new.name));
    c.compare(f("domains"), Some(&old.domains.join(", ")), Some(&new.domains.join(", ")));
    c.compare(f("homepageUrl"), Some(&old.homepage_url), Some(&new.homepage_url));
    c.compare(
        f("serviceContent"),
        Some(&names(old.service_content.iter().map(|s| s.as_str()).collect())),
        Some(&names(new.service_content.iter().map(|s| s.as_str()).collect())),
    );
    c.compare(
        f("languages"),
        Some(&names(old.languages.iter().map(|l| l.as_str()).collect())),
        Some(&names(new.languages.iter().map(|l| l.as_str()).collect())),
    );
    c.compare(f("preApprovals"), Some(&approvals(old).join(", ")), Some(&approvals(new).join(", ")));
    c.compare(f("accessMethod"), Some(old.access_method.as_str()), Some(new.access_method.as_str()));
    c.compare(f("remark"), old.remark.as_deref(), new.remark.as_deref());
    person_changes(&mut c, &f("responsiblePerson"), &old.responsible_person, &new.responsible_person);
    c
}

/// What an order changes in the record it amends: subject fields, each carried website's fields, new websites and
/// the websites it cancels (paths in the order's website order).
pub(crate) fn form_changes(
    record: &crate::services::access::Record,
    order: &access::StoredFiling,
) -> Vec<audit::FieldChange> {
    use crate::domain::WebsiteOperation;
    let mut changes = subject_changes(&record.form.subject, &order.form.subject).into_vec();
    for (i, (form, stored)) in order.form.websites.iter().zip(&order.websites).enumerate() {
        let path = format!("websites[{i}]");
        let filed = stored
            .base_website_id
            .and_then(|base| record.website_ids.iter().position(|id| *id == base))
            .and_then(|j| record.form.websites.get(j));
        match (stored.operation, filed) {
            (WebsiteOperation::New, _) | (_, None) => {
                changes.push(audit::FieldChange { field: path, old: None, new: Some(form.name.clone()) })
            }
            (WebsiteOperation::Carried, Some(filed)) => changes.extend(website_changes(&path, filed, form).into_vec()),
            (operation, Some(_)) => changes.push(audit::FieldChange {
                field: format!("{path}.operation"),
                old: Some(WebsiteOperation::Carried.as_str().to_owned()),
                new: Some(operation.as_str().to_owned()),
            }),
        }
    }
    changes
}
