//! Automatic persisted queries (Apollo's protocol, version 1): a client sends a query's SHA-256 instead of its
//! text; an unknown hash is answered PERSISTED_QUERY_NOT_FOUND and the client sends both once.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

/// POSTs a persisted query: the hash, and the query only when `query` is given.
async fn persisted(app: &TestApp, key: &str, hash: &str, query: Option<&str>, variables: Value) -> (u16, Value) {
    let mut body = json!({ "variables": variables,
        "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
    if let Some(query) = query {
        body["query"] = json!(query);
    }
    let response =
        app.client.post(format!("{}/graphql", app.address)).bearer_auth(key).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("an error code: {body}"))
}

const FILING: &str = "query Filing($id: ID!) { filing(id: $id) { id status subject { name } } }";

#[tokio::test]
async fn a_known_hash_runs_without_its_text_and_an_unknown_one_asks_for_it() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let variables = json!({ "id": filing["id"] });
    let hash = sha256(FILING);

    // Unknown: the client is asked for the query (the message Apollo's clients look for, and a code).
    let (status, body) = persisted(&app, &key, &hash, None, variables.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    // The query with its hash runs and registers it; from then on the hash alone gives the same answer.
    let (_, full) = persisted(&app, &key, &hash, Some(FILING), variables.clone()).await;
    assert_eq!(full["data"]["filing"]["subject"]["name"], "北京示例科技有限公司", "{full}");
    let (_, short) = persisted(&app, &key, &hash, None, variables.clone()).await;
    assert_eq!(short, full);
    // Upper-case hex names the same document.
    let (_, upper) = persisted(&app, &key, &hash.to_uppercase(), None, variables).await;
    assert_eq!(upper, full);
}

#[tokio::test]
async fn a_hash_runs_with_the_callers_own_rights() {
    let app = spawn_app().await;
    let xinnet = app.tenant("xinnet").await;
    let aliyun = app.tenant("aliyun").await;
    let filing = app.create_filing(&xinnet, "北京示例科技有限公司").await;
    let hash = sha256(FILING);
    persisted(&app, &xinnet, &hash, Some(FILING), json!({ "id": filing["id"] })).await;
    // Another registrar knows the document (it is only text), not the filing.
    let (_, body) = persisted(&app, &aliyun, &hash, None, json!({ "id": filing["id"] })).await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    assert!(body["data"].is_null() || body["data"]["filing"].is_null(), "{body}");
    // Without a caller, the same.
    let request = json!({ "variables": { "id": filing["id"] },
        "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } });
    let response = app.client.post(format!("{}/graphql", app.address)).json(&request).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
}

#[tokio::test]
async fn a_wrong_hash_or_a_document_the_limits_refuse_is_not_registered() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    // A hash that is not the query's: refused, and nothing is registered under it.
    let other = sha256("{ me { id } }");
    let (_, body) = persisted(&app, &key, &other, Some("{ apiVersion { schema } }"), json!({})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let (_, body) = persisted(&app, &key, &other, None, json!({})).await;
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
    // Malformed: another version, a hash that is no SHA-256.
    for asked in [json!({ "version": 2, "sha256Hash": other }), json!({ "version": 1, "sha256Hash": "abc" }), json!(7)]
    {
        let request = json!({ "query": "{ apiVersion { schema } }", "extensions": { "persistedQuery": asked } });
        let response =
            app.client.post(format!("{}/graphql", app.address)).bearer_auth(&key).json(&request).send().await.unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), "BAD_USER_INPUT", "{asked}: {body}");
    }
    // Over the field limit: refused when sent, not registered, so its hash alone is unknown.
    let aliases: Vec<String> = (0..1001).map(|i| format!("a{i}: __typename")).collect();
    let flood = format!("{{ {} }}", aliases.join(" "));
    let hash = sha256(&flood);
    let (_, body) = persisted(&app, &key, &hash, Some(&flood), json!({})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("超过 1000 个"), "{body}");
    let (_, body) = persisted(&app, &key, &hash, None, json!({})).await;
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
    // A document over 16 KiB runs but is not kept: the client sends it in full each time.
    let padding = " ".repeat(16 * 1024);
    let large = format!("{{ apiVersion {{ schema }} {padding}}}");
    let hash = sha256(&large);
    let (_, body) = persisted(&app, &key, &hash, Some(&large), json!({})).await;
    assert_eq!(body["data"]["apiVersion"]["schema"], beian::graphql::reference::SCHEMA_VERSION, "{body}");
    let (_, body) = persisted(&app, &key, &hash, None, json!({})).await;
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
}
