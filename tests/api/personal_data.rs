//! Personal data: sealed at rest (a dump of the database shows no personal number), shown in full only to callers
//! who need it and masked for the others, resealed by key rotation, purged from drafts left past the retention
//! period.

use std::process::Command;

use chrono::{Duration, Utc};
use sea_orm::prelude::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::people::outbox_count;
use crate::workflow::{Cast, act, cast, upload_materials};

/// The personal numbers of the fixtures (`helpers::filing_input`): ID numbers, mobiles, the emergency phone.
const NUMBERS: &[&str] = &["11010519491231002X", "110105199001011232", "13800138000", "13900139000", "010-12345678"];

/// Everything the database holds, as text: every row of every table (PostgreSQL), or the database file itself
/// (SQLite, after a checkpoint so that the write-ahead log is in it too).
async fn dump(app: &TestApp) -> String {
    let database = app.database.as_ref().expect("the test's database");
    if database.is_postgres() {
        let tables = app
            .db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
            ))
            .await
            .unwrap();
        let mut out = String::new();
        for table in tables {
            let name: String = table.try_get_by_index(0).unwrap();
            let sql = format!("SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM \"{name}\" t");
            let rows = app.db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await.unwrap().unwrap();
            out.push_str(&rows.try_get_by_index::<String>(0).unwrap());
            out.push('\n');
        }
        out
    } else {
        app.db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await.unwrap();
        let bytes = std::fs::read(database.dir.path().join("beian.sqlite")).unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

async fn scalar(app: &TestApp, sql: &str) -> Vec<String> {
    let backend = app.db.get_database_backend();
    let rows = app.db.query_all_raw(Statement::from_string(backend, sql.to_owned())).await.unwrap();
    rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect()
}

const PEOPLE: &str = "query($id: ID!) { filing(id: $id) {
    subject { certificateNumber responsiblePerson { certificateNumber mobile emergencyPhone email } }
    websites { responsiblePerson { certificateNumber mobile email } }
    smsChecks { mobile } } }";

