//! Filings (备案订单), their subject (主体), websites and the append-only audit trail.
//!
//! Every tenant-owned table carries `tenant_id`, and its indexes start with it: every query is scoped to a tenant.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Filings::Table)
                    .col(pk_uuid(Filings::Id))
                    .col(uuid(Filings::TenantId))
                    .col(string_len(Filings::FilingType, 32))
                    .col(string_len(Filings::Status, 32))
                    .col(integer(Filings::Version))
                    .col(timestamp_with_time_zone(Filings::CreatedAt))
                    .col(timestamp_with_time_zone(Filings::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create().from(Filings::Table, Filings::TenantId).to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // Keyset pagination walks (tenant_id, id DESC); ids are UUIDv7, so this is newest first.
        index(manager, "idx_filings_tenant_id", Filings::Table, &[Filings::TenantId, Filings::Id]).await?;
        index(
            manager,
            "idx_filings_tenant_status_id",
            Filings::Table,
            &[Filings::TenantId, Filings::Status, Filings::Id],
        )
        .await?;
        index(manager, "idx_filings_tenant_created_at", Filings::Table, &[Filings::TenantId, Filings::CreatedAt])
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(FilingSubjects::Table)
                    .col(pk_uuid(FilingSubjects::Id))
                    .col(uuid(FilingSubjects::TenantId))
                    .col(uuid_uniq(FilingSubjects::FilingId))
                    .col(string_len(FilingSubjects::SubjectType, 48))
                    .col(string_len(FilingSubjects::Name, 200))
                    .col(string_len(FilingSubjects::CertificateType, 64))
                    .col(string_len(FilingSubjects::CertificateNumber, 64))
                    .col(string_len_null(FilingSubjects::CertificateAddress, 300))
                    .col(string_len(FilingSubjects::ProvinceCode, 6))
                    .col(string_len(FilingSubjects::CityCode, 6))
                    .col(string_len(FilingSubjects::DistrictCode, 6))
                    .col(string_len(FilingSubjects::MailingAddress, 300))
                    .col(string_len_null(FilingSubjects::Investor, 200))
                    .col(string_len_null(FilingSubjects::Remark, 1000))
                    .col(string_len(FilingSubjects::RpName, 100))
                    .col(string_len(FilingSubjects::RpCertificateType, 64))
                    .col(string_len(FilingSubjects::RpCertificateNumber, 64))
                    .col(string_len(FilingSubjects::RpMobile, 32))
                    .col(string_len_null(FilingSubjects::RpEmergencyPhone, 32))
                    .col(string_len(FilingSubjects::RpEmail, 254))
                    .foreign_key(
                        ForeignKey::create()
                            .from(FilingSubjects::Table, FilingSubjects::FilingId)
                            .to(Filings::Table, Filings::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_filing_subjects_tenant_province",
            FilingSubjects::Table,
            &[FilingSubjects::TenantId, FilingSubjects::ProvinceCode],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Websites::Table)
                    .col(pk_uuid(Websites::Id))
                    .col(uuid(Websites::TenantId))
                    .col(uuid(Websites::FilingId))
                    .col(string_len(Websites::Name, 100))
                    .col(json_binary(Websites::Domains))
                    .col(string_len(Websites::HomepageUrl, 2048))
                    .col(json_binary(Websites::ServiceContent))
                    .col(json_binary(Websites::Languages))
                    .col(json_binary(Websites::PreApprovals))
                    .col(string_len(Websites::AccessMethod, 32))
                    .col(string_len_null(Websites::Remark, 1000))
                    .col(string_len(Websites::RpName, 100))
                    .col(string_len(Websites::RpCertificateType, 64))
                    .col(string_len(Websites::RpCertificateNumber, 64))
                    .col(string_len(Websites::RpMobile, 32))
                    .col(string_len_null(Websites::RpEmergencyPhone, 32))
                    .col(string_len(Websites::RpEmail, 254))
                    .col(timestamp_with_time_zone(Websites::CreatedAt))
                    .col(timestamp_with_time_zone(Websites::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Websites::Table, Websites::FilingId)
                            .to(Filings::Table, Filings::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_websites_tenant_filing",
            Websites::Table,
            &[Websites::TenantId, Websites::FilingId, Websites::Id],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(FilingEvents::Table)
                    .col(pk_uuid(FilingEvents::Id))
                    .col(uuid(FilingEvents::TenantId))
                    .col(uuid(FilingEvents::FilingId))
                    .col(string_len(FilingEvents::ActorKind, 32))
                    .col(uuid_null(FilingEvents::ActorId))
                    .col(string_len(FilingEvents::ActorLabel, 200))
                    .col(string_len(FilingEvents::Action, 64))
                    .col(string_len_null(FilingEvents::FromStatus, 32))
                    .col(string_len_null(FilingEvents::ToStatus, 32))
                    .col(json_binary(FilingEvents::Changes))
                    .col(text_null(FilingEvents::Reason))
                    .col(timestamp_with_time_zone(FilingEvents::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(FilingEvents::Table, FilingEvents::FilingId)
                            .to(Filings::Table, Filings::Id),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_filing_events_tenant_filing",
            FilingEvents::Table,
            &[FilingEvents::TenantId, FilingEvents::FilingId, FilingEvents::Id],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            FilingEvents::Table.into_iden(),
            Websites::Table.into_iden(),
            FilingSubjects::Table.into_iden(),
            Filings::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

async fn index<T: IntoIden + Copy + 'static, C: IntoIden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    columns: &[C],
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(*column);
    }
    manager.create_index(index.to_owned()).await
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Filings {
    Table,
    Id,
    TenantId,
    FilingType,
    Status,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum FilingSubjects {
    Table,
    Id,
    TenantId,
    FilingId,
    SubjectType,
    Name,
    CertificateType,
    CertificateNumber,
    CertificateAddress,
    ProvinceCode,
    CityCode,
    DistrictCode,
    MailingAddress,
    Investor,
    Remark,
    RpName,
    RpCertificateType,
    RpCertificateNumber,
    RpMobile,
    RpEmergencyPhone,
    RpEmail,
}

#[derive(DeriveIden, Clone, Copy)]
enum Websites {
    Table,
    Id,
    TenantId,
    FilingId,
    Name,
    Domains,
    HomepageUrl,
    ServiceContent,
    Languages,
    PreApprovals,
    AccessMethod,
    Remark,
    RpName,
    RpCertificateType,
    RpCertificateNumber,
    RpMobile,
    RpEmergencyPhone,
    RpEmail,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum FilingEvents {
    Table,
    Id,
    TenantId,
    FilingId,
    ActorKind,
    ActorId,
    ActorLabel,
    Action,
    FromStatus,
    ToStatus,
    Changes,
    Reason,
    CreatedAt,
}
