//! Configuration in layers: built-in defaults (the embedded run), then a TOML file, then `BEIAN_*` environment
//! variables, then command-line flags. Every setting is documented in `deploy/beian.example.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The whole configuration of a beian process.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Folder for the embedded defaults (SQLite database, token-signing secret, later attachments and mail).
    pub data_dir: PathBuf,
    /// How many reverse proxies (load balancers) stand in front of the server and append to X-Forwarded-For.
    /// 0: the client is the TCP peer. Used for per-address login throttling; set it to your proxy depth, or every
    /// client looks like the load balancer.
    pub trusted_proxy_hops: usize,
    /// After SIGTERM, seconds during which `/readyz` answers 503 while requests are still served, so that load
    /// balancers stop routing here before the listener closes (Kubernetes: about 5; instead of a preStop sleep).
    pub shutdown_drain_seconds: u64,
    /// After the drain, the longest wait for in-flight requests and the messages the mail dispatcher has in hand (it
    /// starts no new one and gives the rest of its batch back at once); then the process exits (0). A message still
    /// in the middle of its SMTP exchange then may be sent again, with the same Message-ID, when its lease ends.
    pub shutdown_grace_seconds: u64,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub graphql: GraphqlConfig,
    pub auth: AuthConfig,
    pub rules: RulesConfig,
    pub storage: StorageConfig,
    pub mail: MailConfig,
    pub mobile: MobileConfig,
    pub webhooks: WebhooksConfig,
    pub jobs: JobsConfig,
    pub workflow: WorkflowConfig,
    pub pii: PiiConfig,
    pub log: LogConfig,
    pub telemetry: TelemetryConfig,
}

/// The HTTP surface: browser origins, security headers, and how long slow clients are waited for.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Origins of the registrar frontends that call the API from a browser on another origin, e.g.
    /// `https://beian.registrar.example` (CORS). Empty: no cross-origin browser access (same origin, servers and
    /// apps are unaffected).
    pub cors_allowed_origins: Vec<String>,
    /// `Strict-Transport-Security` max-age sent with every response (browsers honour it over HTTPS only); 0: off.
    pub hsts_max_age_seconds: u64,
    /// A connection with no bytes moving for this long is closed (slow or stalled clients).
    pub idle_timeout_seconds: u64,
    /// A request's head (request line and headers) must arrive whole within this long, and a connection with no
    /// request in hand (an HTTP/1.1 keep-alive between requests, an HTTP/2 connection without streams) is closed
    /// after it: clients that trickle headers byte by byte do not hold connections.
    pub header_read_timeout_seconds: u64,
    /// The longest a GraphQL request's JSON body may take to arrive; then 408.
    pub json_body_timeout_seconds: u64,
    /// The longest a multipart request (a file upload through the server) may take to arrive; then 408.
    pub upload_body_timeout_seconds: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            cors_allowed_origins: Vec::new(),
            hsts_max_age_seconds: 365 * 24 * 3600,
            idle_timeout_seconds: 60,
            header_read_timeout_seconds: 10,
            json_body_timeout_seconds: 30,
            upload_body_timeout_seconds: 15 * 60,
        }
    }
}

/// Background work every replica runs (each step is safe with any number of replicas).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// How often the MIIT SMS deadlines (and their reminders) are checked, in seconds.
    pub sms_deadline_interval_seconds: u64,
    /// How often uploads that were never completed are removed, in seconds.
    pub upload_cleanup_interval_seconds: u64,
    /// How often abandoned drafts past `pii.abandoned_draft_retention_days` are purged, in seconds.
    pub retention_interval_seconds: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            sms_deadline_interval_seconds: 30,
            upload_cleanup_interval_seconds: 60,
            retention_interval_seconds: 3600,
        }
    }
}

/// The filing workflow's time limits.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowConfig {
    /// Hours every responsible person has to confirm MIIT's SMS once the check starts (after 初审, on a new round, or
    /// when a cancellation order is submitted). MIIT's own window is 24 hours; at least 1.
    pub sms_window_hours: u32,
}

impl Default for WorkflowConfig {
    fn default() -> Self {
        Self { sms_window_hours: 24 }
    }
}

impl WorkflowConfig {
    /// The SMS window, refused when it is zero (every check would fail at once).
    pub fn sms_window(&self) -> anyhow::Result<chrono::Duration> {
        anyhow::ensure!(self.sms_window_hours > 0, "workflow.sms_window_hours must be at least 1");
        Ok(chrono::Duration::hours(i64::from(self.sms_window_hours)))
    }
}

/// Personal data at rest (see `beian::pii`): the keys that seal ID numbers, phones and emails, and how long an
/// abandoned draft keeps its personal data.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PiiConfig {
    /// Sealing keys (AES-256-GCM): key id -> base64 of 32 random bytes (`beian pii generate-key`). Every key listed
    /// opens; `current_key` seals. Every replica needs the same keys. Unset: in the embedded default a key is
    /// created in `data_dir/pii-keys.toml` and kept there; with PostgreSQL they must be set.
    #[serde(serialize_with = "serialize_secret_map")]
    pub keys: std::collections::BTreeMap<String, SecretString>,
    /// The id of the key new values are sealed under. Rotate: add a key, make it current, run `beian pii rotate`,
    /// then remove the old key.
    pub current_key: Option<String>,
    /// The blind-index key (base64, at least 32 bytes): keyed hashes for equality lookups of mobiles and
    /// certificate numbers. Changing it requires `beian pii rotate` before serving.
    #[serde(serialize_with = "serialize_optional_secret")]
    pub index_key: Option<SecretString>,
    /// Days after its last change when a draft nobody submitted (or a filing its applicant abandoned) loses its
    /// personal data and files; the filing and its audit trail stay, with a `PERSONAL_DATA_PURGED` event. 0: never.
    pub abandoned_draft_retention_days: u32,
}

