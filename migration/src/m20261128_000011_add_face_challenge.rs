//! The face check: a session's current challenge (the digits the person reads aloud) and, on the face video, the
//! challenge it was recorded against, shown to the reviewer beside it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            string_len_null(MobileSessions::FaceChallenge, 16),
            timestamp_with_time_zone_null(MobileSessions::FaceChallengeExpiresAt),
        ] {
            manager.alter_table(Table::alter().table(MobileSessions::Table).add_column(column).to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Attachments::Table)
                    .add_column(string_len_null(Attachments::FaceChallenge, 16))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Attachments::Table).drop_column(Attachments::FaceChallenge).to_owned())
            .await?;
        for column in [MobileSessions::FaceChallengeExpiresAt, MobileSessions::FaceChallenge] {
            manager.alter_table(Table::alter().table(MobileSessions::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum MobileSessions {
    Table,
    FaceChallenge,
    FaceChallengeExpiresAt,
}

#[derive(DeriveIden)]
enum Attachments {
    Table,
    FaceChallenge,
}
