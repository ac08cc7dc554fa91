//! Orders beyond the first filing, through GraphQL: add website, changes, cancellations (which skip the preliminary
//! review), add access; one open order per record, and what each type may change.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::people::*;
use crate::workflow::{Cast, act, act_err, cast, confirm_all_sms, state, upload_materials};

const ORDER: &str = "id status version filingType icpNumber isCurrentRecord availableOrderTypes availableActions
    baseFiling { id } supersededBy { id }
    subject { name mailingAddress }
    websites { id name domains icpNumber operation accessMethod }
    smsChecks { personName }
    changesFromRecord { field oldValue newValue }";

async fn order(app: &TestApp, key: &str, id: &Value) -> Value {
    let query = format!("query($id: ID!) {{ filing(id: $id) {{ {ORDER} }} }}");
    app.ok(key, &query, json!({ "id": id })).await["filing"].clone()
}

fn start_query() -> String {
    format!("mutation($input: StartOrderInput!) {{ startOrder(input: $input) {{ {ORDER} }} }}")
}

async fn start(app: &TestApp, key: &str, record: &Value, filing_type: &str, websites: Value) -> Value {
    let input = json!({ "input": { "filingId": record["id"], "filingType": filing_type, "websiteIds": websites } });
    app.ok(key, &start_query(), input).await["startOrder"].clone()
}

async fn start_err(app: &TestApp, key: &str, record: &Value, filing_type: &str, websites: Value) -> Value {
    let input = json!({ "input": { "filingId": record["id"], "filingType": filing_type, "websiteIds": websites } });
    app.err(key, &start_query(), input).await
}

const DECIDE: &str = "mutation($input: BureauDecisionInput!) { recordBureauDecision(input: $input) {
    status icpNumber websites { icpNumber } } }";

/// The registrar records the bureau's approval with the given numbers.
async fn bureau_approval(app: &TestApp, key: &str, filing: &Value, subject: Option<&str>, websites: Value) -> Value {
    let version = state(app, key, filing).await["version"].clone();
    let approved = match subject {
        Some(number) => json!({ "subjectNumber": number, "websites": websites }),
        None => json!({ "websites": websites }),
    };
    let input = json!({ "input": { "filingId": filing["id"], "version": version, "approved": approved } });
    app.post(Some(key), DECIDE, input).await.1
}

/// Takes a draft through the preliminary review and the SMS check to the bureau.
async fn to_bureau(cast: &Cast, filing: &Value) {
    let Cast { app, backend, reviewer, applicant, .. } = cast;
    upload_materials(app, applicant, filing).await;
    assert_eq!(act(app, applicant, "submitFiling", filing).await["status"], "PENDING_REVIEW");
    act(app, reviewer, "claimReview", filing).await;
    assert_eq!(act(app, reviewer, "approvePreliminaryReview", filing).await["status"], "SMS_VERIFICATION");
    confirm_all_sms(app, backend, filing).await;
    assert_eq!(state(app, applicant, filing).await["status"], "BUREAU_REVIEW");
}

/// A first filing with one website, filed as 京ICP备2026000001号 (-1).
async fn filed(cast: &Cast) -> Value {
    let Cast { app, backend, applicant, .. } = cast;
    let filing = app.create_filing(applicant, "北京示例科技有限公司").await;
    to_bureau(cast, &filing).await;
    let numbers = json!([{ "websiteId": filing["websites"][0]["id"], "number": "京ICP备2026000001号-1" }]);
    let body = bureau_approval(app, backend, &filing, Some("京ICP备2026000001号"), numbers).await;
    assert_eq!(body["data"]["recordBureauDecision"]["status"], "APPROVED", "{body}");
    order(app, applicant, &filing["id"]).await
}

fn version_input(filing: &Value, version: &Value, extra: (&str, Value)) -> Value {
    let mut input = json!({ "filingId": filing["id"], "version": version });
    input[extra.0] = extra.1;
    json!({ "input": input })
}

const ADD_WEBSITE: &str =
    "mutation($input: AddWebsiteInput!) { addWebsite(input: $input) { filing { version } website { id } } }";
