//! Webhooks: the endpoints a registrar registers, and one delivery row per event and endpoint.
//!
//! The delivery rows are written by a trigger on `filing_events`, so they are part of the transaction that writes
//! the event, whichever code path wrote it: an event that commits has its deliveries, a rolled-back one has none,
//! and nothing is lost when a process dies after the commit. Each row keeps the event's place in the change feed
//! (`event_txid`, `event_seq`: migration 000023 on PostgreSQL; 0 and the row id on SQLite) so one filing's deliveries
//! go out in the feed's order.
//!
//! On PostgreSQL both tables get the forced row-level security policy of every tenant-owned table (000014); the
//! trigger runs with the writer's scope, which is the event's registrar.

use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(pk_uuid(WebhookEndpoints::Id))
                    .col(uuid(WebhookEndpoints::TenantId))
                    .col(string_len(WebhookEndpoints::Url, 2048))
                    .col(string_len(WebhookEndpoints::Description, 200))
                    .col(json_binary(WebhookEndpoints::EventTypes))
                    .col(boolean(WebhookEndpoints::Enabled))
                    .col(string_len_null(WebhookEndpoints::DisabledReason, 500))
                    .col(text(WebhookEndpoints::Secret))
                    .col(text_null(WebhookEndpoints::PreviousSecret))
                    .col(timestamp_with_time_zone_null(WebhookEndpoints::PreviousSecretExpiresAt))
                    .col(timestamp_with_time_zone_null(WebhookEndpoints::FailingSince))
                    .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookEndpoints::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookEndpoints::Table, WebhookEndpoints::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_endpoints_tenant")
                    .table(WebhookEndpoints::Table)
                    .col(WebhookEndpoints::TenantId)
                    .col(WebhookEndpoints::Enabled)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(pk_uuid(WebhookDeliveries::Id))
                    .col(uuid(WebhookDeliveries::TenantId))
                    .col(uuid(WebhookDeliveries::EndpointId))
                    .col(uuid_null(WebhookDeliveries::EventId))
                    .col(uuid_null(WebhookDeliveries::FilingId))
                    .col(string_len(WebhookDeliveries::EventType, 64))
                    .col(big_integer(WebhookDeliveries::EventTxid))
                    .col(big_integer(WebhookDeliveries::EventSeq))
                    .col(string_len(WebhookDeliveries::Status, 16))
                    .col(integer(WebhookDeliveries::Attempts))
                    .col(timestamp_with_time_zone(WebhookDeliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::LockedUntil))
                    .col(string_len_null(WebhookDeliveries::LockedBy, 64))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::LastAttemptAt))
                    .col(integer_null(WebhookDeliveries::LastStatusCode))
                    .col(string_len_null(WebhookDeliveries::LastError, 500))
                    .col(integer_null(WebhookDeliveries::LastLatencyMs))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::DeliveredAt))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookDeliveries::Table, WebhookDeliveries::EndpointId)
                            .to(WebhookEndpoints::Table, WebhookEndpoints::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The dispatcher's look for due deliveries.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_due")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // One filing's deliveries to one endpoint, in order (only the first pending one goes out).
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_order")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::EndpointId)
                    .col(WebhookDeliveries::FilingId)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::EventTxid)
                    .col(WebhookDeliveries::EventSeq)
                    .to_owned(),
            )
            .await?;
        // An endpoint's delivery log, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_log")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::EndpointId)
                    .col(WebhookDeliveries::CreatedAt)
                    .col(WebhookDeliveries::Id)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            let visible = "current_setting('beian.tenant', true) IN ('*', tenant_id::text)";
            for table in ["webhook_endpoints", "webhook_deliveries"] {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
                     ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
                     CREATE POLICY tenant_isolation ON {table} USING ({visible}) WITH CHECK ({visible});"
                ))
                .await?;
            }
            db.execute_unprepared(
                "CREATE FUNCTION beian_queue_webhook_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, filing_id, event_type,
                         event_txid, event_seq, status, attempts, next_attempt_at, created_at)
                     SELECT gen_random_uuid(), NEW.tenant_id, e.id, NEW.id, NEW.filing_id, NEW.action,
                         NEW.txid::text::bigint, NEW.seq, 'PENDING', 0, NEW.created_at, NEW.created_at
                     FROM webhook_endpoints e
                     WHERE e.tenant_id = NEW.tenant_id AND e.enabled
                         AND (jsonb_array_length(e.event_types) = 0 OR e.event_types @> jsonb_build_array(NEW.action));
                     RETURN NULL;
                 END $$;
                 CREATE TRIGGER queue_webhook_deliveries AFTER INSERT ON filing_events
                     FOR EACH ROW EXECUTE FUNCTION beian_queue_webhook_deliveries();",
            )
            .await?;
        } else {
            // A delivery's id is 16 random bytes, as the server stores UUIDs in SQLite.
            db.execute_unprepared(
                "CREATE TRIGGER queue_webhook_deliveries AFTER INSERT ON filing_events BEGIN
                     INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, filing_id, event_type,
                         event_txid, event_seq, status, attempts, next_attempt_at, created_at)
                     SELECT randomblob(16), NEW.tenant_id, e.id, NEW.id, NEW.filing_id, NEW.action,
                         0, NEW.rowid, 'PENDING', 0, NEW.created_at, NEW.created_at
                     FROM webhook_endpoints e
                     WHERE e.tenant_id = NEW.tenant_id AND e.enabled
                         AND (json_array_length(e.event_types) = 0
                              OR EXISTS (SELECT 1 FROM json_each(e.event_types) WHERE value = NEW.action));
                 END;",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared(
                "DROP TRIGGER IF EXISTS queue_webhook_deliveries ON filing_events;
                 DROP FUNCTION IF EXISTS beian_queue_webhook_deliveries();",
            )
            .await?;
        } else {
            db.execute_unprepared("DROP TRIGGER IF EXISTS queue_webhook_deliveries;").await?;
        }
        manager.drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(WebhookEndpoints::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    TenantId,
    Url,
    Description,
    EventTypes,
    Enabled,
    DisabledReason,
    Secret,
    PreviousSecret,
    PreviousSecretExpiresAt,
    FailingSince,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    TenantId,
    EndpointId,
    EventId,
    FilingId,
    EventType,
    EventTxid,
    EventSeq,
    Status,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LockedBy,
    LastAttemptAt,
    LastStatusCode,
    LastError,
    LastLatencyMs,
    DeliveredAt,
    CreatedAt,
}
