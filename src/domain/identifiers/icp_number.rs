//! ICP filing numbers: `京ICP备2026049608号` (subject), `...号-3` (website), `...号-3A` (app), `...号-3X`
//! (mini-program). New numbers have a 4-digit year and 6 digits; legacy numbers 6-8 digits.

use std::fmt;

use super::IdError;
use crate::domain::{FieldError, FieldErrorCode, Province};

/// What an ICP number identifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcpNumberKind {
    Subject,
    Website(u32),
    App(u32),
    MiniProgram(u32),
}

/// A parsed ICP number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcpNumber {
    province: Province,
    /// The prefix as written: `蜀`, or the legacy `川` for Sichuan.
    prefix: &'static str,
    digits: String,
    kind: IcpNumberKind,
}

/// Legacy prefixes still found on older numbers, and the province they stand for.
const LEGACY_PREFIXES: &[(&str, &str)] = &[("川", "51")];

impl IcpNumber {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let value = input.trim();
        let (prefix, rest) = value.split_once("ICP备").ok_or(IdError::Format)?;
        let (province, prefix) = crate::domain::province::PROVINCES
            .iter()
            .find(|p| p.icp_prefix == prefix)
            .map(|p| (*p, p.icp_prefix))
            .or_else(|| {
                LEGACY_PREFIXES
                    .iter()
                    .find(|(legacy, _)| *legacy == prefix)
                    .and_then(|(legacy, code)| Province::of_division_code(code).map(|p| (p, *legacy)))
            })
            .ok_or(IdError::Region)?;
        let (digits, suffix) = rest.split_once('号').ok_or(IdError::Format)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::Charset);
        }
        let valid_length = match digits.len() {
            10 => (1990..=2100).contains(&digits[..4].parse::<u32>().unwrap_or(0)),
            6..=8 => true,
            _ => false,
        };
        if !valid_length {
            return Err(IdError::Length);
        }
        let kind = match suffix {
            "" => IcpNumberKind::Subject,
            _ => {
                let serial = suffix.strip_prefix('-').ok_or(IdError::Format)?;
                let (number, kind): (&str, fn(u32) -> IcpNumberKind) = match serial.as_bytes().last() {
                    Some(b'A') => (&serial[..serial.len() - 1], IcpNumberKind::App),
                    Some(b'X') => (&serial[..serial.len() - 1], IcpNumberKind::MiniProgram),
                    _ => (serial, IcpNumberKind::Website),
                };
                if number.is_empty() || number.len() > 4 || !number.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(IdError::Format);
                }
                let n: u32 = number.parse().map_err(|_| IdError::Format)?;
                if n == 0 {
                    return Err(IdError::Format);
                }
                kind(n)
            }
        };
        Ok(Self { province, prefix, digits: digits.to_owned(), kind })
    }

    /// A new subject number.
    pub fn subject(province: Province, year: u32, serial: u32) -> Self {
        Self {
            province,
            prefix: province.icp_prefix,
            digits: format!("{year:04}{serial:06}"),
            kind: IcpNumberKind::Subject,
        }
    }

    /// The number of a website (app, mini-program) of this subject number.
    pub fn with_kind(&self, kind: IcpNumberKind) -> Self {
        Self { kind, ..self.clone() }
    }

    pub fn province(&self) -> Province {
        self.province
    }

    pub fn kind(&self) -> IcpNumberKind {
        self.kind
    }

    /// Whether the number uses a prefix that is no longer issued (e.g. 川 for Sichuan).
    pub fn has_legacy_prefix(&self) -> bool {
        self.prefix != self.province.icp_prefix
    }

    /// The subject number this number belongs to.
    pub fn subject_number(&self) -> Self {
        self.with_kind(IcpNumberKind::Subject)
    }
}

impl fmt::Display for IcpNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ICP备{}号", self.prefix, self.digits)?;
        match self.kind {
            IcpNumberKind::Subject => Ok(()),
            IcpNumberKind::Website(n) => write!(f, "-{n}"),
            IcpNumberKind::App(n) => write!(f, "-{n}A"),
            IcpNumberKind::MiniProgram(n) => write!(f, "-{n}X"),
        }
    }
}

