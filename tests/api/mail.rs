//! Email: every stage reaches the right people in their language, through a real SMTP listener; failures are
//! retried, dead dispatchers lose nothing, two dispatchers send each message once; templates and visibility.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use entity::enums::OutboxStatus;
use mailin_embedded::{Handler, Response, Server, response};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::people::*;
use crate::workflow::{Cast, act, cast_on, confirm_all_sms, reject, state, upload_materials};

/// One message as the listener received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub to: Vec<String>,
    pub raw: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(&self.raw).expect("a parsable message")
    }

    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or_default().to_owned()
    }

    pub fn text(&self) -> String {
        self.parsed().body_text(0).map(|t| t.replace("\r\n", "\n")).unwrap_or_default()
    }

    pub fn html(&self) -> String {
        self.parsed().body_html(0).map(|t| t.into_owned()).unwrap_or_default()
    }

    pub fn message_id(&self) -> String {
        self.parsed().message_id().unwrap_or_default().to_owned()
    }

    pub fn header(&self, name: &str) -> String {
        self.parsed().header_raw(name).unwrap_or_default().trim().to_owned()
    }
}

/// An SMTP listener on a free port (mailin-embedded on a thread of its own), recording what arrives; it can be told
/// to refuse the next messages for now (451) or for good (550).
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    refuse_for_now: Arc<AtomicUsize>,
    refuse_for_good: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct SinkHandler {
    sink: SmtpSink,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for SinkHandler {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    // Refusals come at RCPT, as a greylisting or full mailbox would (mailin stays in its DATA state after an error at
    // the end of DATA, which would leave the client waiting).
    fn rcpt(&mut self, _to: &str) -> Response {
        let take = |counter: &AtomicUsize| {
            counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
        };
        if take(&self.sink.refuse_for_good) {
            return response::NO_MAILBOX;
        }
        if take(&self.sink.refuse_for_now) {
            return response::INTERNAL_ERROR;
        }
        response::OK
    }

    fn data_end(&mut self) -> Response {
        let message = Received { to: self.to.clone(), raw: std::mem::take(&mut self.data) };
        self.sink.received.lock().unwrap().push(message);
        response::OK
    }
}

impl SmtpSink {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().unwrap().port();
        let sink = SmtpSink {
            port,
            received: Arc::default(),
            refuse_for_now: Arc::default(),
            refuse_for_good: Arc::default(),
        };
        let handler = SinkHandler { sink: sink.clone(), to: Vec::new(), data: Vec::new() };
        std::thread::spawn(move || {
            let mut server = Server::new(handler);
            // A thread per connection, and dispatchers keep a pool of connections open (mail.concurrency each).
            server.with_name("sink.test").with_num_threads(32).with_tcp_listener(listener);
            let _ = server.serve();
        });
        sink
    }

    pub fn url(&self) -> SecretString {
        SecretString::from(format!("smtp://127.0.0.1:{}", self.port))
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The messages to `address` whose subject contains `needle`.
    pub fn to(&self, address: &str, needle: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == address) && m.subject().contains(needle))
            .collect()
    }

    pub fn clear(&self) {
        self.received.lock().unwrap().clear();
    }

    pub fn refuse_next(&self, count: usize, for_good: bool) {
        let counter = if for_good { &self.refuse_for_good } else { &self.refuse_for_now };
        counter.store(count, Ordering::SeqCst);
    }
}

async fn app_with_sink(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    spawn_app_with(TestDatabase::new().await, move |config| config.mail.smtp_url = Some(url)).await
}

async fn deliver(app: &TestApp) -> beian::mail::dispatcher::Pass {
    app.dispatcher.run_until_idle(Utc::now()).await.expect("dispatch")
}

const NOTIFICATIONS: &str = "query($id: ID!) { filing(id: $id) { notifications {
    id stage recipient language status attempts subject messageId sentAt lastError } } }";

