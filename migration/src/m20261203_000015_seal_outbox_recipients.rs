//! The outbox kept every recipient's address in clear, responsible persons' included, although their emails are
//! sealed everywhere else. Recipients are now sealed like other personal data; `recipient_index` (a blind index of
//! the lower-cased address) lets the mail list be filtered by address. Rows written before are sealed by
//! `beian pii rotate`.

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
                    .add_column(ColumnDef::new(OutboxMessages::RecipientIndex).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_messages_tenant_recipient_index")
                    .table(OutboxMessages::Table)
                    .col(OutboxMessages::TenantId)
                    .col(OutboxMessages::RecipientIndex)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_outbox_messages_tenant_recipient_index")
                    .table(OutboxMessages::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(OutboxMessages::Table).drop_column(OutboxMessages::RecipientIndex).to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum OutboxMessages {
    Table,
    TenantId,
    RecipientIndex,
}
