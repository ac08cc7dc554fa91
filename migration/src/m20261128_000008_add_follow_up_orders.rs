//! Orders beyond the first filing: an order can amend a filed record (`base_filing_id`), the record it replaced
//! points at its successor once the bureau approved (`superseded_by_id`), and each website says what the order does
//! with it (`operation`) and which filed website it continues (`base_website_id`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [uuid_null(Filings::BaseFilingId), uuid_null(Filings::SupersededById)] {
            manager.alter_table(Table::alter().table(Filings::Table).add_column(column).to_owned()).await?;
        }
        // Orders of one record: the open-order check and "what became of this record" both look them up.
        manager
            .create_index(
                Index::create()
                    .name("idx_filings_tenant_base")
                    .table(Filings::Table)
                    .col(Filings::TenantId)
                    .col(Filings::BaseFilingId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Websites::Table)
                    // NEW, CARRIED, CANCEL or CANCEL_ACCESS; every website filed so far was new.
                    .add_column(string_len(Websites::Operation, 16).default("NEW").to_owned())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(Websites::Table).add_column(uuid_null(Websites::BaseWebsiteId)).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Websites::BaseWebsiteId, Websites::Operation] {
            manager.alter_table(Table::alter().table(Websites::Table).drop_column(column).to_owned()).await?;
        }
        manager.drop_index(Index::drop().name("idx_filings_tenant_base").table(Filings::Table).to_owned()).await?;
        for column in [Filings::SupersededById, Filings::BaseFilingId] {
            manager.alter_table(Table::alter().table(Filings::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Filings {
    Table,
    TenantId,
    BaseFilingId,
    SupersededById,
}

#[derive(DeriveIden, Clone, Copy)]
enum Websites {
    Table,
    Operation,
    BaseWebsiteId,
}
