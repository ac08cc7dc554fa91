//! The face video: a challenge of digits to read out, and the liveness check of the recorded video.

use chrono::Duration;
use rand::Rng;
use sea_orm::prelude::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::handoff::session;
use super::{MobileCaller, require_phone};
use crate::auth::Actor;
use crate::db::write_txn;
use crate::domain::{FieldError, FieldErrorCode};
use crate::services::Deps;
use crate::services::ServiceError;
use crate::services::audit::{self, FilingAction, NewEvent};
use entity::enums::ReviewStatus;
use entity::mobile_session::{self, Column};

/// How long the digits of a face check may be used.
pub const FACE_CHALLENGE_MINUTES: i64 = 10;

/// Starts the face check of a website's responsible person: the digits to read aloud in the video, valid for
/// [`FACE_CHALLENGE_MINUTES`]. A new challenge replaces the one before.
pub async fn start_face_check(deps: &Deps, caller: &MobileCaller) -> Result<mobile_session::Model, ServiceError> {
    let (db, now) = (&deps.db, deps.now());
    let current = session(deps, caller).await?;
    require_phone(&current)?;
    if current.website_id.is_none() {
        return Err(ServiceError::InvalidInput(vec![
            FieldError::new("session", FieldErrorCode::ChangeNotAllowed).with_message(
                "Only a website's responsible person does the face check.",
                "只有网站负责人需要进行人脸核验。",
            ),
        ]));
    }
    let digits: String = (0..4).map(|_| char::from(b'0' + rand::rng().random_range(0..10u8))).collect();
    let txn = write_txn(db).await?;
    mobile_session::Entity::update_many()
        .col_expr(Column::FaceChallenge, Expr::value(digits))
        .col_expr(Column::FaceChallengeExpiresAt, Expr::value(now + Duration::minutes(FACE_CHALLENGE_MINUTES)))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(current.id))
        .exec(&txn)
        .await?;
    let details = serde_json::json!({ "sessionId": current.id, "person": current.person_name });
    let event = NewEvent::new(caller.filing_id, FilingAction::FaceCheckStarted, now).details(Some(details));
    audit::record(&txn, &Actor::system(caller.tenant_id), event).await?;
    txn.commit().await?;
    session(deps, caller).await
}

/// Who decides whether a face video shows a live person reading the challenge: the reviewer during the
/// preliminary review (the default: the video waits, with its challenge beside it), or a face-verification service.
#[derive(Clone, Debug)]
pub enum LivenessChecker {
    Reviewer,
    Webhook(crate::services::webhook::Webhook),
}

impl LivenessChecker {
    pub fn from_config(config: &crate::config::MobileConfig) -> anyhow::Result<Self> {
        match &config.liveness_webhook_url {
            None => Ok(Self::Reviewer),
            Some(url) => Ok(Self::Webhook(crate::services::webhook::Webhook::new(
                url,
                config.liveness_webhook_secret.as_ref(),
                &crate::services::webhook::Egress::from_config(config),
            )?)),
        }
    }
}

/// Asks the face-verification service about a video and records its verdict as the material's review. An answer
/// that cannot be used leaves the video to the reviewer.
pub(super) async fn check_liveness(
    deps: &Deps,
    webhook: &crate::services::webhook::Webhook,
    actor: &Actor,
    video: &crate::services::attachments::Attachment,
    session: &mobile_session::Model,
) -> Result<(), ServiceError> {
    let db = &deps.db;
    let Some((url, _)) = crate::services::attachments::download_url(deps, actor, video).await? else {
        return Ok(());
    };
    let body = serde_json::json!({ "type": "FACE_VIDEO", "tenantId": actor.tenant_id, "filingId": video.filing_id,
        "attachmentId": video.id, "person": session.person_name, "challenge": video.face_challenge,
        "videoUrl": url, "contentType": video.content_type });
    let answer = match webhook.post_for_json(&body).await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(attachment = %video.id, error = %error, "liveness check failed; the reviewer decides");
            return Ok(());
        }
    };
    let Some(passed) = answer.get("passed").and_then(|p| p.as_bool()) else {
        tracing::warn!(attachment = %video.id, "the liveness service's answer has no \"passed\"; the reviewer decides");
        return Ok(());
    };
    let reason = answer
        .get("reason")
        .and_then(|r| r.as_str())
        // Outside text: made one plain line (a U+0000 would not even store on PostgreSQL).
        .map(|r| crate::domain::text::to_single_line(r).chars().take(500).collect::<String>())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "人脸核验未通过，请重新录制。".to_owned());
    let now = deps.now();
    let txn = write_txn(db).await?;
    entity::attachment::Entity::update_many()
        .col_expr(
            entity::attachment::Column::ReviewStatus,
            Expr::value(if passed { ReviewStatus::Accepted } else { ReviewStatus::NeedsRevision }),
        )
        .col_expr(entity::attachment::Column::ReviewReason, Expr::value((!passed).then(|| reason.clone())))
        .col_expr(entity::attachment::Column::UpdatedAt, Expr::value(now))
        .filter(entity::attachment::Column::Id.eq(video.id))
        .exec(&txn)
        .await?;
    let checker = Actor { label: "人脸核验服务".to_owned(), ..Actor::system(actor.tenant_id) };
    let details = serde_json::json!({ "attachmentId": video.id, "kind": video.kind.as_str(), "accepted": passed,
        "reason": (!passed).then_some(reason), "by": "LIVENESS_SERVICE" });
    let event = NewEvent::new(video.filing_id, FilingAction::AttachmentReviewed, now).details(Some(details));
    audit::record(&txn, &checker, event).await?;
    txn.commit().await?;
    tracing::info!(attachment = %video.id, passed, "liveness checked");
    Ok(())
}
