//! Resident identity card numbers (GB 11643-1999), and the residence permits of Hong Kong, Macau and Taiwan
//! residents that share the algorithm (region 81, 82, 83).

use std::fmt;

use chrono::NaiveDate;

use super::IdError;
use crate::domain::Province;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";

/// Which document an 18-character GB 11643 number belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResidentIdKind {
    /// A mainland resident identity card (居民身份证).
    Mainland,
    /// Residence permit of a Hong Kong (81) or Macau (82) resident (港澳居民居住证).
    HkMacauResidencePermit,
    /// Residence permit of a Taiwan resident (83) (台湾居民居住证).
    TaiwanResidencePermit,
}

/// A valid 18-character GB 11643 number: checksum, a real past birth date, a known region.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResidentId {
    value: String,
    kind: ResidentIdKind,
    birth_date: NaiveDate,
}

/// The check character of the first 17 digits.
pub fn check_char(first17: &[u8]) -> char {
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    CHECK[(sum % 11) as usize] as char
}

impl ResidentId {
    /// Parses a number as typed (a lower-case x is accepted), checking the birth date against `today`.
    pub fn parse(input: &str, today: NaiveDate) -> Result<Self, IdError> {
        let value = input.trim().to_ascii_uppercase();
        let bytes = value.as_bytes();
        if bytes.len() != 18 {
            return Err(IdError::Length);
        }
        if !bytes[..17].iter().all(u8::is_ascii_digit) || !(bytes[17].is_ascii_digit() || bytes[17] == b'X') {
            return Err(IdError::Charset);
        }
        if check_char(&bytes[..17]) != bytes[17] as char {
            return Err(IdError::Checksum);
        }
        let birth_date = NaiveDate::parse_from_str(&value[6..14], "%Y%m%d").map_err(|_| IdError::BirthDate)?;
        if birth_date > today || birth_date < NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date") {
            return Err(IdError::BirthDate);
        }
        let kind = match &value[..2] {
            "81" | "82" => ResidentIdKind::HkMacauResidencePermit,
            "83" => ResidentIdKind::TaiwanResidencePermit,
            prefix if Province::of_division_code(prefix).is_some() => ResidentIdKind::Mainland,
            _ => return Err(IdError::Region),
        };
        Ok(Self { value, kind, birth_date })
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }

    pub fn kind(&self) -> ResidentIdKind {
        self.kind
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// The province of issue, for mainland cards.
    pub fn province(&self) -> Option<Province> {
        match self.kind {
            ResidentIdKind::Mainland => Province::of_division_code(&self.value[..2]),
            _ => None,
        }
    }
}

impl fmt::Display for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
    }

    #[test]
    fn published_vectors() {
        // The worked example of GB 11643-1999 and widely published sample numbers.
        let id = ResidentId::parse("11010519491231002X", today()).unwrap();
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert_eq!(id.province().unwrap().icp_prefix, "京");
        assert_eq!(id.kind(), ResidentIdKind::Mainland);
        assert!(ResidentId::parse("440524188001010014", today()).is_err(), "born before 1900");
        assert!(ResidentId::parse("11010519491231002x", today()).is_ok(), "lower-case x");
        assert_eq!(ResidentId::parse("110105194912310021", today()), Err(IdError::Checksum));
        assert_eq!(ResidentId::parse("11010519491231002", today()), Err(IdError::Length));
        assert_eq!(ResidentId::parse("1101051949123100AX", today()), Err(IdError::Charset));
    }

    #[test]
    fn impossible_and_future_birth_dates_are_refused() {
        let with_date = |date: &str| {
            let first17 = format!("110105{date}002");
            format!("{first17}{}", check_char(first17.as_bytes()))
        };
        assert!(ResidentId::parse(&with_date("19900229"), today()).is_err(), "1990 was not a leap year");
        assert!(ResidentId::parse(&with_date("20000229"), today()).is_ok());
        assert!(ResidentId::parse(&with_date("20261129"), today()).is_err(), "tomorrow");
        assert!(ResidentId::parse(&with_date("19991301"), today()).is_err());
    }

    #[test]
    fn residence_permits_use_the_same_algorithm() {
        let permit = |prefix: &str| {
            let first17 = format!("{prefix}0000199001011234").chars().take(17).collect::<String>();
            format!("{first17}{}", check_char(first17.as_bytes()))
        };
        assert_eq!(ResidentId::parse(&permit("81"), today()).unwrap().kind(), ResidentIdKind::HkMacauResidencePermit);
        assert_eq!(ResidentId::parse(&permit("82"), today()).unwrap().kind(), ResidentIdKind::HkMacauResidencePermit);
        assert_eq!(ResidentId::parse(&permit("83"), today()).unwrap().kind(), ResidentIdKind::TaiwanResidencePermit);
        assert_eq!(ResidentId::parse(&permit("99"), today()), Err(IdError::Region));
        assert!(ResidentId::parse(&permit("83"), today()).unwrap().province().is_none());
    }

    fn valid_id() -> impl Strategy<Value = String> {
        let provinces: Vec<&'static str> = crate::domain::province::PROVINCES.iter().map(|p| p.code).collect();
        (prop::sample::select(provinces), 0u32..10000, 1900i32..2026, 1u32..=12, 1u32..=28, 0u32..1000).prop_map(
            |(province, area, year, month, day, seq)| {
                let first17 = format!("{province}{area:04}{year:04}{month:02}{day:02}{seq:03}");
                format!("{first17}{}", check_char(first17.as_bytes()))
            },
        )
    }

    proptest! {
        #[test]
        fn every_generated_valid_number_parses(id in valid_id()) {
            prop_assert!(ResidentId::parse(&id, today()).is_ok(), "{}", id);
        }

        #[test]
        fn every_other_check_character_is_refused(id in valid_id(), replacement in prop::sample::select(b"0123456789X".to_vec())) {
            prop_assume!(id.as_bytes()[17] != replacement);
            let corrupted = format!("{}{}", &id[..17], replacement as char);
            prop_assert_eq!(ResidentId::parse(&corrupted, today()), Err(IdError::Checksum));
        }

        #[test]
        fn every_single_digit_change_is_refused(id in valid_id(), position in 0usize..17, delta in 1u8..10) {
            let mut bytes = id.into_bytes();
            bytes[position] = b'0' + (bytes[position] - b'0' + delta) % 10;
            let corrupted = String::from_utf8(bytes).unwrap();
            prop_assert!(ResidentId::parse(&corrupted, today()).is_err(), "{}", corrupted);
        }
    }
}
