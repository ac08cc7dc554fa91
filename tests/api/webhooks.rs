//! Webhooks: endpoint management (administrators and admin-scope keys only, URLs checked, tenants isolated), and
//! delivery of every event to a real receiver that verifies each signature with the Standard Webhooks reference
//! library from PyPI (tests/webhooks/receiver.py), in order per filing, retried with the same `webhook-id`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::workflow::{Cast, cast_on};

const CREATE: &str = "mutation($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) { secret endpoint { id url enabled eventTypes } } }";
const ENDPOINTS: &str = "{ webhookEndpoints { id url enabled disabledReason failingSince } }";
const LOG: &str = "query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { enabled disabledReason
    deliveries(first: 100) { nodes { id webhookId eventType status attempts lastStatusCode lastError lastLatencyMs
    filingId event { id } } } } } }";

/// A receiver process (tests/webhooks/receiver.py) and where it writes.
pub struct Receiver {
    child: std::process::Child,
    dir: tempfile::TempDir,
    port: u16,
    delay_ms: u32,
}

/// Where the receiver finds the `standardwebhooks` package: already installed, or installed once by the tests into
/// the build folder (from PyPI, with the machine's pip), so `cargo test` needs nothing set up by hand.
fn python_path() -> Option<String> {
    static PATH: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let present = |path: Option<&str>| {
            let mut check = std::process::Command::new("python3");
            check.args(["-c", "import standardwebhooks"]);
            if let Some(path) = path {
                check.env("PYTHONPATH", path);
            }
            check.output().is_ok_and(|o| o.status.success())
        };
        if present(None) {
            return None;
        }
        let target = concat!(env!("CARGO_TARGET_TMPDIR"), "/python");
        if !present(Some(target)) {
            let installed = std::process::Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", target])
                .arg("standardwebhooks>=1.0,<2")
                .status();
            assert!(installed.is_ok_and(|s| s.success()), "pip install standardwebhooks (from PyPI) failed");
        }
        Some(target.to_owned())
    })
    .clone()
}

impl Receiver {
    /// A receiver that answers 500 to its first `fail_first` requests.
    pub async fn start(fail_first: u32) -> Self {
        Self::slow(fail_first, 0).await
    }

    /// A receiver that also takes `delay_ms` to answer each request.
    pub async fn slow(fail_first: u32, delay_ms: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (child, port) = Self::spawn(dir.path(), fail_first, delay_ms, 0).await;
        Self { child, dir, port, delay_ms }
    }

    /// Stops the receiver (connections are refused), waits `down`, and starts it again on the same port, its log
    /// and secrets kept.
    pub async fn outage(&mut self, down: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        tokio::time::sleep(down).await;
        let _ = std::fs::remove_file(self.dir.path().join("port"));
        let (child, port) = Self::spawn(self.dir.path(), 0, self.delay_ms, self.port).await;
        assert_eq!(port, self.port);
        self.child = child;
    }

