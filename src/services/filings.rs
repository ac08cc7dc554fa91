//! Filing drafts: create, edit the subject and websites, read, list.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::prelude::Expr;
use sea_orm::sea_query::{ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, JoinType, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait, Select, Set,
};
use tracing::instrument;
use uuid::Uuid;

use super::audit::{self, ChangeSet, FilingAction, NewEvent};
use super::inputs::{
    CreateFilingInput, MAX_WEBSITES_PER_FILING, PersonInput, SubjectInput, WebsiteInput, validate_create_filing,
    validate_subject, validate_website,
};
use super::models::{Filing, FilingEvent, Subject, Website};
use super::{Page, ServiceError, rules};
use crate::auth::Actor;
use crate::domain::masking::{mask_certificate_number, mask_email, mask_phone};
use crate::domain::reference::ReferenceData;
use crate::domain::{FieldError, FieldErrorCode, FilingStatus, FilingType, Province};
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

/// Creates a first-filing draft with its subject and, optionally, its websites.
#[instrument(skip_all, fields(tenant = %actor.tenant_id))]
pub async fn create_filing(
    db: &DatabaseConnection,
    actor: &Actor,
    reference: &ReferenceData,
    mut input: CreateFilingInput,
) -> Result<Filing, ServiceError> {
    require_editor(actor)?;
    let basic = validate_create_filing(&mut input);
    let found = rules::findings(db, actor, reference, &input, None, false).await?;
    let errors = rules::merge(basic, found);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let now = Utc::now();
    let filing_id = Uuid::now_v7();
    let txn = super::write_txn(db).await?;
    let row = filing::ActiveModel {
        id: Set(filing_id),
        tenant_id: Set(actor.tenant_id),
        owner_account_id: Set(actor.owner_scope()),
        filing_type: Set(FilingType::FirstFiling.as_str().to_owned()),
        status: Set(FilingStatus::Draft.as_str().to_owned()),
        version: Set(1),
        reviewer_id: Set(None),
        submitted_at: Set(None),
        sms_deadline_at: Set(None),
        icp_number: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    subject_row(actor, filing_id, Uuid::now_v7(), &input.subject).insert(&txn).await?;
    for website in &input.websites {
        website_row(actor, filing_id, Uuid::now_v7(), website, now, now).insert(&txn).await?;
    }
    audit::record(
        &txn,
        actor,
        NewEvent {
            filing_id,
            action: FilingAction::FilingCreated,
            from_status: None,
            to_status: Some(FilingStatus::Draft),
            changes: Vec::new(),
            reason: None,
            details: None,
            at: now,
        },
    )
    .await?;
    txn.commit().await?;
    tracing::info!(filing = %filing_id, "filing draft created");
    Filing::try_from(row)
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
    let txn = super::write_txn(db).await?;
    let (before, after) = begin_edit(&txn, actor, filing_id, version, "updateFilingSubject", now).await?;
    let (current, _) = rules::stored_form(&txn, actor, filing_id).await?;
    let prospective = CreateFilingInput { subject: subject.clone(), websites: current.websites.clone() };
    let errors =
        rules::merge(basic, introduced_errors(&txn, actor, reference, &prospective, &current, filing_id).await?);
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let old = filing_subject::Entity::find()
        .filter(filing_subject::Column::TenantId.eq(actor.tenant_id))
        .filter(filing_subject::Column::FilingId.eq(filing_id))
        .one(&txn)
        .await?
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("filing {filing_id} has no subject")))?;
    let changes = subject_changes(&old, &subject);
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
    let txn = super::write_txn(db).await?;
    let (_, after) = begin_edit(&txn, actor, filing_id, version, "addWebsite", now).await?;
    let existing = websites_of(&txn, actor, filing_id).await?;
    let (current, _) = rules::stored_form(&txn, actor, filing_id).await?;
    let mut prospective = current.clone();
    prospective.websites.push(input.clone());
    let introduced = introduced_errors(&txn, actor, reference, &prospective, &current, filing_id).await?;
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
    let row = website_row(actor, filing_id, Uuid::now_v7(), &input, now, now).insert(&txn).await?;
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
    let txn = super::write_txn(db).await?;
    let (before, after) = begin_edit(&txn, actor, filing_id, version, "updateWebsite", now).await?;
    let existing = websites_of(&txn, actor, filing_id).await?;
    let Some(index) = existing.iter().position(|w| w.id == website_id) else {
        return Err(ServiceError::NotFound);
    };
    let old = existing[index].clone();
    let (current, _) = rules::stored_form(&txn, actor, filing_id).await?;
    let mut prospective = current.clone();
    prospective.websites[index] = input.clone();
    let introduced = introduced_errors(&txn, actor, reference, &prospective, &current, filing_id).await?;
    let mut errors = rules::merge(basic, rules::as_website_input(introduced, index));
    errors.extend(domains_taken_by_others(&existing, Some(website_id), &input.domains));
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let changes = website_changes(&old, &input)?;
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
    let txn = super::write_txn(db).await?;
    let (_, after) = begin_edit(&txn, actor, filing_id, version, "removeWebsite", now).await?;
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

