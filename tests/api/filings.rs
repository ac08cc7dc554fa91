//! Creating, reading and editing filing drafts, with the audit trail and optimistic versions.

use serde_json::{Value, json};

use crate::helpers::*;

const UPDATE_SUBJECT: &str = "mutation($input: UpdateFilingSubjectInput!) {
    updateFilingSubject(input: $input) { id version subject { name responsiblePerson { mobile } } } }";
const ADD_WEBSITE: &str = "mutation($input: AddWebsiteInput!) {
    addWebsite(input: $input) { filing { version websites { name } } website { id name domains } } }";
const UPDATE_WEBSITE: &str = "mutation($input: UpdateWebsiteInput!) {
    updateWebsite(input: $input) { filing { version } website { id name domains homepageUrl } } }";
const REMOVE_WEBSITE: &str = "mutation($input: RemoveWebsiteInput!) {
    removeWebsite(input: $input) { version websites { id } } }";
const EVENTS: &str =
    "query($id: ID!) { filing(id: $id) { version events { action changes { field oldValue newValue } } } }";

#[tokio::test]
async fn a_created_draft_reads_back_with_every_field() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let mut input = filing_input("  北京示例科技有限公司 ");
    input["websites"][0]["domains"] = json!(["Example.COM", "例子.中国"]);
    input["websites"][0]["preApprovals"] = json!([
        { "category": "CULTURE", "licenceNumber": "京网文〔2026〕0001-001号" },
        { "category": "INTERNET_FINANCE", "licenceNumber": "银保监复〔2026〕1号" },
    ]);
    input["websites"][0]["languages"] = json!(["SIMPLIFIED_CHINESE", "ENGLISH"]);
    input["websites"][0]["serviceContent"] = json!(["ORGANISATION_PORTAL", "P2P_LENDING"]);
    input["subject"]["responsiblePerson"]["certificateNumber"] = json!("11010519491231002x");
    let created = app.ok(&key, &CREATE, json!({ "input": input })).await["createFiling"].clone();

    assert_eq!(created["status"], "DRAFT");
    assert_eq!(created["filingType"], "FIRST_FILING");
    assert_eq!(created["version"], 1);
    let subject = &created["subject"];
    assert_eq!(subject["name"], "北京示例科技有限公司", "names are trimmed");
    assert_eq!(
        subject["province"],
        json!({"code": "110000", "name": "北京市", "nameEn": "Beijing", "icpPrefix": "京"})
    );
    assert_eq!(subject["responsiblePerson"]["certificateNumber"], "11010519491231002X", "upper-cased");
    assert_eq!(subject["responsiblePerson"]["emergencyPhone"], "010-12345678");
    let website = &created["websites"][0];
    assert_eq!(website["domains"], json!(["example.com", "xn--fsqu00a.xn--fiqs8s"]), "IDN stored as punycode");
    assert_eq!(website["preApprovals"][0]["category"], "CULTURE");
    assert_eq!(website["serviceContent"], json!(["ORGANISATION_PORTAL", "P2P_LENDING"]));
    assert_eq!(website["languages"], json!(["SIMPLIFIED_CHINESE", "ENGLISH"]));
    assert_eq!(website["filingId"], created["id"]);
    assert_eq!(created["events"].as_array().unwrap().len(), 1);
    assert_eq!(created["events"][0]["action"], "FILING_CREATED");
    assert_eq!(created["events"][0]["toStatus"], "DRAFT");
    assert_eq!(created["events"][0]["actor"], json!({"kind": "API_KEY", "name": "API key default"}));

    let read = app.ok(&key, &GET, json!({ "id": created["id"] })).await["filing"].clone();
    assert_eq!(read, created, "what was written is what is read");
}

