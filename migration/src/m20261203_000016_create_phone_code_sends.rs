//! Every phone code handed to the SMS sender, by registrar and mobile number (its blind index, never the number),
//! so the limits on codes per number and per registrar hold across hand-off links, restarts and replicas. Rows older
//! than the longest limit window (a day) are deleted as new codes are sent.
//!
//! On PostgreSQL the table gets the same forced row-level security policy as every tenant-owned table (000014).

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
                    .table(PhoneCodeSends::Table)
                    .col(pk_uuid(PhoneCodeSends::Id))
                    .col(uuid(PhoneCodeSends::TenantId))
                    // HMAC-SHA256 (hex) of the normalised mobile number under the blind-index key.
                    .col(string_len(PhoneCodeSends::MobileBidx, 64))
                    // The hand-off that asked (no foreign key: the count outlives a purged hand-off).
                    .col(uuid(PhoneCodeSends::SessionId))
                    // SENDING (handed to the sender, or a replica died meanwhile: counts), SENT, or FAILED (the
                    // gateway did not take it).
                    .col(string_len(PhoneCodeSends::Status, 16))
                    .col(timestamp_with_time_zone(PhoneCodeSends::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PhoneCodeSends::Table, PhoneCodeSends::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_phone_code_sends_tenant_mobile_created")
                    .table(PhoneCodeSends::Table)
                    .col(PhoneCodeSends::TenantId)
                    .col(PhoneCodeSends::MobileBidx)
                    .col(PhoneCodeSends::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_phone_code_sends_tenant_created")
                    .table(PhoneCodeSends::Table)
                    .col(PhoneCodeSends::TenantId)
                    .col(PhoneCodeSends::CreatedAt)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            let visible = "current_setting('beian.tenant', true) IN ('*', tenant_id::text)";
            manager
                .get_connection()
                .execute_unprepared(&format!(
                    "ALTER TABLE phone_code_sends ENABLE ROW LEVEL SECURITY;
                     ALTER TABLE phone_code_sends FORCE ROW LEVEL SECURITY;
                     CREATE POLICY tenant_isolation ON phone_code_sends USING ({visible}) WITH CHECK ({visible});"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PhoneCodeSends::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum PhoneCodeSends {
    Table,
    Id,
    TenantId,
    MobileBidx,
    SessionId,
    Status,
    CreatedAt,
}
