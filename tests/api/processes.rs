//! Several `beian serve` processes (the real binary) on one database, as a registrar runs them behind a load
//! balancer: mail is delivered at least once, and at most the message in hand twice (with its Message-ID) when a
//! replica is killed right after the relay took it; deadlines fire once although a replica is killed mid-dispatch;
//! subscriptions hear changes made through another replica; SIGTERM drains, finishes in-flight work and exits 0;
//! traces reach an OTLP collector.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use beian::config::{Config, LogFormat};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::*;
use crate::workflow::{Cast, act, cast_on, next_message, numbered_filing, state, subscribe, upload_materials};

/// How an SMTP listener answers the end of a message.
#[derive(Clone, Copy)]
pub enum Answer {
    Accept,
    /// A slow relay.
    AcceptAfter(Duration),
    /// A relay that hangs after the message's data: nothing is delivered until it answers 250, which it never does.
    Never,
}

/// An SMTP sink: counts what it accepted (by Message-ID) and what it was sent but never accepted.
#[derive(Clone, Default)]
pub struct Sink {
    delivered: Arc<Mutex<Vec<String>>>,
    held: Arc<Mutex<Vec<String>>>,
    /// Every message whose data arrived, answered or not: a relay that keeps what arrives (as many do, queueing
    /// it before they answer) delivers these, so a message in here twice reached its recipient twice.
    kept: Arc<Mutex<Vec<String>>>,
    /// (process, n): SIGKILL the process right after answering 250 to the n-th message.
    kill_after: Arc<Mutex<Option<(u32, usize)>>>,
    /// Messages whose data arrived and whose answer is pending, now and at most.
    in_flight: Arc<Mutex<(usize, usize)>>,
}

impl Sink {
    /// A listener on a port of its own, answering as told.
    pub async fn listen(&self, answer: Answer) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = self.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let _ = sink.session(socket, answer).await;
                });
            }
        });
        port
    }

    async fn session(&self, socket: TcpStream, answer: Answer) -> std::io::Result<()> {
        let (read, mut write) = socket.into_split();
        let mut reader = BufReader::new(read);
        write.write_all(b"220 sink ESMTP\r\n").await?;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_ascii_uppercase();
            if command.starts_with("EHLO") {
                write.write_all(b"250-sink\r\n250 8BITMIME\r\n").await?;
            } else if command.starts_with("QUIT") {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else if command == "DATA" {
                write.write_all(b"354 go ahead\r\n").await?;
                let mut message = String::new();
                loop {
                    line.clear();
                    // A client that dies in the middle of the data delivered nothing.
                    if reader.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line.trim_end() == "." {
                        break;
                    }
                    message.push_str(&line);
                }
                let id = message_id(&message);
                self.arrived();
                self.kept.lock().unwrap().push(id.clone());
                match answer {
                    Answer::Accept => {}
                    Answer::AcceptAfter(delay) => tokio::time::sleep(delay).await,
                    Answer::Never => {
                        self.held.lock().unwrap().push(id);
                        let mut byte = [0u8; 1];
                        while reader.read(&mut byte).await? > 0 {}
                        return Ok(());
                    }
                }
                write.write_all(b"250 2.0.0 accepted\r\n").await?;
                write.flush().await?;
                self.in_flight.lock().unwrap().0 -= 1;
                let accepted = {
                    let mut delivered = self.delivered.lock().unwrap();
                    delivered.push(id);
                    delivered.len()
                };
                let kill = *self.kill_after.lock().unwrap();
                if let Some((pid, n)) = kill.filter(|(_, n)| *n == accepted) {
                    let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                    tracing_kill_note(pid, n);
                }
            } else {
                write.write_all(b"250 ok\r\n").await?;
            }
        }
    }

    fn arrived(&self) {
        let mut in_flight = self.in_flight.lock().unwrap();
        in_flight.0 += 1;
        in_flight.1 = in_flight.1.max(in_flight.0);
    }

    /// The most messages the sink held at once, waiting for its answer.
    fn peak_in_flight(&self) -> usize {
        self.in_flight.lock().unwrap().1
    }

    /// Every message whose data arrived, in order, repeats included.
    pub fn arrivals(&self) -> Vec<String> {
        self.kept.lock().unwrap().clone()
    }

    /// SIGKILL `pid` right after the 250 to the `n`-th message.
    fn kill_after(&self, pid: u32, n: usize) {
        *self.kill_after.lock().unwrap() = Some((pid, n));
    }

    fn delivered(&self) -> Vec<String> {
        self.delivered.lock().unwrap().clone()
    }

    fn held(&self) -> Vec<String> {
        self.held.lock().unwrap().clone()
    }
}

fn tracing_kill_note(pid: u32, n: usize) {
    eprintln!("sink: killed {pid} right after the 250 to message {n}");
}

/// Each message id of `arrivals` and how often it arrived, for those that arrived more than once.
fn repeats(arrivals: &[String]) -> Vec<(String, usize)> {
    let mut counted: std::collections::BTreeMap<&String, usize> = std::collections::BTreeMap::new();
    for id in arrivals {
        *counted.entry(id).or_default() += 1;
    }
    counted.into_iter().filter(|(_, n)| *n > 1).map(|(id, n)| (id.clone(), n)).collect()
}

