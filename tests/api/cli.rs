//! The `beian` command line, run as a user runs it.

use std::process::{Command, Output};

use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::*;

/// Runs the binary on the test's database: `beian migrate` as the owner (on PostgreSQL), as the README says, and
/// every other command as the server's role.
fn beian(database: &TestDatabase, args: &[&str]) -> Output {
    let url = if args.first() == Some(&"migrate") { database.migration_url() } else { &database.url };
    Command::new(env!("CARGO_BIN_EXE_beian"))
        .args(args)
        .env("BEIAN_DATABASE_URL", url)
        .env("BEIAN_DATA_DIR", database.dir.path().join("data"))
        .envs(pii_env())
        .env_remove("BEIAN_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run beian")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "beian failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn every_command_has_help() {
    let database_free = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_beian")).args(args).output().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["migrate", "status", "--help"],
        vec!["migrate", "up", "--help"],
        vec!["migrate", "down", "--help"],
        vec!["schema", "--help"],
        vec!["tenant", "--help"],
        vec!["tenant", "create", "--help"],
        vec!["tenant", "list", "--help"],
        vec!["tenant", "suspend", "--help"],
        vec!["tenant", "activate", "--help"],
        vec!["tenant", "set-storage", "--help"],
        vec!["outbox", "list", "--help"],
        vec!["dev", "seed", "--help"],
        vec!["dev", "sample-input", "--help"],
    ] {
        let output = database_free(&args);
        assert!(output.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("Usage"), "{args:?}");
    }
}

#[test]
fn schema_prints_the_served_sdl() {
    let output = Command::new(env!("CARGO_BIN_EXE_beian")).arg("schema").output().unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), beian::graphql::sdl());
}