#[tokio::test]
async fn a_database_dump_shows_no_personal_number_in_clear() {
    let Cast { app, reviewer, applicant, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    // A hand-off with a recorded code: the session and the outbox name the mobile too.
    let start = "mutation($input: StartMobileVerificationInput!) { startMobileVerification(input: $input) { token } }";
    let token = app.ok(&applicant, start, json!({ "input": { "filingId": filing["id"] } })).await
        ["startMobileVerification"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(&token, "mutation { sendPhoneCode { codesLeft } }", json!({})).await;
    // Through the review to the MIIT SMS check, which records every person's mobile.
    upload_materials(&app, &applicant, &filing).await;
    act(&app, &applicant, "submitFiling", &filing).await;
    act(&app, &reviewer, "claimReview", &filing).await;
    assert_eq!(act(&app, &reviewer, "approvePreliminaryReview", &filing).await["status"], "SMS_VERIFICATION");

    let dump = dump(&app).await;
    assert!(dump.contains("北京示例科技有限公司"), "the dump reads the data at all");
    for number in NUMBERS {
        assert!(!dump.contains(number), "{number} in clear in the database");
    }
    // The responsible persons' emails, which the SMS step's mail went to (the outbox names its recipients).
    assert!(outbox_count(&app, "PRELIMINARY_APPROVED", "lisi@example.com").await > 0, "the mail is queued");
    for email in ["zhangsan@example.com", "lisi@example.com"] {
        assert!(!dump.contains(email), "{email} in clear in the database");
    }
    // On SQLite, the database file (and its write-ahead log) is the owner's alone.
    let database = app.database.as_ref().unwrap();
    if !database.is_postgres() {
        use std::os::unix::fs::PermissionsExt;
        for file in ["beian.sqlite", "beian.sqlite-wal"] {
            let path = database.dir.path().join(file);
            if let Ok(metadata) = std::fs::metadata(&path) {
                assert_eq!(metadata.permissions().mode() & 0o777, 0o600, "{file}");
            } else {
                assert_ne!(file, "beian.sqlite", "the database file exists");
            }
        }
    }
    for table in ["filing_subjects", "websites"] {
        for email in scalar(&app, &format!("SELECT rp_email FROM {table}")).await {
            assert!(email.starts_with("pii1.test."), "{table}.rp_email sealed: {email}");
        }
    }

    // The people who need the values read them in full.
    let people = app.ok(&reviewer, PEOPLE, json!({ "id": filing["id"] })).await["filing"].clone();
    assert_eq!(people["subject"]["responsiblePerson"]["certificateNumber"], "11010519491231002X");
    assert_eq!(people["subject"]["responsiblePerson"]["mobile"], "13800138000");
    assert_eq!(people["websites"][0]["responsiblePerson"]["email"], "lisi@example.com");
    let mut mobiles: Vec<&str> =
        people["smsChecks"].as_array().unwrap().iter().map(|c| c["mobile"].as_str().unwrap()).collect();
    mobiles.sort();
    assert_eq!(mobiles, ["13800138000", "13900139000"]);
    let own = app.ok(&applicant, PEOPLE, json!({ "id": filing["id"] })).await["filing"].clone();
    assert_eq!(own["subject"]["responsiblePerson"]["mobile"], "13800138000");
}

#[tokio::test]
async fn administrators_and_read_only_keys_see_personal_data_masked() {
    let Cast { app, backend, admin, reviewer, applicant, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let create =
        "mutation($name: String!, $scope: ApiKeyScope!) { createApiKey(name: $name, scope: $scope) { secret } }";
    let read_only = app.ok(&admin, create, json!({ "name": "reporting", "scope": "READ_ONLY" })).await["createApiKey"]
        ["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let full = json!({
        "subject": { "certificateNumber": "91110105MA01ABCD13", "responsiblePerson": {
            "certificateNumber": "11010519491231002X", "mobile": "13800138000", "emergencyPhone": "010-12345678",
            "email": "zhangsan@example.com" } },
        "websites": [{ "responsiblePerson": {
            "certificateNumber": "110105199001011232", "mobile": "13900139000", "email": "lisi@example.com" } }],
        "smsChecks": [],
    });
    let masked = json!({
        "subject": { "certificateNumber": "911***********CD13", "responsiblePerson": {
            "certificateNumber": "110***********002X", "mobile": "138****8000", "emergencyPhone": "010*****5678",
            "email": "z***@example.com" } },
        "websites": [{ "responsiblePerson": {
            "certificateNumber": "110***********1232", "mobile": "139****9000", "email": "l***@example.com" } }],
        "smsChecks": [],
    });
    let me = "{ me { permissions } }";
    for (who, key, expected) in [
        ("applicant", &applicant, &full),
        ("reviewer", &reviewer, &full),
        ("full-access key", &backend, &full),
        ("administrator", &admin, &masked),
        ("read-only key", &read_only, &masked),
    ] {
        let seen = app.ok(key, PEOPLE, json!({ "id": filing["id"] })).await["filing"].clone();
        assert_eq!(&seen, expected, "{who}");
        let permissions = app.ok(key, me, json!({})).await["me"]["permissions"].clone();
        let reads = permissions.as_array().unwrap().contains(&json!("READ_PERSONAL_DATA"));
        assert_eq!(reads, expected == &full, "{who}: me.permissions tells the frontend");
    }
}

fn beian_with_keys(database: &TestDatabase, keys: &str, current: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_beian"))
        .args(args)
        .env("BEIAN_DATABASE_URL", &database.url)
        .env("BEIAN_DATA_DIR", database.dir.path().join("data"))
        .env("BEIAN_PII_KEYS", keys)
        .env("BEIAN_PII_CURRENT_KEY", current)
        .env("BEIAN_PII_INDEX_KEY", TEST_PII_INDEX_KEY)
        .env_remove("BEIAN_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run beian")
}

#[tokio::test]
async fn keys_rotate_and_values_written_before_sealing_are_sealed_by_the_rotation() {
    let Cast { app, applicant, .. } = cast().await;
    app.create_filing(&applicant, "北京示例科技有限公司").await;
    let other = app.create_filing(&applicant, "北京另一家科技有限公司").await;
    // A row as an older version wrote it: plain values, no blind index.
    let other = beian::graphql::ids::decode_any(other["id"].as_str().unwrap(), "id").unwrap().1;
    {
        use entity::filing_subject::{Column, Entity};
        Entity::update_many()
            .col_expr(Column::RpMobile, Expr::value("13800138000"))
            .col_expr(Column::RpMobileBidx, Expr::value(""))
            .col_expr(Column::CertificateNumber, Expr::value("91110105MA01ABCD13"))
            .filter(Column::FilingId.eq(other))
            .exec(&app.db)
            .await
            .unwrap();
    }
    assert!(dump(&app).await.contains("13800138000"));

    let database = app.database.as_ref().unwrap();
    let next = "EhISEhISEhISEhISEhISEhISEhISEhISEhISEhISEhI=";
    let both = format!("{{test=\"{TEST_PII_KEY}\",next=\"{next}\"}}");
    let output = beian_with_keys(database, &both, "next", &["pii", "rotate"]);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(printed.contains("filing_subjects  2 row(s)"), "{printed}");
    assert!(printed.contains("sealed under key \"next\""), "{printed}");

    let dump = dump(&app).await;
    for number in NUMBERS {
        assert!(!dump.contains(number), "{number} in clear after the rotation");
    }
    for table in ["filing_subjects", "websites"] {
        for mobile in scalar(&app, &format!("SELECT rp_mobile FROM {table}")).await {
            assert!(mobile.starts_with("pii1.next."), "{table}: {mobile}");
        }
    }
    // The legacy row got its blind index: the one-mobile rule sees it again.
    let indexes = scalar(&app, "SELECT rp_mobile_bidx FROM filing_subjects").await;
    assert!(indexes.len() == 2 && indexes[0] == indexes[1] && indexes[0].len() == 64, "{indexes:?}");

    // The old key is no longer needed; without the new one nothing opens.
    let only_next = format!("{{next=\"{next}\"}}");
    let again = beian_with_keys(database, &only_next, "next", &["pii", "rotate"]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stdout).contains("filing_subjects  0 row(s)"));
    let only_old = format!("{{test=\"{TEST_PII_KEY}\"}}");
    let refused = beian_with_keys(database, &only_old, "test", &["pii", "rotate"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("\"next\", which is not configured"));
}

#[tokio::test]
async fn drafts_left_past_the_retention_period_lose_their_personal_data_and_files() {
    let Cast { app, reviewer, applicant, .. } = cast().await;
    let left = app.create_filing(&applicant, "北京示例科技有限公司").await;
    upload_materials(&app, &applicant, &left).await;
    let recent = app.create_filing(&applicant, "北京另一家科技有限公司").await;
    let submitted = app.create_filing(&applicant, "北京第三家科技有限公司").await;
    upload_materials(&app, &applicant, &submitted).await;
    act(&app, &applicant, "submitFiling", &submitted).await;
    let id = |f: &Value| beian::graphql::ids::decode_any(f["id"].as_str().unwrap(), "id").unwrap().1;
    let objects: Vec<entity::attachment::Model> = entity::attachment::Entity::find().all(&app.db).await.unwrap();
    let left_objects: Vec<_> = objects.iter().filter(|a| a.filing_id == id(&left)).collect();
    assert!(left_objects.len() >= 9);
    // The first and the submitted one were last changed 200 days ago.
    for f in [&left, &submitted] {
        use entity::filing::{Column, Entity};
        Entity::update_many()
            .col_expr(Column::UpdatedAt, Expr::value(Utc::now() - Duration::days(200)))
            .filter(Column::Id.eq(id(f)))
            .exec(&app.db)
            .await
            .unwrap();
    }

    let purge = |days| beian::services::personal_data::purge_abandoned_drafts(&app.deps, days);
    assert!(purge(0).await.unwrap().is_empty(), "0 days: retention off");
    let purged = purge(180).await.unwrap();
    assert_eq!(purged.len(), 1, "only the draft: {purged:?}");
    assert_eq!((purged[0].filing_id, purged[0].attachments), (id(&left), left_objects.len()));

    for a in &left_objects {
        let object = app.storage.object(a.bucket.as_deref(), &a.object_key);
        assert!(app.storage.head(&object).await.unwrap().is_none(), "{} deleted from storage", a.object_key);
    }
    let query = "query($id: ID!) { filing(id: $id) { status purgedAt attachments { id }
        subject { name certificateNumber mailingAddress responsiblePerson { name certificateNumber mobile email } }
        websites { name domains responsiblePerson { name mobile emergencyPhone } }
        events { action fromStatus toStatus actor { kind } } } }";
    let after = app.ok(&applicant, query, json!({ "id": left["id"] })).await["filing"].clone();
    assert_eq!(after["status"], "ABANDONED");
    assert!(after["purgedAt"].is_string());
    assert_eq!(after["attachments"], json!([]));
    assert_eq!(after["subject"]["name"], "北京示例科技有限公司", "an organisation's name is not personal");
    assert_eq!(after["subject"]["certificateNumber"], "");
    assert_eq!(
        after["subject"]["responsiblePerson"],
        json!({ "name": "", "certificateNumber": "", "mobile": "", "email": "" })
    );
    assert_eq!(after["websites"][0]["domains"], json!(["example.com"]));
    assert_eq!(after["websites"][0]["responsiblePerson"], json!({ "name": "", "mobile": "", "emergencyPhone": null }));
    let last = after["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last,
        json!({ "action": "PERSONAL_DATA_PURGED", "fromStatus": "DRAFT", "toStatus": "ABANDONED",
                "actor": { "kind": "SYSTEM" } })
    );
    // The recent draft and the submitted filing keep everything.
    for f in [&recent, &submitted] {
        let kept = app.ok(&reviewer, query, json!({ "id": f["id"] })).await["filing"].clone();
        assert_eq!(kept["purgedAt"], Value::Null);
        assert_eq!(kept["subject"]["responsiblePerson"]["mobile"], "13800138000");
    }
    assert!(purge(180).await.unwrap().is_empty(), "a filing is purged once");
}

