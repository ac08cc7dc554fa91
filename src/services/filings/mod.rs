//! Filing drafts: create, edit the subject and websites, read, list.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::prelude::Expr;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, JoinType, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait, Select, Set,
};
use tracing::instrument;
use uuid::Uuid;

use super::access::{self, ensure_visible, require_editor, visible};
use super::audit::{self, ChangeSet, FilingAction, NewEvent};
use super::inputs::{
    CreateFilingInput, MAX_WEBSITES_PER_FILING, PersonInput, SubjectInput, WebsiteInput, validate_create_filing,
    validate_subject, validate_website,
};
use super::models::{Filing, FilingEvent, Subject, Website};
use super::{Page, ServiceError, rows, rules};
use crate::auth::Actor;
use crate::domain::masking::{mask_certificate_number, mask_email, mask_phone};
use crate::domain::reference::ReferenceData;
use crate::domain::{FieldError, FieldErrorCode, FilingStatus, FilingType, Province, WebsiteOperation};
use entity::{filing, filing_event, filing_subject, website};

/// Filters of the filing list; every set filter must match.
#[derive(Clone, Debug, Default)]
pub struct FilingFilter {
    pub statuses: Option<Vec<FilingStatus>>,
    pub filing_types: Option<Vec<FilingType>>,
    /// Six-digit division code or two-digit prefix of the subject's province.
    pub province_code: Option<String>,
    /// Case-insensitive substring of the subject's name.
    pub subject_name_contains: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// What kind of order a new draft is: a first filing, or an add-access order (新增接入) for a subject the bureau
/// already filed (through another registrar), which names the subject's ICP number.
#[derive(Clone, Debug, Default)]
pub struct NewOrder {
    pub filing_type: Option<FilingType>,
    pub icp_number: Option<String>,
}

/// Creates a draft with its subject and, optionally, its websites: a first filing, or an add-access order.
#[instrument(skip_all, fields(tenant = %actor.tenant_id))]
pub async fn create_filing(
    db: &DatabaseConnection,
    actor: &Actor,
    reference: &ReferenceData,
    mut input: CreateFilingInput,
    order: NewOrder,
) -> Result<Filing, ServiceError> {
    require_editor(actor)?;
    let mut basic = validate_create_filing(&mut input);
    let filing_type = order.filing_type.unwrap_or(FilingType::FirstFiling);
    let icp_number = order.icp_number.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    basic.extend(new_order_errors(filing_type, icp_number.as_deref(), &input.subject.province_code));
    let found = rules::findings(db, actor, reference, &input, None, false).await?;
    let errors = rules::merge(basic, found);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let now = Utc::now();
    let filing_id = Uuid::now_v7();
    let txn = crate::db::write_txn(db).await?;
    let draft = NewDraft { id: filing_id, owner: actor.owner_scope(), filing_type, icp_number, base: None };
    let row = insert_draft(&txn, actor, draft, None, now).await?;
    subject_row(actor, filing_id, Uuid::now_v7(), &input.subject).insert(&txn).await?;
    for website in &input.websites {
        let mut row = website_row(actor, filing_id, Uuid::now_v7(), website, now, now);
        row.operation = Set(WebsiteOperation::New.as_str().to_owned());
        row.base_website_id = Set(None);
        row.insert(&txn).await?;
    }
    txn.commit().await?;
    tracing::info!(filing = %filing_id, "filing draft created");
    Filing::try_from(row)
}

/// A new draft order.
pub(crate) struct NewDraft {
    pub id: Uuid,
    pub owner: Option<Uuid>,
    pub filing_type: FilingType,
    pub icp_number: Option<String>,
    /// The filed record it amends.
    pub base: Option<Uuid>,
}

/// Inserts a draft's filing row and the event that created it (with `details`).
pub(crate) async fn insert_draft(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    draft: NewDraft,
    details: Option<serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<filing::Model, ServiceError> {
    let row = filing::ActiveModel {
        id: Set(draft.id),
        tenant_id: Set(actor.tenant_id),
        owner_account_id: Set(draft.owner),
        filing_type: Set(draft.filing_type.as_str().to_owned()),
        status: Set(FilingStatus::Draft.as_str().to_owned()),
        version: Set(1),
        reviewer_id: Set(None),
        submitted_at: Set(None),
        sms_deadline_at: Set(None),
        icp_number: Set(draft.icp_number),
        base_filing_id: Set(draft.base),
        superseded_by_id: Set(None),
        sms_reminded_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        purged_at: Set(None),
    }
    .insert(txn)
    .await?;
    let event = NewEvent::new(draft.id, FilingAction::FilingCreated, now)
        .transition(None, Some(FilingStatus::Draft))
        .details(details);
    audit::record(txn, actor, event).await?;
    Ok(row)
}

/// What is wrong with the kind of a new draft: only first filings and add-access orders start from a form (the
/// others from a filed record), and an add-access order names the subject's ICP number in its province.
fn new_order_errors(filing_type: FilingType, icp_number: Option<&str>, province_code: &str) -> Vec<FieldError> {
    match (filing_type, icp_number) {
        (FilingType::FirstFiling, None) => vec![],
        (FilingType::FirstFiling, Some(_)) => {
            vec![FieldError::new("icpNumber", FieldErrorCode::ChangeNotAllowed).with_message(
                "A first filing receives its number from the bureau; a subject already filed elsewhere comes with an \
                 add-access order (ADD_ACCESS).",
                "首次备案的备案号由管局下发；已在其他接入商备案的主体请办理新增接入。",
            )]
        }
        (FilingType::AddAccess, None) => vec![FieldError::new("icpNumber", FieldErrorCode::Required).with_message(
            "An add-access order names the subject's ICP number (京ICP备2026000001号).",
            "新增接入须填写主体备案号（如 京ICP备2026000001号）。",
        )],
        (FilingType::AddAccess, Some(number)) => {
            crate::domain::identifiers::icp_number::subject_number(number, province_code, "icpNumber")
                .err()
                .map(|e| *e)
                .into_iter()
                .collect()
        }
        (_, _) => vec![FieldError::new("filingType", FieldErrorCode::ChangeNotAllowed).with_message(
            "Orders that amend a filed record start from it with startOrder.",
            "基于已有备案的订单请通过 startOrder 从该备案发起。",
        )],
    }
}

/// Replaces the subject of an editable filing.
#[instrument(skip_all, fields(tenant = %actor.tenant_id, filing = %filing_id))]
pub async fn update_subject(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    reference: &ReferenceData,
    mut subject: SubjectInput,
) -> Result<Filing, ServiceError> {
    require_editor(actor)?;
    let basic = validate_subject(&mut subject, "subject");
    let now = Utc::now();
    let txn = crate::db::write_txn(db).await?;
    let (before, after) = begin_edit(&txn, actor, filing_id, version, "updateFilingSubject", now).await?;
    let stored = access::stored_filing(&txn, actor, filing_id).await?;
    let current = &stored.form;
    let prospective = CreateFilingInput { subject: subject.clone(), websites: current.websites.clone() };
    let mut errors =
        rules::merge(basic, introduced_errors(&txn, actor, reference, &prospective, current, filing_id).await?);
    let record = access::record_of_order(&txn, actor, &after).await?;
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
    subject_row(actor, filing_id, old.id, &subject).update(&txn).await?;
    record_edit(&txn, actor, &after, FilingAction::SubjectUpdated, changes.into_vec(), now).await?;
    txn.commit().await?;
    Ok(after)
}

/// Adds a website to an editable filing.
#[instrument(skip_all, fields(tenant = %actor.tenant_id, filing = %filing_id))]
pub async fn add_website(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_id: Uuid,
    version: i32,
    reference: &ReferenceData,
    mut input: WebsiteInput,
) -> Result<(Filing, Website), ServiceError> {
    require_editor(actor)?;
    let basic = validate_website(&mut input, "website");
    let now = Utc::now();
    let txn = crate::db::write_txn(db).await?;
    let (_, after) = begin_edit(&txn, actor, filing_id, version, "addWebsite", now).await?;
    let existing = websites_of(&txn, actor, filing_id).await?;
    let stored = access::stored_filing(&txn, actor, filing_id).await?;
    let current = &stored.form;
    let mut prospective = current.clone();
    prospective.websites.push(input.clone());
    let website_id = Uuid::now_v7();
    let mut websites = stored.websites.clone();
    websites.push(access::StoredWebsite { id: website_id, operation: WebsiteOperation::New, base_website_id: None });
    let mut introduced = introduced_errors(&txn, actor, reference, &prospective, current, filing_id).await?;
    let record = access::record_of_order(&txn, actor, &after).await?;
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
    let mut row = website_row(actor, filing_id, website_id, &input, now, now);
    row.operation = Set(WebsiteOperation::New.as_str().to_owned());
    row.base_website_id = Set(None);
    let row = row.insert(&txn).await?;
    let changes = vec![audit::FieldChange { field: "website".into(), old: None, new: Some(input.name.clone()) }];
    record_edit(&txn, actor, &after, FilingAction::WebsiteAdded, changes, now).await?;
    txn.commit().await?;
    Ok((after, Website::try_from(row)?))
}

/// Replaces a website of an editable filing.
#[instrument(skip_all, fields(tenant = %actor.tenant_id, website = %website_id))]
pub async fn update_website(
    db: &DatabaseConnection,
    actor: &Actor,
    website_id: Uuid,
    version: i32,
    reference: &ReferenceData,
    mut input: WebsiteInput,
) -> Result<(Filing, Website), ServiceError> {
    require_editor(actor)?;
    let basic = validate_website(&mut input, "website");
    // A website never moves to another filing, so its filing can be read before the transaction starts.
    let filing_id = find_website(db, actor, website_id).await?.filing_id;
    let now = Utc::now();
    let txn = crate::db::write_txn(db).await?;
    let (before, after) = begin_edit(&txn, actor, filing_id, version, "updateWebsite", now).await?;
    let existing = websites_of(&txn, actor, filing_id).await?;
    let Some(index) = existing.iter().position(|w| w.id == website_id) else {
        return Err(ServiceError::NotFound);
    };
    let old = existing[index].clone();
    let stored = access::stored_filing(&txn, actor, filing_id).await?;
    let current = &stored.form;
    let mut prospective = current.clone();
    prospective.websites[index] = input.clone();
    let mut introduced = introduced_errors(&txn, actor, reference, &prospective, current, filing_id).await?;
    let record = access::record_of_order(&txn, actor, &after).await?;
    introduced.extend(access::violations(after.filing_type, &prospective, &stored.websites, record.as_ref(), false));
    let mut errors = rules::merge(basic, rules::as_website_input(introduced, index));
    errors.extend(domains_taken_by_others(&existing, Some(website_id), &input.domains));
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let changes = website_changes("website", &current.websites[index], &input);
    if changes.is_empty() {
        txn.rollback().await?;
        return Ok((before, Website::try_from(old)?));
    }
    let row = website_row(actor, filing_id, website_id, &input, old.created_at, now).update(&txn).await?;
    record_edit(&txn, actor, &after, FilingAction::WebsiteUpdated, changes.into_vec(), now).await?;
    txn.commit().await?;
    Ok((after, Website::try_from(row)?))
}

/// The rule errors a change would introduce into a stored filing.
async fn introduced_errors(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    reference: &ReferenceData,
    prospective: &CreateFilingInput,
    current: &CreateFilingInput,
    filing_id: Uuid,
) -> Result<Vec<FieldError>, ServiceError> {
    let after = rules::findings(txn, actor, reference, prospective, Some(filing_id), false).await?;
    let before = rules::findings(txn, actor, reference, current, Some(filing_id), false).await?;
    Ok(rules::introduced(after, &before))
}

/// Removes a website from an editable filing.
#[instrument(skip_all, fields(tenant = %actor.tenant_id, website = %website_id))]
pub async fn remove_website(
    db: &DatabaseConnection,
    actor: &Actor,
    website_id: Uuid,
    version: i32,
) -> Result<Filing, ServiceError> {
    require_editor(actor)?;
    let filing_id = find_website(db, actor, website_id).await?.filing_id;
    let now = Utc::now();
    let txn = crate::db::write_txn(db).await?;
    let (_, after) = begin_edit(&txn, actor, filing_id, version, "removeWebsite", now).await?;
    if after.filing_type.amends_record() {
        let mut stored = access::stored_filing(&txn, actor, filing_id).await?;
        if let Some(index) = stored.websites.iter().position(|w| w.id == website_id) {
            stored.form.websites.remove(index);
            stored.websites.remove(index);
        }
        let record = access::record_of_order(&txn, actor, &after).await?;
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

/// Filings of the caller's tenant by id (those the caller may see).
pub async fn filings_by_id(
    db: &DatabaseConnection,
    actor: &Actor,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Filing>, ServiceError> {
    let rows = visible(actor).filter(filing::Column::Id.is_in(ids.iter().copied())).into_model().all(db).await?;
    rows::models::<filing::Model>(rows).into_iter().map(|row| Filing::try_from(row).map(|f| (f.id, f))).collect()
}

/// One website of the caller's tenant.
pub async fn get_website(db: &DatabaseConnection, actor: &Actor, id: Uuid) -> Result<Website, ServiceError> {
    Website::try_from(find_website(db, actor, id).await?)
}

/// One audit event of the caller's tenant.
pub async fn get_event(db: &DatabaseConnection, actor: &Actor, id: Uuid) -> Result<FilingEvent, ServiceError> {
    let row = filing_event::Entity::find()
        .filter(filing_event::Column::TenantId.eq(actor.tenant_id))
        .filter(filing_event::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    ensure_visible(db, actor, row.filing_id).await?;
    FilingEvent::try_from(row)
}

/// A page of the tenant's filings, newest first, after the filing `after` (keyset pagination: a filing created
/// while someone pages is neither repeated nor skipped).
#[instrument(skip_all, fields(tenant = %actor.tenant_id))]
pub async fn list_filings(
    db: &DatabaseConnection,
    actor: &Actor,
    filter: &FilingFilter,
    first: u64,
    after: Option<Uuid>,
) -> Result<Page<Filing>, ServiceError> {
    let mut query = filtered(actor, filter)?;
    if let Some(after) = after {
        query = query.filter(filing::Column::Id.lt(after));
    }
    let mut rows: Vec<filing::Model> =
        rows::models(query.order_by_desc(filing::Column::Id).limit(first + 1).into_model().all(db).await?);
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(first as usize);
    let items = rows.into_iter().map(Filing::try_from).collect::<Result<_, _>>()?;
    Ok(Page { items, has_next_page })
}

/// How many filings of the tenant match `filter`.
pub async fn count_filings(db: &DatabaseConnection, actor: &Actor, filter: &FilingFilter) -> Result<u64, ServiceError> {
    Ok(filtered(actor, filter)?.count(db).await?)
}

/// The subjects of the given filings, keyed by filing id (for per-request batch loading).
pub async fn subjects_by_filing(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_ids: &[Uuid],
) -> Result<HashMap<Uuid, Subject>, ServiceError> {
    let rows = filing_subject::Entity::find()
        .filter(filing_subject::Column::TenantId.eq(actor.tenant_id))
        .filter(filing_subject::Column::FilingId.is_in(filing_ids.iter().copied()))
        .into_model()
        .all(db)
        .await?;
    rows::models::<filing_subject::Model>(rows)
        .into_iter()
        .map(|row| Ok((row.filing_id, Subject::try_from(row)?)))
        .collect()
}

/// The websites of the given filings in the order they were added, keyed by filing id.
pub async fn websites_by_filing(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Website>>, ServiceError> {
    let rows = website::Entity::find()
        .filter(website::Column::TenantId.eq(actor.tenant_id))
        .filter(website::Column::FilingId.is_in(filing_ids.iter().copied()))
        .order_by_asc(website::Column::Id)
        .into_model()
        .all(db)
        .await?;
    group_by_filing(rows::models::<website::Model>(rows), |r| r.filing_id, Website::try_from)
}

/// The audit trails of the given filings, oldest event first, keyed by filing id.
pub async fn events_by_filing(
    db: &DatabaseConnection,
    actor: &Actor,
    filing_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<FilingEvent>>, ServiceError> {
    let rows = filing_event::Entity::find()
        .filter(filing_event::Column::TenantId.eq(actor.tenant_id))
        .filter(filing_event::Column::FilingId.is_in(filing_ids.iter().copied()))
        .order_by_asc(filing_event::Column::Id)
        .all(db)
        .await?;
    group_by_filing(rows, |r| r.filing_id, FilingEvent::try_from)
}

/// Groups rows by their filing, converting each, keeping their order.
pub(crate) fn group_by_filing<R, T>(
    rows: Vec<R>,
    filing_id: fn(&R) -> Uuid,
    convert: fn(R) -> Result<T, ServiceError>,
) -> Result<HashMap<Uuid, Vec<T>>, ServiceError> {
    let mut out: HashMap<Uuid, Vec<T>> = HashMap::new();
    for row in rows {
        out.entry(filing_id(&row)).or_default().push(convert(row)?);
    }
    Ok(out)
}

fn filtered(actor: &Actor, filter: &FilingFilter) -> Result<Select<filing::Entity>, ServiceError> {
    let mut query = visible(actor);
    if let Some(statuses) = &filter.statuses {
        query = query.filter(filing::Column::Status.is_in(statuses.iter().map(|s| s.as_str())));
    }
    if let Some(types) = &filter.filing_types {
        query = query.filter(filing::Column::FilingType.is_in(types.iter().map(|t| t.as_str())));
    }
    if let Some(after) = filter.created_after {
        query = query.filter(filing::Column::CreatedAt.gte(after));
    }
    if let Some(before) = filter.created_before {
        query = query.filter(filing::Column::CreatedAt.lt(before));
    }
    let name = filter.subject_name_contains.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if filter.province_code.is_some() || name.is_some() {
        query = query
            .join(JoinType::InnerJoin, filing::Relation::Subject.def())
            .filter(filing_subject::Column::TenantId.eq(actor.tenant_id));
    }
    if let Some(code) = &filter.province_code {
        let province = Province::of_division_code(code.trim())
            .filter(|_| matches!(code.trim().len(), 2 | 6))
            .ok_or_else(|| ServiceError::invalid("filter.provinceCode", FieldErrorCode::UnknownProvince))?;
        query = query.filter(filing_subject::Column::ProvinceCode.eq(province.division_code()));
    }
    if let Some(name) = name {
        query = query.filter(super::contains_text((filing_subject::Entity, filing_subject::Column::Name), name));
    }
    Ok(query)
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

async fn find_website(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<website::Model, ServiceError> {
    let row = website::Entity::find()
        .filter(website::Column::TenantId.eq(actor.tenant_id))
        .filter(website::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    ensure_visible(db, actor, row.filing_id).await?;
    Ok(row)
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

/// The row of a subject, its personal data sealed and blind-indexed ([`crate::pii`]).
pub(crate) fn subject_row(actor: &Actor, filing_id: Uuid, id: Uuid, s: &SubjectInput) -> filing_subject::ActiveModel {
    let p = &s.responsible_person;
    let (keys, tenant) = (crate::pii::keyring(), actor.tenant_id);
    let seal = |value: &str| keys.seal(tenant, value);
    filing_subject::ActiveModel {
        id: Set(id),
        tenant_id: Set(actor.tenant_id),
        filing_id: Set(filing_id),
        subject_type: Set(s.subject_type.as_str().to_owned()),
        name: Set(s.name.clone()),
        certificate_type: Set(s.certificate_type.as_str().to_owned()),
        certificate_number: Set(seal(&s.certificate_number)),
        certificate_number_bidx: Set(super::access::certificate_index(&keys, tenant, &s.certificate_number)),
        certificate_address: Set(s.certificate_address.clone()),
        province_code: Set(s.province_code.clone()),
        city_code: Set(s.city_code.clone()),
        district_code: Set(s.district_code.clone()),
        mailing_address: Set(s.mailing_address.clone()),
        investor: Set(s.investor.clone()),
        remark: Set(s.remark.clone()),
        rp_name: Set(p.name.clone()),
        rp_certificate_type: Set(p.certificate_type.as_str().to_owned()),
        rp_certificate_number: Set(seal(&p.certificate_number)),
        rp_mobile: Set(seal(&p.mobile)),
        rp_mobile_bidx: Set(super::access::mobile_index(&keys, tenant, &p.mobile)),
        rp_emergency_phone: Set(p.emergency_phone.as_deref().map(seal)),
        rp_email: Set(seal(&p.email)),
        rp_is_legal_representative: Set(s.responsible_person_is_legal_representative),
    }
}

/// The row of a website, its responsible person's personal data sealed and blind-indexed ([`crate::pii`]).
pub(crate) fn website_row(
    actor: &Actor,
    filing_id: Uuid,
    id: Uuid,
    w: &WebsiteInput,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> website::ActiveModel {
    let p = &w.responsible_person;
    let (keys, tenant) = (crate::pii::keyring(), actor.tenant_id);
    let seal = |value: &str| keys.seal(tenant, value);
    let names = |values: Vec<&'static str>| serde_json::Value::from(values);
    website::ActiveModel {
        id: Set(id),
        tenant_id: Set(actor.tenant_id),
        filing_id: Set(filing_id),
        name: Set(w.name.clone()),
        domains: Set(serde_json::Value::from(w.domains.clone())),
        homepage_url: Set(w.homepage_url.clone()),
        service_content: Set(names(w.service_content.iter().map(|s| s.as_str()).collect())),
        languages: Set(names(w.languages.iter().map(|l| l.as_str()).collect())),
        pre_approvals: Set(serde_json::Value::Array(
            w.pre_approvals
                .iter()
                .map(|a| serde_json::json!({"category": a.category.as_str(), "licenceNumber": a.licence_number}))
                .collect(),
        )),
        access_method: Set(w.access_method.as_str().to_owned()),
        remark: Set(w.remark.clone()),
        // Issued by the bureau, never by the applicant's form: an edit leaves it as it is.
        icp_number: sea_orm::ActiveValue::NotSet,
        // What the order does with the website is set when the row is created, never by an edit.
        operation: sea_orm::ActiveValue::NotSet,
        base_website_id: sea_orm::ActiveValue::NotSet,
        rp_name: Set(p.name.clone()),
        rp_certificate_type: Set(p.certificate_type.as_str().to_owned()),
        rp_certificate_number: Set(seal(&p.certificate_number)),
        rp_mobile: Set(seal(&p.mobile)),
        rp_mobile_bidx: Set(super::access::mobile_index(&keys, tenant, &p.mobile)),
        rp_emergency_phone: Set(p.emergency_phone.as_deref().map(seal)),
        rp_email: Set(seal(&p.email)),
        created_at: Set(created_at),
        updated_at: Set(updated_at),
    }
}

fn person_changes(changes: &mut ChangeSet, prefix: &str, old: &PersonInput, new: &PersonInput) {
    let f = |name: &str| format!("{prefix}.{name}");
    changes.compare(f("name"), Some(&old.name), Some(&new.name));
    changes.compare(f("certificateType"), Some(old.certificate_type.as_str()), Some(new.certificate_type.as_str()));
    changes.compare_masked(
        f("certificateNumber"),
        Some(&old.certificate_number),
        Some(&new.certificate_number),
        mask_certificate_number,
    );
    changes.compare_masked(f("mobile"), Some(&old.mobile), Some(&new.mobile), mask_phone);
    changes.compare_masked(
        f("emergencyPhone"),
        old.emergency_phone.as_deref(),
        new.emergency_phone.as_deref(),
        mask_phone,
    );
    changes.compare_masked(f("email"), Some(&old.email), Some(&new.email), mask_email);
}

fn subject_changes(old: &SubjectInput, new: &SubjectInput) -> ChangeSet {
    let mut c = ChangeSet::default();
    c.compare("subject.subjectType", Some(old.subject_type.as_str()), Some(new.subject_type.as_str()));
    c.compare("subject.name", Some(&old.name), Some(&new.name));
    c.compare("subject.certificateType", Some(old.certificate_type.as_str()), Some(new.certificate_type.as_str()));
    c.compare_masked(
        "subject.certificateNumber",
        Some(&old.certificate_number),
        Some(&new.certificate_number),
        mask_certificate_number,
    );
    c.compare("subject.certificateAddress", old.certificate_address.as_deref(), new.certificate_address.as_deref());
    c.compare("subject.provinceCode", Some(&old.province_code), Some(&new.province_code));
    c.compare("subject.cityCode", Some(&old.city_code), Some(&new.city_code));
    c.compare("subject.districtCode", Some(&old.district_code), Some(&new.district_code));
    c.compare("subject.mailingAddress", Some(&old.mailing_address), Some(&new.mailing_address));
    c.compare("subject.investor", old.investor.as_deref(), new.investor.as_deref());
    c.compare("subject.remark", old.remark.as_deref(), new.remark.as_deref());
    let flag = |b: bool| if b { "true" } else { "false" };
    c.compare(
        "subject.responsiblePersonIsLegalRepresentative",
        Some(flag(old.responsible_person_is_legal_representative)),
        Some(flag(new.responsible_person_is_legal_representative)),
    );
    person_changes(&mut c, "subject.responsiblePerson", &old.responsible_person, &new.responsible_person);
    c
}

/// The changes between two versions of a website, under `prefix` (`website` in the audit trail of an edit,
/// `websites[i]` against a filed record).
fn website_changes(prefix: &str, old: &WebsiteInput, new: &WebsiteInput) -> ChangeSet {
    let f = |name: &str| format!("{prefix}.{name}");
    let names = |items: Vec<&str>| items.join(", ");
    let approvals = |w: &WebsiteInput| {
        w.pre_approvals.iter().map(|a| format!("{} {}", a.category.as_str(), a.licence_number)).collect::<Vec<_>>()
    };
    let mut c = ChangeSet::default();
    c.compare(f("name"), Some(&old.name), Some(&new.name));
    c.compare(f("domains"), Some(&old.domains.join(", ")), Some(&new.domains.join(", ")));
    c.compare(f("homepageUrl"), Some(&old.homepage_url), Some(&new.homepage_url));
    c.compare(
        f("serviceContent"),
        Some(&names(old.service_content.iter().map(|s| s.as_str()).collect())),
        Some(&names(new.service_content.iter().map(|s| s.as_str()).collect())),
    );
    c.compare(
        f("languages"),
        Some(&names(old.languages.iter().map(|l| l.as_str()).collect())),
        Some(&names(new.languages.iter().map(|l| l.as_str()).collect())),
    );
    c.compare(f("preApprovals"), Some(&approvals(old).join(", ")), Some(&approvals(new).join(", ")));
    c.compare(f("accessMethod"), Some(old.access_method.as_str()), Some(new.access_method.as_str()));
    c.compare(f("remark"), old.remark.as_deref(), new.remark.as_deref());
    person_changes(&mut c, &f("responsiblePerson"), &old.responsible_person, &new.responsible_person);
    c
}

/// What an order changes in the record it amends: subject fields, each carried website's fields, new websites and
/// the websites it cancels (paths in the order's website order).
pub(crate) fn form_changes(record: &super::access::Record, order: &access::StoredFiling) -> Vec<audit::FieldChange> {
    use crate::domain::WebsiteOperation;
    let mut changes = subject_changes(&record.form.subject, &order.form.subject).into_vec();
    for (i, (form, stored)) in order.form.websites.iter().zip(&order.websites).enumerate() {
        let path = format!("websites[{i}]");
        let filed = stored
            .base_website_id
            .and_then(|base| record.website_ids.iter().position(|id| *id == base))
            .and_then(|j| record.form.websites.get(j));
        match (stored.operation, filed) {
            (WebsiteOperation::New, _) | (_, None) => {
                changes.push(audit::FieldChange { field: path, old: None, new: Some(form.name.clone()) })
            }
            (WebsiteOperation::Carried, Some(filed)) => changes.extend(website_changes(&path, filed, form).into_vec()),
            (operation, Some(_)) => changes.push(audit::FieldChange {
                field: format!("{path}.operation"),
                old: Some(WebsiteOperation::Carried.as_str().to_owned()),
                new: Some(operation.as_str().to_owned()),
            }),
        }
    }
    changes
}