#[tokio::test]
async fn editing_the_subject_bumps_the_version_and_records_masked_changes() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let mut subject = subject_input("北京示例网络科技有限公司");
    subject["responsiblePerson"]["mobile"] = json!("13700137000");
    let input = json!({ "filingId": filing["id"], "version": 1, "subject": subject });
    let updated = app.ok(&key, UPDATE_SUBJECT, json!({ "input": input })).await["updateFilingSubject"].clone();
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["subject"]["name"], "北京示例网络科技有限公司");
    assert_eq!(updated["subject"]["responsiblePerson"]["mobile"], "13700137000");

    let read = app.ok(&key, EVENTS, json!({ "id": filing["id"] })).await["filing"].clone();
    let events = read["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["action"], "SUBJECT_UPDATED");
    assert_eq!(
        events[1]["changes"],
        json!([
            { "field": "subject.name", "oldValue": "北京示例科技有限公司", "newValue": "北京示例网络科技有限公司" },
            { "field": "subject.responsiblePerson.mobile", "oldValue": "138****8000", "newValue": "137****7000" },
        ])
    );

    // The same subject again changes nothing: no new version, no event.
    let input = json!({ "filingId": filing["id"], "version": 2, "subject": subject });
    let same = app.ok(&key, UPDATE_SUBJECT, json!({ "input": input })).await["updateFilingSubject"].clone();
    assert_eq!(same["version"], 2);
    let read = app.ok(&key, EVENTS, json!({ "id": filing["id"] })).await["filing"].clone();
    assert_eq!(read["events"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_stale_version_is_a_conflict_and_changes_nothing() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let first = json!({ "filingId": filing["id"], "version": 1, "subject": subject_input("第一次修改有限公司") });
    app.ok(&key, UPDATE_SUBJECT, json!({ "input": first })).await;

    let stale = json!({ "filingId": filing["id"], "version": 1, "subject": subject_input("过期的修改有限公司") });
    let error = app.err(&key, UPDATE_SUBJECT, json!({ "input": stale })).await;
    assert_eq!(code(&error), "CONFLICT");
    assert_eq!(error["extensions"]["currentVersion"], 2);

    let website = json!({ "filingId": filing["id"], "version": 1, "website": website_input("新网站", "new.cn") });
    assert_eq!(code(&app.err(&key, ADD_WEBSITE, json!({ "input": website })).await), "CONFLICT");

    let read = app.ok(&key, &GET, json!({ "id": filing["id"] })).await["filing"].clone();
    assert_eq!(read["version"], 2);
    assert_eq!(read["subject"]["name"], "第一次修改有限公司");
    assert_eq!(read["websites"].as_array().unwrap().len(), 1);
    assert_eq!(read["events"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn of_two_concurrent_edits_at_the_same_version_exactly_one_wins() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let edit =
        |name: &str| json!({ "input": { "filingId": filing["id"], "version": 1, "subject": subject_input(name) } });
    let (a, b) = tokio::join!(
        app.post(Some(&key), UPDATE_SUBJECT, edit("甲方修改有限公司")),
        app.post(Some(&key), UPDATE_SUBJECT, edit("乙方修改有限公司")),
    );
    let outcomes: Vec<&str> = [&a.1, &b.1]
        .iter()
        .map(|body| match body.get("errors") {
            None => "ok",
            Some(errors) => errors[0]["extensions"]["code"].as_str().unwrap(),
        })
        .collect();
    let mut sorted = outcomes.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["CONFLICT", "ok"], "{a:?} {b:?}");
    let read = app.ok(&key, &GET, json!({ "id": filing["id"] })).await["filing"].clone();
    assert_eq!(read["version"], 2);
    let winner = if outcomes[0] == "ok" { "甲方修改有限公司" } else { "乙方修改有限公司" };
    assert_eq!(read["subject"]["name"], winner);
}

#[tokio::test]
async fn websites_are_added_updated_and_removed_with_versions_and_audit() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;

    let add =
        json!({ "filingId": filing["id"], "version": 1, "website": website_input("示例商城", "example-shop.cn") });
    let added = app.ok(&key, ADD_WEBSITE, json!({ "input": add })).await["addWebsite"].clone();
    assert_eq!(added["filing"]["version"], 2);
    assert_eq!(added["filing"]["websites"], json!([{ "name": "示例科技官网" }, { "name": "示例商城" }]));
    let website_id = added["website"]["id"].clone();

    let mut changed = website_input("示例商城旗舰店", "example-shop.cn");
    changed["homepageUrl"] = json!("https://example-shop.cn/index.html");
    let update = json!({ "websiteId": website_id, "version": 2, "website": changed });
    let updated = app.ok(&key, UPDATE_WEBSITE, json!({ "input": update })).await["updateWebsite"].clone();
    assert_eq!(updated["filing"]["version"], 3);
    assert_eq!(updated["website"]["name"], "示例商城旗舰店");
    assert_eq!(updated["website"]["homepageUrl"], "https://example-shop.cn/index.html");

    let remove = json!({ "websiteId": website_id, "version": 3 });
    let removed = app.ok(&key, REMOVE_WEBSITE, json!({ "input": remove })).await["removeWebsite"].clone();
    assert_eq!(removed["version"], 4);
    assert_eq!(removed["websites"].as_array().unwrap().len(), 1);

    let events = app.ok(&key, EVENTS, json!({ "id": filing["id"] })).await["filing"]["events"].clone();
    let actions: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["FILING_CREATED", "WEBSITE_ADDED", "WEBSITE_UPDATED", "WEBSITE_REMOVED"]);
    assert_eq!(events[1]["changes"], json!([{ "field": "website", "oldValue": null, "newValue": "示例商城" }]));
    assert_eq!(
        events[2]["changes"],
        json!([
            { "field": "website.name", "oldValue": "示例商城", "newValue": "示例商城旗舰店" },
            { "field": "website.homepageUrl", "oldValue": "https://www.example-shop.cn",
              "newValue": "https://example-shop.cn/index.html" },
        ])
    );
    assert_eq!(events[3]["changes"], json!([{ "field": "website", "oldValue": "示例商城旗舰店", "newValue": null }]));

    // The removed website is gone for good.
    let again = json!({ "websiteId": website_id, "version": 4 });
    assert_eq!(code(&app.err(&key, REMOVE_WEBSITE, json!({ "input": again })).await), "NOT_FOUND");
}

#[tokio::test]
async fn node_resolves_filings_websites_and_events() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let query = "query($id: ID!) { node(id: $id) { __typename id
        ... on Filing { status } ... on Website { name } ... on FilingEvent { action } } }";
    let node = |id: &Value| json!({ "id": id });

    let f = app.ok(&key, query, node(&filing["id"])).await["node"].clone();
    assert_eq!(f, json!({ "__typename": "Filing", "id": filing["id"], "status": "DRAFT" }));
    let w = app.ok(&key, query, node(&filing["websites"][0]["id"])).await["node"].clone();
    assert_eq!(w["__typename"], "Website");
    assert_eq!(w["name"], "示例科技官网");
    let e = app.ok(&key, query, node(&filing["events"][0]["id"])).await["node"].clone();
    assert_eq!(e["action"], "FILING_CREATED");

    assert_eq!(code(&app.err(&key, query, node(&json!("bm90IGFuIGlk"))).await), "BAD_USER_INPUT");
    // A well-formed ID of an object that does not exist.
    let missing = beian::graphql::ids::encode(beian::graphql::ids::Kind::Filing, uuid::Uuid::now_v7());
    assert_eq!(code(&app.err(&key, query, json!({ "id": missing.0 })).await), "NOT_FOUND");
    // A website's ID where a filing's is expected names no filing.
    let error = app.err(&key, &GET, json!({ "id": filing["websites"][0]["id"] })).await;
    assert_eq!(code(&error), "NOT_FOUND");
}

