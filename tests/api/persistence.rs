//! Data survives a restart of the server.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_filing_is_readable_after_a_restart() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let database = app.stop().await;

    let restarted = spawn_app_on(database).await;
    let read = restarted.ok(&key, &GET, json!({ "id": filing["id"] })).await["filing"].clone();
    assert_eq!(read, filing);
}
