//! Sessions: signing in and out, refreshing a session, and the access tokens every request carries.

use crate::language::Text;
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use sea_orm::prelude::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QuerySelect, RelationTrait, Set,
};
use tracing::instrument;
use uuid::Uuid;

use super::{Account, AccountStatus, AuthContext, LOGIN_FAILED, Session, find_by_email, normalize_email, tokens_hash};
use crate::auth::tokens::{self, TokenError};
use crate::auth::{Actor, Principal, password};
use crate::db::write_txn;
use crate::services::Deps;
use crate::services::ServiceError;
use crate::services::tenants::{self, TenantStatus};
use entity::{account, session};

/// Signs in with email and password at the registrar named by its slug.
#[instrument(skip_all, fields(tenant = tenant_slug))]
pub async fn login(
    deps: &Deps,
    tenant_slug: &str,
    email: &str,
    given_password: &str,
    client: Option<IpAddr>,
) -> Result<Session, ServiceError> {
    let (db, auth) = (&deps.db, &deps.auth);
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
    match row.status {
        AccountStatus::Active => {}
        AccountStatus::Pending => {
            return Err(ServiceError::Unauthenticated(Text::new(
                "confirm your email address first: follow the emailed link",
                "请先点击邮件中的链接确认电子邮箱地址",
            )));
        }
        _ => return Err(ServiceError::Unauthenticated(Text::new("this account is disabled", "该账号已被停用"))),
    }
    let now = deps.now();
    let txn = write_txn(db).await?;
    let session = start_session(&txn, auth, row, None, now).await?;
    txn.commit().await?;
    tracing::info!(account = %session.account.id, "signed in");
    Ok(session)
}

/// Exchanges a refresh token for a new session. The old token is spent: presenting it again (a replay, or a
/// stolen copy) revokes every session descending from the same sign-in.
pub async fn refresh_session(deps: &Deps, refresh_token: &str) -> Result<Session, ServiceError> {
    let (db, auth) = (&deps.db, &deps.auth);
    let refused = || {
        ServiceError::Unauthenticated(Text::new(
            "the refresh token is not valid: sign in again",
            "刷新令牌无效，请重新登录",
        ))
    };
    let now = deps.now();
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
    if row.status != AccountStatus::Active || !tenant_active {
        return Err(refused());
    }
    let session = start_session(&txn, auth, row, Some(found.family_id), now).await?;
    txn.commit().await?;
    Ok(session)
}

/// Ends the session a refresh token belongs to (and every token of its family). Unknown tokens are ignored.
pub async fn logout(deps: &Deps, refresh_token: &str) -> Result<(), ServiceError> {
    let db = &deps.db;
    let found =
        session::Entity::find().filter(session::Column::TokenHash.eq(tokens_hash(refresh_token))).one(db).await?;
    if let Some(found) = found {
        let txn = write_txn(db).await?;
        revoke_family(&txn, found.family_id, deps.now()).await?;
        txn.commit().await?;
    }
    Ok(())
}

/// The account behind a verified access token, as the actor of a request. The token must name a live session: one
/// that no logout, password change or reset, refresh-token replay or disabling ended (a session that was only
/// refreshed stays live for the tokens it issued until they expire). Account, tenant and session are read in one
/// indexed statement, so this costs no more than before sessions were checked.
pub async fn authenticate_access_token(deps: &Deps, token: &str) -> Result<Actor, ServiceError> {
    let (db, auth) = (&deps.db, &deps.auth);
    let claims = auth.signer.verify(token).map_err(|e| match e {
        TokenError::Expired => ServiceError::Unauthenticated(Text::new(
            "the access token has expired: refresh the session",
            "访问令牌已过期，请刷新会话",
        )),
        _ => ServiceError::Unauthenticated(Text::new("the access token is not valid", "访问令牌无效")),
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
        return Err(ServiceError::Unauthenticated(Text::new(
            "the session has ended: sign in again",
            "会话已结束，请重新登录",
        )));
    };
    if tenant.status != TenantStatus::Active {
        return Err(ServiceError::Unauthenticated(Text::new(
            "this registrar's access is suspended",
            "该接入商的访问已被暂停",
        )));
    }
    if row.status != AccountStatus::Active {
        return Err(ServiceError::Unauthenticated(Text::new("this account is disabled", "该账号已被停用")));
    }
    let role = row.role;
    Ok(Actor { tenant_id: row.tenant_id, id: row.id, label: row.display_name, principal: Principal::Account { role } })
}

pub(super) async fn start_session(
    db: &impl ConnectionTrait,
    auth: &AuthContext,
    row: account::Model,
    family: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Session, ServiceError> {
    let (refresh_token, hash) = tokens::opaque(crate::auth::api_key::REFRESH_TOKEN_PREFIX);
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
    let (access_token, access_expires) = auth.signer.issue(row.tenant_id, row.id, id, row.role.as_str(), now);
    Ok(Session {
        access_token,
        access_token_expires_at: access_expires,
        refresh_token,
        refresh_token_expires_at: refresh_expires,
        account: Account::try_from(row)?,
    })
}

pub(super) async fn revoke_family(
    db: &impl ConnectionTrait,
    family: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(session::Column::FamilyId.eq(family))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

pub(super) async fn revoke_all_sessions(
    db: &impl ConnectionTrait,
    account: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(session::Column::AccountId.eq(account))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
