//! Personal data at rest: responsible persons' certificate (ID) numbers, mobile and emergency phones and emails, and
//! the subject's certificate number, are stored sealed with AES-256-GCM under a key from the configuration. Equality
//! lookups (one mobile per subject, one subject in review at a time) go through a blind index: a keyed hash
//! (HMAC-SHA256) of the normalised value, so the database can compare values it cannot read.
//!
//! A sealed value reads `pii1.<key id>.<base64url(nonce || ciphertext || tag)>`. The tenant's id is the associated
//! data: a value copied into another registrar's row does not open. New values are sealed under the current key;
//! every configured key opens, so keys rotate by adding a key, making it current and running `beian pii rotate`,
//! which reseals what older keys sealed (and recomputes the blind indexes). Then the old key can go.
//!
//! One keyring serves a process: it is installed when the configuration is loaded into a ready database connection
//! ([`crate::db::connect_ready`]).

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

const PREFIX: &str = "pii1.";
const NONCE_LEN: usize = 12;

/// Why a sealed value did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PiiError {
    #[error("personal data sealed under key {0:?}, which is not configured (pii.keys)")]
    UnknownKey(String),
    #[error("personal data that does not open with its key: tampered with, or moved from another registrar")]
    Tampered,
    #[error("a malformed sealed value")]
    Malformed,
}

/// What a blind index is of: each kind hashes separately, so equal strings of different kinds never match.
#[derive(Clone, Copy, Debug)]
pub enum Blind {
    Mobile,
    Certificate,
    Email,
}

impl Blind {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Mobile => b"mobile",
            Self::Certificate => b"certificate",
            Self::Email => b"email",
        }
    }
}

/// The keys of personal data: those that open, the one that seals, and the blind-index key.
pub struct Keyring {
    keys: HashMap<String, Aes256Gcm>,
    current: String,
    index: Vec<u8>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("Keyring").field("keys", &ids).field("current", &self.current).finish_non_exhaustive()
    }
}

impl Keyring {
    /// A keyring from base64 key material: `keys` maps key ids to 32-byte keys, `current` names the one that seals,
    /// `index` is the blind-index key (at least 32 bytes).
    pub fn new<'a>(
        keys: impl IntoIterator<Item = (&'a str, &'a str)>,
        current: &str,
        index: &str,
    ) -> Result<Self, String> {
        let mut ring = HashMap::new();
        for (id, material) in keys {
            if id.is_empty()
                || id.len() > 32
                || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!("pii key id {id:?}: use 1-32 letters, digits, '-' or '_'"));
            }
            let bytes = decode_key(material).map_err(|e| format!("pii key {id:?}: {e}"))?;
            if bytes.len() != 32 {
                return Err(format!(
                    "pii key {id:?}: must be 32 bytes (base64 of 32 random bytes), not {}",
                    bytes.len()
                ));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|e| format!("pii key {id:?}: {e}"))?;
            ring.insert(id.to_owned(), cipher);
        }
        if !ring.contains_key(current) {
            return Err(format!("pii.current_key {current:?} is not one of pii.keys"));
        }
        let index = decode_key(index).map_err(|e| format!("pii.index_key: {e}"))?;
        if index.len() < 32 {
            return Err("pii.index_key must be at least 32 bytes (base64 of 32 random bytes)".to_owned());
        }
        Ok(Self { keys: ring, current: current.to_owned(), index })
    }

    /// The id of the key new values are sealed under.
    pub fn current_key(&self) -> &str {
        &self.current
    }

    /// Seals `value` for `tenant` under the current key. The empty string stays empty (nothing to hide).
    pub fn seal(&self, tenant: Uuid, value: &str) -> String {
        if value.is_empty() {
            return String::new();
        }
        let nonce: [u8; NONCE_LEN] = rand::random();
        let cipher = &self.keys[&self.current];
        let sealed = cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: value.as_bytes(), aad: tenant.as_bytes() })
            .expect("AES-GCM seals any input shorter than 64 GiB");
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{}.{}", self.current, URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens a value [`seal`](Self::seal) made for `tenant`. A value that is not sealed (written before sealing
    /// existed, not yet resealed by `beian pii rotate`) is returned as it is.
    pub fn open(&self, tenant: Uuid, value: &str) -> Result<String, PiiError> {
        let Some(rest) = value.strip_prefix(PREFIX) else {
            return Ok(value.to_owned());
        };
        let (id, data) = rest.split_once('.').ok_or(PiiError::Malformed)?;
        let cipher = self.keys.get(id).ok_or_else(|| PiiError::UnknownKey(id.to_owned()))?;
        let bytes = URL_SAFE_NO_PAD.decode(data).map_err(|_| PiiError::Malformed)?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(PiiError::Malformed);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| PiiError::Malformed)?;
        let plain = cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: sealed, aad: tenant.as_bytes() })
            .map_err(|_| PiiError::Tampered)?;
        String::from_utf8(plain).map_err(|_| PiiError::Malformed)
    }

    /// Whether `value` needs resealing: not sealed at all, or sealed under a key that is no longer current.
    pub fn is_stale(&self, value: &str) -> bool {
        if value.is_empty() {
            return false;
        }
        match value.strip_prefix(PREFIX).and_then(|rest| rest.split_once('.')) {
            Some((id, _)) => id != self.current,
            None => true,
        }
    }

    /// The blind index of an already normalised value of the tenant (hex of HMAC-SHA256); empty for an empty value.
    pub fn blind(&self, tenant: Uuid, kind: Blind, normalised: &str) -> String {
        if normalised.is_empty() {
            return String::new();
        }
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index).expect("HMAC takes a key of any length");
        mac.update(kind.label());
        mac.update(&[0]);
        mac.update(tenant.as_bytes());
        mac.update(normalised.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A new random key, base64: for `pii.keys` and `pii.index_key`.
    pub fn generate_key() -> String {
        STANDARD.encode(rand::random::<[u8; 32]>())
    }
}

