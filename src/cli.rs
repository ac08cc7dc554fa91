//! The `beian` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::mail::outbox;
use crate::services::ServiceError;
use crate::services::accounts;
use crate::services::tenants::{self, TenantStatus};
use crate::startup::{Application, shutdown_signal};
use crate::{db, graphql, telemetry};

mod migrate;

/// beian: the ICP filing (ICP备案) server for registrars.
#[derive(Parser, Debug)]
#[command(name = "beian", version, about, long_about = None)]
pub struct Cli {
    /// TOML configuration file (see deploy/beian.example.toml). Without it: the embedded defaults, then BEIAN_*
    /// environment variables.
    #[arg(long, short, env = "BEIAN_CONFIG", global = true)]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP server (GraphQL at /graphql, /healthz, /readyz).
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080, or `listen` in the configuration, or BEIAN_LISTEN].
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Apply pending database migrations and exit; or show (`status`), apply (`up`) or roll back (`down`)
    /// migrations one by one.
    Migrate {
        #[command(subcommand)]
        command: Option<migrate::MigrateCommand>,
    },
    /// Manage registrars (tenants).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Print the GraphQL schema (SDL) the server serves.
    Schema,
    /// Show the newest messages of the outbox (queued, sent, failed) with their contents.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Personal data at rest: keys, rotation, retention.
    #[command(subcommand)]
    Pii(PiiCommand),
    /// Tools for development and benchmarks.
    #[command(subcommand)]
    Dev(DevCommand),
}

#[derive(Subcommand, Debug)]
enum PiiCommand {
    /// Print a new random key (base64 of 32 bytes) for `pii.keys` or `pii.index_key`.
    GenerateKey,
    /// Reseal every personal value not sealed under `pii.current_key` (and values stored before sealing existed),
    /// and recompute the blind indexes. Run after making a new key current, then remove the old key. Safe to run
    /// while serving and to run again.
    Rotate,
    /// Purge now the personal data and files of drafts older than `pii.abandoned_draft_retention_days` (the
    /// server does this every `jobs.retention_interval_seconds`).
    Purge,
}

