//! Materials (备案材料): the kinds of attachment a filing carries, what each may be, and recognising a file by its
//! first bytes rather than by what the client claims.

use crate::domain::enums::*;

/// Size classes, each with its own configurable limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeClass {
    Image,
    Document,
    Video,
}

const PHOTO_TYPES: &[&str] = &["image/jpeg", "image/png"];
const DOCUMENT_TYPES: &[&str] = &["application/pdf", "image/jpeg", "image/png"];
const VIDEO_TYPES: &[&str] = &["video/mp4", "video/webm", "video/quicktime"];

/// What a kind of material may be and whom it belongs to (a trait: the kinds are defined with the tables that store
/// them, in `entity::enums`).
pub trait MaterialRules: Sized {
    /// Content types a file of this kind may have.
    fn allowed_content_types(self) -> &'static [&'static str];
    fn size_class(self) -> SizeClass;
    /// Whether the material belongs to one website (the website's person, licence or domain certificate).
    fn needs_website(self) -> bool;
    /// Whether the material belongs to one pre-approval category.
    fn needs_pre_approval_category(self) -> bool;
}

impl MaterialRules for MaterialKind {
    fn allowed_content_types(self) -> &'static [&'static str] {
        match self.size_class() {
            SizeClass::Image => PHOTO_TYPES,
            SizeClass::Document => DOCUMENT_TYPES,
            SizeClass::Video => VIDEO_TYPES,
        }
    }

    fn size_class(self) -> SizeClass {
        match self {
            Self::IdCardFront | Self::IdCardBack | Self::FacePhoto => SizeClass::Image,
            Self::FaceVideo => SizeClass::Video,
            _ => SizeClass::Document,
        }
    }

    fn needs_website(self) -> bool {
        matches!(self, Self::PreApprovalLicence | Self::DomainCertificate | Self::FaceVideo | Self::FacePhoto)
    }

    fn needs_pre_approval_category(self) -> bool {
        self == Self::PreApprovalLicence
    }
}

/// The content type the first bytes of a file show, for the types materials may have.
pub fn sniff_content_type(head: &[u8]) -> Option<&'static str> {
    let kind = infer::get(head)?;
    let mime = kind.mime_type();
    [PHOTO_TYPES, DOCUMENT_TYPES, VIDEO_TYPES].iter().flat_map(|list| list.iter()).copied().find(|t| *t == mime).or(
        match mime {
            // ISO base media files with an M4V brand are MP4 video.
            "video/x-m4v" => Some("video/mp4"),
            _ => None,
        },
    )
}

/// The file extension an object of this content type is stored with.
pub fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "application/pdf" => "pdf",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "video/quicktime" => "mov",
        _ => "bin",
    }
}

/// One material the checklist asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequiredMaterial {
    pub kind: MaterialKind,
    /// The website (its index in the form) the material belongs to; none for the subject's.
    pub website: Option<usize>,
    pub pre_approval_category: Option<PreApprovalCategory>,
    /// The responsible person the material is about, for ID cards.
    pub person: Option<String>,
}