    async fn spawn(dir: &std::path::Path, fail_first: u32, delay_ms: u32, port: u16) -> (std::process::Child, u16) {
        let port_file = dir.join("port");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webhooks/receiver.py");
        let mut command = std::process::Command::new("python3");
        if let Some(path) = python_path() {
            command.env("PYTHONPATH", path);
        }
        let child = command
            .arg(script)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--secrets-file")
            .arg(dir.join("secrets"))
            .arg("--log")
            .arg(dir.join("log"))
            .arg("--fail-first")
            .arg(fail_first.to_string())
            .arg("--port")
            .arg(port.to_string())
            .arg("--delay-ms")
            .arg(delay_ms.to_string())
            .spawn()
            .expect("python3 runs tests/webhooks/receiver.py (pip install standardwebhooks)");
        let mut port = 0;
        for _ in 0..100 {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                port = text.trim().parse().unwrap();
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(port > 0, "the receiver did not start (is standardwebhooks installed?)");
        (child, port)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn secrets(&self, secrets: &[&str]) {
        std::fs::write(self.dir.path().join("secrets"), secrets.join("\n")).unwrap();
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn webhook_app() -> Cast {
    let app = spawn_app_with(TestDatabase::new().await, |config| {
        config.webhooks.allow_private_networks = true;
        config.webhooks.dispatch_interval_ms = 50;
        config.webhooks.retry_base_seconds = 1;
        config.webhooks.retry_max_seconds = 1;
    })
    .await;
    cast_on(app).await
}

async fn create(app: &TestApp, key: &str, input: Value) -> (String, String) {
    let data = app.ok(key, CREATE, json!({ "input": input })).await;
    let created = &data["createWebhookEndpoint"];
    (created["endpoint"]["id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn endpoints_are_checked_managed_by_administrators_and_invisible_to_other_registrars() {
    let cast = crate::workflow::cast().await;
    let (app, admin) = (&cast.app, &cast.admin);
    // Refused URLs: a field error on `url`, nothing saved.
    for (url, expected) in [
        ("http://hooks.registrar.example/beian", "URL_NOT_ALLOWED"),
        ("https://127.0.0.1/hook", "URL_NOT_ALLOWED"),
        ("https://169.254.169.254/latest/meta-data", "URL_NOT_ALLOWED"),
        ("https://[::1]/hook", "URL_NOT_ALLOWED"),
        ("https://localhost/hook", "URL_NOT_ALLOWED"),
        ("ftp://hooks.registrar.example/", "URL_NOT_ALLOWED"),
        ("https://user:pw@hooks.registrar.example/", "URL_NOT_ALLOWED"),
        ("not a url", "INVALID_URL"),
        ("", "REQUIRED"),
    ] {
        let error = app.err(admin, CREATE, json!({ "input": { "url": url } })).await;
        assert_eq!(code(&error), "BAD_USER_INPUT", "{url}: {error}");
        assert_eq!(fields(&error), vec![("url".to_owned(), expected.to_owned())], "{url}");
    }
    let error =
        app.err(admin, CREATE, json!({ "input": { "url": "https://hooks.example/", "description": "a\nb" } })).await;
    assert_eq!(fields(&error), vec![("description".to_owned(), "CONTROL_CHARACTER".to_owned())]);
    assert_eq!(app.ok(admin, ENDPOINTS, json!({})).await["webhookEndpoints"], json!([]));

    // Administrators and admin-scope keys manage endpoints; reviewers, applicants and other keys do not.
    let input =
        json!({ "input": { "url": "https://hooks.registrar.example/beian", "eventTypes": ["BUREAU_APPROVED"] } });
    for refused in [&cast.reviewer, &cast.applicant, &cast.backend] {
        assert_eq!(code(&app.err(refused, CREATE, input.clone()).await), "FORBIDDEN");
        assert_eq!(code(&app.err(refused, ENDPOINTS, json!({})).await), "FORBIDDEN");
    }
    let key = "mutation { createApiKey(name: \"deploy\", scope: ADMIN) { secret } }";
    let admin_key = app.ok(admin, key, json!({})).await["createApiKey"]["secret"].as_str().unwrap().to_owned();
    let (id, secret) = create(app, &admin_key, input["input"].clone()).await;
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");
    let listed = app.ok(admin, ENDPOINTS, json!({})).await["webhookEndpoints"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());

    // Another registrar's administrator cannot read, change, test, rotate or remove it.
    app.tenant("west-cloud").await;
    let other = crate::people::first_admin(app, "west-cloud", "admin@west.example").await;
    let other = crate::people::access(&other);
    assert_eq!(app.ok(&other, ENDPOINTS, json!({})).await["webhookEndpoints"], json!([]));
    for (query, variables) in [
        ("query($id: ID!) { node(id: $id) { id } }", json!({ "id": id })),
        ("mutation($id: ID!) { pingWebhookEndpoint(id: $id) { id } }", json!({ "id": id })),
        ("mutation($id: ID!) { rotateWebhookEndpointSecret(id: $id) { secret } }", json!({ "id": id })),
        ("mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }", json!({ "id": id })),
        (
            "mutation($id: ID!) { updateWebhookEndpoint(input: { id: $id, enabled: false }) { id } }",
            json!({ "id": id }),
        ),
    ] {
        let error = app.err(&other, query, variables).await;
        assert_eq!(code(&error), "NOT_FOUND", "{query}: {error}");
    }
    let still = app.ok(admin, ENDPOINTS, json!({})).await["webhookEndpoints"].clone();
    assert_eq!(still[0]["enabled"], true, "nothing of it changed");

    // Its own administrator removes it.
    let delete = "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }";
    app.ok(admin, delete, json!({ "id": id })).await;
    assert_eq!(app.ok(admin, ENDPOINTS, json!({})).await["webhookEndpoints"], json!([]));
}

#[tokio::test]
async fn every_event_reaches_the_receiver_signed_in_order_and_retried_with_the_same_id() {
    let cast = webhook_app().await;
    let (app, admin, key) = (&cast.app, &cast.admin, &cast.backend);
    let receiver = Receiver::start(3).await;
    let (endpoint, secret) = create(app, admin, json!({ "url": receiver.url(), "description": "billing" })).await;
    receiver.secrets(&[&secret]);
    // Another registrar with its own events and no endpoint of ours.
    let other = app.tenant("west-cloud").await;
    app.create_filing(&other, "西部云客户有限公司").await;

    let update = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }";
    let a = app.create_filing(key, "北京甲科技有限公司").await;
    let b = app.create_filing(key, "北京乙科技有限公司").await;
    for (filing, name) in [(&a, "北京甲二科技有限公司"), (&b, "北京乙二科技有限公司")] {
        let input = json!({ "input": { "filingId": filing["id"], "version": 1, "subject": subject_input(name) } });
        app.ok(key, update, input).await;
    }
    let input =
        json!({ "input": { "filingId": a["id"], "version": 2, "subject": subject_input("北京甲三科技有限公司") } });
    app.ok(key, update, input).await;

    // What the registrar's feed holds is what the receiver must get.
    let feed = "{ filingEvents(first: 100) { nodes { id filingId action } } }";
    let read = || async { app.ok(key, feed, json!({})).await["filingEvents"]["nodes"].as_array().unwrap().clone() };
    // (On PostgreSQL an event shows once every older transaction has ended: usually at once.)
    eventually(10, "the feed shows the five events", || async { read().await.len() == 5 }).await;
    let events = read().await;
    eventually(60, "every event delivered", || async {
        let got: std::collections::HashSet<Value> =
            receiver.received().iter().filter(|r| r["status"] == 200).map(|r| r["eventId"].clone()).collect();
        events.iter().all(|e| got.contains(&e["id"]))
    })
    .await;

    let received = receiver.received();
    assert!(received.iter().all(|r| r["verified"] == json!([true])), "every signature verifies: {received:?}");
    assert_eq!(received.iter().filter(|r| r["status"] == 500).count(), 3, "the first three were refused");
    // Each event's message carries one webhook-id, on every attempt: msg_ and the event.
    for event in &events {
        let ids: std::collections::HashSet<&Value> =
            received.iter().filter(|r| r["eventId"] == event["id"]).map(|r| &r["webhookId"]).collect();
        assert_eq!(ids.len(), 1, "{event}");
        assert!(ids.iter().next().unwrap().as_str().unwrap().starts_with("msg_"));
        assert_eq!(received.iter().filter(|r| r["eventId"] == event["id"] && r["status"] == 200).count(), 1);
    }
    // In the feed's order for each filing (what the receiver accepted, in the order it accepted it).
    for filing in [&a, &b] {
        let expected: Vec<&Value> = events.iter().filter(|e| e["filingId"] == filing["id"]).map(|e| &e["id"]).collect();
        let accepted: Vec<&Value> = received
            .iter()
            .filter(|r| r["filingId"] == filing["id"] && r["status"] == 200)
            .map(|r| &r["eventId"])
            .collect();
        assert_eq!(accepted, expected);
    }
    assert!(received.iter().all(|r| events.iter().any(|e| e["id"] == r["eventId"])), "nothing of another registrar");

    // The delivery log says how it went.
    let log = app.ok(admin, LOG, json!({ "id": endpoint })).await["node"]["deliveries"]["nodes"].clone();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 5);
    assert!(log.iter().all(|d| d["status"] == "DELIVERED" && d["lastStatusCode"] == 200), "{log:?}");
    assert_eq!(log.iter().map(|d| d["attempts"].as_i64().unwrap()).sum::<i64>(), 8, "five deliveries, three retries");
    assert!(log.iter().all(|d| d["event"]["id"].is_string() && d["lastLatencyMs"].is_number()));

    // A test ping, and a redelivery with the same webhook-id.
    let ping = "mutation($id: ID!) { pingWebhookEndpoint(id: $id) { id eventType status } }";
    assert_eq!(app.ok(admin, ping, json!({ "id": endpoint })).await["pingWebhookEndpoint"]["status"], "PENDING");
    let redeliver = "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id webhookId status } }";
    let again = app.ok(admin, redeliver, json!({ "id": log[0]["id"] })).await["redeliverWebhook"].clone();
    assert_eq!(again["webhookId"], log[0]["webhookId"]);
    eventually(30, "the ping and the redelivery arrive", || async {
        let r = receiver.received();
        r.iter().any(|r| r["type"] == "PING") && r.iter().filter(|x| x["webhookId"] == log[0]["webhookId"]).count() >= 2
    })
    .await;
    assert!(receiver.received().iter().all(|r| r["verified"] == json!([true])));

    // Rotation: both secrets sign during the overlap; without one, only the new.
    let rotate = "mutation($id: ID!, $h: Int!) { rotateWebhookEndpointSecret(id: $id, overlapHours: $h) {
        secret endpoint { previousSecretExpiresAt } } }";
    let rotated =
        app.ok(admin, rotate, json!({ "id": endpoint, "h": 24 })).await["rotateWebhookEndpointSecret"].clone();
    assert!(rotated["endpoint"]["previousSecretExpiresAt"].is_string());
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    receiver.secrets(&[&secret, &new_secret]);
    let before = receiver.received().len();
    app.ok(admin, ping, json!({ "id": endpoint })).await;
    eventually(30, "a ping after the rotation", || async { receiver.received().len() > before }).await;
    assert_eq!(receiver.received()[before]["verified"], json!([true, true]), "old and new secret both verify");
    app.ok(admin, rotate, json!({ "id": endpoint, "h": 0 })).await;
    let newest =
        app.ok(admin, rotate, json!({ "id": endpoint, "h": 0 })).await["rotateWebhookEndpointSecret"]["secret"]
            .as_str()
            .unwrap()
            .to_owned();
    receiver.secrets(&[&new_secret, &newest]);
    let before = receiver.received().len();
    app.ok(admin, ping, json!({ "id": endpoint })).await;
    eventually(30, "a ping after the second rotation", || async { receiver.received().len() > before }).await;
    assert_eq!(receiver.received()[before]["verified"], json!([false, true]), "only the newest secret signs");

    // /metrics counts the attempts by outcome.
    let metrics = reqwest::get(format!("{}/metrics", app.address)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("beian_webhook_attempts_total{outcome=\"retrying\"} 3"), "{metrics}");
    assert!(metrics.contains("beian_webhook_deliveries{status=\"DELIVERED\"}"), "{metrics}");
}

#[tokio::test]
async fn a_receiver_that_redirects_stalls_or_floods_is_cut_off_then_disabled_with_an_email_to_administrators() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(TestDatabase::new().await, |config| {
        config.webhooks.allow_private_networks = true;
        config.webhooks.dispatch = false;
        config.webhooks.timeout_seconds = 1;
        config.webhooks.disable_after_hours = 0;
    })
    .await;
    let cast = cast_on(app).await;
    let (app, admin, key) = (&cast.app, &cast.admin, &cast.backend);
    // One receiver answers with a redirect to the metadata service, one never answers.
    let redirect = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (redirect_url, silent_url) = (
        format!("http://{}/hook", redirect.local_addr().unwrap()),
        format!("http://{}/hook", silent.local_addr().unwrap()),
    );
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = redirect.accept().await {
            let mut buffer = vec![0; 65536];
            let _ = socket.read(&mut buffer).await;
            let _ = socket
                .write_all(b"HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    // And one answers 500 with a body that never ends.
    let huge = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let huge_url = format!("http://{}/hook", huge.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = huge.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0; 65536];
                let _ = socket.read(&mut buffer).await;
                let head = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 1000000000\r\n\r\n";
                if socket.write_all(head).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 65536];
                while socket.write_all(&chunk).await.is_ok() {}
            });
        }
    });
    let (redirecting, _) = create(app, admin, json!({ "url": redirect_url })).await;
    let (stalling, _) = create(app, admin, json!({ "url": silent_url })).await;
    let (flooding, _) = create(app, admin, json!({ "url": huge_url })).await;
    app.create_filing(key, "北京甲科技有限公司").await;

    let dispatcher = app.webhooks();
    let started = std::time::Instant::now();
    let pass = dispatcher.run_once(chrono::Utc::now()).await.unwrap();
    assert_eq!(pass.claimed, 3);
    assert!(started.elapsed() < Duration::from_secs(5), "a stalling receiver is cut off at the timeout");
    let entry = |id: &str| {
        let id = id.to_owned();
        async move { app.ok(admin, LOG, json!({ "id": id })).await["node"].clone() }
    };
    let redirected = entry(&redirecting).await;
    assert!(redirected["deliveries"]["nodes"][0]["lastError"].as_str().unwrap().contains("redirects are not followed"));
    assert_eq!(redirected["deliveries"]["nodes"][0]["lastStatusCode"], 302);
    let stalled = entry(&stalling).await;
    assert!(stalled["deliveries"]["nodes"][0]["lastError"].as_str().unwrap().contains("timed out"), "{stalled}");
    let flooded = entry(&flooding).await;
    let error = flooded["deliveries"]["nodes"][0]["lastError"].as_str().unwrap();
    assert!(error.starts_with("answered 500: xxx") && error.len() <= 500, "a kilobyte read, 500 characters kept");
    // With disable_after_hours = 0 the first failure run is long enough: all are disabled, the admins told.
    for endpoint in [&redirected, &stalled, &flooded] {
        assert_eq!(endpoint["enabled"], false, "{endpoint}");
        assert!(endpoint["disabledReason"].as_str().unwrap().contains("no successful delivery"));
    }
    let mails: Vec<String> = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::outbox_message::Entity::find()
            .filter(entity::outbox_message::Column::Template.eq("WEBHOOK_DISABLED"))
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.template)
            .collect()
    };
    assert_eq!(mails.len(), 3, "one email per disabled endpoint to the one administrator");
    // A disabled endpoint gets nothing more until enabled again.
    app.create_filing(key, "北京乙科技有限公司").await;
    assert_eq!(dispatcher.run_once(chrono::Utc::now() + chrono::Duration::hours(2)).await.unwrap().claimed, 0);
}