impl Default for PiiConfig {
    fn default() -> Self {
        Self { keys: Default::default(), current_key: None, index_key: None, abandoned_draft_retention_days: 180 }
    }
}

/// Traces exported over OpenTelemetry (OTLP/HTTP); off unless an endpoint is set.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's OTLP/HTTP base URL, e.g. `http://otel-collector:4318` (spans go to `/v1/traces`).
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute. Unset: `beian`.
    pub service_name: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MobileConfig {
    /// The page a phone opens from the QR code (the token follows as `#token=...`): this server's own `/mobile`
    /// as the phone reaches it. A registrar's `mobilePageUrl` setting wins when set.
    pub public_base_url: String,
    /// How long a hand-off (its QR code) works, in minutes.
    pub session_ttl_minutes: i64,
    /// The registrar's SMS gateway: phone codes are posted there as signed JSON. Unset: codes are recorded (the
    /// log and `beian outbox list`) instead of sent, for trying things out.
    pub sms_webhook_url: Option<String>,
    /// The secret that signs the gateway's requests (`X-Beian-Signature`).
    #[serde(serialize_with = "serialize_optional_secret")]
    pub sms_webhook_secret: Option<SecretString>,
    /// A face-verification service: each face video is posted there (a short-lived download URL and the challenge)
    /// and its answer `{"passed": bool, "reason": "..."}` decides the video. Unset: the reviewer decides in the
    /// preliminary review.
    pub liveness_webhook_url: Option<String>,
    /// The secret that signs the liveness service's requests.
    #[serde(serialize_with = "serialize_optional_secret")]
    pub liveness_webhook_secret: Option<SecretString>,
    /// Hosts the webhooks may name (exact host names, case-insensitive). Empty: any host on the public internet.
    pub webhook_allowed_hosts: Vec<String>,
    /// Let webhooks reach loopback, private, link-local (cloud metadata) and other non-public addresses, and use
    /// plain `http://`: for gateways inside the registrar's own network. Off: `https://` to public addresses only,
    /// checked on every connection (after DNS), so a name that resolves inward is refused too.
    pub webhook_allow_private_networks: bool,
    /// The least time between two phone codes to one mobile number, whichever hand-off link asks, in seconds (a
    /// link itself sends at most one a minute). 0: only the link's own minute.
    pub phone_code_interval_seconds: u64,
    /// Phone codes one mobile number may get in an hour, across every link and filing of the registrar. Attempts
    /// the SMS gateway refused do not count here, but are limited to as many an hour of their own.
    pub phone_codes_per_number_per_hour: u32,
    /// Phone codes one mobile number may get in a day (24 hours), across every link and filing of the registrar.
    pub phone_codes_per_number_per_day: u32,
    /// Phone codes (and attempts the gateway refused) one registrar may send in an hour, to all numbers together:
    /// a ceiling on what a flood through many numbers can cost.
    pub phone_codes_per_registrar_per_hour: u32,
}

impl Default for MobileConfig {
    fn default() -> Self {
        Self {
            public_base_url: "http://127.0.0.1:8080/mobile".to_owned(),
            session_ttl_minutes: 30,
            sms_webhook_url: None,
            sms_webhook_secret: None,
            liveness_webhook_url: None,
            liveness_webhook_secret: None,
            webhook_allowed_hosts: Vec::new(),
            webhook_allow_private_networks: false,
            // As SMS providers commonly limit one number by default: one a minute, five an hour, ten a day.
            phone_code_interval_seconds: 60,
            phone_codes_per_number_per_hour: 5,
            phone_codes_per_number_per_day: 10,
            phone_codes_per_registrar_per_hour: 1000,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// Where mail goes. Unset: each message is written as an .eml file under `data_dir/mail` (and its path logged),
    /// so you can read what applicants would receive. `smtp://user:pass@relay:587?tls=required` (STARTTLS),
    /// `smtps://user:pass@relay:465` (TLS from the start), `smtp://relay:25` (no TLS: a relay on your own network).
    #[serde(serialize_with = "serialize_optional_secret")]
    pub smtp_url: Option<SecretString>,
    /// The sender when a registrar has set none of its own: `Name <address>`.
    pub from: String,
    /// Send mail from this process: set to false on replicas that should only serve requests.
    pub dispatch: bool,
    /// How often the dispatcher looks for due messages, in seconds.
    pub dispatch_interval_seconds: u64,
    /// How many messages one dispatcher claims at a time.
    pub batch_size: u64,
    /// How many of its claimed messages a dispatcher sends at once, each over its own pooled SMTP connection (at
    /// least 1). One at a time, a relay's round trips, not the work, set the pace.
    pub concurrency: usize,
    /// How long a message that keeps failing for now (an unreachable relay, a 4xx answer) is retried, in hours from
    /// its first failure; then it is parked as failed (an administrator can retry it). A relay outage shorter than
    /// this delays mail and loses none. 0: no retries.
    pub retry_for_hours: i64,
    /// Replaced by `retry_for_hours` (a count of attempts parked mail after about an hour of outage). Still accepted,
    /// so that configuration files naming it keep loading, and ignored, with a warning at start-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i32>,
    /// The wait before the first retry, in seconds; it doubles with each attempt (with jitter).
    pub retry_base_seconds: i64,
    /// The longest wait between retries, in seconds (the cap of the doubling).
    pub retry_max_seconds: i64,
    /// How long a dispatcher's claim on a message lasts, in seconds. The dispatcher renews it while it sends, so it
    /// only ends when the dispatcher died (or lost the database): the others take its messages over after this,
    /// with the same Message-ID.
    pub lease_seconds: i64,
    /// Hours before the MIIT SMS deadline when people who have not confirmed get a reminder.
    pub sms_reminder_hours: i64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "beian <noreply@beian.localhost>".to_owned(),
            dispatch: true,
            dispatch_interval_seconds: 5,
            batch_size: 20,
            concurrency: 4,
            retry_for_hours: 24,
            max_attempts: None,
            retry_base_seconds: 30,
            retry_max_seconds: 1800,
            lease_seconds: 300,
            sms_reminder_hours: 6,
        }
    }
}

