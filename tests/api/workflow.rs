//! The review workflow through GraphQL: submission, preliminary review, the MIIT SMS check, the bureau.

use serde_json::{Value, json};

use crate::attachments::{COMPLETE, REQUEST, pdf, png, put, upload_input};
use crate::helpers::*;
use crate::people::*;

pub const STATE: &str = "query($id: ID!) { filing(id: $id) { status version icpNumber smsDeadlineAt availableActions
    reviewer { email } returnReasons { field code message suggestion }
    smsChecks { id personName status failures } websites { id icpNumber }
    events { action fromStatus toStatus actor { kind } reasons { field code } } } }";

pub fn step(name: &str) -> String {
    format!("mutation($input: FilingVersionInput!) {{ {name}(input: $input) {{ status version }} }}")
}

pub async fn state(app: &TestApp, key: &str, filing: &Value) -> Value {
    app.ok(key, STATE, json!({ "id": filing["id"] })).await["filing"].clone()
}

pub async fn act(app: &TestApp, key: &str, name: &str, filing: &Value) -> Value {
    let version = state(app, key, filing).await["version"].clone();
    app.ok(key, &step(name), json!({ "input": { "filingId": filing["id"], "version": version } })).await[name].clone()
}

pub async fn act_err(app: &TestApp, key: &str, name: &str, filing: &Value) -> Value {
    let version = state(app, key, filing).await["version"].clone();
    app.err(key, &step(name), json!({ "input": { "filingId": filing["id"], "version": version } })).await
}

/// Makes a draft ready to submit as an applicant would: every material the checklist asks for uploaded, and every
/// responsible person's mobile number confirmed on their phone ([`confirm_phones`]).
pub async fn upload_materials(app: &TestApp, key: &str, filing: &Value) {
    upload_files(app, key, filing).await;
    confirm_phones(app, key, filing).await;
}

const START_HAND_OFF: &str =
    "mutation($input: StartMobileVerificationInput!) { startMobileVerification(input: $input) { token } }";

/// Confirms every responsible person's mobile number the way the phone does it: a hand-off started from the
/// desktop, a code sent to the phone (the embedded sender records it), the code typed on the phone. Codes to one
/// number are throttled (a minute apart, five an hour): when a test's filings share a person, the throttle's time
/// is let pass (as `mobile.rs` does) instead of waiting for it.
pub async fn confirm_phones(app: &TestApp, key: &str, filing: &Value) {
    let query = "query($id: ID!) { filing(id: $id) { checklist { phones { person websiteId state } } } }";
    let phones = app.ok(key, query, json!({ "id": filing["id"] })).await["filing"]["checklist"]["phones"].clone();
    for phone in phones.as_array().unwrap().iter().filter(|p| p["state"] != "ACCEPTED") {
        let input = json!({ "input": { "filingId": filing["id"], "websiteId": phone["websiteId"] } });
        let token =
            app.ok(key, START_HAND_OFF, input).await["startMobileVerification"]["token"].as_str().unwrap().to_owned();
        let send = "mutation { sendPhoneCode { codeSentAt } }";
        let (_, body) = app.post(Some(&token), send, json!({})).await;
        if body["errors"][0]["extensions"]["code"] == "RATE_LIMITED" {
            let_code_limits_pass(app).await;
            app.ok(&token, send, json!({})).await;
        } else {
            assert!(body.get("errors").is_none(), "{body}");
        }
        let person = phone["person"].as_str().unwrap();
        let messages = beian::mail::outbox::latest(&app.db, None, 50).await.unwrap();
        let message = messages
            .iter()
            .find(|m| m.template == "PHONE_CODE" && m.payload["person"] == person)
            .expect("the code sent to the phone");
        let confirm = "mutation($code: String!) { confirmPhoneCode(code: $code) { phoneVerified } }";
        let confirmed = app.ok(&token, confirm, json!({ "code": message.payload["code"] })).await;
        assert_eq!(confirmed["confirmPhoneCode"]["phoneVerified"], true);
    }
}

/// Moves every phone code sent so far a day into the past, as if the throttle's time had passed.
async fn let_code_limits_pass(app: &TestApp) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, prelude::Expr};
    let day = chrono::Duration::days(1);
    for row in entity::phone_code_send::Entity::find().all(&app.db).await.unwrap() {
        entity::phone_code_send::Entity::update_many()
            .col_expr(entity::phone_code_send::Column::CreatedAt, Expr::value(row.created_at - day))
            .filter(entity::phone_code_send::Column::Id.eq(row.id))
            .exec(&app.db)
            .await
            .unwrap();
    }
    for row in entity::mobile_session::Entity::find().all(&app.db).await.unwrap() {
        entity::mobile_session::Entity::update_many()
            .col_expr(entity::mobile_session::Column::CodeSentAt, Expr::value(row.code_sent_at.map(|t| t - day)))
            .filter(entity::mobile_session::Column::Id.eq(row.id))
            .exec(&app.db)
            .await
            .unwrap();
    }
}

