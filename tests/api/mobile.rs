//! The mobile hand-off: a desktop starts it, a phone with the mobile token confirms its number; the token works for
//! nothing else, expires, can be revoked; codes are throttled and guessing is bounded; an SMS gateway gets signed
//! requests.

use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use sea_orm::prelude::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::workflow::{Cast, act, cast, cast_on, upload_materials};

const START: &str = "mutation($input: StartMobileVerificationInput!) { startMobileVerification(input: $input) {
    token url qrSvg qrPngDataUrl verification { id personName mobile status expiresAt phoneVerifiedAt } } }";
const SESSION: &str = "{ mobileSession { personName mobile phoneVerified codeSentAt nextCodeAt codesLeft } }";
const SEND: &str = "mutation { sendPhoneCode { codeSentAt codeExpiresAt codesLeft } }";
const CONFIRM: &str = "mutation($code: String!) { confirmPhoneCode(code: $code) { phoneVerified } }";

async fn start(app: &TestApp, key: &str, filing: &Value, website: Option<&Value>) -> Value {
    let input = json!({ "input": { "filingId": filing["id"], "websiteId": website } });
    app.ok(key, START, input).await["startMobileVerification"].clone()
}

/// The last code the embedded sender recorded for `mobile`.
pub(crate) async fn recorded_code(app: &TestApp, mobile: &str) -> String {
    let messages = beian::mail::outbox::latest(&app.db, None, 50).await.unwrap();
    // The recorded mobile is sealed like every personal number at rest.
    let keys = &app.deps.keys;
    let found = messages
        .iter()
        .find(|m| m.template == "PHONE_CODE" && keys.open(m.tenant_id, &m.recipient).unwrap() == mobile)
        .expect("a code");
    assert!(!found.recipient.contains(mobile), "sealed at rest");
    assert_eq!(found.status, entity::enums::OutboxStatus::Recorded, "recorded, not queued for the mail dispatcher");
    found.payload["code"].as_str().unwrap().to_owned()
}

/// Lets the resend wait pass without sleeping: the session's last code was sent two minutes ago (and so were the
/// codes the number's limits count).
async fn two_minutes_later(app: &TestApp) {
    use entity::mobile_session::{Column, Entity};
    Entity::update_many()
        .col_expr(Column::CodeSentAt, Expr::value(Utc::now() - Duration::minutes(2)))
        .exec(&app.db)
        .await
        .unwrap();
    codes_sent_earlier(app, Duration::minutes(2)).await;
}

