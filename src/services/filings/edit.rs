use chrono::{DateTime, Utc};
use sea_orm::prelude::Expr;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use tracing::instrument;
use uuid::Uuid;

use super::changes::{subject_changes, website_changes};
use super::read::find_website;
use super::rows::{subject_row, website_row};
use crate::auth::Actor;
use crate::domain::{FieldError, FieldErrorCode, FilingStatus, WebsiteOperation};
use crate::services::Deps;
use crate::services::access::{self, require_editor, visible};
use crate::services::audit::{self, FilingAction, NewEvent};
use crate::services::inputs::{
    CreateFilingInput, MAX_WEBSITES_PER_FILING, SubjectInput, WebsiteInput, validate_subject, validate_website,
};
use crate::services::models::{Filing, Website};
use crate::services::{ServiceError, rules};
use entity::{filing, filing_subject, website};

/// Replaces the subject of an editable filing.
#[instrument(skip_all, fields(tenant = %actor.tenant_id, filing = %filing_id))]
pub async fn update_subject(
    deps: &Deps,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    mut subject: SubjectInput,
) -> Result<Filing, ServiceError> {
    let db = &deps.db;
    require_editor(actor)?;
    let basic = validate_subject(&mut subject, "subject");
    let now = deps.now();
    let txn = crate::db::write_txn(db).await?;
    let (before, after) = begin_edit(&txn, actor, filing_id, version, "updateFilingSubject", now).await?;
    let stored = access::stored_filing(&txn, &deps.keys, actor, filing_id).await?;
    let current = &stored.form;
    let prospective = CreateFilingInput { subject: subject.clone(), websites: current.websites.clone() };
    let mut errors = rules::merge(basic, introduced_errors(deps, &txn, actor, &prospective, current, filing_id).await?);
    let record = access::record_of_order(&txn, &deps.keys, actor, &after).await?;
    errors.extend(access::violations(after.filing_type, &prospective, &stored.websites, record.as_ref(), false));
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let old = filing_subject::Entity::find()
        .filter(filing_subject::Column::TenantId.eq(actor.tenant_id))
        .filter(filing_subject::Column::FilingId.eq(filing_id))
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("filing {filing_id} has no subject")))?;
    let changes = subject_changes(&current.subject, &subject);
    if changes.is_empty() {
        // Nothing to record: leave the version where it was.
        txn.rollback().await?;
        return Ok(before);
    }
    subject_row(&deps.keys, actor, filing_id, old.id, &subject).update(&txn).await?;
    record_edit(&txn, actor, &after, FilingAction::SubjectUpdated, changes.into_vec(), now).await?;
    txn.commit().await?;
    Ok(after)
}

/// Adds a website to an editable filing.
#[instrument(skip_all, fields(tenant = %actor.tenant_id, filing = %filing_id))]
pub async fn add_website(
    deps: &Deps,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    mut input: WebsiteInput,
) -> Result<(Filing, Website), ServiceError> {
    let db = &deps.db;
    require_editor(actor)?;
    let basic = validate_website(&mut input, "website");
    let now = deps.now();
    let txn = crate::db::write_txn(db).await?;
    let (_, after) = begin_edit(&txn, actor, filing_id, version, "addWebsite", now).await?;
    let existing = websites_of(&txn, actor, filing_id).await?;
    let stored = access::stored_filing(&txn, &deps.keys, actor, filing_id).await?;
    let current = &stored.form;
    let mut prospective = current.clone();
    prospective.websites.push(input.clone());
    let website_id = Uuid::now_v7();
    let mut websites = stored.websites.clone();
    websites.push(access::StoredWebsite { id: website_id, operation: WebsiteOperation::New, base_website_id: None });
    let mut introduced = introduced_errors(deps, &txn, actor, &prospective, current, filing_id).await?;
    let record = access::record_of_order(&txn, &deps.keys, actor, &after).await?;
    introduced.extend(access::violations(after.filing_type, &prospective, &websites, record.as_ref(), false));
    let mut errors = rules::merge(basic, rules::as_website_input(introduced, existing.len()));
    if existing.len() >= MAX_WEBSITES_PER_FILING {
        errors.push(FieldError::new("filingId", FieldErrorCode::TooMany).with_message(
            format!("A filing carries at most {MAX_WEBSITES_PER_FILING} websites."),
            format!("一个备案订单最多包含 {MAX_WEBSITES_PER_FILING} 个网站。"),
        ));
    }
    errors.extend(domains_taken_by_others(&existing, None, &input.domains));
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let mut row = website_row(&deps.keys, actor, filing_id, website_id, &input, now, now);
    row.operation = Set(WebsiteOperation::New);
    row.base_website_id = Set(None);
    let row = row.insert(&txn).await?;
    let changes = vec![audit::FieldChange { field: "website".into(), old: None, new: Some(input.name.clone()) }];
    record_edit(&txn, actor, &after, FilingAction::WebsiteAdded, changes, now).await?;
    txn.commit().await?;
    Ok((after, Website::open(row, &deps.keys)?))
}

