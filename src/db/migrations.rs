//! The migrations of this build against a database, through sea-orm-migration's own machinery: which are applied
//! (and when), applying and rolling back a number of them, and whether a database holds data a rollback would
//! destroy (`beian migrate status | up | down`).

use chrono::{DateTime, Utc};
use migration::{Migrator, MigratorTrait, SchemaManager, seaql_migrations};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryOrder, Statement};

/// One migration as the database knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationState {
    pub name: String,
    /// When it was applied; none while pending.
    pub applied_at: Option<DateTime<Utc>>,
    /// Whether this build has it: an applied migration it does not have was applied by a newer version.
    pub known: bool,
}

impl MigrationState {
    pub fn is_pending(&self) -> bool {
        self.applied_at.is_none()
    }
}

/// Every migration of this build in order, applied or pending, then the applied ones this build does not know.
/// Read-only: a missing `seaql_migrations` table means nothing is applied, and nothing is created, so the server's
/// role (which may not create tables) can ask too. sea-orm-migration's own `get_migration_with_status` creates the
/// table first and fails on migrations it does not know, which must not stop an older replica (rolling update).
pub async fn status(db: &DatabaseConnection) -> Result<Vec<MigrationState>, DbErr> {
    let table = Migrator::migration_table_name().to_string();
    let recorded = if SchemaManager::new(db).has_table(&table).await? {
        seaql_migrations::Entity::find().order_by_asc(seaql_migrations::Column::Version).all(db).await?
    } else {
        Vec::new()
    };
    let applied_at = |name: &str| {
        recorded
            .iter()
            .find(|r| r.version == name)
            .map(|r| DateTime::from_timestamp(r.applied_at, 0).unwrap_or_default())
    };
    let known: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
    let mut states: Vec<MigrationState> = known
        .iter()
        .map(|name| MigrationState { name: name.clone(), applied_at: applied_at(name), known: true })
        .collect();
    states.extend(recorded.iter().filter(|r| !known.contains(&r.version)).map(|r| MigrationState {
        name: r.version.clone(),
        applied_at: applied_at(&r.version),
        known: false,
    }));
    Ok(states)
}

/// Applies the pending migrations in order, all or the first `steps`, each in a transaction of its own on
/// PostgreSQL; calls `applied` with each one's name once it is recorded. Returns how many were applied.
pub async fn up(db: &DatabaseConnection, steps: Option<u32>, mut applied: impl FnMut(&str)) -> Result<usize, DbErr> {
    let pending = Migrator::get_pending_migrations(db).await?;
    let count = steps.map_or(pending.len(), |n| pending.len().min(n as usize));
    for migration in &pending[..count] {
        Migrator::up(db, Some(1)).await?;
        applied(migration.name());
    }
    Ok(count)
}

/// Rolls back the last `steps` applied migrations, newest first; calls `rolled_back` with each one's name. Returns
/// how many were rolled back (fewer than `steps` when fewer are applied). Refuses, as sea-orm-migration does, when
/// the database has migrations this build does not know: their rollback is a newer version's to run.
pub async fn down(db: &DatabaseConnection, steps: u32, mut rolled_back: impl FnMut(&str)) -> Result<usize, DbErr> {
    let applied = Migrator::get_applied_migrations(db).await?;
    let count = applied.len().min(steps as usize);
    for migration in applied.iter().rev().take(count) {
        Migrator::down(db, Some(1)).await?;
        rolled_back(migration.name());
    }
    Ok(count)
}

/// The registrars (slugs) that make a database a production one, which `beian migrate down` leaves alone unless
/// forced: every registrar except those `beian dev seed` creates (slug `seed-<6 hex digits>-<number>`, name
/// `示例接入商 <number>`). Rolling back drops tables and columns, and their data with them; a database that holds
/// only the seed's synthetic registrars (or none) has nothing that cannot be seeded again. Every other
/// tenant-owned row (filings, accounts, files, mail) belongs to a registrar, so the registrars decide.
pub async fn production_registrars(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    if !SchemaManager::new(db).has_table("tenants").await? {
        return Ok(Vec::new());
    }
    let sql = "SELECT slug, name FROM tenants ORDER BY slug";
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await?;
    let mut registrars = Vec::new();
    for row in rows {
        let slug: String = row.try_get_by_index(0)?;
        let name: String = row.try_get_by_index(1)?;
        if !is_seed_registrar(&slug, &name) {
            registrars.push(slug);
        }
    }
    Ok(registrars)
}

/// Whether a registrar is one of `beian dev seed`'s (see `crate::seed::seed`).
fn is_seed_registrar(slug: &str, name: &str) -> bool {
    let numbered = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let seed_slug = slug.strip_prefix("seed-").and_then(|rest| rest.split_once('-')).is_some_and(|(run, n)| {
        run.len() == 6 && run.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) && numbered(n)
    });
    seed_slug && name.strip_prefix("示例接入商 ").is_some_and(numbered)
}

#[cfg(test)]
mod tests {
    use super::is_seed_registrar;

    #[test]
    fn only_the_seeds_registrars_are_seed_data() {
        assert!(is_seed_registrar("seed-0a1b2c-00", "示例接入商 00"));
        assert!(is_seed_registrar("seed-0a1b2c-123", "示例接入商 123"));
        assert!(!is_seed_registrar("seed-0a1b2c-00", "新网"), "a seed-like slug with a real name");
        assert!(!is_seed_registrar("xinnet", "示例接入商 00"));
        assert!(!is_seed_registrar("seed-0a1b2g-00", "示例接入商 00"));
        assert!(!is_seed_registrar("seed-0a1b2c-", "示例接入商 00"));
        assert!(!is_seed_registrar("seed-0a1b2c-01-x", "示例接入商 01"));
        assert!(!is_seed_registrar("seed", "示例接入商 01"));
    }
}
