//! Mainland mobile numbers and landlines.

use std::fmt;

use super::IdError;

/// A mainland mobile number, 11 digits starting 13-19; `+86`, spaces and hyphens are dropped.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mobile(String);

/// A landline: area code (0 and 2-3 digits), a hyphen, and 7-8 digits, e.g. `010-12345678`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Landline(String);

/// An emergency phone: a mobile or a landline.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EmergencyPhone {
    Mobile(Mobile),
    Landline(Landline),
}

fn digits_only(input: &str) -> Result<String, IdError> {
    let mut out = String::new();
    for c in input.trim().chars() {
        match c {
            '0'..='9' => out.push(c),
            ' ' | '-' => {}
            _ => return Err(IdError::Charset),
        }
    }
    Ok(out)
}

impl Mobile {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let trimmed = input.trim();
        let rest = trimmed.strip_prefix("+86").or_else(|| trimmed.strip_prefix("0086")).unwrap_or(trimmed);
        let digits = digits_only(rest)?;
        let bytes = digits.as_bytes();
        if bytes.len() != 11 {
            return Err(IdError::Length);
        }
        if bytes[0] != b'1' || !(b'3'..=b'9').contains(&bytes[1]) {
            return Err(IdError::Format);
        }
        Ok(Self(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Landline {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let trimmed = input.trim();
        if !trimmed.starts_with('0') {
            return Err(IdError::Format);
        }
        let (area, number) = match trimmed.split_once('-') {
            Some((area, number)) => (digits_only(area)?, digits_only(number)?),
            None => {
                let digits = digits_only(trimmed)?;
                // Without a hyphen, three-digit area codes are those of 01x and 02x.
                let area_len = if digits.starts_with("01") || digits.starts_with("02") { 3 } else { 4 };
                if digits.len() <= area_len {
                    return Err(IdError::Length);
                }
                (digits[..area_len].to_owned(), digits[area_len..].to_owned())
            }
        };
        if !(3..=4).contains(&area.len()) || !(7..=8).contains(&number.len()) {
            return Err(IdError::Length);
        }
        Ok(Self(format!("{area}-{number}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl EmergencyPhone {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        Mobile::parse(input).map(Self::Mobile).or_else(|_| Landline::parse(input).map(Self::Landline))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Mobile(m) => m.as_str(),
            Self::Landline(l) => l.as_str(),
        }
    }
}

impl fmt::Display for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobiles() {
        assert_eq!(Mobile::parse("13800138000").unwrap().as_str(), "13800138000");
        assert_eq!(Mobile::parse("+86 138-0013-8000").unwrap().as_str(), "13800138000");
        assert_eq!(Mobile::parse("19912345678").unwrap().as_str(), "19912345678");
        assert_eq!(Mobile::parse("12800138000"), Err(IdError::Format));
        assert_eq!(Mobile::parse("1380013800"), Err(IdError::Length));
        assert_eq!(Mobile::parse("1380013800a"), Err(IdError::Charset));
    }

    #[test]
    fn landlines_and_emergency_phones() {
        assert_eq!(Landline::parse("010-12345678").unwrap().as_str(), "010-12345678");
        assert_eq!(Landline::parse("0755-1234567").unwrap().as_str(), "0755-1234567");
        assert_eq!(Landline::parse("01012345678").unwrap().as_str(), "010-12345678");
        assert_eq!(Landline::parse("075512345678").unwrap().as_str(), "0755-12345678");
        assert!(Landline::parse("12345678").is_err());
        assert!(Landline::parse("010-123456").is_err());
        assert!(matches!(EmergencyPhone::parse("13900139000"), Ok(EmergencyPhone::Mobile(_))));
        assert!(matches!(EmergencyPhone::parse("021-87654321"), Ok(EmergencyPhone::Landline(_))));
        assert!(EmergencyPhone::parse("110").is_err());
    }
}