/// The registrars' webhooks: where their filing events may be posted, and how the dispatcher posts them.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Post webhooks from this process: set to false on replicas that should only serve requests. Any number of
    /// replicas may dispatch at once.
    pub dispatch: bool,
    /// How often the dispatcher looks for due deliveries, in milliseconds.
    pub dispatch_interval_ms: u64,
    /// How many deliveries one dispatcher claims at a time.
    pub batch_size: u64,
    /// How many deliveries a dispatcher posts at once (to different filings or endpoints; one filing's deliveries
    /// to one endpoint always go one after the other).
    pub concurrency: usize,
    /// How long a receiver has to answer one delivery, in seconds (connecting included).
    pub timeout_seconds: u64,
    /// How long a delivery that keeps failing (a timeout, no connection, an answer other than 2xx) is retried, in
    /// hours from its creation; then it is marked failed (an administrator can redeliver it).
    pub retry_for_hours: i64,
    /// The wait before the first retry, in seconds; it doubles with each attempt (with jitter).
    pub retry_base_seconds: i64,
    /// The longest wait between retries, in seconds.
    pub retry_max_seconds: i64,
    /// An endpoint that has answered no delivery for this many hours is disabled, and the registrar's
    /// administrators get an email; enabling it again resumes delivery.
    pub disable_after_hours: i64,
    /// How long a dispatcher's claim on a delivery lasts, in seconds; another dispatcher takes it over after this
    /// when the claiming one died (with the same `webhook-id`).
    pub lease_seconds: i64,
    /// Host names endpoints may name (exact, case-insensitive). Empty: any host on the public internet.
    pub allowed_hosts: Vec<String>,
    /// Let endpoints be plain http and reach loopback, private, link-local (cloud metadata) and other non-public
    /// addresses. For development and for registrars whose systems are on the same private network only: with it,
    /// any administrator can make the server post to addresses inside your network.
    pub allow_private_networks: bool,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            dispatch: true,
            dispatch_interval_ms: 500,
            batch_size: 100,
            concurrency: 16,
            timeout_seconds: 10,
            retry_for_hours: 24,
            retry_base_seconds: 10,
            retry_max_seconds: 3600,
            disable_after_hours: 24,
            lease_seconds: 60,
            allowed_hosts: Vec::new(),
            allow_private_networks: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// S3 endpoint, e.g. `https://s3.cn-north-1.amazonaws.com.cn`, `https://oss-cn-hangzhou.aliyuncs.com`,
    /// `http://minio:9000`. Unset: an S3-compatible server embedded in the process serves `data_dir/s3`.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// Prefix of every object key (keys then continue `tenants/<tenant>/filings/<filing>/...`).
    pub key_prefix: String,
    #[serde(serialize_with = "serialize_optional_secret")]
    pub access_key_id: Option<SecretString>,
    #[serde(serialize_with = "serialize_optional_secret")]
    pub secret_access_key: Option<SecretString>,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most self-hosted stores.
    pub force_path_style: bool,
    /// Where the embedded server listens (loopback; port 0 picks a free one).
    pub embedded_listen: SocketAddr,
    /// How long a presigned upload URL works, in seconds; uploads not completed by then are removed.
    pub upload_url_ttl_seconds: u64,
    /// How long a presigned download URL works, in seconds.
    pub download_url_ttl_seconds: u64,
    /// Largest photo (ID cards, face photo), in bytes.
    pub max_image_bytes: u64,
    /// Largest document (certificates, signed sheets, licences), in bytes.
    pub max_document_bytes: u64,
    /// Largest face-verification video, in bytes.
    pub max_video_bytes: u64,
    /// The longest connecting to the store may take, in seconds (also the longest the start-up check waits).
    pub connect_timeout_seconds: u64,
    /// The longest one attempt of a call to the store may take (sending it, and the answer's headers), in seconds.
    pub attempt_timeout_seconds: u64,
    /// The longest a call to the store may take, all attempts included, in seconds. Then the request that needed it
    /// answers STORAGE_UNAVAILABLE (retryable) and changes nothing.
    pub operation_timeout_seconds: u64,
    /// Attempts of one call (the first included) when the store times out, cannot be reached or answers 5xx.
    pub max_attempts: u32,
    /// The longest streaming a whole file to or from the store may take (checksumming a completed upload, an upload
    /// through the server in parts), in seconds.
    pub transfer_timeout_seconds: u64,
    /// How often every replica checks that the store answers and the bucket exists (recreating it if it was
    /// deleted), in seconds.
    pub check_interval_seconds: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: "us-east-1".to_owned(),
            bucket: "beian".to_owned(),
            key_prefix: String::new(),
            access_key_id: None,
            secret_access_key: None,
            force_path_style: true,
            embedded_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            upload_url_ttl_seconds: 15 * 60,
            download_url_ttl_seconds: 5 * 60,
            max_image_bytes: 10 * 1024 * 1024,
            max_document_bytes: 10 * 1024 * 1024,
            max_video_bytes: 200 * 1024 * 1024,
            connect_timeout_seconds: 3,
            attempt_timeout_seconds: 20,
            operation_timeout_seconds: 45,
            max_attempts: 3,
            transfer_timeout_seconds: 600,
            check_interval_seconds: 30,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// A TOML file replacing the built-in reference data of the ICP rules (approved top-level domains,
    /// certificate types per subject type, pre-approvals, name rules); see src/domain/data/reference.toml.
    pub reference_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Secret that signs access tokens, at least 32 bytes; every replica needs the same one. Unset: in the embedded
    /// default a random secret is created in `data_dir/jwt-secret` and kept there, so restarts keep sessions;
    /// with PostgreSQL it must be set.
    #[serde(serialize_with = "serialize_optional_secret")]
    pub jwt_secret: Option<SecretString>,
    /// Lifetime of an access token, in seconds.
    pub access_token_ttl_seconds: i64,
    /// Lifetime of a refresh token (a signed-in session without activity), in days.
    pub refresh_token_ttl_days: i64,
    /// Clock skew allowed when checking token expiry, in seconds.
    pub clock_skew_seconds: i64,
    /// Login attempts allowed per account every 15 minutes.
    pub login_attempts_per_account: u32,
    /// Login attempts allowed per client address every minute.
    pub login_attempts_per_address: u32,
    /// Sign-ups and password-reset requests (each emails the address) allowed per address every hour.
    pub emails_per_address_per_hour: u32,
    /// Sign-ups and password-reset requests allowed per client address every hour.
    pub email_requests_per_client_per_hour: u32,
    /// Lifetime of an email verification link, in hours.
    pub email_verification_ttl_hours: i64,
    /// Lifetime of a password reset link, in minutes.
    pub password_reset_ttl_minutes: i64,
    /// Lifetime of a staff invitation (account setup link), in hours.
    pub invitation_ttl_hours: i64,
    /// How often an open subscription connection (graphql-ws) checks its credential again while no message flows,
    /// in seconds; a connection whose session ended, account was disabled, API key revoked, access token expired
    /// or registrar suspended is closed. (Every message is checked as it goes out, too.)
    pub connection_check_seconds: u64,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://...` or `postgres://...`. Unset: a SQLite file `beian.sqlite` in `data_dir`.
    #[serde(serialize_with = "serialize_optional_secret")]
    pub url: Option<SecretString>,
    /// Apply pending migrations at start-up. Unset: on for SQLite (the embedded run), off for PostgreSQL, where
    /// `beian migrate` runs them once before a rollout.
    pub auto_migrate: Option<bool>,
    /// Upper bound of the connection pool.
    pub max_connections: u32,
    /// The longest a request waits for a pooled connection, in seconds; then it is answered `DATABASE_BUSY` (retry
    /// later) instead of waiting on.
    pub acquire_timeout_seconds: u64,
    /// PostgreSQL `statement_timeout` of every pooled connection, in seconds: a statement running longer is
    /// cancelled and its request answered `DATABASE_BUSY`. 0: no limit. (`beian migrate` runs without it.)
    pub statement_timeout_seconds: u64,
    /// PostgreSQL `lock_timeout` of every pooled connection, in seconds: a statement that waits longer for a lock
    /// (a row another session holds, e.g. an operator's open transaction) fails, and its request is answered
    /// `DATABASE_BUSY`, instead of holding its pooled connection while it waits. 0: no limit.
    pub lock_timeout_seconds: u64,
    /// PostgreSQL `idle_in_transaction_session_timeout` of every pooled connection, in seconds: a session that
    /// sits in an open transaction this long is ended, and its locks with it. 0: no limit.
    pub idle_in_transaction_timeout_seconds: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            auto_migrate: None,
            max_connections: 10,
            acquire_timeout_seconds: 10,
            statement_timeout_seconds: 30,
            lock_timeout_seconds: 5,
            idle_in_transaction_timeout_seconds: 60,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GraphqlConfig {
    /// Serve the GraphiQL IDE at `GET /graphql`.
    pub graphiql: bool,
    /// Answer introspection queries.
    pub introspection: bool,
    /// Deepest selection nesting a query may have.
    pub max_depth: usize,
    /// Highest complexity (roughly: fields resolved, multiplied through connection sizes) a query may have.
    pub max_complexity: usize,
    /// Most fields one query document may select, counting every alias, `__typename` and fragment spread.
    pub max_fields: usize,
    /// Page size of a connection when `first` is not given.
    pub default_page_size: u32,
    /// Largest `first` a connection accepts.
    pub max_page_size: u32,
    /// A graphql-ws connection that has not sent `connection_init` this long after it opened is closed (4408).
    pub subscription_init_timeout_seconds: u64,
    /// Most subscriptions one graphql-ws connection holds at once; more are refused with `RATE_LIMITED`.
    pub max_subscriptions_per_connection: usize,
    /// Parsed documents of automatic persisted queries one process keeps (least recently used dropped first);
    /// 0 turns persisted queries off.
    pub persisted_queries: usize,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter: `info`, `beian=debug,sqlx=warn`, ...
    pub filter: String,
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            trusted_proxy_hops: 0,
            shutdown_drain_seconds: 0,
            shutdown_grace_seconds: 30,
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            graphql: GraphqlConfig {
                graphiql: true,
                introspection: true,
                max_depth: 15,
                max_complexity: 5000,
                max_fields: 1000,
                default_page_size: 20,
                max_page_size: 100,
                subscription_init_timeout_seconds: 10,
                max_subscriptions_per_connection: 100,
                persisted_queries: 1000,
            },
            auth: AuthConfig {
                jwt_secret: None,
                access_token_ttl_seconds: 15 * 60,
                refresh_token_ttl_days: 30,
                clock_skew_seconds: 30,
                login_attempts_per_account: 10,
                login_attempts_per_address: 30,
                emails_per_address_per_hour: 5,
                email_requests_per_client_per_hour: 30,
                email_verification_ttl_hours: 48,
                password_reset_ttl_minutes: 60,
                invitation_ttl_hours: 72,
                connection_check_seconds: 30,
            },
            rules: RulesConfig::default(),
            storage: StorageConfig::default(),
            mail: MailConfig::default(),
            mobile: MobileConfig::default(),
            webhooks: WebhooksConfig::default(),
            jobs: JobsConfig::default(),
            workflow: WorkflowConfig::default(),
            pii: PiiConfig::default(),
            log: LogConfig { filter: "info".to_owned(), format: LogFormat::Text },
            telemetry: TelemetryConfig::default(),
        }
    }
}

