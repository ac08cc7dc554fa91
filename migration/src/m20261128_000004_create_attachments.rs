//! Attachments: the materials of a filing, stored in S3, with their upload state and review outcome.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Attachments::Table)
                    .col(pk_uuid(Attachments::Id))
                    .col(uuid(Attachments::TenantId))
                    .col(uuid(Attachments::FilingId))
                    .col(string_len(Attachments::Kind, 48))
                    // The website a material belongs to (its person, licence, domain); none for the subject's.
                    .col(uuid_null(Attachments::WebsiteId))
                    .col(string_len_null(Attachments::PreApprovalCategory, 48))
                    .col(string_len(Attachments::FileName, 255))
                    .col(string_len(Attachments::ContentType, 100))
                    .col(big_integer(Attachments::SizeBytes))
                    .col(string_len(Attachments::Sha256, 64))
                    .col(string_len(Attachments::ObjectKey, 1024))
                    // PENDING while the client uploads, UPLOADED once checked.
                    .col(string_len(Attachments::Status, 16))
                    .col(timestamp_with_time_zone(Attachments::UploadExpiresAt))
                    .col(timestamp_with_time_zone_null(Attachments::UploadedAt))
                    .col(uuid(Attachments::CreatedBy))
                    // ACCEPTED or NEEDS_REVISION once a reviewer looked at it.
                    .col(string_len_null(Attachments::ReviewStatus, 16))
                    .col(text_null(Attachments::ReviewReason))
                    .col(timestamp_with_time_zone(Attachments::CreatedAt))
                    .col(timestamp_with_time_zone(Attachments::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Attachments::Table, Attachments::FilingId)
                            .to(Filings::Table, Filings::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_attachments_tenant_filing")
                    .table(Attachments::Table)
                    .col(Attachments::TenantId)
                    .col(Attachments::FilingId)
                    .col(Attachments::Id)
                    .to_owned(),
            )
            .await?;
        // The cleanup of uploads never completed walks pending rows by expiry.
        manager
            .create_index(
                Index::create()
                    .name("idx_attachments_status_expiry")
                    .table(Attachments::Table)
                    .col(Attachments::Status)
                    .col(Attachments::UploadExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Attachments::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Filings {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Attachments {
    Table,
    Id,
    TenantId,
    FilingId,
    Kind,
    WebsiteId,
    PreApprovalCategory,
    FileName,
    ContentType,
    SizeBytes,
    Sha256,
    ObjectKey,
    Status,
    UploadExpiresAt,
    UploadedAt,
    CreatedBy,
    ReviewStatus,
    ReviewReason,
    CreatedAt,
    UpdatedAt,
}