fn message_id(message: &str) -> String {
    message
        .lines()
        .find_map(|l| l.get(..11).filter(|h| h.eq_ignore_ascii_case("message-id:")).map(|_| l[11..].trim().to_owned()))
        .unwrap_or_else(|| panic!("a message without Message-ID: {message}"))
}

/// A `beian serve` process.
struct Replica {
    name: &'static str,
    address: String,
    child: tokio::process::Child,
    log: PathBuf,
    config: PathBuf,
}

impl Replica {
    /// Starts the binary with `config` (written as TOML) and waits until it is ready.
    /// The port [`free_address`] found may be taken by another process before this one binds it: then the
    /// replica starts again on another (a few times), so a busy machine does not fail the test.
    async fn start(name: &'static str, config: &Config, dir: &Path) -> Replica {
        let mut config = config.clone();
        let config_path = dir.join(format!("{name}.toml"));
        for _ in 0..3 {
            std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
            let mut replica = Self::spawn(name, config.listen.to_string(), config_path.clone(), dir);
            match replica.ready().await {
                Ok(()) => return replica,
                Err(log) if log.contains("Address already in use") => config.listen = free_address(),
                Err(log) => panic!("{name}: {log}"),
            }
        }
        panic!("{name} found no free port");
    }

    async fn start_with(name: &'static str, listen: String, config: PathBuf, dir: &Path) -> Replica {
        let mut replica = Self::spawn(name, listen, config, dir);
        replica.wait_ready().await;
        replica
    }

    fn spawn(name: &'static str, listen: String, config: PathBuf, dir: &Path) -> Replica {
        let log = dir.join(format!("{name}-{}.log", uuid::Uuid::new_v4().simple()));
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_beian"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env_remove("BEIAN_TEST_S3_ENDPOINT")
            .env_remove("BEIAN_TEST_LOG")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("beian starts");
        Replica { name, address: format!("http://{listen}"), child, log, config }
    }

    async fn wait_ready(&mut self) {
        if let Err(problem) = self.ready().await {
            panic!("{}: {problem}", self.name);
        }
    }

    /// Waits until the process is ready; if it exits or never gets ready, why (with its log).
    async fn ready(&mut self) -> Result<(), String> {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("exited with {status}: {}", std::fs::read_to_string(&self.log).unwrap()));
            }
            if let Ok(response) = client.get(format!("{}/readyz", self.address)).send().await
                && response.status() == 200
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("did not become ready: {}", std::fs::read_to_string(&self.log).unwrap()))
    }

    /// The same process started again on its configuration (with `edit` applied to the file's text).
    async fn restart(self, dir: &Path, edit: impl FnOnce(String) -> String) -> Replica {
        let text = std::fs::read_to_string(&self.config).unwrap();
        std::fs::write(&self.config, edit(text)).unwrap();
        let listen = self.address.trim_start_matches("http://").to_owned();
        Self::start_with(self.name, listen, self.config.clone(), dir).await
    }

    /// SIGKILL: no chance to finish anything.
    async fn kill(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }

    /// SIGTERM, then the exit status (within `within`).
    async fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        tokio::time::timeout(within, self.child.wait()).await.expect("exits within the grace period").unwrap()
    }

    fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log).unwrap().lines().map(str::to_owned).collect()
    }
}

fn free_address() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// A replica's configuration: the test's database and storage, mail to `smtp_port`, fast background work.
fn replica_config(database: &TestDatabase, smtp_port: u16) -> Config {
    let mut config = database.config();
    config.listen = free_address();
    config.database.auto_migrate = Some(false);
    config.mail.smtp_url = Some(SecretString::from(format!("smtp://127.0.0.1:{smtp_port}")));
    config.mail.dispatch = true;
    config.mail.dispatch_interval_seconds = 1;
    config.mail.batch_size = 5;
    // Long enough to outlast the setup between replica C's hang and its kill, short enough to wait for.
    config.mail.lease_seconds = 15;
    config.mail.retry_base_seconds = 1;
    config.mail.retry_max_seconds = 2;
    config.jobs.sms_deadline_interval_seconds = 1;
    config.jobs.upload_cleanup_interval_seconds = 1;
    config.log.format = LogFormat::Json;
    config.log.filter = "info".to_owned();
    config.shutdown_grace_seconds = 10;
    config
}

