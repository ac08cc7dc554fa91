//! The phone check: a code sent by SMS to the person's mobile number and confirmed on the phone, and where each
//! person of a filing stands.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::prelude::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::handoff::{of_filing, session};
use super::{CODE_TTL_MINUTES, MAX_CODE_ATTEMPTS, MAX_CODES_PER_SESSION, MobileCaller, RESEND_SECONDS};
use crate::auth::Actor;
use crate::db::write_txn;
use crate::domain::{FieldError, FieldErrorCode};
use crate::services::Deps;
use crate::services::ServiceError;
use crate::services::audit::{self, FilingAction, NewEvent};
use entity::mobile_session::{self, Column};

/// Where one responsible person's phone check stands.
#[derive(Clone, Debug)]
pub struct PhoneCheck {
    pub person: String,
    /// The website whose responsible person it is; none for the subject's.
    pub website_id: Option<Uuid>,
    /// The person in the filing's input: `subject.responsiblePerson`, `websites[0].responsiblePerson`.
    pub field: String,
    /// When the person confirmed the code sent to their mobile (the number in the form now).
    pub verified_at: Option<DateTime<Utc>>,
}

/// Where each responsible person's phone check stands, one per person (a person responsible for several things
/// once, at the first place they appear).
pub async fn phone_checks(deps: &Deps, actor: &Actor, filing_id: Uuid) -> Result<Vec<PhoneCheck>, ServiceError> {
    let db = &deps.db;
    let sessions = of_filing(deps, actor, filing_id).await?;
    let stored = crate::services::access::stored_filing(db, &deps.keys, actor, filing_id).await?;
    let mut people = vec![(None, "subject.responsiblePerson".to_owned(), &stored.form.subject.responsible_person)];
    people.extend(
        stored
            .websites
            .iter()
            .zip(&stored.form.websites)
            .enumerate()
            .map(|(i, (w, f))| (Some(w.id), format!("websites[{i}].responsiblePerson"), &f.responsible_person)),
    );
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for (website_id, field, person) in people {
        let identity = person.certificate_number.to_uppercase();
        if seen.contains(&identity) {
            continue;
        }
        seen.push(identity);
        // A confirmation counts for the person whatever hand-off it came through: same mobile number.
        let verified = sessions.iter().filter(|s| s.mobile == person.mobile).filter_map(|s| s.phone_verified_at).max();
        out.push(PhoneCheck { person: person.name.clone(), website_id, field, verified_at: verified });
    }
    Ok(out)
}

/// What keeps a filing from being submitted on the phone side: one PHONE_UNVERIFIED per responsible person who has
/// not confirmed their mobile number, where the registrar requires it (`requirePhoneVerification`, on by default).
pub async fn unconfirmed_phones(deps: &Deps, actor: &Actor, filing_id: Uuid) -> Result<Vec<FieldError>, ServiceError> {
    if !crate::services::tenants::settings(deps, actor).await?.require_phone_verification {
        return Ok(Vec::new());
    }
    Ok(phone_checks(deps, actor, filing_id)
        .await?
        .into_iter()
        .filter(|check| check.verified_at.is_none())
        .map(|check| {
            FieldError::new(check.field, FieldErrorCode::PhoneUnverified).with_message(
                format!(
                    "{} has not confirmed their mobile number: start the mobile verification for them and let them \
                     enter the code sent to their phone.",
                    check.person
                ),
                format!("{} 尚未完成手机号码验证：请为其发起手机验证，并输入手机收到的验证码。", check.person),
            )
        })
        .collect())
}

