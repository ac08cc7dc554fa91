//! Every filing event is announced (PostgreSQL): a trigger on `filing_events` notifies the `beian_filing_changed`
//! channel with `tenant:filing` for each row written. PostgreSQL delivers a notification issued in a transaction
//! only when that transaction commits, so subscribers on every replica hear exactly the changes that happened, from
//! whichever code path wrote the event. SQLite, a single process, has no NOTIFY: the server reads new events by
//! row id instead (`beian::changes`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE FUNCTION beian_announce_filing_event() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     PERFORM pg_notify('beian_filing_changed', NEW.tenant_id::text || ':' || NEW.filing_id::text);
                     RETURN NULL;
                 END $$;
                 CREATE TRIGGER announce_filing_event AFTER INSERT ON filing_events
                     FOR EACH ROW EXECUTE FUNCTION beian_announce_filing_event();",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "DROP TRIGGER IF EXISTS announce_filing_event ON filing_events;
                 DROP FUNCTION IF EXISTS beian_announce_filing_event();",
            )
            .await?;
        Ok(())
    }
}