const UPDATE_WEBSITE: &str =
    "mutation($input: UpdateWebsiteInput!) { updateWebsite(input: $input) { filing { version } } }";
const REMOVE_WEBSITE: &str = "mutation($input: RemoveWebsiteInput!) { removeWebsite(input: $input) { version } }";
const UPDATE_SUBJECT: &str =
    "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }";
const CHECKLIST: &str = "query($id: ID!) { filing(id: $id) { checklist { items { kind websiteId } } } }";

fn update_website(website_id: &Value, version: &Value, website: Value) -> Value {
    json!({ "input": { "websiteId": website_id, "version": version, "website": website } })
}

#[tokio::test]
async fn an_add_website_order_adds_a_numbered_website_and_becomes_the_record() {
    let cast = cast().await;
    let record = filed(&cast).await;
    let Cast { app, backend, reviewer, applicant, .. } = &cast;
    assert_eq!(record["isCurrentRecord"], true);
    assert_eq!(record["availableOrderTypes"].as_array().unwrap().len(), 7);
    // Staff review; they do not start the applicant's orders.
    assert_eq!(order(app, reviewer, &record["id"]).await["availableOrderTypes"], json!([]));
    assert_eq!(code(&start_err(app, reviewer, &record, "ADD_WEBSITE", json!([])).await), "FORBIDDEN");

    let draft = start(app, applicant, &record, "ADD_WEBSITE", json!([])).await;
    assert_eq!(draft["status"], "DRAFT");
    assert_eq!(draft["filingType"], "ADD_WEBSITE");
    assert_eq!(draft["baseFiling"]["id"], record["id"]);
    assert_eq!(draft["icpNumber"], "京ICP备2026000001号", "the order carries the record's numbers");
    assert_eq!(draft["websites"][0]["operation"], "CARRIED");
    assert_eq!(draft["websites"][0]["icpNumber"], "京ICP备2026000001号-1");
    assert_eq!(draft["changesFromRecord"], json!([]));
    assert_eq!(draft["isCurrentRecord"], false);
    // One open order per record: a change cannot start beside the add order.
    let error = start_err(app, applicant, &record, "CHANGE_WEBSITE", json!([])).await;
    assert_eq!(fields(&error), vec![("filingId".to_owned(), "ORDER_IN_FLIGHT".to_owned())]);

    // The filed website and the subject stay as filed.
    let carried = &draft["websites"][0]["id"];
    let renamed = website_input("示例科技新官网", "example.com");
    let error = app.err(applicant, UPDATE_WEBSITE, update_website(carried, &draft["version"], renamed)).await;
    assert_eq!(fields(&error), vec![("website.name".to_owned(), "CHANGE_NOT_ALLOWED".to_owned())]);
    let error = app
        .err(applicant, REMOVE_WEBSITE, json!({ "input": { "websiteId": carried, "version": draft["version"] } }))
        .await;
    assert_eq!(fields(&error), vec![("websites".to_owned(), "CHANGE_NOT_ALLOWED".to_owned())]);
    let subject = ("subject", subject_input("北京示例网络有限公司"));
    let error = app.err(applicant, UPDATE_SUBJECT, version_input(&draft, &draft["version"], subject)).await;
    assert_eq!(fields(&error), vec![("subject.name".to_owned(), "CHANGE_NOT_ALLOWED".to_owned())]);
    assert_eq!(order(app, applicant, &draft["id"]).await["version"], draft["version"], "nothing was written");
    // Submitting an add order that adds nothing says so.
    let error = act_err(app, applicant, "submitFiling", &draft).await;
    assert!(fields(&error).contains(&("websites".to_owned(), "NO_CHANGE".to_owned())), "{error}");

    let website = ("website", website_input("示例科技产品介绍网", "example.net"));
    let added = app.ok(applicant, ADD_WEBSITE, version_input(&draft, &draft["version"], website)).await;
    let new_id = added["addWebsite"]["website"]["id"].clone();
    let draft = order(app, applicant, &draft["id"]).await;
    assert_eq!(draft["websites"][1]["operation"], "NEW");
    assert_eq!(
        draft["changesFromRecord"],
        json!([{ "field": "websites[1]", "oldValue": null, "newValue": "示例科技产品介绍网" }])
    );
    // Per-website materials are asked for the new website only.
    let items =
        app.ok(applicant, CHECKLIST, json!({ "id": draft["id"] })).await["filing"]["checklist"]["items"].clone();
    let face: Vec<&Value> = items.as_array().unwrap().iter().filter(|i| i["kind"] == "FACE_VIDEO").collect();
    assert_eq!(face.len(), 1);
    assert_eq!(face[0]["websiteId"], new_id);

    to_bureau(&cast, &draft).await;
    let people: Vec<Value> = order(app, applicant, &draft["id"]).await["smsChecks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["personName"].clone())
        .collect();
    assert_eq!(people, vec![json!("张三"), json!("李四")]);
    // The new website needs its number; the filed one keeps its own, and a number already taken is refused.
    let body = bureau_approval(app, backend, &draft, None, json!([])).await;
    assert_eq!(fields(&body["errors"][0]), vec![("websites[1]".to_owned(), "REQUIRED".to_owned())]);
    let taken = json!([{ "websiteId": new_id, "number": "京ICP备2026000001号-1" }]);
    let body = bureau_approval(app, backend, &draft, None, taken).await;
    assert_eq!(fields(&body["errors"][0]), vec![("websites[1]".to_owned(), "DUPLICATE".to_owned())]);
    let other_subject = json!([{ "websiteId": new_id, "number": "京ICP备2026000001号-2" }]);
    let body = bureau_approval(app, backend, &draft, Some("京ICP备2026000009号"), other_subject).await;
    assert_eq!(fields(&body["errors"][0])[0], ("subjectNumber".to_owned(), "NUMBER_MISMATCH".to_owned()));
    let numbers = json!([{ "websiteId": new_id, "number": "京ICP备2026000001号-2" }]);
    let body = bureau_approval(app, backend, &draft, None, numbers).await;
    let decided = &body["data"]["recordBureauDecision"];
    assert_eq!(decided["status"], "APPROVED", "{body}");
    assert_eq!(
        decided["websites"],
        json!([{ "icpNumber": "京ICP备2026000001号-1" }, { "icpNumber": "京ICP备2026000001号-2" }])
    );

    // The order is the record now; the old one points at it and starts nothing.
    let done = order(app, applicant, &draft["id"]).await;
    assert_eq!(done["isCurrentRecord"], true);
    let old = order(app, applicant, &record["id"]).await;
    assert_eq!(
        (old["isCurrentRecord"].clone(), old["supersededBy"]["id"].clone()),
        (json!(false), draft["id"].clone())
    );
    let error = start_err(app, applicant, &record, "CHANGE_SUBJECT", json!([])).await;
    assert_eq!(fields(&error), vec![("filingId".to_owned(), "NOT_CURRENT_RECORD".to_owned())]);
    // The next order starts from the new record, with both websites.
    let next = start(app, applicant, &done, "CHANGE_SUBJECT", json!([])).await;
    assert_eq!(next["websites"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_cancellation_skips_the_preliminary_review_and_ends_the_record() {
    let cast = cast().await;
    let record = filed(&cast).await;
    let Cast { app, backend, reviewer, applicant, .. } = &cast;
    let website = &record["websites"][0]["id"];

    // What a cancellation must name, and what it may not.
    let error = start_err(app, applicant, &record, "CANCEL_WEBSITE", json!([])).await;
    assert_eq!(fields(&error), vec![("websiteIds".to_owned(), "REQUIRED".to_owned())]);
    let error = start_err(app, applicant, &record, "CANCEL_WEBSITE", json!([website])).await;
    assert_eq!(
        fields(&error),
        vec![("websites".to_owned(), "LAST_WEBSITE".to_owned())],
        "the last website goes with the subject"
    );
    let error = start_err(app, applicant, &record, "ADD_WEBSITE", json!([website])).await;
    assert_eq!(fields(&error), vec![("websiteIds".to_owned(), "CHANGE_NOT_ALLOWED".to_owned())]);
    let error = start_err(app, applicant, &record, "FIRST_FILING", json!([])).await;
    assert_eq!(fields(&error), vec![("filingType".to_owned(), "CHANGE_NOT_ALLOWED".to_owned())]);
    let error = start_err(app, applicant, &record, "CANCEL_ACCESS", json!([record["id"]])).await;
    assert_eq!(code(&error), "NOT_FOUND", "a filing's id is not a website's");

    let draft = start(app, applicant, &record, "CANCEL_SUBJECT", json!([])).await;
    assert_eq!(draft["websites"][0]["operation"], "CANCEL");
    assert_eq!(draft["availableActions"], json!(["SUBMIT_FILING", "ABANDON_FILING"]));
    assert_eq!(
        draft["changesFromRecord"],
        json!([{ "field": "websites[0].operation", "oldValue": "CARRIED", "newValue": "CANCEL" }])
    );
    // A cancellation changes no data.
    let mut mail = subject_input("北京示例科技有限公司");
    mail["mailingAddress"] = json!("北京市朝阳区示例路2号");
    let error = app.err(applicant, UPDATE_SUBJECT, version_input(&draft, &draft["version"], ("subject", mail))).await;
    assert_eq!(fields(&error), vec![("subject.mailingAddress".to_owned(), "CHANGE_NOT_ALLOWED".to_owned())]);
    // Its materials: the signed application and the subject person's ID.
    let items =
        app.ok(applicant, CHECKLIST, json!({ "id": draft["id"] })).await["filing"]["checklist"]["items"].clone();
    let kinds: Vec<&str> = items.as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["ID_CARD_FRONT", "ID_CARD_BACK", "CANCELLATION_APPLICATION"]);
    upload_materials(app, applicant, &draft).await;

    // Straight to the MIIT SMS check: no reviewer involved; the applicant and both persons hear of it.
    assert_eq!(act(app, applicant, "submitFiling", &draft).await["status"], "SMS_VERIFICATION");
    let query = "query($id: ID!) { filing(id: $id) { notifications { stage recipient } } }";
    // (Read with the backend's key: administrators see recipients masked, like all personal data.)
    let sent = app.ok(backend, query, json!({ "id": draft["id"] })).await["filing"]["notifications"].clone();
    let sent: Vec<(&str, &str)> = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["stage"].as_str().unwrap(), n["recipient"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sent,
        vec![
            ("SUBMISSION_RECEIVED", "owner@example.com"),
            ("SMS_CHECK_STARTED", "owner@example.com"),
            ("SMS_CHECK_STARTED", "zhangsan@example.com"),
            ("SMS_CHECK_STARTED", "lisi@example.com"),
        ]
    );
    let current = state(app, applicant, &draft).await;
    assert!(current["smsDeadlineAt"].is_string());
    assert_eq!(code(&act_err(app, reviewer, "claimReview", &draft).await), "INVALID_TRANSITION");
    confirm_all_sms(app, backend, &draft).await;
    let body = bureau_approval(app, backend, &draft, None, json!([])).await;
    assert_eq!(body["data"]["recordBureauDecision"]["status"], "APPROVED", "{body}");

    // The subject is cancelled: neither record starts anything any more.
    let done = order(app, applicant, &draft["id"]).await;
    assert_eq!((done["isCurrentRecord"].clone(), done["availableOrderTypes"].clone()), (json!(false), json!([])));
    assert_eq!(order(app, applicant, &record["id"]).await["supersededBy"]["id"], draft["id"]);
    let error = start_err(app, applicant, &done, "ADD_WEBSITE", json!([])).await;
    assert_eq!(fields(&error), vec![("filingId".to_owned(), "NOT_CURRENT_RECORD".to_owned())]);
    let events = state(app, applicant, &draft).await["events"].clone();
    let submitted = events.as_array().unwrap().iter().find(|e| e["action"] == "SUBMITTED").unwrap();
    assert_eq!(
        (submitted["fromStatus"].clone(), submitted["toStatus"].clone()),
        (json!("DRAFT"), json!("SMS_VERIFICATION"))
    );
}

#[tokio::test]
async fn only_a_website_change_removes_domains_and_only_an_access_change_moves_hosting() {
    let cast = cast().await;
    let record = filed(&cast).await;
    let Cast { app, applicant, .. } = &cast;

    // An access change: the access method, nothing else.
    let access = start(app, applicant, &record, "CHANGE_ACCESS", json!([])).await;
    let website = &access["websites"][0]["id"];
    let moved = website_input("示例科技官网", "example.cn");
    let error = app.err(applicant, UPDATE_WEBSITE, update_website(website, &access["version"], moved)).await;
    let found = fields(&error);
    assert!(found.contains(&("website.domains".to_owned(), "DOMAIN_REMOVAL_NOT_ALLOWED".to_owned())), "{found:?}");
    let mut colocated = website_input("示例科技官网", "example.com");
    colocated["accessMethod"] = json!("COLOCATION");
    app.ok(applicant, UPDATE_WEBSITE, update_website(website, &access["version"], colocated)).await;
    let access = order(app, applicant, &access["id"]).await;
    assert_eq!(
        access["changesFromRecord"],
        json!([{ "field": "websites[0].accessMethod", "oldValue": "CLOUD", "newValue": "COLOCATION" }])
    );
    act(app, applicant, "abandonFiling", &access).await;

    // A website change: the domain may go (and the access may not change here).
    let change = start(app, applicant, &record, "CHANGE_WEBSITE", json!([])).await;
    let website = &change["websites"][0]["id"];
    let mut colocated = website_input("示例科技官网", "example.cn");
    colocated["accessMethod"] = json!("COLOCATION");
    let error = app.err(applicant, UPDATE_WEBSITE, update_website(website, &change["version"], colocated)).await;
    assert_eq!(fields(&error), vec![("website.accessMethod".to_owned(), "CHANGE_NOT_ALLOWED".to_owned())]);
    let moved = website_input("示例科技官网", "example.cn");
    app.ok(applicant, UPDATE_WEBSITE, update_website(website, &change["version"], moved)).await;
    let change = order(app, applicant, &change["id"]).await;
    assert_eq!(change["websites"][0]["domains"], json!(["example.cn"]));
    assert_eq!(change["websites"][0]["icpNumber"], "京ICP备2026000001号-1", "a change keeps the number");
    let changed: Vec<&str> =
        change["changesFromRecord"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert_eq!(changed, vec!["websites[0].domains", "websites[0].homepageUrl"]);
    // A new website needs an add-website order.
    let website = ("website", website_input("示例科技产品介绍网", "example.net"));
    let error = app.err(applicant, ADD_WEBSITE, version_input(&change, &change["version"], website)).await;
    assert_eq!(fields(&error), vec![("website".to_owned(), "CHANGE_NOT_ALLOWED".to_owned())]);
    // The record itself is untouched until the bureau approves.
    assert_eq!(order(app, applicant, &record["id"]).await["websites"][0]["domains"], json!(["example.com"]));
}

#[tokio::test]
async fn an_add_access_order_names_the_subject_number_the_bureau_confirms() {
    let cast = cast().await;
    let Cast { app, backend, applicant, .. } = &cast;
    let with = |filing_type: &str, number: Option<&str>| {
        let mut input = filing_input("北京示例科技有限公司");
        input["filingType"] = json!(filing_type);
        if let Some(number) = number {
            input["icpNumber"] = json!(number);
        }
        json!({ "input": input })
    };
    let refused = [
        (with("ADD_ACCESS", None), ("icpNumber", "REQUIRED")),
        (with("ADD_ACCESS", Some("沪ICP备2020000001号")), ("icpNumber", "PROVINCE_MISMATCH")),
        (with("ADD_ACCESS", Some("京ICP备2020000001号-1")), ("icpNumber", "INVALID_FORMAT")),
        (with("FIRST_FILING", Some("京ICP备2020000001号")), ("icpNumber", "CHANGE_NOT_ALLOWED")),
        (with("CHANGE_SUBJECT", None), ("filingType", "CHANGE_NOT_ALLOWED")),
    ];
    for (input, (field, expected)) in refused {
        let error = app.err(applicant, &CREATE, input).await;
        assert_eq!(fields(&error), vec![(field.to_owned(), expected.to_owned())]);
    }
    let list = "{ filings(first: 10) { totalCount } }";
    assert_eq!(app.ok(applicant, list, json!({})).await["filings"]["totalCount"], 0, "nothing was written");

    let created =
        app.ok(applicant, &CREATE, with("ADD_ACCESS", Some("京ICP备2020000001号"))).await["createFiling"].clone();
    assert_eq!(created["filingType"], "ADD_ACCESS");
    let filing = order(app, applicant, &created["id"]).await;
    assert_eq!(filing["icpNumber"], "京ICP备2020000001号");
    assert_eq!(filing["websites"][0]["operation"], "NEW");
    to_bureau(&cast, &filing).await;
    let website = &filing["websites"][0]["id"];
    let numbers = json!([{ "websiteId": website, "number": "京ICP备2020000001号-3" }]);
    let body = bureau_approval(app, backend, &filing, Some("京ICP备2021000001号"), numbers.clone()).await;
    assert_eq!(fields(&body["errors"][0])[0], ("subjectNumber".to_owned(), "NUMBER_MISMATCH".to_owned()));
    let body = bureau_approval(app, backend, &filing, None, numbers).await;
    let decided = &body["data"]["recordBureauDecision"];
    assert_eq!(decided["icpNumber"], "京ICP备2020000001号", "{body}");
    assert_eq!(decided["websites"][0]["icpNumber"], "京ICP备2020000001号-3");
    assert_eq!(order(app, applicant, &filing["id"]).await["isCurrentRecord"], true);
}

#[tokio::test]
async fn orders_start_only_from_records_the_caller_may_see_and_one_at_a_time() {
    let cast = cast().await;
    let record = filed(&cast).await;
    let Cast { app, applicant, .. } = &cast;
    // Another applicant of the same registrar, and another registrar's backend, do not see the record.
    let stranger = access(&crate::people::applicant(app, "xinnet", "stranger@example.com").await);
    assert_eq!(code(&start_err(app, &stranger, &record, "ADD_WEBSITE", json!([])).await), "NOT_FOUND");
    let other = app.tenant("aliyun").await;
    assert_eq!(code(&start_err(app, &other, &record, "ADD_WEBSITE", json!([])).await), "NOT_FOUND");
    let query = "query($id: ID!) { filing(id: $id) { id } }";
    assert_eq!(code(&app.err(&other, query, json!({ "id": record["id"] })).await), "NOT_FOUND");

    // A draft is not a record.
    let draft = app.create_filing(applicant, "北京另一家科技有限公司").await;
    let error = start_err(app, applicant, &draft, "ADD_WEBSITE", json!([])).await;
    assert_eq!(fields(&error), vec![("filingId".to_owned(), "NOT_CURRENT_RECORD".to_owned())]);

    // Two orders started at once from one record: exactly one is created.
    let input = |t: &str| json!({ "input": { "filingId": record["id"], "filingType": t } });
    let query = start_query();
    let (a, b) = tokio::join!(
        app.post(Some(applicant), &query, input("ADD_WEBSITE")),
        app.post(Some(applicant), &query, input("CHANGE_SUBJECT"))
    );
    let created = [&a.1, &b.1].iter().filter(|body| body["data"]["startOrder"].is_object()).count();
    assert_eq!(created, 1, "{a:?} {b:?}");
    let refused = if a.1["data"]["startOrder"].is_object() { &b.1 } else { &a.1 };
    assert_eq!(fields(&refused["errors"][0]), vec![("filingId".to_owned(), "ORDER_IN_FLIGHT".to_owned())]);
}
