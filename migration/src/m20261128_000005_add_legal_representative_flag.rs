//! Whether an organisation's responsible person is its legal representative: when not, the filing needs the
//! legal representative's authorisation (法人授权书).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FilingSubjects::Table)
                    .add_column(boolean(FilingSubjects::RpIsLegalRepresentative).default(true).to_owned())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FilingSubjects::Table)
                    .drop_column(FilingSubjects::RpIsLegalRepresentative)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum FilingSubjects {
    Table,
    RpIsLegalRepresentative,
}
