use std::collections::HashSet;

use chrono::NaiveDate;

use super::*;
use crate::domain::forms::{PersonInput, PreApprovalInput, SubjectInput, WebsiteInput};
use crate::domain::reference::ReferenceData;
use crate::domain::{AccessMethod, CertificateType, Language, PreApprovalCategory, ServiceContent, SubjectType};

fn person(name: &str, id: &str, mobile: &str, email: &str) -> PersonInput {
    PersonInput {
        name: name.into(),
        certificate_type: CertificateType::ResidentIdCard,
        certificate_number: id.into(),
        mobile: mobile.into(),
        emergency_phone: Some("010-12345678".into()),
        email: email.into(),
    }
}

fn enterprise() -> SubjectInput {
    SubjectInput {
        subject_type: SubjectType::Enterprise,
        name: "北京示例科技有限公司".into(),
        certificate_type: CertificateType::BusinessLicence,
        certificate_number: "91110000802100433B".into(),
        certificate_address: Some("北京市朝阳区示例路1号".into()),
        province_code: "110000".into(),
        city_code: "110100".into(),
        district_code: "110105".into(),
        mailing_address: "北京市朝阳区示例路1号".into(),
        investor: None,
        remark: None,
        responsible_person: person("张三", "11010519491231002X", "13800138000", "zhangsan@example.com"),
        responsible_person_is_legal_representative: true,
    }
}

fn website(name: &str, domain: &str) -> WebsiteInput {
    WebsiteInput {
        name: name.into(),
        domains: vec![domain.into()],
        homepage_url: format!("https://www.{domain}/"),
        service_content: vec![ServiceContent::OrganisationPortal],
        languages: vec![Language::SimplifiedChinese],
        pre_approvals: vec![],
        access_method: AccessMethod::Cloud,
        remark: Some("公司介绍、产品展示与联系方式，不提供交互服务。".into()),
        responsible_person: person("李四", "110105199001011232", "13900139000", "lisi@example.com"),
    }
}

fn individual() -> SubjectInput {
    let me = person("王五", "110105199001011232", "13700137000", "wangwu@example.com");
    SubjectInput {
        subject_type: SubjectType::Individual,
        name: "王五".into(),
        certificate_type: CertificateType::ResidentIdCard,
        certificate_number: "110105199001011232".into(),
        certificate_address: None,
        responsible_person: me,
        ..enterprise()
    }
}

fn check(form: &CreateFilingInput) -> Vec<(String, FieldErrorCode)> {
    let reference = ReferenceData::built_in();
    let context = Context {
        reference: &reference,
        today: NaiveDate::from_ymd_opt(2026, 11, 28).unwrap(),
        mobiles_of_other_subjects: HashSet::from(["13600136000".to_owned()]),
    };
    check_filing(form, &context, true).into_iter().filter(|f| f.is_error()).map(|f| (f.field, f.code)).collect()
}

fn form(subject: SubjectInput, websites: Vec<WebsiteInput>) -> CreateFilingInput {
    CreateFilingInput { subject, websites }
}

fn site_with_personal_rp(name: &str) -> WebsiteInput {
    WebsiteInput { responsible_person: individual().responsible_person, ..website(name, "example.cn") }
}

#[test]
fn a_complete_valid_filing_has_no_errors() {
    assert_eq!(check(&form(enterprise(), vec![website("示例科技企业网站", "example.com")])), vec![]);
    let personal = WebsiteInput {
        service_content: vec![ServiceContent::BlogPersonalSpace],
        ..site_with_personal_rp("王五的个人博客")
    };
    let personal = WebsiteInput { pre_approvals: vec![], ..personal };
    let found = check(&form(individual(), vec![personal]));
    assert_eq!(
        found,
        vec![("websites[0].name".to_owned(), FieldErrorCode::NameNeedsPreApproval)],
        "博客 is a bulletin word"
    );
    let personal = WebsiteInput {
        service_content: vec![ServiceContent::Other],
        ..site_with_personal_rp("王五的摄影作品集")
    };
    assert_eq!(check(&form(individual(), vec![personal])), vec![]);
}

#[test]
fn a_filing_needs_a_website_before_submission() {
    assert_eq!(check(&form(enterprise(), vec![])), vec![("websites".to_owned(), FieldErrorCode::Required)]);
}

