//! Hostile input, round two (#18): documents whose fragments multiply, line breaks that reach mail headers, U+0000
//! and other invisible control characters in any string, and a message that cannot be built.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::mail::SmtpSink;
use crate::people::*;

/// `levels` fragments, each spreading the next one twice: 2^levels fields once expanded, in about 50 bytes a level.
fn doubling_fragments(levels: usize) -> String {
    let mut query = String::from("query { ...F0 }");
    for level in 0..levels {
        query.push_str(&format!(" fragment F{level} on QueryRoot {{ ...F{next} ...F{next} }}", next = level + 1));
    }
    query.push_str(&format!(" fragment F{levels} on QueryRoot {{ __typename }}"));
    query
}

#[tokio::test]
async fn fragments_that_multiply_are_refused_at_once_while_other_requests_are_served() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    // 30 levels (1.5 KB) took over a minute of CPU before it was refused; 60 would take longer than the universe.
    for levels in [30, 60] {
        let query = doubling_fragments(levels);
        let hostile = tokio::spawn({
            let (client, url) = (app.client.clone(), format!("{}/graphql", app.address));
            async move {
                let response = client.post(url).json(&json!({ "query": query })).send().await.unwrap();
                response.json::<Value>().await.unwrap()
            }
        });
        // A request beside it is served, and the document is refused: both well within the time a client waits
        // (the margin is for a loaded test machine; the refusal itself takes microseconds).
        let beside =
            tokio::time::timeout(Duration::from_secs(10), app.ok(&key, "{ filings { totalCount } }", json!({})));
        assert_eq!(beside.await.expect("served beside it")["filings"]["totalCount"], 0);
        let body = tokio::time::timeout(Duration::from_secs(10), hostile).await.expect("refused at once").unwrap();
        let error = &body["errors"][0];
        assert_eq!(code(error), "BAD_USER_INPUT", "{body}");
        assert!(error["message"].as_str().unwrap().contains("超过 1000 个"), "{body}");
        assert!(body.get("data").is_none() || body["data"].is_null(), "{body}");
    }
    // Fragments no operation uses are counted too (validation walks every fragment definition).
    let unused = doubling_fragments(40).replacen("query { ...F0 }", "query { __typename }", 1);
    let (_, body) = app.post(None, &unused, json!({})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("超过 1000 个"), "{body}");
    // A document of the same shape under the limit still runs.
    let (_, body) = app.post(None, &doubling_fragments(5), json!({})).await;
    assert_eq!(body["data"]["__typename"], "QueryRoot", "{body}");
}

/// The (field, code) pairs of a refused request's first error.
async fn refused(app: &TestApp, key: Option<&str>, query: &str, variables: Value) -> Vec<(String, String)> {
    let (status, body) = app.post(key, query, variables).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"].is_null() || body["data"].as_object().is_some_and(|d| d.values().all(Value::is_null)));
    fields(&body["errors"][0])
}

fn control(field: &str) -> Vec<(String, String)> {
    vec![(field.to_owned(), "CONTROL_CHARACTER".to_owned())]
}

