//! How many phone codes may go, decided in the database so the limits hold across hand-off links, filings,
//! restarts and replicas: per mobile number (one every `phone_code_interval_seconds`, so many an hour and a day) and
//! per registrar (a ceiling an hour). The number is counted through its blind index ([`crate::pii`]), never in
//! clear.
//!
//! Each code is recorded (`SENDING`) in the transaction that decides it, before the SMS gateway is asked, so codes
//! in flight count for everyone deciding meanwhile, and a replica that dies mid-send leaves its code counted. The
//! decision is serialised per registrar: on PostgreSQL with a transaction-scoped advisory lock (every replica takes
//! the same one), on SQLite by its single writer (`BEGIN IMMEDIATE`). Per registrar rather than per number because
//! the registrar's ceiling is decided in the same step; the locked work is a few indexed statements.
//!
//! A code the gateway refused (`FAILED`) does not count against the person, who may ask again at once; but refused
//! attempts to one number are themselves limited to `phone_codes_per_number_per_hour` an hour, and count towards
//! the registrar's ceiling, so a gateway that answers an error yet delivers cannot be made to flood a phone.
//!
//! Rows older than a day (the longest window) are deleted as the registrar sends. A new blind-index key starts the
//! counts afresh (at most a day's codes more, once).

use chrono::{DateTime, Duration, Utc};
use sea_orm::prelude::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use uuid::Uuid;

use super::ServiceError;
use crate::services::Deps;
use entity::enums::PhoneCodeSendStatus;
use entity::phone_code_send::{self, Column, Entity};

/// The first key of the advisory locks that serialise the decisions (the second is the registrar's).
const LOCK_CLASS: i32 = 0x6265_6961; // "beia"

/// The limits on phone codes, from `[mobile]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeLimits {
    pub interval: Duration,
    pub per_number_per_hour: u32,
    pub per_number_per_day: u32,
    pub per_registrar_per_hour: u32,
}

impl CodeLimits {
    pub fn from_config(config: &crate::config::MobileConfig) -> anyhow::Result<Self> {
        for (name, value) in [
            ("phone_codes_per_number_per_hour", config.phone_codes_per_number_per_hour),
            ("phone_codes_per_number_per_day", config.phone_codes_per_number_per_day),
            ("phone_codes_per_registrar_per_hour", config.phone_codes_per_registrar_per_hour),
        ] {
            anyhow::ensure!(value > 0, "mobile.{name} must be at least 1 (0 would send no code at all)");
        }
        let interval = i64::try_from(config.phone_code_interval_seconds)
            .ok()
            .filter(|s| *s <= 24 * 3600)
            .ok_or_else(|| anyhow::anyhow!("mobile.phone_code_interval_seconds must be at most a day (86400)"))?;
        Ok(Self {
            interval: Duration::seconds(interval),
            per_number_per_hour: config.phone_codes_per_number_per_hour,
            per_number_per_day: config.phone_codes_per_number_per_day,
            per_registrar_per_hour: config.phone_codes_per_registrar_per_hour,
        })
    }
}

impl Default for CodeLimits {
    fn default() -> Self {
        Self::from_config(&crate::config::MobileConfig::default()).expect("the default limits are valid")
    }
}

/// A code the limits let go, recorded as on its way: [`settle`] it once the sender has answered.
#[derive(Clone, Copy, Debug)]
pub struct Reservation(Uuid);