#[test]
fn certificates_must_fit_the_subject_type_and_be_valid() {
    let wrong_type = SubjectInput { certificate_type: CertificateType::ResidentIdCard, ..enterprise() };
    assert_eq!(
        check(&form(wrong_type, vec![website("示例科技企业网站", "example.com")]))[0].1,
        FieldErrorCode::CertificateTypeNotAllowed
    );

    let bad_checksum = SubjectInput { certificate_number: "91110000802100433C".into(), ..enterprise() };
    assert_eq!(
        check(&form(bad_checksum, vec![website("示例科技企业网站", "example.com")])),
        vec![("subject.certificateNumber".to_owned(), FieldErrorCode::InvalidCertificateNumber)]
    );

    // A public institution's code (12...) on an enterprise.
    let institution_code = SubjectInput { certificate_number: "12100000400000624D".into(), ..enterprise() };
    assert_eq!(
        check(&form(institution_code, vec![website("示例科技企业网站", "example.com")])),
        vec![("subject.certificateNumber".to_owned(), FieldErrorCode::SubjectTypeMismatch)]
    );
}

#[test]
fn the_filing_province_is_the_certificates() {
    // A Shenzhen company filing in Beijing.
    let subject = SubjectInput { certificate_number: "91440300708461136T".into(), ..enterprise() };
    assert_eq!(
        check(&form(subject, vec![website("示例科技企业网站", "example.com")])),
        vec![("subject.provinceCode".to_owned(), FieldErrorCode::ProvinceMismatch)]
    );
    // A Shanghai subject whose address is in Beijing.
    let subject = SubjectInput {
        certificate_number: "91310000MA1FL0000N".into(),
        province_code: "310000".into(),
        city_code: "310100".into(),
        district_code: "310115".into(),
        ..enterprise()
    };
    let found = check(&form(subject, vec![]));
    assert!(found.contains(&("subject.mailingAddress".to_owned(), FieldErrorCode::AddressOutsideRegion)), "{found:?}");
    assert!(found.contains(&("subject.certificateAddress".to_owned(), FieldErrorCode::AddressOutsideRegion)));
}

#[test]
fn individuals_have_one_website_and_limited_service_content() {
    let site = |name: &str, domain: &str| WebsiteInput {
        service_content: vec![ServiceContent::OnlineShopping],
        ..WebsiteInput { responsible_person: individual().responsible_person, ..website(name, domain) }
    };
    let found = check(&form(individual(), vec![site("王五的摄影作品集", "a.cn"), site("王五的旅行日记", "b.cn")]));
    assert!(found.contains(&("websites".to_owned(), FieldErrorCode::TooMany)), "{found:?}");
    assert!(found.contains(&("websites[0].serviceContent".to_owned(), FieldErrorCode::NotAllowedForIndividuals)));

    let mut subject = individual();
    subject.responsible_person.name = "别人".into();
    let found = check(&form(subject, vec![]));
    assert!(found.contains(&("subject.responsiblePerson".to_owned(), FieldErrorCode::PersonMismatch)), "{found:?}");
}

#[test]
fn people_are_checked_and_do_not_share_contacts() {
    let mut site = website("示例科技企业网站", "example.com");
    site.responsible_person.mobile = "13800138000".into(); // the subject's person's number, another person
    site.responsible_person.email = "ZHANGSAN@example.com".into();
    site.responsible_person.emergency_phone = Some("110".into());
    let found = check(&form(enterprise(), vec![site]));
    assert_eq!(
        found,
        vec![
            ("websites[0].responsiblePerson.emergencyPhone".to_owned(), FieldErrorCode::InvalidPhone),
            ("websites[0].responsiblePerson.mobile".to_owned(), FieldErrorCode::SharedContact),
            ("websites[0].responsiblePerson.email".to_owned(), FieldErrorCode::SharedContact),
        ]
    );
    // The same person may be responsible for the subject and the website.
    let mut same = website("示例科技企业网站", "example.com");
    same.responsible_person = enterprise().responsible_person;
    assert_eq!(check(&form(enterprise(), vec![same])), vec![]);

    let mut taken = enterprise();
    taken.responsible_person.mobile = "136 0013 6000".into();
    taken.responsible_person.certificate_number = "110105194912310021".into();
    let found = check(&form(taken, vec![]));
    assert!(found.contains(&("subject.responsiblePerson.mobile".to_owned(), FieldErrorCode::MobileTaken)));
    assert!(found.contains(&(
        "subject.responsiblePerson.certificateNumber".to_owned(),
        FieldErrorCode::InvalidCertificateNumber
    )));
    let mut bad_mobile = enterprise();
    bad_mobile.responsible_person.mobile = "12345".into();
    assert_eq!(check(&form(bad_mobile, vec![]))[0].1, FieldErrorCode::InvalidMobile);
}