#[derive(Subcommand, Debug)]
enum DevCommand {
    /// Fill the (migrated) database with synthetic registrars and valid filings spread over the workflow's states,
    /// with websites, material metadata (no files) and events. Prints `slug<TAB>tenant id<TAB>API key` per
    /// registrar. Not for a production database.
    Seed {
        /// How many registrars.
        #[arg(long, default_value_t = 10)]
        tenants: u32,
        /// How many filings in all, spread evenly over the registrars.
        #[arg(long, default_value_t = 10_000)]
        filings: u64,
        /// Varies the data; the same seed gives the same filings.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Print generated, valid inputs of a mutation, one JSON object a line, in the GraphQL input shape (what
    /// `createFiling(input:)` accepts): the forms `dev seed` writes, numbered apart from the seeded filings. Needs
    /// no database.
    SampleInput {
        /// The mutation whose inputs to print.
        #[arg(value_enum)]
        kind: SampleKind,
        /// How many inputs, all different.
        #[arg(long, default_value_t = 1)]
        count: u64,
        /// Number of the first input; the default keeps their credit codes, domains, mobiles and emails apart from
        /// those of a seed of fewer than 15 million filings.
        #[arg(long, default_value_t = crate::seed::SAMPLE_START)]
        start: u64,
        /// Varies the people's data, as `dev seed --seed` does.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum SampleKind {
    /// `createFiling(input:)`: a Beijing enterprise with 1-3 websites.
    CreateFiling,
}

#[derive(Subcommand, Debug)]
enum OutboxCommand {
    /// List the newest messages with their status and contents.
    List {
        /// Only this registrar's messages.
        #[arg(long)]
        tenant: Option<String>,
        /// How many messages at most.
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
}

#[derive(Subcommand, Debug)]
enum TenantCommand {
    /// Create a registrar and print its id and a new API key (shown once; only its hash is stored).
    Create {
        /// Short unique name: 2-63 lower-case letters, digits and hyphens, e.g. `xinnet`.
        #[arg(long)]
        slug: String,
        /// Display name, e.g. "新网".
        #[arg(long)]
        name: String,
        /// Email of the tenant's first administrator: prints a one-time setup token with which they choose a
        /// password (GraphQL `completeAccountSetup`).
        #[arg(long)]
        admin_email: Option<String>,
    },
    /// List the registrars.
    List,
    /// Suspend a registrar: its API keys are refused until it is activated again.
    Suspend {
        /// The registrar's slug.
        slug: String,
    },
    /// Activate a suspended registrar.
    Activate {
        /// The registrar's slug.
        slug: String,
    },
    /// Keep a registrar's new materials in a bucket or under a key prefix of its own (files stored before stay).
    SetStorage {
        /// The registrar's slug.
        slug: String,
        /// Its own bucket (created on first use); empty: the configured bucket.
        #[arg(long)]
        bucket: Option<String>,
        /// Its own key prefix inside the bucket; empty: none.
        #[arg(long)]
        prefix: Option<String>,
    },
}

/// Runs the command line and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Schema = cli.command {
        print!("{}", graphql::sdl());
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    // Operator commands print their own results; only the server logs at the configured level by default.
    let mut log = config.log.clone();
    if !matches!(cli.command, Command::Serve { .. }) && log.filter == Config::default().log.filter {
        log.filter = "warn".to_owned();
    }
    // Only the server exports traces.
    let traces = match &cli.command {
        Command::Serve { .. } => config.telemetry.clone(),
        _ => Default::default(),
    };
    let telemetry = match telemetry::init(&log, &traces) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    // Once, by name only: the value may be a secret.
    for name in Config::ignored_environment_variables() {
        tracing::warn!(variable = %name, "ignoring an environment variable that names no setting");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli.command, config));
    // Blocking work still running (a stuck upload digest) must not keep the process from exiting.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            match error.downcast_ref::<db::DbSetupError>() {
                Some(setup) if setup.is_configuration() => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

async fn run(command: Command, mut config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { listen } => {
            if let Some(listen) = listen {
                config.listen = listen;
            }
            let app = Application::build(config).await?;
            app.run_until(shutdown_signal()).await?;
        }
        Command::Migrate { command } => migrate::run(command, config).await?,
        Command::Tenant(command) => tenant(command, &config).await?,
        Command::Dev(DevCommand::Seed { tenants, filings, seed }) => {
            let deps = connect(&config).await?;
            crate::seed::run(&deps, crate::seed::Options { tenants, filings, seed }).await?;
        }
        Command::Dev(DevCommand::SampleInput { kind: SampleKind::CreateFiling, count, start, seed }) => {
            use std::io::Write;
            anyhow::ensure!(
                start.checked_add(count).is_some_and(|end| end <= crate::seed::SAMPLE_END),
                "--start plus --count must stay within {} (beyond it credit codes repeat)",
                crate::seed::SAMPLE_END
            );
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for input in crate::seed::sample_create_filing_inputs(seed, start, count) {
                writeln!(out, "{input}")?;
            }
            out.flush()?;
        }
        Command::Outbox(OutboxCommand::List { tenant, limit }) => {
            let deps = connect(&config).await?;
            let tenant_id = match tenant {
                Some(slug) => Some(
                    tenants::list_tenants(&deps)
                        .await
                        .map_err(describe)?
                        .into_iter()
                        .find(|t| t.slug == slug)
                        .ok_or_else(|| anyhow::anyhow!("no such tenant"))?
                        .id,
                ),
                None => None,
            };
            let messages = outbox::latest(&deps.db, tenant_id, limit).await.map_err(|e| describe(e.into()))?;
            if messages.is_empty() {
                println!("no messages");
            }
            for m in messages {
                // Recorded phone codes keep their mobile sealed; the operator holds the keys.
                let recipient = deps.keys.open(m.tenant_id, &m.recipient).unwrap_or(m.recipient);
                println!(
                    "{}  {:<22} {:<7} attempts {}  to {}",
                    m.created_at.format("%Y-%m-%d %H:%M:%S"),
                    m.template,
                    m.status,
                    m.attempts,
                    recipient
                );
                if let Some(subject) = &m.subject {
                    println!("    subject: {subject}");
                }
                if let Some(error) = &m.last_error {
                    println!("    last error: {error}");
                }
                println!("    {}", m.payload);
            }
        }
        Command::Pii(command) => pii(command, &config).await?,
        Command::Schema => print!("{}", graphql::sdl()),
    }
    Ok(())
}

/// The database, ready, and what the services work with, as the server builds them.
async fn connect(config: &Config) -> anyhow::Result<crate::services::Deps> {
    let db = db::connect_ready(config).await?;
    crate::services::Deps::for_command(config, db).await
}

async fn pii(command: PiiCommand, config: &Config) -> anyhow::Result<()> {
    use crate::services::personal_data;
    match command {
        PiiCommand::GenerateKey => println!("{}", crate::pii::Keyring::generate_key()),
        PiiCommand::Rotate => {
            let deps = connect(config).await?;
            for table in personal_data::rotate(&deps).await.map_err(describe)? {
                println!("{:<16} {} row(s) resealed or re-indexed", table.table, table.rows);
            }
            println!("every personal value is sealed under key {:?}", deps.keys.current_key());
        }
        PiiCommand::Purge => {
            let deps = connect(config).await?;
            // The server starts without its store; a one-off purge with an unreachable store would only print "0".
            deps.storage.check().await?;
            let days = config.pii.abandoned_draft_retention_days;
            let purged = personal_data::purge_abandoned_drafts(&deps, days).await.map_err(describe)?;
            for p in &purged {
                println!("purged filing {} of tenant {}: {} material(s)", p.filing_id, p.tenant_id, p.attachments);
            }
            println!("{} draft(s) purged (retention {days} days)", purged.len());
        }
    }
    Ok(())
}

async fn tenant(command: TenantCommand, config: &Config) -> anyhow::Result<()> {
    let deps = connect(config).await?;
    match command {
        TenantCommand::Create { slug, name, admin_email } => {
            let created = tenants::create_tenant(&deps, &slug, &name).await.map_err(describe)?;
            println!("tenant created");
            println!("  id:      {}", created.tenant.id);
            println!("  slug:    {}", created.tenant.slug);
            println!("  name:    {}", created.tenant.name);
            println!("  api key: {}", created.api_key);
            if let Some(email) = admin_email {
                let (admin, token) =
                    accounts::create_first_admin(&deps, created.tenant.id, &email).await.map_err(describe)?;
                println!("  admin:   {}", admin.email);
                println!("  setup token: {token}");
                println!();
                println!("The administrator chooses a password with the GraphQL mutation");
                println!("  completeAccountSetup(token: \"<setup token>\", password: \"...\")");
                println!(
                    "within {} hours, then signs in with login(tenant: \"{}\", ...).",
                    config.auth.invitation_ttl_hours, created.tenant.slug
                );
            }
            println!();
            println!("Store the API key now: it is shown only once. Send it as `Authorization: Bearer <key>`.");
        }
        TenantCommand::List => {
            let list = tenants::list_tenants(&deps).await.map_err(describe)?;
            if list.is_empty() {
                println!("no tenants yet: create one with `beian tenant create --slug <slug> --name <name>`");
            }
            for t in list {
                println!("{:<24} {:<10} {}  {}  {}", t.slug, t.status, t.id, t.created_at.format("%Y-%m-%d"), t.name);
            }
        }
        TenantCommand::Suspend { slug } => {
            let t = tenants::set_tenant_status(&deps, &slug, TenantStatus::Suspended).await.map_err(describe)?;
            println!("tenant {} suspended: its API keys are refused", t.slug);
        }
        TenantCommand::SetStorage { slug, bucket, prefix } => {
            let non_empty = |v: Option<String>| v.filter(|v| !v.is_empty());
            let t = tenants::set_tenant_storage(&deps, &slug, non_empty(bucket), non_empty(prefix))
                .await
                .map_err(describe)?;
            println!("tenant {}: new materials go to its storage place (files stored before stay)", t.slug);
        }
        TenantCommand::Activate { slug } => {
            let t = tenants::set_tenant_status(&deps, &slug, TenantStatus::Active).await.map_err(describe)?;
            println!("tenant {} active", t.slug);
        }
    }
    Ok(())
}

/// A service error as an operator reads it on the terminal.
fn describe(error: ServiceError) -> anyhow::Error {
    match error {
        ServiceError::InvalidInput(fields) => {
            let lines: Vec<String> = fields.iter().map(|f| format!("--{}: {}", f.field, f.message)).collect();
            anyhow::anyhow!("{}", lines.join("; "))
        }
        ServiceError::NotFound => anyhow::anyhow!("no such tenant"),
        ServiceError::Internal(cause) => cause,
        other => anyhow::anyhow!("{other}"),
    }
}