/// Uploads every material the checklist asks for.
pub async fn upload_files(app: &TestApp, key: &str, filing: &Value) {
    let query = "query($id: ID!) { filing(id: $id) { checklist { items { kind websiteId state } } } }";
    let items = app.ok(key, query, json!({ "id": filing["id"] })).await["filing"]["checklist"]["items"].clone();
    for item in items.as_array().unwrap() {
        if item["state"] == "UPLOADED" {
            continue;
        }
        let kind = item["kind"].as_str().unwrap();
        let (name, ty, bytes) = match kind {
            "FACE_VIDEO" => ("face.mp4", "video/mp4", {
                let mut v = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
                v.resize(4096, 1);
                v
            }),
            k if k.starts_with("ID_CARD") => ("id.png", "image/png", png(1024)),
            _ => ("doc.pdf", "application/pdf", pdf()),
        };
        let mut input = upload_input(filing, kind, name, ty, &bytes);
        input["input"]["websiteId"] = item["websiteId"].clone();
        let ticket = app.ok(key, REQUEST, input).await["requestAttachmentUpload"].clone();
        assert_eq!(put(app, &ticket, bytes).await, 200);
        app.ok(key, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await;
    }
}

pub struct Cast {
    pub app: TestApp,
    pub backend: String,
    pub admin: String,
    pub reviewer: String,
    pub other_reviewer: String,
    pub applicant: String,
}

pub async fn cast() -> Cast {
    cast_on(spawn_app().await).await
}

/// The cast of a registrar on an app the test configured.
pub async fn cast_on(app: TestApp) -> Cast {
    let backend = app.tenant("xinnet").await;
    let admin = access(&first_admin(&app, "xinnet", "admin@xinnet.example").await);
    let reviewer = access(&staff(&app, &admin, "reviewer@xinnet.example", "REVIEWER").await);
    let other_reviewer = access(&staff(&app, &admin, "second@xinnet.example", "REVIEWER").await);
    let applicant = access(&applicant(&app, "xinnet", "owner@example.com").await);
    Cast { app, backend, admin, reviewer, other_reviewer, applicant }
}

pub async fn reject(app: &TestApp, key: &str, filing: &Value, name: &str, reasons: Value) -> Value {
    let version = state(app, key, filing).await["version"].clone();
    let query = format!("mutation($input: ReturnFilingInput!) {{ {name}(input: $input) {{ status version }} }}");
    let input = json!({ "input": { "filingId": filing["id"], "version": version, "reasons": reasons } });
    let (_, body) = app.post(Some(key), &query, input).await;
    body
}

pub async fn confirm_all_sms(app: &TestApp, key: &str, filing: &Value) {
    let checks = state(app, key, filing).await["smsChecks"].clone();
    let record = "mutation($id: ID!, $ok: Boolean!) { recordSmsVerification(checkId: $id, confirmed: $ok) { status } }";
    for check in checks.as_array().unwrap() {
        app.ok(key, record, json!({ "id": check["id"], "ok": true })).await;
    }
}

#[tokio::test]
async fn a_full_journey_from_draft_to_icp_numbers_through_two_rejections() {
    let Cast { app, backend, reviewer, applicant, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;

    // Submitting without the materials lists every missing one, and every person whose phone is not confirmed.
    let error = act_err(&app, &applicant, "submitFiling", &filing).await;
    let refused = fields(&error);
    let missing: Vec<&String> = refused.iter().filter(|(_, c)| c == "MATERIAL_MISSING").map(|(f, _)| f).collect();
    assert!(missing.contains(&&"materials.SUBJECT_CERTIFICATE".to_owned()), "{missing:?}");
    assert_eq!(missing.len(), 9);
    let phones: Vec<&String> = refused.iter().filter(|(_, c)| c == "PHONE_UNVERIFIED").map(|(f, _)| f).collect();
    assert_eq!(phones, ["subject.responsiblePerson", "websites[0].responsiblePerson"]);
    assert_eq!(refused.len(), 11, "{refused:?}");
    upload_materials(&app, &applicant, &filing).await;

    for round in 0..2 {
        assert_eq!(act(&app, &applicant, "submitFiling", &filing).await["status"], "PENDING_REVIEW");
        assert_eq!(act(&app, &reviewer, "claimReview", &filing).await["status"], "IN_REVIEW");
        let in_review = state(&app, &reviewer, &filing).await;
        assert_eq!(in_review["reviewer"]["email"], "reviewer@xinnet.example");
        // Each action names the mutation that performs it; the applicant meanwhile may only withdraw or give up.
        let reviewing = json!(["RELEASE_REVIEW", "APPROVE_PRELIMINARY_REVIEW", "REJECT_PRELIMINARY_REVIEW"]);
        assert_eq!(in_review["availableActions"], reviewing);
        let waiting = json!(["WITHDRAW_FILING", "ABANDON_FILING"]);
        assert_eq!(state(&app, &applicant, &filing).await["availableActions"], waiting);
        let current = state(&app, &applicant, &filing).await;
        assert_eq!(current["reviewer"], Value::Null, "applicants do not see staff accounts");
        // Nothing is editable while in review.
        let update = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }";
        let input = json!({ "filingId": filing["id"], "version": current["version"], "subject": subject_input("改名有限公司") });
        assert_eq!(code(&app.err(&applicant, update, json!({ "input": input })).await), "INVALID_TRANSITION");

        let reasons = json!([{ "field": "websites[0].name", "code": "NAME_UNCLEAR",
            "message": format!("第{}次：网站名称与内容不符", round + 1), "suggestion": "请修改网站名称" }]);
        let body = reject(&app, &reviewer, &filing, "rejectPreliminaryReview", reasons).await;
        assert_eq!(body["data"]["rejectPreliminaryReview"]["status"], "RETURNED", "{body}");
        let returned = state(&app, &applicant, &filing).await;
        assert_eq!(returned["returnReasons"][0]["code"], "NAME_UNCLEAR");
        assert_eq!(returned["availableActions"], json!(["SUBMIT_FILING", "ABANDON_FILING"]));

        // The applicant fixes the website and resubmits.
        let website = website_input(&format!("示例科技产品展示网{round}"), "example.com");
        let input =
            json!({ "websiteId": filing["websites"][0]["id"], "version": returned["version"], "website": website });
        let update = "mutation($input: UpdateWebsiteInput!) { updateWebsite(input: $input) { filing { version } } }";
        app.ok(&applicant, update, json!({ "input": input })).await;
    }

    act(&app, &applicant, "submitFiling", &filing).await;
    act(&app, &reviewer, "claimReview", &filing).await;
    let approved = act(&app, &reviewer, "approvePreliminaryReview", &filing).await;
    assert_eq!(approved["status"], "SMS_VERIFICATION");
    let sms = state(&app, &applicant, &filing).await;
    assert!(sms["smsDeadlineAt"].is_string());
    // Recording MIIT's texts is the registrar's (the backend's key); the server's own deadline is no action.
    assert_eq!(
        state(&app, &backend, &filing).await["availableActions"],
        json!(["ABANDON_FILING", "RECORD_SMS_VERIFICATION"])
    );
    assert_eq!(sms["availableActions"], json!(["ABANDON_FILING"]));
    assert_eq!(state(&app, &reviewer, &filing).await["availableActions"], json!([]));
    let people: Vec<&str> =
        sms["smsChecks"].as_array().unwrap().iter().map(|c| c["personName"].as_str().unwrap()).collect();
    assert_eq!(people, vec!["张三", "李四"]);
    confirm_all_sms(&app, &backend, &filing).await;
    assert_eq!(state(&app, &applicant, &filing).await["status"], "BUREAU_REVIEW");
    assert_eq!(state(&app, &backend, &filing).await["availableActions"], json!(["RECORD_BUREAU_DECISION"]));

    // The bureau approves; the numbers must fit the filing's province and each other.
    let current = state(&app, &backend, &filing).await;
    let decide = "mutation($input: BureauDecisionInput!) { recordBureauDecision(input: $input) { status icpNumber websites { icpNumber } } }";
    let approval = |subject: &str, website: &str| {
        json!({ "input": { "filingId": filing["id"], "version": current["version"], "approved": {
            "subjectNumber": subject, "websites": [{ "websiteId": filing["websites"][0]["id"], "number": website }] } } })
    };
    let error = app.err(&backend, decide, approval("沪ICP备2026000001号", "沪ICP备2026000001号-1")).await;
    assert_eq!(fields(&error)[0], ("subjectNumber".to_owned(), "PROVINCE_MISMATCH".to_owned()));
    let error = app.err(&backend, decide, approval("京ICP备2026000001号", "京ICP备2026000002号-1")).await;
    assert_eq!(fields(&error)[0].0, "websites[0]");
    let done = app.ok(&backend, decide, approval("京ICP备2026000001号", "京ICP备2026000001号-1")).await;
    assert_eq!(done["recordBureauDecision"]["status"], "APPROVED");
    assert_eq!(done["recordBureauDecision"]["icpNumber"], "京ICP备2026000001号");
    assert_eq!(done["recordBureauDecision"]["websites"][0]["icpNumber"], "京ICP备2026000001号-1");

    // The trail has every step, in order, with who did it.
    let events = state(&app, &applicant, &filing).await["events"].clone();
    let actions: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    let transitions: Vec<&str> =
        actions.iter().copied().filter(|a| !a.starts_with("ATTACHMENT") && *a != "WEBSITE_UPDATED").collect();
    assert_eq!(
        transitions,
        vec![
            "FILING_CREATED",
            // Each responsible person confirms their mobile number before the first submission.
            "MOBILE_VERIFICATION_STARTED",
            "PHONE_CODE_SENT",
            "PHONE_VERIFIED",
            "MOBILE_VERIFICATION_STARTED",
            "PHONE_CODE_SENT",
            "PHONE_VERIFIED",
            "SUBMITTED",
            "REVIEW_CLAIMED",
            "PRELIMINARY_REJECTED",
            "SUBMITTED",
            "REVIEW_CLAIMED",
            "PRELIMINARY_REJECTED",
            "SUBMITTED",
            "REVIEW_CLAIMED",
            "PRELIMINARY_APPROVED",
            "SMS_CONFIRMED",
            "SMS_CONFIRMED",
            "SMS_COMPLETED",
            "BUREAU_APPROVED",
        ]
    );
    let rejection = events.as_array().unwrap().iter().find(|e| e["action"] == "PRELIMINARY_REJECTED").unwrap();
    assert_eq!(rejection["reasons"][0]["field"], "websites[0].name");
    assert_eq!(
        (rejection["fromStatus"].clone(), rejection["toStatus"].clone()),
        (json!("IN_REVIEW"), json!("RETURNED"))
    );
    // Approved is final.
    assert_eq!(code(&act_err(&app, &applicant, "abandonFiling", &filing).await), "INVALID_TRANSITION");
}

#[tokio::test]
async fn of_two_reviewers_deciding_at_once_exactly_one_wins() {
    let Cast { app, reviewer, other_reviewer, applicant, admin, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    upload_materials(&app, &applicant, &filing).await;
    act(&app, &applicant, "submitFiling", &filing).await;
    let version = state(&app, &applicant, &filing).await["version"].clone();
    let input = json!({ "input": { "filingId": filing["id"], "version": version } });
    let claim = step("claimReview");
    let (a, b) = tokio::join!(
        app.post(Some(&reviewer), &claim, input.clone()),
        app.post(Some(&other_reviewer), &claim, input.clone()),
    );
    let outcomes: Vec<&str> = [&a.1, &b.1]
        .iter()
        .map(|body| body.get("errors").map_or("ok", |e| e[0]["extensions"]["code"].as_str().unwrap()))
        .collect();
    let mut sorted = outcomes.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["CONFLICT", "ok"]);
    let winner = if outcomes[0] == "ok" { &reviewer } else { &other_reviewer };
    let loser = if outcomes[0] == "ok" { &other_reviewer } else { &reviewer };
    // The other reviewer cannot decide a filing someone else claimed; an administrator can step in.
    assert_eq!(code(&act_err(&app, loser, "approvePreliminaryReview", &filing).await), "FORBIDDEN");
    let _ = winner;
    assert_eq!(act(&app, &admin, "releaseReview", &filing).await["status"], "PENDING_REVIEW");
    let events = state(&app, &applicant, &filing).await["events"].clone();
    assert_eq!(events.as_array().unwrap().iter().filter(|e| e["action"] == "REVIEW_CLAIMED").count(), 1);
}

#[tokio::test]
async fn the_sms_step_times_out_or_fails_and_the_registrar_decides() {
    let Cast { app, backend, reviewer, applicant, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    upload_materials(&app, &applicant, &filing).await;
    act(&app, &applicant, "submitFiling", &filing).await;
    act(&app, &reviewer, "claimReview", &filing).await;
    act(&app, &reviewer, "approvePreliminaryReview", &filing).await;

    // Not yet due: nothing moves. 25 hours later: back with the registrar (a fake clock, no sleeping).
    let now = chrono::Utc::now();
    assert_eq!(beian::services::workflow::expire_sms_checks(&app.deps).await.unwrap().len(), 0);
    let expire = |at| {
        let deps = app.deps.at(at);
        async move { beian::services::workflow::expire_sms_checks(&deps).await }
    };
    // Three replicas' deadline jobs at once: exactly one of them moves the filing.
    let later = now + chrono::Duration::hours(25);
    let (a, b, c) = tokio::join!(expire(later), expire(later), expire(later));
    assert_eq!(a.unwrap().len() + b.unwrap().len() + c.unwrap().len(), 1);
    assert_eq!(expire(now + chrono::Duration::hours(26)).await.unwrap().len(), 0, "already moved");
    let failed = state(&app, &backend, &filing).await;
    assert_eq!(failed["status"], "SMS_FAILED");
    let events = failed["events"].as_array().unwrap();
    assert_eq!(events.iter().filter(|e| e["action"] == "SMS_CHECK_FAILED").count(), 1, "one firing");
    let timeout = events.last().unwrap().clone();
    assert_eq!(
        (timeout["action"].clone(), timeout["actor"]["kind"].clone()),
        (json!("SMS_CHECK_FAILED"), json!("SYSTEM"))
    );

    // A new round; five failures of one person end it again.
    assert_eq!(act(&app, &backend, "resubmitToMiit", &filing).await["status"], "SMS_VERIFICATION");
    let checks = state(&app, &backend, &filing).await["smsChecks"].clone();
    assert!(checks.as_array().unwrap().iter().all(|c| c["status"] == "PENDING" && c["failures"] == 0));
    let record = "mutation($id: ID!, $ok: Boolean!) { recordSmsVerification(checkId: $id, confirmed: $ok) { status } }";
    let first = checks[0]["id"].clone();
    for attempt in 1..=5 {
        let result = app.ok(&backend, record, json!({ "id": first, "ok": false })).await;
        let expected = if attempt < 5 { "SMS_VERIFICATION" } else { "SMS_FAILED" };
        assert_eq!(result["recordSmsVerification"]["status"], expected, "attempt {attempt}");
    }
    // The applicant may not record SMS results; the registrar returns the filing with a reason.
    assert_eq!(code(&app.err(&applicant, record, json!({ "id": first, "ok": true })).await), "FORBIDDEN");
    let reasons = json!([{ "field": "subject.responsiblePerson.mobile", "code": "SMS_NOT_CONFIRMED", "message": "未完成短信核验" }]);
    let body = reject(&app, &backend, &filing, "returnToApplicant", reasons).await;
    assert_eq!(body["data"]["returnToApplicant"]["status"], "RETURNED", "{body}");
    assert_eq!(state(&app, &applicant, &filing).await["returnReasons"][0]["code"], "SMS_NOT_CONFIRMED");
}

#[tokio::test]
async fn transitions_outside_the_table_are_refused_and_change_nothing() {
    let Cast { app, backend, reviewer, applicant, admin, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    upload_materials(&app, &applicant, &filing).await;
    let before = state(&app, &applicant, &filing).await;

    // From a draft: nothing to claim, approve, or record.
    for (key, name) in [
        (&reviewer, "claimReview"),
        (&reviewer, "approvePreliminaryReview"),
        (&applicant, "withdrawFiling"),
        (&backend, "resubmitToMiit"),
    ] {
        assert_eq!(code(&act_err(&app, key, name, &filing).await), "INVALID_TRANSITION", "{name}");
    }
    // A reviewer does not submit for the applicant; a read-only key changes nothing.
    assert_eq!(code(&act_err(&app, &reviewer, "submitFiling", &filing).await), "INVALID_TRANSITION");
    let create_key = "mutation { createApiKey(name: \"ro\", scope: READ_ONLY) { secret } }";
    let read_only = app.ok(&admin, create_key, json!({})).await["createApiKey"]["secret"].as_str().unwrap().to_owned();
    assert_eq!(code(&act_err(&app, &read_only, "abandonFiling", &filing).await), "FORBIDDEN");
    // A stale version is a conflict.
    let stale = json!({ "input": { "filingId": filing["id"], "version": before["version"].as_i64().unwrap() - 1 } });
    assert_eq!(code(&app.err(&applicant, &step("submitFiling"), stale).await), "CONFLICT");
    // Another applicant or tenant cannot touch it.
    let other = access(&crate::people::applicant(&app, "xinnet", "other@example.com").await);
    assert_eq!(code(&act_err_as(&app, &other, "submitFiling", &filing, &before).await), "NOT_FOUND");
    let elsewhere = app.tenant("elsewhere").await;
    assert_eq!(code(&act_err_as(&app, &elsewhere, "abandonFiling", &filing, &before).await), "NOT_FOUND");

    let after = state(&app, &applicant, &filing).await;
    assert_eq!(after, before, "nothing changed");

    // Withdrawing before the decision makes it editable again; abandoning is final.
    act(&app, &applicant, "submitFiling", &filing).await;
    assert_eq!(act(&app, &applicant, "withdrawFiling", &filing).await["status"], "DRAFT");
    assert_eq!(act(&app, &applicant, "abandonFiling", &filing).await["status"], "ABANDONED");
    assert_eq!(code(&act_err(&app, &applicant, "submitFiling", &filing).await), "INVALID_TRANSITION");
}

async fn act_err_as(app: &TestApp, key: &str, name: &str, filing: &Value, seen: &Value) -> Value {
    app.err(key, &step(name), json!({ "input": { "filingId": filing["id"], "version": seen["version"] } })).await
}

#[tokio::test]
async fn a_reviewer_decides_on_each_material() {
    let Cast { app, reviewer, applicant, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    upload_materials(&app, &applicant, &filing).await;
    act(&app, &applicant, "submitFiling", &filing).await;
    act(&app, &reviewer, "claimReview", &filing).await;
    let query = "query($id: ID!) { filing(id: $id) { attachments { id kind } } }";
    let attachments = app.ok(&reviewer, query, json!({ "id": filing["id"] })).await["filing"]["attachments"].clone();
    let certificate =
        attachments.as_array().unwrap().iter().find(|a| a["kind"] == "SUBJECT_CERTIFICATE").unwrap().clone();
    let review = "mutation($id: ID!, $ok: Boolean!, $reason: String) { reviewAttachment(id: $id, accepted: $ok, reason: $reason) { reviewStatus reviewReason } }";
    let error = app.err(&reviewer, review, json!({ "id": certificate["id"], "ok": false })).await;
    assert_eq!(fields(&error), vec![("reason".to_owned(), "REQUIRED".to_owned())]);
    let reviewed =
        app.ok(&reviewer, review, json!({ "id": certificate["id"], "ok": false, "reason": "四角不全" })).await;
    assert_eq!(reviewed["reviewAttachment"], json!({ "reviewStatus": "NEEDS_REVISION", "reviewReason": "四角不全" }));
    assert_eq!(
        code(&app.err(&applicant, review, json!({ "id": certificate["id"], "ok": true })).await),
        "FORBIDDEN",
        "applicants do not review"
    );

    // Returned: the checklist shows the verdict, and submission waits for a new file.
    let reasons = json!([{ "field": "materials.SUBJECT_CERTIFICATE", "code": "MATERIAL_UNCLEAR", "message": "请重新上传营业执照" }]);
    reject(&app, &reviewer, &filing, "rejectPreliminaryReview", reasons).await;
    let error = act_err(&app, &applicant, "submitFiling", &filing).await;
    assert_eq!(
        fields(&error),
        vec![("materials.SUBJECT_CERTIFICATE".to_owned(), "MATERIAL_NEEDS_REVISION".to_owned())]
    );
}

#[tokio::test]
async fn the_review_queue_is_oldest_first_with_deadlines_and_filters() {
    let Cast { app, reviewer, applicant, admin, .. } = cast().await;
    let mut filings = Vec::new();
    for i in 0..3 {
        let input = numbered_filing(i);
        let filing = app.ok(&applicant, &CREATE, json!({ "input": input })).await["createFiling"].clone();
        upload_materials(&app, &applicant, &filing).await;
        act(&app, &applicant, "submitFiling", &filing).await;
        filings.push(filing);
    }
    let draft = app.create_filing(&applicant, "北京示例科技有限公司").await;
    act(&app, &reviewer, "claimReview", &filings[1]).await;

    let query = "query($first: Int, $after: String, $filter: ReviewQueueFilter) {
        reviewQueue(first: $first, after: $after, filter: $filter) {
            edges { cursor node { deadline overdue filing { id status } } } pageInfo { hasNextPage endCursor } } }";
    let page = |vars: Value| app.ok(&reviewer, query, vars);
    let ids = |conn: &Value| -> Vec<Value> {
        conn["edges"].as_array().unwrap().iter().map(|e| e["node"]["filing"]["id"].clone()).collect()
    };
    let all = page(json!({})).await["reviewQueue"].clone();
    assert_eq!(ids(&all), filings.iter().map(|f| f["id"].clone()).collect::<Vec<_>>(), "oldest first, no drafts");
    assert!(!ids(&all).contains(&draft["id"]));
    let item = &all["edges"][0]["node"];
    assert_eq!(item["overdue"], false);
    let deadline = chrono::DateTime::parse_from_rfc3339(item["deadline"].as_str().unwrap()).unwrap();
    assert!(deadline > chrono::Utc::now() + chrono::Duration::hours(12), "at least the rest of a working day ahead");

    let first = page(json!({ "first": 2 })).await["reviewQueue"].clone();
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let rest = page(json!({ "first": 2, "after": first["pageInfo"]["endCursor"] })).await["reviewQueue"].clone();
    assert_eq!(ids(&rest), vec![filings[2]["id"].clone()]);

    let mine = page(json!({ "filter": { "assignedToMe": true } })).await["reviewQueue"].clone();
    assert_eq!(ids(&mine), vec![filings[1]["id"].clone()]);
    let open = page(json!({ "filter": { "unassigned": true } })).await["reviewQueue"].clone();
    assert_eq!(ids(&open), vec![filings[0]["id"].clone(), filings[2]["id"].clone()]);
    let elsewhere = page(json!({ "filter": { "provinceCode": "31" } })).await["reviewQueue"].clone();
    assert_eq!(elsewhere["edges"], json!([]));

    // Ten days later everything still waiting is overdue (the service takes the clock).
    let actor = beian::services::accounts::authenticate_access_token(&app.deps, &reviewer).await.unwrap();
    let later = chrono::Utc::now() + chrono::Duration::days(10);
    let queue =
        beian::services::queue::review_queue(&app.deps.at(later), &actor, &Default::default(), 10, None).await.unwrap();
    assert!(queue.items.iter().all(|i| i.overdue));

    // Applicants have no queue; staff see the counts.
    assert_eq!(code(&app.err(&applicant, query, json!({})).await), "FORBIDDEN");
    let stats = app.ok(&admin, "{ filingStats { status count } }", json!({})).await["filingStats"].clone();
    let medians =
        app.ok(&admin, "{ filingStats { status medianSecondsInState } }", json!({})).await["filingStats"].clone();
    assert!(medians[0]["medianSecondsInState"].is_i64(), "drafts that were submitted ended their stay: {medians}");
    assert_eq!(medians[2]["medianSecondsInState"], Value::Null, "no stay in review has ended yet");
    assert_eq!(
        stats,
        json!([{ "status": "DRAFT", "count": 1 }, { "status": "PENDING_REVIEW", "count": 2 }, { "status": "IN_REVIEW", "count": 1 }])
    );
}

#[tokio::test]
async fn a_resubmission_shows_what_changed_and_which_reasons_it_answers() {
    let Cast { app, reviewer, applicant, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    upload_materials(&app, &applicant, &filing).await;
    act(&app, &applicant, "submitFiling", &filing).await;
    act(&app, &reviewer, "claimReview", &filing).await;
    let query = "query($id: ID!) { filing(id: $id) { sinceLastReturn { changes { field oldValue newValue }
        answeredReasons { field code } openReasons { field code } } } }";
    assert_eq!(app.ok(&reviewer, query, json!({ "id": filing["id"] })).await["filing"]["sinceLastReturn"], Value::Null);

    let reasons = json!([
        { "field": "websites[0].name", "code": "NAME_UNCLEAR", "message": "网站名称不清楚" },
        { "field": "subject.mailingAddress", "code": "ADDRESS_INCOMPLETE", "message": "地址不完整" },
        { "field": "materials.VERIFICATION_SHEET", "code": "NOT_SIGNED", "message": "核验单未签字" },
    ]);
    reject(&app, &reviewer, &filing, "rejectPreliminaryReview", reasons).await;
    // The applicant renames the website and uploads a signed sheet, but leaves the address.
    let version = state(&app, &applicant, &filing).await["version"].clone();
    let input = json!({ "websiteId": filing["websites"][0]["id"], "version": version,
        "website": website_input("示例科技产品展示网", "example.com") });
    let update = "mutation($input: UpdateWebsiteInput!) { updateWebsite(input: $input) { filing { version } } }";
    app.ok(&applicant, update, json!({ "input": input })).await;
    let sheet = upload_input(&filing, "VERIFICATION_SHEET", "signed.pdf", "application/pdf", &pdf());
    let ticket = app.ok(&applicant, REQUEST, sheet).await["requestAttachmentUpload"].clone();
    assert_eq!(put(&app, &ticket, pdf()).await, 200);
    app.ok(&applicant, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await;
    act(&app, &applicant, "submitFiling", &filing).await;

    let since = app.ok(&reviewer, query, json!({ "id": filing["id"] })).await["filing"]["sinceLastReturn"].clone();
    let fields: Vec<&str> = since["changes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["website.name", "attachment"]);
    assert_eq!(
        since["answeredReasons"],
        json!([{ "field": "websites[0].name", "code": "NAME_UNCLEAR" }, { "field": "materials.VERIFICATION_SHEET", "code": "NOT_SIGNED" }])
    );
    assert_eq!(since["openReasons"], json!([{ "field": "subject.mailingAddress", "code": "ADDRESS_INCOMPLETE" }]));
}

/// A graphql-ws (graphql-transport-ws) client: connects with a token and subscribes.
pub async fn subscribe(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let url = format!("{}/graphql/ws", app.address.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let payload = match token {
        Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
        None => json!({}),
    };
    socket.send(Message::text(json!({ "type": "connection_init", "payload": payload }).to_string())).await.unwrap();
    if token.is_some() {
        let ack = socket.next().await.unwrap().unwrap();
        assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack:?}");
        let subscribe =
            json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } });
        socket.send(Message::text(subscribe.to_string())).await.unwrap();
    }
    socket
}

