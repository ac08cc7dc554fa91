//! Every change to a filing is announced by one mechanism: the filing events the services write in the changing
//! transaction (PostgreSQL delivers their NOTIFY on commit; SQLite's server reads them by row id). No resolver
//! announces by hand, so this test walks every mutation that changes a filing or anything hanging off it, and the
//! background jobs that do, with a console watching the filing over graphql-ws, and fails on any step it does not
//! hear. Mutations it does not walk must be listed, with the reason, in [`CHANGE_NO_FILING`]; a new mutation that is
//! in neither list fails the test.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::attachments::{COMPLETE, REQUEST, pdf, png, put, sha256, upload_input};
use crate::helpers::*;
use crate::workflow::{Cast, act, cast, confirm_all_sms, reject, state, subscribe, upload_materials};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Mutations that change no filing, and why (everything else must be walked below).
const CHANGE_NO_FILING: &[(&str, &str)] = &[
    ("createFiling", "a new filing: nothing can watch it before it exists (its FILING_CREATED event is on its trail)"),
    ("startOrder", "a new order is a new filing, as createFiling; the record it amends does not change"),
    ("requestAttachmentUpload", "a pending upload is not part of the filing until it is completed"),
    ("requestMobileUpload", "the same, from the phone"),
    ("retryNotification", "mail delivery: the outbox's state, not the filing's"),
    ("changePassword", "accounts"),
    ("completeAccountSetup", "accounts"),
    ("disableAccount", "accounts"),
    ("enableAccount", "accounts"),
    ("inviteStaff", "accounts"),
    ("login", "sessions"),
    ("logout", "sessions"),
    ("refreshSession", "sessions"),
    ("registerApplicant", "accounts"),
    ("requestPasswordReset", "accounts"),
    ("resetPassword", "accounts"),
    ("verifyEmail", "accounts"),
    ("updateAccountRole", "accounts"),
    ("updateProfile", "accounts"),
    ("createApiKey", "the registrar's keys"),
    ("revokeApiKey", "the registrar's keys"),
    ("setEmailTemplate", "the registrar's mail templates"),
    ("resetEmailTemplate", "the registrar's mail templates"),
    ("updateTenantSettings", "the registrar's settings"),
    ("createWebhookEndpoint", "the registrar's webhook endpoints: where events go, not what happened to a filing"),
    ("updateWebhookEndpoint", "the registrar's webhook endpoints"),
    ("deleteWebhookEndpoint", "the registrar's webhook endpoints"),
    ("rotateWebhookEndpointSecret", "the registrar's webhook endpoints"),
    ("pingWebhookEndpoint", "a test message to an endpoint; no filing is involved"),
    ("redeliverWebhook", "sends an event again: the filing does not change"),
];

/// A console watching one filing, and what it heard.
struct Console {
    socket: Socket,
    heard: BTreeSet<String>,
}

impl Console {
    async fn watch(app: &TestApp, key: &str, filing: &Value) -> Self {
        let query = "subscription($id: ID!) { filingUpdated(id: $id) { id version } }";
        let mut socket = subscribe(app, Some(key), query, json!({ "id": filing["id"] })).await;
        // The subscription is registered once the server answers a ping on the same connection.
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        socket.send(Message::text(json!({ "type": "ping" }).to_string())).await.unwrap();
        let pong = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
        assert!(pong.to_text().unwrap().contains("pong"), "{pong:?}");
        Self { socket, heard: BTreeSet::new() }
    }

    /// Waits for the announcement of what `step` (a mutation or a job) just did, then lets the change's other
    /// announcements (a step that commits twice) arrive, so the next step starts from silence.
    async fn heard(&mut self, step: &str) {
        let first = tokio::time::timeout(Duration::from_secs(10), self.socket.next()).await;
        let message: Value = match first {
            Ok(Some(Ok(message))) => serde_json::from_str(message.to_text().unwrap()).unwrap(),
            _ => panic!("{step}: the console heard nothing"),
        };
        assert_eq!(message["type"], "next", "{step}: {message}");
        self.quiet().await;
        self.heard.insert(step.to_owned());
    }

