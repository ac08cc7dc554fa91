//! An ICP number belongs to one subject: the database refuses a second current record (approved, not superseded,
//! not a subject cancellation) with the same subject number in a registrar, and one filing giving two websites the
//! same number. A website number is its subject's number with a serial, and the server gives a filing only website
//! numbers under its subject number, so together these keep website numbers unique among current records too.
//!
//! And a registrar setting: whether every responsible person confirms their mobile number before a filing is
//! submitted (on by default).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The rows the unique index covers: current records holding a number.
const CURRENT_RECORDS: &str =
    "icp_number IS NOT NULL AND status = 'APPROVED' AND superseded_by_id IS NULL AND filing_type <> 'CANCEL_SUBJECT'";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // A database where two subjects already hold one number cannot take the index: say which number, so the
        // operator can correct the records (with the bureau's answer) before migrating.
        let shared = db
            .query_one_raw(Statement::from_string(
                manager.get_database_backend(),
                format!(
                    "SELECT icp_number FROM filings WHERE {CURRENT_RECORDS} GROUP BY tenant_id, icp_number \
                     HAVING COUNT(*) > 1 LIMIT 1"
                ),
            ))
            .await?;
        if let Some(row) = shared {
            let number: String = row.try_get("", "icp_number")?;
            return Err(DbErr::Migration(format!(
                "two current records of one registrar hold the ICP number {number}: correct them before migrating"
            )));
        }
        db.execute_unprepared(&format!(
            "CREATE UNIQUE INDEX ux_filings_current_icp_number ON filings (tenant_id, icp_number) WHERE {CURRENT_RECORDS}"
        ))
        .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_websites_filing_icp_number ON websites (filing_id, icp_number) \
             WHERE icp_number IS NOT NULL",
        )
        .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(ColumnDef::new(Tenants::RequirePhoneVerification).boolean().not_null().default(true))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Tenants::Table).drop_column(Tenants::RequirePhoneVerification).to_owned())
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX ux_websites_filing_icp_number").await?;
        db.execute_unprepared("DROP INDEX ux_filings_current_icp_number").await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    RequirePhoneVerification,
}