#[tokio::test]
async fn a_receiver_that_never_answers_does_not_hold_up_another_registrars_deliveries() {
    use crate::people::{access, first_admin};
    let app = spawn_app_with(TestDatabase::new().await, |config| {
        config.webhooks.allow_private_networks = true;
        config.webhooks.dispatch_interval_ms = 50;
        // Long enough that a post to the silent receiver is still hanging when the other registrar's arrives.
        config.webhooks.timeout_seconds = 30;
    })
    .await;
    // Registrar A's endpoint accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/hook", silent.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    let a_key = app.tenant("alpha").await;
    let a_admin = access(&first_admin(&app, "alpha", "admin@alpha.example").await);
    create(&app, &a_admin, json!({ "url": silent_url })).await;
    for i in 0..8 {
        app.create_filing(&a_key, &format!("北京阿尔法{i}号科技有限公司")).await;
    }
    eventually(10, "the dispatcher is posting to the silent receiver", || async {
        accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1
    })
    .await;

    // Registrar B's event reaches its receiver while A's posts hang.
    let receiver = Receiver::start(0).await;
    let b_key = app.tenant("beta").await;
    let b_admin = access(&first_admin(&app, "beta", "admin@beta.example").await);
    let (_, secret) = create(&app, &b_admin, json!({ "url": receiver.url() })).await;
    receiver.secrets(&[&secret]);
    let started = std::time::Instant::now();
    let filing = app.create_filing(&b_key, "北京贝塔科技有限公司").await;
    eventually(10, "beta's event arrived", || async {
        receiver.received().iter().any(|r| r["filingId"] == filing["id"] && r["status"] == 200)
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(10), "not held up by alpha's 30-second posts");
    let hanging = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=4).contains(&hanging), "alpha's endpoint holds at most a quarter of the 16 posts: {hanging}");
}

