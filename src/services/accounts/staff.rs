//! Staff management by the registrar's administrators: invitations, roles, disabling, and the list of accounts.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::sessions::revoke_all_sessions;
use super::{
    Account, AccountFilter, AccountStatus, AuthContext, TokenPurpose, check_display_name, check_email, find_by_email,
    insert_account, issue_token, normalize_email, tenant_account,
};
use crate::auth::{Actor, Role};
use crate::db::write_txn;
use crate::domain::{FieldError, FieldErrorCode};
use crate::mail::Stage;
use crate::mail::outbox::{self, Envelope};
use crate::services::Deps;
use crate::services::tenants::{self};
use crate::services::{Page, ServiceError};
use entity::account;

/// Invites a member of staff: the account waits for its owner to set a password through the emailed link.
#[instrument(skip_all, fields(tenant = %actor.tenant_id))]
pub async fn invite_staff(
    deps: &Deps,
    actor: &Actor,
    email: &str,
    display_name: &str,
    role: Role,
) -> Result<Account, ServiceError> {
    let (db, auth) = (&deps.db, &deps.auth);
    crate::services::access::require_admin(actor)?;
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
    let now = deps.now();
    let txn = write_txn(db).await?;
    if find_by_email(&txn, actor.tenant_id, &email).await?.is_some() {
        return Err(ServiceError::InvalidInput(vec![
            FieldError::new("email", FieldErrorCode::Duplicate)
                .with_message("An account with this email address exists already.", "该邮箱已有账号。"),
        ]));
    }
    let row = insert_account(&txn, actor.tenant_id, &email, None, display_name, role, now).await?;
    let row = set_status(&txn, row, AccountStatus::Invited, now).await?;
    let token = send_setup_link(deps, &txn, &tenant, &row, Some(&actor.label), auth, now).await?;
    let _ = token;
    txn.commit().await?;
    Account::try_from(row)
}

/// Creates the first administrator of a tenant (from the command line); returns the account and its setup token.
pub async fn create_first_admin(deps: &Deps, tenant_id: Uuid, email: &str) -> Result<(Account, String), ServiceError> {
    let db = &deps.db;
    let email = normalize_email(email);
    let mut errors = Vec::new();
    check_email(&email, "admin-email", &mut errors);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    tenants::tenant_by_id(db, tenant_id).await?;
    let now = deps.now();
    let txn = write_txn(db).await?;
    let name = email.split('@').next().unwrap_or("admin").to_owned();
    let row = insert_account(&txn, tenant_id, &email, None, &name, Role::Admin, now).await?;
    let row = set_status(&txn, row, AccountStatus::Invited, now).await?;
    let ttl = Duration::hours(deps.auth.config.invitation_ttl_hours);
    let token = issue_token(&txn, &row, TokenPurpose::AccountSetup, ttl, now).await?;
    txn.commit().await?;
    Ok((Account::try_from(row)?, token))
}

/// Changes the role of an account of the tenant. The last active administrator keeps the role.
pub async fn update_account_role(
    deps: &Deps,
    actor: &Actor,
    account_id: Uuid,
    role: Role,
) -> Result<Account, ServiceError> {
    let db = &deps.db;
    crate::services::access::require_admin(actor)?;
    let now = deps.now();
    let txn = write_txn(db).await?;
    let row = tenant_account(&txn, actor, account_id).await?;
    if row.role == Role::Admin && role != Role::Admin {
        ensure_another_admin(&txn, actor.tenant_id, row.id).await?;
    }
    let mut active: account::ActiveModel = row.into();
    active.role = Set(role);
    active.updated_at = Set(now);
    let row = active.update(&txn).await?;
    txn.commit().await?;
    Account::try_from(row)
}

