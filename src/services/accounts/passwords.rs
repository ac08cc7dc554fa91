//! Passwords: changing one's own, and resetting a forgotten one by email.

use crate::language::Text;
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::json;
use tracing::instrument;

use super::profile::own_account;
use super::sessions::{revoke_all_sessions, start_session};
use super::signup::throttle_mail;
use super::staff::set_status;
use super::{
    AccountStatus, Session, TokenPurpose, check_password, consume_token, find_by_email, issue_token, normalize_email,
};
use crate::auth::{Actor, Principal, password};
use crate::db::write_txn;
use crate::domain::{FieldError, FieldErrorCode};
use crate::mail::Stage;
use crate::mail::outbox::{self, Envelope};
use crate::services::Deps;
use crate::services::ServiceError;
use crate::services::tenants::{self};
use entity::account;

/// Changes the caller's password; every other session of the account ends, and a new one starts.
pub async fn change_password(
    deps: &Deps,
    actor: &Actor,
    current: &str,
    new_password: &str,
) -> Result<Session, ServiceError> {
    let (db, auth) = (&deps.db, &deps.auth);
    let Principal::Account { .. } = actor.principal else {
        return Err(ServiceError::Forbidden(Text::new(
            "only people with an account have a password",
            "只有账号用户才有密码",
        )));
    };
    let mut errors = Vec::new();
    check_password(new_password, "newPassword", &mut errors);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let row = own_account(db, actor).await?;
    if !row.password_hash.as_deref().is_some_and(|hash| password::verify(current, hash)) {
        return Err(ServiceError::InvalidInput(vec![FieldError::new(
            "currentPassword",
            FieldErrorCode::WrongPassword,
        )]));
    }
    let hash = password::hash(new_password).map_err(ServiceError::internal)?;
    let now = deps.now();
    let txn = write_txn(db).await?;
    let row = set_password(&txn, row, hash, now).await?;
    revoke_all_sessions(&txn, row.id, now).await?;
    let payload = json!({ "displayName": row.display_name });
    outbox::enqueue(&txn, &deps.keys, Envelope::account(row.tenant_id, Stage::PasswordChanged, &row, payload)).await?;
    let session = start_session(&txn, auth, row, None, now).await?;
    txn.commit().await?;
    Ok(session)
}

/// Sends a password reset link if the address has an account; answers the same either way.
#[instrument(skip_all, fields(tenant = tenant_slug))]
pub async fn request_password_reset(
    deps: &Deps,
    tenant_slug: &str,
    email: &str,
    client: Option<IpAddr>,
) -> Result<(), ServiceError> {
    let (db, auth) = (&deps.db, &deps.auth);
    let email = normalize_email(email);
    // Counted whether or not the address has an account, so the limit tells nothing about it.
    throttle_mail(auth, tenant_slug, &email, client)?;
    let Ok(tenant) = tenants::active_tenant_by_slug(db, tenant_slug).await else {
        return Ok(());
    };
    let Some(row) = find_by_email(db, tenant.id, &email).await? else {
        return Ok(());
    };
    if row.status == AccountStatus::Disabled {
        return Ok(());
    }
    let now = deps.now();
    let ttl = Duration::minutes(auth.config.password_reset_ttl_minutes);
    let txn = write_txn(db).await?;
    let token = issue_token(&txn, &row, TokenPurpose::PasswordReset, ttl, now).await?;
    let payload = json!({ "displayName": row.display_name, "tenant": tenant.name, "token": token,
        "url": super::link(&tenant.frontend_base_url, "reset-password", Some(&token)), "expiresAt": now + ttl });
    outbox::enqueue(&txn, &deps.keys, Envelope::account(tenant.id, Stage::PasswordReset, &row, payload)).await?;
    txn.commit().await?;
    Ok(())
}

/// Sets a new password with an emailed reset token; every session of the account ends.
pub async fn reset_password(deps: &Deps, token: &str, new_password: &str) -> Result<(), ServiceError> {
    let db = &deps.db;
    let mut errors = Vec::new();
    check_password(new_password, "newPassword", &mut errors);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let hash = password::hash(new_password).map_err(ServiceError::internal)?;
    let now = deps.now();
    let txn = write_txn(db).await?;
    let row = consume_token(&txn, token, TokenPurpose::PasswordReset, now).await?;
    if row.status == AccountStatus::Disabled {
        return Err(ServiceError::invalid("token", FieldErrorCode::InvalidToken));
    }
    let row = set_password(&txn, row, hash, now).await?;
    // The reset link proves the address, so a pending or invited account becomes active.
    set_status(&txn, row.clone(), AccountStatus::Active, now).await?;
    revoke_all_sessions(&txn, row.id, now).await?;
    txn.commit().await?;
    Ok(())
}

pub(super) async fn set_password(
    db: &impl ConnectionTrait,
    row: account::Model,
    hash: String,
    now: DateTime<Utc>,
) -> Result<account::Model, ServiceError> {
    let mut active: account::ActiveModel = row.into();
    active.password_hash = Set(Some(hash));
    active.updated_at = Set(now);
    Ok(active.update(db).await?)
}