#[tokio::test]
async fn nodes_refetches_many_objects_in_order_and_reports_every_malformed_id() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let start = "mutation($input: StartMobileVerificationInput!) { startMobileVerification(input: $input) {
        verification { id } } }";
    let hand_off = app.ok(&key, start, json!({ "input": { "filingId": filing["id"] } })).await;
    let verification = hand_off["startMobileVerification"]["verification"]["id"].clone();
    let query = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id
        ... on Filing { status } ... on MobileVerification { status } } }";
    let missing = beian::graphql::ids::encode(beian::graphql::ids::Kind::Filing, uuid::Uuid::now_v7()).0;
    let ids = json!([verification, missing, filing["id"], filing["websites"][0]["id"], filing["id"]]);
    let found = app.ok(&key, query, json!({ "ids": ids })).await["nodes"].clone();
    assert_eq!(
        found,
        json!([
            { "__typename": "MobileVerification", "id": verification, "status": "ACTIVE" },
            null,
            { "__typename": "Filing", "id": filing["id"], "status": "DRAFT" },
            { "__typename": "Website", "id": filing["websites"][0]["id"] },
            { "__typename": "Filing", "id": filing["id"], "status": "DRAFT" },
        ])
    );
    assert_eq!(app.ok(&key, query, json!({ "ids": [] })).await["nodes"], json!([]));

    // Every malformed ID is named by its place; nothing is fetched.
    let error = app.err(&key, query, json!({ "ids": [filing["id"], "bm90IGFuIGlk", "%%%"] })).await;
    assert_eq!(
        fields(&error),
        [("ids[1]".to_owned(), "INVALID_ID".to_owned()), ("ids[2]".to_owned(), "INVALID_ID".to_owned())]
    );
    // At most a page's worth at once.
    let too_many: Vec<&Value> = std::iter::repeat_n(&filing["id"], 101).collect();
    let error = app.err(&key, query, json!({ "ids": too_many })).await;
    assert_eq!(fields(&error), [("ids".to_owned(), "TOO_MANY".to_owned())]);
    // Without credentials: nothing.
    let (_, body) = app.post(None, query, json!({ "ids": [filing["id"]] })).await;
    assert_eq!(code(&body["errors"][0]), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_filing_carries_at_most_ten_websites_with_distinct_domains() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let mut version = 1;
    for i in 2..=10 {
        let add = json!({ "filingId": filing["id"], "version": version,
            "website": website_input(&format!("示例网站{i}"), &format!("example-site{i}.cn")) });
        version = app.ok(&key, ADD_WEBSITE, json!({ "input": add })).await["addWebsite"]["filing"]["version"]
            .as_i64()
            .unwrap();
    }
    let eleventh = json!({ "filingId": filing["id"], "version": version,
        "website": website_input("第十一个网站", "example-site11.cn") });
    let error = app.err(&key, ADD_WEBSITE, json!({ "input": eleventh })).await;
    assert_eq!(fields(&error), vec![("filingId".to_owned(), "TOO_MANY".to_owned())]);

    // A domain another website already lists is refused, and so nothing changes.
    let mut update = website_input("示例网站2", "example-site3.cn");
    update["domains"] = json!(["example-site2.cn", "EXAMPLE-SITE3.cn"]);
    let second = &app.ok(&key, &GET, json!({ "id": filing["id"] })).await["filing"]["websites"][1]["id"].clone();
    let input = json!({ "websiteId": second, "version": version, "website": update });
    let error = app.err(&key, UPDATE_WEBSITE, json!({ "input": input })).await;
    assert_eq!(fields(&error), vec![("website.domains[1]".to_owned(), "DUPLICATE".to_owned())]);
    let read = app.ok(&key, &GET, json!({ "id": filing["id"] })).await["filing"].clone();
    assert_eq!(read["version"], version);
    assert_eq!(read["websites"].as_array().unwrap().len(), 10);
}