/// The (stage, recipient) pairs of a filing's notifications, in order.
async fn stages(app: &TestApp, key: &str, filing: &Value) -> Vec<(String, String)> {
    let found = app.ok(key, NOTIFICATIONS, json!({ "id": filing["id"] })).await["filing"]["notifications"].clone();
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["stage"].as_str().unwrap().to_owned(), n["recipient"].as_str().unwrap().to_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

const OWNER: &str = "owner@example.com";
const ZHANG: &str = "zhangsan@example.com";
const LI: &str = "lisi@example.com";

#[tokio::test]
async fn every_stage_reaches_the_right_people_in_their_language() {
    let sink = SmtpSink::start();
    let cast = cast_on(app_with_sink(&sink).await).await;
    let Cast { app, backend, admin, reviewer, applicant, .. } = &cast;
    // The registrar's branding, and an applicant who reads English.
    let settings =
        "mutation($input: UpdateTenantSettingsInput!) { updateTenantSettings(input: $input) { mailSenderName } }";
    let branding = json!({ "mailSenderName": "新网备案中心", "mailSenderAddress": "beian@xinnet.example",
        "mailReplyTo": "support@xinnet.example", "supportContact": "400-600-8888", "frontendBaseUrl": "https://beian.xinnet.example" });
    app.ok(admin, settings, json!({ "input": branding })).await;
    let profile = "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { preferredLanguage } }";
    let me = app.ok(applicant, profile, json!({ "input": { "preferredLanguage": "EN" } })).await;
    assert_eq!(me["updateProfile"]["preferredLanguage"], "EN");
    // The account mails of setting the registrar up go first.
    assert_eq!(deliver(app).await.sent, 3, "two staff invitations and the applicant's verification");
    sink.clear();

    let filing = app.create_filing(applicant, "北京示例科技有限公司").await;
    upload_materials(app, applicant, &filing).await;
    act(app, applicant, "submitFiling", &filing).await;
    act(app, reviewer, "claimReview", &filing).await;
    let reasons = json!([{ "field": "websites[0].name", "code": "NAME_UNCLEAR", "message": "网站名称与内容不符",
        "suggestion": "请改为与内容一致的名称" }]);
    reject(app, reviewer, &filing, "rejectPreliminaryReview", reasons).await;
    // Nothing leaves before the dispatcher runs; then each message once.
    assert!(sink.received().is_empty());
    assert_eq!(deliver(app).await.sent, 3);

    let received = sink.to(OWNER, "");
    assert_eq!(received.len(), 3);
    let rejection = &sink.to(OWNER, "needs changes")[0];
    assert_eq!(rejection.subject(), "[Registrar xinnet] Your ICP filing needs changes: 北京示例科技有限公司");
    let text = rejection.text();
    assert!(text.contains("- websites[0].name: 网站名称与内容不符\n  Suggestion: 请改为与内容一致的名称"), "{text}");
    assert!(text.contains("https://beian.xinnet.example/filings/"), "{text}");
    assert!(text.contains("Support: 400-600-8888"), "{text}");
    assert!(!text.contains("您好"), "English only for an English reader: {text}");
    assert!(
        rejection
            .html()
            .contains("<li>websites[0].name: 网站名称与内容不符<br>Suggestion: 请改为与内容一致的名称</li>")
    );
    // Headers: the registrar as sender (RFC 2047 for the Chinese name), reply-to, a stable Message-ID, UTF-8.
    let parsed = rejection.parsed();
    let from = parsed.from().and_then(|a| a.first()).unwrap();
    assert_eq!((from.name(), from.address()), (Some("新网备案中心"), Some("beian@xinnet.example")));
    assert!(rejection.header("From").to_lowercase().contains("=?utf-8?"), "encoded: {}", rejection.header("From"));
    assert!(rejection.header("Reply-To").contains("support@xinnet.example"));
    // The Chinese words of the subject travel RFC 2047-encoded, never as raw bytes.
    let subject = rejection.header("Subject");
    assert!(subject.to_lowercase().contains("=?utf-8?b?") && !subject.contains("北京"), "{subject}");
    assert!(rejection.header("Content-Type").starts_with("multipart/alternative"));
    let ids = app.ok(admin, NOTIFICATIONS, json!({ "id": filing["id"] })).await["filing"]["notifications"].clone();
    let rejected = ids.as_array().unwrap().iter().find(|n| n["stage"] == "PRELIMINARY_REJECTED").unwrap();
    assert_eq!(format!("<{}>", rejection.message_id()), rejected["messageId"].as_str().unwrap());
    assert_eq!((rejected["status"].clone(), rejected["language"].clone()), (json!("SENT"), json!("EN")));

    // Fixed and resubmitted; approved: the SMS check goes to the applicant and both responsible persons.
    let current = state(app, applicant, &filing).await;
    let website = json!({ "websiteId": filing["websites"][0]["id"], "version": current["version"],
        "website": website_input("示例科技产品展示网", "example.com") });
    let update = "mutation($input: UpdateWebsiteInput!) { updateWebsite(input: $input) { filing { version } } }";
    app.ok(applicant, update, json!({ "input": website })).await;
    act(app, applicant, "submitFiling", &filing).await;
    act(app, reviewer, "claimReview", &filing).await;
    act(app, reviewer, "approvePreliminaryReview", &filing).await;
    deliver(app).await;
    let to_zhang = &sink.to(ZHANG, "")[0];
    assert!(to_zhang.subject().contains("初审已通过") && to_zhang.subject().contains(" / "), "{}", to_zhang.subject());
    let both = to_zhang.text();
    assert!(both.contains("张三，您好") && both.contains("Hello 张三"), "both languages for a person: {both}");
    assert!(both.contains("https://beian.miit.gov.cn/") && both.contains("(UTC+8)"), "{both}");
    assert_eq!(sink.to(LI, "").len(), 1);

    // Near the deadline, a reminder; after it, the timeout; a new round; everyone confirms; the bureau decides.
    let now = Utc::now();
    let reminded = beian::services::notifications::send_sms_reminders(&app.deps.at(now + Duration::hours(20)), 6).await;
    assert_eq!(reminded.unwrap(), 1);
    let again = beian::services::notifications::send_sms_reminders(&app.deps.at(now + Duration::hours(21)), 6).await;
    assert_eq!(again.unwrap(), 0, "one reminder per round");
    beian::services::workflow::expire_sms_checks(&app.deps.at(now + Duration::hours(25))).await.unwrap();
    act(app, backend, "resubmitToMiit", &filing).await;
    confirm_all_sms(app, backend, &filing).await;
    let version = state(app, backend, &filing).await["version"].clone();
    let decide = "mutation($input: BureauDecisionInput!) { recordBureauDecision(input: $input) { status } }";
    let numbers = json!({ "filingId": filing["id"], "version": version, "approved": { "subjectNumber": "京ICP备2026000001号",
        "websites": [{ "websiteId": filing["websites"][0]["id"], "number": "京ICP备2026000001号-1" }] } });
    app.ok(backend, decide, json!({ "input": numbers })).await;
    deliver(app).await;

    assert_eq!(
        // (The backend's key reads recipients in full; administrators see them masked, like all personal data.)
        stages(app, backend, &filing).await,
        pairs(&[
            ("SUBMISSION_RECEIVED", OWNER),
            ("REVIEW_STARTED", OWNER),
            ("PRELIMINARY_REJECTED", OWNER),
            ("SUBMISSION_RECEIVED", OWNER),
            ("REVIEW_STARTED", OWNER),
            ("PRELIMINARY_APPROVED", OWNER),
            ("PRELIMINARY_APPROVED", ZHANG),
            ("PRELIMINARY_APPROVED", LI),
            ("SMS_REMINDER", OWNER),
            ("SMS_REMINDER", ZHANG),
            ("SMS_REMINDER", LI),
            ("SMS_FAILED", OWNER),
            ("SMS_CHECK_STARTED", OWNER),
            ("SMS_CHECK_STARTED", ZHANG),
            ("SMS_CHECK_STARTED", LI),
            ("SENT_TO_BUREAU", OWNER),
            ("BUREAU_APPROVED", OWNER),
            ("BUREAU_APPROVED", ZHANG),
            ("BUREAU_APPROVED", LI),
        ])
    );
    let approved = &sink.to(OWNER, "approved")[0];
    assert_eq!(approved.subject(), "[Registrar xinnet] Your ICP filing is approved: 京ICP备2026000001号");
    let text = approved.text();
    assert!(text.contains("示例科技产品展示网 (example.com): 京ICP备2026000001号-1"), "{text}");
    assert!(text.contains("https://beian.miit.gov.cn/"), "how to display the number: {text}");
    // Every message arrived once, each with its own Message-ID.
    let all = sink.received();
    assert_eq!(all.len(), 19);
    let mut message_ids: Vec<String> = all.iter().map(Received::message_id).collect();
    message_ids.sort();
    message_ids.dedup();
    assert_eq!(message_ids.len(), 19);
    assert_eq!(deliver(app).await.claimed, 0, "nothing left");
    // Applicants do not see the mail log.
    let error = app.err(applicant, NOTIFICATIONS, json!({ "id": filing["id"] })).await;
    assert_eq!(code(&error), "FORBIDDEN");
}

#[tokio::test]
async fn withdrawal_and_abandonment_are_announced_in_both_languages_when_the_language_is_unknown() {
    let sink = SmtpSink::start();
    let cast = cast_on(app_with_sink(&sink).await).await;
    let Cast { app, applicant, .. } = &cast;
    let filing = app.create_filing(applicant, "北京示例科技有限公司").await;
    upload_materials(app, applicant, &filing).await;
    act(app, applicant, "submitFiling", &filing).await;
    act(app, applicant, "withdrawFiling", &filing).await;
    act(app, applicant, "abandonFiling", &filing).await;
    deliver(app).await;
    let withdrawn = &sink.to(OWNER, "撤回")[0];
    assert_eq!(
        withdrawn.subject(),
        "【Registrar xinnet】备案申请已撤回：北京示例科技有限公司 / [Registrar xinnet] Your ICP filing was withdrawn: 北京示例科技有限公司"
    );
    assert!(withdrawn.text().contains("申请人，您好") && withdrawn.text().contains("Hello 申请人"));
    assert_eq!(sink.to(OWNER, "放弃").len(), 1);
}

#[tokio::test]
async fn a_refusing_relay_is_retried_with_backoff_and_a_permanent_refusal_parks_the_message() {
    let sink = SmtpSink::start();
    let app = app_with_sink(&sink).await;
    app.tenant("xinnet").await;
    let admin = access(&first_admin(&app, "xinnet", "admin@xinnet.example").await);
    sink.refuse_next(2, false);
    for email in ["a@example.com", "b@example.com"] {
        staff(&app, &admin, email, "REVIEWER").await;
    }
    // Two invitations: the relay refuses both for now.
    let list = "query($f: NotificationFilterInput) { notifications(first: 50, filter: $f) { totalCount
        nodes { id stage recipient status attempts lastError nextAttemptAt messageId } } }";
    let queued = json!({ "f": { "status": ["QUEUED"] } });
    let now = Utc::now();
    let first = app.dispatcher.run_until_idle(now).await.unwrap();
    assert_eq!((first.sent, first.retrying), (0, 2));
    let listed = app.ok(&admin, list, queued).await["notifications"].clone();
    assert_eq!(listed["totalCount"], 2);
    for n in listed["nodes"].as_array().unwrap() {
        assert_eq!((n["status"].clone(), n["attempts"].clone()), (json!("QUEUED"), json!(1)), "{n}");
        assert!(n["lastError"].as_str().unwrap().contains("451"), "{n}");
        let next: chrono::DateTime<Utc> = n["nextAttemptAt"].as_str().unwrap().parse().unwrap();
        // 30 s base with jitter: between half and all of it.
        assert!(next >= now + Duration::seconds(15) && next <= now + Duration::seconds(30), "{next} vs {now}");
    }
    assert_eq!(app.dispatcher.run_until_idle(now).await.unwrap().claimed, 0, "not due yet");
    let later = app.dispatcher.run_until_idle(now + Duration::minutes(1)).await.unwrap();
    assert_eq!(later.sent, 2);
    assert_eq!(sink.to("a@example.com", "").len(), 1);
    let listed = app.ok(&admin, list, json!({ "f": { "stage": ["STAFF_INVITATION"] } })).await["notifications"].clone();
    assert_eq!(listed["totalCount"], 2);
    let ids: Vec<&str> = listed["nodes"].as_array().unwrap().iter().map(|n| n["messageId"].as_str().unwrap()).collect();
    assert!(ids.iter().any(|id| *id == format!("<{}>", sink.to("a@example.com", "")[0].message_id())));

    // A permanent refusal fails at once; an administrator queues it again.
    sink.refuse_next(1, true);
    staff(&app, &admin, "c@example.com", "REVIEWER").await;
    let pass = app.dispatcher.run_until_idle(now + Duration::minutes(2)).await.unwrap();
    assert_eq!(pass.failed, 1);
    let failed =
        app.ok(&admin, list, json!({ "f": { "status": ["FAILED"] } })).await["notifications"]["nodes"][0].clone();
    assert!(failed["lastError"].as_str().unwrap().contains("550"), "{failed}");
    let stats = "{ notificationStats { queued sent failed } }";
    assert_eq!(
        app.ok(&admin, stats, json!({})).await["notificationStats"],
        json!({ "queued": 0, "sent": 2, "failed": 1 })
    );
    let retry = "mutation($id: ID!) { retryNotification(id: $id) { status attempts } }";
    let retried = app.ok(&admin, retry, json!({ "id": failed["id"] })).await;
    assert_eq!(retried["retryNotification"], json!({ "status": "QUEUED", "attempts": 0 }));
    let error = app.err(&admin, retry, json!({ "id": failed["id"] })).await;
    assert_eq!(fields(&error), vec![("id".to_owned(), "CHANGE_NOT_ALLOWED".to_owned())], "only failed ones");
    assert_eq!(app.dispatcher.run_until_idle(now + Duration::minutes(3)).await.unwrap().sent, 1);
    assert_eq!(sink.to("c@example.com", "").len(), 1);
}

