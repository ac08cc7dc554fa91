//! The review workflow: who reviews a filing, the MIIT SMS check per responsible person with its deadline, ICP
//! numbers, and structured details (rejection reasons, decisions) on audit events.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            uuid_null(Filings::ReviewerId),
            timestamp_with_time_zone_null(Filings::SubmittedAt),
            timestamp_with_time_zone_null(Filings::SmsDeadlineAt),
            string_len_null(Filings::IcpNumber, 64),
        ] {
            manager.alter_table(Table::alter().table(Filings::Table).add_column(column).to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter().table(Websites::Table).add_column(string_len_null(Websites::IcpNumber, 64)).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(FilingEvents::Table)
                    .add_column(json_binary_null(FilingEvents::Details))
                    .to_owned(),
            )
            .await?;
        // The deadline job walks filings in the SMS step by deadline.
        manager
            .create_index(
                Index::create()
                    .name("idx_filings_status_sms_deadline")
                    .table(Filings::Table)
                    .col(Filings::Status)
                    .col(Filings::SmsDeadlineAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SmsChecks::Table)
                    .col(pk_uuid(SmsChecks::Id))
                    .col(uuid(SmsChecks::TenantId))
                    .col(uuid(SmsChecks::FilingId))
                    // Which person: the subject's responsible person (no website) or a website's.
                    .col(uuid_null(SmsChecks::WebsiteId))
                    .col(string_len(SmsChecks::PersonName, 100))
                    .col(string_len(SmsChecks::Mobile, 32))
                    // PENDING, CONFIRMED or FAILED.
                    .col(string_len(SmsChecks::Status, 16))
                    .col(integer(SmsChecks::Failures))
                    .col(timestamp_with_time_zone(SmsChecks::CreatedAt))
                    .col(timestamp_with_time_zone(SmsChecks::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SmsChecks::Table, SmsChecks::FilingId)
                            .to(Filings::Table, Filings::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sms_checks_tenant_filing")
                    .table(SmsChecks::Table)
                    .col(SmsChecks::TenantId)
                    .col(SmsChecks::FilingId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(SmsChecks::Table).to_owned()).await?;
        manager
            .drop_index(Index::drop().name("idx_filings_status_sms_deadline").table(Filings::Table).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(FilingEvents::Table).drop_column(FilingEvents::Details).to_owned())
            .await?;
        manager.alter_table(Table::alter().table(Websites::Table).drop_column(Websites::IcpNumber).to_owned()).await?;
        for column in [Filings::IcpNumber, Filings::SmsDeadlineAt, Filings::SubmittedAt, Filings::ReviewerId] {
            manager.alter_table(Table::alter().table(Filings::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Filings {
    Table,
    Id,
    Status,
    ReviewerId,
    SubmittedAt,
    SmsDeadlineAt,
    IcpNumber,
}

#[derive(DeriveIden)]
enum Websites {
    Table,
    IcpNumber,
}

#[derive(DeriveIden)]
enum FilingEvents {
    Table,
    Details,
}

#[derive(DeriveIden)]
enum SmsChecks {
    Table,
    Id,
    TenantId,
    FilingId,
    WebsiteId,
    PersonName,
    Mobile,
    Status,
    Failures,
    CreatedAt,
    UpdatedAt,
}