/// Whether a graphql-ws connection with `token` is refused at connection_init.
pub async fn subscribe_raw(app: &TestApp, token: &str) -> bool {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let url = format!("{}/graphql/ws", app.address.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let payload = json!({ "Authorization": format!("Bearer {token}") });
    socket.send(Message::text(json!({ "type": "connection_init", "payload": payload }).to_string())).await.unwrap();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next()).await.expect("an answer");
    match answer {
        Some(Ok(Message::Text(text))) => !text.contains("connection_ack"),
        _ => true,
    }
}

/// The next data message of a subscription.
pub async fn next_message(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Value {
    use futures_util::StreamExt;
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
        .await
        .expect("a message within 10 s")
        .expect("the socket is open")
        .unwrap();
    serde_json::from_str(message.to_text().unwrap()).unwrap_or(Value::Null)
}

/// Reads what arrives until half a second passes in silence: announcements of changes made before the subscription
/// (the SQLite server reads new events every 200 ms) are behind, and the next message is about the next change.
pub async fn drain(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) {
    use futures_util::StreamExt;
    while let Ok(Some(Ok(_))) = tokio::time::timeout(std::time::Duration::from_millis(500), socket.next()).await {}
}

#[tokio::test]
async fn a_console_hears_about_every_step_through_a_subscription() {
    let Cast { app, reviewer, applicant, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    upload_materials(&app, &applicant, &filing).await;
    let query = "subscription($id: ID!) { filingUpdated(id: $id) { status version } }";
    let mut watcher = subscribe(&app, Some(&applicant), query, json!({ "id": filing["id"] })).await;
    // Give the subscription a moment to be registered, and the uploads' announcements time to pass, before acting.
    drain(&mut watcher).await;

    act(&app, &applicant, "submitFiling", &filing).await;
    let message = next_message(&mut watcher).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["payload"]["data"]["filingUpdated"]["status"], "PENDING_REVIEW");
    act(&app, &reviewer, "claimReview", &filing).await;
    let message = next_message(&mut watcher).await;
    assert_eq!(message["payload"]["data"]["filingUpdated"]["status"], "IN_REVIEW");

    // Another registrar cannot watch this filing; a connection without a token is refused.
    let elsewhere = app.tenant("elsewhere").await;
    let mut stranger = subscribe(&app, Some(&elsewhere), query, json!({ "id": filing["id"] })).await;
    let message = next_message(&mut stranger).await;
    assert_eq!(message["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{message}");
    assert_eq!(message["payload"]["data"], Value::Null);
    let mut anonymous = subscribe(&app, None, query, json!({ "id": filing["id"] })).await;
    use futures_util::StreamExt;
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), anonymous.next()).await.expect("an answer");
    match closed {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None | Some(Err(_)) => {}
        other => panic!("expected the connection to be refused, got {other:?}"),
    }
}

