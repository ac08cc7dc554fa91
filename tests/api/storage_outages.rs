//! The object store down, frozen, slow or emptied: requests that need it answer STORAGE_UNAVAILABLE (retryable)
//! within the configured time and change nothing; a deleted bucket comes back; a submission whose material files
//! are gone from the store is refused, naming them.
//!
//! The store is real (moto when `BEIAN_TEST_S3_ENDPOINT` names it, otherwise the embedded server started by the
//! test with keys it knows), reached through a TCP gate of the test's own that forwards, freezes (accepts and never
//! answers) or trickles (answers a byte now and then, never finishing).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use beian::config::Config;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::attachments::{COMPLETE, REQUEST, pdf, png, put, upload_input};
use crate::helpers::*;
use crate::workflow::{STATE, act_err, cast_on, step, upload_materials};

/// A store with keys the test knows.
pub struct TestStore {
    pub endpoint: String,
    access_key: String,
    secret_key: String,
    client: aws_sdk_s3::Client,
    _server: Option<beian::storage::embedded::EmbeddedS3>,
    _dir: tempfile::TempDir,
}

impl TestStore {
    /// moto when `BEIAN_TEST_S3_ENDPOINT` names it, otherwise an embedded server on a free port.
    pub async fn start() -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// The same, an embedded server listening on `listen` (where a server expects its store).
    pub async fn start_on(listen: SocketAddr) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (endpoint, access_key, secret_key, server) =
            match std::env::var("BEIAN_TEST_S3_ENDPOINT").ok().filter(|e| !e.is_empty() && listen.port() == 0) {
                Some(endpoint) => (endpoint, "testing".to_owned(), "testing".to_owned(), None),
                None => {
                    let (access, secret) = ("beiantestaccess".to_owned(), "beian-test-secret".to_owned());
                    let server = beian::storage::embedded::serve(&dir.path().join("s3"), listen, access, secret)
                        .await
                        .expect("the store starts");
                    (server.endpoint.clone(), server.access_key.clone(), server.secret_key.clone(), Some(server))
                }
            };
        let client = client(&endpoint, &access_key, &secret_key);
        TestStore { endpoint, access_key, secret_key, client, _server: server, _dir: dir }
    }

    /// Points `config` at `endpoint` (this store, or a gate in front of it) with this store's keys.
    pub fn configure(&self, config: &mut Config, endpoint: &str) {
        config.storage.endpoint = Some(endpoint.to_owned());
        config.storage.access_key_id = Some(SecretString::from(self.access_key.clone()));
        config.storage.secret_access_key = Some(SecretString::from(self.secret_key.clone()));
        config.storage.bucket = format!("beian-{}", uuid::Uuid::new_v4().simple());
    }

    /// The keys in a bucket (none when the bucket does not exist).
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        match self.client.list_objects_v2().bucket(bucket).send().await {
            Ok(out) => out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect(),
            Err(_) => Vec::new(),
        }
    }

    pub async fn bucket_exists(&self, bucket: &str) -> bool {
        self.client.head_bucket().bucket(bucket).send().await.is_ok()
    }

    /// Deletes an object through the S3 API, as a store that lost it would no longer have it.
    pub async fn delete(&self, bucket: &str, key: &str) {
        self.client.delete_object().bucket(bucket).key(key).send().await.expect("object deleted");
    }

    /// Empties a bucket and deletes it.
    pub async fn destroy(&self, bucket: &str) {
        for key in self.keys(bucket).await {
            self.delete(bucket, &key).await;
        }
        self.client.delete_bucket().bucket(bucket).send().await.expect("bucket deleted");
        assert!(!self.bucket_exists(bucket).await);
    }
}

fn client(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// What the gate does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Forward,
    /// Accepts, reads, never answers (connections forwarded so far freeze too).
    Frozen,
    /// Answers a byte of a response every 300 ms, never finishing it.
    Trickle,
}

/// A TCP gate in front of a store.
pub struct Gate {
    pub endpoint: String,
    mode: Arc<watch::Sender<Mode>>,
}