#[tokio::test]
async fn line_breaks_are_refused_in_every_name_and_one_line_value_that_reaches_a_mail_header() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let admin = access(&first_admin(&app, "xinnet", "admin@xinnet.example").await);

    let register = "mutation($input: RegisterApplicantInput!) { registerApplicant(input: $input) { message } }";
    for name in ["Eve\r\nX", "Eve\nX", "Eve\rBcc: evil@example.com", "Eve\tX"] {
        let input =
            json!({ "tenant": "xinnet", "email": "eve@example.com", "password": PASSWORD, "displayName": name });
        assert_eq!(refused(&app, None, register, json!({ "input": input })).await, control("displayName"), "{name:?}");
    }
    assert_eq!(outbox_count(&app, "EMAIL_VERIFICATION", "eve@example.com").await, 0, "nothing was queued");

    let invite = "mutation($input: InviteStaffInput!) { inviteStaff(input: $input) { id } }";
    let input = json!({ "email": "r@xinnet.example", "displayName": "Rev\r\nX", "role": "REVIEWER" });
    assert_eq!(refused(&app, Some(&admin), invite, json!({ "input": input })).await, control("displayName"));
    let profile = "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { displayName } }";
    let input = json!({ "displayName": "Admin\nX" });
    assert_eq!(refused(&app, Some(&admin), profile, json!({ "input": input })).await, control("displayName"));

    let settings = "mutation($input: UpdateTenantSettingsInput!) { updateTenantSettings(input: $input) { name } }";
    let input = json!({ "mailSenderName": "Xinnet\r\nBcc: evil@example.com", "name": "新网\n",
        "frontendBaseUrl": "https://console.example\n.com", "mailReplyTo": "a@b.cn\r\nX",
        "mobilePageUrl": "https://console.example/\tmobile" });
    let mut got = refused(&app, Some(&admin), settings, json!({ "input": input })).await;
    got.sort();
    let mut want: Vec<(String, String)> =
        ["frontendBaseUrl", "mailReplyTo", "mailSenderName", "mobilePageUrl"].iter().flat_map(|f| control(f)).collect();
    // A trailing line break is trimmed like any surrounding space: the name itself is fine.
    want.sort();
    assert_eq!(got, want);
    let stored = app.ok(&admin, "{ tenantSettings { name mailSenderName } }", json!({})).await;
    assert_eq!(stored["tenantSettings"], json!({ "name": "Registrar xinnet", "mailSenderName": null }));
    // Multi-line settings keep their line breaks.
    let input = json!({ "mailSignature": "新网备案中心\n客服电话 95000" });
    app.ok(&admin, settings, json!({ "input": input })).await;

    let template = "mutation($input: SetEmailTemplateInput!) { setEmailTemplate(input: $input) { subject } }";
    let input =
        json!({ "stage": "STAFF_INVITATION", "language": "ZH", "subject": "邀请\r\nBcc: x@y.cn", "body": "你好" });
    assert_eq!(refused(&app, Some(&admin), template, json!({ "input": input })).await, control("subject"));
    let api_key = "mutation { createApiKey(name: \"crm\\r\\nX\", scope: FULL) { secret } }";
    assert_eq!(refused(&app, Some(&admin), api_key, json!({})).await, control("name"));

    // Every person's name (each reaches a To header), the subject's name (subjects), the websites' names and
    // homepages; the remark may hold line breaks.
    let mut input = filing_input("北京示例科技有限公司");
    input["subject"]["responsiblePerson"]["name"] = json!("张三\r\nBcc: evil@example.com");
    input["subject"]["name"] = json!("北京示例\n科技有限公司");
    input["subject"]["mailingAddress"] = json!("北京市朝阳区\r示例路1号");
    input["websites"][0]["name"] = json!("示例科技\n官网");
    input["websites"][0]["homepageUrl"] = json!("https://www.exam\nple.com/");
    input["websites"][0]["responsiblePerson"]["name"] = json!("李四\n");
    input["websites"][0]["remark"] = json!("公司介绍、产品展示与联系方式。\n不提供交互服务，仅展示信息。");
    let mut got = refused(&app, Some(&key), &CREATE, json!({ "input": input })).await;
    got.sort();
    let mut want: Vec<(String, String)> = [
        "subject.mailingAddress",
        "subject.name",
        "subject.responsiblePerson.name",
        "websites[0].homepageUrl",
        "websites[0].name",
    ]
    .iter()
    .flat_map(|f| control(f))
    .collect();
    want.sort();
    assert_eq!(got, want, "a trailing line break is trimmed; the remark's is kept");
    assert_eq!(app.ok(&key, "{ filings { totalCount } }", json!({})).await["filings"]["totalCount"], 0);
}