#[tokio::test]
async fn a_dispatcher_that_dies_mid_batch_loses_nothing_and_two_dispatchers_send_each_message_once() {
    let sink = SmtpSink::start();
    let url = sink.url();
    let app = spawn_app_with(TestDatabase::new().await, move |c| {
        c.mail.smtp_url = Some(url);
        c.mail.batch_size = 5;
    })
    .await;
    app.tenant("xinnet").await;
    let tenant = beian::services::tenants::list_tenants(&app.deps).await.unwrap().remove(0);
    let queue = |n: usize| {
        let (db, keys) = (app.db.clone(), app.deps.keys.clone());
        async move {
            for i in 0..n {
                let envelope = beian::mail::outbox::Envelope {
                    tenant_id: tenant.id,
                    stage: beian::mail::Stage::PasswordChanged,
                    recipient: &format!("person{i}@example.com"),
                    recipient_name: Some("测试"),
                    language: None,
                    filing_id: None,
                    payload: json!({ "displayName": format!("测试{i}") }),
                };
                beian::mail::outbox::enqueue(&db, &keys, envelope).await.unwrap();
            }
        }
    };
    queue(5).await;
    // A dispatcher claims a batch and dies before sending: another one leaves the batch alone until the lease ends,
    // then sends it.
    let now = Utc::now();
    let dead = app.dispatcher.another();
    assert_eq!(dead.claim(now).await.unwrap().len(), 5);
    drop(dead);
    assert_eq!(app.dispatcher.run_until_idle(now).await.unwrap().claimed, 0);
    let after_lease = now + Duration::seconds(301);
    assert_eq!(app.dispatcher.run_until_idle(after_lease).await.unwrap().sent, 5);
    assert_eq!(sink.received().len(), 5);

    // Two dispatchers at once over 40 messages, neither dying: every message once.
    queue(40).await;
    let (a, b) = (app.dispatcher.another(), app.dispatcher.another());
    let (x, y) = tokio::join!(a.run_until_idle(after_lease), b.run_until_idle(after_lease));
    assert_eq!(x.unwrap().sent + y.unwrap().sent, 40);
    let received = sink.received();
    assert_eq!(received.len(), 45);
    let mut recipients: Vec<String> = received.iter().flat_map(|m| m.to.clone()).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 40, "5 + 40 messages to 40 addresses (person0..4 twice)");
    let mut ids: Vec<String> = received.iter().map(Received::message_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 45, "no message went out twice");
}

