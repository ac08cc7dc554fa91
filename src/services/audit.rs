//! The audit trail: an immutable event per change, written in the same transaction as the change.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ServiceError;
use crate::auth::Actor;
use crate::domain::FilingStatus;

pub use entity::enums::FilingAction;

/// One changed field: its path and its old and new values (personal data masked).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Collects the differences between two versions of a record, field by field.
#[derive(Default)]
pub struct ChangeSet(Vec<FieldChange>);

impl ChangeSet {
    /// Records `field` if the value changed.
    pub fn compare(&mut self, field: impl Into<String>, old: Option<&str>, new: Option<&str>) {
        if old != new {
            self.0.push(FieldChange { field: field.into(), old: old.map(str::to_owned), new: new.map(str::to_owned) });
        }
    }

    /// Records `field` if it changed, masking both values with `mask`.
    pub fn compare_masked(
        &mut self,
        field: impl Into<String>,
        old: Option<&str>,
        new: Option<&str>,
        mask: fn(&str) -> String,
    ) {
        if old != new {
            self.0.push(FieldChange { field: field.into(), old: old.map(mask), new: new.map(mask) });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldChange> {
        self.0
    }
}

/// Appends an event to a filing's audit trail.
pub struct NewEvent<'a> {
    pub filing_id: Uuid,
    pub action: FilingAction,
    pub from_status: Option<FilingStatus>,
    pub to_status: Option<FilingStatus>,
    pub changes: Vec<FieldChange>,
    pub reason: Option<&'a str>,
    /// Structured details (rejection reasons, decisions, ICP numbers).
    pub details: Option<serde_json::Value>,
    pub at: DateTime<Utc>,
}

impl NewEvent<'_> {
    /// An event of `action` at `at`; add what it records with the methods below.
    pub fn new(filing_id: Uuid, action: FilingAction, at: DateTime<Utc>) -> Self {
        Self { filing_id, action, from_status: None, to_status: None, changes: vec![], reason: None, details: None, at }
    }

    /// The states a transition moved between.
    pub fn transition(mut self, from: Option<FilingStatus>, to: Option<FilingStatus>) -> Self {
        self.from_status = from;
        self.to_status = to;
        self
    }

    /// The fields an edit changed.
    pub fn changes(mut self, changes: Vec<FieldChange>) -> Self {
        self.changes = changes;
        self
    }

    /// Structured details (reasons, decisions, numbers).
    pub fn details(mut self, details: Option<serde_json::Value>) -> Self {
        self.details = details;
        self
    }
}

pub async fn record(db: &impl ConnectionTrait, actor: &Actor, event: NewEvent<'_>) -> Result<(), ServiceError> {
    entity::filing_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(actor.tenant_id),
        filing_id: Set(event.filing_id),
        actor_kind: Set(actor.kind()),
        actor_id: Set(Some(actor.id)),
        actor_label: Set(actor.label.clone()),
        action: Set(event.action),
        from_status: Set(event.from_status),
        to_status: Set(event.to_status),
        changes: Set(serde_json::to_value(event.changes).map_err(ServiceError::internal)?),
        reason: Set(event.reason.map(str::to_owned)),
        details: Set(event.details),
        created_at: Set(event.at),
    }
    .insert(db)
    .await?;
    Ok(())
}
