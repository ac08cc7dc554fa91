//! Spawning the app against a fresh database, and talking GraphQL to it.

use std::net::SocketAddr;

use beian::config::Config;
use beian::startup::Application;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use uuid::Uuid;

/// The PostgreSQL role the server runs as in tests (trust authentication, as the test server is set up): granted
/// exactly what README.md's PostgreSQL section grants ([`readme_grants`]), no more.
pub const APP_ROLE: &str = "beian_app_test";
/// The PostgreSQL role that owns the test databases and runs their migrations (as `beian migrate` does).
pub const OWNER_ROLE: &str = "beian_owner_test";

/// A database of its own for one test: a SQLite file in a temporary folder, or a new PostgreSQL database that is
/// dropped when the test ends.
pub struct TestDatabase {
    /// The URL the server uses: on PostgreSQL, as [`APP_ROLE`].
    pub url: String,
    pub dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
    /// On PostgreSQL: the URL as [`OWNER_ROLE`], for migrations.
    owner_url: Option<String>,
}

impl TestDatabase {
    /// A database for a test. On PostgreSQL it is owned by [`OWNER_ROLE`], migrated by it, and the server's role
    /// has what the README grants; on SQLite the server migrates it at start-up, as the embedded default does.
    pub async fn new() -> Self {
        let database = Self::new_unmigrated().await;
        if database.is_postgres() {
            database.migrate().await;
        }
        database
    }

