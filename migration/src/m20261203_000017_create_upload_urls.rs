//! Every key a presigned upload URL was issued for, until the store holds nothing there any more. A checked file is
//! copied to a key of its own, so what the URL writes later (until it expires) must be removed after it expired,
//! whatever became of the attachment (completed, replaced, deleted, purged): this table outlives the attachment row.

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
                    .table(UploadUrls::Table)
                    .col(pk_uuid(UploadUrls::Id))
                    .col(uuid(UploadUrls::TenantId))
                    .col(uuid(UploadUrls::AttachmentId))
                    .col(string_len(UploadUrls::Bucket, 63))
                    .col(string_len(UploadUrls::ObjectKey, 1024))
                    .col(timestamp_with_time_zone(UploadUrls::ExpiresAt))
                    .col(timestamp_with_time_zone(UploadUrls::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_upload_urls_expires_at")
                    .table(UploadUrls::Table)
                    .col(UploadUrls::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        // Tenant-owned: the same forced row-level security as every other such table (migration 000014).
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            let visible = "current_setting('beian.tenant', true) IN ('*', tenant_id::text)";
            manager
                .get_connection()
                .execute_unprepared(&format!(
                    "ALTER TABLE upload_urls ENABLE ROW LEVEL SECURITY;
                     ALTER TABLE upload_urls FORCE ROW LEVEL SECURITY;
                     CREATE POLICY tenant_isolation ON upload_urls USING ({visible}) WITH CHECK ({visible});"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(UploadUrls::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum UploadUrls {
    Table,
    Id,
    TenantId,
    AttachmentId,
    Bucket,
    ObjectKey,
    ExpiresAt,
    CreatedAt,
}