#[tokio::test]
async fn the_embedded_default_writes_each_message_as_an_eml_file() {
    let database = TestDatabase::new().await;
    let mail_dir = database.dir.path().join("data").join("mail");
    // The background dispatcher of the server itself, every second.
    let app = spawn_app_with(database, |c| {
        c.mail.dispatch = true;
        c.mail.dispatch_interval_seconds = 1;
    })
    .await;
    app.tenant("xinnet").await;
    register(&app, "xinnet", "new@example.com").await;
    let mut files = Vec::new();
    for _ in 0..100 {
        files = std::fs::read_dir(&mail_dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        if !files.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(files.len(), 1, "one .eml file in {}", mail_dir.display());
    let raw = std::fs::read(&files[0]).unwrap();
    let message = Received { to: vec![], raw };
    assert!(message.subject().contains("请验证您的邮箱"), "{}", message.subject());
    // The link in the file carries the token (the outbox keeps no copy once the message is out) and it works.
    let text = message.text();
    let token = text
        .split(|c: char| c.is_whitespace() || c == '=' || c == '&' || c == '"')
        .find(|word| word.starts_with("beian_t_"))
        .unwrap_or_else(|| panic!("a link with the token: {text}"));
    let verify = "mutation($token: String!) { verifyEmail(token: $token) { account { email } } }";
    let (_, body) = app.post(None, verify, json!({ "token": token })).await;
    assert_eq!(body["data"]["verifyEmail"]["account"]["email"], "new@example.com", "{body}");
    assert!(files[0].extension().is_some_and(|e| e == "eml"));
}

#[tokio::test]
async fn registrars_word_their_own_mail_and_see_only_their_own() {
    let sink = SmtpSink::start();
    let cast = cast_on(app_with_sink(&sink).await).await;
    let Cast { app, admin, reviewer, applicant, .. } = &cast;
    let set = "mutation($input: SetEmailTemplateInput!) { setEmailTemplate(input: $input) { stage language subject overridden } }";
    let mine = json!({ "stage": "SUBMISSION_RECEIVED", "language": "ZH", "subject": "{{ registrar }}：收到 {{ subjectName }}",
        "body": "{{ recipientName }}，我们收到了您的申请。{% for w in websites %}\n- {{ w.name }}{% endfor %}" });
    let done = app.ok(admin, set, json!({ "input": mine })).await;
    assert_eq!(done["setEmailTemplate"]["overridden"], true);
    // A template that does not render is refused, and so are people who do not manage mail.
    let mut broken = mine.clone();
    broken["body"] = json!("{% for w in websites %}never closed");
    let error = app.err(admin, set, json!({ "input": broken })).await;
    assert_eq!(fields(&error), vec![("body".to_owned(), "INVALID_TEMPLATE".to_owned())]);
    assert_eq!(code(&app.err(reviewer, set, json!({ "input": mine })).await), "FORBIDDEN");
    assert_eq!(code(&app.err(applicant, set, json!({ "input": mine })).await), "FORBIDDEN");

    // The preview fills a real filing in; the mail that goes out uses the registrar's wording.
    let filing = app.create_filing(applicant, "北京示例科技有限公司").await;
    let preview = "query($id: ID) { previewEmail(stage: SUBMISSION_RECEIVED, filingId: $id, language: ZH) { subject text html } }";
    let shown = app.ok(reviewer, preview, json!({ "id": filing["id"] })).await["previewEmail"].clone();
    assert_eq!(shown["subject"], "Registrar xinnet：收到 北京示例科技有限公司");
    assert!(shown["text"].as_str().unwrap().starts_with("申请人，我们收到了您的申请。\n- 示例科技官网"), "{shown}");
    assert_eq!(code(&app.err(applicant, preview, json!({ "id": filing["id"] })).await), "FORBIDDEN");
    upload_materials(app, applicant, &filing).await;
    act(app, applicant, "submitFiling", &filing).await;
    deliver(app).await;
    let received = &sink.to(OWNER, "收到")[0];
    assert!(
        received.subject().starts_with("Registrar xinnet：收到 北京示例科技有限公司 / [Registrar xinnet] We received")
    );

    // Another registrar: its own templates untouched, our notifications invisible.
    let other = app.tenant("aliyun").await;
    let templates = "{ emailTemplates { stage language overridden } }";
    let other_admin = access(&first_admin(app, "aliyun", "admin@aliyun.example").await);
    let theirs = app.ok(&other_admin, templates, json!({})).await["emailTemplates"].clone();
    assert!(theirs.as_array().unwrap().iter().all(|t| t["overridden"] == false));
    assert_eq!(theirs.as_array().unwrap().len(), 38, "19 stages in 2 languages");
    let ours = app.ok(admin, NOTIFICATIONS, json!({ "id": filing["id"] })).await["filing"]["notifications"][0].clone();
    let node = "query($id: ID!) { node(id: $id) { id ... on Notification { recipient } } }";
    assert_eq!(code(&app.err(&other, node, json!({ "id": ours["id"] })).await), "NOT_FOUND");
    // An administrator sees the recipient masked, like all personal data (READ_PERSONAL_DATA shows it in full).
    assert_eq!(app.ok(admin, node, json!({ "id": ours["id"] })).await["node"]["recipient"], "o***@example.com");
    let list = "{ notifications(first: 10) { totalCount } }";
    assert_eq!(app.ok(&other, list, json!({})).await["notifications"]["totalCount"], 0, "none of ours");
    let retry = "mutation($id: ID!) { retryNotification(id: $id) { status } }";
    assert_eq!(code(&app.err(&other, retry, json!({ "id": ours["id"] })).await), "NOT_FOUND");

    // Back to the built-in wording.
    let reset = "mutation { resetEmailTemplate(stage: SUBMISSION_RECEIVED, language: ZH) { overridden subject } }";
    let back = app.ok(admin, reset, json!({})).await["resetEmailTemplate"].clone();
    assert_eq!(back["overridden"], false);
    assert!(back["subject"].as_str().unwrap().contains("已收到您的备案申请"));
}

/// The outbox rows of a stage: (filing, Message-ID, how many languages the message carries).
async fn sent_of_stage(app: &TestApp, stage: beian::mail::Stage) -> Vec<(uuid::Uuid, String, usize)> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entity::outbox_message::Entity::find()
        .filter(entity::outbox_message::Column::Template.eq(stage.as_str()))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| {
            assert_eq!(m.status, OutboxStatus::Sent, "{stage} to be sent: {:?}", m.last_error);
            let languages = if m.language.is_some() { 1 } else { 2 };
            (m.filing_id.expect("a filing stage names its filing"), m.message_id.unwrap(), languages)
        })
        .collect()
}

