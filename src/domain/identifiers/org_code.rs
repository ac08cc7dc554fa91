//! Organisation codes (组织机构代码, GB 11714): 8 characters and a check character, often written `XXXXXXXX-X`.

use std::fmt;

use super::IdError;

const WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// A valid organisation code, stored without the hyphen.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OrgCode(String);

fn value_of(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        _ => None,
    }
}

/// The check character of the first 8 characters.
pub fn check_char(first8: &[u8]) -> char {
    let sum: u32 = first8.iter().zip(WEIGHTS).map(|(&c, w)| value_of(c).unwrap_or(0) * w).sum();
    match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        n => char::from(b'0' + n as u8),
    }
}

impl OrgCode {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let value: String = input.trim().to_ascii_uppercase().chars().filter(|&c| c != '-').collect();
        let bytes = value.as_bytes();
        if bytes.len() != 9 {
            return Err(IdError::Length);
        }
        if !bytes[..8].iter().all(|&c| value_of(c).is_some()) || !(bytes[8].is_ascii_digit() || bytes[8] == b'X') {
            return Err(IdError::Charset);
        }
        if check_char(&bytes[..8]) != bytes[8] as char {
            return Err(IdError::Checksum);
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", &self.0[..8], &self.0[8..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors() {
        // The organisation code inside the USCC 91110000802100433B is 80210043-3.
        assert_eq!(OrgCode::parse("80210043-3").unwrap().to_string(), "80210043-3");
        assert!(OrgCode::parse("802100433").is_ok());
        assert_eq!(OrgCode::parse("80210043-4"), Err(IdError::Checksum));
        assert_eq!(OrgCode::parse("8021004-3"), Err(IdError::Length));
        assert_eq!(check_char(b"D2143569"), 'X');
    }
}
