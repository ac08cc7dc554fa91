//! Opaque global IDs (`base64url("Filing:<uuid>")`) and connection cursors.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::FieldErrorCode;
use crate::services::ServiceError;
use crate::services::filings::FeedPosition;

/// Object types that have global IDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Filing,
    Website,
    FilingEvent,
    Account,
    ApiKey,
    Attachment,
    SmsCheck,
    Notification,
    MobileVerification,
    WebhookEndpoint,
    WebhookDelivery,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Filing => "Filing",
            Kind::Website => "Website",
            Kind::FilingEvent => "FilingEvent",
            Kind::Account => "Account",
            Kind::ApiKey => "ApiKey",
            Kind::Attachment => "Attachment",
            Kind::SmsCheck => "SmsCheck",
            Kind::Notification => "Notification",
            Kind::MobileVerification => "MobileVerification",
            Kind::WebhookEndpoint => "WebhookEndpoint",
            Kind::WebhookDelivery => "WebhookDelivery",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [
            Kind::Filing,
            Kind::Website,
            Kind::FilingEvent,
            Kind::Account,
            Kind::ApiKey,
            Kind::Attachment,
            Kind::SmsCheck,
            Kind::Notification,
            Kind::MobileVerification,
            Kind::WebhookEndpoint,
            Kind::WebhookDelivery,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

pub fn encode(kind: Kind, id: Uuid) -> async_graphql::ID {
    async_graphql::ID(URL_SAFE_NO_PAD.encode(format!("{}:{}", kind.name(), id)))
}

/// Decodes any global ID into its kind and UUID; a malformed ID is a BAD_USER_INPUT on `field`.
pub fn decode_any(id: &str, field: &str) -> Result<(Kind, Uuid), ServiceError> {
    let invalid = || ServiceError::invalid(field, FieldErrorCode::InvalidId);
    let bytes = URL_SAFE_NO_PAD.decode(id.trim_end_matches('=')).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (name, uuid) = text.split_once(':').ok_or_else(invalid)?;
    let kind = Kind::from_name(name).ok_or_else(invalid)?;
    Ok((kind, Uuid::parse_str(uuid).map_err(|_| invalid())?))
}

/// Decodes a global ID that must be of `kind`. An ID of another type names no object of this one: NOT_FOUND.
pub fn decode(id: &str, kind: Kind, field: &str) -> Result<Uuid, ServiceError> {
    match decode_any(id, field)? {
        (found, uuid) if found == kind => Ok(uuid),
        _ => Err(ServiceError::NotFound),
    }
}

const CURSOR_PREFIX: &str = "cursor:v1:";

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{id}"))
}

pub fn decode_cursor(cursor: &str) -> Result<Uuid, ServiceError> {
    let invalid = || ServiceError::invalid("after", FieldErrorCode::InvalidFormat);
    let text = URL_SAFE_NO_PAD.decode(cursor).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
    let uuid = text.strip_prefix(CURSOR_PREFIX).ok_or_else(invalid)?;
    Uuid::parse_str(uuid).map_err(|_| invalid())
}

/// The cursor of a place in a list ordered by a time and an id (the review queue, a delivery log); `kind` names the
/// list, so that one list's cursor is refused by another.
pub fn encode_time_cursor(kind: &str, at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:v1:{}|{id}", at.to_rfc3339()))
}

pub fn decode_time_cursor(kind: &str, cursor: &str) -> Result<(DateTime<Utc>, Uuid), ServiceError> {
    let invalid = || ServiceError::invalid("after", FieldErrorCode::InvalidFormat);
    let text = URL_SAFE_NO_PAD.decode(cursor).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
    let (at, id) = text
        .strip_prefix(kind)
        .and_then(|t| t.strip_prefix(":v1:"))
        .and_then(|t| t.split_once('|'))
        .ok_or_else(invalid)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| invalid())?.with_timezone(&Utc);
    Ok((at, Uuid::parse_str(id).map_err(|_| invalid())?))
}

const FEED_CURSOR_PREFIX: &str = "feed:v1:";

/// The cursor of a position in the change feed (`filingEvents`).
pub fn encode_feed_cursor(position: FeedPosition) -> String {
    URL_SAFE_NO_PAD.encode(format!("{FEED_CURSOR_PREFIX}{}:{}", position.txid, position.seq))
}

pub fn decode_feed_cursor(cursor: &str) -> Result<FeedPosition, ServiceError> {
    let invalid = || ServiceError::invalid("after", FieldErrorCode::InvalidFormat);
    let text = URL_SAFE_NO_PAD.decode(cursor).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
    let (txid, seq) = text.strip_prefix(FEED_CURSOR_PREFIX).and_then(|t| t.split_once(':')).ok_or_else(invalid)?;
    let number = |n: &str| n.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(invalid);
    Ok(FeedPosition { txid: number(txid)?, seq: number(seq)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_cursors_round_trip_to_the_nanosecond_and_belong_to_one_list() {
        let at = DateTime::from_timestamp(1_764_000_000, 123_456_789).unwrap();
        let id = Uuid::now_v7();
        assert_eq!(decode_time_cursor("queue", &encode_time_cursor("queue", at, id)).unwrap(), (at, id));
        for bad in [encode_time_cursor("delivery", at, id), encode_cursor(id), "queue:v1:x|y".to_owned()] {
            assert!(decode_time_cursor("queue", &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn feed_cursors_round_trip_and_refuse_what_they_did_not_make() {
        let position = FeedPosition { txid: 4_294_967_300, seq: 17 };
        assert_eq!(decode_feed_cursor(&encode_feed_cursor(position)).unwrap(), position);
        for bad in ["", "x", &encode_cursor(Uuid::now_v7()), &URL_SAFE_NO_PAD.encode("feed:v1:-1:2")] {
            assert!(decode_feed_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn global_ids_round_trip_and_keep_their_type() {
        let uuid = Uuid::now_v7();
        let id = encode(Kind::Website, uuid);
        assert_eq!(decode(&id, Kind::Website, "id").unwrap(), uuid);
        assert!(matches!(decode(&id, Kind::Filing, "id"), Err(ServiceError::NotFound)));
        assert!(matches!(decode("not an id", Kind::Filing, "id"), Err(ServiceError::InvalidInput(_))));
        assert!(matches!(decode(&encode_cursor(uuid), Kind::Filing, "id"), Err(ServiceError::InvalidInput(_))));
    }

    #[test]
    fn cursors_round_trip() {
        let uuid = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(uuid)).unwrap(), uuid);
        assert!(decode_cursor("garbage").is_err());
        assert!(decode_cursor(&encode(Kind::Filing, uuid)).is_err());
    }
}