#[tokio::test]
async fn migrate_then_tenant_commands_give_a_working_key() {
    let database = TestDatabase::new().await;
    let migrated = stdout(&beian(&database, &["migrate"]));
    assert!(migrated.contains("migrations applied"));
    assert!(!migrated.contains(":postgres@") || !migrated.contains("password"));

    let created = stdout(&beian(&database, &["tenant", "create", "--slug", "xinnet", "--name", "新网"]));
    let key = created
        .lines()
        .find_map(|line| line.trim().strip_prefix("api key:"))
        .map(|k| k.trim().to_owned())
        .expect("the key is printed");
    assert!(key.starts_with("beian_"));
    assert!(created.contains("shown only once"));

    let duplicate = beian(&database, &["tenant", "create", "--slug", "xinnet", "--name", "Again"]);
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already exists"));

    let listed = stdout(&beian(&database, &["tenant", "list"]));
    assert!(listed.contains("xinnet") && listed.contains("ACTIVE") && listed.contains("新网"), "{listed}");
    assert!(!listed.contains(&key), "the key is never shown again");

    let app = spawn_app_on(database).await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    assert_eq!(filing["status"], "DRAFT");
    let database = app.stop().await;

    stdout(&beian(&database, &["tenant", "suspend", "xinnet"]));
    assert!(stdout(&beian(&database, &["tenant", "list"])).contains("SUSPENDED"));
    let app = spawn_app_on(database).await;
    let (status, _) = app.post(Some(&key), "{ filings { totalCount } }", json!({})).await;
    assert_eq!(status, 401);
    let database = app.stop().await;

    let missing = beian(&database, &["tenant", "suspend", "nobody"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such tenant"));
}

#[tokio::test]
async fn serve_refuses_a_postgres_database_with_pending_migrations() {
    let database = TestDatabase::new_unmigrated().await;
    if !database.is_postgres() {
        // On SQLite (the embedded default) migrations run automatically: covered by every other test.
        return;
    }
    let output = beian(&database, &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("beian migrate"));
}

#[test]
fn a_broken_configuration_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("beian.toml");
    std::fs::write(&file, "listen = \"not an address\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_beian"))
        .args(["--config", file.to_str().unwrap(), "tenant", "list"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid configuration"));

    std::fs::write(&file, "unknown_setting = 1\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_beian"))
        .args(["--config", file.to_str().unwrap(), "tenant", "list"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown_setting"));
}

#[test]
fn the_example_configuration_is_valid() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/beian.example.toml");
    let config = beian::config::Config::load(Some(std::path::Path::new(file))).expect("the example loads");
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
}

#[tokio::test]
async fn tenant_create_with_an_admin_email_prints_a_setup_token_that_works_once() {
    let database = TestDatabase::new().await;
    stdout(&beian(&database, &["migrate"]));
    let created = stdout(&beian(
        &database,
        &["tenant", "create", "--slug", "xinnet", "--name", "新网", "--admin-email", "Admin@Xinnet.example"],
    ));
    let token = created
        .lines()
        .find_map(|line| line.trim().strip_prefix("setup token:"))
        .map(|t| t.trim().to_owned())
        .expect("the setup token is printed");
    assert!(created.contains("admin:   admin@xinnet.example"));

    let app = spawn_app_on(database).await;
    let session = crate::people::complete_setup(&app, &token).await;
    assert_eq!(session["account"]["role"], "ADMIN");
    let query =
        "mutation($t: String!) { completeAccountSetup(token: $t, password: \"another password\") { accessToken } }";
    let error = crate::people::anonymous_err(&app, query, json!({ "t": token })).await;
    assert_eq!(code(&error), "BAD_USER_INPUT");
    crate::people::session(&app, "xinnet", "admin@xinnet.example").await;

    // Messages wait in the outbox, where an operator can read them.
    crate::people::register(&app, "xinnet", "alice@example.com").await;
    let database = app.stop().await;
    let listed = stdout(&beian(&database, &["outbox", "list", "--tenant", "xinnet"]));
    assert!(listed.contains("EMAIL_VERIFICATION") && listed.contains("alice@example.com"), "{listed}");
    assert!(listed.contains("beian_t_"), "the verification token is readable by the operator");
}

#[tokio::test]
async fn the_embedded_default_keeps_its_signing_secret_across_restarts() {
    let database = TestDatabase::new().await;
    if database.is_postgres() {
        // With PostgreSQL the secret must be configured: see the next test.
        return;
    }
    let embedded = |database: &TestDatabase| {
        let mut config = database.config();
        config.auth.jwt_secret = None;
        config
    };
    let app = spawn_app_with(database, |_| {}).await;
    let database = app.stop().await;
    let first = beian::startup::Application::build(embedded(&database)).await.unwrap();
    let secret_file = database.dir.path().join("data").join("jwt-secret");
    assert!(secret_file.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&secret_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let written = std::fs::read_to_string(&secret_file).unwrap();
    drop(first);
    let _second = beian::startup::Application::build(embedded(&database)).await.unwrap();
    assert_eq!(std::fs::read_to_string(&secret_file).unwrap(), written, "the same secret after a restart");
}

#[tokio::test]
async fn serve_on_postgres_refuses_to_start_without_a_signing_secret() {
    let database = TestDatabase::new().await;
    if !database.is_postgres() {
        return;
    }
    stdout(&beian(&database, &["migrate"]));
    let output = beian(&database, &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("BEIAN_AUTH_JWT_SECRET"));
}

/// `beian dev sample-input create-filing`: different inputs, each accepted by the real server's createFiling as a
/// draft that passes the pre-submit check, beside seeded filings of the same seed (as the benchmark uses them).
#[tokio::test]
async fn sample_inputs_are_all_different_and_create_filing_accepts_them_beside_a_seed() {
    let database = TestDatabase::new().await;
    let printed = stdout(&beian(&database, &["dev", "sample-input", "create-filing", "--count", "200", "--seed", "4"]));
    let inputs: Vec<serde_json::Value> =
        printed.lines().map(|line| serde_json::from_str(line).expect("one JSON object a line")).collect();
    assert_eq!(inputs.len(), 200);
    let distinct = |what: &str, values: Vec<String>| {
        let count = values.len();
        let unique: std::collections::HashSet<String> = values.into_iter().collect();
        assert_eq!(unique.len(), count, "{what} repeat");
    };
    distinct("inputs", inputs.iter().map(|i| i.to_string()).collect());
    distinct("credit codes", inputs.iter().map(|i| i["subject"]["certificateNumber"].to_string()).collect());
    distinct("subject names", inputs.iter().map(|i| i["subject"]["name"].to_string()).collect());
    let people = |i: &serde_json::Value| {
        let mut people = vec![i["subject"]["responsiblePerson"].clone()];
        people.extend(i["websites"].as_array().unwrap().iter().map(|w| w["responsiblePerson"].clone()));
        people
    };
    distinct("mobiles", inputs.iter().flat_map(people).map(|p| p["mobile"].to_string()).collect());
    distinct("emails", inputs.iter().flat_map(people).map(|p| p["email"].to_string()).collect());
    distinct(
        "domains",
        inputs
            .iter()
            .flat_map(|i| i["websites"].as_array().unwrap().clone())
            .map(|w| w["domains"].to_string())
            .collect(),
    );
    // The same arguments print the same inputs; --start moves on to others.
    assert_eq!(
        stdout(&beian(&database, &["dev", "sample-input", "create-filing", "--count", "200", "--seed", "4"])),
        printed
    );
    let later = stdout(&beian(
        &database,
        &["dev", "sample-input", "create-filing", "--count", "1", "--start", "90000200", "--seed", "4"],
    ));
    assert!(!printed.contains(later.trim()), "--start numbers the inputs");
    let beyond = beian(&database, &["dev", "sample-input", "create-filing", "--count", "2", "--start", "99999999"]);
    assert!(!beyond.status.success(), "numbers beyond the credit codes' range are refused");

    let app = spawn_app_on(database).await;
    let options = beian::seed::Options { tenants: 1, filings: 300, seed: 4 };
    let tenants = beian::seed::seed(&app.deps, options, |_| {}).await.expect("seeded");
    let key = &tenants[0].api_key;
    const PRECHECK: &str = "query($id: ID!) { filing(id: $id) { precheck { passed errors { field code } } } }";
    for input in inputs.iter().step_by(40) {
        let filing = app.ok(key, &CREATE, json!({ "input": input })).await["createFiling"].clone();
        assert_eq!(filing["status"], "DRAFT");
        assert_eq!(filing["subject"]["certificateNumber"], input["subject"]["certificateNumber"]);
        assert_eq!(filing["websites"].as_array().unwrap().len(), input["websites"].as_array().unwrap().len());
        let check = app.ok(key, PRECHECK, json!({ "id": filing["id"] })).await["filing"]["precheck"].clone();
        assert_eq!(check["passed"], true, "{check}");
    }
    app.stop().await;
}

/// The names of this build's migrations, in order.
fn migration_names() -> Vec<String> {
    use migration::MigratorTrait;
    migration::Migrator::migrations().iter().map(|m| m.name().to_owned()).collect()
}

/// `beian migrate status` as (name, status) pairs, in the order printed, and its summary line.
fn migrate_status(database: &TestDatabase) -> (Vec<(String, String)>, String) {
    let printed = stdout(&beian(database, &["migrate", "status"]));
    let mut lines = printed.lines();
    assert!(lines.next().is_some_and(|header| header.starts_with("MIGRATION")), "{printed}");
    let mut rows = Vec::new();
    let mut summary = String::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[..] {
            [name, status, ..] if name.starts_with('m') => rows.push((name.to_owned(), status.to_owned())),
            _ => summary = line.to_owned(),
        }
    }
    (rows, summary)
}

/// The lines of a `migrate up`/`down` output that name a migration, without the verb.
fn named(output: &str, verb: &str) -> Vec<String> {
    output.lines().filter_map(|line| line.strip_prefix(verb)).map(|name| name.trim().to_owned()).collect()
}

/// A connection to the test's database as the owner (on PostgreSQL).
async fn owner_connection(database: &TestDatabase) -> sea_orm::DatabaseConnection {
    sea_orm::Database::connect(database.migration_url()).await.expect("connect as the owner")
}

#[tokio::test]
async fn migrate_status_lists_pending_then_applied_and_up_applies_exactly_n() {
    let database = TestDatabase::new_unmigrated().await;
    let names = migration_names();
    let (rows, summary) = migrate_status(&database);
    assert_eq!(rows, names.iter().map(|n| (n.clone(), "pending".to_owned())).collect::<Vec<_>>());
    assert!(summary.starts_with(&format!("0 of {} migration(s) applied", names.len())), "{summary}");

    let applied = stdout(&beian(&database, &["migrate", "up", "2"]));
    assert_eq!(named(&applied, "applied"), names[..2]);
    let (rows, _) = migrate_status(&database);
    let statuses: Vec<&str> = rows.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(statuses[..2], ["applied", "applied"]);
    assert!(statuses[2..].iter().all(|s| *s == "pending"), "{statuses:?}");
    let printed = stdout(&beian(&database, &["migrate", "status"]));
    let first = printed.lines().find(|line| line.starts_with(&names[0])).unwrap();
    assert!(first.ends_with(" UTC"), "the applied-at time is shown: {first}");

    let applied = stdout(&beian(&database, &["migrate", "up"]));
    assert_eq!(named(&applied, "applied"), names[2..]);
    let (rows, summary) = migrate_status(&database);
    assert!(rows.iter().all(|(_, s)| s == "applied"), "{rows:?}");
    assert!(summary.contains(&format!("{0} of {0} migration(s) applied, 0 pending", names.len())), "{summary}");
    assert!(stdout(&beian(&database, &["migrate", "up", "1"])).contains("nothing to apply"));

    // A migration a newer version applied (a rolling update): listed, and no reason to fail.
    let db = owner_connection(&database).await;
    let future = "m20991231_000099_from_a_newer_version";
    db.execute_unprepared(&format!(
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('{future}', 4102444800)"
    ))
    .await
    .unwrap();
    db.close().await.ok();
    let printed = stdout(&beian(&database, &["migrate", "status"]));
    let line = printed.lines().find(|line| line.starts_with(future)).expect("the unknown migration is listed");
    assert!(line.contains("applied") && line.contains("2100-01-01") && line.contains("newer"), "{line}");
    assert!(printed.contains("1 applied by a newer version"), "{printed}");

    for args in [&["migrate", "up", "0"][..], &["migrate", "down"], &["migrate", "down", "0"]] {
        let output = beian(&database, args);
        assert_eq!(output.status.code(), Some(2), "{args:?} is a usage error");
    }
}

#[tokio::test]
async fn every_migration_rolls_back_and_applies_again() {
    let database = TestDatabase::new_unmigrated().await;
    let names = migration_names();
    stdout(&beian(&database, &["migrate", "up"]));

    // An empty database is no production one: no --force needed.
    let rolled_back = stdout(&beian(&database, &["migrate", "down", &names.len().to_string()]));
    let mut newest_first = names.clone();
    newest_first.reverse();
    assert_eq!(named(&rolled_back, "rolled back"), newest_first);
    assert!(migrate_status(&database).0.iter().all(|(_, s)| s == "pending"));
    assert!(stdout(&beian(&database, &["migrate", "down", "1"])).contains("nothing to roll back"));

    // Nothing is left behind but sea-orm-migration's own table: no table, column's index or policy of a migration.
    let db = owner_connection(&database).await;
    let sql = if database.is_postgres() {
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' ORDER BY 1"
    } else {
        "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY 1"
    };
    let backend = db.get_database_backend();
    let rows = db.query_all_raw(sea_orm::Statement::from_string(backend, sql)).await.unwrap();
    let left: Vec<String> = rows.iter().map(|row| row.try_get_by_index(0).unwrap()).collect();
    let expected: &[&str] =
        if database.is_postgres() { &["seaql_migrations", "seaql_migrations_pkey"] } else { &["seaql_migrations"] };
    assert_eq!(left, expected);
    db.close().await.ok();

    let applied = stdout(&beian(&database, &["migrate", "up"]));
    assert_eq!(named(&applied, "applied"), names);
    let (rows, summary) = migrate_status(&database);
    assert!(rows.iter().all(|(_, s)| s == "applied") && summary.contains(", 0 pending"), "{summary}");

    // The server's own start-up check passes, and the schema works.
    let created = stdout(&beian(&database, &["tenant", "create", "--slug", "xinnet", "--name", "新网"]));
    let key = created.lines().find_map(|line| line.trim().strip_prefix("api key:")).unwrap().trim().to_owned();
    let app = spawn_app_on(database).await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    assert_eq!(filing["status"], "DRAFT");
}

#[tokio::test]
async fn migrate_down_refuses_a_production_database_unless_forced() {
    let database = TestDatabase::new().await;
    let names = migration_names();
    let newest = &names[names.len() - 1..];
    stdout(&beian(&database, &["migrate"]));

    // Only the seed's synthetic registrars: a development database.
    stdout(&beian(&database, &["dev", "seed", "--tenants", "2", "--filings", "20"]));
    let rolled_back = stdout(&beian(&database, &["migrate", "down", "1"]));
    assert_eq!(named(&rolled_back, "rolled back"), newest);
    assert_eq!(named(&stdout(&beian(&database, &["migrate", "up"])), "applied"), newest);

    stdout(&beian(&database, &["tenant", "create", "--slug", "xinnet", "--name", "新网"]));
    let before = migrate_status(&database);
    let refused = beian(&database, &["migrate", "down", "2"]);
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("production") && message.contains("xinnet"), "{message}");
    assert!(message.contains("beian migrate down 2 --force"), "{message}");
    assert!(String::from_utf8_lossy(&refused.stdout).is_empty());
    assert_eq!(migrate_status(&database), before, "nothing was rolled back");

    let rolled_back = stdout(&beian(&database, &["migrate", "down", "2", "--force"]));
    let newest_two: Vec<String> = names[names.len() - 2..].iter().rev().cloned().collect();
    assert_eq!(named(&rolled_back, "rolled back"), newest_two);
    let (rows, _) = migrate_status(&database);
    assert_eq!(rows.iter().filter(|(_, s)| s == "pending").count(), 2);
    stdout(&beian(&database, &["migrate"]));
    assert!(stdout(&beian(&database, &["tenant", "list"])).contains("xinnet"), "the registrar is still there");
}