/// Submits a filing of its own subject and takes it through the preliminary review to the MIIT SMS step.
async fn through_review(cast: &Cast, i: u32) -> Value {
    let Cast { app, reviewer, applicant, .. } = cast;
    let filing = app.ok(applicant, &CREATE, json!({ "input": crate::workflow::numbered_filing(i) })).await;
    let filing = filing["createFiling"].clone();
    upload_materials(app, applicant, &filing).await;
    act(app, applicant, "submitFiling", &filing).await;
    act(app, reviewer, "claimReview", &filing).await;
    assert_eq!(act(app, reviewer, "approvePreliminaryReview", &filing).await["status"], "SMS_VERIFICATION");
    filing
}

/// Every stage of [`beian::mail::Stage`] that is about a filing, walked through the workflow: a stage added later
/// without being walked here fails the test below.
async fn walk_every_filing_stage(cast: &Cast) {
    let Cast { app, backend, reviewer, applicant, .. } = cast;
    let reasons = json!([{ "field": "websites[0].name", "code": "NAME_UNCLEAR", "message": "网站名称与内容不符" }]);
    // Submitted, claimed, returned by the preliminary review.
    let first = app.ok(applicant, &CREATE, json!({ "input": crate::workflow::numbered_filing(1) })).await;
    let first = first["createFiling"].clone();
    upload_materials(app, applicant, &first).await;
    act(app, applicant, "submitFiling", &first).await;
    act(app, reviewer, "claimReview", &first).await;
    reject(app, reviewer, &first, "rejectPreliminaryReview", reasons.clone()).await;
    // Approved: reminded, timed out, a new round, timed out, returned by the registrar.
    let second = through_review(cast, 2).await;
    let now = Utc::now();
    let reminded = beian::services::notifications::send_sms_reminders(&app.deps.at(now + Duration::hours(20)), 6).await;
    assert_eq!(reminded.unwrap(), 1);
    beian::services::workflow::expire_sms_checks(&app.deps.at(now + Duration::hours(25))).await.unwrap();
    act(app, backend, "resubmitToMiit", &second).await;
    beian::services::workflow::expire_sms_checks(&app.deps.at(now + Duration::hours(50))).await.unwrap();
    let returned = reject(app, backend, &second, "returnToApplicant", reasons.clone()).await;
    assert_eq!(returned["data"]["returnToApplicant"]["status"], "RETURNED", "{returned}");
    // Confirmed: the bureau refuses one and approves another.
    let decide = "mutation($input: BureauDecisionInput!) { recordBureauDecision(input: $input) { status } }";
    for (i, approved) in [(3, false), (4, true)] {
        let filing = through_review(cast, i).await;
        confirm_all_sms(app, backend, &filing).await;
        let version = state(app, backend, &filing).await["version"].clone();
        let mut input = json!({ "filingId": filing["id"], "version": version, "reasons": reasons });
        if approved {
            input["reasons"] = json!([]);
            input["approved"] = json!({ "subjectNumber": "京ICP备2026000004号", "websites": [{
                "websiteId": filing["websites"][0]["id"], "number": "京ICP备2026000004号-1" }] });
        }
        app.ok(backend, decide, json!({ "input": input })).await;
    }
    // Submitted, withdrawn, abandoned.
    let last = app.ok(applicant, &CREATE, json!({ "input": crate::workflow::numbered_filing(5) })).await;
    let last = last["createFiling"].clone();
    upload_materials(app, applicant, &last).await;
    act(app, applicant, "submitFiling", &last).await;
    act(app, applicant, "withdrawFiling", &last).await;
    act(app, applicant, "abandonFiling", &last).await;
}