/// Top-level sections whose settings `BEIAN_<SECTION>_<KEY>` addresses, e.g. `BEIAN_DATABASE_URL`.
const SECTIONS: &[&str] = &[
    "http",
    "database",
    "graphql",
    "auth",
    "rules",
    "storage",
    "mail",
    "mobile",
    "webhooks",
    "jobs",
    "workflow",
    "pii",
    "log",
    "telemetry",
];

/// The prefix of the environment variables that configure beian.
const ENV_PREFIX: &str = "BEIAN_";

/// What a `BEIAN_*` environment variable is to the configuration.
#[derive(Debug, PartialEq, Eq)]
enum EnvVariable {
    /// A setting, by its key path (`BEIAN_DATABASE_URL`: `database.url`).
    Setting(String),
    /// Known, but not a setting: `BEIAN_CONFIG` names the file (a command-line flag), `BEIAN_TEST_*` belong to the
    /// test harness.
    NotASetting,
    /// Anything else: another program's (a Kubernetes service link, a deploy script's `BEIAN_BIN`) or a typo.
    Unknown,
}

impl EnvVariable {
    /// Classifies a variable by its name after the `BEIAN_` prefix (in any case).
    fn classify(rest: &str) -> Self {
        let key = rest.to_ascii_lowercase();
        if key == "config" || key.starts_with("test_") {
            return Self::NotASetting;
        }
        let path = SECTIONS
            .iter()
            .find_map(|section| {
                key.strip_prefix(section).and_then(|r| r.strip_prefix('_')).map(|rest| format!("{section}.{rest}"))
            })
            .unwrap_or(key);
        if setting_keys().contains(&path) { Self::Setting(path) } else { Self::Unknown }
    }
}