#[tokio::test]
async fn u0000_and_invisible_controls_are_field_errors_in_any_string_on_both_databases() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    // Anonymous, in a variable and written into the document: a field error, never INTERNAL (PostgreSQL cannot
    // store U+0000) and the same on SQLite.
    let login = "mutation($input: LoginInput!) { login(input: $input) { accessToken } }";
    for email in ["a\u{0}@example.com", "a\u{1b}[2J@example.com", "a\u{202E}@example.com", "a\u{85}@example.com"] {
        let input = json!({ "tenant": "xinnet", "email": email, "password": PASSWORD });
        assert_eq!(refused(&app, None, login, json!({ "input": input })).await, control("email"), "{email:?}");
    }
    let inline =
        "mutation { login(input: { tenant: \"xinnet\", email: \"a\\u0000b\", password: \"x\" }) { accessToken } }";
    assert_eq!(refused(&app, None, inline, json!({})).await, control("email"));
    let anonymous_reset = "mutation { requestPasswordReset(tenant: \"x\\u0000\", email: \"a@b.cn\") }";
    assert_eq!(refused(&app, None, anonymous_reset, json!({})).await, control("tenant"));

    // In filters and in multi-line fields alike.
    let filter = "query($f: FilingFilterInput) { filings(filter: $f) { totalCount } }";
    let got = refused(&app, Some(&key), filter, json!({ "f": { "subjectNameContains": "a\u{0}" } })).await;
    assert_eq!(got, control("filter.subjectNameContains"));
    let mut input = filing_input("北京示例科技有限公司");
    input["subject"]["remark"] = json!("备注\u{0}");
    input["websites"][0]["remark"] = json!("公司介绍、产品展示与联系方式，不提供交互服务。\u{202E}");
    let mut got = refused(&app, Some(&key), &CREATE, json!({ "input": input })).await;
    got.sort();
    assert_eq!(got, [control("subject.remark"), control("websites[0].remark")].concat());
    assert_eq!(app.ok(&key, "{ filings { totalCount } }", json!({})).await["filings"]["totalCount"], 0);

    // A file name with a right-to-left override (`invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`).
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let upload = "mutation($i: RequestAttachmentUploadInput!) { requestAttachmentUpload(input: $i) { url } }";
    for name in ["invoice\u{202E}fdp.exe", "licence\n.pdf", "a\u{2067}b.pdf"] {
        let request = json!({ "filingId": filing["id"], "kind": "SUBJECT_CERTIFICATE", "fileName": name,
            "contentType": "application/pdf", "size": 1000, "sha256": "0".repeat(64) });
        assert_eq!(refused(&app, Some(&key), upload, json!({ "i": request })).await, control("fileName"), "{name:?}");
    }
    let attachments = "query($id: ID!) { filing(id: $id) { attachments { id } } }";
    let listed = app.ok(&key, attachments, json!({ "id": filing["id"] })).await;
    assert_eq!(listed["filing"]["attachments"], json!([]), "nothing was written");
}

#[tokio::test]
async fn a_message_that_cannot_be_built_fails_alone_and_no_stored_name_stops_the_mail() {
    let sink = SmtpSink::start();
    let url = sink.url();
    let app = spawn_app_with(TestDatabase::new().await, move |c| c.mail.smtp_url = Some(url)).await;
    app.tenant("xinnet").await;
    let admin = access(&first_admin(&app, "xinnet", "admin@xinnet.example").await);
    let backend = app.db.get_database_backend();
    let sql = |s: &str| Statement::from_string(backend, s.to_owned());
    // Values stored before input refused line breaks (or written around the API): a registrar's sender name and a
    // recipient's name with CRLF made lettre panic, which ended the dispatcher, every registrar's mail with it,
    // and again after each restart. An undeliverable address is another message that cannot be built.
    let invite = "mutation($input: InviteStaffInput!) { inviteStaff(input: $input) { id } }";
    for email in ["eve@example.com", "bad@example.com", "ok@example.com"] {
        let input = json!({ "email": email, "displayName": "员工", "role": "REVIEWER" });
        app.ok(&admin, invite, json!({ "input": input })).await;
    }
    let crlf = if backend == DbBackend::Postgres { "chr(13) || chr(10)" } else { "char(13) || char(10)" };
    let statement = format!("UPDATE tenants SET mail_sender_name = 'Xinnet' || {crlf} || 'Bcc: evil@example.com'");
    app.db.execute_raw(sql(&statement)).await.unwrap();
    let message = |email: &'static str| {
        let app = &app;
        async move { outbox_messages(app, "STAFF_INVITATION", email).await.remove(0).id }
    };
    use entity::outbox_message::{Column, Entity};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    Entity::update_many()
        .col_expr(Column::RecipientName, Expr::value("Eve\r\nX"))
        .filter(Column::Id.eq(message("eve@example.com").await))
        .exec(&app.db)
        .await
        .unwrap();
    Entity::update_many()
        .col_expr(Column::Recipient, Expr::value("not an address"))
        .filter(Column::Id.eq(message("bad@example.com").await))
        .exec(&app.db)
        .await
        .unwrap();
    let pass = app.dispatcher.run_until_idle(chrono::Utc::now()).await.expect("the pass ends normally");
    assert_eq!((pass.sent, pass.failed), (2, 1), "{pass:?}");

    // The poisoned names went out as one line: no header was split, nothing was added.
    let eve = &sink.to("eve@example.com", "")[0];
    assert!(!String::from_utf8_lossy(&eve.raw).to_lowercase().contains("bcc:"), "no injected header");
    let to = eve.parsed().to().and_then(|a| a.first()).and_then(|a| a.name()).unwrap_or_default().to_owned();
    assert_eq!(to, "Eve X");
    let from = eve.parsed().from().and_then(|a| a.first()).and_then(|a| a.name()).unwrap_or_default().to_owned();
    assert_eq!(from, "Xinnet Bcc: evil@example.com");
    assert_eq!(sink.to("ok@example.com", "").len(), 1);

    // The one that cannot be built is FAILED with its reason, for the administrator and for /metrics.
    let list =
        "query { notifications(first: 10, filter: { status: [FAILED] }) { totalCount nodes { recipient lastError } } }";
    let failed = app.ok(&admin, list, json!({})).await["notifications"].clone();
    assert_eq!(failed["totalCount"], 1, "{failed}");
    assert!(failed["nodes"][0]["lastError"].as_str().unwrap().contains("not a deliverable address"), "{failed}");
    let metrics = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "beian_outbox_messages{status=\"FAILED\"} 1"), "{metrics}");

    // Another dispatcher (a restart) claims nothing of it again, and later mail goes out.
    let restarted = app.dispatcher.another();
    assert_eq!(restarted.run_until_idle(chrono::Utc::now()).await.unwrap().claimed, 0);
    let input = json!({ "email": "later@example.com", "displayName": "员工", "role": "REVIEWER" });
    app.ok(&admin, invite, json!({ "input": input })).await;
    assert_eq!(restarted.run_until_idle(chrono::Utc::now()).await.unwrap().sent, 1);
}

