//! Accounts of people: applicants' sign-up, sign-in, sessions, passwords; staff management by administrators.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use sea_orm::prelude::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, JoinType, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait, Set,
};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::tenants::{self, TenantStatus};
use super::{Page, ServiceError};
use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::{self, TokenError, TokenSigner};
use crate::auth::{Actor, Principal, Role, password};
use crate::config::AuthConfig;
use crate::db::write_txn;
use crate::domain::{FieldError, FieldErrorCode};
use crate::mail::Stage;
use crate::mail::outbox::{self, Envelope};
use entity::{account, account_token, session};

/// What sign-in needs besides the database: the token signer, the throttles and the lifetimes.
pub struct AuthContext {
    pub signer: TokenSigner,
    pub throttle: LoginThrottle,
    /// Sign-ups and password resets: each sends an email to the address it names.
    pub mail_throttle: LoginThrottle,
    pub config: AuthConfig,
}

impl AuthContext {
    pub fn new(config: &AuthConfig, secret: &[u8]) -> Result<Self, TokenError> {
        Ok(Self {
            signer: TokenSigner::new(
                secret,
                Duration::seconds(config.access_token_ttl_seconds),
                Duration::seconds(config.clock_skew_seconds),
            )?,
            throttle: LoginThrottle::new(config.login_attempts_per_account, config.login_attempts_per_address),
            mail_throttle: LoginThrottle::with_periods(
                (config.emails_per_address_per_hour, std::time::Duration::from_secs(3600)),
                (config.email_requests_per_client_per_hour, std::time::Duration::from_secs(3600)),
            ),
            config: config.clone(),
        })
    }
}

/// Whether an account may sign in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountStatus {
    /// May sign in.
    Active,
    /// Registered, email address not yet confirmed.
    Pending,
    /// Invited staff who has not set a password yet.
    Invited,
    /// Switched off by an administrator.
    Disabled,
}

/// Single-use tokens sent to people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::Display)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
enum TokenPurpose {
    EmailVerification,
    PasswordReset,
    AccountSetup,
}

