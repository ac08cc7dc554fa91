//! Basic domain-name well-formedness: IDN to punycode, label and length rules, not an IP address.
//!
//! The ICP-specific rules (approved TLD list, registrable domain) build on this.

/// Normalises a domain name as typed (`Example.COM`, `例子.中国`, `example.com.`) to its lower-case ASCII form, or
/// says why it is not one.
pub fn normalize_domain(input: &str) -> Result<String, &'static str> {
    let trimmed = input.trim().trim_end_matches('.');
    if trimmed.is_empty() {
        return Err("empty");
    }
    if trimmed.contains(['/', ':', '@', '?', '#', ' ']) {
        return Err("a domain has no scheme, port, path or spaces");
    }
    let ascii = match url::Host::parse(trimmed) {
        Ok(url::Host::Domain(domain)) => domain,
        Ok(_) => return Err("an IP address is not a domain"),
        Err(_) => return Err("not a valid domain name"),
    };
    if ascii.len() > 253 {
        return Err("longer than 253 characters");
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err("a domain has at least two labels");
    }
    for label in &labels {
        let valid = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err("each label is 1-63 letters, digits or inner hyphens");
        }
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err("the top-level domain cannot be numeric");
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::normalize_domain;

    #[test]
    fn accepts_and_normalises_domains() {
        assert_eq!(normalize_domain("Example.COM").unwrap(), "example.com");
        assert_eq!(normalize_domain("example.com.").unwrap(), "example.com");
        assert_eq!(normalize_domain("例子.中国").unwrap(), "xn--fsqu00a.xn--fiqs8s");
        assert_eq!(normalize_domain("a-b.example.cn").unwrap(), "a-b.example.cn");
    }

    #[test]
    fn refuses_what_is_not_a_domain() {
        for bad in [
            "",
            "localhost",
            "1.2.3.4",
            "[::1]",
            "http://example.com",
            "example.com/path",
            "-a.com",
            "a-.com",
            "a..com",
            "exa mple.com",
            "a.123",
        ] {
            assert!(normalize_domain(bad).is_err(), "{bad} should be refused");
        }
        assert!(normalize_domain(&format!("{}.com", "a".repeat(64))).is_err());
    }
}