    /// Drains what arrives until half a second passes in silence (the SQLite server looks every 200 ms).
    async fn quiet(&mut self) {
        while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_millis(500), self.socket.next()).await {}
    }
}

const START: &str = "mutation($input: StartMobileVerificationInput!) { startMobileVerification(input: $input) {
    token verification { id } } }";

/// The last phone code the embedded sender recorded for `person`.
async fn phone_code(app: &TestApp, person: &str) -> Value {
    let messages = beian::mail::outbox::latest(&app.db, None, 50).await.unwrap();
    messages.iter().find(|m| m.template == "PHONE_CODE" && m.payload["person"] == person).unwrap().payload["code"]
        .clone()
}

fn video() -> Vec<u8> {
    let mut video = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    video.resize(4096, 7);
    video
}

#[tokio::test]
async fn every_change_to_a_filing_is_heard_by_a_console_watching_it() {
    let Cast { app, backend, reviewer, applicant, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let website = filing["websites"][0]["id"].clone();
    let mut console = Console::watch(&app, &backend, &filing).await;

    // The draft: subject and websites.
    let v = state(&app, &applicant, &filing).await["version"].clone();
    let mut changed = json!({ "input": { "filingId": filing["id"], "version": v, "subject": subject_input("北京示例科技有限公司") } });
    changed["input"]["subject"]["mailingAddress"] = json!("北京市海淀区中关村大街1号2层");
    app.ok(
        &applicant,
        "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }",
        changed,
    )
    .await;
    console.heard("updateFilingSubject").await;
    let v = state(&app, &applicant, &filing).await["version"].clone();
    let add = "mutation($input: AddWebsiteInput!) { addWebsite(input: $input) { website { id } } }";
    let input = json!({ "input": { "filingId": filing["id"], "version": v, "website": website_input("示例产品展示网", "example-products.com") } });
    let added = app.ok(&applicant, add, input).await["addWebsite"]["website"]["id"].clone();
    console.heard("addWebsite").await;
    let v = state(&app, &applicant, &filing).await["version"].clone();
    let update = "mutation($input: UpdateWebsiteInput!) { updateWebsite(input: $input) { filing { version } } }";
    let input = json!({ "input": { "websiteId": added, "version": v, "website": website_input("示例产品中心", "example-products.com") } });
    app.ok(&applicant, update, input).await;
    console.heard("updateWebsite").await;
    let v = state(&app, &applicant, &filing).await["version"].clone();
    let remove = "mutation($input: RemoveWebsiteInput!) { removeWebsite(input: $input) { version } }";
    app.ok(&applicant, remove, json!({ "input": { "websiteId": added, "version": v } })).await;
    console.heard("removeWebsite").await;

    // Materials from the desktop: a presigned upload, a multipart upload, a deletion.
    let bytes = png(1024);
    let ticket = app
        .ok(&applicant, REQUEST, upload_input(&filing, "ID_CARD_FRONT", "id.png", "image/png", &bytes))
        .await["requestAttachmentUpload"]
        .clone();
    assert_eq!(put(&app, &ticket, bytes).await, 200);
    app.ok(&applicant, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await;
    console.heard("completeAttachmentUpload").await;
    let operations = json!({
        "query": "mutation($input: UploadAttachmentInput!, $file: Upload!) { uploadAttachment(input: $input, file: $file) { id } }",
        "variables": { "input": { "filingId": filing["id"], "kind": "SUBJECT_CERTIFICATE" }, "file": null },
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(pdf()).file_name("licence.pdf").mime_str("application/pdf").unwrap(),
        );
    let response = app.client.post(format!("{}/graphql", app.address)).bearer_auth(&applicant).multipart(form);
    let body: Value = response.send().await.unwrap().json().await.unwrap();
    let licence = body["data"]["uploadAttachment"]["id"].clone();
    assert!(licence.is_string(), "{body}");
    console.heard("uploadAttachment").await;
    let deleted =
        app.ok(&applicant, "mutation($id: ID!) { deleteAttachment(id: $id) }", json!({ "id": licence })).await;
    assert_eq!(deleted["deleteAttachment"], true);
    console.heard("deleteAttachment").await;

    // The phone of the website's responsible person: hand-off, code, face video, revocation.
    let input = json!({ "input": { "filingId": filing["id"], "websiteId": website } });
    let started = app.ok(&applicant, START, input).await["startMobileVerification"].clone();
    console.heard("startMobileVerification").await;
    let token = started["token"].as_str().unwrap().to_owned();
    app.ok(&token, "mutation { sendPhoneCode { codesLeft } }", json!({})).await;
    console.heard("sendPhoneCode").await;
    let code = phone_code(&app, "李四").await;
    app.ok(
        &token,
        "mutation($code: String!) { confirmPhoneCode(code: $code) { phoneVerified } }",
        json!({ "code": code }),
    )
    .await;
    console.heard("confirmPhoneCode").await;
    app.ok(&token, "mutation { startFaceCheck { faceChallenge } }", json!({})).await;
    console.heard("startFaceCheck").await;
    let upload = json!({ "input": { "kind": "FACE_VIDEO", "fileName": "face.mp4", "contentType": "video/mp4",
        "size": video().len(), "sha256": sha256(&video()) } });
    let request = "mutation($input: RequestMobileUploadInput!) { requestMobileUpload(input: $input) {
        method url headers { name value } attachment { id } } }";
    let ticket = app.ok(&token, request, upload).await["requestMobileUpload"].clone();
    assert_eq!(put(&app, &ticket, video()).await, 200);
    let complete = "mutation($id: ID!) { completeMobileUpload(id: $id) { id } }";
    app.ok(&token, complete, json!({ "id": ticket["attachment"]["id"] })).await;
    console.heard("completeMobileUpload").await;
    let revoke = "mutation($id: ID!) { revokeMobileVerification(id: $id) { id } }";
    app.ok(&applicant, revoke, json!({ "id": started["verification"]["id"] })).await;
    console.heard("revokeMobileVerification").await;

    // The review.
    upload_materials(&app, &applicant, &filing).await;
    console.quiet().await;
    for (key, step) in [(&applicant, "submitFiling"), (&applicant, "withdrawFiling"), (&applicant, "submitFiling")] {
        act(&app, key, step, &filing).await;
        console.heard(step).await;
    }
    for step in ["claimReview", "releaseReview", "claimReview"] {
        act(&app, &reviewer, step, &filing).await;
        console.heard(step).await;
    }
    let attachments = "query($id: ID!) { filing(id: $id) { attachments { id kind } } }";
    let listed = app.ok(&reviewer, attachments, json!({ "id": filing["id"] })).await["filing"]["attachments"].clone();
    let review = "mutation($id: ID!) { reviewAttachment(id: $id, accepted: true) { id } }";
    app.ok(&reviewer, review, json!({ "id": listed[0]["id"] })).await;
    console.heard("reviewAttachment").await;
    let reasons = json!([{ "field": "subject.mailingAddress", "code": "ADDRESS_INCOMPLETE", "message": "地址不完整" }]);
    let returned = reject(&app, &reviewer, &filing, "rejectPreliminaryReview", reasons.clone()).await;
    assert!(returned.get("errors").is_none(), "{returned}");
    console.heard("rejectPreliminaryReview").await;
    act(&app, &applicant, "submitFiling", &filing).await;
    act(&app, &reviewer, "claimReview", &filing).await;
    console.quiet().await;
    act(&app, &reviewer, "approvePreliminaryReview", &filing).await;
    console.heard("approvePreliminaryReview").await;

    // The MIIT SMS check, with the background jobs that act on its deadline.
    let checks = state(&app, &backend, &filing).await["smsChecks"].clone();
    let record = "mutation($id: ID!, $ok: Boolean!) { recordSmsVerification(checkId: $id, confirmed: $ok) { status } }";
    app.ok(&backend, record, json!({ "id": checks[0]["id"], "ok": false })).await;
    console.heard("recordSmsVerification").await;
    let deadline = state(&app, &backend, &filing).await["smsDeadlineAt"]
        .as_str()
        .unwrap()
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap();
    let reminded =
        beian::services::notifications::send_sms_reminders(&app.deps.at(deadline - chrono::Duration::hours(1)), 6)
            .await;
    assert_eq!(reminded.unwrap(), 1);
    console.heard("the SMS reminder job").await;
    let moved =
        beian::services::workflow::expire_sms_checks(&app.deps.at(deadline + chrono::Duration::minutes(1))).await;
    assert_eq!(moved.unwrap().len(), 1);
    console.heard("the SMS deadline job").await;
    let returned = reject(&app, &backend, &filing, "returnToApplicant", reasons).await;
    assert!(returned.get("errors").is_none(), "{returned}");
    console.heard("returnToApplicant").await;
    act(&app, &applicant, "submitFiling", &filing).await;
    act(&app, &reviewer, "claimReview", &filing).await;
    act(&app, &reviewer, "approvePreliminaryReview", &filing).await;
    console.quiet().await;
    let deadline = state(&app, &backend, &filing).await["smsDeadlineAt"]
        .as_str()
        .unwrap()
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap();
    beian::services::workflow::expire_sms_checks(&app.deps.at(deadline + chrono::Duration::minutes(1))).await.unwrap();
    console.quiet().await;
    act(&app, &backend, "resubmitToMiit", &filing).await;
    console.heard("resubmitToMiit").await;
    confirm_all_sms(&app, &backend, &filing).await;
    console.quiet().await;
    assert_eq!(state(&app, &backend, &filing).await["status"], "BUREAU_REVIEW");

    // The bureau.
    let v = state(&app, &backend, &filing).await["version"].clone();
    let numbers = json!([{ "websiteId": website, "number": "京ICP备2026000001号-1" }]);
    let decide = "mutation($input: BureauDecisionInput!) { recordBureauDecision(input: $input) { status } }";
    let input = json!({ "input": { "filingId": filing["id"], "version": v,
        "approved": { "subjectNumber": "京ICP备2026000001号", "websites": numbers } } });
    assert_eq!(app.ok(&backend, decide, input).await["recordBureauDecision"]["status"], "APPROVED");
    console.heard("recordBureauDecision").await;

    // A draft given up.
    let other = app.create_filing(&applicant, "北京另一家科技有限公司").await;
    let mut watching_other = Console::watch(&app, &backend, &other).await;
    act(&app, &applicant, "abandonFiling", &other).await;
    watching_other.heard("abandonFiling").await;
    console.heard.extend(watching_other.heard);

    // Every mutation is either walked above or listed as changing no filing.
    let fields = app.ok(&backend, "{ __schema { mutationType { fields { name } } } }", json!({})).await;
    let mutations: BTreeSet<String> = fields["__schema"]["mutationType"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    let exempt: BTreeSet<String> = CHANGE_NO_FILING.iter().map(|(name, _)| (*name).to_owned()).collect();
    let unheard: Vec<&String> =
        mutations.iter().filter(|m| !exempt.contains(*m) && !console.heard.contains(*m)).collect();
    assert!(unheard.is_empty(), "mutations neither walked nor listed in CHANGE_NO_FILING: {unheard:?}");
    let stale: Vec<&String> = exempt.iter().filter(|m| !mutations.contains(*m)).collect();
    assert!(stale.is_empty(), "CHANGE_NO_FILING names mutations that do not exist: {stale:?}");
}
