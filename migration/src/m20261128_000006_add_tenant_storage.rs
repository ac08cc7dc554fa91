//! A tenant may keep its materials in a bucket of its own, or under a prefix of its own; attachments remember
//! the bucket they went to, so changing a tenant's bucket leaves earlier files reachable.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Tenants::Table).add_column(string_len_null(Tenants::StorageBucket, 63)).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(string_len_null(Tenants::StoragePrefix, 200))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Attachments::Table)
                    .add_column(string_len_null(Attachments::Bucket, 63))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Attachments::Table).drop_column(Attachments::Bucket).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(Tenants::Table).drop_column(Tenants::StoragePrefix).to_owned())
            .await?;
        manager.alter_table(Table::alter().table(Tenants::Table).drop_column(Tenants::StorageBucket).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    StorageBucket,
    StoragePrefix,
}

#[derive(DeriveIden)]
enum Attachments {
    Table,
    Bucket,
}