/// The materials a filing needs, from the requirements table of the reference data. Per-website materials are asked
/// for the websites in `in_scope` (one flag per website of the form): every website of a first filing, the new and
/// changed ones of an order that amends a filed record.
pub fn required_materials(
    form: &crate::domain::forms::CreateFilingInput,
    filing_type: FilingType,
    in_scope: &[bool],
    reference: &crate::domain::reference::ReferenceData,
) -> Vec<RequiredMaterial> {
    let in_scope = |i: usize| in_scope.get(i).copied().unwrap_or(false);
    use crate::domain::reference::{MaterialCondition, MaterialScope};
    let subject = &form.subject;
    let mut out = Vec::new();
    for row in &reference.materials {
        let applies = (row.subject_types.is_empty() || row.subject_types.contains(&subject.subject_type))
            && !row.not_subject_types.contains(&subject.subject_type)
            && (row.filing_types.is_empty() || row.filing_types.contains(&filing_type))
            && (row.provinces.is_empty() || row.provinces.contains(&subject.province_code))
            && !row.not_provinces.contains(&subject.province_code)
            && match row.condition {
                None => true,
                Some(MaterialCondition::ResponsiblePersonNotLegalRepresentative) => {
                    !subject.responsible_person_is_legal_representative
                }
            };
        if !applies {
            continue;
        }
        let item = |website, pre_approval_category, person: Option<&str>| RequiredMaterial {
            kind: row.kind,
            website,
            pre_approval_category,
            person: person.map(str::to_owned),
        };
        match row.per {
            MaterialScope::Subject => out.push(item(None, None, None)),
            MaterialScope::SubjectPerson => out.push(item(None, None, Some(&subject.responsible_person.name))),
            MaterialScope::WebsitePerson => {
                let mut seen = vec![subject.responsible_person.certificate_number.to_uppercase()];
                for (i, website) in form.websites.iter().enumerate().filter(|(i, _)| in_scope(*i)) {
                    let person = &website.responsible_person;
                    // A person responsible for several things shows their ID once.
                    if !seen.contains(&person.certificate_number.to_uppercase()) {
                        seen.push(person.certificate_number.to_uppercase());
                        out.push(item(Some(i), None, Some(&person.name)));
                    }
                }
            }
            MaterialScope::Website => {
                out.extend((0..form.websites.len()).filter(|&i| in_scope(i)).map(|i| item(Some(i), None, None)));
            }
            MaterialScope::PreApproval => {
                for (i, website) in form.websites.iter().enumerate().filter(|(i, _)| in_scope(*i)) {
                    out.extend(website.pre_approvals.iter().map(|a| item(Some(i), Some(a.category), None)));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_recognised_by_their_first_bytes() {
        assert_eq!(sniff_content_type(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F']), Some("image/jpeg"));
        assert_eq!(sniff_content_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(sniff_content_type(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3"), Some("application/pdf"));
        assert_eq!(sniff_content_type(b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom"), Some("video/mp4"));
        // An EBML header whose DocType is "webm" (the matcher reads the first 256 bytes).
        let mut webm = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\x82\x84webm".to_vec();
        webm.resize(300, 0);
        assert_eq!(sniff_content_type(&webm), Some("video/webm"));
        assert_eq!(sniff_content_type(b"MZ\x90\0\x03\0\0\0"), None, "a Windows executable is none of these");
        assert_eq!(sniff_content_type(b"hello, plain text"), None);
    }

    #[test]
    fn the_checklist_follows_the_table() {
        use crate::domain::forms::*;
        use crate::domain::reference::ReferenceData;
        let person = |name: &str, id: &str| PersonInput {
            name: name.into(),
            certificate_type: CertificateType::ResidentIdCard,
            certificate_number: id.into(),
            mobile: "13800138000".into(),
            emergency_phone: None,
            email: "a@example.com".into(),
        };
        let website = |person: PersonInput, approvals: Vec<PreApprovalCategory>| WebsiteInput {
            name: "示例网站".into(),
            domains: vec!["example.com".into()],
            homepage_url: "https://example.com".into(),
            service_content: vec![ServiceContent::Other],
            languages: vec![Language::SimplifiedChinese],
            pre_approvals: approvals
                .into_iter()
                .map(|category| PreApprovalInput { category, licence_number: "1".into() })
                .collect(),
            access_method: AccessMethod::Cloud,
            remark: None,
            responsible_person: person,
        };
        let subject = SubjectInput {
            subject_type: SubjectType::Enterprise,
            name: "示例公司".into(),
            certificate_type: CertificateType::BusinessLicence,
            certificate_number: "91110000802100433B".into(),
            certificate_address: None,
            province_code: "110000".into(),
            city_code: "110100".into(),
            district_code: "110105".into(),
            mailing_address: "北京市".into(),
            investor: None,
            remark: None,
            responsible_person: person("张三", "11010519491231002X"),
            responsible_person_is_legal_representative: true,
        };
        let form = CreateFilingInput {
            subject: subject.clone(),
            websites: vec![
                website(person("张三", "11010519491231002X"), vec![]),
                website(person("李四", "110105199001011232"), vec![PreApprovalCategory::News]),
            ],
        };
        let reference = ReferenceData::built_in();
        let kinds = |form: &CreateFilingInput| -> Vec<(MaterialKind, Option<usize>)> {
            required_materials(form, FilingType::FirstFiling, &vec![true; form.websites.len()], &reference)
                .into_iter()
                .map(|m| (m.kind, m.website))
                .collect()
        };
        use MaterialKind::*;
        assert_eq!(
            kinds(&form),
            vec![
                (SubjectCertificate, None),
                (IdCardFront, None),
                (IdCardBack, None),
                (IdCardFront, Some(1)), // 李四; 张三 already shows his ID for the subject
                (IdCardBack, Some(1)),
                (FaceVideo, Some(0)),
                (FaceVideo, Some(1)),
                (VerificationSheet, None),
                (CommitmentLetter, None),
                (SecurityAgreement, None),
                (PreApprovalLicence, Some(1)),
            ]
        );
        let delegated = CreateFilingInput {
            subject: SubjectInput { responsible_person_is_legal_representative: false, ..subject.clone() },
            websites: vec![],
        };
        assert!(kinds(&delegated).contains(&(LegalRepresentativeAuthorisation, None)));
        let individual = CreateFilingInput {
            subject: SubjectInput { subject_type: SubjectType::Individual, ..subject },
            websites: vec![],
        };
        assert!(!kinds(&individual).contains(&(SubjectCertificate, None)), "an individual's ID is the certificate");
        // An add-website order asks per-website materials of its new website only; a cancellation asks for the
        // application and the subject person's ID.
        let of = |t: FilingType, scope: &[bool]| -> Vec<(MaterialKind, Option<usize>)> {
            required_materials(&form, t, scope, &reference).into_iter().map(|m| (m.kind, m.website)).collect()
        };
        assert_eq!(
            of(FilingType::AddWebsite, &[false, true]),
            vec![
                (IdCardFront, None),
                (IdCardBack, None),
                (IdCardFront, Some(1)),
                (IdCardBack, Some(1)),
                (FaceVideo, Some(1)),
                (VerificationSheet, None),
                (CommitmentLetter, None),
                (SecurityAgreement, None),
                (PreApprovalLicence, Some(1)),
            ]
        );
        assert_eq!(
            of(FilingType::CancelWebsite, &[false, false]),
            vec![(IdCardFront, None), (IdCardBack, None), (CancellationApplication, None)]
        );
    }

    #[test]
    fn kinds_have_their_types() {
        assert_eq!(MaterialKind::IdCardFront.allowed_content_types(), PHOTO_TYPES);
        assert!(MaterialKind::VerificationSheet.allowed_content_types().contains(&"application/pdf"));
        assert!(MaterialKind::FaceVideo.allowed_content_types().contains(&"video/webm"));
        assert_eq!(extension("video/quicktime"), "mov");
    }
}