#[tokio::test]
async fn a_one_time_token_does_not_outlive_its_email() {
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    crate::people::register(&app, "xinnet", "alice@example.com").await;
    let token = crate::people::outbox_token(&app, "EMAIL_VERIFICATION", "alice@example.com").await;
    app.dispatcher.run_once(Utc::now()).await.unwrap();

    let sent = entity::outbox_message::Entity::find().all(&app.db).await.unwrap();
    let message = sent.iter().find(|m| m.template == "EMAIL_VERIFICATION").expect("the message");
    assert_eq!(message.status, entity::enums::OutboxStatus::Sent);
    assert!(message.payload.get("token").is_none() && message.payload.get("url").is_none(), "{}", message.payload);
    assert_eq!((message.body_text.as_deref(), message.body_html.as_deref()), (None, None));
    assert!(message.subject.is_some() && message.message_id.is_some(), "the record of the sending stays");
    assert!(!dump(&app).await.contains(&token), "the token is nowhere in the database");
    // The mail that went out had it, and it still works (once).
    let verify = "mutation($token: String!) { verifyEmail(token: $token) { account { email } } }";
    let (_, body) = app.post(None, verify, json!({ "token": token })).await;
    assert_eq!(body["data"]["verifyEmail"]["account"]["email"], "alice@example.com", "{body}");
}

