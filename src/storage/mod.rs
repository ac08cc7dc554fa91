//! Attachments in S3, through one code path (aws-sdk-s3) whatever the store: AWS S3, MinIO, Alibaba OSS or
//! Tencent COS in S3 mode, or the S3-compatible server embedded in the default run.

pub mod embedded;

use std::time::Duration;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::config::{Config, StorageConfig};

/// Where an object lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
}

/// Where a tenant's materials go, when it has a place of its own.
#[derive(Clone, Debug, Default)]
pub struct TenantPlace {
    pub bucket: Option<String>,
    pub prefix: Option<String>,
}

/// What HEAD tells about a stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub content_type: Option<String>,
}

/// A request the client sends straight to S3.
#[derive(Clone, Debug)]
pub struct PresignedRequest {
    pub method: String,
    pub url: String,
    /// Headers the client must send exactly (they are part of the signature).
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage request failed: {0}")]
    Request(String),
    /// The store could not be reached, did not answer in time, or answered that it is failing (5xx, throttling):
    /// nothing is wrong with the request, it may work later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage is misconfigured: {0}")]
    Config(String),
    #[error("no such object")]
    Missing,
}

/// A handle on `file` positioned at `offset`. Clones of a file share its position, so every reader seeks first.
fn positioned(file: &std::fs::File, offset: u64) -> Result<tokio::fs::File, StorageError> {
    use std::io::{Seek, SeekFrom};
    let mut clone = file.try_clone().map_err(request_error)?;
    clone.seek(SeekFrom::Start(offset)).map_err(request_error)?;
    Ok(tokio::fs::File::from_std(clone))
}

/// An SDK error with its whole context (the service's code and message, or the transport's cause): unavailable
/// when the store was not reached, did not answer in time, or answered 5xx or 429; a failed request otherwise.
fn sdk_error<E: std::error::Error + 'static>(e: SdkError<E, HttpResponse>) -> StorageError {
    let unavailable = match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            status >= 500 || status == 429
        }
        _ => false,
    };
    let text = aws_sdk_s3::error::DisplayErrorContext(&e).to_string();
    if unavailable { StorageError::Unavailable(text) } else { StorageError::Request(text) }
}

fn request_error(e: impl std::fmt::Display) -> StorageError {
    StorageError::Request(e.to_string())
}

/// A body that broke off while it was being read: the connection, not the request.
fn unavailable(e: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable(e.to_string())
}

/// What this process knows of the store's health: whether its last call reached it, and how many calls failed. Read
/// by `/readyz` and `/metrics`; updated by every call and by the background check ([`Storage::check`]).
#[derive(Debug, Default)]
pub struct StorageHealth {
    /// 0: not checked yet; 1: up; 2: unavailable.
    state: AtomicU8,
    failed_calls: AtomicU64,
}

/// Where the store stands, as far as this process knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageState {
    /// No call has finished yet (the start-up check is still running).
    Unknown,
    Up,
    /// The last call could not reach the store (or it answered that it is failing).
    Unavailable,
}

impl StorageHealth {
    pub fn state(&self) -> StorageState {
        match self.state.load(Ordering::Relaxed) {
            1 => StorageState::Up,
            2 => StorageState::Unavailable,
            _ => StorageState::Unknown,
        }
    }

    /// Calls to the store that failed since the process started (not counting "no such object" answers).
    pub fn failed_calls(&self) -> u64 {
        self.failed_calls.load(Ordering::Relaxed)
    }

