//! Orders beyond the first filing (新增网站, 新增接入, 变更, 注销, 取消接入): what each kind of order may change in the
//! filed record it amends. Pure: the services hand in the order's form, where each website came from, and the record.
//!
//! An order that amends a record holds the whole subject as it will stand afterwards: the subject and every website
//! still filed here, each carried over from the record (and changed, where the order type allows), new, or marked
//! for cancellation.

use super::forms::{CreateFilingInput, PersonInput, SubjectInput, WebsiteInput};
use super::{FieldError, FieldErrorCode, FilingType, WebsiteOperation};

/// Where one website of an order comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebsiteOrigin {
    pub operation: WebsiteOperation,
    /// Its index among the record's websites, for a carried (or cancelled) website.
    pub base: Option<usize>,
}

/// An order and the record it amends.
#[derive(Clone, Copy, Debug)]
pub struct Order<'a> {
    pub filing_type: FilingType,
    pub form: &'a CreateFilingInput,
    /// One per website of `form`, in the same order.
    pub origins: &'a [WebsiteOrigin],
    /// The filed record (its websites still filed here), for the types that amend one.
    pub base: Option<&'a CreateFilingInput>,
}

/// The order types that can be started from a filed record.
pub const FOLLOW_UP_TYPES: [FilingType; 7] = [
    FilingType::AddWebsite,
    FilingType::ChangeSubject,
    FilingType::ChangeWebsite,
    FilingType::ChangeAccess,
    FilingType::CancelSubject,
    FilingType::CancelWebsite,
    FilingType::CancelAccess,
];

/// Subject fields a subject change may not touch: they identify the subject (and its province the ICP number). A
/// different certificate or province is a different subject: cancel and file anew.
const SUBJECT_IDENTITY: [&str; 4] = ["subjectType", "certificateType", "certificateNumber", "provinceCode"];

/// Everything wrong with the order for its type. `complete` adds what only a submission needs (the order must
/// change something).
pub fn check(order: &Order<'_>, complete: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let t = order.filing_type;
    let Some(base) = order.base.filter(|_| t.amends_record()) else {
        return errors;
    };
    let form = order.form;

    let subject_diff = subject_differences(&base.subject, &form.subject);
    check_subject_changes(t, &subject_diff, &mut errors);

    // The websites: every filed one accounted for, each changed only as the type allows.
    check_filed_websites_kept(base, order.origins, &mut errors);
    let mut changed_websites = 0;
    for (i, (website, origin)) in form.websites.iter().zip(order.origins).enumerate() {
        let path = format!("websites[{i}]");
        errors.extend(operation_error(t, origin.operation, &path));
        let Some(filed) = origin.base.and_then(|j| base.websites.get(j)) else {
            continue;
        };
        changed_websites += usize::from(check_website_changes(t, filed, website, &path, &mut errors));
    }

    check_type_requirements(order, &subject_diff, changed_websites, complete, &mut errors);
    errors
}

/// The subject: only a subject change changes it, and never its identity. One error per changed field the order
/// type may not change, suggesting the way to make that change.
fn check_subject_changes(t: FilingType, subject_diff: &[String], errors: &mut Vec<FieldError>) {
    for field in subject_diff {
        let identity = SUBJECT_IDENTITY.contains(&field.as_str());
        if t != FilingType::ChangeSubject || identity {
            let mut error = FieldError::new(format!("subject.{field}"), FieldErrorCode::ChangeNotAllowed);
            if identity {
                error = error.suggest(
                    "A different certificate or province is a different subject: cancel this one and file anew.",
                    "主体证件或省份不同即为不同主体：请注销后重新备案。",
                );
            } else {
                error = error.suggest("Start a subject change order (CHANGE_SUBJECT).", "请发起变更主体订单。");
            }
            errors.push(error);
        }
    }
}

/// Every filed website must be in the order (carried or marked for cancellation): one error per filed website no
/// website of the order comes from.
fn check_filed_websites_kept(base: &CreateFilingInput, origins: &[WebsiteOrigin], errors: &mut Vec<FieldError>) {
    for j in 0..base.websites.len() {
        if !origins.iter().any(|o| o.base == Some(j)) {
            errors.push(FieldError::new("websites", FieldErrorCode::ChangeNotAllowed).with_message(
                format!("Filed website {} is missing: cancel it with a cancel-website order instead.", j + 1),
                format!("已备案的第 {} 个网站缺失：如需删除请办理注销网站。", j + 1),
            ));
        }
    }
}