/// Sends a code to the person's mobile: at most one a minute and [`MAX_CODES_PER_SESSION`] per session, and within
/// the limits on codes per mobile number and per registrar ([`super::phone_code_limits`]), across every link.
pub async fn send_phone_code(deps: &Deps, caller: &MobileCaller) -> Result<mobile_session::Model, ServiceError> {
    let (db, sender, now) = (&deps.db, &deps.sms, deps.now());
    let current = session(deps, caller).await?;
    if current.phone_verified_at.is_some() {
        return Err(ServiceError::InvalidInput(vec![
            FieldError::new("phone", FieldErrorCode::ChangeNotAllowed)
                .with_message("The mobile number is already confirmed.", "手机号码已验证。"),
        ]));
    }
    if let Some(sent) = current.code_sent_at {
        let wait = sent + Duration::seconds(RESEND_SECONDS) - now;
        if wait > Duration::zero() {
            return Err(ServiceError::RateLimited { retry_after: wait.to_std().unwrap_or_default() });
        }
    }
    if current.codes_sent >= MAX_CODES_PER_SESSION {
        return Err(ServiceError::RateLimited { retry_after: (current.expires_at - now).to_std().unwrap_or_default() });
    }
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000));
    // The number's and the registrar's limits decide, and the code is recorded, in the transaction that claims the
    // session: what one request decides, every other request (on any replica) sees.
    let txn = write_txn(db).await?;
    let reservation = crate::services::phone_code_limits::reserve(
        &txn,
        &deps.keys,
        &sender.limits,
        caller.tenant_id,
        &current.mobile,
        current.id,
        now,
    )
    .await?;
    // Claimed with the count the check above saw, so two sends through one link at once cannot both go out.
    let claimed = mobile_session::Entity::update_many()
        .col_expr(Column::CodeHash, Expr::value(crate::auth::api_key::hash(&code)))
        .col_expr(Column::CodeExpiresAt, Expr::value(now + Duration::minutes(CODE_TTL_MINUTES)))
        .col_expr(Column::CodeSentAt, Expr::value(now))
        .col_expr(Column::CodeAttempts, Expr::value(0))
        .col_expr(Column::CodesSent, Expr::value(current.codes_sent + 1))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(current.id))
        .filter(Column::CodesSent.eq(current.codes_sent))
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        return Err(ServiceError::RateLimited { retry_after: std::time::Duration::from_secs(RESEND_SECONDS as u64) });
    }
    txn.commit().await?;
    let message =
        PhoneCode { tenant_id: caller.tenant_id, mobile: &current.mobile, code: &code, person: &current.person_name };
    if let Err(error) = sender.send(deps, &message).await {
        // The code never reached the phone: it does not count, and the person may ask again at once.
        crate::services::phone_code_limits::settle(deps, reservation, false).await?;
        mobile_session::Entity::update_many()
            .col_expr(Column::CodeSentAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(Column::CodesSent, Expr::value(current.codes_sent))
            .filter(Column::Id.eq(current.id))
            .exec(db)
            .await?;
        return Err(error);
    }
    crate::services::phone_code_limits::settle(deps, reservation, true).await?;
    // The send is the change (the desktop shows the code on its way): its event comes once the sender took it.
    let details = serde_json::json!({ "sessionId": current.id, "person": current.person_name });
    let event = NewEvent::new(caller.filing_id, FilingAction::PhoneCodeSent, now).details(Some(details));
    audit::record(db, &Actor::system(caller.tenant_id), event).await?;
    session(deps, caller).await
}

/// Checks the code the person typed; a right one confirms the mobile number (and shows on the filing's trail).
pub async fn confirm_phone_code(
    deps: &Deps,
    caller: &MobileCaller,
    code: &str,
) -> Result<mobile_session::Model, ServiceError> {
    let now = deps.now();
    let current = session(deps, caller).await?;
    if current.phone_verified_at.is_some() {
        return Ok(current);
    }
    let hash = usable_code_hash(&current, now)?;
    if crate::auth::api_key::hash(code.trim()) != *hash {
        return Err(count_wrong_guess(deps, caller, current.id, now).await?);
    }
    confirm_phone(deps, caller, &current, hash, now).await
}

/// A refusal of the code typed, on the `code` field.
pub(super) fn code_error(code: FieldErrorCode, en: String, zh: String) -> ServiceError {
    ServiceError::InvalidInput(vec![FieldError::new("code", code).with_message(en, zh)])
}

/// The refusal of a code that expired or whose guesses are used up.
pub(super) fn code_no_longer_works() -> ServiceError {
    code_error(
        FieldErrorCode::CodeExpired,
        "This code no longer works: ask for a new one.".into(),
        "验证码已失效，请重新获取。".into(),
    )
}

/// The hash of the session's code while it may still be guessed: one was sent, it has not expired, and guesses are
/// left.
pub(super) fn usable_code_hash(current: &mobile_session::Model, now: DateTime<Utc>) -> Result<&String, ServiceError> {
    let (Some(hash), Some(expires)) = (&current.code_hash, current.code_expires_at) else {
        return Err(code_error(FieldErrorCode::Required, "Ask for a code first.".into(), "请先获取验证码。".into()));
    };
    if expires <= now || current.code_attempts >= MAX_CODE_ATTEMPTS {
        return Err(code_no_longer_works());
    }
    Ok(hash)
}

/// Counts a wrong guess against the session's code and returns the refusal to give: the tries left, or that the
/// code no longer works when the guesses were already used up.
pub(super) async fn count_wrong_guess(
    deps: &Deps,
    caller: &MobileCaller,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> Result<ServiceError, ServiceError> {
    let db = &deps.db;
    // Counted by the database, and only while guesses are left: wrong guesses sent at once each count (a read
    // count written back would let them overwrite each other), and never past the limit.
    let counted = mobile_session::Entity::update_many()
        .col_expr(Column::CodeAttempts, sea_orm::sea_query::ExprTrait::add(Expr::col(Column::CodeAttempts), 1))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(session_id))
        .filter(Column::CodeAttempts.lt(MAX_CODE_ATTEMPTS))
        .exec(db)
        .await?;
    let attempts = session(deps, caller).await?.code_attempts;
    if counted.rows_affected == 0 {
        return Ok(code_no_longer_works());
    }
    let left = (MAX_CODE_ATTEMPTS - attempts).max(0);
    let (message, message_zh) = if left == 0 {
        (
            "The code is not right, and it was tried too often: ask for a new one.".to_owned(),
            "验证码不正确，尝试次数已用完，请重新获取验证码。".to_owned(),
        )
    } else {
        (format!("The code is not right; {left} tries left."), format!("验证码不正确，还可尝试 {left} 次。"))
    };
    Ok(code_error(FieldErrorCode::WrongCode, message, message_zh))
}