fn decode_key(material: &str) -> Result<Vec<u8>, String> {
    let material = material.trim();
    STANDARD
        .decode(material)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(material))
        .or_else(|_| URL_SAFE_NO_PAD.decode(material.trim_end_matches('=')))
        .map_err(|_| "not base64".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(current: &str) -> Keyring {
        let a = STANDARD.encode([1u8; 32]);
        let b = STANDARD.encode([2u8; 32]);
        let index = STANDARD.encode([3u8; 32]);
        Keyring::new([("a", a.as_str()), ("b", b.as_str())], current, &index).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_for_its_tenant_only() {
        let (keys, tenant) = (ring("a"), Uuid::now_v7());
        let sealed = keys.seal(tenant, "11010519491231002X");
        assert!(sealed.starts_with("pii1.a.") && !sealed.contains("1101051949"));
        assert_ne!(sealed, keys.seal(tenant, "11010519491231002X"), "a fresh nonce every time");
        assert_eq!(keys.open(tenant, &sealed).unwrap(), "11010519491231002X");
        assert_eq!(keys.open(Uuid::now_v7(), &sealed), Err(PiiError::Tampered));
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 3;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(keys.open(tenant, &String::from_utf8(flipped).unwrap()), Err(PiiError::Tampered));
        assert_eq!(keys.seal(tenant, ""), "");
        assert_eq!(keys.open(tenant, "13800138000").unwrap(), "13800138000", "legacy plaintext reads as is");
    }

    #[test]
    fn keys_rotate_old_values_still_open_and_are_stale() {
        let tenant = Uuid::now_v7();
        let old = ring("a").seal(tenant, "13800138000");
        let rotated = ring("b");
        assert_eq!(rotated.open(tenant, &old).unwrap(), "13800138000");
        assert!(rotated.is_stale(&old) && rotated.is_stale("13800138000") && !rotated.is_stale(""));
        assert!(!rotated.is_stale(&rotated.seal(tenant, "13800138000")));
        let only_b =
            Keyring::new([("b", STANDARD.encode([2u8; 32]).as_str())], "b", &STANDARD.encode([3u8; 32])).unwrap();
        assert_eq!(only_b.open(tenant, &old), Err(PiiError::UnknownKey("a".into())));
    }

    #[test]
    fn blind_indexes_are_keyed_per_tenant_and_kind() {
        let (keys, tenant) = (ring("a"), Uuid::now_v7());
        let mobile = keys.blind(tenant, Blind::Mobile, "13800138000");
        assert_eq!(mobile, ring("b").blind(tenant, Blind::Mobile, "13800138000"), "independent of the sealing key");
        assert_eq!(mobile.len(), 64);
        assert_ne!(mobile, keys.blind(Uuid::now_v7(), Blind::Mobile, "13800138000"));
        assert_ne!(mobile, keys.blind(tenant, Blind::Certificate, "13800138000"));
        assert_eq!(keys.blind(tenant, Blind::Mobile, ""), "");
    }

    #[test]
    fn bad_key_material_is_refused() {
        let index = STANDARD.encode([3u8; 32]);
        assert!(Keyring::new([("a", "c2hvcnQ=")], "a", &index).unwrap_err().contains("32 bytes"));
        assert!(Keyring::new([("a", index.as_str())], "b", &index).unwrap_err().contains("current_key"));
        assert!(Keyring::new([("a b", index.as_str())], "a b", &index).unwrap_err().contains("key id"));
        assert!(Keyring::new([("a", index.as_str())], "a", "c2hvcnQ=").unwrap_err().contains("index_key"));
    }
}