#[test]
fn domains_must_be_registrable_under_an_approved_tld() {
    let mut site = website("示例科技企业网站", "example.com");
    site.domains =
        vec!["www.example.com".into(), "example.zz".into(), "example.com.cn".into(), "shop.example.com.cn".into()];
    site.homepage_url = "https://example.com.cn".into();
    assert_eq!(
        check(&form(enterprise(), vec![site])),
        vec![
            ("websites[0].domains[0]".to_owned(), FieldErrorCode::NotRegistrableDomain),
            ("websites[0].domains[1]".to_owned(), FieldErrorCode::TldNotApproved),
            ("websites[0].domains[3]".to_owned(), FieldErrorCode::NotRegistrableDomain),
        ]
    );
    let mut off_domain = website("示例科技企业网站", "example.com");
    off_domain.homepage_url = "https://elsewhere.cn/".into();
    assert_eq!(check(&form(enterprise(), vec![off_domain]))[0].1, FieldErrorCode::HomepageNotOnDomain);
    let mut idn = website("示例科技企业网站", "xn--fsqu00a.xn--fiqs8s");
    idn.homepage_url = "https://例子.中国/".into();
    assert_eq!(check(&form(enterprise(), vec![idn])), vec![], "例子.中国 is fine");
}

#[test]
fn service_content_and_names_call_for_pre_approvals() {
    let mut site = website("示例科技企业网站", "example.com");
    site.service_content = vec![ServiceContent::OnlineNews, ServiceContent::OnlineVideo];
    assert_eq!(
        check(&form(enterprise(), vec![site.clone()])),
        vec![("websites[0].preApprovals".to_owned(), FieldErrorCode::PreApprovalRequired)]
    );
    site.pre_approvals = vec![
        PreApprovalInput { category: PreApprovalCategory::News, licence_number: "10120170001".into() },
        PreApprovalInput { category: PreApprovalCategory::RadioFilmTv, licence_number: "0110001".into() },
    ];
    assert_eq!(check(&form(enterprise(), vec![site])), vec![]);
}

#[test]
fn remarks_run_from_20_to_200_characters() {
    for (remark, code) in [(None, FieldErrorCode::Required), (Some("太短了"), FieldErrorCode::TooShort)] {
        let site =
            WebsiteInput { remark: remark.map(str::to_owned), ..website("示例科技企业网站", "example.com") };
        assert_eq!(check(&form(enterprise(), vec![site])), vec![("websites[0].remark".to_owned(), code)]);
    }
    let long = WebsiteInput { remark: Some("长".repeat(201)), ..website("示例科技企业网站", "example.com") };
    assert_eq!(check(&form(enterprise(), vec![long]))[0].1, FieldErrorCode::TooLong);
}

fn name_findings(subject: SubjectInput, name: &str) -> Vec<FieldErrorCode> {
    let site = website(name, "example.com");
    let reference = ReferenceData::built_in();
    lint_website_name(&site, &subject, &Default::default(), &reference).into_iter().map(|f| f.code).collect()
}

#[test]
fn each_documented_name_rule() {
    use FieldErrorCode::*;
    assert_eq!(name_findings(enterprise(), "示例科技企业网站"), vec![]);
    assert_eq!(name_findings(enterprise(), "示例"), vec![NameTooShort]);
    assert_eq!(name_findings(enterprise(), "123456"), vec![NameOnlyDigitsOrLetters]);
    assert_eq!(name_findings(enterprise(), "Example"), vec![NameOnlyDigitsOrLetters]);
    assert_eq!(name_findings(enterprise(), "example.com"), vec![NameIsDomain]);
    assert_eq!(name_findings(enterprise(), "示例科技★官方商城"), vec![NameHasSymbols, NameMayDrawQuestion]);
    assert_eq!(name_findings(enterprise(), "中国示例科技网"), vec![NameReservedPrefix]);
    let government = SubjectInput { subject_type: SubjectType::Government, ..enterprise() };
    assert_eq!(name_findings(government, "中国示例政务网"), vec![], "national bodies may");
    assert_eq!(name_findings(enterprise(), "示例博彩娱乐网"), vec![NameSensitiveWord]);
    assert_eq!(name_findings(individual(), "王五网络工作室"), vec![NameNotForPersonalSite]);
    assert_eq!(name_findings(enterprise(), "示例科技交流论坛"), vec![NameNeedsPreApproval]);
    assert_eq!(name_findings(enterprise(), "示例理财资讯网"), vec![NameNeedsPreApproval, NameNeedsPreApproval]);
    assert_eq!(name_findings(enterprise(), "示例科技官网"), vec![NameMayDrawQuestion], "a warning only");
}