#[tokio::test]
async fn every_mail_about_a_filing_links_to_it_in_the_registrars_frontend() {
    use strum::IntoEnumIterator;
    let sink = SmtpSink::start();
    let cast = cast_on(app_with_sink(&sink).await).await;
    let Cast { app, admin, .. } = &cast;
    let settings =
        "mutation($input: UpdateTenantSettingsInput!) { updateTenantSettings(input: $input) { frontendBaseUrl } }";
    app.ok(admin, settings, json!({ "input": { "frontendBaseUrl": "https://beian.xinnet.example/app/" } })).await;
    // The registrar's own wording of a stage, which names no link: the link is there all the same.
    let set = "mutation($input: SetEmailTemplateInput!) { setEmailTemplate(input: $input) { overridden } }";
    for language in ["ZH", "EN"] {
        let mine = json!({ "stage": "WITHDRAWN", "language": language, "subject": "{{ subjectName }}",
            "body": "{{ recipientName }}: withdrawn." });
        app.ok(admin, set, json!({ "input": mine })).await;
    }
    walk_every_filing_stage(&cast).await;
    deliver(app).await;

    let received = sink.received();
    for stage in beian::mail::Stage::iter().filter(|s| s.is_filing_stage()) {
        let sent = sent_of_stage(app, stage).await;
        assert!(!sent.is_empty(), "the walk above reaches {stage}: walk a new stage there");
        for (filing, message_id, languages) in sent {
            let url = format!("https://beian.xinnet.example/app/filings/{filing}");
            let message = received.iter().find(|m| format!("<{}>", m.message_id()) == message_id).unwrap();
            let (text, html) = (message.text(), message.html());
            // Once per language (the message may carry both).
            assert_eq!(text.matches(url.as_str()).count(), languages, "{stage}: the link in the text: {text}");
            assert!(html.contains(&format!("<a href=\"{url}\">{url}</a>")), "{stage}: the link in the HTML: {html}");
        }
    }
}