    /// A database nothing has migrated yet.
    pub async fn new_unmigrated() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        match std::env::var("BEIAN_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
            Some(admin_url) => {
                let name = format!("beian_test_{}", Uuid::new_v4().simple());
                let admin = Database::connect(&admin_url).await.expect("connect to BEIAN_TEST_DATABASE_URL");
                // The server runs as an ordinary role, as in production: not a superuser and without BYPASSRLS,
                // so row-level security binds it; nor the owner, who runs the migrations.
                for role in [APP_ROLE, OWNER_ROLE] {
                    admin
                        .execute_unprepared(&format!(
                            "DO $$ BEGIN CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
                             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
                        ))
                        .await
                        .expect("create the roles");
                }
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name} OWNER {OWNER_ROLE}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let as_role = |role: &str| {
                    let mut url = url::Url::parse(&admin_url).expect("BEIAN_TEST_DATABASE_URL is a URL");
                    url.set_path(&name);
                    url.set_username(role).expect("a user name");
                    url.set_password(None).expect("no password");
                    url.to_string()
                };
                let owner_url = as_role(OWNER_ROLE);
                let owner = Database::connect(&owner_url).await.expect("connect as the owner");
                owner.execute_unprepared(&readme_grants()).await.expect("the README's grants");
                owner.close().await.ok();
                Self { url: as_role(APP_ROLE), dir, postgres: Some((admin_url, name)), owner_url: Some(owner_url) }
            }
            None => {
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("beian.sqlite").display());
                Self { url, dir, postgres: None, owner_url: None }
            }
        }
    }

    /// The URL `beian migrate` uses: the owner's on PostgreSQL.
    pub fn migration_url(&self) -> &str {
        self.owner_url.as_deref().unwrap_or(&self.url)
    }

    /// Another handle on the same database, for sessions of the test's own; dropping it drops nothing.
    pub fn handle(&self) -> TestDatabase {
        let dir = tempfile::tempdir().expect("temporary folder");
        Self { url: self.url.clone(), dir, postgres: None, owner_url: self.owner_url.clone() }
    }

    /// Applies every migration, as `beian migrate` does (on PostgreSQL as the owner).
    pub async fn migrate(&self) {
        let mut config = self.config();
        config.database.url = Some(SecretString::from(self.migration_url().to_owned()));
        let db = beian::db::connect(&config).await.expect("connect to migrate");
        beian::db::migrate(&db).await.expect("migrations apply");
        db.close().await.ok();
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// A configuration pointing at this database, listening on a free port.
    pub fn config(&self) -> Config {
        let mut config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: self.dir.path().join("data"),
            ..Config::default()
        };
        config.database.url = Some(SecretString::from(self.url.clone()));
        config.database.auto_migrate = Some(true);
        config.auth.jwt_secret = Some(SecretString::from(format!("test-secret-{}", self.url)));
        // Every server has its own keyring (`Deps`); the test apps use the same keys so that one test's servers, and
        // the binary the CLI tests run (through `pii_env`), read each other's data.
        config.pii.keys = [(TEST_PII_KEY_ID.to_owned(), SecretString::from(TEST_PII_KEY))].into();
        config.pii.current_key = Some(TEST_PII_KEY_ID.to_owned());
        config.pii.index_key = Some(SecretString::from(TEST_PII_INDEX_KEY));
        // An independent S3 implementation (e.g. moto) when BEIAN_TEST_S3_ENDPOINT names one; otherwise the
        // embedded server. Each test gets a bucket of its own.
        if let Some(endpoint) = std::env::var("BEIAN_TEST_S3_ENDPOINT").ok().filter(|e| !e.is_empty()) {
            config.storage.endpoint = Some(endpoint);
            config.storage.access_key_id = Some(SecretString::from("testing"));
            config.storage.secret_access_key = Some(SecretString::from("testing"));
            config.storage.bucket = format!("beian-{}", Uuid::new_v4().simple());
        }
        config.log.filter = std::env::var("BEIAN_TEST_LOG").unwrap_or_else(|_| "warn".into());
        // Tests deliver mail themselves (`TestApp::dispatcher`), with their own clock.
        config.mail.dispatch = false;
        config
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop runs inside the test's runtime, which cannot block on async work: use a runtime of our own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(async {
                    if let Ok(admin) = Database::connect(&admin_url).await {
                        let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// The statements README.md's PostgreSQL section has the owner run for the server's role (the block that grants
/// `USAGE ON SCHEMA`), with the tests' role names: the tests grant exactly what operators are told to.
pub fn readme_grants() -> String {
    let readme = include_str!("../../README.md");
    let block = readme
        .split("```sql")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .find(|block| block.contains("GRANT USAGE ON SCHEMA"))
        .expect("README.md has the PostgreSQL grants");
    block.replace("beian_app", APP_ROLE).replace("beian_owner", OWNER_ROLE)
}

/// The tests' personal-data keys (see `TestDatabase::config`).
pub const TEST_PII_KEY_ID: &str = "test";
pub const TEST_PII_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
pub const TEST_PII_INDEX_KEY: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";

/// The tests' personal-data keys as `BEIAN_PII_*` variables, for the binary.
pub fn pii_env() -> [(&'static str, String); 3] {
    [
        ("BEIAN_PII_KEYS", format!("{{{TEST_PII_KEY_ID}=\"{TEST_PII_KEY}\"}}")),
        ("BEIAN_PII_CURRENT_KEY", TEST_PII_KEY_ID.to_owned()),
        ("BEIAN_PII_INDEX_KEY", TEST_PII_INDEX_KEY.to_owned()),
    ]
}

/// A running server.
pub struct TestApp {
    pub address: String,
    pub db: DatabaseConnection,
    /// What the server's services work with, for tests that call a service directly.
    pub deps: beian::services::Deps,
    pub storage: std::sync::Arc<beian::storage::Storage>,
    /// Delivers the outbox with the server's transport, when the test says so.
    pub dispatcher: beian::mail::dispatcher::Dispatcher,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub database: Option<TestDatabase>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(TestDatabase::new().await).await
}

pub async fn spawn_app_on(database: TestDatabase) -> TestApp {
    spawn_app_with(database, |_| {}).await
}

/// Spawns the app with a configuration adjusted by `tweak`.
pub async fn spawn_app_with(database: TestDatabase, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = database.config();
    tweak(&mut config);
    if std::env::var_os("BEIAN_TEST_LOG").is_some() {
        let _ = beian::telemetry::init(&config.log, &Default::default());
    }
    let app = Application::build(config).await.expect("the app builds");
    start(app, database)
}

/// Spawns the app on a connection the test prepared itself (e.g. with a statement counter).
pub async fn spawn_app_with_db(database: TestDatabase, db: DatabaseConnection) -> TestApp {
    let app = Application::with_database(database.config(), db).await.expect("the app builds");
    start(app, database)
}

fn start(app: Application, database: TestDatabase) -> TestApp {
    let address = format!("http://{}", app.local_addr());
    let db = app.db().clone();
    let deps = app.deps().clone();
    let storage = app.storage();
    let dispatcher = app.dispatcher();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        address,
        db,
        deps,
        storage,
        dispatcher,
        client: reqwest::Client::new(),
        shutdown: Some(tx),
        server: Some(server),
        database: Some(database),
    }
}

impl TestApp {
    /// Stops the server gracefully and hands back its database, e.g. to start another server on it.
    pub async fn stop(mut self) -> TestDatabase {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
        self.db.clone().close().await.ok();
        self.database.take().expect("database")
    }

    /// The same database, reached through another server's address (a replica running as its own process).
    pub fn through(&self, address: &str) -> TestApp {
        TestApp {
            address: address.to_owned(),
            db: self.db.clone(),
            deps: self.deps.clone(),
            storage: self.storage.clone(),
            dispatcher: self.dispatcher.another(),
            client: reqwest::Client::new(),
            shutdown: None,
            server: None,
            database: None,
        }
    }

    /// Runs the cleanup of expired uploads now, as the server's background task does every minute.
    pub async fn clean_up_uploads(&self) -> usize {
        beian::services::attachments::clean_up_expired_uploads(&self.deps).await.unwrap()
    }

    /// A webhook dispatcher on this server's database and settings, for a test to drive with its own clock.
    pub fn webhooks(&self) -> beian::services::webhooks::dispatcher::Dispatcher {
        beian::services::webhooks::dispatcher::Dispatcher::new(
            self.db.clone(),
            self.deps.keys.clone(),
            (*self.deps.webhooks).clone(),
            std::sync::Arc::new(beian::graphql::objects::webhook::WirePayloads),
            Default::default(),
        )
        .expect("a webhook dispatcher")
    }

    /// Creates a tenant and returns its API key.
    pub async fn tenant(&self, slug: &str) -> String {
        beian::services::tenants::create_tenant(&self.deps, slug, &format!("Registrar {slug}"))
            .await
            .map_err(|e| format!("{e:?}"))
            .expect("tenant created")
            .api_key
    }

    /// POSTs a GraphQL request and returns the HTTP status and the JSON body (messages in the default language).
    pub async fn post(&self, key: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        self.post_in(None, key, query, variables).await
    }

    /// POSTs a GraphQL request with `Accept-Language: <language>`.
    pub async fn post_in(
        &self,
        language: Option<&str>,
        key: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (u16, Value) {
        let mut request = self.client.post(format!("{}/graphql", self.address));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(language) = language {
            request = request.header("accept-language", language);
        }
        let response = request.json(&json!({ "query": query, "variables": variables })).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// A GraphQL request that must succeed: returns `data`.
    pub async fn ok(&self, key: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(Some(key), query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// A GraphQL request that must fail: returns the first error.
    pub async fn err(&self, key: &str, query: &str, variables: Value) -> Value {
        let (_, body) = self.post(Some(key), query, variables).await;
        let errors = body["errors"].as_array().unwrap_or_else(|| panic!("expected errors: {body}"));
        errors[0].clone()
    }

    /// Creates a draft from `fixtures::filing_input` and returns the created filing.
    pub async fn create_filing(&self, key: &str, subject_name: &str) -> Value {
        let data = self.ok(key, &CREATE, json!({ "input": filing_input(subject_name) })).await;
        data["createFiling"].clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The `extensions.code` of an error.
pub fn code(error: &Value) -> &str {
    error["extensions"]["code"].as_str().unwrap_or_else(|| panic!("error without code: {error}"))
}

/// The refused fields of a BAD_USER_INPUT error, as (field, code) pairs.
pub fn fields(error: &Value) -> Vec<(String, String)> {
    assert_eq!(code(error), "BAD_USER_INPUT", "{error}");
    error["extensions"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| (f["field"].as_str().unwrap().to_owned(), f["code"].as_str().unwrap().to_owned()))
        .collect()
}

pub const FILING_FIELDS: &str = "id status version filingType createdAt updatedAt
    subject { subjectType name certificateType certificateNumber certificateAddress provinceCode cityCode
      districtCode mailingAddress investor remark province { code name nameEn icpPrefix }
      responsiblePerson { name certificateType certificateNumber mobile emergencyPhone email } }
    websites { id filingId name domains homepageUrl serviceContent languages accessMethod remark
      preApprovals { category licenceNumber }
      responsiblePerson { name certificateType certificateNumber mobile emergencyPhone email } }
    events { id action fromStatus toStatus reason actor { kind name } changes { field oldValue newValue } }";

pub static CREATE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("mutation($input: CreateFilingInput!) {{ createFiling(input: $input) {{ {FILING_FIELDS} }} }}")
});

pub static GET: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("query($id: ID!) {{ filing(id: $id) {{ {FILING_FIELDS} }} }}"));

pub fn person(name: &str, certificate: &str, mobile: &str, email: &str) -> Value {
    json!({
        "name": name,
        "certificateType": "RESIDENT_ID_CARD",
        "certificateNumber": certificate,
        "mobile": mobile,
        "emergencyPhone": "010-12345678",
        "email": email,
    })
}

pub fn subject_input(name: &str) -> Value {
    json!({
        "subjectType": "ENTERPRISE",
        "name": name,
        "certificateType": "BUSINESS_LICENCE",
        "certificateNumber": "91110105MA01ABCD13",
        "certificateAddress": "北京市朝阳区示例路1号",
        "provinceCode": "110000",
        "cityCode": "110100",
        "districtCode": "110105",
        "mailingAddress": "北京市朝阳区示例路1号",
        "responsiblePerson": person("张三", "11010519491231002X", "13800138000", "zhangsan@example.com"),
    })
}

pub fn website_input(name: &str, domain: &str) -> Value {
    json!({
        "name": name,
        "domains": [domain],
        "homepageUrl": format!("https://www.{domain}"),
        "serviceContent": ["ORGANISATION_PORTAL"],
        "languages": ["SIMPLIFIED_CHINESE"],
        "preApprovals": [],
        "accessMethod": "CLOUD",
        "remark": "公司介绍、产品展示与联系方式，不提供交互服务。",
        "responsiblePerson": person("李四", "110105199001011232", "13900139000", "lisi@example.com"),
    })
}

/// A Shanghai enterprise: its credit code, addresses and division codes all in Shanghai.
pub fn shanghai_subject(name: &str) -> Value {
    let mut subject = subject_input(name);
    subject["certificateNumber"] = json!("91310000MA1FL0000N");
    subject["provinceCode"] = json!("310000");
    subject["cityCode"] = json!("310100");
    subject["districtCode"] = json!("310115");
    subject["certificateAddress"] = json!("上海市浦东新区示例路2号");
    subject["mailingAddress"] = json!("上海市浦东新区示例路2号");
    subject["responsiblePerson"] = person("赵六", "31011519850202001X", "13500135000", "zhaoliu@example.com");
    subject
}

/// A Shanghai enterprise's filing; its people are not the Beijing fixtures' people.
pub fn shanghai_filing(name: &str) -> Value {
    let mut website = website_input("上海示例贸易网", "shanghai-example.cn");
    website["responsiblePerson"] = person("钱七", "31011519920303001X", "13300133000", "qianqi@example.com");
    json!({ "subject": shanghai_subject(name), "websites": [website] })
}

pub fn filing_input(subject_name: &str) -> Value {
    json!({ "subject": subject_input(subject_name), "websites": [website_input("示例科技官网", "example.com")] })
}

/// Waits until `done` holds, checking every 250 ms, for at most `seconds`.
pub async fn eventually<F, Fut>(seconds: u64, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..seconds * 4 {
        if done().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("not within {seconds} s: {what}");
}
