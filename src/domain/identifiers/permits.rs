//! Travel permits, passports and foreign permanent resident ID cards: format rules.

use std::fmt;

use super::IdError;

macro_rules! document {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

document! {
    /// 港澳居民来往内地通行证: H or M, then 8 digits (10 on newer cards).
    HkMacauTravelPermit
}

document! {
    /// 台湾居民来往大陆通行证: 8 digits (10 on older cards).
    TaiwanTravelPermit
}

document! {
    /// A passport number: 1-25 letters and digits.
    Passport
}

document! {
    /// 外国人永久居留身份证: the 2004 card (3 letters, 12 digits) or the 2023 card (18 characters starting with 9,
    /// GB 11643 check character).
    ForeignPermanentResidentId
}

fn normalized(input: &str) -> String {
    input.trim().to_ascii_uppercase()
}

impl HkMacauTravelPermit {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let value = normalized(input);
        let bytes = value.as_bytes();
        if !matches!(bytes.len(), 9 | 11) {
            return Err(IdError::Length);
        }
        if !matches!(bytes[0], b'H' | b'M') || !bytes[1..].iter().all(u8::is_ascii_digit) {
            return Err(IdError::Format);
        }
        Ok(Self(value))
    }
}

impl TaiwanTravelPermit {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let value = normalized(input);
        if !matches!(value.len(), 8 | 10) {
            return Err(IdError::Length);
        }
        if !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::Charset);
        }
        Ok(Self(value))
    }
}

impl Passport {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let value = normalized(input);
        if value.is_empty() || value.len() > 25 {
            return Err(IdError::Length);
        }
        if !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IdError::Charset);
        }
        Ok(Self(value))
    }
}

impl ForeignPermanentResidentId {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let value = normalized(input);
        let bytes = value.as_bytes();
        match bytes.len() {
            15 => {
                let ok = bytes[..3].iter().all(u8::is_ascii_uppercase) && bytes[3..].iter().all(u8::is_ascii_digit);
                if !ok {
                    return Err(IdError::Format);
                }
            }
            18 => {
                if bytes[0] != b'9' || !bytes[..17].iter().all(u8::is_ascii_digit) {
                    return Err(IdError::Format);
                }
                if super::resident_id::check_char(&bytes[..17]) != bytes[17] as char {
                    return Err(IdError::Checksum);
                }
            }
            _ => return Err(IdError::Length),
        }
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn travel_permits() {
        assert!(HkMacauTravelPermit::parse("H12345678").is_ok());
        assert!(HkMacauTravelPermit::parse("m1234567890").is_ok());
        assert_eq!(HkMacauTravelPermit::parse("K12345678"), Err(IdError::Format));
        assert_eq!(HkMacauTravelPermit::parse("H1234567"), Err(IdError::Length));
        assert!(TaiwanTravelPermit::parse("12345678").is_ok());
        assert!(TaiwanTravelPermit::parse("1234567890").is_ok());
        assert_eq!(TaiwanTravelPermit::parse("123456789"), Err(IdError::Length));
        assert_eq!(TaiwanTravelPermit::parse("1234567A"), Err(IdError::Charset));
    }

    #[test]
    fn passports_and_permanent_residence_cards() {
        assert!(Passport::parse("E12345678").is_ok());
        assert_eq!(Passport::parse(""), Err(IdError::Length));
        assert_eq!(Passport::parse(&"A".repeat(26)), Err(IdError::Length));
        assert_eq!(Passport::parse("E1234-567"), Err(IdError::Charset));
        assert!(ForeignPermanentResidentId::parse("USA110012345678").is_ok());
        let first17 = "93311019900101123";
        let valid = format!("{first17}{}", super::super::resident_id::check_char(first17.as_bytes()));
        assert!(ForeignPermanentResidentId::parse(&valid).is_ok());
        let wrong = format!("{first17}{}", if valid.ends_with('0') { '1' } else { '0' });
        assert_eq!(ForeignPermanentResidentId::parse(&wrong), Err(IdError::Checksum));
        assert_eq!(ForeignPermanentResidentId::parse("US1100123456789"), Err(IdError::Format));
    }
}