/// Decides whether a code may go to `mobile` (the number as stored; normalised here) for `tenant`'s hand-off
/// `session`, and if so records it, inside `txn` (a write transaction: the record stands once it commits).
/// RATE_LIMITED, with the time until the next code may go, otherwise.
pub async fn reserve(
    txn: &DatabaseTransaction,
    keys: &crate::pii::Keyring,
    limits: &CodeLimits,
    tenant: Uuid,
    mobile: &str,
    session: Uuid,
    now: DateTime<Utc>,
) -> Result<Reservation, ServiceError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        let lock = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1, $2)::text",
            [LOCK_CLASS.into(), lock_key(tenant).into()],
        );
        txn.query_one_raw(lock).await?;
    }
    let number = number_index(keys, tenant, mobile);
    let mut waits = number_waits(txn, limits, tenant, &number, now).await?;
    waits.push(registrar_wait(txn, limits, tenant, now).await?);
    if let Some(longest) = waits.into_iter().flatten().max() {
        return Err(ServiceError::RateLimited {
            retry_after: longest.max(Duration::seconds(1)).to_std().unwrap_or(std::time::Duration::from_secs(1)),
        });
    }
    Entity::delete_many()
        .filter(Column::TenantId.eq(tenant))
        .filter(Column::CreatedAt.lte(now - Duration::days(1)))
        .exec(txn)
        .await?;
    let id = Uuid::now_v7();
    phone_code_send::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant),
        mobile_bidx: Set(number),
        session_id: Set(session),
        status: Set(PhoneCodeSendStatus::Sending),
        created_at: Set(now),
    }
    .insert(txn)
    .await?;
    Ok(Reservation(id))
}

