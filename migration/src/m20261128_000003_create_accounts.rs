//! Accounts (applicants and registrar staff), their sessions and one-time tokens, API key scopes, filing owners,
//! tenant settings, and the outbox where messages to people wait for delivery.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        let add_column = |table: Tenants, column: ColumnDef| Table::alter().table(table).add_column(column).to_owned();
        manager.alter_table(add_column(Tenants::Table, boolean(Tenants::OpenSignup).default(true).to_owned())).await?;
        manager.alter_table(add_column(Tenants::Table, string_len_null(Tenants::FrontendBaseUrl, 2048))).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .add_column(string_len(ApiKeys::Scope, 16).default("FULL").to_owned())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(Table::alter().table(Filings::Table).add_column(uuid_null(Filings::OwnerAccountId)).to_owned())
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_filings_tenant_owner_id")
                    .table(Filings::Table)
                    .col(Filings::TenantId)
                    .col(Filings::OwnerAccountId)
                    .col(Filings::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(pk_uuid(Accounts::Id))
                    .col(uuid(Accounts::TenantId))
                    // Lower-cased; unique per tenant, not globally: a person may file with two registrars.
                    .col(string_len(Accounts::Email, 254))
                    .col(string_len_null(Accounts::PasswordHash, 255))
                    .col(string_len(Accounts::DisplayName, 100))
                    .col(string_len(Accounts::Role, 16))
                    .col(string_len(Accounts::Status, 16))
                    .col(timestamp_with_time_zone(Accounts::CreatedAt))
                    .col(timestamp_with_time_zone(Accounts::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create().from(Accounts::Table, Accounts::TenantId).to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_accounts_tenant_email")
                    .table(Accounts::Table)
                    .col(Accounts::TenantId)
                    .col(Accounts::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_accounts_tenant_id")
                    .table(Accounts::Table)
                    .col(Accounts::TenantId)
                    .col(Accounts::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(pk_uuid(Sessions::Id))
                    .col(uuid(Sessions::TenantId))
                    .col(uuid(Sessions::AccountId))
                    // Every refresh token descends from one login; a replayed token revokes its whole family.
                    .col(uuid(Sessions::FamilyId))
                    .col(string_len_uniq(Sessions::TokenHash, 64))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Sessions::RotatedAt))
                    .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_tenant_account")
                    .table(Sessions::Table)
                    .col(Sessions::TenantId)
                    .col(Sessions::AccountId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("idx_sessions_family").table(Sessions::Table).col(Sessions::FamilyId).to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccountTokens::Table)
                    .col(pk_uuid(AccountTokens::Id))
                    .col(uuid(AccountTokens::TenantId))
                    .col(uuid(AccountTokens::AccountId))
                    .col(string_len(AccountTokens::Purpose, 32))
                    .col(string_len_uniq(AccountTokens::TokenHash, 64))
                    .col(timestamp_with_time_zone(AccountTokens::CreatedAt))
                    .col(timestamp_with_time_zone(AccountTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(AccountTokens::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AccountTokens::Table, AccountTokens::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_account_tokens_tenant_account")
                    .table(AccountTokens::Table)
                    .col(AccountTokens::TenantId)
                    .col(AccountTokens::AccountId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OutboxMessages::Table)
                    .col(pk_uuid(OutboxMessages::Id))
                    .col(uuid(OutboxMessages::TenantId))
                    .col(string_len(OutboxMessages::Template, 64))
                    .col(string_len(OutboxMessages::Recipient, 254))
                    .col(json_binary(OutboxMessages::Payload))
                    .col(string_len(OutboxMessages::Status, 16))
                    .col(timestamp_with_time_zone(OutboxMessages::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_messages_tenant_id")
                    .table(OutboxMessages::Table)
                    .col(OutboxMessages::TenantId)
                    .col(OutboxMessages::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OutboxMessages::Table.into_iden(),
            AccountTokens::Table.into_iden(),
            Sessions::Table.into_iden(),
            Accounts::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        manager.drop_index(Index::drop().name("idx_filings_tenant_owner_id").table(Filings::Table).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(Filings::Table).drop_column(Filings::OwnerAccountId).to_owned())
            .await?;
        manager.alter_table(Table::alter().table(ApiKeys::Table).drop_column(ApiKeys::Scope).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(Tenants::Table).drop_column(Tenants::FrontendBaseUrl).to_owned())
            .await?;
        manager.alter_table(Table::alter().table(Tenants::Table).drop_column(Tenants::OpenSignup).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
    OpenSignup,
    FrontendBaseUrl,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Scope,
}

#[derive(DeriveIden)]
enum Filings {
    Table,
    Id,
    TenantId,
    OwnerAccountId,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    TenantId,
    Email,
    PasswordHash,
    DisplayName,
    Role,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    TenantId,
    AccountId,
    FamilyId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    RotatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AccountTokens {
    Table,
    Id,
    TenantId,
    AccountId,
    Purpose,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum OutboxMessages {
    Table,
    Id,
    TenantId,
    Template,
    Recipient,
    Payload,
    Status,
    CreatedAt,
}
