//! Tenant isolation: another registrar's objects are NOT_FOUND for every read and write, and stay unchanged.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn another_tenants_filing_cannot_be_read_or_changed() {
    let app = spawn_app().await;
    let alice = app.tenant("alice").await;
    let bob = app.tenant("bob").await;
    let filing = app.create_filing(&alice, "北京示例科技有限公司").await;
    let website_id = filing["websites"][0]["id"].clone();
    let event_id = filing["events"][0]["id"].clone();

    // Reads.
    assert_eq!(code(&app.err(&bob, &GET, json!({ "id": filing["id"] })).await), "NOT_FOUND");
    let node = "query($id: ID!) { node(id: $id) { id } }";
    for id in [&filing["id"], &website_id, &event_id] {
        assert_eq!(code(&app.err(&bob, node, json!({ "id": id })).await), "NOT_FOUND", "node {id}");
    }
    let list = app.ok(&bob, "{ filings { totalCount nodes { id } } }", json!({})).await;
    assert_eq!(list["filings"], json!({ "totalCount": 0, "nodes": [] }));

    // Writes, each with the right version so only the tenant check can refuse them.
    let writes: Vec<(&str, Value)> = vec![
        (
            "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { id } }",
            json!({ "filingId": filing["id"], "version": 1, "subject": subject_input("窃取有限公司") }),
        ),
        (
            "mutation($input: AddWebsiteInput!) { addWebsite(input: $input) { website { id } } }",
            json!({ "filingId": filing["id"], "version": 1, "website": website_input("窃取", "steal.cn") }),
        ),
        (
            "mutation($input: UpdateWebsiteInput!) { updateWebsite(input: $input) { website { id } } }",
            json!({ "websiteId": website_id, "version": 1, "website": website_input("窃取", "steal.cn") }),
        ),
        (
            "mutation($input: RemoveWebsiteInput!) { removeWebsite(input: $input) { id } }",
            json!({ "websiteId": website_id, "version": 1 }),
        ),
    ];
    for (mutation, input) in writes {
        let error = app.err(&bob, mutation, json!({ "input": input })).await;
        assert_eq!(code(&error), "NOT_FOUND", "{mutation}: {error}");
    }

    // Alice's filing is exactly as she left it.
    let read = app.ok(&alice, &GET, json!({ "id": filing["id"] })).await["filing"].clone();
    assert_eq!(read, filing);
}

#[tokio::test]
async fn a_cursor_from_another_tenant_only_walks_the_callers_own_filings() {
    let app = spawn_app().await;
    let alice = app.tenant("alice").await;
    let bob = app.tenant("bob").await;
    let bobs_old = app.create_filing(&bob, "鲍勃旧公司").await;
    let alices = app.create_filing(&alice, "爱丽丝公司").await;
    let bobs_new = app.create_filing(&bob, "鲍勃新公司").await;

    // A cursor positioned on Alice's filing, used by Bob.
    let alice_page = app.ok(&alice, "{ filings(first: 1) { edges { cursor } } }", json!({})).await;
    let cursor = alice_page["filings"]["edges"][0]["cursor"].clone();
    let query = "query($after: String) { filings(after: $after) { nodes { id } } }";
    let page = app.ok(&bob, query, json!({ "after": cursor })).await;
    assert_eq!(page["filings"]["nodes"], json!([{ "id": bobs_old["id"] }]));

    let all = app.ok(&bob, query, json!({ "after": null })).await;
    assert_eq!(all["filings"]["nodes"], json!([{ "id": bobs_new["id"] }, { "id": bobs_old["id"] }]));
    assert_ne!(alices["id"], bobs_new["id"]);
}

#[tokio::test]
async fn the_same_subject_may_file_with_two_registrars_independently() {
    let app = spawn_app().await;
    let alice = app.tenant("alice").await;
    let bob = app.tenant("bob").await;
    let a = app.create_filing(&alice, "北京示例科技有限公司").await;
    let b = app.create_filing(&bob, "北京示例科技有限公司").await;
    assert_ne!(a["id"], b["id"]);
    let update = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }";
    let input = json!({ "filingId": b["id"], "version": 1, "subject": subject_input("鲍勃改名有限公司") });
    app.ok(&bob, update, json!({ "input": input })).await;
    let read = app.ok(&alice, &GET, json!({ "id": a["id"] })).await["filing"].clone();
    assert_eq!(read["subject"]["name"], "北京示例科技有限公司");
    assert_eq!(read["version"], 1);
}
