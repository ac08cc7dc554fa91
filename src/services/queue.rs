//! The reviewers' queue, oldest submission first, with deadlines in working days; and the tenant's counts.

use crate::language::Text;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Condition;
use sea_orm::{ColumnTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect, RelationTrait};
use uuid::Uuid;

use super::models::Filing;
use super::workflow::roles;
use super::{Page, ServiceError};
use crate::auth::Actor;
use crate::domain::workflow::WorkflowRole;
use crate::domain::{FieldErrorCode, FilingStatus, FilingType, Province};
use crate::services::Deps;
use entity::{filing, filing_subject};

/// Filters of the review queue.
#[derive(Clone, Debug, Default)]
pub struct QueueFilter {
    /// Default: waiting for review and in review.
    pub statuses: Option<Vec<FilingStatus>>,
    /// Only filings this reviewer claimed.
    pub reviewer_id: Option<Uuid>,
    /// Only filings nobody claimed.
    pub unassigned: bool,
    pub province_code: Option<String>,
    pub filing_types: Option<Vec<FilingType>>,
}

/// A filing in the queue with its deadline.
#[derive(Clone, Debug)]
pub struct QueueItem {
    pub filing: Filing,
    /// End of the last working day the preliminary review may take.
    pub deadline: DateTime<Utc>,
    pub overdue: bool,
}

/// Where the queue continues: the submission time and id of the last item seen.
pub type QueueCursor = (DateTime<Utc>, Uuid);

fn require_staff(actor: &Actor) -> Result<(), ServiceError> {
    let roles = roles(actor);
    let staff = roles.contains(&WorkflowRole::Reviewer) || roles.contains(&WorkflowRole::Registrar);
    if staff {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(Text::new(
            "the review queue is for the registrar's staff",
            "审核队列仅供接入商工作人员使用",
        )))
    }
}

/// The queue: submitted filings, oldest submission first (keyset pagination on submission time and id).
pub async fn review_queue(
    deps: &Deps,
    actor: &Actor,
    filter: &QueueFilter,
    first: u64,
    after: Option<QueueCursor>,
) -> Result<Page<QueueItem>, ServiceError> {
    let (db, reference, now) = (&deps.db, &deps.reference, deps.now());
    require_staff(actor)?;
    let statuses = filter.statuses.clone().unwrap_or_else(|| vec![FilingStatus::PendingReview, FilingStatus::InReview]);
    let mut query = filing::Entity::find()
        .filter(filing::Column::TenantId.eq(actor.tenant_id))
        .filter(filing::Column::Status.is_in(statuses.iter().map(|s| s.as_str())))
        .filter(filing::Column::SubmittedAt.is_not_null());
    if let Some(reviewer) = filter.reviewer_id {
        query = query.filter(filing::Column::ReviewerId.eq(reviewer));
    }
    if filter.unassigned {
        query = query.filter(filing::Column::ReviewerId.is_null());
    }
    if let Some(types) = &filter.filing_types {
        query = query.filter(filing::Column::FilingType.is_in(types.iter().map(|t| t.as_str())));
    }
    if let Some(code) = &filter.province_code {
        let province = Province::of_division_code(code.trim())
            .filter(|_| matches!(code.trim().len(), 2 | 6))
            .ok_or_else(|| ServiceError::invalid("filter.provinceCode", FieldErrorCode::UnknownProvince))?;
        query = query
            .join(JoinType::InnerJoin, filing::Relation::Subject.def())
            .filter(filing_subject::Column::ProvinceCode.eq(province.division_code()));
    }
    if let Some((submitted, id)) = after {
        query = query.filter(
            Condition::any()
                .add(filing::Column::SubmittedAt.gt(submitted))
                .add(Condition::all().add(filing::Column::SubmittedAt.eq(submitted)).add(filing::Column::Id.gt(id))),
        );
    }
    let mut rows = query
        .order_by_asc(filing::Column::SubmittedAt)
        .order_by_asc(filing::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(first as usize);
    let calendar = reference.review.calendar();
    let days = reference.review.preliminary_review_working_days;
    let items = rows
        .into_iter()
        .map(|row| {
            let filing = Filing::try_from(row)?;
            let submitted = filing.submitted_at.unwrap_or(filing.created_at);
            let deadline = calendar.deadline(submitted, days);
            Ok(QueueItem { overdue: now > deadline, deadline, filing })
        })
        .collect::<Result<_, ServiceError>>()?;
    Ok(Page { items, has_next_page })
}

/// One state's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusStat {
    pub status: FilingStatus,
    /// Filings in the state now.
    pub count: u64,
    /// Median time filings spent in the state, over the stays that ended; none before any did.
    pub median_seconds: Option<i64>,
}

/// A status change of the audit trail: filing, from, to, when.
type Transition = (Uuid, Option<FilingStatus>, Option<FilingStatus>, DateTime<Utc>);

/// Per state: how many filings are in it, and the median time filings spent in it (from the audit trail).
pub async fn stats(deps: &Deps, actor: &Actor) -> Result<Vec<StatusStat>, ServiceError> {
    let db = &deps.db;
    let counts = counts_by_status(deps, actor).await?;
    let events: Vec<Transition> = entity::filing_event::Entity::find()
        .filter(entity::filing_event::Column::TenantId.eq(actor.tenant_id))
        .filter(entity::filing_event::Column::ToStatus.is_not_null())
        .select_only()
        .column(entity::filing_event::Column::FilingId)
        .column(entity::filing_event::Column::FromStatus)
        .column(entity::filing_event::Column::ToStatus)
        .column(entity::filing_event::Column::CreatedAt)
        .order_by_asc(entity::filing_event::Column::FilingId)
        .order_by_asc(entity::filing_event::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let mut stays: std::collections::BTreeMap<FilingStatus, Vec<i64>> = Default::default();
    let mut current: Option<(Uuid, FilingStatus, DateTime<Utc>)> = None;
    for (filing, from, to, at) in events {
        if let (Some((id, state, since)), Some(from)) = (&current, &from)
            && *id == filing
            && state == from
        {
            stays.entry(*from).or_default().push((at - *since).num_seconds());
        }
        if let Some(to) = to {
            current = Some((filing, to, at));
        }
    }
    let median = |mut values: Vec<i64>| -> Option<i64> {
        values.sort_unstable();
        values.get(values.len() / 2).copied()
    };
    let mut out: Vec<StatusStat> = counts
        .into_iter()
        .map(|(status, count)| StatusStat { status, count, median_seconds: stays.remove(&status).and_then(median) })
        .collect();
    for (status, values) in stays {
        out.push(StatusStat { status, count: 0, median_seconds: median(values) });
    }
    out.sort_by_key(|s| s.status);
    Ok(out)
}

/// How many filings the tenant has in each state.
pub async fn counts_by_status(deps: &Deps, actor: &Actor) -> Result<Vec<(FilingStatus, u64)>, ServiceError> {
    let db = &deps.db;
    require_staff(actor)?;
    let rows: Vec<(FilingStatus, i64)> = filing::Entity::find()
        .filter(filing::Column::TenantId.eq(actor.tenant_id))
        .select_only()
        .column(filing::Column::Status)
        .column_as(filing::Column::Id.count(), "count")
        .group_by(filing::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut out: Vec<(FilingStatus, u64)> =
        rows.into_iter().map(|(status, count)| (status, count.max(0) as u64)).collect();
    out.sort_by_key(|(status, _)| *status);
    Ok(out)
}