#[tokio::test]
async fn materials_are_reachable_only_through_links_that_expire() {
    let app = spawn_app_with(TestDatabase::new().await, |c| c.storage.download_url_ttl_seconds = 2).await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    upload_materials(&app, &key, &filing).await;
    let query = "query($id: ID!) { filing(id: $id) { attachments { downloadUrl { url expiresAt } } } }";
    let seen =
        app.ok(&key, query, json!({ "id": filing["id"] })).await["filing"]["attachments"][0]["downloadUrl"].clone();
    let url = seen["url"].as_str().unwrap().to_owned();
    let expires: chrono::DateTime<Utc> = seen["expiresAt"].as_str().unwrap().parse().unwrap();
    assert!(expires <= Utc::now() + Duration::seconds(3), "short-lived: {expires}");
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 200);
    // The object without the signature, and the link with the signature tampered with, are refused.
    let bare = url.split('?').next().unwrap();
    assert_eq!(app.client.get(bare).send().await.unwrap().status(), 403);
    let tampered = url.replace("X-Amz-Expires=2", "X-Amz-Expires=3600");
    assert_ne!(tampered, url, "the link names its lifetime: {url}");
    assert_eq!(app.client.get(&tampered).send().await.unwrap().status(), 403);
    // Once expired, the link is refused by the store.
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 403);
}