/// One filing of the caller's tenant.
pub async fn get_filing(db: &DatabaseConnection, actor: &Actor, id: Uuid) -> Result<Filing, ServiceError> {
    let row = visible(actor).filter(filing::Column::Id.eq(id)).one(db).await?.ok_or(ServiceError::NotFound)?;
    Filing::try_from(row)
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
    let mut rows = query.order_by_desc(filing::Column::Id).limit(first + 1).all(db).await?;
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
        .all(db)
        .await?;
    rows.into_iter().map(|row| Ok((row.filing_id, Subject::try_from(row)?))).collect()
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
        .all(db)
        .await?;
    group_by_filing(rows, |r| r.filing_id, Website::try_from)
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
fn group_by_filing<R, T>(
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
        let pattern = format!("%{}%", escape_like(&name.to_lowercase()));
        query = query.filter(
            Expr::expr(Func::lower(Expr::col((filing_subject::Entity, filing_subject::Column::Name))))
                .like(LikeExpr::new(pattern).escape('\\')),
        );
    }
    Ok(query)
}

fn escape_like(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
    let event = NewEvent {
        filing_id: filing.id,
        action,
        from_status: None,
        to_status: None,
        changes,
        reason: None,
        details: None,
        at: now,
    };
    audit::record(txn, actor, event).await
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

fn subject_row(actor: &Actor, filing_id: Uuid, id: Uuid, s: &SubjectInput) -> filing_subject::ActiveModel {
    let p = &s.responsible_person;
    filing_subject::ActiveModel {
        id: Set(id),
        tenant_id: Set(actor.tenant_id),
        filing_id: Set(filing_id),
        subject_type: Set(s.subject_type.as_str().to_owned()),
        name: Set(s.name.clone()),
        certificate_type: Set(s.certificate_type.as_str().to_owned()),
        certificate_number: Set(s.certificate_number.clone()),
        certificate_address: Set(s.certificate_address.clone()),
        province_code: Set(s.province_code.clone()),
        city_code: Set(s.city_code.clone()),
        district_code: Set(s.district_code.clone()),
        mailing_address: Set(s.mailing_address.clone()),
        investor: Set(s.investor.clone()),
        remark: Set(s.remark.clone()),
        rp_name: Set(p.name.clone()),
        rp_certificate_type: Set(p.certificate_type.as_str().to_owned()),
        rp_certificate_number: Set(p.certificate_number.clone()),
        rp_mobile: Set(p.mobile.clone()),
        rp_emergency_phone: Set(p.emergency_phone.clone()),
        rp_email: Set(p.email.clone()),
        rp_is_legal_representative: Set(s.responsible_person_is_legal_representative),
    }
}

fn website_row(
    actor: &Actor,
    filing_id: Uuid,
    id: Uuid,
    w: &WebsiteInput,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> website::ActiveModel {
    let p = &w.responsible_person;
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
        rp_name: Set(p.name.clone()),
        rp_certificate_type: Set(p.certificate_type.as_str().to_owned()),
        rp_certificate_number: Set(p.certificate_number.clone()),
        rp_mobile: Set(p.mobile.clone()),
        rp_emergency_phone: Set(p.emergency_phone.clone()),
        rp_email: Set(p.email.clone()),
        created_at: Set(created_at),
        updated_at: Set(updated_at),
    }
}

/// A responsible person as stored, for comparison with an input.
struct StoredPerson<'a> {
    name: &'a str,
    certificate_type: &'a str,
    certificate_number: &'a str,
    mobile: &'a str,
    emergency_phone: Option<&'a str>,
    email: &'a str,
}

fn person_changes(changes: &mut ChangeSet, prefix: &str, old: StoredPerson<'_>, new: &PersonInput) {
    let f = |name: &str| format!("{prefix}.{name}");
    changes.compare(f("name"), Some(old.name), Some(&new.name));
    changes.compare(f("certificateType"), Some(old.certificate_type), Some(new.certificate_type.as_str()));
    changes.compare_masked(
        f("certificateNumber"),
        Some(old.certificate_number),
        Some(&new.certificate_number),
        mask_certificate_number,
    );
    changes.compare_masked(f("mobile"), Some(old.mobile), Some(&new.mobile), mask_phone);
    changes.compare_masked(f("emergencyPhone"), old.emergency_phone, new.emergency_phone.as_deref(), mask_phone);
    changes.compare_masked(f("email"), Some(old.email), Some(&new.email), mask_email);
}