    fn observe<T>(&self, result: &Result<T, StorageError>) {
        match result {
            Ok(_) | Err(StorageError::Missing) => self.state.store(1, Ordering::Relaxed),
            Err(StorageError::Unavailable(_)) => {
                self.state.store(2, Ordering::Relaxed);
                self.failed_calls.fetch_add(1, Ordering::Relaxed);
            }
            // The store answered: it is up, the request was wrong (or the store misconfigured).
            Err(_) => {
                self.state.store(1, Ordering::Relaxed);
                self.failed_calls.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// How long calls to the store may take (from `[storage]`).
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// The longest a call that sends or receives no body as a stream may take, all attempts included.
    operation: Duration,
    /// The longest a call that streams a whole object (checksumming, uploading in parts) may take.
    transfer: Duration,
}

/// The object store of the server.
pub struct Storage {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    limits: Limits,
    health: Arc<StorageHealth>,
    /// Where browsers send presigned uploads: the endpoint's origin and, with virtual-hosted addressing, its
    /// subdomains (`bucket.host`), as a Content-Security-Policy source list.
    upload_origins: String,
    /// Keeps the embedded server running as long as the storage is in use.
    embedded_server: Option<embedded::EmbeddedS3>,
}

/// The CSP sources a presigned URL of `endpoint` may have: its origin, and with virtual-hosted addressing
/// (`bucket.host`) any subdomain of its host too.
fn upload_origins(endpoint: &str, path_style: bool) -> String {
    let Ok(url) = url::Url::parse(endpoint) else { return String::new() };
    let Some(host) = url.host_str() else { return String::new() };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let origin = format!("{}://{host}{port}", url.scheme());
    if path_style || url.host().is_some_and(|h| !matches!(h, url::Host::Domain(_))) {
        origin
    } else {
        format!("{origin} {}://*.{host}{port}", url.scheme())
    }
}

/// The SDK's time limits and retries: a connect timeout, a per-attempt and a whole-operation timeout, and a bounded
/// number of attempts (the SDK's standard retry mode, whose shared retry quota also stops retrying a store that is
/// down). Without them a store that accepts connections and never answers holds a request for ever.
fn sdk_limits(storage: &StorageConfig) -> (TimeoutConfig, RetryConfig) {
    let seconds = |s: u64| Duration::from_secs(s.max(1));
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(seconds(storage.connect_timeout_seconds))
        .operation_attempt_timeout(seconds(storage.attempt_timeout_seconds))
        .operation_timeout(seconds(storage.operation_timeout_seconds))
        .build();
    let retries = RetryConfig::standard()
        .with_max_attempts(storage.max_attempts.max(1))
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(5));
    (timeouts, retries)
}

impl Storage {
    /// Connects to the configured store, or starts the embedded one, and checks the bucket (creating it if it is
    /// missing) for at most the connect timeout. A store that cannot be reached does not stop the start: the
    /// server serves what needs no file, calls answer [`StorageError::Unavailable`], and the background check
    /// ([`Storage::check`]) finds the store again when it returns.
    pub async fn connect(config: &Config) -> Result<Self, StorageError> {
        let storage = &config.storage;
        let (endpoint, access_key, secret_key, embedded) = match &storage.endpoint {
            Some(endpoint) => {
                let (Some(ak), Some(sk)) = (&storage.access_key_id, &storage.secret_access_key) else {
                    return Err(StorageError::Config(
                        "storage.access_key_id and storage.secret_access_key are required with storage.endpoint".into(),
                    ));
                };
                (endpoint.clone(), ak.expose_secret().to_owned(), sk.expose_secret().to_owned(), None)
            }
            None => {
                let server = embedded::start(&config.data_dir.join("s3"), storage.embedded_listen)
                    .await
                    .map_err(|e| StorageError::Config(format!("cannot start the embedded S3 server: {e}")))?;
                (server.endpoint.clone(), server.access_key.clone(), server.secret_key.clone(), Some(server))
            }
        };
        let upload_origins = upload_origins(&endpoint, storage.force_path_style);
        let (timeouts, retries) = sdk_limits(storage);
        let s3_config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new(storage.region.clone()))
            .credentials_provider(Credentials::new(access_key, secret_key, None, None, "beian-config"))
            .force_path_style(storage.force_path_style)
            // Checksums only where S3 requires them: S3-compatible stores differ in what they accept.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .timeout_config(timeouts)
            .retry_config(retries)
            .build();
        let this = Self {
            client: aws_sdk_s3::Client::from_conf(s3_config),
            bucket: storage.bucket.clone(),
            prefix: storage.key_prefix.trim_matches('/').to_owned(),
            limits: Limits {
                // A little more than the SDK's own limit, which fires first: this one is the backstop.
                operation: Duration::from_secs(storage.operation_timeout_seconds.max(1) + 1),
                transfer: Duration::from_secs(storage.transfer_timeout_seconds.max(1)),
            },
            health: Arc::default(),
            upload_origins,
            embedded_server: embedded,
        };
        let first = Duration::from_secs(storage.connect_timeout_seconds.max(1));
        match tokio::time::timeout(first, this.check()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "storage not ready; starting anyway and checking again later"),
            Err(_) => tracing::warn!("storage did not answer at start; starting anyway and checking again later"),
        }
        Ok(this)
    }

