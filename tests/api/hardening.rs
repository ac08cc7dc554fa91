//! The HTTP surface under hostile use (OWASP API Security Top 10): security headers and CORS (API8), batching,
//! alias floods and slow clients (API4), inbox flooding through sign-ups and resets (API6), webhooks that point
//! inward (API7).

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;
use crate::people::{PASSWORD, anonymous_err};

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let graphql = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&key)
        .json(&json!({ "query": "{ filings { totalCount } }" }))
        .send()
        .await
        .unwrap();
    let unknown = app.client.get(format!("{}/no-such-route", app.address)).send().await.unwrap();
    let unauthenticated = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth("not-a-token")
        .json(&json!({ "query": "{ me { kind } }" }))
        .send()
        .await
        .unwrap();
    let statuses = [graphql.status(), unknown.status(), unauthenticated.status()].map(|s| s.as_u16());
    assert_eq!(statuses, [200, 404, 401]);
    for response in [&graphql, &unknown, &unauthenticated] {
        let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
        assert_eq!(header("referrer-policy").as_deref(), Some("no-referrer"));
        assert_eq!(header("cache-control").as_deref(), Some("no-store"), "personal data is never cached");
        assert!(header("content-security-policy").unwrap().starts_with("default-src 'none'"));
        assert!(header("strict-transport-security").unwrap().starts_with("max-age=31536000"));
    }
    // GraphiQL (on in the embedded default) has a policy of its own that lets its scripts load: beian's own only.
    let page = app.client.get(format!("{}/graphql", app.address)).send().await.unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("script-src 'self';") && policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.contains("unpkg") && !policy.contains("'unsafe-inline' unpkg"), "{policy}");
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn browsers_on_other_origins_get_in_only_from_the_allow_list() {
    // By default: no CORS at all.
    let closed = spawn_app().await;
    let response = preflight(&closed, "https://evil.example").await;
    assert!(response.headers().get("access-control-allow-origin").is_none(), "{:?}", response.headers());

    let open = spawn_app_with(TestDatabase::new().await, |c| {
        c.http.cors_allowed_origins = vec!["https://beian.registrar.example".into()];
    })
    .await;
    let allowed = preflight(&open, "https://beian.registrar.example").await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://beian.registrar.example");
    let refused = preflight(&open, "https://evil.example").await;
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    let simple = open
        .client
        .post(format!("{}/graphql", open.address))
        .header("origin", "https://evil.example")
        .json(&json!({ "query": "{ apiVersion { schema } }" }))
        .send()
        .await
        .unwrap();
    assert!(simple.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn batches_alias_floods_and_oversized_pages_are_refused() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    // One operation per request: a JSON array of operations is a 400.
    let batch = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&key)
        .json(&json!([{ "query": "{ filings { totalCount } }" }, { "query": "{ filings { totalCount } }" }]))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), 400);

    // Aliases count like fields: 60 aliased pages of 100 filings are far over the complexity limit.
    let aliases: String = (0..60).map(|i| format!("p{i}: filings(first: 100) {{ nodes {{ id }} }} ")).collect();
    let error = app.err(&key, &format!("{{ {aliases} }}"), json!({})).await;
    assert!(error["message"].as_str().unwrap().to_lowercase().contains("complex"), "{error}");
    // And cheap ones too, in bulk: 6000 aliases of a leaf that complexity does not count.
    let leaves: String = (0..6000).map(|i| format!("a{i}: __typename ")).collect();
    let (_, body) = app.post(Some(&key), &format!("{{ {leaves} }}"), json!({})).await;
    assert!(body.get("data").is_none_or(|d| d.is_null()), "no answer is built");
    let error = &body["errors"][0];
    assert_eq!(code(error), "BAD_USER_INPUT");
    assert!(error["message"].as_str().unwrap().contains("超过 1000 个"), "{error}");
    // Nor by fragment spreads, which multiply.
    let spreads: String = (0..600).map(|i| format!("m{i}: me {{ ...F }} ")).collect();
    let (_, body) = app.post(Some(&key), &format!("{{ {spreads} }} fragment F on Me {{ kind role }}"), json!({})).await;
    assert_eq!(code(&body["errors"][0]), "BAD_USER_INPUT", "{}", body["errors"]);

    let error = app.err(&key, "{ filings(first: 1000) { totalCount } }", json!({})).await;
    assert_eq!(code(&error), "BAD_USER_INPUT", "{error}");
}

