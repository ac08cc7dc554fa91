//! Mobile hand-offs (QR codes) as a filing shows them.

use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};

use crate::domain::masking::mask_phone;
use crate::graphql::context::{actor, deps};
use crate::graphql::error::gql;
use crate::graphql::ids::{self, Kind};
use crate::services::mobile as svc;
use entity::mobile_session;

/// Where a hand-off stands.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
pub enum MobileVerificationStatus {
    /// The link works.
    Active,
    /// The link expired.
    Expired,
    /// The link was revoked.
    Revoked,
}

pub struct MobileVerification(pub mobile_session::Model);

/// A mobile hand-off: one responsible person's phone doing that person's steps of a filing.
#[Object]
impl MobileVerification {
    /// The hand-off's opaque global ID.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::MobileVerification, self.0.id)
    }

    /// The responsible person.
    async fn person_name(&self) -> &str {
        &self.0.person_name
    }

    /// The person's mobile number, masked.
    async fn mobile(&self) -> String {
        mask_phone(&self.0.mobile)
    }

    /// The website whose responsible person it is; null for the subject's.
    async fn website_id(&self) -> Option<ID> {
        self.0.website_id.map(|id| ids::encode(Kind::Website, id))
    }

    /// Whether the link still works.
    async fn status(&self) -> MobileVerificationStatus {
        status(&self.0, Utc::now())
    }

    /// When the link stops working.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }

    /// When the person confirmed the mobile number with the code sent to it.
    async fn phone_verified_at(&self) -> Option<DateTime<Utc>> {
        self.0.phone_verified_at
    }

    /// When the hand-off was started.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

fn status(session: &mobile_session::Model, now: DateTime<Utc>) -> MobileVerificationStatus {
    if session.revoked_at.is_some() {
        MobileVerificationStatus::Revoked
    } else if session.expires_at <= now {
        MobileVerificationStatus::Expired
    } else {
        MobileVerificationStatus::Active
    }
}

/// The hand-offs of a filing, newest first.
pub async fn of_filing(ctx: &Context<'_>, filing_id: uuid::Uuid) -> Result<Vec<MobileVerification>> {
    let sessions = svc::of_filing(deps(ctx), actor(ctx)?, filing_id).await.map_err(gql)?;
    Ok(sessions.into_iter().map(MobileVerification).collect())
}
