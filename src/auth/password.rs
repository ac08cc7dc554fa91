//! Password hashing with argon2id.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Shortest and longest password accepted.
pub const MIN_LENGTH: usize = 10;
pub const MAX_LENGTH: usize = 256;

/// Hashes a password into a PHC string with a fresh random salt.
pub fn hash(password: &str) -> Result<String, anyhow::Error> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password failed: {e}"))
}

/// Whether `password` matches the stored PHC string. A malformed hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// Spends the time of one verification without an account, so that a login for an unknown email takes as long as
/// one with a wrong password (no account enumeration by timing).
pub fn verify_nothing(password: &str) {
    static DUMMY: LazyLock<String> =
        LazyLock::new(|| hash("a password nobody has, only used to spend time").unwrap_or_default());
    let _ = verify(password, &DUMMY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password_and_are_salted() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "salted");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterY", &a));
        assert!(!verify("anything", "not a phc string"));
    }
}
