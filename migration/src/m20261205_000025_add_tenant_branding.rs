//! The phone page beian hosts (`/mobile`) is the registrar's page: its accent colour, its logo and the consent text
//! a responsible person reads before the phone steps come from the registrar's settings (the name and the support
//! contact were there already).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [
            ColumnDef::new(Tenants::BrandColor).string_len(7).null().to_owned(),
            ColumnDef::new(Tenants::BrandLogo).text().null().to_owned(),
            ColumnDef::new(Tenants::MobileConsentText).text().null().to_owned(),
        ] {
            manager.alter_table(Table::alter().table(Tenants::Table).add_column(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Tenants::BrandColor, Tenants::BrandLogo, Tenants::MobileConsentText] {
            manager.alter_table(Table::alter().table(Tenants::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    BrandColor,
    BrandLogo,
    MobileConsentText,
}