    /// Where a browser's presigned uploads go, as CSP sources (`connect-src` of a page that uploads).
    pub fn upload_origins(&self) -> &str {
        &self.upload_origins
    }

    /// The store's health as this process sees it.
    pub fn health(&self) -> Arc<StorageHealth> {
        self.health.clone()
    }

    /// Checks that the configured bucket exists, creating it when it does not (at start, and again and again in the
    /// background: a store that was down is found again, a bucket deleted meanwhile is recreated).
    pub async fn check(&self) -> Result<(), StorageError> {
        self.ensure_bucket(&self.bucket).await
    }

    /// Runs a call to the store within `limit` (a backstop to the SDK's own timeouts, which do not cover reading a
    /// streamed body) and records its outcome in the store's health.
    async fn call<T>(
        &self,
        limit: Duration,
        call: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        // On the heap: the SDK's futures are large, and every caller's future would otherwise carry them inline.
        let result = match tokio::time::timeout(limit, Box::pin(call)).await {
            Ok(result) => result,
            Err(_) => Err(StorageError::Unavailable(format!("no answer within {} s", limit.as_secs()))),
        };
        self.health.observe(&result);
        result
    }

    /// Makes sure a bucket exists, creating it if it does not. Asked of the store every time (one HEAD): a bucket
    /// deleted while the server runs is recreated, not remembered as existing until a restart.
    pub async fn ensure_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        self.call(self.limits.operation, async {
            match self.client.head_bucket().bucket(bucket).send().await {
                Ok(_) => return Ok(()),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
                Err(e) => return Err(sdk_error(e)),
            }
            match self.client.create_bucket().bucket(bucket).send().await {
                Ok(_) => {
                    tracing::info!(bucket, "bucket created");
                    self.allow_browser_uploads(bucket).await;
                    Ok(())
                }
                // Another replica created it first.
                Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => Ok(()),
                Err(e) => match sdk_error(e) {
                    StorageError::Request(text) => {
                        Err(StorageError::Config(format!("bucket {bucket} neither exists nor can be created: {text}")))
                    }
                    other => Err(other),
                },
            }
        })
        .await
    }

    /// Lets browsers upload to a bucket beian created: phone pages `PUT` to presigned URLs from another origin, so
    /// the bucket must answer their CORS preflight. Any origin may `PUT` with any header: the presigned URL is the
    /// permission, as in the embedded store. A bucket beian did not create keeps its own rules (the README says what
    /// it needs); a store that refuses (no permission, or no CORS at all) is noted and the bucket used all the same.
    async fn allow_browser_uploads(&self, bucket: &str) {
        use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
        if self.embedded_server.is_some() {
            return; // It answers preflights itself.
        }
        let result: Result<(), String> = async {
            let rule = CorsRule::builder()
                .allowed_origins("*")
                .allowed_methods("PUT")
                .allowed_headers("*")
                .expose_headers("ETag")
                .max_age_seconds(3600)
                .build()
                .map_err(|e| e.to_string())?;
            let configuration = CorsConfiguration::builder().cors_rules(rule).build().map_err(|e| e.to_string())?;
            let request = self.client.put_bucket_cors().bucket(bucket).cors_configuration(configuration);
            request.send().await.map_err(|e| sdk_error(e).to_string())?;
            Ok(())
        }
        .await;
        match result {
            Ok(_) => tracing::info!(bucket, "bucket allows uploads from browsers (CORS)"),
            Err(error) => tracing::warn!(
                bucket, %error, "cannot set the bucket's CORS rule: the phone page's uploads fail until it allows PUT"
            ),
        }
    }

    /// Where an attachment goes: the tenant's bucket (or the configured one), keys namespaced by tenant and filing.
    pub fn locate(
        &self,
        place: &TenantPlace,
        tenant: uuid::Uuid,
        filing: uuid::Uuid,
        attachment: uuid::Uuid,
        extension: &str,
    ) -> ObjectRef {
        // Compact UUIDs keep keys short: s3s-fs (the embedded store) names files after bucket and key together.
        let (tenant, filing, attachment) = (tenant.simple(), filing.simple(), attachment.simple());
        let mut key = format!("tenants/{tenant}/filings/{filing}/{attachment}.{extension}");
        for prefix in [place.prefix.as_deref().unwrap_or_default(), self.prefix.as_str()] {
            let prefix = prefix.trim_matches('/');
            if !prefix.is_empty() {
                key = format!("{prefix}/{key}");
            }
        }
        ObjectRef { bucket: place.bucket.clone().unwrap_or_else(|| self.bucket.clone()), key }
    }

    /// A fresh key in the same bucket and folder as `object`, with the same extension: one no URL was ever issued
    /// for (keys are no longer than `object`'s, which s3s-fs needs: it names files after bucket and key).
    pub fn fresh_key_beside(&self, object: &ObjectRef) -> ObjectRef {
        let (folder, name) = object.key.rsplit_once('/').map_or(("", object.key.as_str()), |(f, n)| (f, n));
        let mut key = if folder.is_empty() { String::new() } else { format!("{folder}/") };
        key.push_str(&uuid::Uuid::now_v7().simple().to_string());
        if let Some((_, extension)) = name.rsplit_once('.') {
            key = format!("{key}.{extension}");
        }
        ObjectRef { bucket: object.bucket.clone(), key }
    }

    /// An object stored earlier, in `bucket` or the configured one.
    pub fn object(&self, bucket: Option<&str>, key: &str) -> ObjectRef {
        ObjectRef { bucket: bucket.unwrap_or(&self.bucket).to_owned(), key: key.to_owned() }
    }

    /// A presigned PUT that only accepts this content type, this size and (where the store verifies checksums, as
    /// S3 does) only the content whose SHA-256 (hex) is `sha256`: the checksum header is signed, so the client must
    /// send it as given and the store refuses a body that does not match it.
    pub async fn presign_put(
        &self,
        object: &ObjectRef,
        content_type: &str,
        size: u64,
        sha256: &str,
        expires_in: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        use base64::Engine;
        let digest = hex::decode(sha256).map_err(|e| StorageError::Request(format!("not a hex SHA-256: {e}")))?;
        let presigned = self
            .client
            .put_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .content_type(content_type)
            .content_length(size as i64)
            .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(digest))
            .presigned(PresigningConfig::expires_in(expires_in).map_err(request_error)?)
            .await
            .map_err(request_error)?;
        Ok(PresignedRequest {
            method: presigned.method().to_owned(),
            url: presigned.uri().to_owned(),
            headers: presigned.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        })
    }

    /// A presigned GET that downloads under `file_name`.
    pub async fn presign_get(
        &self,
        object: &ObjectRef,
        file_name: &str,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        let disposition = format!(
            "attachment; filename*=UTF-8''{}",
            url::form_urlencoded::byte_serialize(file_name.as_bytes()).collect::<String>()
        );
        let presigned = self
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .response_content_disposition(disposition)
            .presigned(PresigningConfig::expires_in(expires_in).map_err(request_error)?)
            .await
            .map_err(request_error)?;
        Ok(presigned.uri().to_owned())
    }

    /// Size and type of an object; `None` when it does not exist (nor its bucket).
    pub async fn head(&self, object: &ObjectRef) -> Result<Option<ObjectMeta>, StorageError> {
        self.call(self.limits.operation, async {
            match self.client.head_object().bucket(&object.bucket).key(&object.key).send().await {
                Ok(out) => Ok(Some(ObjectMeta {
                    size: out.content_length().unwrap_or(0).max(0) as u64,
                    content_type: out.content_type().map(str::to_owned),
                })),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
                Err(e) => Err(sdk_error(e)),
            }
        })
        .await
    }

    /// The first `n` bytes of an object (a ranged GET).
    pub async fn read_head_bytes(&self, object: &ObjectRef, n: u64) -> Result<Vec<u8>, StorageError> {
        self.call(self.limits.operation, async {
            let out = self
                .client
                .get_object()
                .bucket(&object.bucket)
                .key(&object.key)
                .range(format!("bytes=0-{}", n.saturating_sub(1)))
                .send()
                .await
                .map_err(sdk_error)?;
            let bytes = out.body.collect().await.map_err(unavailable)?.into_bytes();
            Ok(bytes.iter().take(n as usize).copied().collect())
        })
        .await
    }

    /// SHA-256 of an object, streamed (never held whole in memory), hex.
    pub async fn sha256(&self, object: &ObjectRef) -> Result<String, StorageError> {
        self.call(self.limits.transfer, async {
            let mut out =
                self.client.get_object().bucket(&object.bucket).key(&object.key).send().await.map_err(sdk_error)?;
            let mut hasher = Sha256::new();
            while let Some(chunk) = out.body.next().await {
                hasher.update(chunk.map_err(unavailable)?);
            }
            Ok(hex::encode(hasher.finalize()))
        })
        .await
    }

    /// Uploads a local (temporary) file, in parts when it is large: never more than a part in memory.
    pub async fn put_file(
        &self,
        object: &ObjectRef,
        content_type: &str,
        file: &std::fs::File,
    ) -> Result<(), StorageError> {
        self.call(self.limits.transfer, self.put_file_unguarded(object, content_type, file)).await
    }

    async fn put_file_unguarded(
        &self,
        object: &ObjectRef,
        content_type: &str,
        file: &std::fs::File,
    ) -> Result<(), StorageError> {
        const PART: u64 = 8 * 1024 * 1024;
        let size = file.metadata().map_err(request_error)?.len();
        if size <= PART {
            let body = ByteStream::read_from()
                .file(positioned(file, 0)?)
                .length(aws_sdk_s3::primitives::Length::Exact(size))
                .build()
                .await
                .map_err(request_error)?;
            self.client
                .put_object()
                .bucket(&object.bucket)
                .key(&object.key)
                .content_type(content_type)
                .body(body)
                .send()
                .await
                .map_err(sdk_error)?;
            return Ok(());
        }
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&object.bucket)
            .key(&object.key)
            .content_type(content_type)
            .send()
            .await
            .map_err(sdk_error)?;
        let upload_id = upload.upload_id().unwrap_or_default().to_owned();
        let result = self.put_parts(object, &upload_id, file, size, PART).await;
        match result {
            Ok(parts) => {
                let completed = self
                    .client
                    .complete_multipart_upload()
                    .bucket(&object.bucket)
                    .key(&object.key)
                    .upload_id(&upload_id)
                    .multipart_upload(
                        aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(parts)).build(),
                    )
                    .send()
                    .await
                    .map_err(sdk_error);
                match completed {
                    Ok(_) => Ok(()),
                    // Some S3-compatible stores answer a completed upload with a response the SDK cannot parse
                    // (moto names the XML root differently): the object itself tells whether it worked.
                    Err(error @ StorageError::Request(_)) => match self.head(object).await {
                        Ok(Some(meta)) if meta.size == size => {
                            tracing::warn!(%error, "multipart upload completed, but the store's answer was odd");
                            Ok(())
                        }
                        _ => Err(error),
                    },
                    Err(error) => Err(error),
                }
            }
            Err(e) => {
                // Leave nothing behind: abandoned parts cost storage.
                let _ = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&object.bucket)
                    .key(&object.key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                Err(e)
            }
        }
    }

    async fn put_parts(
        &self,
        object: &ObjectRef,
        upload_id: &str,
        file: &std::fs::File,
        size: u64,
        part_size: u64,
    ) -> Result<Vec<aws_sdk_s3::types::CompletedPart>, StorageError> {
        let mut parts = Vec::new();
        let mut offset = 0;
        let mut number = 1;
        while offset < size {
            let length = part_size.min(size - offset);
            let body = ByteStream::read_from()
                .file(positioned(file, offset)?)
                .length(aws_sdk_s3::primitives::Length::Exact(length))
                .build()
                .await
                .map_err(request_error)?;
            let out = self
                .client
                .upload_part()
                .bucket(&object.bucket)
                .key(&object.key)
                .upload_id(upload_id)
                .part_number(number)
                .body(body)
                .send()
                .await
                .map_err(sdk_error)?;
            parts.push(
                aws_sdk_s3::types::CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .build(),
            );
            offset += length;
            number += 1;
        }
        Ok(parts)
    }

    /// Copies an object inside the store (one request, objects up to 5 GiB), giving the copy `content_type`;
    /// [`StorageError::Missing`] when there is no source. Whoever can write the source may race the copy: check
    /// what arrived at `to`, not what was at `from`.
    pub async fn copy(&self, from: &ObjectRef, to: &ObjectRef, content_type: &str) -> Result<(), StorageError> {
        // `x-amz-copy-source` is `bucket/key`, the key URL-encoded except for its slashes.
        let mut source = format!("{}/", from.bucket);
        for byte in from.key.bytes() {
            if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
                source.push(byte as char);
            } else {
                source.push_str(&format!("%{byte:02X}"));
            }
        }
        self.call(self.limits.operation, async {
            let copied = self
                .client
                .copy_object()
                .copy_source(source)
                .bucket(&to.bucket)
                .key(&to.key)
                .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
                .content_type(content_type)
                .send()
                .await;
            match copied {
                Ok(_) => Ok(()),
                Err(e) if e.as_service_error().and_then(|s| s.meta().code()) == Some("NoSuchKey") => {
                    Err(StorageError::Missing)
                }
                Err(e) => Err(sdk_error(e)),
            }
        })
        .await
    }

    /// Deletes an object; deleting what is not there is not an error.
    pub async fn delete(&self, object: &ObjectRef) -> Result<(), StorageError> {
        self.call(self.limits.operation, async {
            match self.client.delete_object().bucket(&object.bucket).key(&object.key).send().await {
                Ok(_) => Ok(()),
                // A bucket that is gone holds no object either.
                Err(e) if e.as_service_error().and_then(|s| s.meta().code()) == Some("NoSuchBucket") => Ok(()),
                Err(e) => Err(sdk_error(e)),
            }
        })
        .await
    }
}

#[cfg(test)]
mod upload_origin_tests {
    use super::upload_origins;

    #[test]
    fn a_browser_may_upload_to_the_endpoint_and_with_virtual_hosts_to_its_buckets() {
        assert_eq!(upload_origins("http://127.0.0.1:9000", false), "http://127.0.0.1:9000");
        assert_eq!(upload_origins("http://minio:9000/", true), "http://minio:9000");
        assert_eq!(
            upload_origins("https://oss-cn-hangzhou.aliyuncs.com", false),
            "https://oss-cn-hangzhou.aliyuncs.com https://*.oss-cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(upload_origins("not a url", false), "");
    }
}
