//! Masking of personal data for audit trails and logs: enough to recognise a value, not enough to reuse it.

/// Keeps the first `head` and last `tail` characters and stars the rest (`110101********1234`).
pub fn mask_middle(value: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// A certificate number: the region or issuer prefix and the last four characters stay.
pub fn mask_certificate_number(value: &str) -> String {
    mask_middle(value, 3, 4)
}

/// A person's name: the first character (the family name, mostly) and a star for each other (`张*`, `欧***`).
pub fn mask_name(value: &str) -> String {
    let mut chars = value.trim().chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// A phone number: `138****5678`.
pub fn mask_phone(value: &str) -> String {
    mask_middle(value, 3, 4)
}

/// An email address: the first character of the local part and the whole domain (`a***@example.com`).
pub fn mask_email(value: &str) -> String {
    match value.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => mask_middle(value, 1, 0),
    }
}

/// How a caller sees personal data (certificate numbers, phones, emails): the one rule for every way it leaves the
/// server, whether GraphQL fields, the printable verification sheet or the mail list's recipients. Who gets which
/// is decided in one place, `Actor::disclosure`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    /// In full: the caller needs the numbers (the applicant, reviewers, the registrar's full-access backend).
    Full,
    /// Masked: enough to recognise a value, not to reuse it (administrators, read-only keys, phones, logs).
    Masked,
}

impl Disclosure {
    pub fn certificate_number(self, value: &str) -> String {
        self.show(value, mask_certificate_number)
    }

    pub fn phone(self, value: &str) -> String {
        self.show(value, mask_phone)
    }

    pub fn email(self, value: &str) -> String {
        self.show(value, mask_email)
    }

    /// `value` in full, or masked by `mask`.
    pub fn show(self, value: &str, mask: fn(&str) -> String) -> String {
        match self {
            Self::Full => value.to_owned(),
            Self::Masked => mask(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_the_recognisable_ends() {
        assert_eq!(mask_certificate_number("11010519491231002X"), "110***********002X");
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_email("alice@example.com"), "a***@example.com");
        assert_eq!(mask_middle("abc", 2, 2), "***");
        assert_eq!(mask_middle("张三丰先生", 1, 1), "张***生");
    }
}
