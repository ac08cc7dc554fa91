//! Accounts of people, by use case: [`signup`] (applicants register, confirm their email, complete a set-up
//! account), [`sessions`] (sign in and out, refresh, access tokens), [`passwords`] (change, reset), [`staff`]
//! (administrators invite, change roles, disable; the account list) and [`profile`] (one's own account). This
//! module holds what they share: the account as the API shows it, tokens by email, the checks of a form.

mod passwords;
mod profile;
mod sessions;
mod signup;
mod staff;

pub use passwords::{change_password, request_password_reset, reset_password};
pub use profile::{me, update_profile};
pub use sessions::{authenticate_access_token, login, logout, refresh_session};
pub use signup::{Registration, complete_account_setup, register_applicant, verify_email};
pub use staff::{
    accounts_by_id, create_first_admin, disable_account, enable_account, get_account, invite_staff, list_accounts,
    update_account_role,
};

use crate::language::Text;
use chrono::{DateTime, Duration, Utc};
use sea_orm::prelude::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::ServiceError;
use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::{self, TokenError, TokenSigner};
use crate::auth::{Actor, Role, password};
use crate::config::AuthConfig;
use crate::domain::{FieldError, FieldErrorCode};
use entity::{account, account_token};

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

pub use entity::enums::AccountStatus;

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
            role: row.role,
            status: row.status,
            preferred_language: row
                .preferred_language
                .as_deref()
                .map(|l| crate::services::models::parse("accounts.preferred_language", l))
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

const LOGIN_FAILED: Text = Text::new("the email address or the password is not correct", "电子邮箱或密码不正确");
const BAD_TOKEN: &str = "the link is not valid or has expired: ask for a new one";

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
        role: Set(role),
        status: Set(AccountStatus::Active),
        preferred_language: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

async fn issue_token(
    db: &impl ConnectionTrait,
    row: &account::Model,
    purpose: TokenPurpose,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<String, ServiceError> {
    let (secret, hash) = tokens::opaque(crate::auth::api_key::ONE_TIME_TOKEN_PREFIX);
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
