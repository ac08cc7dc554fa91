//! Tenant isolation in the database too (PostgreSQL): row-level security on every tenant-owned table. A row is
//! visible and writable only when the session setting `beian.tenant` names its registrar, or is `*` (the server
//! itself); with the setting absent nothing is. FORCE makes the policies bind the tables' owner as well, so only a
//! superuser or a role with BYPASSRLS, which the application must not be, gets around them. The server writes the
//! setting on every checkout of a connection (`beian::db`). SQLite has no row-level security: nothing to do there.
//!
//! A table added later with a `tenant_id` column needs the same (a test fails until it has it).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each table and the column naming its registrar.
pub const TENANT_OWNED: &[(&str, &str)] = &[
    ("tenants", "id"),
    ("accounts", "tenant_id"),
    ("account_tokens", "tenant_id"),
    ("sessions", "tenant_id"),
    ("api_keys", "tenant_id"),
    ("filings", "tenant_id"),
    ("filing_subjects", "tenant_id"),
    ("websites", "tenant_id"),
    ("filing_events", "tenant_id"),
    ("attachments", "tenant_id"),
    ("outbox_messages", "tenant_id"),
    ("mail_templates", "tenant_id"),
    ("sms_checks", "tenant_id"),
    ("mobile_sessions", "tenant_id"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (table, column) in TENANT_OWNED {
            let visible = format!("current_setting('beian.tenant', true) IN ('*', {column}::text)");
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
                 ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
                 CREATE POLICY tenant_isolation ON {table} USING ({visible}) WITH CHECK ({visible});"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (table, _) in TENANT_OWNED {
            db.execute_unprepared(&format!(
                "DROP POLICY IF EXISTS tenant_isolation ON {table};
                 ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;
                 ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;"
            ))
            .await?;
        }
        Ok(())
    }
}
