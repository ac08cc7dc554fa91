//! The change feed (`filingEvents`) pages through a registrar's events in an order that never changes once a reader
//! has seen it. On PostgreSQL an event's id, time or a sequence number alone is not such an order: two
//! transactions take numbers 10 and 11, the one with 11 commits first, a reader pages past 11, and 10 appears later
//! behind its cursor. So each event also records its transaction (`txid`, a 64-bit `xid8` that never wraps), the
//! feed is ordered by `(txid, seq)`, and it shows only events of transactions older than the oldest one still
//! running (`pg_snapshot_xmin(pg_current_snapshot())`): every later event belongs to a transaction that is newer
//! still, so it sorts after whatever a reader has already seen. SQLite has one writer at a time, so its row ids
//! already grow in commit order: nothing to add there.
//!
//! `filings(filter: { updatedAfter })` asks for the filings with an event since a time: an index on
//! `(tenant_id, created_at)` answers it on both databases.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_filing_events_tenant_time")
                    .table(FilingEvents::Table)
                    .col(FilingEvents::TenantId)
                    .col(FilingEvents::CreatedAt)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE filing_events
                     ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY,
                     ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
                 CREATE INDEX idx_filing_events_feed ON filing_events (tenant_id, txid, seq);",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("idx_filing_events_tenant_time").table(FilingEvents::Table).to_owned())
            .await?;
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "DROP INDEX IF EXISTS idx_filing_events_feed;
                 ALTER TABLE filing_events DROP COLUMN IF EXISTS txid, DROP COLUMN IF EXISTS seq;",
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum FilingEvents {
    Table,
    TenantId,
    CreatedAt,
}
