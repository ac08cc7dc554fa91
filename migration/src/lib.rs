//! Database migrations of beian.
//!
//! Each step is named `mYYYYMMDD_HHMMSS_<verb>_<noun>` and is never edited once released: a change to the schema is
//! a new step. Steps declare their own identifiers and never import the `entity` crate, so they keep describing the
//! schema as it was when they were written.
//!
//! Migrations run through `beian migrate`, or automatically when the server runs on its embedded SQLite default
//! (or when `database.auto_migrate` is set).

pub use sea_orm_migration::prelude::*;
/// The table sea-orm-migration records applied steps in (`beian migrate status` reads it).
pub use sea_orm_migration::seaql_migrations;

mod m20261128_000001_create_tenants;
mod m20261128_000002_create_filings;
mod m20261128_000003_create_accounts;
mod m20261128_000004_create_attachments;
mod m20261128_000005_add_legal_representative_flag;
mod m20261128_000006_add_tenant_storage;
mod m20261128_000007_add_review_workflow;
mod m20261128_000008_add_follow_up_orders;
mod m20261128_000009_add_email_delivery;
mod m20261128_000010_add_mobile_verification;
mod m20261128_000011_add_face_challenge;
mod m20261128_000012_index_responsible_mobiles;
mod m20261129_000013_seal_personal_data;
mod m20261129_000014_tenant_row_security;
mod m20261203_000015_seal_outbox_recipients;
mod m20261203_000016_create_phone_code_sends;
mod m20261203_000017_create_upload_urls;
mod m20261203_000018_unique_numbers_and_phone_checks;
mod m20261203_000021_add_outbox_retrying_since;
mod m20261204_000022_announce_filing_events;
mod m20261205_000023_order_filing_events;
mod m20261205_000024_create_webhooks;
mod m20261205_000025_add_tenant_branding;
mod m20261206_000026_add_tenant_mobile_page_url;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_tenants::Migration),
            Box::new(m20261128_000002_create_filings::Migration),
            Box::new(m20261128_000003_create_accounts::Migration),
            Box::new(m20261128_000004_create_attachments::Migration),
            Box::new(m20261128_000005_add_legal_representative_flag::Migration),
            Box::new(m20261128_000006_add_tenant_storage::Migration),
            Box::new(m20261128_000007_add_review_workflow::Migration),
            Box::new(m20261128_000008_add_follow_up_orders::Migration),
            Box::new(m20261128_000009_add_email_delivery::Migration),
            Box::new(m20261128_000010_add_mobile_verification::Migration),
            Box::new(m20261128_000011_add_face_challenge::Migration),
            Box::new(m20261128_000012_index_responsible_mobiles::Migration),
            Box::new(m20261129_000013_seal_personal_data::Migration),
            Box::new(m20261129_000014_tenant_row_security::Migration),
            Box::new(m20261203_000015_seal_outbox_recipients::Migration),
            Box::new(m20261203_000016_create_phone_code_sends::Migration),
            Box::new(m20261203_000017_create_upload_urls::Migration),
            Box::new(m20261203_000018_unique_numbers_and_phone_checks::Migration),
            Box::new(m20261203_000021_add_outbox_retrying_since::Migration),
            Box::new(m20261204_000022_announce_filing_events::Migration),
            Box::new(m20261205_000023_order_filing_events::Migration),
            Box::new(m20261205_000024_create_webhooks::Migration),
            Box::new(m20261205_000025_add_tenant_branding::Migration),
            Box::new(m20261206_000026_add_tenant_mobile_page_url::Migration),
        ]
    }
}
