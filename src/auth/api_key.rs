//! API keys: long random secrets shown once; only their SHA-256 is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every key starts with this, so a leaked key is easy to recognise in code and logs (secret scanners). The other
/// secrets beian issues start with it too, each with its own continuation (below).
pub const KEY_PREFIX: &str = "beian_";

/// A freshly generated key: the secret to show once, and what to store.
pub struct NewApiKey {
    pub secret: String,
    pub hash: String,
    pub display_prefix: String,
}

/// How a phone's hand-off token starts (a bearer token: told apart from API keys by it).
pub const MOBILE_TOKEN_PREFIX: &str = "beian_m_";
/// How a refresh token starts.
pub const REFRESH_TOKEN_PREFIX: &str = "beian_rt_";
/// How a one-time token (e-mail verification, account set-up, password reset) starts.
pub const ONE_TIME_TOKEN_PREFIX: &str = "beian_t_";

/// The other secrets beian issues under the same prefix: a bearer token is told apart by how it starts, so no API
/// key may start like one of them (a key starting `beian_m_` would be taken for a phone's hand-off token).
pub const RESERVED_PREFIXES: [&str; 3] = [MOBILE_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, ONE_TIME_TOKEN_PREFIX];

/// Generates a key with 256 bits of randomness (drawn again in the rare case, 1 in about 4,000, that it would start
/// like another kind of secret).
pub fn generate() -> NewApiKey {
    let secret = loop {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        if let Some(secret) = key_of(bytes) {
            break secret;
        }
    };
    NewApiKey { hash: hash(&secret), display_prefix: secret[..KEY_PREFIX.len() + 6].to_owned(), secret }
}

/// The key these random bytes make, unless it starts like another kind of secret.
fn key_of(bytes: [u8; 32]) -> Option<String> {
    let secret = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    (!RESERVED_PREFIXES.iter().any(|p| secret.starts_with(p))).then_some(secret)
}

/// The stored form of a key.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_starts_like_a_mobile_refresh_or_one_time_token() {
        // 0x9B 0xF0 encode to "m_", 0xAE 0xDF to "rt_" and 0xB7 0xF0 to "t_": such bytes make no key.
        for start in [[0x9B, 0xF0, 0x00], [0xAE, 0xDF, 0xC0], [0xB7, 0xF0, 0x00]] {
            let mut bytes = [7u8; 32];
            bytes[..3].copy_from_slice(&start);
            let would_be = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
            assert!(RESERVED_PREFIXES.iter().any(|p| would_be.starts_with(p)), "{would_be}");
            assert_eq!(key_of(bytes), None, "{would_be}");
        }
        assert!(key_of([7u8; 32]).is_some());
    }

    #[test]
    fn keys_are_random_prefixed_and_stored_only_as_hashes() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(KEY_PREFIX));
        assert_eq!(a.secret.len(), KEY_PREFIX.len() + 43);
        assert_eq!(a.hash, hash(&a.secret));
        assert_eq!(a.hash.len(), 64);
        assert!(!a.hash.contains(&a.secret[KEY_PREFIX.len()..]));
        assert!(a.secret.starts_with(&a.display_prefix));
    }
}
