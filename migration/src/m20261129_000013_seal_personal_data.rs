//! Personal data sealed at rest (`beian::pii`): the columns that hold certificate numbers, phones and emails take
//! sealed values, which are longer than the plain ones (PostgreSQL: `text`; SQLite does not enforce lengths).
//! Equality lookups move to blind indexes: `rp_mobile_bidx` replaces the index on `rp_mobile` of 000012, and
//! `certificate_number_bidx` finds a subject's other filings. Rows written before this migration are sealed and
//! indexed by `beian pii rotate`.
//!
//! Retention: `filings.purged_at` records when an abandoned draft's personal data and files were purged.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Table and the columns of it that hold sealed values.
const SEALED: &[(&str, &[&str])] = &[
    (
        "filing_subjects",
        &["certificate_number", "rp_certificate_number", "rp_mobile", "rp_emergency_phone", "rp_email"],
    ),
    ("websites", &["rp_certificate_number", "rp_mobile", "rp_emergency_phone", "rp_email"]),
    ("sms_checks", &["mobile"]),
    ("mobile_sessions", &["mobile"]),
    ("outbox_messages", &["recipient"]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            for (table, columns) in SEALED {
                let alters: Vec<String> = columns.iter().map(|c| format!("ALTER COLUMN {c} TYPE text")).collect();
                manager
                    .get_connection()
                    .execute_unprepared(&format!("ALTER TABLE {table} {}", alters.join(", ")))
                    .await?;
            }
        }
        for column in [FilingSubjects::RpMobileBidx, FilingSubjects::CertificateNumberBidx] {
            manager
                .alter_table(
                    Table::alter()
                        .table(FilingSubjects::Table)
                        .add_column(string_len(column, 64).default(""))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Websites::Table)
                    .add_column(string_len(Websites::RpMobileBidx, 64).default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Filings::Table)
                    .add_column(timestamp_with_time_zone_null(Filings::PurgedAt))
                    .to_owned(),
            )
            .await?;
        for (old, table) in [
            ("idx_filing_subjects_tenant_rp_mobile", FilingSubjects::Table.into_iden()),
            ("idx_websites_tenant_rp_mobile", Websites::Table.into_iden()),
        ] {
            manager.drop_index(Index::drop().name(old).table(table).to_owned()).await?;
        }
        for (name, table, column) in [
            (
                "idx_filing_subjects_tenant_rp_mobile_bidx",
                FilingSubjects::Table.into_iden(),
                FilingSubjects::RpMobileBidx.into_iden(),
            ),
            (
                "idx_filing_subjects_tenant_certificate_bidx",
                FilingSubjects::Table.into_iden(),
                FilingSubjects::CertificateNumberBidx.into_iden(),
            ),
            ("idx_websites_tenant_rp_mobile_bidx", Websites::Table.into_iden(), Websites::RpMobileBidx.into_iden()),
        ] {
            manager
                .create_index(
                    Index::create().name(name).table(table).col(Alias::new("tenant_id")).col(column).to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            ("idx_websites_tenant_rp_mobile_bidx", Websites::Table.into_iden()),
            ("idx_filing_subjects_tenant_certificate_bidx", FilingSubjects::Table.into_iden()),
            ("idx_filing_subjects_tenant_rp_mobile_bidx", FilingSubjects::Table.into_iden()),
        ] {
            manager.drop_index(Index::drop().name(name).table(table).to_owned()).await?;
        }
        for (name, table) in [
            ("idx_filing_subjects_tenant_rp_mobile", FilingSubjects::Table.into_iden()),
            ("idx_websites_tenant_rp_mobile", Websites::Table.into_iden()),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col(Alias::new("tenant_id"))
                        .col(Alias::new("rp_mobile"))
                        .to_owned(),
                )
                .await?;
        }
        manager.alter_table(Table::alter().table(Filings::Table).drop_column(Filings::PurgedAt).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(Websites::Table).drop_column(Websites::RpMobileBidx).to_owned())
            .await?;
        for column in [FilingSubjects::CertificateNumberBidx, FilingSubjects::RpMobileBidx] {
            manager.alter_table(Table::alter().table(FilingSubjects::Table).drop_column(column).to_owned()).await?;
        }
        // The columns stay `text`: sealed values would not fit the old lengths.
        Ok(())
    }
}

#[derive(DeriveIden)]
enum FilingSubjects {
    Table,
    RpMobileBidx,
    CertificateNumberBidx,
}

#[derive(DeriveIden)]
enum Websites {
    Table,
    RpMobileBidx,
}

#[derive(DeriveIden)]
enum Filings {
    Table,
    PurgedAt,
}