/// Whether the order type allows a website's operation: new websites only in an add-website order, cancellation
/// only in a cancel-website or cancel-subject order, ending access only in a cancel-access order, and nothing
/// carried when the subject is cancelled. The error for the website at `path` when it does not.
fn operation_error(t: FilingType, operation: WebsiteOperation, path: &str) -> Option<FieldError> {
    match operation {
        WebsiteOperation::New if t != FilingType::AddWebsite => {
            Some(FieldError::new(path, FieldErrorCode::ChangeNotAllowed).suggest(
                "New websites join a filed subject through an add-website order (ADD_WEBSITE).",
                "请通过新增网站订单添加网站。",
            ))
        }
        WebsiteOperation::Cancel if !matches!(t, FilingType::CancelWebsite | FilingType::CancelSubject) => {
            Some(FieldError::new(format!("{path}.operation"), FieldErrorCode::ChangeNotAllowed))
        }
        WebsiteOperation::CancelAccess if t != FilingType::CancelAccess => {
            Some(FieldError::new(format!("{path}.operation"), FieldErrorCode::ChangeNotAllowed))
        }
        WebsiteOperation::Carried if t == FilingType::CancelSubject => Some(
            FieldError::new(format!("{path}.operation"), FieldErrorCode::ChangeNotAllowed)
                .with_message("Cancelling the subject cancels every website.", "注销主体即注销其全部网站。"),
        ),
        _ => None,
    }
}

