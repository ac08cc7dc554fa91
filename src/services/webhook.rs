//! Posting to a registrar's own systems (its SMS gateway): JSON over HTTPS, signed with a shared secret so the
//! receiver can tell the request came from this server and was not replayed (`X-Beian-Timestamp`,
//! `X-Beian-Signature: sha256=<HMAC-SHA256 of "<timestamp>.<body>">`).

use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// A configured webhook.
#[derive(Clone)]
pub struct Webhook {
    url: url::Url,
    secret: Option<SecretString>,
    client: reqwest::Client,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").field("url", &self.url.as_str()).field("signed", &self.secret.is_some()).finish()
    }
}

impl Webhook {
    pub fn new(url: &str, secret: Option<&SecretString>) -> anyhow::Result<Self> {
        let url = url::Url::parse(url).map_err(|e| anyhow::anyhow!("not a webhook URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            anyhow::bail!("a webhook URL is http:// or https:// with a host");
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { url, secret: secret.cloned(), client })
    }

    /// Posts `body`; anything but a 2xx answer is an error.
    pub async fn post(&self, body: &serde_json::Value) -> Result<(), String> {
        self.send(body).await.map(|_| ())
    }

    /// Posts `body` and reads a JSON answer (at most 64 KiB); anything but a 2xx JSON answer is an error.
    pub async fn post_for_json(&self, body: &serde_json::Value) -> Result<serde_json::Value, String> {
        let response = self.send(body).await?;
        let bytes = response.bytes().await.map_err(|e| format!("cannot read the webhook's answer: {e}"))?;
        if bytes.len() > 64 * 1024 {
            return Err("the webhook's answer is too large".to_owned());
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("the webhook's answer is not JSON: {e}"))
    }

    async fn send(&self, body: &serde_json::Value) -> Result<reqwest::Response, String> {
        let payload = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let mut request = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("x-beian-timestamp", &timestamp);
        if let Some(secret) = &self.secret {
            request = request.header("x-beian-signature", format!("sha256={}", sign(secret, &timestamp, &payload)));
        }
        let response = request.body(payload).send().await.map_err(|e| format!("cannot reach the webhook: {e}"))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(format!("the webhook answered {}", response.status()))
        }
    }
}

/// The hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`.
pub fn sign(secret: &SecretString, timestamp: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_rfc_4231_style_hmac_of_timestamp_and_body() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog") is a well-known vector.
        let secret = SecretString::from("key");
        assert_eq!(sign(&secret, "The quick brown fox", b"jumps over the lazy dog".as_slice()).len(), 64);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        assert_ne!(sign(&secret, "1", b"a"), sign(&secret, "2", b"a"), "the timestamp is signed");
    }

    #[test]
    fn only_http_urls_with_a_host_are_webhooks() {
        assert!(Webhook::new("https://sms.registrar.example/send", None).is_ok());
        assert!(Webhook::new("file:///etc/passwd", None).is_err());
        assert!(Webhook::new("not a url", None).is_err());
    }
}
