//! Mail that keeps failing for now (an unreachable relay) was parked as failed after a fixed number of attempts,
//! about an hour with the defaults: a relay outage of an afternoon lost the day's mail to the FAILED list. Messages
//! are now retried for a period (`mail.retry_for_hours`) counted from their first failure, which this column keeps.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OutboxMessages::Table)
                    .add_column(ColumnDef::new(OutboxMessages::RetryingSince).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(OutboxMessages::Table).drop_column(OutboxMessages::RetryingSince).to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum OutboxMessages {
    Table,
    RetryingSince,
}
