//! The mobile hand-off: a short-lived session that lets one person's phone do that person's verification steps of
//! one filing (the phone code first), and the codes sent to the phone.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MobileSessions::Table)
                    .col(pk_uuid(MobileSessions::Id))
                    .col(uuid(MobileSessions::TenantId))
                    .col(uuid(MobileSessions::FilingId))
                    // Whose steps: the subject's responsible person (no website) or a website's.
                    .col(uuid_null(MobileSessions::WebsiteId))
                    .col(string_len(MobileSessions::PersonName, 100))
                    .col(string_len(MobileSessions::Mobile, 32))
                    // SHA-256 of the token; the token itself is shown once.
                    .col(string_len_uniq(MobileSessions::TokenHash, 64))
                    .col(string_len(MobileSessions::TokenPrefix, 16))
                    .col(timestamp_with_time_zone(MobileSessions::ExpiresAt))
                    .col(timestamp_with_time_zone_null(MobileSessions::RevokedAt))
                    .col(timestamp_with_time_zone_null(MobileSessions::PhoneVerifiedAt))
                    // The phone code in flight: its hash, when it expires, guesses and sends so far.
                    .col(string_len_null(MobileSessions::CodeHash, 64))
                    .col(timestamp_with_time_zone_null(MobileSessions::CodeExpiresAt))
                    .col(timestamp_with_time_zone_null(MobileSessions::CodeSentAt))
                    .col(integer(MobileSessions::CodeAttempts).default(0).to_owned())
                    .col(integer(MobileSessions::CodesSent).default(0).to_owned())
                    .col(uuid_null(MobileSessions::CreatedBy))
                    .col(timestamp_with_time_zone(MobileSessions::CreatedAt))
                    .col(timestamp_with_time_zone(MobileSessions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(MobileSessions::Table, MobileSessions::FilingId)
                            .to(Filings::Table, Filings::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_mobile_sessions_tenant_filing")
                    .table(MobileSessions::Table)
                    .col(MobileSessions::TenantId)
                    .col(MobileSessions::FilingId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(MobileSessions::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Filings {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum MobileSessions {
    Table,
    Id,
    TenantId,
    FilingId,
    WebsiteId,
    PersonName,
    Mobile,
    TokenHash,
    TokenPrefix,
    ExpiresAt,
    RevokedAt,
    PhoneVerifiedAt,
    CodeHash,
    CodeExpiresAt,
    CodeSentAt,
    CodeAttempts,
    CodesSent,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}