/// The changes to a filed website the order type allows: a website change changes anything but the access method,
/// an access change only the access method, other types nothing; no type removes a domain. One error per change
/// not allowed, suggesting the order that makes it. Whether the website changed at all.
fn check_website_changes(
    t: FilingType,
    filed: &WebsiteInput,
    website: &WebsiteInput,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> bool {
    let differences = website_differences(filed, website);
    let changed = !differences.is_empty();
    for field in differences {
        let allowed = match t {
            FilingType::ChangeWebsite => field != "accessMethod",
            FilingType::ChangeAccess => field == "accessMethod",
            _ => false,
        };
        if allowed {
            continue;
        }
        let removed = field == "domains" && filed.domains.iter().any(|d| !website.domains.contains(d));
        let error = if removed {
            FieldError::new(format!("{path}.domains"), FieldErrorCode::DomainRemovalNotAllowed)
        } else if t == FilingType::ChangeWebsite {
            FieldError::new(format!("{path}.{field}"), FieldErrorCode::ChangeNotAllowed)
                .suggest("Start an access change order (CHANGE_ACCESS).", "请发起变更接入订单。")
        } else {
            FieldError::new(format!("{path}.{field}"), FieldErrorCode::ChangeNotAllowed)
                .suggest("Start a website change order (CHANGE_WEBSITE).", "请发起变更网站订单。")
        };
        errors.push(error);
    }
    changed
}

/// What each type must do: a website cancellation leaves at least one website, and (when `complete`) every order
/// changes what its type is for.
fn check_type_requirements(
    order: &Order<'_>,
    subject_diff: &[String],
    changed_websites: usize,
    complete: bool,
    errors: &mut Vec<FieldError>,
) {
    let t = order.filing_type;
    let count = |op: WebsiteOperation| order.origins.iter().filter(|o| o.operation == op).count();
    if t == FilingType::CancelWebsite && count(WebsiteOperation::Cancel) == order.origins.len() {
        errors.push(FieldError::new("websites", FieldErrorCode::LastWebsite));
    }
    if complete {
        let nothing = match t {
            FilingType::AddWebsite => count(WebsiteOperation::New) == 0,
            FilingType::ChangeSubject => subject_diff.is_empty(),
            FilingType::ChangeWebsite | FilingType::ChangeAccess => changed_websites == 0,
            FilingType::CancelWebsite => count(WebsiteOperation::Cancel) == 0,
            FilingType::CancelAccess => count(WebsiteOperation::CancelAccess) == 0,
            _ => false,
        };
        if nothing {
            let field = if t == FilingType::ChangeSubject { "subject" } else { "websites" };
            errors.push(FieldError::new(field, FieldErrorCode::NoChange));
        }
    }
}

/// Which websites of the order the per-website materials (ID cards, face video, licences) are asked for: the new
/// ones, and the carried ones the order changes. Cancelled and unchanged websites were checked when they were filed.
pub fn websites_in_scope(order: &Order<'_>) -> Vec<bool> {
    order
        .form
        .websites
        .iter()
        .zip(order.origins)
        .map(|(website, origin)| match origin.operation {
            WebsiteOperation::New => true,
            WebsiteOperation::Carried => origin
                .base
                .and_then(|j| order.base.and_then(|b| b.websites.get(j)))
                .is_some_and(|filed| !website_differences(filed, website).is_empty()),
            WebsiteOperation::Cancel | WebsiteOperation::CancelAccess => false,
        })
        .collect()
}

/// The subject fields (GraphQL paths below `subject.`) that differ.
pub fn subject_differences(a: &SubjectInput, b: &SubjectInput) -> Vec<String> {
    let mut out = Vec::new();
    let mut differ = |field: &str, same: bool| {
        if !same {
            out.push(field.to_owned());
        }
    };
    differ("subjectType", a.subject_type == b.subject_type);
    differ("name", a.name == b.name);
    differ("certificateType", a.certificate_type == b.certificate_type);
    differ("certificateNumber", a.certificate_number.eq_ignore_ascii_case(&b.certificate_number));
    differ("certificateAddress", a.certificate_address == b.certificate_address);
    differ("provinceCode", a.province_code == b.province_code);
    differ("cityCode", a.city_code == b.city_code);
    differ("districtCode", a.district_code == b.district_code);
    differ("mailingAddress", a.mailing_address == b.mailing_address);
    differ("investor", a.investor == b.investor);
    differ("remark", a.remark == b.remark);
    differ(
        "responsiblePersonIsLegalRepresentative",
        a.responsible_person_is_legal_representative == b.responsible_person_is_legal_representative,
    );
    out.extend(person_differences(&a.responsible_person, &b.responsible_person));
    out
}

/// The website fields (GraphQL paths below `websites[i].`) that differ.
pub fn website_differences(a: &WebsiteInput, b: &WebsiteInput) -> Vec<String> {
    let mut out = Vec::new();
    let mut differ = |field: &str, same: bool| {
        if !same {
            out.push(field.to_owned());
        }
    };
    differ("name", a.name == b.name);
    differ("domains", a.domains == b.domains);
    differ("homepageUrl", a.homepage_url == b.homepage_url);
    differ("serviceContent", a.service_content == b.service_content);
    differ("languages", a.languages == b.languages);
    differ("preApprovals", a.pre_approvals == b.pre_approvals);
    differ("accessMethod", a.access_method == b.access_method);
    differ("remark", a.remark == b.remark);
    out.extend(person_differences(&a.responsible_person, &b.responsible_person));
    out
}

fn person_differences(a: &PersonInput, b: &PersonInput) -> Vec<String> {
    let mut out = Vec::new();
    let mut differ = |field: &str, same: bool| {
        if !same {
            out.push(format!("responsiblePerson.{field}"));
        }
    };
    differ("name", a.name == b.name);
    differ("certificateType", a.certificate_type == b.certificate_type);
    differ("certificateNumber", a.certificate_number.eq_ignore_ascii_case(&b.certificate_number));
    differ("mobile", a.mobile == b.mobile);
    differ("emergencyPhone", a.emergency_phone == b.emergency_phone);
    differ("email", a.email.eq_ignore_ascii_case(&b.email));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccessMethod, CertificateType, Language, ServiceContent, SubjectType};

    fn person(name: &str, id: &str, mobile: &str) -> PersonInput {
        PersonInput {
            name: name.into(),
            certificate_type: CertificateType::ResidentIdCard,
            certificate_number: id.into(),
            mobile: mobile.into(),
            emergency_phone: None,
            email: "p@example.com".into(),
        }
    }

    fn website(name: &str, domain: &str) -> WebsiteInput {
        WebsiteInput {
            name: name.into(),
            domains: vec![domain.into()],
            homepage_url: format!("https://www.{domain}"),
            service_content: vec![ServiceContent::BlogPersonalSpace],
            languages: vec![Language::SimplifiedChinese],
            pre_approvals: vec![],
            access_method: AccessMethod::VirtualHosting,
            remark: None,
            responsible_person: person("张三", "110101199003074477", "13800138000"),
        }
    }

    fn record() -> CreateFilingInput {
        CreateFilingInput {
            subject: SubjectInput {
                subject_type: SubjectType::Enterprise,
                name: "北京示例科技有限公司".into(),
                certificate_type: CertificateType::BusinessLicence,
                certificate_number: "91110000600037341L".into(),
                certificate_address: None,
                province_code: "110000".into(),
                city_code: "110100".into(),
                district_code: "110101".into(),
                mailing_address: "北京市东城区示例路 1 号".into(),
                investor: None,
                remark: None,
                responsible_person: person("张三", "110101199003074477", "13800138000"),
                responsible_person_is_legal_representative: true,
            },
            websites: vec![website("示例科技官网", "example.com"), website("示例科技博客", "example.net")],
        }
    }

    fn carried(n: usize) -> Vec<WebsiteOrigin> {
        (0..n).map(|j| WebsiteOrigin { operation: WebsiteOperation::Carried, base: Some(j) }).collect()
    }

    fn codes(
        t: FilingType,
        form: &CreateFilingInput,
        origins: &[WebsiteOrigin],
        complete: bool,
    ) -> Vec<(String, &'static str)> {
        let base = record();
        let order = Order { filing_type: t, form, origins, base: Some(&base) };
        check(&order, complete).into_iter().map(|e| (e.field, e.code.as_str())).collect()
    }

    #[test]
    fn a_first_filing_has_no_record_to_respect() {
        let form = record();
        let origins = vec![WebsiteOrigin { operation: WebsiteOperation::New, base: None }; 2];
        let order = Order { filing_type: FilingType::FirstFiling, form: &form, origins: &origins, base: None };
        assert!(check(&order, true).is_empty());
    }

    #[test]
    fn an_unchanged_copy_is_fine_while_editing_and_says_so_on_submission() {
        let form = record();
        for t in
            [FilingType::AddWebsite, FilingType::ChangeSubject, FilingType::ChangeWebsite, FilingType::ChangeAccess]
        {
            assert!(codes(t, &form, &carried(2), false).is_empty(), "{t:?}");
            let field = if t == FilingType::ChangeSubject { "subject" } else { "websites" };
            assert_eq!(codes(t, &form, &carried(2), true), vec![(field.to_owned(), "NO_CHANGE")], "{t:?}");
        }
    }

    #[test]
    fn an_add_website_order_adds_and_changes_nothing_else() {
        let mut form = record();
        form.websites.push(website("示例科技商城", "example.org"));
        let mut origins = carried(2);
        origins.push(WebsiteOrigin { operation: WebsiteOperation::New, base: None });
        assert!(codes(FilingType::AddWebsite, &form, &origins, true).is_empty());

        form.subject.name = "北京示例网络有限公司".into();
        form.websites[0].domains = vec!["example.com".into(), "example.cn".into()];
        form.websites[1].domains = vec!["example.info".into()];
        assert_eq!(
            codes(FilingType::AddWebsite, &form, &origins, true),
            vec![
                ("subject.name".to_owned(), "CHANGE_NOT_ALLOWED"),
                ("websites[0].domains".to_owned(), "CHANGE_NOT_ALLOWED"),
                ("websites[1].domains".to_owned(), "DOMAIN_REMOVAL_NOT_ALLOWED"),
            ]
        );
    }

    #[test]
    fn only_a_website_change_removes_domains_and_it_leaves_the_access_alone() {
        let mut form = record();
        form.websites[0].domains = vec!["example.cn".into()];
        assert!(codes(FilingType::ChangeWebsite, &form, &carried(2), true).is_empty());
        for t in [FilingType::ChangeSubject, FilingType::ChangeAccess, FilingType::AddWebsite] {
            assert!(
                codes(t, &form, &carried(2), false)
                    .contains(&("websites[0].domains".to_owned(), "DOMAIN_REMOVAL_NOT_ALLOWED")),
                "{t:?}"
            );
        }
        let mut form = record();
        form.websites[1].access_method = AccessMethod::Colocation;
        assert_eq!(
            codes(FilingType::ChangeWebsite, &form, &carried(2), false),
            vec![("websites[1].accessMethod".to_owned(), "CHANGE_NOT_ALLOWED")]
        );
        assert!(codes(FilingType::ChangeAccess, &form, &carried(2), true).is_empty());
        form.websites[1].name = "示例科技日志".into();
        assert_eq!(
            codes(FilingType::ChangeAccess, &form, &carried(2), false),
            vec![("websites[1].name".to_owned(), "CHANGE_NOT_ALLOWED")]
        );
    }

    #[test]
    fn a_subject_change_keeps_the_subject_identity() {
        let mut form = record();
        form.subject.mailing_address = "北京市东城区示例路 2 号".into();
        form.subject.responsible_person.mobile = "13900139000".into();
        assert!(codes(FilingType::ChangeSubject, &form, &carried(2), true).is_empty());
        form.subject.certificate_number = "91110000100000000X".into();
        form.subject.province_code = "310000".into();
        assert_eq!(
            codes(FilingType::ChangeSubject, &form, &carried(2), false),
            vec![
                ("subject.certificateNumber".to_owned(), "CHANGE_NOT_ALLOWED"),
                ("subject.provinceCode".to_owned(), "CHANGE_NOT_ALLOWED"),
            ]
        );
        // Other orders do not change the subject at all.
        let mut form = record();
        form.subject.mailing_address = "北京市东城区示例路 2 号".into();
        assert_eq!(
            codes(FilingType::ChangeWebsite, &form, &carried(2), false),
            vec![("subject.mailingAddress".to_owned(), "CHANGE_NOT_ALLOWED")]
        );
    }

    #[test]
    fn cancellations_name_their_websites_and_keep_one() {
        let form = record();
        let mut origins = carried(2);
        origins[1].operation = WebsiteOperation::Cancel;
        assert!(codes(FilingType::CancelWebsite, &form, &origins, true).is_empty());
        assert_eq!(
            codes(FilingType::CancelWebsite, &form, &carried(2), true),
            vec![("websites".to_owned(), "NO_CHANGE")]
        );
        origins[0].operation = WebsiteOperation::Cancel;
        assert_eq!(
            codes(FilingType::CancelWebsite, &form, &origins, false),
            vec![("websites".to_owned(), "LAST_WEBSITE")]
        );
        // Cancelling the subject cancels every website; only CANCEL_ACCESS stops hosting.
        assert!(codes(FilingType::CancelSubject, &form, &origins, true).is_empty());
        assert_eq!(
            codes(FilingType::CancelSubject, &form, &carried(2), true),
            vec![
                ("websites[0].operation".to_owned(), "CHANGE_NOT_ALLOWED"),
                ("websites[1].operation".to_owned(), "CHANGE_NOT_ALLOWED"),
            ]
        );
        assert_eq!(
            codes(FilingType::CancelAccess, &form, &origins, true),
            vec![
                ("websites[0].operation".to_owned(), "CHANGE_NOT_ALLOWED"),
                ("websites[1].operation".to_owned(), "CHANGE_NOT_ALLOWED"),
                ("websites".to_owned(), "NO_CHANGE"),
            ]
        );
        let mut origins = carried(2);
        origins[0].operation = WebsiteOperation::CancelAccess;
        assert!(codes(FilingType::CancelAccess, &form, &origins, true).is_empty());
    }

    #[test]
    fn a_filed_website_cannot_drop_out_and_new_ones_need_an_add_order() {
        let mut form = record();
        form.websites.truncate(1);
        assert_eq!(
            codes(FilingType::ChangeWebsite, &form, &carried(1), false),
            vec![("websites".to_owned(), "CHANGE_NOT_ALLOWED")]
        );
        let mut form = record();
        form.websites.push(website("示例科技商城", "example.org"));
        let mut origins = carried(2);
        origins.push(WebsiteOrigin { operation: WebsiteOperation::New, base: None });
        assert_eq!(
            codes(FilingType::ChangeWebsite, &form, &origins, false),
            vec![("websites[2]".to_owned(), "CHANGE_NOT_ALLOWED")]
        );
    }

    #[test]
    fn materials_are_asked_for_new_and_changed_websites() {
        let mut form = record();
        form.websites[1].name = "示例科技日志".into();
        form.websites.push(website("示例科技商城", "example.org"));
        let mut origins = carried(2);
        origins.push(WebsiteOrigin { operation: WebsiteOperation::New, base: None });
        let base = record();
        let order = Order { filing_type: FilingType::ChangeWebsite, form: &form, origins: &origins, base: Some(&base) };
        assert_eq!(websites_in_scope(&order), vec![false, true, true]);
        let mut cancelled = origins.clone();
        cancelled[1].operation = WebsiteOperation::Cancel;
        let order = Order { origins: &cancelled, ..order };
        assert_eq!(websites_in_scope(&order), vec![false, false, true]);
    }

    #[test]
    fn which_orders_skip_the_preliminary_review_and_which_amend_a_record() {
        for t in FOLLOW_UP_TYPES {
            assert!(t.amends_record(), "{t:?}");
        }
        assert!(!FilingType::FirstFiling.amends_record());
        assert!(!FilingType::AddAccess.amends_record());
        let skipping: Vec<_> = FOLLOW_UP_TYPES.into_iter().filter(|t| t.skips_preliminary_review()).collect();
        assert_eq!(skipping, vec![FilingType::CancelSubject, FilingType::CancelWebsite, FilingType::CancelAccess]);
    }
}