/// Replaces a website of an editable filing.
#[instrument(skip_all, fields(tenant = %actor.tenant_id, website = %website_id))]
pub async fn update_website(
    deps: &Deps,
    actor: &Actor,
    website_id: Uuid,
    version: i32,
    mut input: WebsiteInput,
) -> Result<(Filing, Website), ServiceError> {
    let db = &deps.db;
    require_editor(actor)?;
    let basic = validate_website(&mut input, "website");
    // A website never moves to another filing, so its filing can be read before the transaction starts.
    let filing_id = find_website(db, actor, website_id).await?.filing_id;
    let now = deps.now();
    let txn = crate::db::write_txn(db).await?;
    let (before, after) = begin_edit(&txn, actor, filing_id, version, "updateWebsite", now).await?;
    let existing = websites_of(&txn, actor, filing_id).await?;
    let Some(index) = existing.iter().position(|w| w.id == website_id) else {
        return Err(ServiceError::NotFound);
    };
    let old = existing[index].clone();
    let stored = access::stored_filing(&txn, &deps.keys, actor, filing_id).await?;
    let current = &stored.form;
    let mut prospective = current.clone();
    prospective.websites[index] = input.clone();
    let mut introduced = introduced_errors(deps, &txn, actor, &prospective, current, filing_id).await?;
    let record = access::record_of_order(&txn, &deps.keys, actor, &after).await?;
    introduced.extend(access::violations(after.filing_type, &prospective, &stored.websites, record.as_ref(), false));
    let mut errors = rules::merge(basic, rules::as_website_input(introduced, index));
    errors.extend(domains_taken_by_others(&existing, Some(website_id), &input.domains));
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let changes = website_changes("website", &current.websites[index], &input);
    if changes.is_empty() {
        txn.rollback().await?;
        return Ok((before, Website::open(old, &deps.keys)?));
    }
    let row = website_row(&deps.keys, actor, filing_id, website_id, &input, old.created_at, now).update(&txn).await?;
    record_edit(&txn, actor, &after, FilingAction::WebsiteUpdated, changes.into_vec(), now).await?;
    txn.commit().await?;
    Ok((after, Website::open(row, &deps.keys)?))
}

/// The rule errors a change would introduce into a stored filing.
async fn introduced_errors(
    deps: &Deps,
    txn: &impl ConnectionTrait,
    actor: &Actor,
    prospective: &CreateFilingInput,
    current: &CreateFilingInput,
    filing_id: Uuid,
) -> Result<Vec<FieldError>, ServiceError> {
    let after = rules::findings(deps, txn, actor, prospective, Some(filing_id), false).await?;
    let before = rules::findings(deps, txn, actor, current, Some(filing_id), false).await?;
    Ok(rules::introduced(after, &before))
}

