//! Unified Social Credit Codes (统一社会信用代码, GB 32100-2015).

use std::fmt;

use super::IdError;
use crate::domain::Province;

const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// The registration authorities (登记管理部门) and the organisation categories each registers (GB 32100 table).
const CATEGORIES: &[(u8, &[u8])] = &[
    (b'1', b"1239"),   // 机构编制: 机关, 事业单位, 中央编办直接管理的群众团体, 其他
    (b'2', b"19"),     // 外交
    (b'3', b"123459"), // 司法行政: 律师执业机构, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会, 其他
    (b'4', b"19"),     // 文化
    (b'5', b"1239"),   // 民政: 社会团体, 民办非企业单位, 基金会, 其他
    (b'6', b"129"),    // 旅游
    (b'7', b"129"),    // 宗教
    (b'8', b"19"),     // 工会
    (b'9', b"123"),    // 工商: 企业, 个体工商户, 农民专业合作社
    (b'A', b"19"),     // 中央军委改革和编制办公室
    (b'N', b"1239"),   // 农业
    (b'Y', b"1"),      // 其他
];

/// A valid 18-character Unified Social Credit Code.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Uscc(String);

fn value_of(c: u8) -> Option<u32> {
    CHARSET.iter().position(|&x| x == c).map(|i| i as u32)
}

/// The check character of the first 17 characters (all from the charset).
pub fn check_char(first17: &[u8]) -> char {
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(&c, w)| value_of(c).unwrap_or(0) * w).sum();
    CHARSET[((31 - sum % 31) % 31) as usize] as char
}

impl Uscc {
    /// Parses a code as typed (lower case is accepted).
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let value = input.trim().to_ascii_uppercase();
        let bytes = value.as_bytes();
        if bytes.len() != 18 {
            return Err(IdError::Length);
        }
        if !bytes.iter().all(|&c| value_of(c).is_some()) {
            return Err(IdError::Charset);
        }
        if check_char(&bytes[..17]) != bytes[17] as char {
            return Err(IdError::Checksum);
        }
        let allowed = CATEGORIES.iter().find(|(authority, _)| *authority == bytes[0]).map(|(_, c)| *c);
        if !allowed.is_some_and(|categories| categories.contains(&bytes[1])) {
            return Err(IdError::Category);
        }
        if !bytes[2..8].iter().all(u8::is_ascii_digit) {
            return Err(IdError::Region);
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Registration authority and category, e.g. `91` for an enterprise registered with market regulation.
    pub fn category(&self) -> &str {
        &self.0[..2]
    }

    /// The province of the registering authority, from the region code (characters 3-8); none for central bodies
    /// (region `10xxxx`) and unknown regions.
    pub fn province(&self) -> Option<Province> {
        Province::of_division_code(&self.0[2..4])
    }
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_vectors() {
        // Codes printed on public business licences.
        for code in ["91350100M000100Y43", "91110000802100433B", "91440300708461136T", "12100000400000624D"] {
            assert!(Uscc::parse(code).is_ok(), "{code}");
        }
        assert_eq!(Uscc::parse("91110000802100433B").unwrap().province().unwrap().icp_prefix, "京");
        assert_eq!(Uscc::parse("91440300708461136T").unwrap().category(), "91");
        assert!(Uscc::parse("12100000400000624D").unwrap().province().is_none(), "a central institution");
        assert_eq!(Uscc::parse("91350100M000100Y44"), Err(IdError::Checksum));
        assert_eq!(Uscc::parse("91350100M000100Y4"), Err(IdError::Length));
        assert_eq!(Uscc::parse("91350100I000100Y43"), Err(IdError::Charset), "I is not in the charset");
        assert_eq!(Uscc::parse("913501OOM000100Y43"), Err(IdError::Charset), "O is not in the charset");
    }

    #[test]
    fn registration_authority_and_category_must_exist() {
        let with_prefix = |prefix: &str| {
            let first17 = format!("{prefix}110000MA01ABCD1");
            format!("{first17}{}", check_char(first17.as_bytes()))
        };
        assert!(Uscc::parse(&with_prefix("91")).is_ok());
        assert!(Uscc::parse(&with_prefix("92")).is_ok());
        assert!(Uscc::parse(&with_prefix("52")).is_ok());
        assert_eq!(Uscc::parse(&with_prefix("94")), Err(IdError::Category));
        assert_eq!(Uscc::parse(&with_prefix("B1")), Err(IdError::Category));
        assert_eq!(Uscc::parse(&with_prefix("Y2")), Err(IdError::Category));
    }

    fn valid_code() -> impl Strategy<Value = String> {
        let prefixes: Vec<String> = CATEGORIES
            .iter()
            .flat_map(|(a, cats)| cats.iter().map(move |c| format!("{}{}", *a as char, *c as char)))
            .collect();
        let org = prop::collection::vec(prop::sample::select(CHARSET.to_vec()), 9);
        (prop::sample::select(prefixes), 100000u32..660000, org).prop_map(|(prefix, region, org)| {
            let first17 = format!("{prefix}{region:06}{}", String::from_utf8(org).unwrap());
            format!("{first17}{}", check_char(first17.as_bytes()))
        })
    }

    proptest! {
        #[test]
        fn every_generated_valid_code_parses(code in valid_code()) {
            prop_assert!(Uscc::parse(&code).is_ok(), "{}", code);
        }

        #[test]
        fn every_other_check_character_is_refused(code in valid_code(), replacement in prop::sample::select(CHARSET.to_vec())) {
            prop_assume!(code.as_bytes()[17] != replacement);
            let corrupted = format!("{}{}", &code[..17], replacement as char);
            prop_assert_eq!(Uscc::parse(&corrupted), Err(IdError::Checksum));
        }
    }
}