#[tokio::test]
async fn a_registrar_without_a_frontend_gets_the_filing_reference_in_every_filing_mail() {
    use strum::IntoEnumIterator;
    let sink = SmtpSink::start();
    let cast = cast_on(app_with_sink(&sink).await).await;
    walk_every_filing_stage(&cast).await;
    deliver(&cast.app).await;
    let received = sink.received();
    for stage in beian::mail::Stage::iter().filter(|s| s.is_filing_stage()) {
        let sent = sent_of_stage(&cast.app, stage).await;
        assert!(!sent.is_empty(), "{stage} was walked");
        for (filing, message_id, _) in sent {
            let message = received.iter().find(|m| format!("<{}>", m.message_id()) == message_id).unwrap();
            let text = message.text();
            let reference = filing.simple().to_string();
            let zh = format!("请登录 Registrar xinnet 的备案系统，按订单号 {reference} 查看申请。");
            let en =
                format!("Sign in to the filing system of Registrar xinnet and look it up by reference {reference}.");
            let (in_zh, in_en) = (text.contains("您好"), text.contains("Hello"));
            assert!(in_zh || in_en, "{stage}: {text}");
            assert_eq!((text.contains(&zh), text.contains(&en)), (in_zh, in_en), "{stage}: the reference: {text}");
            assert!(!text.contains("/filings/"), "{stage}: no link without a frontend: {text}");
        }
    }
}

/// The value of a sample of the exposition text (`name{labels}`), if present.
async fn metric(app: &TestApp, sample: &str) -> Option<f64> {
    let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(sample).and_then(|v| v.strip_prefix(' '))?.parse().ok())
}

/// Queues one message to `address` directly.
async fn queue_one(app: &TestApp, address: &str) -> uuid::Uuid {
    use sea_orm::{EntityTrait, QueryOrder};
    let tenant = beian::services::tenants::list_tenants(&app.deps).await.unwrap().remove(0);
    let envelope = beian::mail::outbox::Envelope {
        tenant_id: tenant.id,
        stage: beian::mail::Stage::PasswordChanged,
        recipient: address,
        recipient_name: Some("测试"),
        language: None,
        filing_id: None,
        payload: json!({ "displayName": "测试" }),
    };
    beian::mail::outbox::enqueue(&app.db, &app.deps.keys, envelope).await.unwrap();
    let newest = entity::outbox_message::Entity::find().order_by_desc(entity::outbox_message::Column::Id);
    newest.one(&app.db).await.unwrap().unwrap().id
}

async fn outbox_row(app: &TestApp, id: uuid::Uuid) -> entity::outbox_message::Model {
    use sea_orm::EntityTrait;
    entity::outbox_message::Entity::find_by_id(id).one(&app.db).await.unwrap().unwrap()
}

/// Runs the dispatcher at each retry's time until the message is no longer queued or `until` is reached; returns
/// the clock then.
async fn retry_until(
    app: &TestApp,
    dispatcher: &beian::mail::dispatcher::Dispatcher,
    id: uuid::Uuid,
    mut now: chrono::DateTime<Utc>,
    until: chrono::DateTime<Utc>,
) -> chrono::DateTime<Utc> {
    loop {
        dispatcher.run_until_idle(now).await.unwrap();
        let row = outbox_row(app, id).await;
        match row.next_attempt_at {
            Some(next) if row.status == OutboxStatus::Queued && next <= until => now = next.max(now),
            _ => return now,
        }
    }
}

