use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    RelationTrait, Select,
};
use tracing::instrument;
use uuid::Uuid;

use crate::auth::Actor;
use crate::domain::{FieldErrorCode, FilingStatus, FilingType, Province};
use crate::services::Deps;
use crate::services::access::{ensure_visible, visible};
use crate::services::models::{Filing, FilingEvent, Subject, Website};
use crate::services::{Page, ServiceError, rows};
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
    /// With an event (any change) at or after this instant.
    pub updated_after: Option<DateTime<Utc>>,
}

/// Filings of the caller's tenant by id (those the caller may see).
pub async fn filings_by_id(deps: &Deps, actor: &Actor, ids: &[Uuid]) -> Result<HashMap<Uuid, Filing>, ServiceError> {
    let db = &deps.db;
    let rows = visible(actor).filter(filing::Column::Id.is_in(ids.iter().copied())).into_model().all(db).await?;
    rows::models::<filing::Model>(rows).into_iter().map(|row| Filing::try_from(row).map(|f| (f.id, f))).collect()
}

/// One website of the caller's tenant.
pub async fn get_website(deps: &Deps, actor: &Actor, id: Uuid) -> Result<Website, ServiceError> {
    let db = &deps.db;
    Website::open(find_website(db, actor, id).await?, &deps.keys)
}

/// One audit event of the caller's tenant.
pub async fn get_event(deps: &Deps, actor: &Actor, id: Uuid) -> Result<FilingEvent, ServiceError> {
    let db = &deps.db;
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
    deps: &Deps,
    actor: &Actor,
    filter: &FilingFilter,
    first: u64,
    after: Option<Uuid>,
) -> Result<Page<Filing>, ServiceError> {
    let db = &deps.db;
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
pub async fn count_filings(deps: &Deps, actor: &Actor, filter: &FilingFilter) -> Result<u64, ServiceError> {
    let db = &deps.db;
    Ok(filtered(actor, filter)?.count(db).await?)
}

/// The subjects of the given filings, keyed by filing id (for per-request batch loading).
pub async fn subjects_by_filing(
    deps: &Deps,
    actor: &Actor,
    filing_ids: &[Uuid],
) -> Result<HashMap<Uuid, Subject>, ServiceError> {
    let db = &deps.db;
    let rows = filing_subject::Entity::find()
        .filter(filing_subject::Column::TenantId.eq(actor.tenant_id))
        .filter(filing_subject::Column::FilingId.is_in(filing_ids.iter().copied()))
        .into_model()
        .all(db)
        .await?;
    rows::models::<filing_subject::Model>(rows)
        .into_iter()
        .map(|row| Ok((row.filing_id, Subject::open(row, &deps.keys)?)))
        .collect()
}

/// The websites of the given filings in the order they were added, keyed by filing id.
pub async fn websites_by_filing(
    deps: &Deps,
    actor: &Actor,
    filing_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Website>>, ServiceError> {
    let db = &deps.db;
    let rows = website::Entity::find()
        .filter(website::Column::TenantId.eq(actor.tenant_id))
        .filter(website::Column::FilingId.is_in(filing_ids.iter().copied()))
        .order_by_asc(website::Column::Id)
        .into_model()
        .all(db)
        .await?;
    group_by_filing(rows::models::<website::Model>(rows), |r| r.filing_id, |row| Website::open(row, &deps.keys))
}

/// The audit trails of the given filings, oldest event first, keyed by filing id.
pub async fn events_by_filing(
    deps: &Deps,
    actor: &Actor,
    filing_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<FilingEvent>>, ServiceError> {
    let db = &deps.db;
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
    convert: impl Fn(R) -> Result<T, ServiceError>,
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
    if let Some(after) = filter.updated_after {
        // Every change writes an event, so "changed since" is "has an event since".
        let changed = sea_orm::sea_query::Query::select()
            .column(filing_event::Column::FilingId)
            .from(filing_event::Entity)
            .and_where(filing_event::Column::TenantId.eq(actor.tenant_id))
            .and_where(filing_event::Column::CreatedAt.gte(after))
            .to_owned();
        query = query.filter(filing::Column::Id.in_subquery(changed));
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
        query =
            query.filter(crate::services::contains_text((filing_subject::Entity, filing_subject::Column::Name), name));
    }
    Ok(query)
}

pub(super) async fn find_website(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> Result<website::Model, ServiceError> {
    let row = website::Entity::find()
        .filter(website::Column::TenantId.eq(actor.tenant_id))
        .filter(website::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    ensure_visible(db, actor, row.filing_id).await?;
    Ok(row)
}