/// The server's address as host:port.
fn authority(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn slow_and_silent_clients_are_not_waited_for() {
    let app = spawn_app_with(TestDatabase::new().await, |c| {
        c.http.json_body_timeout_seconds = 1;
        c.http.idle_timeout_seconds = 2;
    })
    .await;
    // A body announced but sent a few bytes at a time, too slowly: 408 when the deadline passes.
    let mut slow = tokio::net::TcpStream::connect(authority(&app)).await.unwrap();
    let head = "POST /graphql HTTP/1.1\r\nhost: beian\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n";
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(b"{\"query\":").await.unwrap();
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut answer)).await.expect("answered");
    let answer = String::from_utf8_lossy(&answer[..read.unwrap()]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("未能按时送达"), "{answer}");

    // A connection that sends nothing at all is closed.
    let mut silent = tokio::net::TcpStream::connect(authority(&app)).await.unwrap();
    let mut byte = [0; 1];
    let closed = tokio::time::timeout(Duration::from_secs(6), silent.read(&mut byte)).await.expect("closed in time");
    assert_eq!(closed.unwrap_or(0), 0, "the server hung up");
}

#[tokio::test]
async fn sign_ups_and_resets_cannot_flood_an_inbox() {
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    let register = "mutation($input: RegisterApplicantInput!) { registerApplicant(input: $input) { message } }";
    let input = json!({ "input": { "tenant": "xinnet", "email": "victim@example.com", "password": PASSWORD,
        "displayName": "受害人" } });
    let reset = "mutation { requestPasswordReset(tenant: \"xinnet\", email: \"victim@example.com\") }";
    // Five emails an hour to one address, whichever request sends them; then RATE_LIMITED.
    for _ in 0..3 {
        app.post(None, register, input.clone()).await;
    }
    for _ in 0..2 {
        let (_, body) = app.post(None, reset, json!({})).await;
        assert_eq!(body["data"]["requestPasswordReset"], true, "{body}");
    }
    for query in [register, reset] {
        let variables = if query == register { input.clone() } else { json!({}) };
        let error = anonymous_err(&app, query, variables).await;
        assert_eq!(code(&error), "RATE_LIMITED", "{error}");
    }
    let sent = crate::people::outbox_count(&app, "ACCOUNT_EXISTS", "victim@example.com").await
        + crate::people::outbox_count(&app, "EMAIL_VERIFICATION", "victim@example.com").await
        + crate::people::outbox_count(&app, "PASSWORD_RESET", "victim@example.com").await;
    assert_eq!(sent, 5, "at most five messages reached the address");
    // Another address from the same client still gets through (up to the per-client limit).
    let other = json!({ "input": { "tenant": "xinnet", "email": "someone@example.com", "password": PASSWORD,
        "displayName": "申请人" } });
    let (_, body) = app.post(None, register, other).await;
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test]
async fn webhooks_may_not_point_inward_unless_configured() {
    for url in ["http://169.254.169.254/latest/meta-data/", "https://127.0.0.1:8443/sms", "https://[::1]/sms"] {
        let database = TestDatabase::new().await;
        let mut config = database.config();
        config.mobile.sms_webhook_url = Some(url.to_owned());
        let error = beian::startup::Application::build(config).await.err().expect("refused").to_string();
        assert!(error.contains("webhook"), "{url}: {error}");
    }
    let database = TestDatabase::new().await;
    let mut config = database.config();
    config.mobile.liveness_webhook_url = Some("https://face.vendor.example/check".to_owned());
    config.mobile.webhook_allowed_hosts = vec!["sms.registrar.example".to_owned()];
    let error = beian::startup::Application::build(config).await.err().expect("refused").to_string();
    assert!(error.contains("webhook_allowed_hosts"), "{error}");
}

#[tokio::test]
async fn no_input_sets_a_filings_status_version_owner_or_registrar() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let other = app.tenant("other").await;
    // Fields a caller might try to assign along with the form: none exists on the input, each is refused whole.
    for (field, value) in [
        ("status", json!("APPROVED")),
        ("version", json!(99)),
        ("tenantId", json!("other")),
        ("ownerAccountId", json!("QWNjb3VudDo=")),
        ("icpNumber", json!("京ICP备12345678号")),
        ("reviewerId", json!("QWNjb3VudDo=")),
    ] {
        let mut input = filing_input("北京示例科技有限公司");
        input[field] = value;
        let error = app.err(&key, &CREATE, json!({ "input": input })).await;
        assert_eq!(code(&error), "BAD_USER_INPUT", "{field}: {error}");
    }
    let count = |key: String| {
        let app = &app;
        async move { app.ok(&key, "{ filings { totalCount } }", json!({})).await["filings"]["totalCount"].clone() }
    };
    assert_eq!((count(key.clone()).await, count(other).await), (json!(0), json!(0)), "nothing was created");
    // What the server sets, it sets itself.
    let created = app.create_filing(&key, "北京示例科技有限公司").await;
    assert_eq!((created["status"].clone(), created["version"].clone()), (json!("DRAFT"), json!(1)));
}