#[derive(Clone, Debug)]
pub struct Account {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub status: AccountStatus,
    /// The language of the account's mail; none: both.
    pub preferred_language: Option<crate::mail::MailLanguage>,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<account::Model> for Account {
    type Error = ServiceError;

    fn try_from(row: account::Model) -> Result<Self, ServiceError> {
        Ok(Self {
            id: row.id,
            tenant_id: row.tenant_id,
            email: row.email,
            display_name: row.display_name,
            role: super::models::parse("accounts.role", &row.role)?,
            status: super::models::parse("accounts.status", &row.status)?,
            preferred_language: row
                .preferred_language
                .as_deref()
                .map(|l| super::models::parse("accounts.preferred_language", l))
                .transpose()?,
            created_at: row.created_at,
        })
    }
}

/// A signed-in session: a short-lived access token and the refresh token that renews it.
#[derive(Clone, Debug)]
pub struct Session {
    pub access_token: String,
    pub access_token_expires_at: DateTime<Utc>,
    pub refresh_token: String,
    pub refresh_token_expires_at: DateTime<Utc>,
    pub account: Account,
}

/// Filters of the account list.
#[derive(Clone, Debug, Default)]
pub struct AccountFilter {
    pub roles: Option<Vec<Role>>,
    pub statuses: Option<Vec<AccountStatus>>,
    pub email_contains: Option<String>,
}

const LOGIN_FAILED: &str = "the email address or the password is not correct";
const BAD_TOKEN: &str = "the link is not valid or has expired: ask for a new one";

// ---------------------------------------------------------------------------------------------------------------
// Sign-up and sign-in
// ---------------------------------------------------------------------------------------------------------------

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
    db: &DatabaseConnection,
    auth: &AuthContext,
    form: &Registration<'_>,
    client: Option<IpAddr>,
) -> Result<(), ServiceError> {
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
        return Err(ServiceError::Forbidden("this registrar does not accept sign-ups: ask it for an account"));
    }
    // Hash before looking the address up, so both answers take the same time.
    let hash = password::hash(new_password).map_err(ServiceError::internal)?;
    let now = Utc::now();
    let txn = write_txn(db).await?;
    match find_by_email(&txn, tenant.id, &email).await? {
        Some(existing) => {
            let payload = json!({ "displayName": existing.display_name, "tenant": tenant.name,
                "resetUrl": link(&tenant.frontend_base_url, "reset-password", None) });
            outbox::enqueue(&txn, Envelope::account(tenant.id, Stage::AccountExists, &existing, payload)).await?;
        }
        None => {
            let row = insert_account(&txn, tenant.id, &email, Some(hash), display_name, Role::Applicant, now).await?;
            let mut active: account::ActiveModel = row.clone().into();
            active.status = Set(AccountStatus::Pending.to_string());
            active.preferred_language = Set(language.map(|l| l.as_str().to_owned()));
            let row = active.update(&txn).await?;
            let ttl = Duration::hours(auth.config.email_verification_ttl_hours);
            let token = issue_token(&txn, &row, TokenPurpose::EmailVerification, ttl, now).await?;
            let payload = json!({ "displayName": row.display_name, "tenant": tenant.name, "token": token,
                "url": link(&tenant.frontend_base_url, "verify-email", Some(&token)), "expiresAt": now + ttl });
            outbox::enqueue(&txn, Envelope::account(tenant.id, Stage::EmailVerification, &row, payload)).await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// Confirms an applicant's email address with the emailed token, activates the account and signs it in.
pub async fn verify_email(db: &DatabaseConnection, auth: &AuthContext, token: &str) -> Result<Session, ServiceError> {
    let now = Utc::now();
    let txn = write_txn(db).await?;
    let row = consume_token(&txn, token, TokenPurpose::EmailVerification, now).await?;
    if row.status != AccountStatus::Pending.to_string() {
        return Err(ServiceError::invalid("token", FieldErrorCode::InvalidToken));
    }
    let row = set_status(&txn, row, AccountStatus::Active, now).await?;
    let session = start_session(&txn, auth, row, None, now).await?;
    txn.commit().await?;
    Ok(session)
}

/// Counts a request that emails `email`: at most `auth.emails_per_address_per_hour` per address and
/// `auth.email_requests_per_client_per_hour` per client, so nobody floods an inbox through sign-ups or resets.
fn throttle_mail(
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

/// Signs in with email and password at the registrar named by its slug.
#[instrument(skip_all, fields(tenant = tenant_slug))]
pub async fn login(
    db: &DatabaseConnection,
    auth: &AuthContext,
    tenant_slug: &str,
    email: &str,
    given_password: &str,
    client: Option<IpAddr>,
) -> Result<Session, ServiceError> {
    let email = normalize_email(email);
    auth.throttle.check(tenant_slug, &email, client).map_err(|retry_after| {
        tracing::warn!("login throttled");
        ServiceError::RateLimited { retry_after }
    })?;
    let refused = || ServiceError::Unauthenticated(LOGIN_FAILED);
    let Ok(tenant) = tenants::active_tenant_by_slug(db, tenant_slug).await else {
        password::verify_nothing(given_password);
        return Err(refused());
    };
    let Some(row) = find_by_email(db, tenant.id, &email).await? else {
        password::verify_nothing(given_password);
        return Err(refused());
    };
    let matches = row.password_hash.as_deref().is_some_and(|hash| password::verify(given_password, hash));
    if !matches {
        if row.password_hash.is_none() {
            password::verify_nothing(given_password);
        }
        return Err(refused());
    }
    // Only someone who knows the password learns why an existing account may not sign in.
    match row.status.parse::<AccountStatus>() {
        Ok(AccountStatus::Active) => {}
        Ok(AccountStatus::Pending) => {
            return Err(ServiceError::Unauthenticated("confirm your email address first: follow the emailed link"));
        }
        _ => return Err(ServiceError::Unauthenticated("this account is disabled")),
    }
    let now = Utc::now();
    let txn = write_txn(db).await?;
    let session = start_session(&txn, auth, row, None, now).await?;
    txn.commit().await?;
    tracing::info!(account = %session.account.id, "signed in");
    Ok(session)
}

/// Exchanges a refresh token for a new session. The old token is spent: presenting it again (a replay, or a
/// stolen copy) revokes every session descending from the same sign-in.
pub async fn refresh_session(
    db: &DatabaseConnection,
    auth: &AuthContext,
    refresh_token: &str,
) -> Result<Session, ServiceError> {
    let refused = || ServiceError::Unauthenticated("the refresh token is not valid: sign in again");
    let now = Utc::now();
    let txn = write_txn(db).await?;
    let Some(found) =
        session::Entity::find().filter(session::Column::TokenHash.eq(tokens_hash(refresh_token))).one(&txn).await?
    else {
        return Err(refused());
    };
    if found.rotated_at.is_some() || found.revoked_at.is_some() {
        if found.rotated_at.is_some() && found.revoked_at.is_none() {
            tracing::warn!(account = %found.account_id, "refresh token replayed: revoking its session family");
        }
        revoke_family(&txn, found.family_id, now).await?;
        txn.commit().await?;
        return Err(refused());
    }
    if found.expires_at <= now {
        return Err(refused());
    }
    let spent = session::Entity::update_many()
        .col_expr(session::Column::RotatedAt, Expr::value(now))
        .filter(session::Column::Id.eq(found.id))
        .filter(session::Column::RotatedAt.is_null())
        .exec(&txn)
        .await?;
    if spent.rows_affected == 0 {
        return Err(refused());
    }
    let row = account::Entity::find_by_id(found.account_id).one(&txn).await?.ok_or_else(refused)?;
    let tenant_active = tenants::tenant_is_active(&txn, row.tenant_id).await?;
    if row.status != AccountStatus::Active.to_string() || !tenant_active {
        return Err(refused());
    }
    let session = start_session(&txn, auth, row, Some(found.family_id), now).await?;
    txn.commit().await?;
    Ok(session)
}

/// Ends the session a refresh token belongs to (and every token of its family). Unknown tokens are ignored.
pub async fn logout(db: &DatabaseConnection, refresh_token: &str) -> Result<(), ServiceError> {
    let found =
        session::Entity::find().filter(session::Column::TokenHash.eq(tokens_hash(refresh_token))).one(db).await?;
    if let Some(found) = found {
        let txn = write_txn(db).await?;
        revoke_family(&txn, found.family_id, Utc::now()).await?;
        txn.commit().await?;
    }
    Ok(())
}

/// Changes the caller's password; every other session of the account ends, and a new one starts.
pub async fn change_password(
    db: &DatabaseConnection,
    auth: &AuthContext,
    actor: &Actor,
    current: &str,
    new_password: &str,
) -> Result<Session, ServiceError> {
    let Principal::Account { .. } = actor.principal else {
        return Err(ServiceError::Forbidden("only people with an account have a password"));
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
    let now = Utc::now();
    let txn = write_txn(db).await?;
    let row = set_password(&txn, row, hash, now).await?;
    revoke_all_sessions(&txn, row.id, now).await?;
    let payload = json!({ "displayName": row.display_name });
    outbox::enqueue(&txn, Envelope::account(row.tenant_id, Stage::PasswordChanged, &row, payload)).await?;
    let session = start_session(&txn, auth, row, None, now).await?;
    txn.commit().await?;
    Ok(session)
}

/// Sends a password reset link if the address has an account; answers the same either way.
#[instrument(skip_all, fields(tenant = tenant_slug))]
pub async fn request_password_reset(
    db: &DatabaseConnection,
    auth: &AuthContext,
    tenant_slug: &str,
    email: &str,
    client: Option<IpAddr>,
) -> Result<(), ServiceError> {
    let email = normalize_email(email);
    // Counted whether or not the address has an account, so the limit tells nothing about it.
    throttle_mail(auth, tenant_slug, &email, client)?;
    let Ok(tenant) = tenants::active_tenant_by_slug(db, tenant_slug).await else {
        return Ok(());
    };
    let Some(row) = find_by_email(db, tenant.id, &email).await? else {
        return Ok(());
    };
    if row.status == AccountStatus::Disabled.to_string() {
        return Ok(());
    }
    let now = Utc::now();
    let ttl = Duration::minutes(auth.config.password_reset_ttl_minutes);
    let txn = write_txn(db).await?;
    let token = issue_token(&txn, &row, TokenPurpose::PasswordReset, ttl, now).await?;
    let payload = json!({ "displayName": row.display_name, "tenant": tenant.name, "token": token,
        "url": link(&tenant.frontend_base_url, "reset-password", Some(&token)), "expiresAt": now + ttl });
    outbox::enqueue(&txn, Envelope::account(tenant.id, Stage::PasswordReset, &row, payload)).await?;
    txn.commit().await?;
    Ok(())
}

/// Sets a new password with an emailed reset token; every session of the account ends.
pub async fn reset_password(db: &DatabaseConnection, token: &str, new_password: &str) -> Result<(), ServiceError> {
    let mut errors = Vec::new();
    check_password(new_password, "newPassword", &mut errors);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let hash = password::hash(new_password).map_err(ServiceError::internal)?;
    let now = Utc::now();
    let txn = write_txn(db).await?;
    let row = consume_token(&txn, token, TokenPurpose::PasswordReset, now).await?;
    if row.status == AccountStatus::Disabled.to_string() {
        return Err(ServiceError::invalid("token", FieldErrorCode::InvalidToken));
    }
    let row = set_password(&txn, row, hash, now).await?;
    // The reset link proves the address, so a pending or invited account becomes active.
    set_status(&txn, row.clone(), AccountStatus::Active, now).await?;
    revoke_all_sessions(&txn, row.id, now).await?;
    txn.commit().await?;
    Ok(())
}

/// Sets the password of an invited account (or of a tenant's first administrator) and signs it in.
pub async fn complete_account_setup(
    db: &DatabaseConnection,
    auth: &AuthContext,
    token: &str,
    new_password: &str,
) -> Result<Session, ServiceError> {
    let mut errors = Vec::new();
    check_password(new_password, "password", &mut errors);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let hash = password::hash(new_password).map_err(ServiceError::internal)?;
    let now = Utc::now();
    let txn = write_txn(db).await?;
    let row = consume_token(&txn, token, TokenPurpose::AccountSetup, now).await?;
    if row.status != AccountStatus::Invited.to_string() {
        return Err(ServiceError::invalid("token", FieldErrorCode::InvalidToken));
    }
    let row = set_password(&txn, row, hash, now).await?;
    let row = set_status(&txn, row, AccountStatus::Active, now).await?;
    let session = start_session(&txn, auth, row, None, now).await?;
    txn.commit().await?;
    Ok(session)
}

/// The account behind a verified access token, as the actor of a request. The token must name a live session: one
/// that no logout, password change or reset, refresh-token replay or disabling ended (a session that was only
/// refreshed stays live for the tokens it issued until they expire). Account, tenant and session are read in one
/// indexed statement, so this costs no more than before sessions were checked.
pub async fn authenticate_access_token(
    db: &DatabaseConnection,
    auth: &AuthContext,
    token: &str,
) -> Result<Actor, ServiceError> {
    let claims = auth.signer.verify(token).map_err(|e| match e {
        TokenError::Expired => ServiceError::Unauthenticated("the access token has expired: refresh the session"),
        _ => ServiceError::Unauthenticated("the access token is not valid"),
    })?;
    let found = account::Entity::find_by_id(claims.sub)
        .filter(account::Column::TenantId.eq(claims.tid))
        .find_also_related(entity::tenant::Entity)
        .join(JoinType::InnerJoin, session::Relation::Account.def().rev())
        .filter(session::Column::Id.eq(claims.sid))
        .filter(session::Column::RevokedAt.is_null())
        .one(db)
        .await?;
    let Some((row, Some(tenant))) = found else {
        return Err(ServiceError::Unauthenticated("the session has ended: sign in again"));
    };
    if tenant.status != TenantStatus::Active.to_string() {
        return Err(ServiceError::Unauthenticated("this registrar's access is suspended"));
    }
    if row.status != AccountStatus::Active.to_string() {
        return Err(ServiceError::Unauthenticated("this account is disabled"));
    }
    let role: Role = super::models::parse("accounts.role", &row.role)?;
    Ok(Actor { tenant_id: row.tenant_id, id: row.id, label: row.display_name, principal: Principal::Account { role } })
}

// ---------------------------------------------------------------------------------------------------------------
// Staff management (administrators)
// ---------------------------------------------------------------------------------------------------------------

/// Invites a member of staff: the account waits for its owner to set a password through the emailed link.
#[instrument(skip_all, fields(tenant = %actor.tenant_id))]
pub async fn invite_staff(
    db: &DatabaseConnection,
    auth: &AuthContext,
    actor: &Actor,
    email: &str,
    display_name: &str,
    role: Role,
) -> Result<Account, ServiceError> {
    super::access::require_admin(actor)?;
    let email = normalize_email(email);
    let mut errors = Vec::new();
    check_email(&email, "email", &mut errors);
    let display_name = &check_display_name(display_name, "displayName", &mut errors);
    if role == Role::Applicant {
        errors.push(FieldError::new("role", FieldErrorCode::InvalidFormat).with_message(
            "Staff are reviewers or administrators; applicants register themselves.",
            "员工角色只能是审核员或管理员；申请人请自行注册。",
        ));
    }
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let tenant = tenants::tenant_by_id(db, actor.tenant_id).await?;
    let now = Utc::now();
    let txn = write_txn(db).await?;
    if find_by_email(&txn, actor.tenant_id, &email).await?.is_some() {
        return Err(ServiceError::InvalidInput(vec![
            FieldError::new("email", FieldErrorCode::Duplicate)
                .with_message("An account with this email address exists already.", "该邮箱已有账号。"),
        ]));
    }
    let row = insert_account(&txn, actor.tenant_id, &email, None, display_name, role, now).await?;
    let row = set_status(&txn, row, AccountStatus::Invited, now).await?;
    let token = send_setup_link(&txn, &tenant, &row, Some(&actor.label), auth, now).await?;
    let _ = token;
    txn.commit().await?;
    Account::try_from(row)
}

/// Creates the first administrator of a tenant (from the command line); returns the account and its setup token.
pub async fn create_first_admin(
    db: &DatabaseConnection,
    auth_config: &AuthConfig,
    tenant_id: Uuid,
    email: &str,
) -> Result<(Account, String), ServiceError> {
    let email = normalize_email(email);
    let mut errors = Vec::new();
    check_email(&email, "admin-email", &mut errors);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    tenants::tenant_by_id(db, tenant_id).await?;
    let now = Utc::now();
    let txn = write_txn(db).await?;
    let name = email.split('@').next().unwrap_or("admin").to_owned();
    let row = insert_account(&txn, tenant_id, &email, None, &name, Role::Admin, now).await?;
    let row = set_status(&txn, row, AccountStatus::Invited, now).await?;
    let ttl = Duration::hours(auth_config.invitation_ttl_hours);
    let token = issue_token(&txn, &row, TokenPurpose::AccountSetup, ttl, now).await?;
    txn.commit().await?;
    Ok((Account::try_from(row)?, token))
}

/// Changes the role of an account of the tenant. The last active administrator keeps the role.
pub async fn update_account_role(
    db: &DatabaseConnection,
    actor: &Actor,
    account_id: Uuid,
    role: Role,
) -> Result<Account, ServiceError> {
    super::access::require_admin(actor)?;
    let now = Utc::now();
    let txn = write_txn(db).await?;
    let row = tenant_account(&txn, actor, account_id).await?;
    if row.role == Role::Admin.to_string() && role != Role::Admin {
        ensure_another_admin(&txn, actor.tenant_id, row.id).await?;
    }
    let mut active: account::ActiveModel = row.into();
    active.role = Set(role.to_string());
    active.updated_at = Set(now);
    let row = active.update(&txn).await?;
    txn.commit().await?;
    Account::try_from(row)
}

/// Disables an account: it can no longer sign in, and its sessions end now.
pub async fn disable_account(
    db: &DatabaseConnection,
    actor: &Actor,
    account_id: Uuid,
) -> Result<Account, ServiceError> {
    super::access::require_admin(actor)?;
    if account_id == actor.id {
        return Err(ServiceError::InvalidInput(vec![
            FieldError::new("accountId", FieldErrorCode::InvalidFormat)
                .with_message("You cannot disable your own account.", "不能停用自己的账号。"),
        ]));
    }
    let now = Utc::now();
    let txn = write_txn(db).await?;
    let row = tenant_account(&txn, actor, account_id).await?;
    if row.role == Role::Admin.to_string() {
        ensure_another_admin(&txn, actor.tenant_id, row.id).await?;
    }
    let row = set_status(&txn, row, AccountStatus::Disabled, now).await?;
    revoke_all_sessions(&txn, row.id, now).await?;
    txn.commit().await?;
    Account::try_from(row)
}

/// Enables a disabled account again (it signs in with its old password).
pub async fn enable_account(db: &DatabaseConnection, actor: &Actor, account_id: Uuid) -> Result<Account, ServiceError> {
    super::access::require_admin(actor)?;
    let now = Utc::now();
    let txn = write_txn(db).await?;
    let row = tenant_account(&txn, actor, account_id).await?;
    if row.status != AccountStatus::Disabled.to_string() {
        txn.rollback().await?;
        return Account::try_from(row);
    }
    let status = if row.password_hash.is_some() { AccountStatus::Active } else { AccountStatus::Invited };
    let row = set_status(&txn, row, status, now).await?;
    txn.commit().await?;
    Account::try_from(row)
}

/// One account of the tenant: administrators see all, everyone else only their own.
pub async fn get_account(db: &DatabaseConnection, actor: &Actor, account_id: Uuid) -> Result<Account, ServiceError> {
    if !actor.is_admin() && account_id != actor.id {
        return Err(ServiceError::NotFound);
    }
    Account::try_from(tenant_account(db, actor, account_id).await?)
}

/// The caller's own account.
pub async fn me(db: &DatabaseConnection, actor: &Actor) -> Result<Option<Account>, ServiceError> {
    match actor.principal {
        Principal::Account { .. } => Ok(Some(Account::try_from(own_account(db, actor).await?)?)),
        Principal::ApiKey { .. } | Principal::System => Ok(None),
    }
}

/// Accounts of the tenant by id, for batch loading; applicants only ever get their own.
pub async fn accounts_by_id(
    db: &DatabaseConnection,
    actor: &Actor,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Account>, ServiceError> {
    let mut query = account::Entity::find()
        .filter(account::Column::TenantId.eq(actor.tenant_id))
        .filter(account::Column::Id.is_in(ids.iter().copied()));
    if let Some(own) = actor.owner_scope() {
        query = query.filter(account::Column::Id.eq(own));
    }
    query.all(db).await?.into_iter().map(|row| Ok((row.id, Account::try_from(row)?))).collect()
}

/// The tenant's accounts, newest first (administrators).
pub async fn list_accounts(
    db: &DatabaseConnection,
    actor: &Actor,
    filter: &AccountFilter,
    first: u64,
    after: Option<Uuid>,
) -> Result<Page<Account>, ServiceError> {
    super::access::require_admin(actor)?;
    let mut query = account::Entity::find().filter(account::Column::TenantId.eq(actor.tenant_id));
    if let Some(roles) = &filter.roles {
        query = query.filter(account::Column::Role.is_in(roles.iter().map(|r| r.to_string())));
    }
    if let Some(statuses) = &filter.statuses {
        query = query.filter(account::Column::Status.is_in(statuses.iter().map(|s| s.to_string())));
    }
    if let Some(part) = filter.email_contains.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        query = query.filter(super::contains_text((account::Entity, account::Column::Email), part));
    }
    if let Some(after) = after {
        query = query.filter(account::Column::Id.lt(after));
    }
    let mut rows = query.order_by_desc(account::Column::Id).limit(first + 1).all(db).await?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok(Page { items: rows.into_iter().map(Account::try_from).collect::<Result<_, _>>()?, has_next_page })
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn check_email(email: &str, field: &str, errors: &mut Vec<FieldError>) {
    if email.is_empty() {
        errors.push(FieldError::new(field, FieldErrorCode::Required));
    } else if email.len() > 254 || !validator::ValidateEmail::validate_email(&email) {
        errors.push(FieldError::new(field, FieldErrorCode::InvalidEmail));
    }
}

fn check_password(value: &str, field: &str, errors: &mut Vec<FieldError>) {
    let length = value.chars().count();
    if length < password::MIN_LENGTH || value.trim().is_empty() {
        errors.push(FieldError::new(field, FieldErrorCode::WeakPassword));
    } else if length > password::MAX_LENGTH {
        errors.push(FieldError::new(field, FieldErrorCode::TooLong));
    }
}

/// A person's name as stored: one line (it reaches the `To` header of their mail), at most 100 characters.
fn check_display_name(name: &str, field: &str, errors: &mut Vec<FieldError>) -> String {
    super::validation::one_line(name, field, 100, errors)
}

fn tokens_hash(secret: &str) -> String {
    crate::auth::api_key::hash(secret)
}

/// A link into the registrar's frontend, when it has told us where that is.
fn link(base: &Option<String>, path: &str, token: Option<&str>) -> Option<String> {
    let base = base.as_deref()?.trim_end_matches('/');
    Some(match token {
        Some(token) => format!("{base}/{path}?token={token}"),
        None => format!("{base}/{path}"),
    })
}

async fn find_by_email(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    email: &str,
) -> Result<Option<account::Model>, ServiceError> {
    Ok(account::Entity::find()
        .filter(account::Column::TenantId.eq(tenant_id))
        .filter(account::Column::Email.eq(email))
        .one(db)
        .await?)
}

/// Changes the caller's own name or mail language (`Some(None)`: both languages).
pub async fn update_profile(
    db: &DatabaseConnection,
    actor: &Actor,
    display_name: Option<String>,
    language: Option<Option<crate::mail::MailLanguage>>,
) -> Result<Account, ServiceError> {
    if !matches!(actor.principal, crate::auth::Principal::Account { .. }) {
        return Err(ServiceError::Forbidden("only people have a profile"));
    }
    let mut errors = Vec::new();
    let name = display_name.map(|n| check_display_name(&n, "displayName", &mut errors));
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let row = own_account(db, actor).await?;
    let mut active: account::ActiveModel = row.into();
    if let Some(name) = name {
        active.display_name = Set(name);
    }
    if let Some(language) = language {
        active.preferred_language = Set(language.map(|l| l.as_str().to_owned()));
    }
    active.updated_at = Set(Utc::now());
    Account::try_from(active.update(db).await?)
}

async fn own_account(db: &impl ConnectionTrait, actor: &Actor) -> Result<account::Model, ServiceError> {
    tenant_account(db, actor, actor.id).await
}

async fn tenant_account(
    db: &impl ConnectionTrait,
    actor: &Actor,
    account_id: Uuid,
) -> Result<account::Model, ServiceError> {
    account::Entity::find_by_id(account_id)
        .filter(account::Column::TenantId.eq(actor.tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)
}

async fn ensure_another_admin(db: &impl ConnectionTrait, tenant_id: Uuid, except: Uuid) -> Result<(), ServiceError> {
    let others = account::Entity::find()
        .filter(account::Column::TenantId.eq(tenant_id))
        .filter(account::Column::Role.eq(Role::Admin.to_string()))
        .filter(account::Column::Status.eq(AccountStatus::Active.to_string()))
        .filter(account::Column::Id.ne(except))
        .count(db)
        .await?;
    if others == 0 {
        return Err(ServiceError::InvalidInput(vec![FieldError::new("accountId", FieldErrorCode::LastAdmin)]));
    }
    Ok(())
}

async fn insert_account(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    email: &str,
    password_hash: Option<String>,
    display_name: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<account::Model, ServiceError> {
    Ok(account::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        email: Set(email.to_owned()),
        password_hash: Set(password_hash),
        display_name: Set(display_name.to_owned()),
        role: Set(role.to_string()),
        status: Set(AccountStatus::Active.to_string()),
        preferred_language: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

async fn set_status(
    db: &impl ConnectionTrait,
    row: account::Model,
    status: AccountStatus,
    now: DateTime<Utc>,
) -> Result<account::Model, ServiceError> {
    let mut active: account::ActiveModel = row.into();
    active.status = Set(status.to_string());
    active.updated_at = Set(now);
    Ok(active.update(db).await?)
}

async fn set_password(
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

async fn issue_token(
    db: &impl ConnectionTrait,
    row: &account::Model,
    purpose: TokenPurpose,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<String, ServiceError> {
    let (secret, hash) = tokens::opaque("beian_t_");
    account_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(row.tenant_id),
        account_id: Set(row.id),
        purpose: Set(purpose.to_string()),
        token_hash: Set(hash),
        created_at: Set(now),
        expires_at: Set(now + ttl),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(secret)
}

async fn send_setup_link(
    db: &impl ConnectionTrait,
    tenant: &entity::tenant::Model,
    row: &account::Model,
    invited_by: Option<&str>,
    auth: &AuthContext,
    now: DateTime<Utc>,
) -> Result<String, ServiceError> {
    let ttl = Duration::hours(auth.config.invitation_ttl_hours);
    let token = issue_token(db, row, TokenPurpose::AccountSetup, ttl, now).await?;
    let payload = json!({ "displayName": row.display_name, "tenant": tenant.name, "role": row.role,
        "invitedBy": invited_by, "token": token, "url": link(&tenant.frontend_base_url, "setup-account", Some(&token)),
        "expiresAt": now + ttl });
    outbox::enqueue(db, Envelope::account(tenant.id, Stage::StaffInvitation, row, payload)).await?;
    Ok(token)
}

/// Spends a single-use token of the given purpose; returns its account.
async fn consume_token(
    db: &impl ConnectionTrait,
    secret: &str,
    purpose: TokenPurpose,
    now: DateTime<Utc>,
) -> Result<account::Model, ServiceError> {
    let invalid = || {
        ServiceError::InvalidInput(vec![
            FieldError::new("token", FieldErrorCode::InvalidToken)
                .with_message(BAD_TOKEN, "链接无效或已过期，请重新获取。"),
        ])
    };
    let spent = account_token::Entity::update_many()
        .col_expr(account_token::Column::UsedAt, Expr::value(now))
        .filter(account_token::Column::TokenHash.eq(tokens_hash(secret)))
        .filter(account_token::Column::Purpose.eq(purpose.to_string()))
        .filter(account_token::Column::UsedAt.is_null())
        .filter(account_token::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    if spent.rows_affected != 1 {
        return Err(invalid());
    }
    let token = account_token::Entity::find()
        .filter(account_token::Column::TokenHash.eq(tokens_hash(secret)))
        .one(db)
        .await?
        .ok_or_else(invalid)?;
    account::Entity::find_by_id(token.account_id).one(db).await?.ok_or_else(invalid)
}

async fn start_session(
    db: &impl ConnectionTrait,
    auth: &AuthContext,
    row: account::Model,
    family: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Session, ServiceError> {
    let (refresh_token, hash) = tokens::opaque("beian_rt_");
    let refresh_expires = now + Duration::days(auth.config.refresh_token_ttl_days);
    let id = Uuid::now_v7();
    session::ActiveModel {
        id: Set(id),
        tenant_id: Set(row.tenant_id),
        account_id: Set(row.id),
        family_id: Set(family.unwrap_or(id)),
        token_hash: Set(hash),
        created_at: Set(now),
        expires_at: Set(refresh_expires),
        rotated_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    let (access_token, access_expires) = auth.signer.issue(row.tenant_id, row.id, id, &row.role, now);
    Ok(Session {
        access_token,
        access_token_expires_at: access_expires,
        refresh_token,
        refresh_token_expires_at: refresh_expires,
        account: Account::try_from(row)?,
    })
}

async fn revoke_family(db: &impl ConnectionTrait, family: Uuid, now: DateTime<Utc>) -> Result<(), ServiceError> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(session::Column::FamilyId.eq(family))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

async fn revoke_all_sessions(db: &impl ConnectionTrait, account: Uuid, now: DateTime<Utc>) -> Result<(), ServiceError> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(session::Column::AccountId.eq(account))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
