//! Attachments in S3, through one code path (aws-sdk-s3) whatever the store: AWS S3, MinIO, Alibaba OSS or
//! Tencent COS in S3 mode, or the S3-compatible server embedded in the default run.

pub mod embedded;

use std::time::Duration;

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::config::Config;

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

/// An SDK error with its whole context (the service's code and message, or the transport's cause).
fn sdk_error<E: std::error::Error + 'static, R: std::fmt::Debug>(e: aws_sdk_s3::error::SdkError<E, R>) -> StorageError {
    StorageError::Request(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
}

fn request_error(e: impl std::fmt::Display) -> StorageError {
    StorageError::Request(e.to_string())
}

/// The object store of the server.
pub struct Storage {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    /// Buckets known to exist (created on first use).
    known_buckets: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Keeps the embedded server running as long as the storage is in use.
    _embedded: Option<embedded::EmbeddedS3>,
}

impl Storage {
    /// Connects to the configured store, or starts the embedded one; makes sure the bucket exists.
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
        let s3_config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new(storage.region.clone()))
            .credentials_provider(Credentials::new(access_key, secret_key, None, None, "beian-config"))
            .force_path_style(storage.force_path_style)
            // Checksums only where S3 requires them: S3-compatible stores differ in what they accept.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        let this = Self {
            client: aws_sdk_s3::Client::from_conf(s3_config),
            bucket: storage.bucket.clone(),
            prefix: storage.key_prefix.trim_matches('/').to_owned(),
            known_buckets: Default::default(),
            _embedded: embedded,
        };
        this.ensure_bucket(&this.bucket).await?;
        Ok(this)
    }

    /// Makes sure a bucket exists, creating it if it does not (once per bucket and process).
    pub async fn ensure_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        if self.known_buckets.lock().expect("not poisoned").contains(bucket) {
            return Ok(());
        }
        if self.client.head_bucket().bucket(bucket).send().await.is_err() {
            self.client.create_bucket().bucket(bucket).send().await.map_err(|e| {
                StorageError::Config(format!(
                    "bucket {bucket} neither exists nor can be created: {}",
                    e.into_service_error()
                ))
            })?;
        }
        self.known_buckets.lock().expect("not poisoned").insert(bucket.to_owned());
        Ok(())
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

    /// Size and type of an object; `None` when it does not exist.
    pub async fn head(&self, object: &ObjectRef) -> Result<Option<ObjectMeta>, StorageError> {
        match self.client.head_object().bucket(&object.bucket).key(&object.key).send().await {
            Ok(out) => Ok(Some(ObjectMeta {
                size: out.content_length().unwrap_or(0).max(0) as u64,
                content_type: out.content_type().map(str::to_owned),
            })),
            Err(e) => {
                let service = e.into_service_error();
                if service.is_not_found() { Ok(None) } else { Err(request_error(service)) }
            }
        }
    }

    /// The first `n` bytes of an object (a ranged GET).
    pub async fn read_head_bytes(&self, object: &ObjectRef, n: u64) -> Result<Vec<u8>, StorageError> {
        let out = self
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .range(format!("bytes=0-{}", n.saturating_sub(1)))
            .send()
            .await
            .map_err(sdk_error)?;
        let bytes = out.body.collect().await.map_err(request_error)?.into_bytes();
        Ok(bytes.iter().take(n as usize).copied().collect())
    }

    /// SHA-256 of an object, streamed (never held whole in memory), hex.
    pub async fn sha256(&self, object: &ObjectRef) -> Result<String, StorageError> {
        let mut out =
            self.client.get_object().bucket(&object.bucket).key(&object.key).send().await.map_err(sdk_error)?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = out.body.next().await {
            hasher.update(chunk.map_err(request_error)?);
        }
        Ok(hex::encode(hasher.finalize()))
    }

    /// Uploads a local (temporary) file, in parts when it is large: never more than a part in memory.
    pub async fn put_file(
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
                    Err(error) => match self.head(object).await {
                        Ok(Some(meta)) if meta.size == size => {
                            tracing::warn!(%error, "multipart upload completed, but the store's answer was odd");
                            Ok(())
                        }
                        _ => Err(error),
                    },
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
    }

    /// Deletes an object; deleting what is not there is not an error.
    pub async fn delete(&self, object: &ObjectRef) -> Result<(), StorageError> {
        self.client.delete_object().bucket(&object.bucket).key(&object.key).send().await.map_err(sdk_error)?;
        Ok(())
    }
}