#[tokio::test]
async fn personal_data_is_shown_by_one_rule_in_fields_the_verification_sheet_and_the_mail_list() {
    let app = spawn_app().await;
    let full_key = app.tenant("xinnet").await;
    let admin = access(&first_admin(&app, "xinnet", "admin@xinnet.example").await);
    let reviewer = access(&staff(&app, &admin, "reviewer@xinnet.example", "REVIEWER").await);
    let created = "mutation { createApiKey(name: \"report\", scope: READ_ONLY) { secret } }";
    let read_only = app.ok(&admin, created, json!({})).await["createApiKey"]["secret"].as_str().unwrap().to_owned();
    let owner = access(&applicant(&app, "xinnet", "owner@example.com").await);
    let filing = app.create_filing(&owner, "北京示例科技有限公司").await;

    let sheet = "query($id: ID!) { filing(id: $id) { verificationSheetHtml
        subject { certificateNumber responsiblePerson { certificateNumber mobile email } } } }";
    // The applicant's and the website person's numbers, the subject's credit code.
    let full = [
        "11010519491231002X",
        "13800138000",
        "zhangsan@example.com",
        "110105199001011232",
        "13900139000",
        "lisi@example.com",
        "91110105MA01ABCD13",
        "010-12345678",
    ];
    let masked = ["110***********002X", "138****8000", "z***@example.com", "139****9000", "l***@example.com"];
    for (who, token, in_full) in [
        ("applicant", &owner, true),
        ("reviewer", &reviewer, true),
        ("full key", &full_key, true),
        ("administrator", &admin, false),
        ("read-only key", &read_only, false),
    ] {
        let data = app.ok(token, sheet, json!({ "id": filing["id"] })).await;
        let html = data["filing"]["verificationSheetHtml"].as_str().unwrap();
        let field = data["filing"]["subject"]["responsiblePerson"]["mobile"].as_str().unwrap();
        assert_eq!(field == "13800138000", in_full, "{who}: the field");
        for value in full {
            assert_eq!(html.contains(value), in_full, "{who}: {value} in the sheet");
        }
        for value in masked {
            assert_eq!(html.contains(value), !in_full, "{who}: {value} in the sheet");
        }
    }

    // The mail list: the recipients' addresses by the same rule.
    let list = "query { notifications(first: 10, filter: { stage: [STAFF_INVITATION] }) { nodes { recipient } } }";
    let seen = |data: Value| data["notifications"]["nodes"][0]["recipient"].as_str().unwrap().to_owned();
    assert_eq!(seen(app.ok(&admin, list, json!({})).await), "r***@xinnet.example");
    assert_eq!(seen(app.ok(&full_key, list, json!({})).await), "reviewer@xinnet.example");
    // Filtering by the full address still finds it.
    let by = "query { notifications(first: 10, filter: { recipient: \"reviewer@xinnet.example\" }) { totalCount } }";
    assert_eq!(app.ok(&admin, by, json!({})).await["notifications"]["totalCount"], 1);
}

