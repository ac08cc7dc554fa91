//! Posting to a registrar's own systems (its SMS gateway, a face-verification service): JSON over HTTPS, signed
//! with a shared secret so the receiver can tell the request came from this server and was not replayed
//! (`X-Beian-Timestamp`, `X-Beian-Signature: sha256=<HMAC-SHA256 of "<timestamp>.<body>">`).
//!
//! Egress is guarded against server-side request forgery ([`Egress`]): by default only `https://` to public
//! addresses, checked after DNS on every connection (a name that resolves to 127.0.0.1 or 169.254.169.254 is
//! refused), no redirects, no proxies, and answers read up to a bound.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
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

/// Where webhooks may go.
#[derive(Clone, Debug, Default)]
pub struct Egress {
    /// Host names allowed; empty: any.
    pub allowed_hosts: Vec<String>,
    /// Whether loopback, private and link-local addresses (and plain http) are allowed.
    pub allow_private_networks: bool,
}

impl Egress {
    pub fn from_config(config: &crate::config::MobileConfig) -> Self {
        Self {
            allowed_hosts: config.webhook_allowed_hosts.iter().map(|h| h.trim().to_ascii_lowercase()).collect(),
            allow_private_networks: config.webhook_allow_private_networks,
        }
    }

    /// Where the registrars' own webhook endpoints may go (`[webhooks]`).
    pub fn for_endpoints(config: &crate::config::WebhooksConfig) -> Self {
        Self {
            allowed_hosts: config.allowed_hosts.iter().map(|h| h.trim().to_ascii_lowercase()).collect(),
            allow_private_networks: config.allow_private_networks,
        }
    }

    /// An HTTP client that keeps to these rules on every connection (the address a name resolves to is checked),
    /// follows no redirects, uses no proxy, and gives up after `timeout` (connecting included).
    pub fn client(&self, timeout: Duration) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { allow_private_networks: self.allow_private_networks }))
            .build()
    }

    /// Why `url` may not be a webhook, if it may not.
    pub fn refuse(&self, url: &url::Url) -> Option<String> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private_networks => {}
            "http" => {
                return Some("a webhook URL is https:// (plain http only with webhook_allow_private_networks)".into());
            }
            other => return Some(format!("a webhook URL is https://, not {other}:")),
        }
        let Some(host) = url.host_str() else {
            return Some("a webhook URL names a host".into());
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Some("a webhook URL carries no credentials: use the signing secret".into());
        }
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if !self.allowed_hosts.is_empty() && !self.allowed_hosts.contains(&host) {
            return Some(format!("{host} is not in webhook_allowed_hosts"));
        }
        if let Ok(ip) = host.parse::<IpAddr>()
            && !self.allow_private_networks
            && !is_public(ip)
        {
            return Some(format!("{ip} is not a public address (webhook_allow_private_networks is off)"));
        }
        None
    }
}

/// Whether `ip` is an ordinary public unicast address: not loopback, private, link-local (cloud metadata services
/// live at 169.254.169.254), shared (CGNAT), unspecified, multicast, broadcast, documentation or reserved space, in
/// IPv4 or IPv6 (including IPv4 addresses mapped into IPv6).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (18..20).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || (first & 0xffc0) == 0xfec0
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064 && v6.segments()[1] == 0xff9b)
        }
    }
}

/// Resolves names as the system does, then keeps only the addresses [`Egress`] allows; none left is an error.
struct GuardedResolver {
    allow_private_networks: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private_networks;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.into_iter().filter(|a| allow_private || is_public(a.ip())).collect();
            if allowed.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> =
                    format!("{host} resolves to no public address (webhook_allow_private_networks is off)").into();
                return Err(refused);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The most of a webhook's answer that is read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

impl Webhook {
    pub fn new(url: &str, secret: Option<&SecretString>, egress: &Egress) -> anyhow::Result<Self> {
        let url = url::Url::parse(url).map_err(|e| anyhow::anyhow!("not a webhook URL: {e}"))?;
        if let Some(reason) = egress.refuse(&url) {
            anyhow::bail!("webhook {}: {reason}", url.host_str().unwrap_or_default());
        }
        let client = egress.client(Duration::from_secs(10))?;
        Ok(Self { url, secret: secret.cloned(), client })
    }

    /// Posts `body`; anything but a 2xx answer is an error.
    pub async fn post(&self, body: &serde_json::Value) -> Result<(), String> {
        self.send(body).await.map(|_| ())
    }

