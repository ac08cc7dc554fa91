//! `beian migrate`: apply every pending migration, or show, apply and roll back migrations one by one.

use clap::Subcommand;

use crate::config::{Config, redact_url};
use crate::db::{self, migrations};

#[derive(Subcommand, Debug)]
pub enum MigrateCommand {
    /// List this version's migrations, applied (and when) or pending, and any applied migration it does not know
    /// (a newer version's).
    Status,
    /// Apply pending migrations in order: all of them, or the next N.
    Up {
        /// How many to apply [default: all pending].
        #[arg(value_parser = clap::value_parser!(u32).range(1..))]
        n: Option<u32>,
    },
    /// Roll back the last N applied migrations, newest first. This drops their tables and columns with their data:
    /// refused on a production database (one that holds a registrar `beian dev seed` did not create) unless
    /// --force is given.
    Down {
        /// How many to roll back.
        #[arg(value_parser = clap::value_parser!(u32).range(1..))]
        n: u32,
        /// Roll back even on a production database (back it up first).
        #[arg(long)]
        force: bool,
    },
}

/// Runs `beian migrate [command]` against the configured database, as its owner: without the personal-data keys,
/// holding the SQLite database's folder, with no statement time limit (a migration may rightly take long, e.g. an
/// index on a big table).
pub async fn run(command: Option<MigrateCommand>, mut config: Config) -> anyhow::Result<()> {
    // Not while a server holds the SQLite database's folder (it migrated at its start).
    let _lock = db::lock_data_dir(&config)?;
    config.database.statement_timeout_seconds = 0;
    let db = db::connect(&config).await?;
    let url = redact_url(&config.database_url());
    match command {
        None => {
            db::migrate(&db).await?;
            println!("migrations applied to {url}");
        }
        Some(MigrateCommand::Status) => print_status(&migrations::status(&db).await?, &url),
        Some(MigrateCommand::Up { n }) => {
            let applied = migrations::up(&db, n, |name| println!("applied      {name}")).await?;
            match applied {
                0 => println!("nothing to apply: {url} is up to date"),
                _ => println!("{applied} migration(s) applied to {url}"),
            }
        }
        Some(MigrateCommand::Down { n, force }) => {
            let registrars = migrations::production_registrars(&db).await?;
            if !registrars.is_empty() && !force {
                anyhow::bail!("{}", refusal(&registrars, n));
            }
            let rolled_back = migrations::down(&db, n, |name| println!("rolled back  {name}")).await?;
            match rolled_back {
                0 => println!("nothing to roll back: no migration is applied to {url}"),
                _ => println!("{rolled_back} migration(s) rolled back on {url}"),
            }
        }
    }
    Ok(())
}

fn refusal(registrars: &[String], n: u32) -> String {
    let mut named = registrars.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if registrars.len() > 3 {
        named.push_str(&format!(" and {} more", registrars.len() - 3));
    }
    format!(
        "refusing to roll back: this is a production database, it holds registrars `beian dev seed` did not create \
         ({named}). Rolling back drops tables and columns with their data. Back the database up, then run \
         `beian migrate down {n} --force` to roll back anyway"
    )
}

fn print_status(states: &[migrations::MigrationState], url: &str) {
    let width = states.iter().map(|m| m.name.len()).max().unwrap_or(0).max("MIGRATION".len());
    println!("{:<width$}  {:<8} APPLIED AT", "MIGRATION", "STATUS");
    for m in states {
        let status = if m.is_pending() { "pending" } else { "applied" };
        let at = m.applied_at.map(|at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default();
        let note = if m.known { "" } else { "  (not in this version: a newer one applied it)" };
        let line = format!("{:<width$}  {status:<8} {at}{note}", m.name);
        println!("{}", line.trim_end());
    }
    let pending = states.iter().filter(|m| m.is_pending()).count();
    let unknown = states.iter().filter(|m| !m.known).count();
    let known = states.len() - unknown;
    print!("{} of {known} migration(s) applied, {pending} pending", known - pending);
    if unknown > 0 {
        print!(", {unknown} applied by a newer version");
    }
    println!(" ({url})");
}
