//! Sign-up: an applicant registers, confirms their email address, or completes the account an administrator set up.

use crate::language::Text;
use std::net::IpAddr;

use chrono::Duration;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;
use tracing::instrument;

use super::passwords::set_password;
use super::sessions::start_session;
use super::staff::set_status;
use super::{
    AccountStatus, AuthContext, Session, TokenPurpose, check_display_name, check_email, check_password, consume_token,
    find_by_email, insert_account, issue_token, normalize_email,
};
use crate::auth::{Role, password};
use crate::db::write_txn;
use crate::domain::FieldErrorCode;
use crate::mail::Stage;
use crate::mail::outbox::{self, Envelope};
use crate::services::Deps;
use crate::services::ServiceError;
use crate::services::tenants::{self};
use entity::account;

/// What a person signing up gives (no `Debug`: it holds the password).
#[derive(Clone, Copy)]
pub struct Registration<'a> {
    /// The registrar's slug.
    pub tenant_slug: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub display_name: &'a str,
    pub language: Option<crate::mail::MailLanguage>,
}

/// Registers an applicant. The answer is the same whether or not the address already has an account (no account
/// enumeration): a new address gets a verification link, a known one a note that it is already registered.
#[instrument(skip_all, fields(tenant = form.tenant_slug))]
pub async fn register_applicant(
    deps: &Deps,
    form: &Registration<'_>,
    client: Option<IpAddr>,
) -> Result<(), ServiceError> {
    let (db, auth) = (&deps.db, &deps.auth);
    let Registration { tenant_slug, email, password: new_password, display_name, language } = *form;
    let email = normalize_email(email);
    let mut errors = Vec::new();
    check_email(&email, "email", &mut errors);
    check_password(new_password, "password", &mut errors);
    let display_name = &check_display_name(display_name, "displayName", &mut errors);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    throttle_mail(auth, tenant_slug, &email, client)?;
    // An unknown (or suspended) registrar answers like a known one, after the same work, and sends nothing:
    // otherwise the answers would list which slugs exist.
    let tenant = match tenants::active_tenant_by_slug(db, tenant_slug).await {
        Ok(tenant) => tenant,
        Err(ServiceError::NotFound) => {
            let _same_time = password::hash(new_password).map_err(ServiceError::internal)?;
            return Ok(());
        }
        Err(other) => return Err(other),
    };
    if !tenant.open_signup {
        return Err(ServiceError::Forbidden(Text::new(
            "this registrar does not accept sign-ups: ask it for an account",
            "该接入商不开放注册，请联系其开通账号",
        )));
    }
    // Hash before looking the address up, so both answers take the same time.
    let hash = password::hash(new_password).map_err(ServiceError::internal)?;
    let now = deps.now();
    let txn = write_txn(db).await?;
    match find_by_email(&txn, tenant.id, &email).await? {
        Some(existing) => {
            let payload = json!({ "displayName": existing.display_name, "tenant": tenant.name,
                "resetUrl": super::link(&tenant.frontend_base_url, "reset-password", None) });
            outbox::enqueue(&txn, &deps.keys, Envelope::account(tenant.id, Stage::AccountExists, &existing, payload))
                .await?;
        }
        None => {
            let row = insert_account(&txn, tenant.id, &email, Some(hash), display_name, Role::Applicant, now).await?;
            let mut active: account::ActiveModel = row.clone().into();
            active.status = Set(AccountStatus::Pending);
            active.preferred_language = Set(language.map(|l| l.as_str().to_owned()));
            let row = active.update(&txn).await?;
            let ttl = Duration::hours(auth.config.email_verification_ttl_hours);
            let token = issue_token(&txn, &row, TokenPurpose::EmailVerification, ttl, now).await?;
            let payload = json!({ "displayName": row.display_name, "tenant": tenant.name, "token": token,
                "url": super::link(&tenant.frontend_base_url, "verify-email", Some(&token)), "expiresAt": now + ttl });
            outbox::enqueue(&txn, &deps.keys, Envelope::account(tenant.id, Stage::EmailVerification, &row, payload))
                .await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// Confirms an applicant's email address with the emailed token, activates the account and signs it in.
pub async fn verify_email(deps: &Deps, token: &str) -> Result<Session, ServiceError> {
    let (db, auth) = (&deps.db, &deps.auth);
    let now = deps.now();
    let txn = write_txn(db).await?;
    let row = consume_token(&txn, token, TokenPurpose::EmailVerification, now).await?;
    if row.status != AccountStatus::Pending {
        return Err(ServiceError::invalid("token", FieldErrorCode::InvalidToken));
    }
    let row = set_status(&txn, row, AccountStatus::Active, now).await?;
    let session = start_session(&txn, auth, row, None, now).await?;
    txn.commit().await?;
    Ok(session)
}

/// Counts a request that emails `email`: at most `auth.emails_per_address_per_hour` per address and
/// `auth.email_requests_per_client_per_hour` per client, so nobody floods an inbox through sign-ups or resets.
pub(super) fn throttle_mail(
    auth: &AuthContext,
    tenant_slug: &str,
    email: &str,
    client: Option<IpAddr>,
) -> Result<(), ServiceError> {
    auth.mail_throttle.check(tenant_slug, email, client).map_err(|retry_after| {
        tracing::warn!("email request throttled");
        ServiceError::RateLimited { retry_after }
    })
}

/// Sets the password of an invited account (or of a tenant's first administrator) and signs it in.
pub async fn complete_account_setup(deps: &Deps, token: &str, new_password: &str) -> Result<Session, ServiceError> {
    let (db, auth) = (&deps.db, &deps.auth);
    let mut errors = Vec::new();
    check_password(new_password, "password", &mut errors);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let hash = password::hash(new_password).map_err(ServiceError::internal)?;
    let now = deps.now();
    let txn = write_txn(db).await?;
    let row = consume_token(&txn, token, TokenPurpose::AccountSetup, now).await?;
    if row.status != AccountStatus::Invited {
        return Err(ServiceError::invalid("token", FieldErrorCode::InvalidToken));
    }
    let row = set_password(&txn, row, hash, now).await?;
    let row = set_status(&txn, row, AccountStatus::Active, now).await?;
    let session = start_session(&txn, auth, row, None, now).await?;
    txn.commit().await?;
    Ok(session)
}