/// Every setting's key path (`listen`, `database.url`, ...; a section's name too), from the defaults: an optional
/// setting that is unset serializes as null, so it is listed as well.
fn setting_keys() -> &'static std::collections::BTreeSet<String> {
    static KEYS: std::sync::OnceLock<std::collections::BTreeSet<String>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
        let mut keys = std::collections::BTreeSet::new();
        for (name, value) in defaults.as_object().into_iter().flatten() {
            keys.insert(name.clone());
            if let Some(section) = value.as_object().filter(|_| SECTIONS.contains(&name.as_str())) {
                keys.extend(section.keys().map(|key| format!("{name}.{key}")));
            }
        }
        keys
    })
}

impl Config {
    /// Loads defaults, then the TOML file (if given), then `BEIAN_*` environment variables. An unknown key in the
    /// file is an error (a typo must not go unnoticed); an environment variable that names no setting is ignored
    /// ([`Config::ignored_environment_variables`] names them for a warning): the environment is shared with
    /// others, e.g. Kubernetes adds `BEIAN_SERVICE_HOST`, `BEIAN_PORT`, ... for a Service named `beian`.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                let message = format!("configuration file {} does not exist", file.display());
                return Err(Box::new(figment::Error::from(message)));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(Env::prefixed(ENV_PREFIX).filter_map(|rest| match EnvVariable::classify(rest.as_str()) {
                EnvVariable::Setting(key) => Some(key.into()),
                EnvVariable::NotASetting | EnvVariable::Unknown => None,
            }))
            .extract()
            .map_err(Box::new)
    }

    /// The names (never the values: they may be secrets) of the `BEIAN_*` environment variables that name no
    /// setting and that [`Config::load`] therefore ignored.
    pub fn ignored_environment_variables() -> Vec<String> {
        let mut names: Vec<String> = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .filter(|name| {
                name.get(..ENV_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
                    && matches!(EnvVariable::classify(&name[ENV_PREFIX.len()..]), EnvVariable::Unknown)
            })
            .collect();
        names.sort();
        names
    }

    /// The database URL in effect, with the embedded SQLite default filled in.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("beian.sqlite").display()),
        }
    }

    /// Whether the database is the embedded SQLite kind.
    pub fn is_sqlite(&self) -> bool {
        self.database_url().starts_with("sqlite:")
    }

    /// The token-signing secret: configured, or in the embedded default created once and kept in the data folder.
    pub fn jwt_secret(&self) -> Result<Vec<u8>, String> {
        if let Some(secret) = &self.auth.jwt_secret {
            return Ok(secret.expose_secret().as_bytes().to_vec());
        }
        if self.database.url.is_some() && !self.is_sqlite() {
            return Err(
                "set auth.jwt_secret (BEIAN_AUTH_JWT_SECRET): every replica must sign with the same secret".into()
            );
        }
        let path = self.data_dir.join("jwt-secret");
        if let Ok(existing) = std::fs::read_to_string(&path) {
            return Ok(existing.trim().as_bytes().to_vec());
        }
        create_private_dir(&self.data_dir).map_err(|e| format!("cannot create {}: {e}", self.data_dir.display()))?;
        let (secret, _) = crate::auth::tokens::opaque("");
        write_private(&path, &secret).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(secret.into_bytes())
    }

    /// The personal-data keyring: configured, or in the embedded default created once and kept in the data folder.
    pub fn pii_keyring(&self) -> Result<crate::pii::Keyring, String> {
        use crate::pii::Keyring;
        let pii = &self.pii;
        if !pii.keys.is_empty() || pii.index_key.is_some() {
            let current = match (&pii.current_key, pii.keys.len()) {
                (Some(current), _) => current.clone(),
                (None, 1) => pii.keys.keys().next().cloned().unwrap_or_default(),
                (None, _) => return Err("set pii.current_key: the key new personal data is sealed under".into()),
            };
            let index = pii.index_key.as_ref().ok_or("set pii.index_key (BEIAN_PII_INDEX_KEY)")?;
            return Keyring::new(
                pii.keys.iter().map(|(id, key)| (id.as_str(), key.expose_secret())),
                &current,
                index.expose_secret(),
            );
        }
        if self.database.url.is_some() && !self.is_sqlite() {
            return Err("set pii.keys, pii.current_key and pii.index_key (BEIAN_PII_*): every replica must seal \
                        personal data with the same keys (`beian pii generate-key` makes one)"
                .into());
        }
        #[derive(Deserialize, Serialize)]
        struct Local {
            current_key: String,
            index_key: String,
            keys: std::collections::BTreeMap<String, String>,
        }
        let path = self.data_dir.join("pii-keys.toml");
        let local: Local = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(_) => {
                create_private_dir(&self.data_dir)
                    .map_err(|e| format!("cannot create {}: {e}", self.data_dir.display()))?;
                let local = Local {
                    current_key: "local".into(),
                    index_key: Keyring::generate_key(),
                    keys: [("local".to_owned(), Keyring::generate_key())].into(),
                };
                let text = toml::to_string(&local).map_err(|e| e.to_string())?;
                write_private(&path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                local
            }
        };
        Keyring::new(
            local.keys.iter().map(|(id, key)| (id.as_str(), key.as_str())),
            &local.current_key,
            &local.index_key,
        )
    }

    /// The reference data of the rules: the configured file, or the built-in data.
    pub fn reference_data(&self) -> Result<std::sync::Arc<crate::domain::reference::ReferenceData>, String> {
        use crate::domain::reference::ReferenceData;
        match &self.rules.reference_file {
            None => Ok(ReferenceData::built_in()),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                ReferenceData::parse(&text)
                    .map(std::sync::Arc::new)
                    .map_err(|e| format!("invalid reference data in {}: {e}", path.display()))
            }
        }
    }

    /// Whether start-up applies pending migrations.
    pub fn auto_migrate(&self) -> bool {
        self.database.auto_migrate.unwrap_or_else(|| self.is_sqlite())
    }
}

