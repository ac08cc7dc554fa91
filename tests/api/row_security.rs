//! Tenant isolation in PostgreSQL itself: every tenant-owned table has a forced row-level security policy, the
//! server's role cannot get around it, and a statement without any tenant filter sees only the registrar of the
//! task's scope. (SQLite has no row-level security; these tests run on PostgreSQL only.)

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::json;

use crate::helpers::*;

async fn strings(db: &impl ConnectionTrait, sql: &str) -> Vec<String> {
    let rows = db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned())).await.unwrap();
    rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect()
}

async fn count(db: &impl ConnectionTrait, sql: &str) -> i64 {
    let row = db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned())).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn every_tenant_owned_table_has_a_forced_policy_the_server_cannot_bypass() {
    let database = TestDatabase::new().await;
    if !database.is_postgres() {
        return;
    }
    let app = spawn_app_on(database).await;
    // Every table that names a registrar (and the registrars themselves).
    let owned = strings(
        &app.db,
        "SELECT DISTINCT c.table_name::text FROM information_schema.columns c
         WHERE c.table_schema = current_schema() AND (c.column_name = 'tenant_id' OR c.table_name = 'tenants')
         ORDER BY 1",
    )
    .await;
    assert!(owned.len() >= 14 && owned.contains(&"filings".to_owned()), "{owned:?}");
    let guarded = strings(
        &app.db,
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relrowsecurity AND c.relforcerowsecurity
           AND EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = n.nspname AND p.tablename = c.relname)",
    )
    .await;
    let unguarded: Vec<&String> = owned.iter().filter(|t| !guarded.contains(t)).collect();
    assert!(unguarded.is_empty(), "tenant-owned tables without a forced row-level security policy: {unguarded:?}");

    // The server's role is neither a superuser nor allowed to bypass row-level security.
    let role = strings(
        &app.db,
        "SELECT rolsuper::text || ' ' || rolbypassrls::text FROM pg_roles WHERE rolname = current_user",
    )
    .await;
    assert_eq!(role, ["false false"]);
}

#[tokio::test]
async fn a_statement_without_a_tenant_filter_sees_only_the_scope_s_registrar() {
    let database = TestDatabase::new().await;
    if !database.is_postgres() {
        return;
    }
    let url = database.url.clone();
    let app = spawn_app_on(database).await;
    let alice_key = app.tenant("alice").await;
    let bob_key = app.tenant("bob").await;
    app.create_filing(&alice_key, "爱丽丝公司").await;
    app.create_filing(&alice_key, "爱丽丝二公司").await;
    app.create_filing(&bob_key, "鲍勃公司").await;
    let tenant = |slug: &str| {
        let app = &app;
        let slug = slug.to_owned();
        async move {
            let id = strings(&app.db, &format!("SELECT id::text FROM tenants WHERE slug = '{slug}'")).await;
            id[0].parse::<uuid::Uuid>().unwrap()
        }
    };
    let (alice, bob) = (tenant("alice").await, tenant("bob").await);

    // The server itself (no scope) sees everything.
    assert_eq!(count(&app.db, "SELECT count(*) FROM filings").await, 3);
    // Alice's scope: no WHERE clause, and still only her rows, in every table.
    let seen = beian::db::as_tenant(alice, async {
        let mut seen = Vec::new();
        for table in ["tenants", "filings", "filing_subjects", "websites", "filing_events", "api_keys"] {
            seen.push((table, count(&app.db, &format!("SELECT count(*) FROM {table}")).await));
        }
        let names = strings(&app.db, "SELECT name FROM filing_subjects ORDER BY name").await;
        (seen, names)
    })
    .await;
    assert_eq!(
        seen.0,
        [
            ("tenants", 1),
            ("filings", 2),
            ("filing_subjects", 2),
            ("websites", 2),
            ("filing_events", 2),
            ("api_keys", 1)
        ]
    );
    assert_eq!(seen.1, ["爱丽丝二公司", "爱丽丝公司"]);

    // Nor can her scope change or create Bob's rows.
    beian::db::as_tenant(alice, async {
        let changed = app
            .db
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("UPDATE filings SET version = version + 1 WHERE tenant_id = '{bob}'"),
            ))
            .await
            .unwrap();
        assert_eq!(changed.rows_affected(), 0, "Bob's filing is invisible to the update");
        let planted = app
            .db
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "INSERT INTO mail_templates (id, tenant_id, stage, language, subject, body, updated_at)
                     VALUES (gen_random_uuid(), '{bob}', 'SUBMISSION_RECEIVED', 'ZH', 's', 'b', now())"
                ),
            ))
            .await;
        let error = planted.expect_err("a row for another registrar is refused").to_string();
        assert!(error.contains("row-level security"), "{error}");
    })
    .await;
    assert_eq!(
        count(&app.db, &format!("SELECT count(*) FROM filings WHERE tenant_id = '{bob}' AND version = 1")).await,
        1
    );

    // A session that never says whose it is (another tool on the server's role) sees nothing at all.
    let bare = Database::connect(&url).await.unwrap();
    assert_eq!(count(&bare, "SELECT count(*) FROM filings").await, 0);
    assert_eq!(count(&bare, "SELECT count(*) FROM tenants").await, 0);
    bare.close().await.unwrap();

    // And through the API each registrar still sees its own.
    let total = |key: String| {
        let app = &app;
        async move { app.ok(&key, "{ filings { totalCount } }", json!({})).await["filings"]["totalCount"].clone() }
    };
    assert_eq!((total(alice_key).await, total(bob_key).await), (json!(2), json!(1)));
}
