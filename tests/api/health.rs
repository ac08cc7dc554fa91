//! Liveness and readiness.

use crate::helpers::*;

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;
    let live = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready");
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
    assert!(page.text().await.unwrap().to_lowercase().contains("graphiql"));

    let off = spawn_app_with(TestDatabase::new().await, |c| c.graphql.graphiql = false).await;
    let page = off.client.get(format!("{}/graphql", off.address)).send().await.unwrap();
    assert_eq!(page.status(), 404);
}
