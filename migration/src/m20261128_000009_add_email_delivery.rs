//! Email delivery: the outbox grows what a dispatcher needs (attempts, the next attempt, a lease, the Message-ID,
//! what was sent), notifications name their filing and language, registrars get their branding and template
//! overrides, accounts a preferred language, and filings remember whether the SMS reminder went out.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            uuid_null(OutboxMessages::FilingId),
            string_len_null(OutboxMessages::RecipientName, 200),
            // ZH or EN; none: both languages.
            string_len_null(OutboxMessages::Language, 8),
            integer(OutboxMessages::Attempts).default(0).to_owned(),
            // When the next attempt is due; none: at once.
            timestamp_with_time_zone_null(OutboxMessages::NextAttemptAt),
            // A dispatcher's claim: until when, and whose.
            timestamp_with_time_zone_null(OutboxMessages::LockedUntil),
            string_len_null(OutboxMessages::LockedBy, 64),
            string_len_null(OutboxMessages::MessageId, 255),
            timestamp_with_time_zone_null(OutboxMessages::SentAt),
            text_null(OutboxMessages::LastError),
            // What went out, rendered at the first attempt.
            string_len_null(OutboxMessages::Subject, 998),
            text_null(OutboxMessages::BodyText),
            text_null(OutboxMessages::BodyHtml),
            timestamp_with_time_zone_null(OutboxMessages::UpdatedAt),
        ] {
            manager.alter_table(Table::alter().table(OutboxMessages::Table).add_column(column).to_owned()).await?;
        }
        // The dispatcher looks for due messages; staff read a filing's notifications.
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_status_next_attempt")
                    .table(OutboxMessages::Table)
                    .col(OutboxMessages::Status)
                    .col(OutboxMessages::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_tenant_filing")
                    .table(OutboxMessages::Table)
                    .col(OutboxMessages::TenantId)
                    .col(OutboxMessages::FilingId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_tenant_id")
                    .table(OutboxMessages::Table)
                    .col(OutboxMessages::TenantId)
                    .col(OutboxMessages::Id)
                    .to_owned(),
            )
            .await?;

        for column in [
            string_len_null(Tenants::MailSenderName, 200),
            string_len_null(Tenants::MailSenderAddress, 254),
            string_len_null(Tenants::MailReplyTo, 254),
            text_null(Tenants::MailSignature),
            string_len_null(Tenants::SupportContact, 300),
        ] {
            manager.alter_table(Table::alter().table(Tenants::Table).add_column(column).to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .add_column(string_len_null(Accounts::PreferredLanguage, 8))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Filings::Table)
                    .add_column(timestamp_with_time_zone_null(Filings::SmsRemindedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MailTemplates::Table)
                    .col(pk_uuid(MailTemplates::Id))
                    .col(uuid(MailTemplates::TenantId))
                    .col(string_len(MailTemplates::Stage, 48))
                    .col(string_len(MailTemplates::Language, 8))
                    .col(string_len(MailTemplates::Subject, 998))
                    .col(text(MailTemplates::Body))
                    .col(timestamp_with_time_zone(MailTemplates::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_mail_templates_tenant_stage_language")
                    .table(MailTemplates::Table)
                    .col(MailTemplates::TenantId)
                    .col(MailTemplates::Stage)
                    .col(MailTemplates::Language)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(MailTemplates::Table).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(Filings::Table).drop_column(Filings::SmsRemindedAt).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(Accounts::Table).drop_column(Accounts::PreferredLanguage).to_owned())
            .await?;
        for column in [
            Tenants::SupportContact,
            Tenants::MailSignature,
            Tenants::MailReplyTo,
            Tenants::MailSenderAddress,
            Tenants::MailSenderName,
        ] {
            manager.alter_table(Table::alter().table(Tenants::Table).drop_column(column).to_owned()).await?;
        }
        for index in ["idx_outbox_tenant_id", "idx_outbox_tenant_filing", "idx_outbox_status_next_attempt"] {
            manager.drop_index(Index::drop().name(index).table(OutboxMessages::Table).to_owned()).await?;
        }
        for column in [
            OutboxMessages::UpdatedAt,
            OutboxMessages::BodyHtml,
            OutboxMessages::BodyText,
            OutboxMessages::Subject,
            OutboxMessages::LastError,
            OutboxMessages::SentAt,
            OutboxMessages::MessageId,
            OutboxMessages::LockedBy,
            OutboxMessages::LockedUntil,
            OutboxMessages::NextAttemptAt,
            OutboxMessages::Attempts,
            OutboxMessages::Language,
            OutboxMessages::RecipientName,
            OutboxMessages::FilingId,
        ] {
            manager.alter_table(Table::alter().table(OutboxMessages::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum OutboxMessages {
    Table,
    TenantId,
    Id,
    Status,
    FilingId,
    RecipientName,
    Language,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LockedBy,
    MessageId,
    SentAt,
    LastError,
    Subject,
    BodyText,
    BodyHtml,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    MailSenderName,
    MailSenderAddress,
    MailReplyTo,
    MailSignature,
    SupportContact,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    PreferredLanguage,
}

#[derive(DeriveIden)]
enum Filings {
    Table,
    SmsRemindedAt,
}

#[derive(DeriveIden)]
enum MailTemplates {
    Table,
    Id,
    TenantId,
    Stage,
    Language,
    Subject,
    Body,
    UpdatedAt,
}