/// Confirms the mobile number with the code checked right (`hash`), and records it on the filing's trail, in one
/// transaction. If the code stopped working meanwhile the confirmation is refused, unless a right answer sent at the
/// same moment confirmed the number already.
pub(super) async fn confirm_phone(
    deps: &Deps,
    caller: &MobileCaller,
    current: &mobile_session::Model,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<mobile_session::Model, ServiceError> {
    let db = &deps.db;
    let txn = write_txn(db).await?;
    // Only the code checked above, while it still works (wrong guesses sent at the same moment may have used it
    // up) and once (a second right answer at the same moment confirms nothing more).
    let confirmed = mobile_session::Entity::update_many()
        .col_expr(Column::PhoneVerifiedAt, Expr::value(now))
        .col_expr(Column::CodeHash, Expr::value(Option::<String>::None))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(current.id))
        .filter(Column::CodeHash.eq(hash))
        .filter(Column::CodeAttempts.lt(MAX_CODE_ATTEMPTS))
        .filter(Column::PhoneVerifiedAt.is_null())
        .exec(&txn)
        .await?;
    if confirmed.rows_affected == 0 {
        drop(txn);
        let now_current = session(deps, caller).await?;
        if now_current.phone_verified_at.is_some() {
            return Ok(now_current);
        }
        return Err(code_no_longer_works());
    }
    let system = Actor::system(caller.tenant_id);
    let details = serde_json::json!({ "sessionId": current.id, "person": current.person_name });
    audit::record(
        &txn,
        &system,
        NewEvent::new(caller.filing_id, FilingAction::PhoneVerified, now).details(Some(details)),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(filing = %caller.filing_id, session = %current.id, "mobile number confirmed");
    session(deps, caller).await
}

/// A code on its way to a phone.
#[derive(Clone, Copy, Debug)]
pub struct PhoneCode<'a> {
    pub tenant_id: Uuid,
    pub mobile: &'a str,
    pub code: &'a str,
    pub person: &'a str,
}

/// How codes reach phones, and how many may go ([`super::phone_code_limits`]).
#[derive(Clone, Debug)]
pub struct SmsSender {
    channel: SmsChannel,
    limits: crate::services::phone_code_limits::CodeLimits,
}

impl SmsSender {
    pub fn from_config(config: &crate::config::MobileConfig) -> anyhow::Result<Self> {
        let limits = crate::services::phone_code_limits::CodeLimits::from_config(config)?;
        let channel = match &config.sms_webhook_url {
            None => SmsChannel::Recorded,
            Some(url) => SmsChannel::Webhook(crate::services::webhook::Webhook::new(
                url,
                config.sms_webhook_secret.as_ref(),
                &crate::services::webhook::Egress::from_config(config),
            )?),
        };
        Ok(Self { channel, limits })
    }

    async fn send(&self, deps: &Deps, message: &PhoneCode<'_>) -> Result<(), ServiceError> {
        let db = &deps.db;
        match &self.channel {
            SmsChannel::Recorded => {
                tracing::info!(mobile = %crate::domain::masking::mask_phone(message.mobile), code = message.code,
                    "phone code (recorded: no SMS gateway configured)");
                entity::outbox_message::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    tenant_id: Set(message.tenant_id),
                    template: Set(crate::services::personal_data::PHONE_CODE.to_owned()),
                    recipient: Set(deps.keys.seal(message.tenant_id, message.mobile)),
                    payload: Set(serde_json::json!({ "code": message.code, "person": message.person })),
                    // Recorded, not queued: the mail dispatcher leaves it alone.
                    status: Set(entity::enums::OutboxStatus::Recorded),
                    created_at: Set(deps.now()),
                    attempts: Set(0),
                    ..Default::default()
                }
                .insert(db)
                .await?;
                Ok(())
            }
            SmsChannel::Webhook(webhook) => {
                let body = serde_json::json!({ "type": "PHONE_CODE", "tenantId": message.tenant_id,
                    "mobile": message.mobile, "code": message.code, "person": message.person,
                    "validMinutes": CODE_TTL_MINUTES });
                webhook.post(&body).await.map_err(|e| {
                    tracing::warn!(error = %e, "the SMS gateway did not take the code");
                    ServiceError::internal(anyhow::anyhow!("the SMS gateway did not take the code: {e}"))
                })
            }
        }
    }
}

/// Where codes go: recorded for the operator (the embedded default: the log and the outbox, where `beian outbox
/// list` shows them), or posted to the registrar's SMS gateway.
#[derive(Clone, Debug)]
pub(super) enum SmsChannel {
    Recorded,
    Webhook(crate::services::webhook::Webhook),
}
