//! Rollout traps and time limits: a locked registrar row answers DATABASE_BUSY fast and starves no other registrar;
//! Kubernetes' service-link variables do not stop the binary; the README's least-privilege PostgreSQL role serves;
//! one SQLite data folder serves one process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use beian::config::Config;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::workflow::numbered_filing;

/// The variables Kubernetes puts into every container for a Service named `beian` (deploy/kubernetes/service.yaml:
/// port 80, named `http`): `{SVC}_SERVICE_HOST`, `_SERVICE_PORT`, `_SERVICE_PORT_{NAME}`, `_PORT`, and
/// `_PORT_{port}_{PROTO}` with its `_PROTO`, `_PORT` and `_ADDR`. And a deploy script's own.
const INJECTED: &[(&str, &str)] = &[
    ("BEIAN_SERVICE_HOST", "10.96.0.17"),
    ("BEIAN_SERVICE_PORT", "80"),
    ("BEIAN_SERVICE_PORT_HTTP", "80"),
    ("BEIAN_PORT", "tcp://10.96.0.17:80"),
    ("BEIAN_PORT_80_TCP", "tcp://10.96.0.17:80"),
    ("BEIAN_PORT_80_TCP_PROTO", "tcp"),
    ("BEIAN_PORT_80_TCP_PORT", "80"),
    ("BEIAN_PORT_80_TCP_ADDR", "10.96.0.17"),
    ("BEIAN_BIN", "/opt/deploy/secret-path/beian"),
];

/// A `beian` process on a configuration file, with extra environment variables.
struct Process {
    child: tokio::process::Child,
    address: String,
    log: PathBuf,
}