fn subject_changes(old: &filing_subject::Model, new: &SubjectInput) -> ChangeSet {
    let mut c = ChangeSet::default();
    c.compare("subject.subjectType", Some(&old.subject_type), Some(new.subject_type.as_str()));
    c.compare("subject.name", Some(&old.name), Some(&new.name));
    c.compare("subject.certificateType", Some(&old.certificate_type), Some(new.certificate_type.as_str()));
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
    c.compare(
        "subject.responsiblePersonIsLegalRepresentative",
        Some(if old.rp_is_legal_representative { "true" } else { "false" }),
        Some(if new.responsible_person_is_legal_representative { "true" } else { "false" }),
    );
    let stored = StoredPerson {
        name: &old.rp_name,
        certificate_type: &old.rp_certificate_type,
        certificate_number: &old.rp_certificate_number,
        mobile: &old.rp_mobile,
        emergency_phone: old.rp_emergency_phone.as_deref(),
        email: &old.rp_email,
    };
    person_changes(&mut c, "subject.responsiblePerson", stored, &new.responsible_person);
    c
}

fn website_changes(old: &website::Model, new: &WebsiteInput) -> Result<ChangeSet, ServiceError> {
    let parsed = Website::try_from(old.clone())?;
    let list = |items: Vec<&str>| items.join(", ");
    let mut c = ChangeSet::default();
    c.compare("website.name", Some(&old.name), Some(&new.name));
    c.compare("website.domains", Some(&parsed.domains.join(", ")), Some(&new.domains.join(", ")));
    c.compare("website.homepageUrl", Some(&old.homepage_url), Some(&new.homepage_url));
    c.compare(
        "website.serviceContent",
        Some(&list(parsed.service_content.iter().map(|s| s.as_str()).collect())),
        Some(&list(new.service_content.iter().map(|s| s.as_str()).collect())),
    );
    c.compare(
        "website.languages",
        Some(&list(parsed.languages.iter().map(|l| l.as_str()).collect())),
        Some(&list(new.languages.iter().map(|l| l.as_str()).collect())),
    );
    let approvals = |items: Vec<(&str, &str)>| items.iter().map(|(c, n)| format!("{c} {n}")).collect::<Vec<_>>();
    c.compare(
        "website.preApprovals",
        Some(
            &approvals(parsed.pre_approvals.iter().map(|a| (a.category.as_str(), a.licence_number.as_str())).collect())
                .join(", "),
        ),
        Some(
            &approvals(new.pre_approvals.iter().map(|a| (a.category.as_str(), a.licence_number.as_str())).collect())
                .join(", "),
        ),
    );
    c.compare("website.accessMethod", Some(&old.access_method), Some(new.access_method.as_str()));
    c.compare("website.remark", old.remark.as_deref(), new.remark.as_deref());
    let stored = StoredPerson {
        name: &old.rp_name,
        certificate_type: &old.rp_certificate_type,
        certificate_number: &old.rp_certificate_number,
        mobile: &old.rp_mobile,
        emergency_phone: old.rp_emergency_phone.as_deref(),
        email: &old.rp_email,
    };
    person_changes(&mut c, "website.responsiblePerson", stored, &new.responsible_person);
    Ok(c)
}

/// Only the applicant who owns a filing may see it; staff and backends see every filing of their tenant.
pub(crate) async fn ensure_visible(
    db: &impl ConnectionTrait,
    actor: &Actor,
    filing_id: Uuid,
) -> Result<(), ServiceError> {
    if actor.owner_scope().is_some() {
        visible(actor).filter(filing::Column::Id.eq(filing_id)).one(db).await?.ok_or(ServiceError::NotFound)?;
    }
    Ok(())
}

/// The filings of the caller's tenant that the caller may see.
fn visible(actor: &Actor) -> Select<filing::Entity> {
    let query = filing::Entity::find().filter(filing::Column::TenantId.eq(actor.tenant_id));
    match actor.owner_scope() {
        Some(owner) => query.filter(filing::Column::OwnerAccountId.eq(owner)),
        None => query,
    }
}

pub(crate) fn require_editor(actor: &Actor) -> Result<(), ServiceError> {
    if actor.may_edit_filings() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "only the applicant, or the registrar's backend with a full-access key, may change a filing's data",
        ))
    }
}