/// A database URL fit for logs: the password, if any, replaced.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("*****"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "<unparseable URL>".to_owned(),
    }
}

/// Creates the data folder, or makes an existing one, the owner's alone (mode 0700): it holds the SQLite database,
/// the generated secrets, the embedded store's files (ID photos) and the mail (.eml files) of the embedded default.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

fn serialize_secret_map<S: serde::Serializer>(
    value: &std::collections::BTreeMap<String, SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(value.len()))?;
    for (id, secret) in value {
        map.serialize_entry(id, secret.expose_secret())?;
    }
    map.end()
}

fn serialize_optional_secret<S: serde::Serializer>(value: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(secret) => s.serialize_some(secret.expose_secret()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
// figment::Jail closures must return figment::Error, whatever its size.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_keys_come_from_the_environment_or_the_embedded_data_folder() {
        figment::Jail::expect_with(|jail| {
            let key = crate::pii::Keyring::generate_key();
            jail.set_env("BEIAN_PII_KEYS", format!("{{k2026=\"{key}\",k2025=\"{key}\"}}"));
            jail.set_env("BEIAN_PII_CURRENT_KEY", "k2026");
            jail.set_env("BEIAN_PII_INDEX_KEY", &key);
            let config = Config::load(None).map_err(|e| e.to_string())?;
            let keys = config.pii_keyring().map_err(figment::Error::from)?;
            assert_eq!(keys.current_key(), "k2026");
            assert!(!format!("{config:?}").contains(&key), "keys never reach the logs");
            Ok(())
        });
        // PostgreSQL without keys: refused with the variables to set.
        let mut config = Config::default();
        config.database.url = Some(SecretString::from("postgres://beian@db/beian"));
        assert!(config.pii_keyring().unwrap_err().contains("BEIAN_PII_"));
        // The embedded default: created once, readable by its owner only, the same after a restart.
        let dir = tempfile::tempdir().unwrap();
        let config = Config { data_dir: dir.path().join("data"), ..Config::default() };
        let tenant = uuid::Uuid::now_v7();
        let sealed = config.pii_keyring().unwrap().seal(tenant, "13800138000");
        let file = dir.path().join("data").join("pii-keys.toml");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(config.pii_keyring().unwrap().open(tenant, &sealed).unwrap(), "13800138000");
    }

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(redact_url("postgres://beian:s3cret@db:5432/beian"), "postgres://beian:*****@db:5432/beian");
        assert_eq!(redact_url("postgres://postgres@127.0.0.1/test"), "postgres://postgres@127.0.0.1/test");
        let config = Config {
            database: DatabaseConfig {
                url: Some(SecretString::from("postgres://u:hunter2@h/d")),
                ..Config::default().database
            },
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn environment_overrides_the_file_which_overrides_the_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "beian.toml",
                r#"
                listen = "0.0.0.0:9000"
                [database]
                max_connections = 3
                [graphql]
                max_page_size = 50
                graphiql = false
                "#,
            )?;
            jail.set_env("BEIAN_GRAPHQL_MAX_PAGE_SIZE", "70");
            jail.set_env("BEIAN_DATABASE_URL", "postgres://beian:pw@db/beian");
            jail.set_env("BEIAN_DATABASE_AUTO_MIGRATE", "true");
            jail.set_env("BEIAN_MAIL_SMTP_URL", "smtp://relay:25");
            jail.set_env("BEIAN_MOBILE_SESSION_TTL_MINUTES", "10");
            jail.set_env("BEIAN_JOBS_SMS_DEADLINE_INTERVAL_SECONDS", "5");
            jail.set_env("BEIAN_TELEMETRY_OTLP_ENDPOINT", "http://collector:4318");
            jail.set_env("BEIAN_SHUTDOWN_GRACE_SECONDS", "12");
            let config = Config::load(Some(Path::new("beian.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.listen.to_string(), "0.0.0.0:9000", "from the file");
            assert_eq!(config.database.max_connections, 3, "from the file");
            assert!(!config.graphql.graphiql, "from the file");
            assert_eq!(config.graphql.max_page_size, 70, "the environment wins over the file");
            assert_eq!(config.graphql.default_page_size, 20, "built-in default");
            assert_eq!(config.database_url(), "postgres://beian:pw@db/beian");
            assert!(config.auto_migrate(), "explicitly on for PostgreSQL");
            // Every section is reachable from the environment (a container's usual way to pass secrets).
            assert_eq!(
                config.mail.smtp_url.as_ref().map(|s| s.expose_secret().to_owned()).as_deref(),
                Some("smtp://relay:25")
            );
            assert_eq!(config.mobile.session_ttl_minutes, 10);
            assert_eq!(config.jobs.sms_deadline_interval_seconds, 5);
            assert_eq!(config.telemetry.otlp_endpoint.as_deref(), Some("http://collector:4318"));
            assert_eq!(config.shutdown_grace_seconds, 12);
            Ok(())
        });
    }

    #[test]
    fn every_section_is_reachable_from_the_environment() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let sections: Vec<&String> =
            defaults.as_object().unwrap().iter().filter(|(_, v)| v.is_object()).map(|(k, _)| k).collect();
        assert!(sections.len() >= 10, "{sections:?}");
        for section in sections {
            assert!(
                SECTIONS.contains(&section.as_str()),
                "BEIAN_{}_* would not reach [{section}]",
                section.to_uppercase()
            );
        }
    }

    #[test]
    fn a_file_naming_the_replaced_mail_max_attempts_still_loads_and_mail_retries_for_a_day() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("beian.toml", "[mail]\nmax_attempts = 8\nretry_base_seconds = 10\n")?;
            let config = Config::load(Some(Path::new("beian.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.mail.max_attempts, Some(8), "accepted (and ignored, with a warning at start-up)");
            assert_eq!((config.mail.retry_for_hours, config.mail.retry_base_seconds), (24, 10));
            assert_eq!(Config::default().mail.retry_max_seconds, 1800, "backoff capped at 30 minutes");
            Ok(())
        });
    }

    #[test]
    fn the_shipped_example_configurations_load() {
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
        for name in ["beian.example.toml", "beian.production.toml", "beian.compose.toml"] {
            let config = Config::load(Some(&deploy.join(name))).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(config.shutdown_grace_seconds > 0, "{name}");
        }
        let production = Config::load(Some(&deploy.join("beian.production.toml"))).unwrap();
        assert!(!production.graphql.graphiql && !production.graphql.introspection, "locked down in production");
        assert_eq!(production.log.format, LogFormat::Json);
    }

    /// The variables Kubernetes puts into every container for a Service named `beian` with one port (80, named
    /// `http`), in the same namespace: `{SVC}_SERVICE_HOST`, `_SERVICE_PORT`, `_SERVICE_PORT_{NAME}`, `_PORT` and
    /// `_PORT_{port}_{PROTO}` with its `_PROTO`, `_PORT` and `_ADDR`.
    const KUBERNETES_SERVICE_LINKS: &[(&str, &str)] = &[
        ("BEIAN_SERVICE_HOST", "10.96.0.17"),
        ("BEIAN_SERVICE_PORT", "80"),
        ("BEIAN_SERVICE_PORT_HTTP", "80"),
        ("BEIAN_PORT", "tcp://10.96.0.17:80"),
        ("BEIAN_PORT_80_TCP", "tcp://10.96.0.17:80"),
        ("BEIAN_PORT_80_TCP_PROTO", "tcp"),
        ("BEIAN_PORT_80_TCP_PORT", "80"),
        ("BEIAN_PORT_80_TCP_ADDR", "10.96.0.17"),
    ];

    #[test]
    fn environment_variables_that_name_no_setting_are_ignored_and_named_without_their_values() {
        figment::Jail::expect_with(|jail| {
            for (name, value) in KUBERNETES_SERVICE_LINKS {
                jail.set_env(name, value);
            }
            jail.set_env("BEIAN_BIN", "/opt/beian/bin/beian");
            // In a section's namespace too (a Service named `beian-database`), and a typo of a setting.
            jail.set_env("BEIAN_DATABASE_SERVICE_HOST", "10.96.0.18");
            jail.set_env("BEIAN_DATABASE_MAX_CONECTIONS", "3");
            jail.set_env("BEIAN_DATABASE_MAX_CONNECTIONS", "7");
            jail.set_env("BEIAN_LOG_FILTER", "debug");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.database.max_connections, 7, "known settings still apply");
            assert_eq!(config.log.filter, "debug");
            assert_eq!(config.listen, Config::default().listen, "BEIAN_PORT* and BEIAN_SERVICE_* set nothing");
            let ignored = Config::ignored_environment_variables();
            let mut expected: Vec<&str> = KUBERNETES_SERVICE_LINKS.iter().map(|(name, _)| *name).collect();
            expected.extend(["BEIAN_BIN", "BEIAN_DATABASE_SERVICE_HOST", "BEIAN_DATABASE_MAX_CONECTIONS"]);
            expected.sort();
            assert_eq!(ignored, expected);
            // The file's name and the test harness's variables are not settings, and not unknown either.
            jail.set_env("BEIAN_TEST_ANYTHING", "1");
            assert!(!Config::ignored_environment_variables().iter().any(|n| n.starts_with("BEIAN_TEST_")));
            // A known setting with a bad value stays an error.
            jail.set_env("BEIAN_DATABASE_MAX_CONNECTIONS", "many");
            assert!(Config::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_in_the_file_stays_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("top.toml", "port = 80\n")?;
            let error = Config::load(Some(Path::new("top.toml"))).unwrap_err().to_string();
            assert!(error.contains("port"), "{error}");
            jail.create_file("section.toml", "[database]\nmax_conections = 3\n")?;
            let error = Config::load(Some(Path::new("section.toml"))).unwrap_err().to_string();
            assert!(error.contains("max_conections"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn the_sms_window_is_a_setting_of_at_least_an_hour() {
        assert_eq!(Config::default().workflow.sms_window().unwrap(), chrono::Duration::hours(24));
        figment::Jail::expect_with(|jail| {
            jail.set_env("BEIAN_WORKFLOW_SMS_WINDOW_HOURS", "48");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.workflow.sms_window().unwrap(), chrono::Duration::hours(48));
            jail.set_env("BEIAN_WORKFLOW_SMS_WINDOW_HOURS", "0");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            let error = config.workflow.sms_window().unwrap_err().to_string();
            assert!(error.contains("workflow.sms_window_hours"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_file_or_a_bad_value_is_an_error() {
        assert!(Config::load(Some(Path::new("/nonexistent/beian.toml"))).is_err());
        figment::Jail::expect_with(|jail| {
            jail.set_env("BEIAN_LISTEN", "not an address");
            assert!(Config::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn the_embedded_default_is_a_migrated_sqlite_file_in_the_data_folder() {
        let config = Config::default();
        assert_eq!(config.database_url(), "sqlite://./data/beian.sqlite?mode=rwc");
        assert!(config.is_sqlite());
        assert!(config.auto_migrate());
        let postgres = Config {
            database: DatabaseConfig { url: Some(SecretString::from("postgres://h/d")), ..Config::default().database },
            ..Config::default()
        };
        assert!(!postgres.auto_migrate());
    }
}