/// A filing of its own subject (credit code, people's mobiles and emails, domain), numbered `i`.
pub fn numbered_filing(i: u32) -> Value {
    let first17 = format!("91110000MA0000{i:03}");
    let code = format!("{first17}{}", beian::domain::identifiers::uscc::check_char(first17.as_bytes()));
    let mut input = filing_input(&format!("北京示例{i}号科技有限公司"));
    input["subject"]["certificateNumber"] = json!(code);
    input["subject"]["responsiblePerson"]["mobile"] = json!(format!("1370013{i:04}"));
    input["subject"]["responsiblePerson"]["email"] = json!(format!("zhang{i}@example.com"));
    input["websites"][0]["responsiblePerson"]["mobile"] = json!(format!("1360013{i:04}"));
    input["websites"][0]["responsiblePerson"]["email"] = json!(format!("li{i}@example.com"));
    input["websites"][0]["domains"] = json!([format!("example{i}.com")]);
    input["websites"][0]["homepageUrl"] = json!(format!("https://www.example{i}.com"));
    input
}

#[tokio::test]
async fn one_subject_has_one_order_in_flight() {
    let Cast { app, applicant, .. } = cast().await;
    let first = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let second = app.create_filing(&applicant, "北京示例科技有限公司").await;
    upload_materials(&app, &applicant, &first).await;
    upload_materials(&app, &applicant, &second).await;
    act(&app, &applicant, "submitFiling", &first).await;
    let error = act_err(&app, &applicant, "submitFiling", &second).await;
    assert_eq!(fields(&error), vec![("subject.certificateNumber".to_owned(), "ORDER_IN_FLIGHT".to_owned())]);
    assert_eq!(state(&app, &applicant, &second).await["status"], "DRAFT");
    // Once the first is withdrawn, the second may go.
    act(&app, &applicant, "withdrawFiling", &first).await;
    assert_eq!(act(&app, &applicant, "submitFiling", &second).await["status"], "PENDING_REVIEW");
}