#[tokio::test]
async fn a_relay_outage_of_hours_is_retried_through_not_parked_after_a_count_and_metrics_show_it() {
    // A relay nobody answers: its port is closed.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = SecretString::from(format!("smtp://127.0.0.1:{closed}"));
    // The defaults: 30 s doubling, capped; before, 8 attempts (about an hour) parked the message as FAILED.
    let app = spawn_app_with(TestDatabase::new().await, move |c| c.mail.smtp_url = Some(url)).await;
    app.tenant("xinnet").await;
    let id = queue_one(&app, "outage@example.com").await;
    let start = Utc::now();
    // Three hours of outage: a dozen attempts and more, and still queued.
    let now = retry_until(&app, &app.dispatcher, id, start, start + Duration::hours(3)).await;
    let row = outbox_row(&app, id).await;
    assert_eq!(
        row.status,
        OutboxStatus::Queued,
        "still retrying after {} attempts: {:?}",
        row.attempts,
        row.last_error
    );
    assert!(row.attempts > 8, "{} attempts in three hours", row.attempts);
    assert!(now >= start + Duration::minutes(150), "{now}");
    // Capped backoff: no wait longer than 30 minutes.
    assert!(row.next_attempt_at.unwrap() <= now + Duration::minutes(30), "{:?} after {now}", row.next_attempt_at);
    // Operators see it: one message retrying, the oldest undelivered one's age, the failed sends.
    assert_eq!(metric(&app, "beian_outbox_retrying_messages").await, Some(1.0));
    assert_eq!(metric(&app, "beian_outbox_messages{status=\"FAILED\"}").await, Some(0.0));
    let age = metric(&app, "beian_outbox_oldest_undelivered_age_seconds").await.expect("the age gauge");
    assert!((0.0..600.0).contains(&age), "{age}");
    let failures = metric(&app, "beian_mail_send_failures_total{kind=\"transient\"}").await.expect("the counter");
    assert!(failures >= row.attempts as f64, "{failures}");

    // A day later (the default period) it is parked as FAILED, with the reason.
    retry_until(&app, &app.dispatcher, id, now, start + Duration::hours(25)).await;
    let row = outbox_row(&app, id).await;
    assert_eq!(row.status, OutboxStatus::Failed);
    assert!(row.last_error.as_deref().unwrap_or_default().contains("24 hours"), "{:?}", row.last_error);
    assert_eq!(metric(&app, "beian_outbox_messages{status=\"FAILED\"}").await, Some(1.0));
    assert_eq!(metric(&app, "beian_outbox_retrying_messages").await, Some(0.0));
    assert_eq!(metric(&app, "beian_outbox_oldest_undelivered_age_seconds").await, Some(0.0));
}

#[tokio::test]
async fn two_servers_in_one_process_count_their_own_failed_sends() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = SecretString::from(format!("smtp://127.0.0.1:{closed}"));
    let failing = spawn_app_with(TestDatabase::new().await, move |c| c.mail.smtp_url = Some(url)).await;
    let other = spawn_app().await;
    failing.tenant("xinnet").await;
    queue_one(&failing, "outage@example.com").await;
    failing.dispatcher.run_until_idle(Utc::now()).await.unwrap();
    let transient = "beian_mail_send_failures_total{kind=\"transient\"}";
    assert_eq!(metric(&failing, transient).await, Some(1.0));
    // The other server's counters start at 0 and stay there: the failure was not its own.
    assert_eq!(metric(&other, transient).await, Some(0.0));
    assert_eq!(metric(&other, "beian_mail_send_failures_total{kind=\"permanent\"}").await, Some(0.0));
}

#[tokio::test]
async fn the_retry_period_is_configured_and_backoff_is_capped() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = SecretString::from(format!("smtp://127.0.0.1:{closed}"));
    let app = spawn_app_with(TestDatabase::new().await, move |c| {
        c.mail.smtp_url = Some(url);
        c.mail.retry_for_hours = 1;
        c.mail.retry_base_seconds = 1;
        c.mail.retry_max_seconds = 2;
    })
    .await;
    app.tenant("xinnet").await;
    let id = queue_one(&app, "outage@example.com").await;
    let start = Utc::now();
    // Half an hour of failures two seconds apart at most: far more than 8 attempts, still queued.
    let now = retry_until(&app, &app.dispatcher, id, start, start + Duration::minutes(2)).await;
    let row = outbox_row(&app, id).await;
    assert_eq!(row.status, OutboxStatus::Queued);
    assert!(row.attempts > 40, "{} attempts", row.attempts);
    assert!(row.next_attempt_at.unwrap() <= now + Duration::seconds(2), "capped at 2 s");
    // Counted from the first failure (PostgreSQL keeps microseconds).
    assert_eq!(row.retrying_since.map(|t| t.timestamp_micros()), Some(start.timestamp_micros()));
    // At the end of the hour: FAILED; an administrator's retry starts a new period.
    app.dispatcher.run_until_idle(start + Duration::minutes(61)).await.unwrap();
    let row = outbox_row(&app, id).await;
    assert_eq!(row.status, OutboxStatus::Failed, "{:?}", row.last_error);
    assert!(row.last_error.as_deref().unwrap_or_default().contains("1 hours"), "{:?}", row.last_error);
    let admin = access(&first_admin(&app, "xinnet", "admin@xinnet.example").await);
    let list = "query($f: NotificationFilterInput) { notifications(first: 5, filter: $f) { nodes { id } } }";
    let failed = json!({ "f": { "status": ["FAILED"], "stage": ["PASSWORD_CHANGED"] } });
    let node = app.ok(&admin, list, failed).await["notifications"]["nodes"][0]["id"].clone();
    let retry = "mutation($id: ID!) { retryNotification(id: $id) { status } }";
    app.ok(&admin, retry, json!({ "id": node })).await;
    let row = outbox_row(&app, id).await;
    assert_eq!((row.status.as_str(), row.attempts, row.retrying_since), ("QUEUED", 0, None));
}
