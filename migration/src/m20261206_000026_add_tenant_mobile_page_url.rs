//! The page a hand-off's QR code opens is a setting of its own: beian's hosted page (`mobile.public_base_url`) unless
//! the registrar replaces it with a page of its own. It used to follow `frontendBaseUrl` (the registrar's console,
//! where emails link), which made every registrar with a console build the phone page before it could use one.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = ColumnDef::new(Tenants::MobilePageUrl).string_len(2048).null().to_owned();
        manager.alter_table(Table::alter().table(Tenants::Table).add_column(column).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Tenants::Table).drop_column(Tenants::MobilePageUrl).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    MobilePageUrl,
}