/// Disables an account: it can no longer sign in, and its sessions end now.
pub async fn disable_account(deps: &Deps, actor: &Actor, account_id: Uuid) -> Result<Account, ServiceError> {
    let db = &deps.db;
    crate::services::access::require_admin(actor)?;
    if account_id == actor.id {
        return Err(ServiceError::InvalidInput(vec![
            FieldError::new("accountId", FieldErrorCode::InvalidFormat)
                .with_message("You cannot disable your own account.", "不能停用自己的账号。"),
        ]));
    }
    let now = deps.now();
    let txn = write_txn(db).await?;
    let row = tenant_account(&txn, actor, account_id).await?;
    if row.role == Role::Admin {
        ensure_another_admin(&txn, actor.tenant_id, row.id).await?;
    }
    let row = set_status(&txn, row, AccountStatus::Disabled, now).await?;
    revoke_all_sessions(&txn, row.id, now).await?;
    txn.commit().await?;
    Account::try_from(row)
}

/// Enables a disabled account again (it signs in with its old password).
pub async fn enable_account(deps: &Deps, actor: &Actor, account_id: Uuid) -> Result<Account, ServiceError> {
    let db = &deps.db;
    crate::services::access::require_admin(actor)?;
    let now = deps.now();
    let txn = write_txn(db).await?;
    let row = tenant_account(&txn, actor, account_id).await?;
    if row.status != AccountStatus::Disabled {
        txn.rollback().await?;
        return Account::try_from(row);
    }
    let status = if row.password_hash.is_some() { AccountStatus::Active } else { AccountStatus::Invited };
    let row = set_status(&txn, row, status, now).await?;
    txn.commit().await?;
    Account::try_from(row)
}

/// One account of the tenant: administrators see all, everyone else only their own.
pub async fn get_account(deps: &Deps, actor: &Actor, account_id: Uuid) -> Result<Account, ServiceError> {
    let db = &deps.db;
    if !actor.is_admin() && account_id != actor.id {
        return Err(ServiceError::NotFound);
    }
    Account::try_from(tenant_account(db, actor, account_id).await?)
}

/// Accounts of the tenant by id, for batch loading; applicants only ever get their own.
pub async fn accounts_by_id(
    deps: &Deps,
    actor: &Actor,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Account>, ServiceError> {
    let db = &deps.db;
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
    deps: &Deps,
    actor: &Actor,
    filter: &AccountFilter,
    first: u64,
    after: Option<Uuid>,
) -> Result<Page<Account>, ServiceError> {
    let db = &deps.db;
    crate::services::access::require_admin(actor)?;
    let mut query = account::Entity::find().filter(account::Column::TenantId.eq(actor.tenant_id));
    if let Some(roles) = &filter.roles {
        query = query.filter(account::Column::Role.is_in(roles.iter().map(|r| r.to_string())));
    }
    if let Some(statuses) = &filter.statuses {
        query = query.filter(account::Column::Status.is_in(statuses.iter().copied()));
    }
    if let Some(part) = filter.email_contains.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        query = query.filter(crate::services::contains_text((account::Entity, account::Column::Email), part));
    }
    if let Some(after) = after {
        query = query.filter(account::Column::Id.lt(after));
    }
    let mut rows = query.order_by_desc(account::Column::Id).limit(first + 1).all(db).await?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok(Page { items: rows.into_iter().map(Account::try_from).collect::<Result<_, _>>()?, has_next_page })
}

pub(super) async fn ensure_another_admin(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    except: Uuid,
) -> Result<(), ServiceError> {
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

pub(super) async fn send_setup_link(
    deps: &Deps,
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
        "invitedBy": invited_by, "token": token, "url": super::link(&tenant.frontend_base_url, "setup-account", Some(&token)),
        "expiresAt": now + ttl });
    outbox::enqueue(db, &deps.keys, Envelope::account(tenant.id, Stage::StaffInvitation, row, payload)).await?;
    Ok(token)
}

pub(super) async fn set_status(
    db: &impl ConnectionTrait,
    row: account::Model,
    status: AccountStatus,
    now: DateTime<Utc>,
) -> Result<account::Model, ServiceError> {
    let mut active: account::ActiveModel = row.into();
    active.status = Set(status);
    active.updated_at = Set(now);
    Ok(active.update(db).await?)
}