pub async fn scalar(app: &TestApp, sql: &str) -> i64 {
    count(&app.db, sql).await
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    let backend = db.get_database_backend();
    let row = db.query_one_raw(Statement::from_string(backend, sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// A connection to the test's database (as the server's own, seeing every registrar's rows), to watch it while
/// replicas run: no server of this process on it.
async fn watch(database: &TestDatabase) -> sea_orm::DatabaseConnection {
    beian::db::connect(&database.config()).await.unwrap()
}

/// The message ids the outbox holds as sent.
async fn sent_ids(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let sql = "SELECT message_id FROM outbox_messages WHERE status = 'SENT' ORDER BY message_id";
    let rows = db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap();
    rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect()
}

/// Submits a filing of its own subject through `via` and takes it to the MIIT SMS step there.
async fn to_sms_step(via: &TestApp, cast: &Cast, i: u32) -> Value {
    let filing = via.ok(&cast.applicant, &CREATE, json!({ "input": numbered_filing(i) })).await["createFiling"].clone();
    upload_materials(via, &cast.applicant, &filing).await;
    act(via, &cast.applicant, "submitFiling", &filing).await;
    act(via, &cast.reviewer, "claimReview", &filing).await;
    assert_eq!(act(via, &cast.reviewer, "approvePreliminaryReview", &filing).await["status"], "SMS_VERIFICATION");
    filing
}

/// Personal data of the filings the replicas handled: none of it may appear in a log line.
fn personal_data(filings: std::ops::Range<u32>) -> Vec<String> {
    let mut values = Vec::new();
    for i in filings {
        let input = numbered_filing(i);
        for person in [&input["subject"]["responsiblePerson"], &input["websites"][0]["responsiblePerson"]] {
            for field in ["certificateNumber", "mobile", "email"] {
                values.push(person[field].as_str().unwrap().to_owned());
            }
        }
    }
    values.push("owner@example.com".to_owned());
    values
}

fn check_logs(replica: &Replica, personal: &[String]) -> usize {
    let mut requests = 0;
    for line in replica.log_lines() {
        let entry: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{}: a log line that is not JSON ({e}): {line}", replica.name));
        for value in personal {
            assert!(!line.contains(value.as_str()), "{}: personal data {value} in the log: {line}", replica.name);
        }
        if entry["fields"]["message"] == "request" {
            assert!(entry["span"]["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{line}");
            requests += 1;
        }
    }
    requests
}

#[tokio::test]
async fn three_replicas_deliver_each_mail_once_and_fire_each_deadline_once_though_one_is_killed() {
    let database = TestDatabase::new().await;
    if !database.is_postgres() {
        eprintln!("skipped: several processes on one database need PostgreSQL (BEIAN_TEST_DATABASE_URL)");
        return;
    }
    let sink = Sink::default();
    let good = sink.listen(Answer::Accept).await;
    let hanging = sink.listen(Answer::Never).await;
    let dir = tempfile::tempdir().unwrap();
    let configs =
        [replica_config(&database, good), replica_config(&database, good), replica_config(&database, hanging)];
    // The test's own in-process server migrates the database and sets the registrar up; it neither sends mail
    // nor runs the deadline job in time to matter.
    let control = spawn_app_with(database, |c| {
        c.jobs.sms_deadline_interval_seconds = 3600;
        c.jobs.upload_cleanup_interval_seconds = 3600;
    })
    .await;
    // Replica C starts first and its relay hangs in the middle of the first message: C holds a batch.
    let mut c = Replica::start("c", &configs[2], dir.path()).await;
    let cast = cast_on(control).await;
    let control = &cast.app;
    let held = sink.clone();
    eventually(30, "replica C is in the middle of sending", || {
        let held = held.clone();
        async move { !held.held().is_empty() }
    })
    .await;
    let a = Replica::start("a", &configs[0], dir.path()).await;
    let b = Replica::start("b", &configs[1], dir.path()).await;
    let via = [control.through(&a.address), control.through(&b.address), control.through(&c.address)];

    // A subscriber on replica A hears steps taken through replicas B and C.
    let first =
        via[1].ok(&cast.applicant, &CREATE, json!({ "input": numbered_filing(0) })).await["createFiling"].clone();
    upload_materials(&via[1], &cast.applicant, &first).await;
    let query = "subscription($id: ID!) { filingUpdated(id: $id) { status } }";
    let mut watcher = subscribe(&via[0], Some(&cast.applicant), query, json!({ "id": first["id"] })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    act(&via[1], &cast.applicant, "submitFiling", &first).await;
    let message = next_message(&mut watcher).await;
    assert_eq!(message["payload"]["data"]["filingUpdated"]["status"], "PENDING_REVIEW", "{message}");
    act(&via[2], &cast.reviewer, "claimReview", &first).await;
    let message = next_message(&mut watcher).await;
    assert_eq!(message["payload"]["data"]["filingUpdated"]["status"], "IN_REVIEW", "{message}");
    act(&via[2], &cast.reviewer, "approvePreliminaryReview", &first).await;

    // SIGKILL while C is sending: what it was sending is still claimed by it and not sent.
    c.kill().await;
    let killed_mid_send = sink.held();
    let cut_off = &killed_mid_send[0];
    let sql = format!("SELECT count(*) FROM outbox_messages WHERE message_id = '{cut_off}' AND status = 'QUEUED'");
    assert_eq!(scalar(control, &sql).await, 1, "the killed replica held {cut_off}");
    let c = c.restart(dir.path(), |text| text.replace(&format!(":{hanging}"), &format!(":{good}"))).await;
    let via = [control.through(&a.address), control.through(&b.address), control.through(&c.address)];

    // Filings driven through all three replicas, up to the SMS step (each step queues mail).
    let mut filings = vec![first];
    for i in 1..7u32 {
        filings.push(to_sms_step(&via[i as usize % 3], &cast, i).await);
    }

    // Every SMS window passes at once: the three deadline jobs race (C restarted, with a working relay).
    control
        .db
        .execute_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "UPDATE filings SET sms_deadline_at = now() - interval '1 minute' WHERE status = 'SMS_VERIFICATION'",
        ))
        .await
        .unwrap();
    let via_c = &via[2];
    let late = via_c.ok(&cast.applicant, &CREATE, json!({ "input": numbered_filing(7) })).await["createFiling"].clone();
    assert_eq!(state(via_c, &cast.applicant, &late).await["status"], "DRAFT", "the restarted replica serves");

    eventually(60, "every filing's SMS step ended", || async {
        scalar(control, "SELECT count(*) FROM filings WHERE status = 'SMS_VERIFICATION'").await == 0
    })
    .await;
    eventually(60, "the outbox is empty", || async {
        scalar(control, "SELECT count(*) FROM outbox_messages WHERE status = 'QUEUED'").await == 0
    })
    .await;

    // Each deadline fired once.
    let firings = scalar(control, "SELECT count(*) FROM filing_events WHERE action = 'SMS_CHECK_FAILED'").await;
    let fired =
        scalar(control, "SELECT count(DISTINCT filing_id) FROM filing_events WHERE action = 'SMS_CHECK_FAILED'").await;
    assert_eq!((firings, fired), (filings.len() as i64, filings.len() as i64));
    // Each message was delivered once, those the dead replica was sending included (its relay never answered: the
    // message was not taken, so sending it again is no repeat).
    assert_eq!(scalar(control, "SELECT count(*) FROM outbox_messages WHERE status = 'FAILED'").await, 0);
    let mut delivered = sink.delivered();
    delivered.sort();
    let sent = sent_ids(&control.db).await;
    assert!(sent.len() > 40, "a real amount of mail: {}", sent.len());
    let mut unique = delivered.clone();
    unique.dedup();
    assert_eq!(unique.len(), delivered.len(), "a message was delivered twice");
    assert_eq!(delivered, sent, "the relay got exactly what the outbox records as sent");
    for id in &killed_mid_send {
        assert!(delivered.contains(id), "{id}, cut off by the kill, was delivered by another replica");
    }
    // The SMS-failed notices: one per person and filing, whichever replica moved it.
    let duplicates = scalar(
        control,
        "SELECT count(*) FROM (SELECT filing_id, template, recipient FROM outbox_messages
           WHERE template = 'SMS_FAILED' GROUP BY 1, 2, 3 HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(duplicates, 0);

    // JSON logs with request ids, without personal data.
    let personal = personal_data(0..8);
    let requests: usize = [&a, &b, &c].iter().map(|r| check_logs(r, &personal)).sum();
    assert!(requests > 50, "requests were logged: {requests}");
}

/// Issue 21's proof: three replicas post the registrars' webhooks to a receiver that refuses the first attempts and
/// is down for a while, one replica is killed with SIGKILL in the middle of it, and at the end the receiver has
/// every event of every filing, each signature verified by the Python reference library, in the feed's order per
/// filing, none missing, repeats only under the same `webhook-id`, and nothing of another registrar.
#[tokio::test]
async fn three_replicas_deliver_every_event_in_order_to_a_flaky_receiver_though_one_is_killed() {
    let database = TestDatabase::new().await;
    if !database.is_postgres() {
        eprintln!("skipped: several processes on one database need PostgreSQL (BEIAN_TEST_DATABASE_URL)");
        return;
    }
    let sink = Sink::default();
    let smtp = sink.listen(Answer::Accept).await;
    // Slow enough that a replica always has posts in flight.
    let mut receiver = crate::webhooks::Receiver::slow(6, 300).await;
    let dir = tempfile::tempdir().unwrap();
    let webhook_config = |mut config: Config| {
        config.webhooks.allow_private_networks = true;
        config.webhooks.dispatch_interval_ms = 50;
        config.webhooks.concurrency = 8;
        config.webhooks.timeout_seconds = 2;
        config.webhooks.lease_seconds = 5;
        config.webhooks.retry_base_seconds = 1;
        config.webhooks.retry_max_seconds = 2;
        config
    };
    let configs = [0, 1, 2].map(|_| webhook_config(replica_config(&database, smtp)));
    // The test's own server migrates and sets the registrars up; it posts no webhooks itself.
    let control = spawn_app_with(database, |c| {
        c.webhooks.dispatch = false;
        c.webhooks.allow_private_networks = true;
    })
    .await;
    let cast = cast_on(control).await;
    let control = &cast.app;
    let create = "mutation($url: String!) { createWebhookEndpoint(input: { url: $url }) { secret } }";
    let created = control.ok(&cast.admin, create, json!({ "url": receiver.url() })).await;
    receiver.secrets(&[created["createWebhookEndpoint"]["secret"].as_str().unwrap()]);
    let other = control.tenant("west-cloud").await;

    // Replica A alone first: every delivery of the first round is claimed by it.
    let mut a = Replica::start("a", &configs[0], dir.path()).await;
    let (b_address, c_address) = (format!("http://{}", configs[1].listen), format!("http://{}", configs[2].listen));
    let via = [control.through(&a.address), control.through(&b_address), control.through(&c_address)];

    let update = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }";
    let mut filings = Vec::new();
    let drive = |round: u32, live: Vec<&'static str>| {
        let (via, cast, other) = (&via, &cast, &other);
        let live: Vec<&TestApp> =
            via.iter().zip(["a", "b", "c"]).filter(|(_, name)| live.contains(name)).map(|(v, _)| v).collect();
        async move {
            let mut made = Vec::new();
            for i in 0..4u32 {
                let n = round * 4 + i;
                let through = live[n as usize % live.len()];
                let filing = through.create_filing(&cast.backend, &format!("北京第{n}号科技有限公司")).await;
                for version in 1..3 {
                    let subject = subject_input(&format!("北京第{n}号改{version}科技有限公司"));
                    let input =
                        json!({ "input": { "filingId": filing["id"], "version": version, "subject": subject } });
                    live[(n as usize + version as usize) % live.len()].ok(&cast.backend, update, input).await;
                }
                through.create_filing(other, &format!("西部第{n}号客户有限公司")).await;
                made.push(filing);
            }
            made
        }
    };
    filings.extend(drive(0, vec!["a"]).await);
    // Deliveries are under way (past the refused first attempts): kill replica A in the middle of them, and start
    // B and C, which must take over what A held once its leases end.
    let in_flight = "SELECT count(*) FROM webhook_deliveries WHERE status = 'PENDING' AND locked_until > now()";
    eventually(60, "deliveries under way, some in A's hands", || async {
        receiver.received().iter().filter(|r| r["status"] == 200).count() >= 3 && scalar(control, in_flight).await > 0
    })
    .await;
    a.kill().await;
    let held = scalar(control, in_flight).await;
    assert!(held > 0, "replica A died holding deliveries (they pass on when its leases end)");
    let b = Replica::start("b", &configs[1], dir.path()).await;
    let c = Replica::start("c", &configs[2], dir.path()).await;
    filings.extend(drive(1, vec!["b", "c"]).await);
    // The receiver is down for a while; the events go on.
    receiver.outage(Duration::from_secs(3)).await;
    filings.extend(drive(2, vec!["b", "c"]).await);

    let feed = "query($after: String) { filingEvents(first: 100, after: $after) {
        nodes { id filingId } pageInfo { hasNextPage endCursor } } }";
    let all_events = || async {
        let (mut events, mut after) = (Vec::new(), Value::Null);
        loop {
            let page = control.ok(&cast.backend, feed, json!({ "after": after })).await["filingEvents"].clone();
            events.extend(page["nodes"].as_array().unwrap().iter().cloned());
            if page["pageInfo"]["hasNextPage"] != true {
                return events;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
    };
    let expected = filings.len() * 3;
    eventually(30, "the feed shows every event", || async { all_events().await.len() == expected }).await;
    let events = all_events().await;
    eventually(120, "the receiver accepted every event", || async {
        let accepted: std::collections::HashSet<Value> =
            receiver.received().iter().filter(|r| r["status"] == 200).map(|r| r["eventId"].clone()).collect();
        events.iter().all(|e| accepted.contains(&e["id"]))
    })
    .await;

    let received = receiver.received();
    assert!(received.iter().all(|r| r["verified"] == json!([true])), "a signature did not verify");
    assert!(received.iter().any(|r| r["status"] == 500), "the first attempts were refused");
    let ours: std::collections::HashSet<&Value> = events.iter().map(|e| &e["id"]).collect();
    assert!(received.iter().all(|r| ours.contains(&r["eventId"])), "nothing of another registrar arrived");
    // One webhook-id per event, however often it arrived.
    let mut ids: std::collections::HashMap<&Value, std::collections::HashSet<&Value>> = Default::default();
    for r in &received {
        ids.entry(&r["eventId"]).or_default().insert(&r["webhookId"]);
    }
    assert!(ids.values().all(|set| set.len() == 1), "an event arrived under two webhook-ids");
    // In the feed's order per filing: the order in which the receiver first accepted each event.
    for filing in &filings {
        let expected: Vec<&Value> = events.iter().filter(|e| e["filingId"] == filing["id"]).map(|e| &e["id"]).collect();
        let mut accepted: Vec<&Value> = Vec::new();
        for r in received.iter().filter(|r| r["filingId"] == filing["id"] && r["status"] == 200) {
            if !accepted.contains(&&r["eventId"]) {
                accepted.push(&r["eventId"]);
            }
        }
        assert_eq!(accepted, expected, "out of order for {}", filing["id"]);
    }
    let repeats = received.iter().filter(|r| r["status"] == 200).count() - events.len();
    eprintln!(
        "{} events, {} requests, {repeats} accepted twice (same webhook-id); A died holding {held}",
        events.len(),
        received.len()
    );
    drop((b, c));
}

#[tokio::test]
async fn sigterm_drains_finishes_requests_and_the_mail_in_hand_and_exits_zero() {
    let database = TestDatabase::new().await;
    let sink = Sink::default();
    let slow = sink.listen(Answer::AcceptAfter(Duration::from_millis(400))).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = replica_config(&database, slow);
    config.shutdown_drain_seconds = 1;
    config.mail.batch_size = 20;
    // Long leases: a message abandoned at shutdown would stay claimed, and the test would see it.
    config.mail.lease_seconds = 300;
    config.mail.dispatch_interval_seconds = 3600;
    let cast = cast_on(spawn_app_on(database).await).await;
    // A dozen messages waiting for the replica.
    for i in 0..8 {
        cast.app.ok(&cast.applicant, &CREATE, json!({ "input": numbered_filing(i) })).await;
        let invite =
            "mutation($e: String!) { inviteStaff(input: { email: $e, displayName: \"员工\", role: REVIEWER }) { id } }";
        cast.app.ok(&cast.admin, invite, json!({ "e": format!("staff{i}@xinnet.example") })).await;
    }
    let queued = scalar(&cast.app, "SELECT count(*) FROM outbox_messages WHERE status = 'QUEUED'").await;
    assert!(queued >= 8, "{queued}");
    let Cast { app, backend, .. } = cast;
    let database = app.stop().await;
    let mut replica = Replica::start("solo", &config, dir.path()).await;

    // Load from four clients, which stop sending when the load balancer would (readiness turns 503).
    let draining = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (address, key, draining) = (replica.address.clone(), backend.clone(), draining.clone());
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut done = 0;
            while !draining.load(std::sync::atomic::Ordering::SeqCst) {
                let body =
                    json!({ "query": "{ filings(first: 20) { edges { node { id status websites { name } } } } }" });
                let response = client.post(format!("{address}/graphql")).bearer_auth(&key).json(&body).send().await;
                let response = response.expect("a request sent before the drain is answered");
                assert_eq!(response.status(), 200);
                let body: Value = response.json().await.unwrap();
                assert!(body.get("errors").is_none(), "{body}");
                done += 1;
            }
            done
        }));
    }
    let watcher = {
        let (address, draining) = (replica.address.clone(), draining.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                match client.get(format!("{address}/readyz")).send().await {
                    Ok(r) if r.status() == 200 => {}
                    _ => break,
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            draining.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    // SIGTERM while the dispatcher is in the middle of its batch (the relay takes 400 ms a message).
    let delivering = sink.clone();
    eventually(30, "the first message is delivered", || {
        let delivering = delivering.clone();
        async move { !delivering.delivered().is_empty() }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = replica.terminate(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{}", std::fs::read_to_string(&replica.log).unwrap());
    watcher.await.unwrap();
    let mut answered = 0;
    for worker in workers {
        answered += worker.await.expect("no request failed");
    }
    assert!(answered > 10, "the load ran: {answered} requests");

    // The messages in hand were finished and the rest of the batch given back, unsent, for another replica to take
    // at once: nothing is left claimed, and what was sent reached the relay once.
    let app = spawn_app_on(database).await;
    let left_claimed = "SELECT count(*) FROM outbox_messages
        WHERE status = 'QUEUED' AND (locked_until IS NOT NULL OR locked_by IS NOT NULL)";
    assert_eq!(scalar(&app, left_claimed).await, 0);
    let mut delivered = sink.delivered();
    delivered.sort();
    assert_eq!(delivered, sent_ids(&app.db).await);
    let sent = delivered.len() as i64;
    assert!(
        sent >= config.mail.concurrency as i64 && sent < queued.min(20),
        "the messages in hand, not the batch: {sent}"
    );
    // The dispatcher sent several messages at once, and no more than mail.concurrency.
    assert_eq!(sink.peak_in_flight(), config.mail.concurrency, "messages sent at once");
    let log = replica.log_lines().join("\n");
    assert!(log.contains("draining"), "{log}");
    assert!(log.contains("\"stopped\""), "{log}");
}

/// A database with a registrar and `n` messages queued for it (the in-process server that queued them stopped).
async fn with_queued_mail(n: usize) -> TestDatabase {
    let app = spawn_app_on(TestDatabase::new().await).await;
    app.tenant("xinnet").await;
    let tenant = beian::services::tenants::list_tenants(&app.deps).await.unwrap().remove(0);
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
        beian::mail::outbox::enqueue(&app.db, &app.deps.keys, envelope).await.unwrap();
    }
    app.stop().await
}

#[tokio::test]
async fn a_replica_killed_right_after_the_relays_250_resends_at_most_the_message_in_hand_with_its_message_id() {
    let database = with_queued_mail(12).await;
    let sink = Sink::default();
    // A little slow, so that the kill is armed before the fourth message whatever the start-up takes.
    let port = sink.listen(Answer::AcceptAfter(Duration::from_millis(250))).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = replica_config(&database, port);
    config.mail.concurrency = 1;
    // Short, so that the restarted replica takes over what the killed one held without a long wait.
    config.mail.lease_seconds = 2;
    let mut replica = Replica::start("killed", &config, dir.path()).await;
    sink.kill_after(replica.child.id().unwrap(), 4);
    let status = tokio::time::timeout(Duration::from_secs(30), replica.child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), None, "killed by the sink: {status}");
    let replica = replica.restart(dir.path(), |text| text).await;
    let db = watch(&database).await;
    eventually(60, "the outbox is empty", || async {
        count(&db, "SELECT count(*) FROM outbox_messages WHERE status = 'QUEUED'").await == 0
    })
    .await;
    drop(replica);
    // Every message arrived; the one the killed replica had in hand may have arrived twice, with one Message-ID.
    let arrivals = sink.arrivals();
    let sent = sent_ids(&db).await;
    assert_eq!(sent.len(), 12);
    let mut distinct = arrivals.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct, sent, "the relay got every message, under the Message-ID the outbox records");
    let repeated = repeats(&arrivals);
    assert!(repeated.len() <= 1 && repeated.iter().all(|(_, n)| *n == 2), "at most the one in hand: {repeated:?}");
    if let Some((id, _)) = repeated.first() {
        assert_eq!(id, &sink.delivered()[3], "the repeat is the message the kill cut off");
    }
}

#[tokio::test]
async fn sigterm_with_a_short_grace_finishes_the_messages_in_hand_and_resends_none_the_relay_took() {
    let database = with_queued_mail(20).await;
    let sink = Sink::default();
    let slow = sink.listen(Answer::AcceptAfter(Duration::from_millis(400))).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = replica_config(&database, slow);
    config.shutdown_drain_seconds = 0;
    // Shorter than the batch (20 messages, 4 at a time, 400 ms each), longer than the messages in hand.
    config.shutdown_grace_seconds = 1;
    config.mail.batch_size = 20;
    config.mail.lease_seconds = 3;
    config.mail.dispatch_interval_seconds = 3600;
    // A configuration file from before mail.retry_for_hours replaced it: it still starts.
    config.mail.max_attempts = Some(8);
    let mut replica = Replica::start("short-grace", &config, dir.path()).await;
    let delivering = sink.clone();
    eventually(30, "the first message is delivered", || {
        let delivering = delivering.clone();
        async move { !delivering.delivered().is_empty() }
    })
    .await;
    let status = replica.terminate(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{}", std::fs::read_to_string(&replica.log).unwrap());
    let log = replica.log_lines().join("\n");
    assert!(!log.contains("did not finish within the grace period"), "{log}");
    assert!(log.contains("mail.max_attempts is no longer used and is ignored"), "{log}");

    // What the relay took is recorded as sent; the rest is queued and nobody's, at once.
    let db = watch(&database).await;
    let mut arrived = sink.arrivals();
    arrived.sort();
    assert_eq!(arrived, sent_ids(&db).await, "the outbox records as sent exactly what reached the relay");
    assert!(arrived.len() < 20, "the batch was cut short: {}", arrived.len());
    let claimed = "SELECT count(*) FROM outbox_messages WHERE status = 'QUEUED' AND locked_by IS NOT NULL";
    assert_eq!(count(&db, claimed).await, 0, "the messages not started were given back");
    // Another start delivers the rest, and nothing twice.
    let restarted = replica
        .restart(dir.path(), |text| text.replace("dispatch_interval_seconds = 3600", "dispatch_interval_seconds = 1"))
        .await;
    eventually(60, "the outbox is empty", || async {
        count(&db, "SELECT count(*) FROM outbox_messages WHERE status = 'QUEUED'").await == 0
    })
    .await;
    drop(restarted);
    assert_eq!(repeats(&sink.arrivals()), vec![], "no message reached the relay twice");
    assert_eq!(sent_ids(&db).await.len(), 20);
}

/// Two dispatchers, in this process, on one database: one sends a message more slowly than its lease lasts.
#[tokio::test]
async fn a_send_that_outlasts_the_lease_keeps_its_claim_and_is_not_sent_twice() {
    let sink = Sink::default();
    let slow = sink.listen(Answer::AcceptAfter(Duration::from_millis(3500))).await;
    let app = spawn_app_with(TestDatabase::new().await, move |c| {
        c.mail.smtp_url = Some(SecretString::from(format!("smtp://127.0.0.1:{slow}")));
        c.mail.lease_seconds = 1;
        c.mail.concurrency = 1;
        c.mail.batch_size = 1;
    })
    .await;
    app.tenant("xinnet").await;
    let tenant = beian::services::tenants::list_tenants(&app.deps).await.unwrap().remove(0);
    let envelope = beian::mail::outbox::Envelope {
        tenant_id: tenant.id,
        stage: beian::mail::Stage::PasswordChanged,
        recipient: "slow@example.com",
        recipient_name: None,
        language: None,
        filing_id: None,
        payload: json!({ "displayName": "测试" }),
    };
    beian::mail::outbox::enqueue(&app.db, &app.deps.keys, envelope).await.unwrap();
    let first = app.dispatcher.another();
    let sending = tokio::spawn(async move { first.run_once(chrono::Utc::now()).await.unwrap() });
    let arrived = sink.clone();
    eventually(10, "the message is at the relay", || {
        let arrived = arrived.clone();
        async move { !arrived.arrivals().is_empty() }
    })
    .await;
    // Well past the lease, while the relay still has not answered: the other dispatcher finds nothing to take.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let second = app.dispatcher.another().run_once(chrono::Utc::now()).await.unwrap();
    assert_eq!(second.claimed, 0, "the first dispatcher's claim was renewed while it sent");
    assert_eq!(sending.await.unwrap().sent, 1);
    assert_eq!(sink.arrivals().len(), 1, "sent once: {:?}", sink.arrivals());
}

#[tokio::test]
async fn traces_are_exported_over_otlp_and_continue_the_callers_trace() {
    use poem::listener::{Acceptor, Listener};
    // What the collector received: (content type, body) of each export.
    type Exports = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
    let received: Exports = Arc::default();
    let store = received.clone();
    let collector = poem::Route::new().at(
        "/v1/traces",
        poem::post(poem::endpoint::make(move |mut request: poem::Request| {
            let store = store.clone();
            async move {
                let content_type = request.header("content-type").unwrap_or_default().to_owned();
                let body = request.take_body().into_vec().await.unwrap();
                store.lock().unwrap().push((content_type, body));
                poem::http::StatusCode::OK
            }
        })),
    );
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(collector));

    let database = TestDatabase::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = replica_config(&database, 9);
    config.database.auto_migrate = Some(true);
    config.mail.dispatch = false;
    config.telemetry.otlp_endpoint = Some(format!("http://127.0.0.1:{port}"));
    config.telemetry.service_name = Some("beian-otlp-test".to_owned());
    let mut replica = Replica::start("traced", &config, dir.path()).await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", replica.address))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .header("x-request-id", "otlp-test-1")
        .json(&json!({ "query": "query Provinces { provinces { code } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "otlp-test-1", "the caller's request id is kept");
    // Shutting down flushes the batch.
    assert_eq!(replica.terminate(Duration::from_secs(20)).await.code(), Some(0));

    let exports = received.lock().unwrap().clone();
    assert!(!exports.is_empty(), "the collector received spans");
    let contains = |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    let trace_bytes: Vec<u8> = (0..16).map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap()).collect();
    assert!(exports.iter().all(|(content_type, _)| content_type == "application/x-protobuf"));
    assert!(exports.iter().any(|(_, body)| contains(body, b"beian-otlp-test")), "the service name");
    let request_span = exports.iter().find(|(_, body)| contains(body, b"otlp-test-1")).expect("the request's span");
    assert!(contains(&request_span.1, &trace_bytes), "the span continues the caller's trace");
    assert!(contains(&request_span.1, b"Provinces"), "the span names the GraphQL operation");
}

/// POSTs a GraphQL request to a replica; returns the JSON answer.
async fn graphql_at(address: &str, key: &str, query: &str, variables: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .bearer_auth(key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

async fn text_at(address: &str, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("{address}{path}")).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_replica_starts_without_its_store_serves_what_needs_no_file_and_recovers_when_the_store_appears() {
    use crate::attachments::{COMPLETE, REQUEST, png, upload_input};
    use crate::storage_outages::{TestStore, short_limits};
    let database = TestDatabase::new().await;
    // The test's own server migrates the database and sets the registrar up, then stops: the replica is alone.
    let control = spawn_app_on(database).await;
    let key = control.tenant("xinnet").await;
    let database = control.stop().await;
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens where the store should be.
    let store_address = free_address();
    let mut config = replica_config(&database, 9);
    config.mail.dispatch = false;
    short_limits(&mut config);
    config.storage.endpoint = Some(format!("http://{store_address}"));
    config.storage.access_key_id = Some(SecretString::from("beiantestaccess"));
    config.storage.secret_access_key = Some(SecretString::from("beian-test-secret"));
    config.storage.bucket = "beian".to_owned();
    let replica = Replica::start("storeless", &config, dir.path()).await;
    let address = replica.address.clone();

    let (status, body) = text_at(&address, "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready\nstorage: unavailable\n"));
    let (_, metrics) = text_at(&address, "/metrics").await;
    assert!(metrics.lines().any(|l| l == "beian_storage_up 0"), "{metrics}");
    // What needs no file works; what needs the store says so, retryably.
    let created = graphql_at(&address, &key, &CREATE, json!({ "input": filing_input("北京示例科技有限公司") })).await;
    let filing = created["data"]["createFiling"].clone();
    assert!(filing["id"].is_string(), "{created}");
    let bytes = png(1024);
    let upload = upload_input(&filing, "ID_CARD_FRONT", "front.png", "image/png", &bytes);
    let refused = graphql_at(&address, &key, REQUEST, upload.clone()).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "STORAGE_UNAVAILABLE", "{refused}");

    // The store appears where the replica expects it: the background check finds it (and creates the bucket).
    let _store = TestStore::start_on(store_address).await;
    eventually(15, "the replica reports the store up", || async {
        text_at(&address, "/readyz").await.1 == "ready\nstorage: up\n"
    })
    .await;
    let (_, metrics) = text_at(&address, "/metrics").await;
    assert!(metrics.lines().any(|l| l == "beian_storage_up 1"), "{metrics}");
    let ticket = graphql_at(&address, &key, REQUEST, upload).await["data"]["requestAttachmentUpload"].clone();
    let mut put = reqwest::Client::new().put(ticket["url"].as_str().expect("an upload URL"));
    for header in ticket["headers"].as_array().unwrap() {
        let name = header["name"].as_str().unwrap();
        if !name.eq_ignore_ascii_case("content-length") {
            put = put.header(name, header["value"].as_str().unwrap());
        }
    }
    assert_eq!(put.body(bytes).send().await.unwrap().status(), 200);
    let done = graphql_at(&address, &key, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await;
    assert_eq!(done["data"]["completeAttachmentUpload"]["status"], "UPLOADED", "{done}");
    let log = replica.log_lines().join("\n");
    assert!(log.contains("storage reachable"), "{log}");
}
