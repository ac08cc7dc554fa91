//! The subject: certificate type and number for the subject type, domicile province, addresses.

use super::{Context, province_short_name};
use crate::domain::forms::SubjectInput;
use crate::domain::identifiers::{
    ForeignPermanentResidentId, HkMacauTravelPermit, IdError, OrgCode, Passport, ResidentId, ResidentIdKind,
    TaiwanTravelPermit, Uscc,
};
use crate::domain::{CertificateType, FieldError, FieldErrorCode, Province, SubjectType};

/// What a certificate number tells beyond being valid.
#[derive(Debug, Default)]
pub(super) struct Certificate {
    /// The province that issued it, where the number says.
    pub province: Option<Province>,
    /// For USCCs: registration authority and category (`91`).
    pub uscc_category: Option<String>,
}

/// Why a certificate number was refused.
pub(super) struct CertificateError(IdError, CertificateType);

impl CertificateError {
    pub fn at(&self, field: String) -> FieldError {
        let CertificateError(error, kind) = self;
        FieldError::new(field, FieldErrorCode::InvalidCertificateNumber)
            .with_message(
                format!("Not a valid {} number: {error}.", kind.as_str().to_lowercase().replace('_', " ")),
                format!("{}号码无效：{}。", kind.label_zh(), error.message_zh()),
            )
            .suggest("Copy the number exactly as printed on the certificate.", "请按证件上的号码逐位填写。")
    }
}

/// Parses a certificate number by its type.
pub(super) fn parse_certificate(
    kind: CertificateType,
    number: &str,
    context: &Context<'_>,
) -> Result<Certificate, CertificateError> {
    let fail = |e: IdError| CertificateError(e, kind);
    let resident = |expected: ResidentIdKind| {
        let id = ResidentId::parse(number, context.today).map_err(fail)?;
        if id.kind() != expected {
            return Err(fail(IdError::Region));
        }
        Ok(Certificate { province: id.province(), uscc_category: None })
    };
    match kind {
        CertificateType::ResidentIdCard => resident(ResidentIdKind::Mainland),
        CertificateType::HkMacauResidencePermit => resident(ResidentIdKind::HkMacauResidencePermit),
        CertificateType::TaiwanResidencePermit => resident(ResidentIdKind::TaiwanResidencePermit),
        CertificateType::Passport => Passport::parse(number).map(|_| Certificate::default()).map_err(fail),
        CertificateType::HkMacauTravelPermit => {
            HkMacauTravelPermit::parse(number).map(|_| Certificate::default()).map_err(fail)
        }
        CertificateType::TaiwanTravelPermit => {
            TaiwanTravelPermit::parse(number).map(|_| Certificate::default()).map_err(fail)
        }
        CertificateType::ForeignPermanentResidentId => {
            ForeignPermanentResidentId::parse(number).map(|_| Certificate::default()).map_err(fail)
        }
        CertificateType::OrganisationCodeCertificate => {
            OrgCode::parse(number).map(|_| Certificate::default()).map_err(fail)
        }
        CertificateType::BusinessLicence
        | CertificateType::UsccCertificate
        | CertificateType::PublicInstitutionLegalPersonCertificate
        | CertificateType::SocialOrganisationRegistration
        | CertificateType::PrivateNonEnterpriseRegistration
        | CertificateType::FoundationRegistration
        | CertificateType::LawFirmPracticeLicence => {
            let code = Uscc::parse(number).map_err(fail)?;
            Ok(Certificate { province: code.province(), uscc_category: Some(code.category().to_owned()) })
        }
        CertificateType::ForeignEnterpriseRepresentativeOffice | CertificateType::OtherOrganisationCertificate => {
            Ok(Certificate::default())
        }
    }
}

pub(super) fn check(subject: &SubjectInput, path: &str, context: &Context<'_>, out: &mut Vec<FieldError>) {
    let field = |name: &str| format!("{path}.{name}");
    let rules = context.reference.subject_type(subject.subject_type);
    let province = Province::of_division_code(&subject.province_code).filter(|_| subject.province_code.len() == 6);

    if !rules.certificate_types.contains(&subject.certificate_type) {
        let allowed: Vec<&str> = rules.certificate_types.iter().map(|c| c.label_zh()).collect();
        out.push(
            FieldError::new(field("certificateType"), FieldErrorCode::CertificateTypeNotAllowed)
                .with_message(
                    format!("A subject of type {} cannot file with this certificate.", subject.subject_type.as_str()),
                    format!("“{}”主体不能使用该证件类型。", subject.subject_type.label_zh()),
                )
                .suggest(
                    format!(
                        "Choose one of: {}.",
                        rules.certificate_types.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                    format!("可选证件类型：{}。", allowed.join("、")),
                ),
        );
    } else if !subject.certificate_number.is_empty() {
        match parse_certificate(subject.certificate_type, &subject.certificate_number, context) {
            Err(e) => out.push(e.at(field("certificateNumber"))),
            Ok(certificate) => {
                if let (Some(issued), Some(chosen)) = (certificate.province, province)
                    && issued.code != chosen.code
                {
                    out.push(FieldError::new(field("provinceCode"), FieldErrorCode::ProvinceMismatch).suggest(
                        format!(
                            "The certificate was issued in {}: file there ({}).",
                            issued.name_en,
                            issued.division_code()
                        ),
                        format!("证件签发地为{}，请选择该省份（{}）备案。", issued.name_zh, issued.division_code()),
                    ));
                }
                if let Some(category) = &certificate.uscc_category
                    && !rules.uscc_categories.is_empty()
                    && !rules.uscc_categories.contains(category)
                {
                    out.push(FieldError::new(field("certificateNumber"), FieldErrorCode::SubjectTypeMismatch).suggest(
                        format!(
                            "Credit codes starting {category} belong to another subject type: check the subject type."
                        ),
                        format!("以 {category} 开头的信用代码属于其他主体性质，请核对主体性质。"),
                    ));
                }
            }
        }
    }

    if let Some(province) = province {
        let short = province_short_name(province.name_zh);
        for (name, address) in [
            ("mailingAddress", Some(&subject.mailing_address)),
            ("certificateAddress", subject.certificate_address.as_ref()),
        ] {
            if let Some(address) = address.filter(|a| !a.is_empty())
                && !address.contains(short)
            {
                out.push(FieldError::new(field(name), FieldErrorCode::AddressOutsideRegion).suggest(
                    format!("Write the full address, starting with the province ({}).", province.name_zh),
                    format!("请填写完整地址，以省份（{}）开头。", province.name_zh),
                ));
            }
        }
    }

    if subject.subject_type == SubjectType::Individual {
        let person = &subject.responsible_person;
        let same = person.name == subject.name
            && person.certificate_type == subject.certificate_type
            && person.certificate_number.eq_ignore_ascii_case(&subject.certificate_number);
        if !same {
            out.push(FieldError::new(field("responsiblePerson"), FieldErrorCode::PersonMismatch));
        }
    }
    super::people::check(&subject.responsible_person, &field("responsiblePerson"), context, out);
}
