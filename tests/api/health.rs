//! Liveness and readiness.

use crate::helpers::*;

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;
    let live = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready\nstorage: up\n");
}

#[tokio::test]
async fn readyz_fails_when_the_database_is_gone() {
    let app = spawn_app().await;
    // Closing the pool the server shares makes every later query fail, as a lost database would.
    app.db.clone().close().await.unwrap();
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let live = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(live.status(), 200, "the process itself is still up");
}

#[tokio::test]
async fn graphiql_is_served_when_enabled_and_hidden_when_not() {
    let app = spawn_app().await;
    let page = app.client.get(format!("{}/graphql", app.address)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("script-src 'self';"), "no inline script, no eval, no other host: {policy}");
    assert!(!policy.contains("unpkg") && !policy.contains("https:"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(html.to_lowercase().contains("graphiql"));
    // Everything the page loads comes from beian itself, and answers.
    let assets: Vec<&str> = html.split(['"', '\'']).filter(|part| part.starts_with("/static/")).collect();
    assert!(!html.contains("://"), "no absolute URL: {html}");
    assert_eq!(assets.len(), 6, "{assets:?}");
    for asset in assets {
        let file = app.client.get(format!("{}{asset}", app.address)).send().await.unwrap();
        assert_eq!(file.status(), 200, "{asset}");
        let kind = file.headers()["content-type"].to_str().unwrap().to_owned();
        let expected = if asset.ends_with(".css") { "text/css" } else { "javascript" };
        assert!(kind.contains(expected), "{asset}: {kind}");
        assert!(file.headers().contains_key("etag"));
        assert_eq!(file.headers()["cache-control"], "no-cache");
    }
    let missing = app.client.get(format!("{}/static/graphiql/nothing.js", app.address)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let script = app.client.get(format!("{}/static/graphiql/update.sh", app.address)).send().await.unwrap();
    assert_eq!(script.status(), 404, "the update script is not served");

    let off = spawn_app_with(TestDatabase::new().await, |c| c.graphql.graphiql = false).await;
    let page = off.client.get(format!("{}/graphql", off.address)).send().await.unwrap();
    assert_eq!(page.status(), 404);
}

#[tokio::test]
async fn metrics_count_requests_by_operation_and_read_the_outbox_and_filings() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    app.create_filing(&key, "北京示例科技有限公司").await;
    let named = "query FilingCount { filings(first: 1) { totalCount } }";
    for _ in 0..2 {
        app.ok(&key, named, serde_json::json!({})).await;
    }
    let (status, _) = app.post(Some("beian_not-a-key"), named, serde_json::json!({})).await;
    assert_eq!(status, 401);
    let response = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();
    for line in [
        r#"beian_graphql_requests_total{operation="FilingCount",status="200"} 2"#,
        // A request without a valid credential is counted by no name of its own choosing.
        r#"beian_graphql_requests_total{operation="unauthenticated",status="401"} 1"#,
        r#"beian_graphql_requests_total{operation="anonymous",status="200"} 1"#,
        r#"beian_filings{status="DRAFT"} 1"#,
        r#"beian_outbox_messages{status="QUEUED"} 0"#,
        r#"beian_outbox_messages{status="FAILED"} 0"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    assert!(
        text.contains(r#"beian_graphql_request_duration_seconds_bucket{le="0.001",operation="FilingCount"}"#)
            || text.contains(r#"beian_graphql_request_duration_seconds_bucket{operation="FilingCount",le="0.001"}"#),
        "{text}"
    );
    assert!(text.contains("beian_db_pool_connections{state=\"in_use\"}"), "{text}");
}
