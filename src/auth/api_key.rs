//! API keys: long random secrets shown once; only their SHA-256 is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every key starts with this, so a leaked key is easy to recognise in code and logs (secret scanners).
pub const KEY_PREFIX: &str = "beian_";

/// A freshly generated key: the secret to show once, and what to store.
pub struct NewApiKey {
    pub secret: String,
    pub hash: String,
    pub display_prefix: String,
}

/// Generates a key with 256 bits of randomness.
pub fn generate() -> NewApiKey {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    NewApiKey { hash: hash(&secret), display_prefix: secret[..KEY_PREFIX.len() + 6].to_owned(), secret }
}

/// The stored form of a key.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