/// A subject ICP number (no website serial) in the province of `province_code`; the error names `field`.
pub fn subject_number(number: &str, province_code: &str, field: &str) -> Result<IcpNumber, Box<FieldError>> {
    let error = |code| Box::new(FieldError::new(field, code));
    match IcpNumber::parse(number) {
        Ok(n) if n.kind() != IcpNumberKind::Subject => {
            Err(Box::new(FieldError::new(field, FieldErrorCode::InvalidFormat).with_message(
                "The subject number has no website suffix (京ICP备2026000001号).",
                "主体备案号不带网站序号（如 京ICP备2026000001号）。",
            )))
        }
        Ok(n) if Some(n.province()) != Province::of_division_code(province_code) => {
            Err(error(FieldErrorCode::ProvinceMismatch))
        }
        Ok(n) => Ok(n),
        Err(e) => Err(Box::new(
            FieldError::new(field, FieldErrorCode::InvalidFormat)
                .with_message(format!("Not an ICP number: {e}."), format!("备案号格式不正确：{}。", e.message_zh())),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_every_kind() {
        for text in [
            "沪ICP备2026049608号",
            "京ICP备05002571号",
            "粤ICP备2023001234号-3",
            "浙ICP备2024000001号-1A",
            "黔ICP备2022000123号-2X",
            "滇ICP备123456号",
            "陇ICP备2021000001号-12",
            "蜀ICP备2025000001号",
        ] {
            assert_eq!(IcpNumber::parse(text).unwrap().to_string(), text, "{text}");
        }
        let n = IcpNumber::parse("粤ICP备2023001234号-3").unwrap();
        assert_eq!(n.kind(), IcpNumberKind::Website(3));
        assert_eq!(n.province().code, "44");
        assert_eq!(n.subject_number().to_string(), "粤ICP备2023001234号");
        assert_eq!(IcpNumber::parse("浙ICP备2024000001号-1A").unwrap().kind(), IcpNumberKind::App(1));
        assert_eq!(IcpNumber::parse("黔ICP备2022000123号-2X").unwrap().kind(), IcpNumberKind::MiniProgram(2));
    }

    #[test]
    fn sichuan_keeps_its_legacy_prefix() {
        let legacy = IcpNumber::parse("川ICP备05012345号-1").unwrap();
        assert_eq!(legacy.province().icp_prefix, "蜀");
        assert!(legacy.has_legacy_prefix());
        assert_eq!(legacy.to_string(), "川ICP备05012345号-1", "legacy numbers are kept as issued");
        assert!(!IcpNumber::parse("蜀ICP备2025000001号").unwrap().has_legacy_prefix());
    }

    #[test]
    fn refuses_malformed_numbers() {
        assert_eq!(IcpNumber::parse("港ICP备2026049608号"), Err(IdError::Region));
        assert_eq!(IcpNumber::parse("沪ICP备12345号"), Err(IdError::Length));
        assert_eq!(IcpNumber::parse("沪ICP备1800049608号"), Err(IdError::Length), "not a year");
        assert_eq!(IcpNumber::parse("沪ICP备2026049608"), Err(IdError::Format));
        assert_eq!(IcpNumber::parse("沪ICP备2026049608号-0"), Err(IdError::Format));
        assert_eq!(IcpNumber::parse("沪ICP备2026049608号3"), Err(IdError::Format));
        assert_eq!(IcpNumber::parse("沪ICP证2026049608号"), Err(IdError::Format));
    }

    #[test]
    fn new_numbers_are_formatted_from_their_parts() {
        let sichuan = Province::of_division_code("510000").unwrap();
        let subject = IcpNumber::subject(sichuan, 2026, 49608);
        assert_eq!(subject.to_string(), "蜀ICP备2026049608号");
        assert_eq!(subject.with_kind(IcpNumberKind::Website(2)).to_string(), "蜀ICP备2026049608号-2");
    }
}