#[tokio::test]
async fn like_wildcards_in_contains_filters_match_only_themselves() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let admin = access(&first_admin(&app, "xinnet", "admin@xinnet.example").await);
    staff(&app, &admin, "reviewer@xinnet.example", "REVIEWER").await;
    app.create_filing(&key, "北京示例科技有限公司").await;
    let accounts =
        "query($s: String!) { accounts(first: 50, filter: { emailContains: $s }) { edges { node { email } } } }";
    let count = |data: Value| data["accounts"]["edges"].as_array().unwrap().len();
    for wildcard in ["%", "_", "%@%", "\\"] {
        assert_eq!(count(app.ok(&admin, accounts, json!({ "s": wildcard })).await), 0, "{wildcard}");
    }
    assert_eq!(count(app.ok(&admin, accounts, json!({ "s": "REVIEWER@" })).await), 1, "case aside, a substring");
    let filings = "query($s: String!) { filings(filter: { subjectNameContains: $s }) { totalCount } }";
    for wildcard in ["%", "_", "北京%"] {
        assert_eq!(app.ok(&key, filings, json!({ "s": wildcard })).await["filings"]["totalCount"], 0, "{wildcard}");
    }
    assert_eq!(app.ok(&key, filings, json!({ "s": "示例" })).await["filings"]["totalCount"], 1);
}

#[tokio::test]
async fn sign_up_answers_alike_for_unknown_suspended_and_real_registrars() {
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    app.tenant("gone").await;
    beian::services::tenants::set_tenant_status(&app.deps, "gone", beian::services::tenants::TenantStatus::Suspended)
        .await
        .unwrap();
    let register = "mutation($input: RegisterApplicantInput!) { registerApplicant(input: $input) { message } }";
    let mut answers = Vec::new();
    for (slug, email) in
        [("xinnet", "a@example.com"), ("no-such-registrar", "b@example.com"), ("gone", "c@example.com")]
    {
        let input = json!({ "tenant": slug, "email": email, "password": PASSWORD, "displayName": "申请人" });
        let (status, body) = app.post(None, register, json!({ "input": input })).await;
        answers.push((status, body));
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert!(answers[0].1.get("errors").is_none(), "{:?}", answers[0]);
    assert_eq!(outbox_count(&app, "EMAIL_VERIFICATION", "a@example.com").await, 1);
    assert_eq!(outbox_count(&app, "EMAIL_VERIFICATION", "b@example.com").await, 0);
    assert_eq!(outbox_count(&app, "EMAIL_VERIFICATION", "c@example.com").await, 0);
}

#[tokio::test]
async fn without_introspection_errors_suggest_no_field_names() {
    let typo = "{ filingz { totalCount } me { kindd } }";
    let argument = "{ filings(firstt: 1) { totalCount } }";
    for introspection in [true, false] {
        let app = spawn_app_with(TestDatabase::new().await, |c| c.graphql.introspection = introspection).await;
        let key = app.tenant("xinnet").await;
        for query in [typo, argument] {
            let (_, body) = app.post(Some(&key), query, json!({})).await;
            let text = body["errors"].to_string();
            assert!(text.contains("Unknown") || text.contains("unknown"), "{body}");
            if introspection && query == typo {
                assert!(text.contains("Did you mean"), "with introspection the engine suggests: {body}");
            } else if !introspection {
                assert!(!text.contains("Did you mean"), "introspection off: {body}");
            }
        }
    }
}

#[tokio::test]
async fn operation_names_of_unauthenticated_requests_do_not_fill_the_metric_labels() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    // More names than the label set holds (200), anonymous and with a forged token.
    for i in 0..210 {
        let token = (i % 2 == 0).then_some("beian_forged-key");
        app.post(token, &format!("query Junk{i} {{ referenceData {{ provinces {{ code }} }} }}"), json!({})).await;
    }
    app.ok(&key, "query RealOperation { filings { totalCount } }", json!({})).await;
    let metrics = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("Junk"), "{metrics}");
    assert!(metrics.contains(r#"beian_graphql_requests_total{operation="RealOperation",status="200"} 1"#), "{metrics}");
    assert!(
        metrics.contains(r#"beian_graphql_requests_total{operation="unauthenticated",status="200"} 105"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"beian_graphql_requests_total{operation="unauthenticated",status="401"} 105"#),
        "{metrics}"
    );
}