#[tokio::test]
async fn an_icp_number_belongs_to_one_subject_and_the_database_refuses_a_second() {
    let Cast { app, backend, applicant, reviewer, .. } = cast().await;
    let decide = "mutation($input: BureauDecisionInput!) { recordBureauDecision(input: $input) { status } }";
    let mut filings = Vec::new();
    for i in 0..2 {
        let filing = app.ok(&applicant, &CREATE, json!({ "input": numbered_filing(i) })).await["createFiling"].clone();
        upload_materials(&app, &applicant, &filing).await;
        filings.push(filing);
    }
    let approval = |filing: &Value, version: &Value, subject: &str, website: &str| {
        json!({ "input": { "filingId": filing["id"], "version": version, "approved": { "subjectNumber": subject,
            "websites": [{ "websiteId": filing["websites"][0]["id"], "number": website }] } } })
    };
    for filing in &filings {
        act(&app, &applicant, "submitFiling", filing).await;
        act(&app, &reviewer, "claimReview", filing).await;
        act(&app, &reviewer, "approvePreliminaryReview", filing).await;
        confirm_all_sms(&app, &backend, filing).await;
    }
    let version = state(&app, &backend, &filings[0]).await["version"].clone();
    let first = approval(&filings[0], &version, "京ICP备2026000001号", "京ICP备2026000001号-1");
    assert_eq!(app.ok(&backend, decide, first).await["recordBureauDecision"]["status"], "APPROVED");

    // The other subject cannot be given the same number, nor its website number; nothing changes.
    let before = state(&app, &backend, &filings[1]).await;
    let second = approval(&filings[1], &before["version"], "京ICP备2026000001号", "京ICP备2026000001号-1");
    let error = app.err(&backend, decide, second).await;
    assert_eq!(
        fields(&error),
        vec![
            ("subjectNumber".to_owned(), "NUMBER_IN_USE".to_owned()),
            ("websites[0]".to_owned(), "NUMBER_IN_USE".to_owned())
        ]
    );
    let after = state(&app, &backend, &filings[1]).await;
    assert_eq!(
        (&after["status"], &after["version"], &after["icpNumber"]),
        (&json!("BUREAU_REVIEW"), &before["version"], &Value::Null)
    );
    assert_eq!(after["websites"][0]["icpNumber"], Value::Null);
    // A number of its own goes.
    let own = approval(&filings[1], &before["version"], "京ICP备2026000002号", "京ICP备2026000002号-1");
    assert_eq!(app.ok(&backend, decide, own).await["recordBureauDecision"]["status"], "APPROVED");

    // The database refuses two current records with one number, whoever writes it.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, prelude::Expr};
    let id = beian::graphql::ids::decode(filings[1]["id"].as_str().unwrap(), beian::graphql::ids::Kind::Filing, "id")
        .unwrap();
    let refused = entity::filing::Entity::update_many()
        .col_expr(entity::filing::Column::IcpNumber, Expr::value("京ICP备2026000001号"))
        .filter(entity::filing::Column::Id.eq(id))
        .exec(&app.db)
        .await;
    assert!(refused.is_err(), "a second current record with the number was stored");
}
