//! Resource limits: query depth and complexity, introspection switch, request body size.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn too_deep_and_too_complex_queries_are_refused() {
    let app = spawn_app_with(TestDatabase::new().await, |c| {
        c.graphql.max_depth = 5;
        c.graphql.max_complexity = 50;
    })
    .await;
    let key = app.tenant("xinnet").await;
    let deep = "{ filings(first: 1) { edges { node { subject { responsiblePerson { name } } } } } }";
    let error = app.err(&key, deep, json!({})).await;
    assert!(error["message"].as_str().unwrap().to_lowercase().contains("nested too deep"), "{error}");

    let complex = "{ filings(first: 100) { nodes { id status version createdAt } } }";
    let error = app.err(&key, complex, json!({})).await;
    assert!(error["message"].as_str().unwrap().to_lowercase().contains("complex"), "{error}");

    app.ok(&key, "{ filings(first: 5) { nodes { id } } }", json!({})).await;
}

#[tokio::test]
async fn introspection_follows_the_configuration() {
    let query = "{ __schema { queryType { name } } }";
    let on = spawn_app().await;
    let (_, body) = on.post(None, query, json!({})).await;
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "QueryRoot");

    let off = spawn_app_with(TestDatabase::new().await, |c| c.graphql.introspection = false).await;
    let (_, body) = off.post(None, query, json!({})).await;
    assert_eq!(body["data"]["__schema"], json!(null), "{body}");
}

#[tokio::test]
async fn an_oversized_request_body_is_refused() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let huge = "x".repeat(beian::http::MAX_GRAPHQL_BODY + 1);
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&key)
        .json(&json!({ "query": "{ filings { totalCount } }", "variables": { "pad": huge } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}
