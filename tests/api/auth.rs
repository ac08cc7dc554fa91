//! Tenants authenticate with API keys; missing, wrong and suspended keys are refused.

use beian::services::tenants::{TenantStatus, set_tenant_status};
use serde_json::json;

use crate::helpers::*;

const LIST: &str = "{ filings { totalCount } }";

#[tokio::test]
async fn a_request_without_a_key_is_unauthenticated() {
    let app = spawn_app().await;
    let (status, body) = app.post(None, LIST, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], json!(null));
    assert_eq!(code(&body["errors"][0]), "UNAUTHENTICATED");

    let (_, body) = app.post(None, &CREATE, json!({ "input": filing_input("无钥匙公司") })).await;
    assert_eq!(code(&body["errors"][0]), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_wrong_key_is_refused_with_401() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let tampered = format!("{}x", &key[..key.len() - 1]);
    for bad in [tampered.as_str(), "beian_", "not-even-a-key", &key[..20]] {
        let (status, body) = app.post(Some(bad), LIST, json!({})).await;
        assert_eq!(status, 401, "{bad}");
        assert_eq!(code(&body["errors"][0]), "UNAUTHENTICATED");
        assert!(body.get("data").is_none());
    }
    // Scheme names are case-insensitive; the key itself is not.
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("Authorization", format!("bearer {key}"))
        .json(&json!({ "query": LIST }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _) = app.post(Some(&key.to_uppercase()), LIST, json!({})).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_suspended_tenants_key_is_refused_until_it_is_activated() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;

    set_tenant_status(&app.deps, "xinnet", TenantStatus::Suspended).await.unwrap();
    let (status, body) = app.post(Some(&key), &GET, json!({ "id": filing["id"] })).await;
    assert_eq!(status, 401);
    assert_eq!(code(&body["errors"][0]), "UNAUTHENTICATED");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("暂停"));

    set_tenant_status(&app.deps, "xinnet", TenantStatus::Active).await.unwrap();
    let read = app.ok(&key, &GET, json!({ "id": filing["id"] })).await;
    assert_eq!(read["filing"]["id"], filing["id"]);
}

#[tokio::test]
async fn tenant_slugs_are_unique_and_well_formed() {
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    let deps = &app.deps;
    let duplicate = beian::services::tenants::create_tenant(deps, "xinnet", "Another").await;
    assert!(matches!(duplicate, Err(beian::services::ServiceError::InvalidInput(ref f)) if f[0].field == "slug"));
    for bad in ["X", "Upper", "has space", "-lead", "trail-", "a"] {
        let result = beian::services::tenants::create_tenant(deps, bad, "Name").await;
        assert!(matches!(result, Err(beian::services::ServiceError::InvalidInput(_))), "{bad}");
    }
    let result = beian::services::tenants::create_tenant(deps, "fine", "  ").await;
    assert!(matches!(result, Err(beian::services::ServiceError::InvalidInput(ref f)) if f[0].field == "name"));
    assert_eq!(beian::services::tenants::list_tenants(deps).await.unwrap().len(), 1);
}
