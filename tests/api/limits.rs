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

/// The introspection query schema tools and GraphiQL send (graphql-js / graphql-core, with the deepest `ofType`
/// chain they use): it must pass the default limits, or every client tool breaks.
const STANDARD_INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } mutationType { name }
    subscriptionType { name } types { ...FullType } directives { name description locations args { ...InputValue } } } }
  fragment FullType on __Type { kind name description
    fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated
      deprecationReason }
    inputFields { ...InputValue } interfaces { ...TypeRef }
    enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
    possibleTypes { ...TypeRef } }
  fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
  fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } } }";

#[tokio::test]
async fn the_standard_introspection_query_passes_the_default_limits() {
    let app = spawn_app().await;
    let (status, body) = app.post(None, STANDARD_INTROSPECTION, json!({})).await;
    assert_eq!(status, 200);
    assert!(body.get("errors").is_none(), "{}", body["errors"]);
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "QueryRoot");
}

#[tokio::test]
async fn file_markers_that_name_no_file_are_refused_before_anything_runs() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let upload = "mutation($f: Upload!) { uploadAttachment(input: { filingId: \"x\", kind: SUBJECT_CERTIFICATE },
        file: $f) { id } }";
    // Malformed, dangling, and written into the query: each once crashed the request before sign-in was checked.
    for (key, variables) in [
        (None, json!({ "f": "#__graphql_file__:x" })),
        (None, json!({ "f": "#__graphql_file__:" })),
        (Some(key.as_str()), json!({ "f": "#__graphql_file__:0" })),
        (Some(key.as_str()), json!({ "f": { "nested": ["#__graphql_file__:7"] } })),
    ] {
        let (status, body) = app.post(key, upload, variables.clone()).await;
        assert_eq!(status, 400, "{variables}: {body}");
        assert_eq!(code(&body["errors"][0]), "BAD_USER_INPUT");
    }
    let inline = "mutation { uploadAttachment(input: { filingId: \"x\", kind: SUBJECT_CERTIFICATE },
        file: \"#__graphql_file__:x\") { id } }";
    let (status, body) = app.post(None, inline, json!({})).await;
    assert_eq!((status, code(&body["errors"][0])), (400, "BAD_USER_INPUT"), "{body}");
    // The server is still there.
    app.ok(&key, "{ filings { totalCount } }", json!({})).await;
}

#[tokio::test]
async fn every_error_carries_a_code_even_from_the_graphql_engine() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    for query in [
        "{ filings { nosuchfield } }",
        "{ filings(first: \"ten\") { totalCount } }",
        "mutation { requestAttachmentUpload(input: { filingId: \"x\", kind: SUBJECT_CERTIFICATE, fileName: \"a.pdf\",
            contentType: \"application/pdf\", size: -1 }) { uploadUrl } }",
        "{ filings { totalCount ",
    ] {
        let (_, body) = app.post(Some(&key), query, json!({})).await;
        let errors = body["errors"].as_array().unwrap_or_else(|| panic!("{query}: {body}"));
        for error in errors {
            assert_eq!(code(error), "BAD_USER_INPUT", "{query}: {error}");
        }
    }
}