impl Gate {
    pub async fn start(upstream: &str) -> Gate {
        let upstream: SocketAddr = upstream.trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (mode, _) = watch::channel(Mode::Forward);
        let mode = Arc::new(mode);
        let modes = mode.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(connection(socket, upstream, modes.subscribe()));
            }
        });
        Gate { endpoint, mode }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

async fn connection(mut client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let now = *mode.borrow_and_update();
    match now {
        Mode::Forward => {
            let Ok(mut server) = TcpStream::connect(upstream).await else { return };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
                _ = mode.wait_for(|m| *m != Mode::Forward) => {}
            }
            drop(server);
            hold(client).await;
        }
        Mode::Frozen => hold(client).await,
        Mode::Trickle => trickle(client).await,
    }
}

/// Reads what the client sends and never answers.
async fn hold(mut client: TcpStream) {
    let mut buffer = [0u8; 16 * 1024];
    while let Ok(n) = client.read(&mut buffer).await {
        if n == 0 {
            return;
        }
    }
}

/// Starts an answer and never finishes it: a byte every 300 ms.
async fn trickle(client: TcpStream) {
    let (mut read, mut write) = client.into_split();
    tokio::spawn(async move {
        let mut buffer = [0u8; 16 * 1024];
        while let Ok(n) = read.read(&mut buffer).await {
            if n == 0 {
                return;
            }
        }
    });
    let head = b"HTTP/1.1 200 OK\r\nx-slow: ".iter().copied().chain(std::iter::repeat(b'z'));
    for byte in head {
        if write.write_all(&[byte]).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Short limits, so that a test sees them at work: each call gives up within about 2 s.
pub fn short_limits(config: &mut Config) {
    config.storage.connect_timeout_seconds = 1;
    config.storage.attempt_timeout_seconds = 1;
    config.storage.operation_timeout_seconds = 2;
    config.storage.max_attempts = 2;
    config.storage.transfer_timeout_seconds = 3;
    config.storage.check_interval_seconds = 1;
}

/// The longest a request that needs a frozen store may take with [`short_limits`] (a call's limit and its
/// backstop, and the request's own work).
const WITHIN: Duration = Duration::from_secs(6);

/// A server whose store is reached through a gate.
async fn app_behind_gate() -> (TestApp, TestStore, Gate, String) {
    let store = TestStore::start().await;
    let gate = Gate::start(&store.endpoint).await;
    let mut bucket = String::new();
    let app = spawn_app_with(TestDatabase::new().await, |c| {
        store.configure(c, &gate.endpoint);
        short_limits(c);
        bucket = c.storage.bucket.clone();
    })
    .await;
    (app, store, gate, bucket)
}

/// The error of a request, and how long it took.
async fn timed_err(app: &TestApp, key: &str, query: &str, variables: Value) -> (Value, Duration) {
    let started = Instant::now();
    let error = app.err(key, query, variables).await;
    (error, started.elapsed())
}

fn assert_storage_unavailable(error: &Value, took: Duration) {
    assert_eq!(code(error), "STORAGE_UNAVAILABLE", "{error}");
    assert_eq!(error["extensions"]["retryable"], true, "{error}");
    assert!(error["extensions"]["retryAfterSeconds"].as_u64().is_some_and(|s| s > 0), "{error}");
    assert!(took < WITHIN, "answered after {took:?}, not within the configured timeouts");
}

async fn rows(app: &TestApp, sql: &str) -> i64 {
    crate::processes::scalar(app, sql).await
}

const UPLOAD: &str = "mutation($input: UploadAttachmentInput!, $file: Upload!) { uploadAttachment(input: $input, file: $file) { id status } }";

/// Uploads a PDF through GraphQL multipart; returns the JSON answer.
async fn upload_through_server(app: &TestApp, key: &str, filing: &Value) -> Value {
    let operations = json!({
        "query": UPLOAD,
        "variables": { "input": { "filingId": filing["id"], "kind": "SUBJECT_CERTIFICATE" }, "file": null },
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(pdf()).file_name("licence.pdf").mime_str("application/pdf").unwrap(),
        );
    let response =
        app.client.post(format!("{}/graphql", app.address)).bearer_auth(key).multipart(form).send().await.unwrap();
    response.json().await.unwrap()
}

#[tokio::test]
async fn uploads_and_completions_against_a_frozen_or_trickling_store_answer_storage_unavailable_and_change_nothing() {
    let (app, store, gate, bucket) = app_behind_gate().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let bytes = png(2048);
    let ticket = app.ok(&key, REQUEST, upload_input(&filing, "ID_CARD_FRONT", "front.png", "image/png", &bytes)).await
        ["requestAttachmentUpload"]
        .clone();
    assert_eq!(put(&app, &ticket, bytes).await, 200);
    let stored = store.keys(&bucket).await;
    assert_eq!(stored.len(), 1, "the upload's object: {stored:?}");
    let count = "SELECT COUNT(*) FROM attachments";
    let pending = "SELECT COUNT(*) FROM attachments WHERE status = 'PENDING'";

    for mode in [Mode::Frozen, Mode::Trickle] {
        gate.set(mode);
        let (error, took) = timed_err(&app, &key, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await;
        assert_storage_unavailable(&error, took);

        let started = Instant::now();
        let body = upload_through_server(&app, &key, &filing).await;
        assert_storage_unavailable(&body["errors"][0], started.elapsed());
        assert_eq!(body["data"], Value::Null, "{body}");

        let (error, took) =
            timed_err(&app, &key, REQUEST, upload_input(&filing, "ID_CARD_BACK", "back.png", "image/png", &png(10)))
                .await;
        assert_storage_unavailable(&error, took);

        // Nothing was written: the one attachment is still pending, and the store holds only its upload.
        assert_eq!((rows(&app, count).await, rows(&app, pending).await), (1, 1), "{mode:?}");
        gate.set(Mode::Forward);
        assert_eq!(store.keys(&bucket).await, stored, "{mode:?}: no file was added");
    }

    // The store is back: the same completion works, and so do uploads.
    let done = app.ok(&key, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await;
    assert_eq!(done["completeAttachmentUpload"]["status"], "UPLOADED");
    let body = upload_through_server(&app, &key, &filing).await;
    assert_eq!(body["data"]["uploadAttachment"]["status"], "UPLOADED", "{body}");
}

#[tokio::test]
async fn metrics_and_readyz_report_the_store_and_requests_without_files_still_work_while_it_is_frozen() {
    let (app, _store, gate, _) = app_behind_gate().await;
    let key = app.tenant("xinnet").await;
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.text().await.unwrap(), "ready\nstorage: up\n");
    gate.set(Mode::Frozen);
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let (error, took) =
        timed_err(&app, &key, REQUEST, upload_input(&filing, "ID_CARD_BACK", "back.png", "image/png", &png(10))).await;
    assert_storage_unavailable(&error, took);
    // Readiness holds (the replica serves everything that needs no file) and says where the store stands.
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready\nstorage: unavailable\n");
    let metrics = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "beian_storage_up 0"), "{metrics}");
    let failed = metrics
        .lines()
        .find_map(|l| l.strip_prefix("beian_storage_failed_calls_total "))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("a failed-calls counter in {metrics}"));
    assert!(failed >= 1, "{metrics}");
    assert_eq!(state_of(&app, &key, &filing).await, "DRAFT");

    gate.set(Mode::Forward);
    eventually(10, "the store is reported up again", || async {
        let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
        text.lines().any(|l| l == "beian_storage_up 1")
    })
    .await;
}

async fn state_of(app: &TestApp, key: &str, filing: &Value) -> Value {
    app.ok(key, STATE, json!({ "id": filing["id"] })).await["filing"]["status"].clone()
}

#[tokio::test]
async fn a_bucket_deleted_while_the_server_runs_is_recreated() {
    let store = TestStore::start().await;
    let mut bucket = String::new();
    let app = spawn_app_with(TestDatabase::new().await, |c| {
        store.configure(c, &store.endpoint.clone());
        c.storage.check_interval_seconds = 1;
        bucket = c.storage.bucket.clone();
    })
    .await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    assert_eq!(upload_through_server(&app, &key, &filing).await["data"]["uploadAttachment"]["status"], "UPLOADED");
    store.destroy(&bucket).await;

    // An upload right away finds the bucket gone and creates it again.
    let body = upload_through_server(&app, &key, &filing).await;
    assert_eq!(body["data"]["uploadAttachment"]["status"], "UPLOADED", "{body}");
    assert_eq!(store.keys(&bucket).await.len(), 1);

    // Without any request, the background check recreates it too.
    store.destroy(&bucket).await;
    eventually(10, "the bucket is recreated", || store.bucket_exists(&bucket)).await;
    // And a presigned upload works again.
    let bytes = png(512);
    let ticket = app.ok(&key, REQUEST, upload_input(&filing, "ID_CARD_FRONT", "front.png", "image/png", &bytes)).await
        ["requestAttachmentUpload"]
        .clone();
    assert_eq!(put(&app, &ticket, bytes).await, 200);
    let done = app.ok(&key, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await;
    assert_eq!(done["completeAttachmentUpload"]["status"], "UPLOADED");
}

/// The bucket and key of a filing's material of `kind` (the subject's, not a website's), from the database.
async fn material_object(app: &TestApp, filing: &Value, kind: &str) -> (String, String) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let id =
        beian::graphql::ids::decode(filing["id"].as_str().unwrap(), beian::graphql::ids::Kind::Filing, "id").unwrap();
    let row = entity::attachment::Entity::find()
        .filter(entity::attachment::Column::FilingId.eq(id))
        .filter(entity::attachment::Column::Kind.eq(kind))
        .filter(entity::attachment::Column::WebsiteId.is_null())
        .one(&app.db)
        .await
        .unwrap()
        .expect("the material");
    (row.bucket.expect("a bucket"), row.object_key)
}

const CHECKLIST: &str = "query($id: ID!) { filing(id: $id) { checklist { items { kind websiteId state reason } } } }";

#[tokio::test]
async fn a_submission_whose_material_files_are_gone_from_the_store_is_refused_naming_them() {
    let (app, store, gate, _) = app_behind_gate().await;
    let cast = cast_on(app).await;
    let app = &cast.app;
    let filing = app.create_filing(&cast.applicant, "北京示例科技有限公司").await;
    upload_materials(app, &cast.applicant, &filing).await;
    for kind in ["SUBJECT_CERTIFICATE", "ID_CARD_FRONT"] {
        let (bucket, key) = material_object(app, &filing, kind).await;
        store.delete(&bucket, &key).await;
    }

    let error = act_err(app, &cast.applicant, "submitFiling", &filing).await;
    let mut refused = fields(&error);
    refused.sort();
    assert_eq!(
        refused,
        vec![
            ("materials.ID_CARD_FRONT".to_owned(), "MATERIAL_FILE_MISSING".to_owned()),
            ("materials.SUBJECT_CERTIFICATE".to_owned(), "MATERIAL_FILE_MISSING".to_owned()),
        ]
    );
    assert_eq!(state_of(app, &cast.applicant, &filing).await, "DRAFT");
    // The checklist asks for them again.
    let items =
        app.ok(&cast.applicant, CHECKLIST, json!({ "id": filing["id"] })).await["filing"]["checklist"]["items"].clone();
    for item in items.as_array().unwrap() {
        let gone = ["SUBJECT_CERTIFICATE", "ID_CARD_FRONT"].contains(&item["kind"].as_str().unwrap())
            && item["websiteId"].is_null();
        assert_eq!(item["state"], if gone { "NEEDS_REVISION" } else { "UPLOADED" }, "{item}");
        assert_eq!(item["reason"].as_str().is_some_and(|r| r.contains("upload it again")), gone, "{item}");
    }

    // A store that does not answer is not taken for files that are gone.
    upload_materials(app, &cast.applicant, &filing).await;
    gate.set(Mode::Frozen);
    let version = app.ok(&cast.applicant, STATE, json!({ "id": filing["id"] })).await["filing"]["version"].clone();
    let input = json!({ "input": { "filingId": filing["id"], "version": version } });
    let (error, took) = timed_err(app, &cast.applicant, &step("submitFiling"), input.clone()).await;
    assert_storage_unavailable(&error, took);
    assert_eq!(state_of(app, &cast.applicant, &filing).await, "DRAFT");

    gate.set(Mode::Forward);
    let submitted = app.ok(&cast.applicant, &step("submitFiling"), input).await;
    assert_eq!(submitted["submitFiling"]["status"], "PENDING_REVIEW");
}
