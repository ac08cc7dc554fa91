//! Personal data over time: resealing under the current key (key rotation, `beian pii rotate`), and the retention
//! purge of abandoned drafts (a background job, and `beian pii purge`).
//!
//! Both are operator work across every registrar, not a caller's use case: they take no actor.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde::Serialize;
use uuid::Uuid;

use super::ServiceError;
use super::access::{certificate_index, mobile_index};
use super::audit::{self, FilingAction, NewEvent};
use crate::auth::Actor;
use crate::db::write_txn;
use crate::domain::FilingStatus;
use crate::pii::{Keyring, PiiError};
use crate::services::Deps;
use crate::storage::Storage;
use entity::{attachment, filing, filing_subject, mobile_session, outbox_message, sms_check, website};

const BATCH: u64 = 500;

/// Rows resealed (or re-indexed) in one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Resealed {
    pub table: &'static str,
    pub rows: u64,
}

/// The new sealed value of `value` if it is stale (plain, or sealed under an older key).
fn reseal(keys: &Keyring, tenant: Uuid, value: &str) -> Result<Option<String>, PiiError> {
    if !keys.is_stale(value) {
        return Ok(None);
    }
    Ok(Some(keys.seal(tenant, &keys.open(tenant, value)?)))
}

/// Sets `target` to the resealed `value` when it was stale; whether it did.
fn reseal_into<C>(
    keys: &Keyring,
    tenant: Uuid,
    value: &str,
    target: &mut sea_orm::ActiveValue<C>,
    wrap: impl FnOnce(String) -> C,
) -> Result<bool, ServiceError>
where
    C: Into<sea_orm::Value>,
{
    match reseal(keys, tenant, value).map_err(ServiceError::internal)? {
        Some(sealed) => {
            *target = Set(wrap(sealed));
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Reseals every personal value not sealed under the current key, and recomputes the blind indexes (so a changed
/// index key takes effect). Safe to run while serving and to run again; each batch is one transaction.
pub async fn rotate(deps: &Deps) -> Result<Vec<Resealed>, ServiceError> {
    let (db, keys) = (&deps.db, &*deps.keys);
    let subjects = reseal_table::<filing_subject::Entity, _>(
        db,
        "filing_subjects",
        filing_subject::Column::Id,
        None,
        |r| r.id,
        |row| resealed_subject(keys, row),
    )
    .await?;
    let websites = reseal_table::<website::Entity, _>(
        db,
        "websites",
        website::Column::Id,
        None,
        |r| r.id,
        |row| resealed_website(keys, row),
    )
    .await?;
    let checks = reseal_table::<sms_check::Entity, _>(
        db,
        "sms_checks",
        sms_check::Column::Id,
        None,
        |r| r.id,
        |row| {
            let mut a: sms_check::ActiveModel = row.clone().into();
            Ok(reseal_fields(keys, row.tenant_id, [(&row.mobile, &mut a.mobile)])?.then_some(a))
        },
    )
    .await?;
    let sessions = reseal_table::<mobile_session::Entity, _>(
        db,
        "mobile_sessions",
        mobile_session::Column::Id,
        None,
        |r| r.id,
        |row| {
            let mut a: mobile_session::ActiveModel = row.clone().into();
            Ok(reseal_fields(keys, row.tenant_id, [(&row.mobile, &mut a.mobile)])?.then_some(a))
        },
    )
    .await?;
    let outbox = reseal_table::<outbox_message::Entity, _>(
        db,
        "outbox_messages",
        outbox_message::Column::Id,
        None,
        |r| r.id,
        |row| resealed_outbox_message(keys, row),
    )
    .await?;
    Ok(vec![subjects, websites, checks, sessions, outbox])
}

/// Reseals each stale `(value, target)` pair, in order, into the row's active model; whether any changed.
fn reseal_fields<const N: usize>(
    keys: &Keyring,
    tenant: Uuid,
    fields: [(&String, &mut sea_orm::ActiveValue<String>); N],
) -> Result<bool, ServiceError> {
    let mut changed = false;
    for (value, target) in fields {
        changed |= reseal_into(keys, tenant, value, target, |s| s)?;
    }
    Ok(changed)
}

/// A subject's row with its certificate number and responsible person's identity and contacts resealed, and the
/// blind indexes of the mobile and certificate number recomputed; `None` when nothing changed.
fn resealed_subject(
    keys: &Keyring,
    row: filing_subject::Model,
) -> Result<Option<filing_subject::ActiveModel>, ServiceError> {
    let t = row.tenant_id;
    let mut a: filing_subject::ActiveModel = row.clone().into();
    let mut changed = reseal_fields(
        keys,
        t,
        [
            (&row.certificate_number, &mut a.certificate_number),
            (&row.rp_certificate_number, &mut a.rp_certificate_number),
            (&row.rp_mobile, &mut a.rp_mobile),
            (&row.rp_email, &mut a.rp_email),
        ],
    )?;
    if let Some(phone) = &row.rp_emergency_phone {
        changed |= reseal_into(keys, t, phone, &mut a.rp_emergency_phone, Some)?;
    }
    let open = |v: &str| keys.open(t, v).map_err(ServiceError::internal);
    let mobile = mobile_index(keys, t, &open(&row.rp_mobile)?);
    let certificate = certificate_index(keys, t, &open(&row.certificate_number)?);
    if mobile != row.rp_mobile_bidx || certificate != row.certificate_number_bidx {
        a.rp_mobile_bidx = Set(mobile);
        a.certificate_number_bidx = Set(certificate);
        changed = true;
    }
    Ok(changed.then_some(a))
}

/// A website's row with its responsible person's identity and contacts resealed and the mobile's blind index
/// recomputed; `None` when nothing changed.
fn resealed_website(keys: &Keyring, row: website::Model) -> Result<Option<website::ActiveModel>, ServiceError> {
    let t = row.tenant_id;
    let mut a: website::ActiveModel = row.clone().into();
    let mut changed = reseal_fields(
        keys,
        t,
        [
            (&row.rp_certificate_number, &mut a.rp_certificate_number),
            (&row.rp_mobile, &mut a.rp_mobile),
            (&row.rp_email, &mut a.rp_email),
        ],
    )?;
    if let Some(phone) = &row.rp_emergency_phone {
        changed |= reseal_into(keys, t, phone, &mut a.rp_emergency_phone, Some)?;
    }
    let mobile = mobile_index(keys, t, &keys.open(t, &row.rp_mobile).map_err(ServiceError::internal)?);
    if mobile != row.rp_mobile_bidx {
        a.rp_mobile_bidx = Set(mobile);
        changed = true;
    }
    Ok(changed.then_some(a))
}

/// A message's row with its recipient resealed: an address (with its blind index recomputed), or the mobile a
/// recorded phone code went to; `None` when nothing changed.
fn resealed_outbox_message(
    keys: &Keyring,
    row: outbox_message::Model,
) -> Result<Option<outbox_message::ActiveModel>, ServiceError> {
    let mut a: outbox_message::ActiveModel = row.clone().into();
    let mut changed = reseal_fields(keys, row.tenant_id, [(&row.recipient, &mut a.recipient)])?;
    if row.template != PHONE_CODE {
        let address = keys.open(row.tenant_id, &row.recipient).map_err(ServiceError::internal)?;
        let index = Some(keys.blind(row.tenant_id, crate::pii::Blind::Email, &address.trim().to_lowercase()));
        if index != row.recipient_index {
            a.recipient_index = Set(index);
            changed = true;
        }
    }
    Ok(changed.then_some(a))
}

/// Walks a table in batches of [`BATCH`] by id (rows matching `only`), updating each row `step` returns a change
/// for; one transaction per batch.
async fn reseal_table<E, A>(
    db: &DatabaseConnection,
    table: &'static str,
    id_column: E::Column,
    only: Option<sea_orm::sea_query::SimpleExpr>,
    id: impl Fn(&E::Model) -> Uuid,
    mut step: impl FnMut(E::Model) -> Result<Option<A>, ServiceError>,
) -> Result<Resealed, ServiceError>
where
    E: EntityTrait,
    A: ActiveModelTrait<Entity = E> + sea_orm::ActiveModelBehavior + Send,
    E::Model: sea_orm::IntoActiveModel<A>,
{
    let (mut rows_changed, mut after) = (0, Uuid::nil());
    loop {
        let mut query = E::find().filter(id_column.gt(after)).order_by_asc(id_column).limit(BATCH);
        if let Some(only) = &only {
            query = query.filter(only.clone());
        }
        let rows = query.all(db).await?;
        let Some(last) = rows.last() else { break };
        after = id(last);
        let txn = db.begin().await?;
        for row in rows {
            if let Some(change) = step(row)? {
                change.update(&txn).await?;
                rows_changed += 1;
            }
        }
        txn.commit().await?;
    }
    Ok(Resealed { table, rows: rows_changed })
}

/// The template of recorded phone codes, whose recipient is a mobile number.
pub(crate) const PHONE_CODE: &str = "PHONE_CODE";

/// What the purge of one abandoned draft removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub tenant_id: Uuid,
    pub filing_id: Uuid,
    /// Material files deleted from storage (and their rows).
    pub attachments: usize,
    /// Websites whose responsible person was cleared.
    pub websites: usize,
}

/// Purges the personal data and files of every draft nobody changed for `retention_days` (never submitted, or
/// returned and left), and of abandoned filings as old: the subject's certificate number and addresses, every
/// responsible person's identity and contacts, the materials (files first, then rows), the mobile hand-offs and
/// SMS checks. A draft becomes ABANDONED. The filing, its websites' names and domains and its audit trail stay, with
/// a `PERSONAL_DATA_PURGED` event. A filing is purged once.
pub async fn purge_abandoned_drafts(deps: &Deps, retention_days: u32) -> Result<Vec<Purged>, ServiceError> {
    let (db, storage, now) = (&deps.db, &deps.storage, deps.now());
    if retention_days == 0 {
        return Ok(Vec::new());
    }
    let cutoff = now - Duration::days(i64::from(retention_days));
    let statuses = [FilingStatus::Draft, FilingStatus::Returned, FilingStatus::Abandoned];
    let due: Vec<filing::Model> = filing::Entity::find()
        .filter(filing::Column::Status.is_in(statuses.iter().map(|s| s.as_str())))
        .filter(filing::Column::UpdatedAt.lt(cutoff))
        .filter(filing::Column::PurgedAt.is_null())
        .order_by_asc(filing::Column::UpdatedAt)
        .limit(BATCH)
        .all(db)
        .await?;
    let mut out = Vec::new();
    for row in due {
        match purge_one(db, storage, row, retention_days, now).await {
            Ok(Some(purged)) => out.push(purged),
            Ok(None) => {}
            // Every other draft would only wait for the store's timeout too.
            Err(ServiceError::StorageUnavailable) => {
                tracing::warn!("the store is unavailable: abandoned drafts are purged on a later run");
                break;
            }
            Err(error) => tracing::warn!(error = ?error, "purging an abandoned draft failed; retried on the next run"),
        }
    }
    Ok(out)
}

async fn purge_one(
    db: &DatabaseConnection,
    storage: &Storage,
    row: filing::Model,
    retention_days: u32,
    now: DateTime<Utc>,
) -> Result<Option<Purged>, ServiceError> {
    let actor = Actor::system(row.tenant_id);
    // By tenant and filing, as the tables are indexed (by filing alone, each purge read all attachments and websites).
    let of_filing = || {
        Condition::all()
            .add(attachment::Column::TenantId.eq(row.tenant_id))
            .add(attachment::Column::FilingId.eq(row.id))
    };
    let materials = attachment::Entity::find().filter(of_filing()).all(db).await?;
    // Files first: if the transaction below fails, the rows stay and the next run deletes again (deleting a missing
    // object succeeds), so no file outlives its purge.
    for m in &materials {
        storage.delete(&storage.object(m.bucket.as_deref(), &m.object_key)).await?;
    }
    let txn = write_txn(db).await?;
    // Claimed with the version read: an applicant who edits the draft meanwhile keeps it.
    let status = if row.status.is_editable() { FilingStatus::Abandoned } else { row.status };
    let claimed = filing::Entity::update_many()
        .col_expr(filing::Column::PurgedAt, Expr::value(now))
        .col_expr(filing::Column::Status, Expr::value(status))
        .col_expr(filing::Column::Version, Expr::col(filing::Column::Version).add(1))
        .col_expr(filing::Column::UpdatedAt, Expr::value(now))
        .filter(filing::Column::Id.eq(row.id))
        .filter(filing::Column::Version.eq(row.version))
        .filter(filing::Column::PurgedAt.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(None);
    }
    attachment::Entity::delete_many().filter(of_filing()).exec(&txn).await?;
    mobile_session::Entity::delete_many()
        .filter(mobile_session::Column::TenantId.eq(row.tenant_id))
        .filter(mobile_session::Column::FilingId.eq(row.id))
        .exec(&txn)
        .await?;
    sms_check::Entity::delete_many()
        .filter(sms_check::Column::TenantId.eq(row.tenant_id))
        .filter(sms_check::Column::FilingId.eq(row.id))
        .exec(&txn)
        .await?;
    clear_subject(&txn, row.id).await?;
    let websites = website::Entity::update_many()
        .col_expr(website::Column::RpName, Expr::value(""))
        .col_expr(website::Column::RpCertificateNumber, Expr::value(""))
        .col_expr(website::Column::RpMobile, Expr::value(""))
        .col_expr(website::Column::RpMobileBidx, Expr::value(""))
        .col_expr(website::Column::RpEmergencyPhone, Expr::value(Option::<String>::None))
        .col_expr(website::Column::RpEmail, Expr::value(""))
        .filter(website::Column::TenantId.eq(row.tenant_id))
        .filter(website::Column::FilingId.eq(row.id))
        .exec(&txn)
        .await?
        .rows_affected as usize;
    let details = serde_json::json!({
        "retentionDays": retention_days, "attachments": materials.len(), "websites": websites,
    });
    let (from, to) = (Some(row.status), Some(status));
    let mut event = NewEvent::new(row.id, FilingAction::PersonalDataPurged, now).details(Some(details));
    if from != to {
        event = event.transition(from, to);
    }
    audit::record(&txn, &actor, event).await?;
    txn.commit().await?;
    tracing::info!(tenant = %row.tenant_id, filing = %row.id, attachments = materials.len(), "abandoned draft purged");
    Ok(Some(Purged { tenant_id: row.tenant_id, filing_id: row.id, attachments: materials.len(), websites }))
}

/// Clears the subject's personal data: its certificate number and addresses, and its responsible person. An
/// individual's subject name is the person's name: cleared too.
async fn clear_subject(txn: &impl ConnectionTrait, filing_id: Uuid) -> Result<(), ServiceError> {
    use crate::domain::SubjectType;
    use filing_subject::Column;
    let individual = Expr::col(Column::SubjectType).eq(SubjectType::Individual.as_str());
    let name =
        sea_orm::sea_query::CaseStatement::new().case(individual, Expr::value("")).finally(Expr::col(Column::Name));
    filing_subject::Entity::update_many()
        .col_expr(Column::Name, name.into())
        .col_expr(Column::CertificateNumber, Expr::value(""))
        .col_expr(Column::CertificateNumberBidx, Expr::value(""))
        .col_expr(Column::CertificateAddress, Expr::value(Option::<String>::None))
        .col_expr(Column::MailingAddress, Expr::value(""))
        .col_expr(Column::RpName, Expr::value(""))
        .col_expr(Column::RpCertificateNumber, Expr::value(""))
        .col_expr(Column::RpMobile, Expr::value(""))
        .col_expr(Column::RpMobileBidx, Expr::value(""))
        .col_expr(Column::RpEmergencyPhone, Expr::value(Option::<String>::None))
        .col_expr(Column::RpEmail, Expr::value(""))
        .filter(Column::FilingId.eq(filing_id))
        .exec(txn)
        .await?;
    Ok(())
}