    /// Posts `body` and reads a JSON object answer (at most 64 KiB, read no further); anything else is an error.
    pub async fn post_for_json(&self, body: &serde_json::Value) -> Result<serde_json::Value, String> {
        let mut response = self.send(body).await?;
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("cannot read the webhook's answer: {e}"))? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err("the webhook's answer is too large".to_owned());
            }
            bytes.extend_from_slice(&chunk);
        }
        match serde_json::from_slice(&bytes) {
            Ok(answer @ serde_json::Value::Object(_)) => Ok(answer),
            Ok(_) => Err("the webhook's answer is not a JSON object".to_owned()),
            Err(e) => Err(format!("the webhook's answer is not JSON: {e}")),
        }
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
        let response =
            request.body(payload).send().await.map_err(|e| format!("cannot reach the webhook: {}", causes(&e)))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(format!("the webhook answered {}", response.status()))
        }
    }
}

/// An error with its causes, `outer: inner: innermost` (reqwest names only the URL at the top).
fn causes(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
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
    fn only_https_urls_to_public_hosts_are_webhooks_by_default() {
        let public = Egress::default();
        let refused = |url: &str, egress: &Egress| Webhook::new(url, None, egress).unwrap_err().to_string();
        assert!(Webhook::new("https://sms.registrar.example/send", None, &public).is_ok());
        assert!(refused("file:///etc/passwd", &public).contains("https://"));
        assert!(Webhook::new("not a url", None, &public).is_err());
        assert!(refused("http://sms.registrar.example/send", &public).contains("plain http"));
        assert!(refused("https://user:pw@sms.registrar.example/", &public).contains("credentials"));
        for inward in [
            "https://127.0.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.8/",
            "https://[::1]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[fd00::1]/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
        ] {
            assert!(refused(inward, &public).contains("not a public address"), "{inward}");
        }
        let listed = Egress { allowed_hosts: vec!["sms.registrar.example".into()], allow_private_networks: false };
        assert!(Webhook::new("https://SMS.registrar.example/send", None, &listed).is_ok());
        assert!(refused("https://evil.example/", &listed).contains("webhook_allowed_hosts"));
        let inside = Egress { allowed_hosts: vec![], allow_private_networks: true };
        assert!(Webhook::new("http://10.0.0.8:8080/sms", None, &inside).is_ok());
    }

    #[test]
    fn public_addresses_are_told_from_inward_ones() {
        for public in ["8.8.8.8", "1.1.1.1", "2400:3200::1", "101.226.4.6"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for inward in [
            "127.0.0.2",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "fe80::1",
            "::",
            "2001:db8::1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public(inward.parse().unwrap()), "{inward}");
        }
    }

    /// A one-shot HTTP server on loopback that answers `status` with `body`; its URL.
    async fn answering(status: &'static str, body: Vec<u8>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 8192];
            let _ = socket.read(&mut request).await;
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nlocation: http://169.254.169.254/\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&body).await;
        });
        format!("http://{address}/hook")
    }

    #[tokio::test]
    async fn a_webhooks_answer_is_validated_before_it_is_believed() {
        let inside = Egress { allowed_hosts: vec![], allow_private_networks: true };
        let ask = |url: String| {
            let webhook = Webhook::new(&url, None, &inside).unwrap();
            async move { webhook.post_for_json(&serde_json::json!({})).await }
        };
        let ok = ask(answering("200 OK", br#"{"passed": true}"#.to_vec()).await).await.unwrap();
        assert_eq!(ok["passed"], true);
        for (status, body, why) in [
            ("200 OK", b"[true]".to_vec(), "not a JSON object"),
            ("200 OK", b"<html>".to_vec(), "not JSON"),
            ("200 OK", vec![b' '; 100 * 1024], "too large"),
            ("500 Internal Server Error", br#"{"passed": true}"#.to_vec(), "answered 500"),
            ("302 Found", Vec::new(), "answered 302"),
        ] {
            let error = ask(answering(status, body).await).await.unwrap_err();
            assert!(error.contains(why), "{status}: {error}");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_inward_is_refused_when_connecting() {
        // `localhost` passes the URL check (it is a name), but resolves to loopback: refused on connect.
        let webhook = Webhook::new("https://localhost:9/hook", None, &Egress::default()).unwrap();
        let error = webhook.post(&serde_json::json!({})).await.unwrap_err();
        assert!(error.contains("no public address"), "{error}");
    }
}
