//! The subject (主体) of a filing, its responsible persons, and provinces. Personal data is masked for callers
//! without READ_PERSONAL_DATA.

use async_graphql::{Context, Object, SimpleObject};

use crate::domain;
use crate::domain::masking;
use crate::graphql::context::personal;
use crate::graphql::enums;
use crate::services::models;

/// A province-level division and the ICP-number prefix of its bureau (管局).
#[derive(SimpleObject)]
pub struct Province {
    /// Six-digit GB/T 2260 code, e.g. `110000`.
    pub code: String,
    /// Chinese name, e.g. 北京市.
    pub name: String,
    /// English name, e.g. Beijing.
    pub name_en: String,
    /// Prefix of the ICP numbers this province issues, e.g. 京 (蜀 for Sichuan, 黔 for Guizhou).
    pub icp_prefix: String,
}

impl From<domain::Province> for Province {
    fn from(p: domain::Province) -> Self {
        Self {
            code: p.division_code(),
            name: p.name_zh.to_owned(),
            name_en: p.name_en.to_owned(),
            icp_prefix: p.icp_prefix.to_owned(),
        }
    }
}

pub struct Subject(pub std::sync::Arc<models::Subject>);

/// The subject (主体) of a filing: the person or organisation that runs the websites.
#[Object(serial)]
impl Subject {
    /// Subject type (单位性质).
    async fn subject_type(&self) -> enums::SubjectType {
        self.0.subject_type.into()
    }

    /// Name of the organisation, or of the person (主办单位名称).
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Type of the subject's certificate.
    async fn certificate_type(&self) -> enums::CertificateType {
        self.0.certificate_type.into()
    }

    /// Number of the subject's certificate (for organisations usually the Unified Social Credit Code); masked
    /// without the READ_PERSONAL_DATA permission.
    async fn certificate_number(&self, ctx: &Context<'_>) -> String {
        personal(ctx, &self.0.certificate_number, masking::mask_certificate_number)
    }

    /// Address on the certificate (证件住所).
    async fn certificate_address(&self) -> Option<&str> {
        self.0.certificate_address.as_deref()
    }

    /// The province whose bureau reviews the filing (the subject's domicile).
    async fn province(&self) -> Option<Province> {
        domain::Province::of_division_code(&self.0.province_code).map(Province::from)
    }

    /// Six-digit division code of the province.
    async fn province_code(&self) -> &str {
        &self.0.province_code
    }

    /// Six-digit division code of the city.
    async fn city_code(&self) -> &str {
        &self.0.city_code
    }

    /// Six-digit division code of the district or county.
    async fn district_code(&self) -> &str {
        &self.0.district_code
    }

    /// Mailing address (通信地址), within the district.
    async fn mailing_address(&self) -> &str {
        &self.0.mailing_address
    }

    /// Investor or supervising unit (投资者或上级主管单位).
    async fn investor(&self) -> Option<&str> {
        self.0.investor.as_deref()
    }

    /// Remarks on the subject.
    async fn remark(&self) -> Option<&str> {
        self.0.remark.as_deref()
    }

    /// Whether the responsible person is the organisation's legal representative.
    async fn responsible_person_is_legal_representative(&self) -> bool {
        self.0.responsible_person_is_legal_representative
    }

    /// The subject's responsible person (主体负责人); for organisations normally the legal representative.
    async fn responsible_person(&self) -> ResponsiblePerson {
        ResponsiblePerson(self.0.responsible_person.clone())
    }
}

pub struct ResponsiblePerson(pub models::ResponsiblePerson);

/// A responsible person (负责人) of a subject or a website.
#[Object(serial)]
impl ResponsiblePerson {
    /// Full name as on the certificate.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Type of the person's certificate.
    async fn certificate_type(&self) -> enums::CertificateType {
        self.0.certificate_type.into()
    }

    /// Number of the person's certificate; masked without the READ_PERSONAL_DATA permission.
    async fn certificate_number(&self, ctx: &Context<'_>) -> String {
        personal(ctx, &self.0.certificate_number, masking::mask_certificate_number)
    }

    /// Mainland mobile number; MIIT texts the verification code to it. Masked without READ_PERSONAL_DATA.
    async fn mobile(&self, ctx: &Context<'_>) -> String {
        personal(ctx, &self.0.mobile, masking::mask_phone)
    }

    /// Emergency phone (mobile or landline); masked without READ_PERSONAL_DATA.
    async fn emergency_phone(&self, ctx: &Context<'_>) -> Option<String> {
        self.0.emergency_phone.as_deref().map(|phone| personal(ctx, phone, masking::mask_phone))
    }

    /// Email address; masked without READ_PERSONAL_DATA.
    async fn email(&self, ctx: &Context<'_>) -> String {
        personal(ctx, &self.0.email, masking::mask_email)
    }
}