/// Moves every code the limits count `by` into the past, as if that time had passed.
async fn codes_sent_earlier(app: &TestApp, by: Duration) {
    use entity::phone_code_send::{Column, Entity};
    for row in Entity::find().all(&app.db).await.unwrap() {
        Entity::update_many()
            .col_expr(Column::CreatedAt, Expr::value(row.created_at - by))
            .filter(Column::Id.eq(row.id))
            .exec(&app.db)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_phone_confirms_its_number_with_the_handed_off_token_and_nothing_else() {
    let Cast { app, applicant, reviewer, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let started = start(&app, &applicant, &filing, None).await;
    let token = started["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("beian_m_"));
    assert_eq!(started["url"], format!("http://127.0.0.1:8080/mobile#token={token}"));
    assert!(started["qrSvg"].as_str().unwrap().contains("<svg"));
    assert!(started["qrPngDataUrl"].as_str().unwrap().starts_with("data:image/png;base64,"));
    let verification = &started["verification"];
    assert_eq!(
        (verification["personName"].clone(), verification["mobile"].clone()),
        (json!("张三"), json!("138****8000"))
    );
    assert_eq!(verification["status"], "ACTIVE");
    // Reviewers review; they do not hand filings to phones.
    let input = json!({ "input": { "filingId": filing["id"] } });
    assert_eq!(code(&app.err(&reviewer, START, input).await), "FORBIDDEN");

    // The token opens the phone's steps and nothing else.
    let phone = app.ok(&token, SESSION, json!({})).await["mobileSession"].clone();
    assert_eq!(
        phone,
        // (The name is masked as the number is: whoever opens the link has not proved who they are yet.)
        json!({ "personName": "张*", "mobile": "138****8000", "phoneVerified": false,
        "codeSentAt": null, "nextCodeAt": null, "codesLeft": 5 })
    );
    for query in ["{ filings(first: 1) { totalCount } }", "{ me { name } }", "{ notificationStats { sent } }"] {
        assert_eq!(code(&app.err(&token, query, json!({})).await), "UNAUTHENTICATED", "{query}");
    }
    let read = "query($id: ID!) { filing(id: $id) { id } }";
    assert_eq!(code(&app.err(&token, read, json!({ "id": filing["id"] })).await), "UNAUTHENTICATED");
    assert_eq!(
        code(&app.err(&applicant, SESSION, json!({})).await),
        "UNAUTHENTICATED",
        "a desktop session is not a phone"
    );

    // A code, then the resend wait.
    let sent = app.ok(&token, SEND, json!({})).await["sendPhoneCode"].clone();
    assert_eq!(sent["codesLeft"], 4);
    let error = app.err(&token, SEND, json!({})).await;
    assert_eq!(code(&error), "RATE_LIMITED");
    assert!(error["extensions"]["retryAfterSeconds"].as_u64().unwrap() > 50, "{error}");
    let first = recorded_code(&app, "13800138000").await;

    // Five wrong guesses burn the code: even the right one no longer works.
    let wrong = if first == "000000" { "111111" } else { "000000" };
    for left in (0..5).rev() {
        let error = app.err(&token, CONFIRM, json!({ "code": wrong })).await;
        assert_eq!(fields(&error), vec![("code".to_owned(), "WRONG_CODE".to_owned())]);
        let message = error["extensions"]["fields"][0]["message"].as_str().unwrap();
        let said = if left == 0 { "尝试次数已用完".to_owned() } else { format!("还可尝试 {left} 次") };
        assert!(message.contains(&said), "{message}");
    }
    let error = app.err(&token, CONFIRM, json!({ "code": first })).await;
    assert_eq!(fields(&error), vec![("code".to_owned(), "CODE_EXPIRED".to_owned())]);

    // A new code; the right one confirms the number, and the desktop sees it.
    two_minutes_later(&app).await;
    app.ok(&token, SEND, json!({})).await;
    let second = recorded_code(&app, "13800138000").await;
    let confirmed = app.ok(&token, CONFIRM, json!({ "code": second })).await;
    assert_eq!(confirmed["confirmPhoneCode"]["phoneVerified"], true);
    let desktop = "query($id: ID!) { filing(id: $id) { mobileVerifications { phoneVerifiedAt status }
        events { action actor { kind } } } }";
    let seen = app.ok(&applicant, desktop, json!({ "id": filing["id"] })).await["filing"].clone();
    assert!(seen["mobileVerifications"][0]["phoneVerifiedAt"].is_string());
    let actions: Vec<&str> = seen["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    // Two codes went out (wrong guesses burned the first), then the number was confirmed.
    let expected =
        ["FILING_CREATED", "MOBILE_VERIFICATION_STARTED", "PHONE_CODE_SENT", "PHONE_CODE_SENT", "PHONE_VERIFIED"];
    assert_eq!(actions, expected);
    let error = app.err(&token, SEND, json!({})).await;
    assert_eq!(fields(&error), vec![("phone".to_owned(), "CHANGE_NOT_ALLOWED".to_owned())], "already confirmed");
}

#[tokio::test]
async fn revoked_expired_and_foreign_hand_offs_are_refused() {
    let cast = cast().await;
    let Cast { app, applicant, backend, .. } = &cast;
    let filing = app.create_filing(applicant, "北京示例科技有限公司").await;
    // A website's responsible person gets a hand-off of their own.
    let website = filing["websites"][0]["id"].clone();
    let for_li = start(app, applicant, &filing, Some(&website)).await;
    assert_eq!(for_li["verification"]["personName"], "李四");
    let token = for_li["token"].as_str().unwrap().to_owned();
    let phone = app.ok(&token, SESSION, json!({})).await;
    assert_eq!(phone["mobileSession"]["mobile"], "139****9000");

    // Revoked: the token stops working at once (HTTP 401).
    let revoke = "mutation($id: ID!) { revokeMobileVerification(id: $id) { status } }";
    let id = for_li["verification"]["id"].clone();
    assert_eq!(app.ok(applicant, revoke, json!({ "id": id })).await["revokeMobileVerification"]["status"], "REVOKED");
    let (status, body) = app.post(Some(&token), SESSION, json!({})).await;
    assert_eq!((status, code(&body["errors"][0])), (401, "UNAUTHENTICATED"));

    // Expired: the same.
    let other = start(app, applicant, &filing, None).await;
    let token = other["token"].as_str().unwrap().to_owned();
    {
        use entity::mobile_session::{Column, Entity};
        Entity::update_many()
            .col_expr(Column::ExpiresAt, Expr::value(Utc::now() - Duration::seconds(1)))
            .filter(Column::Id.is_not_null())
            .exec(&app.db)
            .await
            .unwrap();
    }
    let (status, _) = app.post(Some(&token), SEND, json!({})).await;
    assert_eq!(status, 401);
    let listed = "query($id: ID!) { filing(id: $id) { mobileVerifications { status } } }";
    let statuses =
        app.ok(applicant, listed, json!({ "id": filing["id"] })).await["filing"]["mobileVerifications"].clone();
    assert_eq!(statuses, json!([{ "status": "EXPIRED" }, { "status": "REVOKED" }]));

    // Another applicant, another registrar: their filings are not ours to hand off, nor our hand-offs to revoke.
    let stranger = crate::people::access(&crate::people::applicant(app, "xinnet", "stranger@example.com").await);
    let input = json!({ "input": { "filingId": filing["id"] } });
    assert_eq!(code(&app.err(&stranger, START, input.clone()).await), "NOT_FOUND");
    assert_eq!(code(&app.err(&stranger, revoke, json!({ "id": id })).await), "NOT_FOUND");
    let elsewhere = app.tenant("aliyun").await;
    assert_eq!(code(&app.err(&elsewhere, START, input).await), "NOT_FOUND");
    assert_eq!(code(&app.err(&elsewhere, revoke, json!({ "id": id })).await), "NOT_FOUND");
    // A website of another filing is not this filing's.
    let theirs = app.create_filing(backend, "后台创建的公司").await;
    let input = json!({ "input": { "filingId": filing["id"], "websiteId": theirs["websites"][0]["id"] } });
    assert_eq!(code(&app.err(applicant, START, input).await), "NOT_FOUND");

    // Once submitted, the filing is not handed to phones any more.
    upload_materials(app, applicant, &filing).await;
    act(app, applicant, "submitFiling", &filing).await;
    let input = json!({ "input": { "filingId": filing["id"] } });
    assert_eq!(code(&app.err(applicant, START, input).await), "INVALID_TRANSITION");
}

/// The requests a gateway received: headers and body.
type Seen = Arc<Mutex<Vec<(poem::http::HeaderMap, Vec<u8>)>>>;

/// An SMS gateway on a free port that records each request's headers and body, answering `status`.
async fn gateway(status: u16) -> (String, Seen) {
    service(status, "").await
}

/// A webhook receiver on a free port that records each request and answers `status` with `answer`.
async fn service(status: u16, answer: &'static str) -> (String, Seen) {
    use poem::listener::{Acceptor, Listener, TcpListener};
    use poem::{EndpointExt, Route, handler, post, web::Data};
    let seen: Seen = Arc::default();
    #[handler]
    async fn receive(
        request: &poem::Request,
        body: Vec<u8>,
        seen: Data<&Seen>,
        status: Data<&u16>,
        answer: Data<&&'static str>,
    ) -> poem::Response {
        seen.lock().unwrap().push((request.headers().clone(), body));
        poem::Response::builder()
            .status(poem::http::StatusCode::from_u16(**status).unwrap())
            .content_type("application/json")
            .body(**answer)
    }
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let address = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new().at("/sms", post(receive)).data(seen.clone()).data(status).data(answer);
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{address}/sms"), seen)
}

#[tokio::test]
async fn an_sms_gateway_gets_the_code_as_signed_json_and_a_failing_one_lets_the_person_retry() {
    let (url, seen) = gateway(200).await;
    let app = spawn_app_with(TestDatabase::new().await, move |c| {
        c.mobile.sms_webhook_url = Some(url);
        c.mobile.webhook_allow_private_networks = true;
        c.mobile.sms_webhook_secret = Some(secrecy::SecretString::from("shared-secret"));
    })
    .await;
    let cast = cast_on(app).await;
    let Cast { app, applicant, .. } = &cast;
    let filing = app.create_filing(applicant, "北京示例科技有限公司").await;
    let token = start(app, applicant, &filing, None).await["token"].as_str().unwrap().to_owned();
    app.ok(&token, SEND, json!({})).await;
    let (headers, body) = seen.lock().unwrap()[0].clone();
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((json["type"].clone(), json["mobile"].clone()), (json!("PHONE_CODE"), json!("13800138000")));
    let code = json["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 6);
    let timestamp = headers.get("x-beian-timestamp").unwrap().to_str().unwrap();
    let expected = beian::services::webhook::sign(&secrecy::SecretString::from("shared-secret"), timestamp, &body);
    assert_eq!(headers.get("x-beian-signature").unwrap().to_str().unwrap(), format!("sha256={expected}"));
    // Nothing recorded in the outbox when a gateway sends.
    let recorded = beian::mail::outbox::latest(&app.db, None, 50).await.unwrap();
    assert!(recorded.iter().all(|m| m.template != "PHONE_CODE"));
    let confirmed = app.ok(&token, CONFIRM, json!({ "code": code })).await;
    assert_eq!(confirmed["confirmPhoneCode"]["phoneVerified"], true);

    // A gateway that fails: the person sees an error and may ask again at once.
    let (url, seen) = gateway(500).await;
    let app = spawn_app_with(TestDatabase::new().await, move |c| {
        c.mobile.sms_webhook_url = Some(url);
        c.mobile.webhook_allow_private_networks = true;
    })
    .await;
    let failing = cast_on(app).await;
    let Cast { app, applicant, .. } = &failing;
    let filing = app.create_filing(applicant, "北京示例科技有限公司").await;
    let token = start(app, applicant, &filing, None).await["token"].as_str().unwrap().to_owned();
    assert_eq!(code_of(&app.err(&token, SEND, json!({})).await), "INTERNAL");
    assert_eq!(code_of(&app.err(&token, SEND, json!({})).await), "INTERNAL", "not throttled: nothing was sent");
    assert_eq!(seen.lock().unwrap().len(), 2);
    let phone = app.ok(&token, SESSION, json!({})).await["mobileSession"].clone();
    assert_eq!(phone["codesLeft"], 5);
}

fn code_of(error: &Value) -> &str {
    code(error)
}

#[tokio::test]
async fn the_verification_sheet_is_filled_in_from_the_filing_for_those_who_may_see_it() {
    let Cast { app, applicant, reviewer, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let query = "query($id: ID!) { filing(id: $id) { verificationSheetHtml } }";
    let html = app.ok(&applicant, query, json!({ "id": filing["id"] })).await["filing"]["verificationSheetHtml"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(html.contains("<meta charset=\"utf-8\">") && html.contains("<h1>网站备案信息真实性核验单</h1>"));
    for expected in [
        "北京示例科技有限公司",
        "营业执照　91110105MA01ABCD13",
        "北京市",
        "张三",
        "11010519491231002X",
        "示例科技官网",
        "example.com",
        "云主机",
        "李四",
        "首次备案",
        "接入服务单位：Registrar xinnet",
    ] {
        assert!(html.contains(expected), "{expected} is on the sheet");
    }
    // Staff see it too (they check the signed scan against it); another applicant does not see the filing at all.
    assert!(
        app.ok(&reviewer, query, json!({ "id": filing["id"] })).await["filing"]["verificationSheetHtml"].is_string()
    );
    let stranger = crate::people::access(&crate::people::applicant(&app, "xinnet", "stranger@example.com").await);
    assert_eq!(code(&app.err(&stranger, query, json!({ "id": filing["id"] })).await), "NOT_FOUND");
}

const UPLOAD: &str = "mutation($input: RequestMobileUploadInput!) { requestMobileUpload(input: $input) {
    method url headers { name value } attachment { id kind websiteId faceChallenge } } }";
const COMPLETE_UPLOAD: &str =
    "mutation($id: ID!) { completeMobileUpload(id: $id) { id status kind faceChallenge websiteId } }";

fn mobile_upload(kind: &str, name: &str, content_type: &str, bytes: &[u8], number: Option<&str>) -> Value {
    json!({ "input": { "kind": kind, "fileName": name, "contentType": content_type, "size": bytes.len(),
        "sha256": crate::attachments::sha256(bytes), "documentNumber": number } })
}

/// A phone with its number confirmed: starts the hand-off and does the phone check.
pub(crate) async fn confirmed_phone(app: &TestApp, applicant: &str, filing: &Value, website: Option<&Value>) -> String {
    let token = start(app, applicant, filing, website).await["token"].as_str().unwrap().to_owned();
    let mobile = app.ok(&token, SESSION, json!({})).await["mobileSession"]["mobile"].clone();
    app.ok(&token, SEND, json!({})).await;
    let number = if mobile == "138****8000" { "13800138000" } else { "13900139000" };
    let code = recorded_code(app, number).await;
    app.ok(&token, CONFIRM, json!({ "code": code })).await;
    token
}

#[tokio::test]
async fn the_phone_photographs_its_documents_and_records_the_face_video_against_a_challenge() {
    let Cast { app, applicant, reviewer, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let website = filing["websites"][0]["id"].clone();
    // Before the phone check, nothing is uploaded.
    let early = start(&app, &applicant, &filing, Some(&website)).await["token"].as_str().unwrap().to_owned();
    let id_card = crate::attachments::png(2048);
    let input = mobile_upload("ID_CARD_FRONT", "id.png", "image/png", &id_card, Some("110105199001011232"));
    let error = app.err(&early, UPLOAD, input.clone()).await;
    assert_eq!(fields(&error), vec![("phone".to_owned(), "REQUIRED".to_owned())]);

    // 李四, the website's responsible person, on his phone.
    let token = confirmed_phone(&app, &applicant, &filing, Some(&website)).await;
    let checklist =
        "query($id: ID!) { filing(id: $id) { checklist { phones { person state } items { kind websiteId state } } } }";
    let phones =
        app.ok(&applicant, checklist, json!({ "id": filing["id"] })).await["filing"]["checklist"]["phones"].clone();
    assert_eq!(phones, json!([{ "person": "张三", "state": "MISSING" }, { "person": "李四", "state": "ACCEPTED" }]));

    // The number read off the ID card must match the form.
    let wrong = mobile_upload("ID_CARD_FRONT", "id.png", "image/png", &id_card, Some("110105199001011233"));
    let error = app.err(&token, UPLOAD, wrong).await;
    assert_eq!(fields(&error), vec![("documentNumber".to_owned(), "CERTIFICATE_NUMBER_MISMATCH".to_owned())]);
    assert!(error["extensions"]["fields"][0]["suggestion"].as_str().unwrap().contains("电脑端"));
    let mut expiring = input.clone();
    expiring["input"]["validUntil"] = json!((Utc::now() + Duration::days(30)).date_naive().to_string());
    let error = app.err(&token, UPLOAD, expiring).await;
    assert_eq!(fields(&error), vec![("validUntil".to_owned(), "CERTIFICATE_EXPIRING".to_owned())]);
    let ticket = app.ok(&token, UPLOAD, input).await["requestMobileUpload"].clone();
    assert_eq!(ticket["attachment"]["websiteId"], website, "his own ID, filed under his website");
    assert_eq!(crate::attachments::put(&app, &ticket, id_card).await, 200);
    let done = app.ok(&token, COMPLETE_UPLOAD, json!({ "id": ticket["attachment"]["id"] })).await;
    assert_eq!(done["completeMobileUpload"]["status"], "UPLOADED");
    // Materials that are not his to upload from the phone are refused.
    let licence = mobile_upload("SECURITY_AGREEMENT", "a.pdf", "application/pdf", &crate::attachments::pdf(), None);
    assert_eq!(
        fields(&app.err(&token, UPLOAD, licence).await),
        vec![("kind".to_owned(), "CHANGE_NOT_ALLOWED".to_owned())]
    );

    // The face video needs a live challenge, which the reviewer sees beside it.
    let mut video = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    video.resize(4096, 1);
    let face = mobile_upload("FACE_VIDEO", "face.mp4", "video/mp4", &video, None);
    assert_eq!(
        fields(&app.err(&token, UPLOAD, face.clone()).await),
        vec![("kind".to_owned(), "CODE_EXPIRED".to_owned())]
    );
    let started =
        app.ok(&token, "mutation { startFaceCheck { faceChallenge faceChallengeExpiresAt } }", json!({})).await;
    let digits = started["startFaceCheck"]["faceChallenge"].as_str().unwrap().to_owned();
    assert!(digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()), "{digits}");
    let ticket = app.ok(&token, UPLOAD, face).await["requestMobileUpload"].clone();
    assert_eq!(crate::attachments::put(&app, &ticket, video).await, 200);
    app.ok(&token, COMPLETE_UPLOAD, json!({ "id": ticket["attachment"]["id"] })).await;
    let seen = "query($id: ID!) { filing(id: $id) { attachments { kind faceChallenge status } events { action actor { name } } } }";
    let filing_now = app.ok(&reviewer, seen, json!({ "id": filing["id"] })).await["filing"].clone();
    let face =
        filing_now["attachments"].as_array().unwrap().iter().find(|a| a["kind"] == "FACE_VIDEO").unwrap().clone();
    assert_eq!((face["faceChallenge"].clone(), face["status"].clone()), (json!(digits), json!("UPLOADED")));
    let uploaded_by: Vec<&str> = filing_now["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "ATTACHMENT_UPLOADED")
        .map(|e| e["actor"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(uploaded_by, vec!["手机核验 李四", "手机核验 李四"]);
    let items =
        app.ok(&applicant, checklist, json!({ "id": filing["id"] })).await["filing"]["checklist"]["items"].clone();
    let face_item = items.as_array().unwrap().iter().find(|i| i["kind"] == "FACE_VIDEO").unwrap().clone();
    assert_eq!(face_item["state"], "UPLOADED");

    // The subject's responsible person does no face check; his phone uploads the subject's certificate.
    let zhang = confirmed_phone(&app, &applicant, &filing, None).await;
    let error = app.err(&zhang, "mutation { startFaceCheck { faceChallenge } }", json!({})).await;
    assert_eq!(fields(&error), vec![("session".to_owned(), "CHANGE_NOT_ALLOWED".to_owned())]);
    let certificate = crate::attachments::pdf();
    let input = mobile_upload(
        "SUBJECT_CERTIFICATE",
        "licence.pdf",
        "application/pdf",
        &certificate,
        Some("91110105ma01abcd13"),
    );
    let ticket = app.ok(&zhang, UPLOAD, input).await["requestMobileUpload"].clone();
    assert_eq!(crate::attachments::put(&app, &ticket, certificate).await, 200);
    app.ok(&zhang, COMPLETE_UPLOAD, json!({ "id": ticket["attachment"]["id"] })).await;
    // One phone cannot complete another filing's upload.
    let other = app.create_filing(&applicant, "北京另一家科技有限公司").await;
    let theirs = confirmed_phone_other(&app, &applicant, &other).await;
    let error = app.err(&theirs, COMPLETE_UPLOAD, json!({ "id": ticket["attachment"]["id"] })).await;
    assert_eq!(code(&error), "NOT_FOUND");
}

/// A confirmed phone for another filing of the same people (whose codes are told apart by time: the number's
/// minute between two codes has passed).
async fn confirmed_phone_other(app: &TestApp, applicant: &str, filing: &Value) -> String {
    let token = start(app, applicant, filing, None).await["token"].as_str().unwrap().to_owned();
    codes_sent_earlier(app, Duration::minutes(2)).await;
    app.ok(&token, SEND, json!({})).await;
    let code = recorded_code(app, "13800138000").await;
    app.ok(&token, CONFIRM, json!({ "code": code })).await;
    token
}

#[tokio::test]
async fn a_face_verification_service_decides_the_video_and_the_desktop_hears_of_every_step() {
    let (url, seen) = service(200, r#"{"passed": false, "reason": "未检测到眨眼，请在白色背景前重新录制"}"#).await;
    let app = spawn_app_with(TestDatabase::new().await, move |c| {
        c.mobile.liveness_webhook_url = Some(url);
        c.mobile.webhook_allow_private_networks = true;
    })
    .await;
    let cast = cast_on(app).await;
    let Cast { app, applicant, .. } = &cast;
    let filing = app.create_filing(applicant, "北京示例科技有限公司").await;
    let website = filing["websites"][0]["id"].clone();
    // The desktop watches the filing.
    let watch = "subscription($id: ID!) { filingUpdated(id: $id) { checklist { phones { person state } } } }";
    let mut desktop = crate::workflow::subscribe(app, Some(applicant), watch, json!({ "id": filing["id"] })).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let token = confirmed_phone(app, applicant, &filing, Some(&website)).await;
    // The hand-off and the code are announced too; the confirmation is what turns the phone green.
    let confirmed = json!({ "person": "李四", "state": "ACCEPTED" });
    loop {
        let heard = crate::workflow::next_message(&mut desktop).await;
        if heard["payload"]["data"]["filingUpdated"]["checklist"]["phones"][1] == confirmed {
            break;
        }
    }

    app.ok(&token, "mutation { startFaceCheck { faceChallenge } }", json!({})).await;
    crate::workflow::drain(&mut desktop).await;
    let mut video = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    video.resize(4096, 7);
    let ticket = app.ok(&token, UPLOAD, mobile_upload("FACE_VIDEO", "face.mp4", "video/mp4", &video, None)).await;
    let ticket = ticket["requestMobileUpload"].clone();
    assert_eq!(crate::attachments::put(app, &ticket, video.clone()).await, 200);
    let done = app.ok(&token, COMPLETE_UPLOAD, json!({ "id": ticket["attachment"]["id"] })).await;
    assert_eq!(done["completeMobileUpload"]["status"], "UPLOADED");
    assert_eq!(crate::workflow::next_message(&mut desktop).await["type"], "next", "the upload is announced");

    // The service got the challenge and a download URL that works.
    let (_, body) = seen.lock().unwrap()[0].clone();
    let asked: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(asked["type"], "FACE_VIDEO");
    assert_eq!(asked["challenge"], done["completeMobileUpload"]["faceChallenge"]);
    let downloaded = app.client.get(asked["videoUrl"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(downloaded.to_vec(), video);
    // Its verdict is the material's review: the applicant sees what to redo.
    let query = "query($id: ID!) { filing(id: $id) { checklist { items { kind state reason } }
        events { action actor { name } } } }";
    let now = app.ok(applicant, query, json!({ "id": filing["id"] })).await["filing"].clone();
    let face =
        now["checklist"]["items"].as_array().unwrap().iter().find(|i| i["kind"] == "FACE_VIDEO").unwrap().clone();
    assert_eq!(
        face,
        json!({ "kind": "FACE_VIDEO", "state": "NEEDS_REVISION", "reason": "未检测到眨眼，请在白色背景前重新录制" })
    );
    let reviewed =
        now["events"].as_array().unwrap().iter().find(|e| e["action"] == "ATTACHMENT_REVIEWED").unwrap().clone();
    assert_eq!(reviewed["actor"]["name"], "人脸核验服务");
    // A mobile token does not open subscriptions.
    let refused = crate::workflow::subscribe_raw(app, &token).await;
    assert!(refused, "the connection is refused");
}

// Flooding one number (or a registrar's gateway) with codes: the limits hold across links, filings, restarts and
// replicas, however many requests arrive at once.

/// `n` hand-offs for the same responsible person (the same mobile number), each with its own link.
async fn links(app: &TestApp, key: &str, filing: &Value, website: Option<&Value>, n: usize) -> Vec<String> {
    let mut tokens = Vec::new();
    for _ in 0..n {
        tokens.push(start(app, key, filing, website).await["token"].as_str().unwrap().to_owned());
    }
    tokens
}

/// Sends a code through every link at once, each through one of `servers` in turn: the answers, in link order.
async fn send_all_at_once(servers: &[&TestApp], tokens: &[String]) -> Vec<Value> {
    let requests = tokens.iter().enumerate().map(|(i, token)| {
        let server = servers[i % servers.len()];
        async move { server.post(Some(token), SEND, json!({})).await.1 }
    });
    futures_util::future::join_all(requests).await
}

/// Splits answers into the codes sent and the refusals, checking every refusal is RATE_LIMITED with a
/// `retryAfterSeconds` in `retry` (seconds).
fn sent_and_refused(answers: &[Value], retry: std::ops::RangeInclusive<u64>) -> (usize, usize) {
    let mut sent = 0;
    let mut refused = 0;
    for answer in answers {
        match answer.get("errors") {
            None => sent += 1,
            Some(errors) => {
                assert_eq!(code(&errors[0]), "RATE_LIMITED", "{answer}");
                let after = errors[0]["extensions"]["retryAfterSeconds"].as_u64().expect("retryAfterSeconds");
                assert!(retry.contains(&after), "retryAfterSeconds {after} not in {retry:?}: {answer}");
                refused += 1;
            }
        }
    }
    (sent, refused)
}

/// The codes the embedded sender recorded (its outbox rows) for `mobile`.
async fn codes_recorded(app: &TestApp, mobile: &str) -> usize {
    use entity::outbox_message::{Column, Entity};
    let keys = &app.deps.keys;
    let rows = Entity::find().filter(Column::Template.eq("PHONE_CODE")).all(&app.db).await.unwrap();
    rows.iter().filter(|m| keys.open(m.tenant_id, &m.recipient).unwrap() == mobile).count()
}

#[tokio::test]
async fn twenty_links_to_one_number_at_once_send_one_code_a_minute() {
    let Cast { app, applicant, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let tokens = links(&app, &applicant, &filing, None, 20).await;
    let answers = send_all_at_once(&[&app], &tokens).await;
    assert_eq!(sent_and_refused(&answers, 1..=60), (1, 19));
    assert_eq!(codes_recorded(&app, "13800138000").await, 1);

    // Another filing naming the same number is the same number.
    let other = app.create_filing(&applicant, "北京另一家科技有限公司").await;
    let token = start(&app, &applicant, &other, None).await["token"].as_str().unwrap().to_owned();
    let error = app.err(&token, SEND, json!({})).await;
    assert_eq!(code(&error), "RATE_LIMITED");
    assert_eq!(codes_recorded(&app, "13800138000").await, 1);
    // Another number is not held back by it.
    let website = filing["websites"][0]["id"].clone();
    let token = start(&app, &applicant, &filing, Some(&website)).await["token"].as_str().unwrap().to_owned();
    app.ok(&token, SEND, json!({})).await;
    assert_eq!(codes_recorded(&app, "13900139000").await, 1);

    // A minute later the number gets its next code, through any link (the link that sent the first code, too: which
    // of the twenty it was is chance, so its own minute passes as well).
    two_minutes_later(&app).await;
    app.ok(&tokens[7], SEND, json!({})).await;
    assert_eq!(codes_recorded(&app, "13800138000").await, 2);
}

/// No wait between codes to one number (each link still waits its minute), so the hour's limit is what stops them.
fn without_interval(config: &mut beian::config::Config) {
    config.mobile.phone_code_interval_seconds = 0;
}

#[tokio::test]
async fn a_number_gets_five_codes_an_hour_and_ten_a_day_across_links_and_restarts() {
    let app = spawn_app_with(TestDatabase::new().await, without_interval).await;
    let Cast { app, applicant, .. } = cast_on(app).await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let tokens = links(&app, &applicant, &filing, None, 20).await;
    let answers = send_all_at_once(&[&app], &tokens).await;
    // The sixth code may go when the first leaves the hour.
    assert_eq!(sent_and_refused(&answers, 3000..=3600), (5, 15));
    assert_eq!(codes_recorded(&app, "13800138000").await, 5);

    // After a restart on the same database the count stands.
    let database = app.stop().await;
    let app = spawn_app_with(database, without_interval).await;
    let token = start(&app, &applicant, &filing, None).await["token"].as_str().unwrap().to_owned();
    let error = app.err(&token, SEND, json!({})).await;
    assert_eq!(code(&error), "RATE_LIMITED");
    assert!(error["extensions"]["retryAfterSeconds"].as_u64().unwrap() >= 3000, "{error}");
    assert_eq!(codes_recorded(&app, "13800138000").await, 5);

    // Two hours later: five more, then the day's ten are spent until the first five leave the day.
    codes_sent_earlier(&app, Duration::hours(2)).await;
    let tokens = links(&app, &applicant, &filing, None, 8).await;
    let answers = send_all_at_once(&[&app], &tokens).await;
    assert_eq!(sent_and_refused(&answers, 20 * 3600..=22 * 3600), (5, 3));
    assert_eq!(codes_recorded(&app, "13800138000").await, 10);
}

#[tokio::test]
async fn two_replicas_on_one_database_send_no_more_codes_than_the_limit_between_them() {
    let app = spawn_app_with(TestDatabase::new().await, without_interval).await;
    let Cast { app, applicant, .. } = cast_on(app).await;
    // A second server on the same database, with a connection pool of its own: another replica.
    let mut config = app.database.as_ref().unwrap().config();
    without_interval(&mut config);
    // (Built on a pool of its own rather than by `Application::build`, which refuses a second server on one SQLite
    // data folder: two pools on one database file are what this test needs.)
    let db = beian::db::connect_ready(&config).await.expect("the replica connects");
    let replica = beian::startup::Application::with_database(config, db).await.expect("the replica builds");
    let address = format!("http://{}", replica.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(replica.run_until(async {
        let _ = stopped.await;
    }));
    let other = app.through(&address);

    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let tokens = links(&app, &applicant, &filing, None, 20).await;
    let answers = send_all_at_once(&[&app, &other], &tokens).await;
    assert_eq!(sent_and_refused(&answers, 3000..=3600), (5, 15));
    assert_eq!(codes_recorded(&app, "13800138000").await, 5);
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_registrar_sends_at_most_its_hourly_ceiling_and_another_registrar_is_not_held_back() {
    let app = spawn_app_with(TestDatabase::new().await, |c| c.mobile.phone_codes_per_registrar_per_hour = 3).await;
    let Cast { app, applicant, .. } = cast_on(app).await;
    // Four people, four numbers, each asking once.
    let beijing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let shanghai =
        app.ok(&applicant, &CREATE, json!({ "input": shanghai_filing("上海示例贸易有限公司") })).await["createFiling"]
            .clone();
    let mut tokens = Vec::new();
    for filing in [&beijing, &shanghai] {
        let website = filing["websites"][0]["id"].clone();
        tokens.extend(links(&app, &applicant, filing, None, 1).await);
        tokens.extend(links(&app, &applicant, filing, Some(&website), 1).await);
    }
    for token in &tokens[..3] {
        app.ok(token, SEND, json!({})).await;
    }
    let error = app.err(&tokens[3], SEND, json!({})).await;
    assert_eq!(code(&error), "RATE_LIMITED");
    assert!(error["extensions"]["retryAfterSeconds"].as_u64().unwrap() >= 3000, "{error}");
    assert_eq!(codes_recorded(&app, "13300133000").await, 0, "the fourth number got nothing");

    // Another registrar, the same people and numbers: its own counts.
    let aliyun = app.tenant("aliyun").await;
    let theirs = app.create_filing(&aliyun, "北京示例科技有限公司").await;
    let token = start(&app, &aliyun, &theirs, None).await["token"].as_str().unwrap().to_owned();
    app.ok(&token, SEND, json!({})).await;
    assert_eq!(codes_recorded(&app, "13800138000").await, 2, "one from each registrar");
}

/// A gateway whose answer the test changes as it goes: the requests it got, and its status.
async fn switchable_gateway(status: u16) -> (String, Seen, Arc<std::sync::atomic::AtomicU16>) {
    use poem::listener::{Acceptor, Listener, TcpListener};
    use poem::{EndpointExt, Route, handler, post, web::Data};
    use std::sync::atomic::{AtomicU16, Ordering};
    type Status = Arc<AtomicU16>;
    #[handler]
    async fn receive(
        request: &poem::Request,
        body: Vec<u8>,
        seen: Data<&Seen>,
        status: Data<&Status>,
    ) -> poem::Response {
        seen.lock().unwrap().push((request.headers().clone(), body));
        let status = poem::http::StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap();
        poem::Response::builder().status(status).body("")
    }
    let (seen, switch): (Seen, Status) = (Arc::default(), Arc::new(AtomicU16::new(status)));
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let address = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new().at("/sms", post(receive)).data(seen.clone()).data(switch.clone());
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{address}/sms"), seen, switch)
}

#[tokio::test]
async fn a_code_the_gateway_refused_does_not_count_but_refused_attempts_are_bounded_too() {
    use std::sync::atomic::Ordering;
    let (url, seen, status) = switchable_gateway(500).await;
    let app = spawn_app_with(TestDatabase::new().await, move |c| {
        c.mobile.sms_webhook_url = Some(url);
        c.mobile.webhook_allow_private_networks = true;
    })
    .await;
    let Cast { app, applicant, .. } = cast_on(app).await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;

    // A refused code: the person asks again at once, and the code that then goes counts as usual.
    let website = filing["websites"][0]["id"].clone();
    let token = start(&app, &applicant, &filing, Some(&website)).await["token"].as_str().unwrap().to_owned();
    assert_eq!(code(&app.err(&token, SEND, json!({})).await), "INTERNAL");
    status.store(200, Ordering::SeqCst);
    assert_eq!(app.ok(&token, SEND, json!({})).await["sendPhoneCode"]["codesLeft"], 4);
    let other = start(&app, &applicant, &filing, Some(&website)).await["token"].as_str().unwrap().to_owned();
    assert_eq!(code(&app.err(&other, SEND, json!({})).await), "RATE_LIMITED", "the minute of the number");
    assert_eq!(seen.lock().unwrap().len(), 2);

    // A gateway that keeps refusing (yet might deliver) is asked at most five times an hour for one number,
    // however many links ask.
    status.store(500, Ordering::SeqCst);
    let tokens = links(&app, &applicant, &filing, None, 8).await;
    for token in &tokens[..5] {
        assert_eq!(code(&app.err(token, SEND, json!({})).await), "INTERNAL");
    }
    for token in &tokens[5..] {
        let error = app.err(token, SEND, json!({})).await;
        assert_eq!(code(&error), "RATE_LIMITED");
        assert!(error["extensions"]["retryAfterSeconds"].as_u64().unwrap() >= 3000, "{error}");
    }
    assert_eq!(seen.lock().unwrap().len(), 7);
}

#[tokio::test]
async fn a_material_checked_from_the_phone_cannot_be_replaced_through_its_upload_url() {
    use crate::attachments::{download, overwrite, put, sha256, signs_checksum_of, upload_key};
    let Cast { app, applicant, reviewer, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let website = filing["websites"][0]["id"].clone();
    let token = confirmed_phone(&app, &applicant, &filing, Some(&website)).await;
    let checked = crate::attachments::png(3000);
    let mut other = checked.clone();
    other[2999] = 0xEE;
    let input = mobile_upload("ID_CARD_FRONT", "id.png", "image/png", &checked, Some("110105199001011232"));
    let ticket = app.ok(&token, UPLOAD, input).await["requestMobileUpload"].clone();
    assert!(signs_checksum_of(&ticket, &checked), "{ticket}");
    assert_eq!(put(&app, &ticket, checked.clone()).await, 200);
    let id = ticket["attachment"]["id"].clone();
    app.ok(&token, COMPLETE_UPLOAD, json!({ "id": id })).await;

    // Another file of the same size and type to the same URL, and the same bytes written straight to its key.
    let status = put(&app, &ticket, other.clone()).await;
    if std::env::var("BEIAN_TEST_S3_ENDPOINT").map_or(true, |e| e.is_empty()) {
        assert_eq!(status, 400, "the embedded store verifies the signed checksum");
    }
    overwrite(&app, &upload_key(&app, &id).await, "image/png", &other).await;

    let seen = "query($id: ID!) { filing(id: $id) { attachments { id kind sha256 downloadUrl { url } } } }";
    for viewer in [&reviewer, &applicant] {
        let attachments = app.ok(viewer, seen, json!({ "id": filing["id"] })).await["filing"]["attachments"].clone();
        let card = attachments.as_array().unwrap().iter().find(|a| a["id"] == id).unwrap().clone();
        let bytes = download(&app, &card["downloadUrl"]["url"]).await;
        assert_eq!(sha256(&bytes), sha256(&checked), "the checked file, not the later one");
        assert_eq!(card["sha256"], sha256(&bytes));
    }
}

const PHONES: &str = "query($id: ID!) { filing(id: $id) { checklist { complete phonesRequired
    items { state } phones { person websiteId state verifiedAt } } } }";

const REQUIRE_PHONES: &str =
    "mutation($on: Boolean!) { updateTenantSettings(input: { requirePhoneVerification: $on }) {
    requirePhoneVerification } }";

#[tokio::test]
async fn every_responsible_person_confirms_their_phone_before_the_filing_is_submitted() {
    let Cast { app, applicant, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    crate::workflow::upload_files(&app, &applicant, &filing).await;
    let checklist = app.ok(&applicant, PHONES, json!({ "id": filing["id"] })).await["filing"]["checklist"].clone();
    assert!(checklist["items"].as_array().unwrap().iter().all(|i| i["state"] == "UPLOADED"), "{checklist}");
    assert_eq!(checklist["phonesRequired"], true, "on by default");
    assert_eq!(checklist["complete"], false, "the materials are there, the phones are not: {checklist}");
    let states: Vec<(&str, &str)> = checklist["phones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["person"].as_str().unwrap(), p["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, vec![("张三", "MISSING"), ("李四", "MISSING")]);

    // Refused with one field error per person who has not confirmed, at the person; nothing changes.
    let error = crate::workflow::act_err(&app, &applicant, "submitFiling", &filing).await;
    assert_eq!(
        fields(&error),
        vec![
            ("subject.responsiblePerson".to_owned(), "PHONE_UNVERIFIED".to_owned()),
            ("websites[0].responsiblePerson".to_owned(), "PHONE_UNVERIFIED".to_owned()),
        ]
    );
    assert!(error["extensions"]["fields"][0]["message"].as_str().unwrap().contains("张三"), "{error}");
    assert_eq!(crate::workflow::state(&app, &applicant, &filing).await["status"], "DRAFT");

    // The subject's person confirms on their phone: only the website's person is left.
    let token = start(&app, &applicant, &filing, None).await["token"].as_str().unwrap().to_owned();
    app.ok(&token, SEND, json!({})).await;
    let code = recorded_code(&app, "13800138000").await;
    app.ok(&token, CONFIRM, json!({ "code": code })).await;
    let error = crate::workflow::act_err(&app, &applicant, "submitFiling", &filing).await;
    assert_eq!(fields(&error), vec![("websites[0].responsiblePerson".to_owned(), "PHONE_UNVERIFIED".to_owned())]);

    // Changing a person's mobile number asks for a new confirmation of the new number.
    crate::workflow::confirm_phones(&app, &applicant, &filing).await;
    let checklist = app.ok(&applicant, PHONES, json!({ "id": filing["id"] })).await["filing"]["checklist"].clone();
    assert_eq!(checklist["complete"], true, "{checklist}");
    let current = crate::workflow::state(&app, &applicant, &filing).await;
    let mut subject = subject_input("北京示例科技有限公司");
    subject["responsiblePerson"]["mobile"] = json!("13800138001");
    let update = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }";
    let input = json!({ "filingId": filing["id"], "version": current["version"], "subject": subject });
    app.ok(&applicant, update, json!({ "input": input })).await;
    let error = crate::workflow::act_err(&app, &applicant, "submitFiling", &filing).await;
    assert_eq!(fields(&error), vec![("subject.responsiblePerson".to_owned(), "PHONE_UNVERIFIED".to_owned())]);
    crate::workflow::confirm_phones(&app, &applicant, &filing).await;
    assert_eq!(act(&app, &applicant, "submitFiling", &filing).await["status"], "PENDING_REVIEW");
}

#[tokio::test]
async fn a_registrar_that_checks_phones_its_own_way_turns_the_requirement_off_for_itself_only() {
    let Cast { app, applicant, admin, reviewer, .. } = cast().await;
    // Only administrators change it.
    let refused = app.err(&reviewer, REQUIRE_PHONES, json!({ "on": false })).await;
    assert_eq!(code(&refused), "FORBIDDEN");
    let settings = app.ok(&admin, REQUIRE_PHONES, json!({ "on": false })).await;
    assert_eq!(settings["updateTenantSettings"]["requirePhoneVerification"], false);
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    crate::workflow::upload_files(&app, &applicant, &filing).await;
    let checklist = app.ok(&applicant, PHONES, json!({ "id": filing["id"] })).await["filing"]["checklist"].clone();
    assert_eq!((&checklist["complete"], &checklist["phonesRequired"]), (&json!(true), &json!(false)));
    assert_eq!(checklist["phones"][0]["state"], "MISSING", "the phones' state is still shown");
    assert_eq!(act(&app, &applicant, "submitFiling", &filing).await["status"], "PENDING_REVIEW");

    // Another registrar's filings still need the phones.
    let other = app.tenant("other").await;
    let elsewhere =
        app.ok(&other, &CREATE, json!({ "input": crate::workflow::numbered_filing(7) })).await["createFiling"].clone();
    crate::workflow::upload_files(&app, &other, &elsewhere).await;
    let error = crate::workflow::act_err(&app, &other, "submitFiling", &elsewhere).await;
    assert_eq!(fields(&error).len(), 2, "{error}");
    assert!(fields(&error).iter().all(|(_, c)| c == "PHONE_UNVERIFIED"), "{error}");
    let query = "{ me { tenant { requirePhoneVerification } } }";
    assert_eq!(app.ok(&other, query, json!({})).await["me"]["tenant"]["requirePhoneVerification"], true);
    // Turned on again, this registrar's next submission needs them too.
    app.ok(&admin, REQUIRE_PHONES, json!({ "on": true })).await;
    let next = app.create_filing(&applicant, "北京示例科技有限公司").await;
    act(&app, &applicant, "withdrawFiling", &filing).await;
    crate::workflow::upload_files(&app, &applicant, &next).await;
    let error = crate::workflow::act_err(&app, &applicant, "submitFiling", &next).await;
    assert!(fields(&error).iter().all(|(_, c)| c == "PHONE_UNVERIFIED") && !fields(&error).is_empty(), "{error}");
}

#[tokio::test]
async fn the_qr_code_opens_beians_page_until_the_registrar_names_a_page_of_its_own() {
    let Cast { app, applicant, admin, .. } = cast().await;
    let settings = "mutation($input: UpdateTenantSettingsInput!) { updateTenantSettings(input: $input) {
        frontendBaseUrl mobilePageUrl } }";
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let link = |started: &Value| {
        let url = started["url"].as_str().unwrap().to_owned();
        let token = started["token"].as_str().unwrap().to_owned();
        (url, token)
    };
    // A registrar with a console (where emails link) still gets beian's phone page.
    app.ok(&admin, settings, json!({ "input": { "frontendBaseUrl": "https://console.xinnet.example" } })).await;
    let (url, token) = link(&start(&app, &applicant, &filing, None).await);
    assert_eq!(url, format!("http://127.0.0.1:8080/mobile#token={token}"));

    // A page of its own: an http(s) URL with no fragment of its own (the token is the fragment). Bad values change
    // nothing.
    for bad in ["ftp://phone.xinnet.example/", "https://phone.xinnet.example/#start", "/mobile", "javascript:alert(1)"]
    {
        let input = json!({ "input": { "mobilePageUrl": bad, "frontendBaseUrl": "https://x.example/#a" } });
        let error = app.err(&admin, settings, input).await;
        assert_eq!(
            fields(&error),
            vec![
                ("frontendBaseUrl".to_owned(), "INVALID_URL".to_owned()),
                ("mobilePageUrl".to_owned(), "INVALID_URL".to_owned())
            ],
            "{bad}"
        );
    }
    let input = json!({ "input": { "mobilePageUrl": " https://phone.xinnet.example/beian/?channel=qr " } });
    let saved = app.ok(&admin, settings, input).await["updateTenantSettings"].clone();
    assert_eq!(
        saved,
        json!({ "frontendBaseUrl": "https://console.xinnet.example",
            "mobilePageUrl": "https://phone.xinnet.example/beian/?channel=qr" })
    );
    let (url, token) = link(&start(&app, &applicant, &filing, None).await);
    assert_eq!(url, format!("https://phone.xinnet.example/beian/?channel=qr#token={token}"));
    // Another registrar's hand-offs are not affected.
    let other = app.tenant("aliyun").await;
    let seen = app.ok(&other, "{ tenantSettings { mobilePageUrl } }", json!({})).await;
    assert_eq!(seen["tenantSettings"]["mobilePageUrl"], Value::Null);

    // Cleared: beian's page again.
    app.ok(&admin, settings, json!({ "input": { "mobilePageUrl": null } })).await;
    let (url, token) = link(&start(&app, &applicant, &filing, None).await);
    assert_eq!(url, format!("http://127.0.0.1:8080/mobile#token={token}"));
}

const FRAME: &str = "{ mobileSession { personName subjectName websiteId websiteName
    registrar { name brandColor brandLogo supportContact consentText }
    materials { kind websiteId state } } }";
const BRAND: &str = "mutation($input: UpdateTenantSettingsInput!) { updateTenantSettings(input: $input) {
    brandColor brandLogo mobileConsentText supportContact } }";

#[tokio::test]
async fn the_phone_page_shows_the_registrars_brand_and_the_persons_own_materials() {
    let Cast { app, applicant, admin, .. } = cast().await;
    // The administrator brands the page; a bad colour or logo changes nothing and names every bad field.
    let settings = |input: Value| json!({ "input": input });
    let logo = format!("data:image/png;base64,{}", {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(crate::attachments::png(512))
    });
    let refused = app
        .err(
            &admin,
            BRAND,
            settings(json!({ "brandColor": "red", "brandLogo": "data:image/png;base64,PHN2Zz4=",
                "mobileConsentText": "x" })),
        )
        .await;
    assert_eq!(
        fields(&refused),
        vec![
            ("brandColor".to_owned(), "INVALID_FORMAT".to_owned()),
            ("brandLogo".to_owned(), "UNSUPPORTED_CONTENT_TYPE".to_owned())
        ]
    );
    let huge = format!("data:image/png;base64,{}", "A".repeat(100_000));
    assert_eq!(fields(&app.err(&admin, BRAND, settings(json!({ "brandLogo": huge }))).await)[0].1, "FILE_TOO_LARGE");
    let branded = app
        .ok(
            &admin,
            BRAND,
            settings(json!({ "brandColor": "#C8102E", "brandLogo": logo, "supportContact": "400-600-0000",
                "mobileConsentText": "我同意新网为备案核验处理我的证件照片和人脸视频。" })),
        )
        .await;
    assert_eq!(branded["updateTenantSettings"]["brandColor"], "#c8102e");
    let as_applicant = app.err(&applicant, BRAND, settings(json!({ "brandColor": "#000000" }))).await;
    assert_eq!(as_applicant["extensions"]["code"], "FORBIDDEN");

    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let website = filing["websites"][0]["id"].clone();
    // The subject's responsible person: their ID card, the subject's certificate, the signed sheet and letter.
    let subject_token = start(&app, &applicant, &filing, None).await["token"].as_str().unwrap().to_owned();
    let frame = app.ok(&subject_token, FRAME, json!({})).await["mobileSession"].clone();
    assert_eq!(frame["personName"], "张*");
    assert_eq!(frame["subjectName"], "北京示例科技有限公司");
    assert_eq!((frame["websiteId"].clone(), frame["websiteName"].clone()), (Value::Null, Value::Null));
    assert_eq!(
        frame["registrar"],
        json!({ "name": app_tenant_name(&app, &admin).await, "brandColor": "#c8102e", "brandLogo": logo,
            "supportContact": "400-600-0000", "consentText": "我同意新网为备案核验处理我的证件照片和人脸视频。" })
    );
    let kinds = |frame: &Value| -> Vec<String> {
        frame["materials"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap().to_owned()).collect()
    };
    let subject_kinds = kinds(&frame);
    for kind in ["ID_CARD_FRONT", "ID_CARD_BACK", "SUBJECT_CERTIFICATE"] {
        assert!(subject_kinds.contains(&kind.to_owned()), "{kind} in {subject_kinds:?}");
    }
    assert!(!subject_kinds.contains(&"FACE_VIDEO".to_owned()));
    assert!(frame["materials"].as_array().unwrap().iter().all(|m| m["websiteId"].is_null() && m["state"] == "MISSING"));

    // The website's responsible person: their own ID card and the face video, filed under the website.
    let token = confirmed_phone(&app, &applicant, &filing, Some(&website)).await;
    let frame = app.ok(&token, FRAME, json!({})).await["mobileSession"].clone();
    assert_eq!((frame["personName"].clone(), frame["websiteId"].clone()), (json!("李*"), website.clone()));
    assert_eq!(frame["websiteName"], filing["websites"][0]["name"]);
    let mut website_kinds = kinds(&frame);
    website_kinds.sort();
    assert_eq!(website_kinds, ["FACE_VIDEO", "ID_CARD_BACK", "ID_CARD_FRONT"]);
    assert!(frame["materials"].as_array().unwrap().iter().all(|m| m["websiteId"] == website));
    // An upload turns its item from MISSING to UPLOADED on the phone too.
    let id_card = crate::attachments::png(2048);
    let input = mobile_upload("ID_CARD_FRONT", "id.png", "image/png", &id_card, Some("110105199001011232"));
    let ticket = app.ok(&token, UPLOAD, input).await["requestMobileUpload"].clone();
    assert_eq!(crate::attachments::put(&app, &ticket, id_card).await, 200);
    app.ok(&token, COMPLETE_UPLOAD, json!({ "id": ticket["attachment"]["id"] })).await;
    let frame = app.ok(&token, FRAME, json!({})).await["mobileSession"].clone();
    let front = frame["materials"].as_array().unwrap().iter().find(|m| m["kind"] == "ID_CARD_FRONT").unwrap().clone();
    assert_eq!(front["state"], "UPLOADED");
}

async fn app_tenant_name(app: &TestApp, admin: &str) -> Value {
    app.ok(admin, "{ tenantSettings { name } }", json!({})).await["tenantSettings"]["name"].clone()
}
