//! The enumerations of the ICP filing forms (see the domain reference). Each is stored and exchanged by its stable
//! SCREAMING_SNAKE_CASE name; MIIT's numeric form codes are mapped only at the edges that need them. They are
//! defined in the entity crate (`entity::enums`), as the sea-orm active enums the tables' columns are typed with,
//! with the few rules that belong to a value itself (which statuses are editable, which certificates are personal);
//! the domain uses them from here.

pub use entity::enums::{
    AccessMethod, CertificateType, FilingStatus, FilingType, Language, MaterialKind, PreApprovalCategory,
    ServiceContent, SubjectType, WebsiteOperation,
};

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn every_value_round_trips_through_its_stored_name() {
        for value in ServiceContent::iter() {
            assert_eq!(value.as_str().parse::<ServiceContent>().unwrap(), value);
        }
        for value in CertificateType::iter() {
            assert_eq!(value.as_str().parse::<CertificateType>().unwrap(), value);
        }
        assert_eq!(FilingStatus::PendingReview.as_str(), "PENDING_REVIEW");
        assert_eq!(SubjectType::PrivateNonEnterprise.as_str(), "PRIVATE_NON_ENTERPRISE");
        assert_eq!(ServiceContent::P2pLending.as_str(), "P2P_LENDING");
        assert!("draft".parse::<FilingStatus>().is_err());
    }

    #[test]
    fn miit_codes_match_the_form() {
        assert_eq!(SubjectType::Enterprise.miit_code(), 4);
        assert_eq!(SubjectType::Individual.miit_code(), 5);
        assert_eq!(SubjectType::PrivateNonEnterprise.miit_code(), 9);
        assert_eq!(SubjectType::Arbitration.miit_code(), 20);
        let mut codes: Vec<u8> = SubjectType::iter().map(SubjectType::miit_code).collect();
        codes.dedup();
        assert_eq!(codes.len(), SubjectType::iter().count(), "codes are distinct and ascending");
    }

    #[test]
    fn only_drafts_and_returned_filings_are_editable() {
        let editable: Vec<FilingStatus> = FilingStatus::iter().filter(|s| s.is_editable()).collect();
        assert_eq!(editable, vec![FilingStatus::Draft, FilingStatus::Returned]);
    }

    #[test]
    fn personal_certificates_are_told_apart_from_organisational_ones() {
        assert!(CertificateType::ResidentIdCard.is_personal());
        assert!(CertificateType::TaiwanResidencePermit.is_personal());
        assert!(!CertificateType::BusinessLicence.is_personal());
        assert!(!CertificateType::UsccCertificate.is_personal());
    }
}