impl Process {
    fn spawn(config: &Config, dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Process {
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(&file, toml::to_string(config).unwrap()).unwrap();
        let log = dir.join(format!("{name}.log"));
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_beian"))
            .arg("--config")
            .arg(&file)
            .args(args)
            .envs(env.iter().copied())
            .env_remove("BEIAN_TEST_S3_ENDPOINT")
            .env_remove("BEIAN_TEST_LOG")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("beian starts");
        Process { child, address: format!("http://{}", config.listen), log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Ready (`/readyz` 200): `Ok`; exited first: its exit code.
    async fn ready_or_exit(&mut self) -> Result<(), Option<i32>> {
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(status.code());
            }
            if let Ok(response) = client.get(format!("{}/readyz", self.address)).send().await
                && response.status() == 200
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("neither ready nor exited: {}", self.log());
    }

    async fn exit_code(&mut self) -> Option<i32> {
        tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await.expect("exits").unwrap().code()
    }

    async fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id().expect("running").to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        self.exit_code().await
    }
}

fn free_address() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

async fn graphql(address: &str, key: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(format!("{address}/graphql"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.json(&json!({ "query": query, "variables": variables })).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

// ---- item 8: Kubernetes service links ---------------------------------------------------------------------------

#[tokio::test]
async fn serve_and_migrate_start_with_the_variables_kubernetes_injects_for_a_service_named_beian() {
    let database = TestDatabase::new_unmigrated().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = database.config();
    config.listen = free_address();
    config.database.auto_migrate = Some(false);
    let mut migrate_config = config.clone();
    migrate_config.database.url = Some(secrecy::SecretString::from(database.migration_url().to_owned()));

    let mut migrate = Process::spawn(&migrate_config, dir.path(), "migrate", &["migrate"], INJECTED);
    assert_eq!(migrate.exit_code().await, Some(0), "{}", migrate.log());
    let mut server = Process::spawn(&config, dir.path(), "serve", &["serve"], INJECTED);
    assert_eq!(server.ready_or_exit().await, Ok(()), "{}", server.log());
    let (status, body) = graphql(&server.address, None, "{ referenceData { provinces { code } } }", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["referenceData"]["provinces"].as_array().is_some_and(|p| !p.is_empty()), "{body}");
    assert_eq!(server.terminate().await, Some(0));

    // Each ignored variable is named once, its value never (it may be a secret).
    for log in [migrate.log(), server.log()] {
        for (name, value) in INJECTED {
            let mentions = log.lines().filter(|l| l.contains(&format!("={name}")) || l.ends_with(name)).count();
            assert_eq!(mentions, 1, "{name} is warned about once: {log}");
            assert!(!log.contains(value) || value.len() < 4, "the value of {name} is not shown: {log}");
        }
        assert!(!log.contains("10.96.0.17") && !log.contains("secret-path"), "{log}");
    }
}

#[test]
fn an_unknown_key_in_the_file_and_a_bad_value_in_the_environment_still_stop_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("beian.toml");
    std::fs::write(&file, "[database]\nlock_timeout_secs = 3\n").unwrap();
    let run = |env: &[(&str, &str)]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_beian"))
            .args(["--config", file.to_str().unwrap(), "migrate"])
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let output = run(INJECTED);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("lock_timeout_secs"));
    std::fs::write(&file, "").unwrap();
    let output = run(&[("BEIAN_DATABASE_LOCK_TIMEOUT_SECONDS", "soon")]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
}

// ---- item 9: the README's least-privilege role ------------------------------------------------------------------

#[tokio::test]
async fn serve_runs_as_the_readme_role_on_a_database_the_owner_migrated() {
    let database = TestDatabase::new().await;
    if !database.is_postgres() {
        eprintln!("skipped: database roles need PostgreSQL (BEIAN_TEST_DATABASE_URL)");
        return;
    }
    // The role has exactly what the README grants: it owns nothing and may create nothing.
    let owner = Database::connect(database.migration_url()).await.unwrap();
    let sql = format!(
        "SELECT has_schema_privilege('{APP_ROLE}', 'public', 'CREATE')::text,
                has_database_privilege('{APP_ROLE}', current_database(), 'CREATE')::text,
                (SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = '{APP_ROLE}')::text,
                (SELECT count(*) FROM pg_tables t WHERE schemaname = 'public'
                   AND NOT has_table_privilege('{APP_ROLE}', format('%I.%I', t.schemaname, t.tablename), 'SELECT, INSERT, UPDATE, DELETE'))::text,
                (SELECT count(*) FROM pg_tables t WHERE schemaname = 'public'
                   AND has_table_privilege('{APP_ROLE}', format('%I.%I', t.schemaname, t.tablename), 'TRUNCATE, REFERENCES, TRIGGER'))::text"
    );
    let row = owner.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await.unwrap().unwrap();
    let got: Vec<String> = (0..5).map(|i| row.try_get_by_index::<String>(i).unwrap()).collect();
    assert_eq!(got, ["false", "false", "0", "0", "0"], "no CREATE, owns nothing, DML on every table, nothing more");
    owner.close().await.ok();

    let dir = tempfile::tempdir().unwrap();
    let mut config = database.config();
    config.listen = free_address();
    config.database.auto_migrate = None;
    let mut server = Process::spawn(&config, dir.path(), "serve", &["serve"], &[]);
    assert_eq!(server.ready_or_exit().await, Ok(()), "the README's role starts the server: {}", server.log());
    // The operator commands run as the same role.
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_beian"))
        .args(["tenant", "create", "--slug", "leastpriv", "--name", "最小权限"])
        .env("BEIAN_DATABASE_URL", &database.url)
        .env("BEIAN_DATA_DIR", dir.path().join("cli"))
        .envs(pii_env())
        .env_remove("BEIAN_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&created.stdout).to_string();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let key = stdout.lines().find_map(|l| l.trim().strip_prefix("api key:")).unwrap().trim().to_owned();
    // It answers, reading and writing.
    let (status, body) = graphql(&server.address, Some(&key), &CREATE, json!({ "input": numbered_filing(1) })).await;
    assert_eq!((status, body["data"]["createFiling"]["status"].clone()), (200, json!("DRAFT")), "{body}");
    let (_, body) = graphql(&server.address, Some(&key), "{ filings { totalCount } }", json!({})).await;
    assert_eq!(body["data"]["filings"]["totalCount"], 1, "{body}");
    assert_eq!(server.terminate().await, Some(0));
    assert!(!server.log().contains("permission denied"), "{}", server.log());
}

// ---- item 10: one SQLite data folder, one process ---------------------------------------------------------------

/// The embedded default in a folder of its own, whatever database the other tests use.
fn embedded(data_dir: &Path) -> Config {
    let mut config = Config { listen: free_address(), data_dir: data_dir.to_owned(), ..Config::default() };
    config.mail.dispatch = false;
    config.log.filter = "warn".to_owned();
    config
}

#[tokio::test]
async fn a_second_process_on_one_sqlite_data_folder_is_refused_and_the_first_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first_config = embedded(&data);
    let mut first = Process::spawn(&first_config, dir.path(), "first", &["serve"], &[]);
    assert_eq!(first.ready_or_exit().await, Ok(()), "{}", first.log());
    let pid = first.child.id().unwrap();

    let mut second = Process::spawn(&embedded(&data), dir.path(), "second", &["serve"], &[]);
    assert_eq!(second.ready_or_exit().await, Err(Some(2)), "refused as a configuration error: {}", second.log());
    let refusal = second.log();
    assert!(refusal.contains(&data.display().to_string()), "names the folder: {refusal}");
    assert!(refusal.contains(&format!("pid {pid}")), "names the other process: {refusal}");

    let mut migrate = Process::spawn(&embedded(&data), dir.path(), "migrate", &["migrate"], &[]);
    assert_eq!(migrate.exit_code().await, Some(2), "{}", migrate.log());
    assert!(migrate.log().contains(&format!("pid {pid}")), "{}", migrate.log());

    // The first one serves on, untouched.
    let (status, body) = graphql(&first.address, None, "{ referenceData { provinces { code } } }", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(first.terminate().await, Some(0));
    // Its lock ended with it.
    let mut after = Process::spawn(&embedded(&data), dir.path(), "after", &["migrate"], &[]);
    assert_eq!(after.exit_code().await, Some(0), "{}", after.log());
}

#[tokio::test]
async fn of_two_servers_started_at_once_on_a_new_sqlite_folder_exactly_one_runs() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut both = [
            Process::spawn(&embedded(&data), dir.path(), "a", &["serve"], &[]),
            Process::spawn(&embedded(&data), dir.path(), "b", &["serve"], &[]),
        ];
        let (a, b) = both.split_at_mut(1);
        let (a, b) = tokio::join!(a[0].ready_or_exit(), b[0].ready_or_exit());
        let outcomes = [a, b];
        assert_eq!(
            outcomes.iter().filter(|o| o.is_ok()).count(),
            1,
            "round {round}: {outcomes:?}: {} / {}",
            both[0].log(),
            both[1].log()
        );
        let (running, refused) = if outcomes[0].is_ok() { (0, 1) } else { (1, 0) };
        assert_eq!(outcomes[refused], Err(Some(2)), "round {round}: {}", both[refused].log());
        assert!(both[refused].log().contains("is in use by another beian process"), "{}", both[refused].log());
        assert!(!both[refused].log().contains("migration"), "refused before migrating: {}", both[refused].log());
        let (status, _) =
            graphql(&both[running].address, None, "{ referenceData { provinces { code } } }", json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(both[running].terminate().await, Some(0));
    }
}

// ---- item 4: time limits ----------------------------------------------------------------------------------------

/// A separate session of the test that holds registrar `slug`'s row with `lock` (`FOR UPDATE`, or an UPDATE
/// left uncommitted) until it is dropped.
async fn hold_tenant_row(database: &TestDatabase, slug: &str, lock: &str) -> sea_orm::DatabaseTransaction {
    let holder = Database::connect(database.migration_url()).await.unwrap();
    let txn = holder.begin().await.unwrap();
    txn.execute_unprepared("SELECT set_config('beian.tenant', '*', true)").await.unwrap();
    let sql = match lock {
        "FOR UPDATE" => format!("SELECT id FROM tenants WHERE slug = '{slug}' FOR UPDATE"),
        _ => format!("UPDATE tenants SET name = name || '' WHERE slug = '{slug}'"),
    };
    txn.execute_unprepared(&sql).await.unwrap();
    txn
}

#[tokio::test]
async fn a_locked_registrar_row_fails_that_registrars_writes_fast_and_leaves_the_others_reading() {
    let database = TestDatabase::new().await;
    if !database.is_postgres() {
        eprintln!("skipped: row locks held by another session need PostgreSQL (BEIAN_TEST_DATABASE_URL)");
        return;
    }
    let holder_db = database.handle();
    let app = spawn_app_with(database, |c| {
        c.database.max_connections = 4;
        c.database.lock_timeout_seconds = 1;
        c.database.acquire_timeout_seconds = 5;
    })
    .await;
    let alpha = app.tenant("alpha").await;
    let beta = app.tenant("beta").await;
    app.create_filing(&beta, "贝塔公司").await;

    // Far longer than the lock timeout (1 s) and any wait for a connection: a write (or read) that waited for the
    // row would take at least this long.
    let held_for = Duration::from_secs(15);
    let lock = hold_tenant_row(&holder_db, "alpha", "FOR UPDATE").await;
    let started = Instant::now();
    // Twice as many writes of the locked registrar as the pool has connections, all at once...
    let writes: Vec<_> = (0..8u32)
        .map(|i| {
            let (app, key) = (app.through(&app.address), alpha.clone());
            tokio::spawn(async move {
                let began = Instant::now();
                let (status, body) = app.post(Some(&key), &CREATE, json!({ "input": numbered_filing(i) })).await;
                (status, body, began.elapsed())
            })
        })
        .collect();
    // ...while another registrar reads, again and again.
    let mut reads = Vec::new();
    for _ in 0..4 {
        let began = Instant::now();
        let (status, body) = app.post(Some(&beta), "{ filings { totalCount } }", json!({})).await;
        reads.push((status, body, began.elapsed()));
    }
    let mut answered = Vec::new();
    for write in writes {
        answered.push(write.await.unwrap());
    }
    assert!(started.elapsed() < held_for, "everything was answered while the row was still locked");
    for (status, body, took) in &answered {
        assert_eq!(*status, 200, "{body}");
        let error = &body["errors"][0];
        assert_eq!(code(error), "DATABASE_BUSY", "{body}");
        assert_eq!(error["extensions"]["retryAfterSeconds"], 1, "{body}");
        // Half of them first wait for a connection (at most one lock timeout), then for the row (one more).
        assert!(*took < Duration::from_secs(6), "within the lock timeout (and a wait for a connection): {took:?}");
    }
    for (status, body, took) in &reads {
        assert_eq!((*status, body["data"]["filings"]["totalCount"].clone()), (200, json!(1)), "{body}");
        assert!(*took < Duration::from_secs(4), "another registrar's read was answered promptly: {took:?}");
    }
    drop(lock);

    // Nothing was half written, and once the row is free the same write goes through.
    let (_, body) = app.post(Some(&alpha), "{ filings { totalCount } }", json!({})).await;
    assert_eq!(body["data"]["filings"]["totalCount"], 0, "{body}");
    app.create_filing(&alpha, "阿尔法公司").await;
}

#[tokio::test]
async fn every_pooled_connection_has_the_time_limits_and_their_errors_are_database_busy() {
    let database = TestDatabase::new().await;
    if !database.is_postgres() {
        eprintln!("skipped: statement and lock timeouts are PostgreSQL's");
        return;
    }
    let holder_db = database.handle();
    let app = spawn_app_with(database, |c| {
        // One of them listens for other replicas' announcements.
        c.database.max_connections = 4;
        c.database.statement_timeout_seconds = 1;
        c.database.lock_timeout_seconds = 1;
        c.database.idle_in_transaction_timeout_seconds = 7;
    })
    .await;
    app.tenant("alpha").await;
    // Every connection of the pool (three held at once) has the limits.
    let held: Vec<_> = futures_util::future::join_all((0..3).map(|_| app.db.begin())).await;
    for txn in held {
        let txn = txn.unwrap();
        let sql = "SELECT current_setting('statement_timeout') || ' ' || current_setting('lock_timeout') || ' ' \
                   || current_setting('idle_in_transaction_session_timeout')";
        let row = txn.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await.unwrap().unwrap();
        assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "1s 1s 7s");
    }
    // A statement over the time limit (57014), a lock not granted in time (55P03): DATABASE_BUSY, not INTERNAL.
    let slow = app.db.execute_unprepared("SELECT pg_sleep(3)").await.unwrap_err();
    assert!(beian::db::is_busy(&slow), "{slow:?}");
    assert!(matches!(beian::services::ServiceError::from(slow), beian::services::ServiceError::DatabaseBusy));
    for lock in ["FOR UPDATE", "UPDATE"] {
        let held = hold_tenant_row(&holder_db, "alpha", lock).await;
        let began = Instant::now();
        let waited = app.db.execute_unprepared("UPDATE tenants SET open_signup = open_signup").await.unwrap_err();
        assert!(beian::db::is_busy(&waited), "{lock}: {waited:?}");
        assert!(began.elapsed() < Duration::from_secs(3), "{lock}: {:?}", began.elapsed());
        drop(held);
    }
}

#[tokio::test]
async fn a_request_that_finds_no_free_connection_is_answered_503_database_busy_not_500() {
    let app = spawn_app().await;
    let key = app.tenant("alpha").await;
    // PostgreSQL: one connection listens for other replicas' announcements; one is left for requests.
    let connections = if app.database.as_ref().unwrap().is_postgres() { 2 } else { 1 };
    let app = spawn_app_with(app.stop().await, |c| {
        c.database.max_connections = connections;
        c.database.acquire_timeout_seconds = 1;
    })
    .await;
    // The pool's one connection is busy elsewhere.
    let held = app.db.begin().await.unwrap();
    let began = Instant::now();
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&key)
        .json(&json!({ "query": "{ filings { totalCount } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body["errors"][0]), "DATABASE_BUSY", "{body}");
    assert!(began.elapsed() < Duration::from_secs(4), "{:?}", began.elapsed());
    held.rollback().await.unwrap();
    let (status, body) = app.post(Some(&key), "{ filings { totalCount } }", json!({})).await;
    assert_eq!((status, body["data"]["filings"]["totalCount"].clone()), (200, json!(0)), "{body}");
}

#[tokio::test]
async fn sqlite_busy_is_database_busy() {
    use sea_orm::ConnectOptions;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("busy.sqlite").display());
    let connect = || {
        let mut options = ConnectOptions::new(url.clone());
        options.max_connections(1).map_sqlx_sqlite_opts(|o| o.busy_timeout(Duration::from_millis(50)));
        Database::connect(options)
    };
    let (one, two) = (connect().await.unwrap(), connect().await.unwrap());
    one.execute_unprepared("CREATE TABLE t (x INTEGER)").await.unwrap();
    let writing = one
        .begin_with_options(sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
        .unwrap();
    writing.execute_unprepared("INSERT INTO t VALUES (1)").await.unwrap();
    let refused = two.execute_unprepared("INSERT INTO t VALUES (2)").await.unwrap_err();
    assert!(beian::db::is_busy(&refused), "{refused:?}");
    assert!(matches!(beian::services::ServiceError::from(refused), beian::services::ServiceError::DatabaseBusy));
    let other = two.execute_unprepared("INSERT INTO no_such_table VALUES (2)").await.unwrap_err();
    assert!(!beian::db::is_busy(&other), "other errors stay internal: {other:?}");
    writing.commit().await.unwrap();
}
