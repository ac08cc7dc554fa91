//! Access tokens (short-lived signed JWTs) and opaque single-use secrets (refresh, reset, setup tokens).

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const ISSUER: &str = "beian";
const AUDIENCE: &str = "beian-api";

/// What an access token says: which account of which tenant, signed in as which session, until when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The account.
    pub sub: Uuid,
    /// The tenant.
    pub tid: Uuid,
    /// The session (refresh token row) the token was issued with: the token works only while that session is
    /// live, so logging out, changing the password or disabling the account ends it at once. Required: tokens
    /// issued before this claim existed are refused (their clients refresh the session).
    pub sid: Uuid,
    /// The role when the token was issued (informative: the server re-reads the account on every request).
    pub role: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// Signs and verifies access tokens with the configured secret (HMAC-SHA256).
#[derive(Clone)]
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the signing secret must be at least 32 bytes")]
    WeakSecret,
    #[error("the token is expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
}

impl TokenSigner {
    /// `leeway` is the clock skew allowed between replicas and clients.
    pub fn new(secret: &[u8], access_ttl: Duration, leeway: Duration) -> Result<Self, TokenError> {
        if secret.len() < 32 {
            return Err(TokenError::WeakSecret);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = leeway.num_seconds().max(0) as u64;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // `sid` and `tid` are required by `Claims` itself: a token without them does not deserialize.
        Ok(Self {
            encoding: EncodingKey::from_secret(secret).map_err(|_| TokenError::WeakSecret)?,
            decoding: DecodingKey::from_secret(secret).map_err(|_| TokenError::WeakSecret)?,
            validation,
            access_ttl,
        })
    }

    /// Issues an access token for an account signed in as `session`; returns it with its expiry.
    pub fn issue(
        &self,
        tenant: Uuid,
        account: Uuid,
        session: Uuid,
        role: &str,
        now: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        let expires = now + self.access_ttl;
        let claims = Claims {
            sub: account,
            tid: tenant,
            sid: session,
            role: role.to_owned(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now.timestamp(),
            exp: expires.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail");
        (token, expires)
    }

    /// Verifies signature, algorithm, issuer, audience and expiry (with the leeway).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            }
        })
    }
}

/// A random opaque secret with a recognisable prefix, and the hash to store.
pub fn opaque(prefix: &str) -> (String, String) {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let hash = super::api_key::hash(&secret);
    (secret, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(secret: &[u8]) -> TokenSigner {
        TokenSigner::new(secret, Duration::minutes(15), Duration::seconds(30)).unwrap()
    }

    #[test]
    fn a_token_verifies_with_its_secret_only() {
        let a = signer(&[1; 32]);
        let b = signer(&[2; 32]);
        let (tenant, account, session) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let (token, expires) = a.issue(tenant, account, session, "APPLICANT", Utc::now());
        assert!(expires > Utc::now());
        let claims = a.verify(&token).unwrap();
        assert_eq!((claims.sub, claims.tid, claims.sid, claims.role.as_str()), (account, tenant, session, "APPLICANT"));
        assert!(matches!(b.verify(&token), Err(TokenError::Invalid)));
        assert!(matches!(a.verify("garbage"), Err(TokenError::Invalid)));
    }

    #[test]
    fn expiry_allows_the_clock_skew_and_no_more() {
        let a = signer(&[1; 32]);
        let (tenant, account) = (Uuid::now_v7(), Uuid::now_v7());
        // Expired 10 s ago: within the 30 s leeway.
        let (token, _) =
            a.issue(tenant, account, account, "ADMIN", Utc::now() - Duration::minutes(15) - Duration::seconds(10));
        assert!(a.verify(&token).is_ok());
        let (token, _) = a.issue(tenant, account, account, "ADMIN", Utc::now() - Duration::minutes(16));
        assert!(matches!(a.verify(&token), Err(TokenError::Expired)));
    }

    #[test]
    fn unsigned_and_other_algorithm_tokens_are_refused() {
        use base64::Engine;
        let a = signer(&[1; 32]);
        let (token, _) = a.issue(Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), "ADMIN", Utc::now());
        let payload = token.split('.').nth(1).unwrap();
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let none = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
        assert!(a.verify(&none).is_err());
        let hs512 = format!("{}.{payload}.{}", b64(r#"{"alg":"HS512","typ":"JWT"}"#), token.split('.').nth(2).unwrap());
        assert!(a.verify(&hs512).is_err());
        assert!(matches!(
            TokenSigner::new(b"short", Duration::minutes(1), Duration::zero()),
            Err(TokenError::WeakSecret)
        ));
    }

    #[test]
    fn a_token_without_its_session_is_refused() {
        // Signed with the right secret, but issued before access tokens named their session.
        let a = signer(&[1; 32]);
        let now = Utc::now().timestamp();
        let claims = serde_json::json!({ "sub": Uuid::now_v7(), "tid": Uuid::now_v7(), "role": "ADMIN",
            "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600 });
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&[1; 32]).unwrap())
                .unwrap();
        assert!(matches!(a.verify(&token), Err(TokenError::Invalid)));
    }

    #[test]
    fn opaque_secrets_are_random_and_hashed() {
        let (a, ha) = opaque("beian_rt_");
        let (b, _) = opaque("beian_rt_");
        assert_ne!(a, b);
        assert!(a.starts_with("beian_rt_"));
        assert_eq!(ha, super::super::api_key::hash(&a));
    }
}