/// Removes a website from an editable filing.
#[instrument(skip_all, fields(tenant = %actor.tenant_id, website = %website_id))]
pub async fn remove_website(
    deps: &Deps,
    actor: &Actor,
    website_id: Uuid,
    version: i32,
) -> Result<Filing, ServiceError> {
    let db = &deps.db;
    require_editor(actor)?;
    let filing_id = find_website(db, actor, website_id).await?.filing_id;
    let now = deps.now();
    let txn = crate::db::write_txn(db).await?;
    let (_, after) = begin_edit(&txn, actor, filing_id, version, "removeWebsite", now).await?;
    if after.filing_type.amends_record() {
        let mut stored = access::stored_filing(&txn, &deps.keys, actor, filing_id).await?;
        if let Some(index) = stored.websites.iter().position(|w| w.id == website_id) {
            stored.form.websites.remove(index);
            stored.websites.remove(index);
        }
        let record = access::record_of_order(&txn, &deps.keys, actor, &after).await?;
        let errors = access::violations(after.filing_type, &stored.form, &stored.websites, record.as_ref(), false);
        if !errors.is_empty() {
            return Err(ServiceError::InvalidInput(errors));
        }
    }
    let removed = website::Entity::find()
        .filter(website::Column::TenantId.eq(actor.tenant_id))
        .filter(website::Column::Id.eq(website_id))
        .one(&txn)
        .await?
        .ok_or(ServiceError::NotFound)?;
    website::Entity::delete_by_id(website_id).exec(&txn).await?;
    let changes = vec![audit::FieldChange { field: "website".into(), old: Some(removed.name), new: None }];
    record_edit(&txn, actor, &after, FilingAction::WebsiteRemoved, changes, now).await?;
    txn.commit().await?;
    Ok(after)
}

/// Starts an edit of an editable filing at `version`: bumps the version (which also takes the row's write lock),
/// or says why not. Returns the filing before and after the bump.
async fn begin_edit(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    action: &'static str,
    now: DateTime<Utc>,
) -> Result<(Filing, Filing), ServiceError> {
    let editable: Vec<&str> = [FilingStatus::Draft, FilingStatus::Returned].iter().map(|s| s.as_str()).collect();
    // The write comes first so that SQLite takes its write lock before any read: a read-then-write transaction
    // could otherwise fail when another writer commits in between.
    let updated = filing::Entity::update_many()
        .col_expr(filing::Column::Version, Expr::col(filing::Column::Version).add(1))
        .col_expr(filing::Column::UpdatedAt, Expr::value(now))
        .filter(filing::Column::TenantId.eq(actor.tenant_id))
        .filter(filing::Column::Id.eq(filing_id))
        .filter(filing::Column::Version.eq(version))
        .filter(filing::Column::Status.is_in(editable))
        .filter(match actor.owner_scope() {
            Some(owner) => filing::Column::OwnerAccountId.eq(owner),
            None => Expr::value(true),
        })
        .exec(txn)
        .await?;
    let current =
        visible(actor).filter(filing::Column::Id.eq(filing_id)).one(txn).await?.ok_or(ServiceError::NotFound)?;
    let current = Filing::try_from(current)?;
    if updated.rows_affected == 0 {
        if current.version != version {
            return Err(ServiceError::Conflict { current_version: current.version });
        }
        return Err(ServiceError::InvalidTransition { action, from: current.status });
    }
    let before = Filing { version: current.version - 1, ..current.clone() };
    Ok((before, current))
}

async fn record_edit(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    filing: &Filing,
    action: FilingAction,
    changes: Vec<audit::FieldChange>,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    audit::record(txn, actor, NewEvent::new(filing.id, action, now).changes(changes)).await
}

async fn websites_of(
    db: &impl ConnectionTrait,
    actor: &Actor,
    filing_id: Uuid,
) -> Result<Vec<website::Model>, ServiceError> {
    Ok(website::Entity::find()
        .filter(website::Column::TenantId.eq(actor.tenant_id))
        .filter(website::Column::FilingId.eq(filing_id))
        .order_by_asc(website::Column::Id)
        .all(db)
        .await?)
}

/// Domains of `domains` that another website of the same filing already lists.
fn domains_taken_by_others(existing: &[website::Model], except: Option<Uuid>, domains: &[String]) -> Vec<FieldError> {
    let taken: Vec<String> = existing
        .iter()
        .filter(|w| Some(w.id) != except)
        .flat_map(|w| serde_json::from_value::<Vec<String>>(w.domains.clone()).unwrap_or_default())
        .collect();
    domains
        .iter()
        .enumerate()
        .filter(|(_, d)| taken.contains(d))
        .map(|(i, _)| {
            FieldError::new(format!("website.domains[{i}]"), FieldErrorCode::Duplicate).with_message(
                "Another website of this filing already lists this domain.",
                "该域名已在本订单的其他网站中填写。",
            )
        })
        .collect()
}