/// Each server seals with the keyring of its own configuration: two servers in one process, with different keys,
/// each read their own data, and neither's keys open the other's values (there is no process-wide keyring).
#[tokio::test]
async fn two_servers_with_different_keyrings_in_one_process_each_read_their_own_data() {
    use base64::Engine;
    let first = crate::workflow::cast().await;
    let other_key = base64::engine::general_purpose::STANDARD.encode([0x42u8; 32]);
    let other_index = base64::engine::general_purpose::STANDARD.encode([0x43u8; 32]);
    let second = crate::workflow::cast_on(
        spawn_app_with(TestDatabase::new().await, |config| {
            config.pii.keys = [("other".to_owned(), secrecy::SecretString::from(other_key))].into();
            config.pii.current_key = Some("other".to_owned());
            config.pii.index_key = Some(secrecy::SecretString::from(other_index));
        })
        .await,
    )
    .await;
    // Both filings are written after both servers started: each server seals with its own keys.
    let filings = [
        first.app.create_filing(&first.applicant, "北京示例科技有限公司").await,
        second.app.create_filing(&second.applicant, "北京示例科技有限公司").await,
    ];
    for (cast, filing) in [(&first, &filings[0]), (&second, &filings[1])] {
        let people = cast.app.ok(&cast.applicant, PEOPLE, json!({ "id": filing["id"] })).await["filing"].clone();
        assert_eq!(people["subject"]["responsiblePerson"]["certificateNumber"], "11010519491231002X");
        assert_eq!(people["websites"][0]["responsiblePerson"]["mobile"], "13900139000");
    }
    const SEALED: &str = "SELECT rp_mobile FROM filing_subjects";
    let (at_first, at_second) =
        (scalar(&first.app, SEALED).await.remove(0), scalar(&second.app, SEALED).await.remove(0));
    assert!(at_first.starts_with("pii1.test.") && at_second.starts_with("pii1.other."), "{at_first} {at_second}");
    let (first_keys, second_keys) = (&first.app.deps.keys, &second.app.deps.keys);
    let first_tenant = beian::services::tenants::list_tenants(&first.app.deps).await.unwrap()[0].id;
    let second_tenant = beian::services::tenants::list_tenants(&second.app.deps).await.unwrap()[0].id;
    assert_eq!(first_keys.open(first_tenant, &at_first).unwrap(), "13800138000");
    assert_eq!(second_keys.open(second_tenant, &at_second).unwrap(), "13800138000");
    assert!(first_keys.open(second_tenant, &at_second).is_err(), "the first server's keys do not open the second's");
    assert!(second_keys.open(first_tenant, &at_first).is_err(), "nor the other way round");
}