#[tokio::test]
async fn a_claim_takes_no_more_of_an_endpoint_than_its_room_and_in_order_per_filing() {
    let app = spawn_app_with(TestDatabase::new().await, |config| {
        config.webhooks.allow_private_networks = true;
        config.webhooks.dispatch = false;
    })
    .await;
    let cast = cast_on(app).await;
    let (app, admin, key) = (&cast.app, &cast.admin, &cast.backend);
    let (busy, _) = create(app, admin, json!({ "url": "http://127.0.0.1:9/busy" })).await;
    let (quiet, _) = create(app, admin, json!({ "url": "http://127.0.0.1:9/quiet" })).await;
    let busy = beian::graphql::ids::decode_any(&busy, "id").unwrap().1;
    let quiet = beian::graphql::ids::decode_any(&quiet, "id").unwrap().1;
    // Six filings with one event each, and a seventh with three: nine deliveries for each endpoint.
    for i in 0..6 {
        app.create_filing(key, &format!("北京{i}号科技有限公司")).await;
    }
    let filing = app.create_filing(key, "北京七号科技有限公司").await;
    let update = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }";
    for (version, name) in [(1, "北京七号二科技有限公司"), (2, "北京七号三科技有限公司")] {
        let input =
            json!({ "input": { "filingId": filing["id"], "version": version, "subject": subject_input(name) } });
        app.ok(key, update, input).await;
    }
    let dispatcher = app.webhooks();
    let now = chrono::Utc::now();
    let count = |claims: &[beian::services::webhooks::dispatcher::Claim], endpoint| {
        claims.iter().filter(|c| c.endpoint.id == endpoint).count()
    };

    // Room of 4 an endpoint, 3 of the busy one's already in flight: one more for it, four for the quiet one.
    let in_flight = std::collections::HashMap::from([(busy, 3)]);
    let first = dispatcher.claim(now, 16, 4, &in_flight).await.unwrap();
    assert_eq!((count(&first, busy), count(&first, quiet)), (1, 4));
    // Only the first pending delivery of a filing goes out: never two of the seventh filing's at once.
    let per_filing = |claims: &[beian::services::webhooks::dispatcher::Claim]| {
        let mut seen = std::collections::HashSet::new();
        claims.iter().all(|c| seen.insert((c.endpoint.id, c.row.filing_id)))
    };
    assert!(per_filing(&first));
    // A full endpoint is left out; the limit caps the whole claim.
    let full = std::collections::HashMap::from([(busy, 4)]);
    let second = dispatcher.claim(now, 2, 4, &full).await.unwrap();
    assert_eq!((count(&second, busy), count(&second, quiet)), (0, 2));
    // What is leased is not claimed again; each claim carries its endpoint and its event.
    let third = dispatcher.claim(now, 16, 16, &std::collections::HashMap::new()).await.unwrap();
    let ids: std::collections::HashSet<_> = first.iter().chain(&second).map(|c| c.row.id).collect();
    assert!(third.iter().all(|c| !ids.contains(&c.row.id)));
    // 18 deliveries, the seventh filing's later two per endpoint waiting for its first: 14 claimable in all.
    assert_eq!(first.len() + second.len() + third.len(), 14);
    assert!(per_filing(&third));
    for claim in first.iter().chain(&second).chain(&third) {
        assert_eq!(claim.endpoint.id, claim.row.endpoint_id);
        assert_eq!(claim.event.as_ref().map(|e| e.id), claim.row.event_id);
    }
}