/// How long each of the number's limits still holds the next code back (`None`: that limit lets it go): codes an
/// hour and a day, the interval between two codes, and refused attempts an hour.
async fn number_waits(
    txn: &DatabaseTransaction,
    limits: &CodeLimits,
    tenant: Uuid,
    number: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Option<Duration>>, ServiceError> {
    let day = Duration::days(1);
    let hour = Duration::hours(1);
    let of_number: Vec<(DateTime<Utc>, PhoneCodeSendStatus)> = Entity::find()
        .select_only()
        .column(Column::CreatedAt)
        .column(Column::Status)
        .filter(Column::TenantId.eq(tenant))
        .filter(Column::MobileBidx.eq(number))
        .filter(Column::CreatedAt.gt(now - day))
        .order_by_asc(Column::CreatedAt)
        .into_tuple()
        .all(txn)
        .await?;
    let codes: Vec<DateTime<Utc>> =
        of_number.iter().filter(|(_, s)| *s != PhoneCodeSendStatus::Failed).map(|(t, _)| *t).collect();
    let refused: Vec<DateTime<Utc>> = of_number
        .iter()
        .filter(|(t, s)| *s == PhoneCodeSendStatus::Failed && *t > now - hour)
        .map(|(t, _)| *t)
        .collect();
    let in_window =
        |window: Duration| -> Vec<DateTime<Utc>> { codes.iter().copied().filter(|t| *t > now - window).collect() };
    let mut waits = vec![
        wait(&in_window(hour), limits.per_number_per_hour, hour, now),
        wait(&codes, limits.per_number_per_day, day, now),
        wait(&refused, limits.per_number_per_hour, hour, now),
    ];
    if limits.interval > Duration::zero() {
        waits.push(wait(&in_window(limits.interval), 1, limits.interval, now));
    }
    Ok(waits)
}

/// How long the registrar's hourly ceiling still holds the next code back: every attempt of the last hour counts,
/// sent or refused.
async fn registrar_wait(
    txn: &DatabaseTransaction,
    limits: &CodeLimits,
    tenant: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Duration>, ServiceError> {
    let hour = Duration::hours(1);
    let of_registrar = || Entity::find().filter(Column::TenantId.eq(tenant)).filter(Column::CreatedAt.gt(now - hour));
    let sent_in_hour = of_registrar().count(txn).await?;
    let ceiling = u64::from(limits.per_registrar_per_hour);
    if sent_in_hour < ceiling {
        return Ok(None);
    }
    // The attempt whose hour must end before the count is below the ceiling again.
    let leaving: Option<DateTime<Utc>> = of_registrar()
        .select_only()
        .column(Column::CreatedAt)
        .order_by_asc(Column::CreatedAt)
        .offset(sent_in_hour - ceiling)
        .limit(1)
        .into_tuple()
        .one(txn)
        .await?;
    tracing::warn!(tenant = %tenant, "the registrar's hourly ceiling of phone codes is reached");
    Ok(Some(leaving.map_or(hour, |t| t + hour - now)))
}

/// Records what the sender answered: `SENT`, or `FAILED` (the code never reached the phone, so it does not count
/// against the person).
pub async fn settle(deps: &Deps, reservation: Reservation, sent: bool) -> Result<(), ServiceError> {
    let db = &deps.db;
    Entity::update_many()
        .col_expr(
            Column::Status,
            Expr::value(if sent { PhoneCodeSendStatus::Sent } else { PhoneCodeSendStatus::Failed }),
        )
        .filter(Column::Id.eq(reservation.0))
        .exec(db)
        .await?;
    Ok(())
}

/// The blind index the counts go by: the number as the rules normalise it (`+86 138-0013-8000` is `13800138000`).
fn number_index(keys: &crate::pii::Keyring, tenant: Uuid, mobile: &str) -> String {
    let index = super::access::mobile_index(keys, tenant, mobile);
    if index.is_empty() {
        // Not a mobile number the rules know (older data): counted as stored, still never in clear.
        keys.blind(tenant, crate::pii::Blind::Mobile, mobile.trim())
    } else {
        index
    }
}

/// The second key of the registrar's advisory lock: its id folded to 32 bits (two registrars that share one only
/// wait for each other).
fn lock_key(tenant: Uuid) -> i32 {
    let bits = tenant.as_u128();
    let folded = (bits as u64) ^ ((bits >> 64) as u64);
    ((folded as u32) ^ ((folded >> 32) as u32)) as i32
}

/// How long until one more fits, when `times` (ascending, all within the last `window`) already hold `limit`: the
/// moment enough of them have left the window.
fn wait(times: &[DateTime<Utc>], limit: u32, window: Duration, now: DateTime<Utc>) -> Option<Duration> {
    let limit = limit as usize;
    (times.len() >= limit).then(|| times[times.len() - limit] + window - now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_ends_when_enough_codes_have_left_the_window() {
        let now = Utc::now();
        let hour = Duration::hours(1);
        let ago = |minutes: i64| now - Duration::minutes(minutes);
        assert_eq!(wait(&[], 1, hour, now), None);
        assert_eq!(wait(&[ago(50), ago(10)], 3, hour, now), None);
        // Three in the hour and three allowed: the oldest must leave, in ten minutes.
        assert_eq!(wait(&[ago(50), ago(30), ago(10)], 3, hour, now), Some(Duration::minutes(10)));
        // Four with two allowed: the second oldest must leave too.
        assert_eq!(wait(&[ago(50), ago(40), ago(30), ago(10)], 2, hour, now), Some(Duration::minutes(30)));
        assert_eq!(wait(&[ago(0)], 1, Duration::seconds(60), now), Some(Duration::seconds(60)));
    }

    #[test]
    fn limits_are_checked_when_read() {
        let defaults = CodeLimits::default();
        assert_eq!(
            (defaults.interval, defaults.per_number_per_hour, defaults.per_number_per_day),
            (Duration::minutes(1), 5, 10)
        );
        let zero = crate::config::MobileConfig { phone_codes_per_number_per_hour: 0, ..Default::default() };
        assert!(CodeLimits::from_config(&zero).unwrap_err().to_string().contains("phone_codes_per_number_per_hour"));
        let long = crate::config::MobileConfig { phone_code_interval_seconds: u64::MAX, ..Default::default() };
        assert!(CodeLimits::from_config(&long).is_err());
    }

    #[test]
    fn the_lock_key_is_stable_and_spreads_registrars() {
        let a = Uuid::now_v7();
        assert_eq!(lock_key(a), lock_key(a));
        assert_ne!(lock_key(a), lock_key(Uuid::now_v7()));
    }
}
