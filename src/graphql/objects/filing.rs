//! The filing (备案订单) and what hangs off it directly: its audit trail, the pre-submit check, what changed since a
//! return. Nested data goes through the DataLoaders.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::account::Account;
use super::attachment::{self, Attachment, Checklist};
use super::mobile::{self, MobileVerification};
use super::notification::Notification;
use super::subject::Subject;
use super::website::Website;
use super::workflow::{ReturnReasonObject, SmsCheck};
use crate::domain;
use crate::graphql::context::{actor, deps};
use crate::graphql::enums;
use crate::graphql::error::gql;
use crate::graphql::heavy;
use crate::graphql::ids::{self, Kind};
use crate::graphql::loaders::{
    AccountById, AttachmentsOf, EventsOf, FilingById, Loaders, NotificationsOf, SubjectOf, WebsitesOf, loader_error,
};
use crate::services::{ServiceError, audit, models};

fn loader<'a>(ctx: &'a Context<'_>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}

pub struct Filing(pub models::Filing);

/// A filing order (备案订单): a subject and its websites, moving through the review workflow.
#[Object]
impl Filing {
    /// The filing's opaque global ID.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Filing, self.0.id)
    }

    /// The kind of order.
    async fn filing_type(&self) -> enums::FilingType {
        self.0.filing_type.into()
    }

    /// Where the filing stands in the review workflow.
    async fn status(&self) -> enums::FilingStatus {
        self.0.status.into()
    }

    /// Optimistic-concurrency version: pass it to every mutation of this filing. It grows with every change; a
    /// mutation naming an older version fails with CONFLICT.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// When the draft was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the filing last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// When retention purged this abandoned draft's personal data and materials (after the registrar's configured
    /// period without a change); null while they are kept.
    async fn purged_at(&self) -> Option<DateTime<Utc>> {
        self.0.purged_at
    }

    /// The applicant account that owns the filing; null when the registrar's backend created it.
    async fn applicant(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        heavy(async move {
            let Some(owner) = self.0.owner_account_id else {
                return Ok(None);
            };
            let found = loader(ctx).load_one(AccountById(owner)).await.map_err(loader_error)?;
            Ok(found.map(Account))
        })
        .await
    }

    /// The reviewer who claimed the preliminary review.
    async fn reviewer(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        heavy(async move {
            let Some(reviewer) = self.0.reviewer_id else {
                return Ok(None);
            };
            let found = loader(ctx).load_one(AccountById(reviewer)).await.map_err(loader_error)?;
            Ok(found.map(Account))
        })
        .await
    }

    /// When the filing was last submitted.
    async fn submitted_at(&self) -> Option<DateTime<Utc>> {
        self.0.submitted_at
    }

    /// When the current MIIT SMS round times out.
    async fn sms_deadline_at(&self) -> Option<DateTime<Utc>> {
        self.0.sms_deadline_at
    }

    /// The subject's ICP number: once the bureau approved; from the start for an order that amends a filed record
    /// and for an add-access order (the number it names).
    async fn icp_number(&self) -> Option<&str> {
        self.0.icp_number.as_deref()
    }

    /// The filed record this order amends (null for a first filing and an add-access order).
    async fn base_filing(&self, ctx: &Context<'_>) -> Result<Option<Filing>> {
        heavy(async move {
            let Some(base) = self.0.base_filing_id else {
                return Ok(None);
            };
            Ok(loader(ctx).load_one(FilingById(base)).await.map_err(loader_error)?.map(Filing))
        })
        .await
    }

    /// The later order that replaced this filed record once the bureau approved it.
    async fn superseded_by(&self, ctx: &Context<'_>) -> Result<Option<Filing>> {
        heavy(async move {
            let Some(next) = self.0.superseded_by_id else {
                return Ok(None);
            };
            Ok(loader(ctx).load_one(FilingById(next)).await.map_err(loader_error)?.map(Filing))
        })
        .await
    }

    /// Whether this filing is its subject's filed record as it stands now: approved, not replaced by a later order,
    /// not a cancelled subject. Orders (add website, changes, cancellations) start from it with `startOrder`.
    async fn is_current_record(&self) -> bool {
        self.0.is_current_record()
    }

    /// The order types the caller may start from this filing now (empty unless it is the current record).
    async fn available_order_types(&self, ctx: &Context<'_>) -> Result<Vec<enums::FilingType>> {
        let actor = actor(ctx)?;
        Ok(crate::services::orders::startable_types(actor, &self.0).into_iter().map(Into::into).collect())
    }

    /// What this order changes in the filed record it amends, field by field (website paths follow the order's
    /// websites; personal data masked). Empty for a first filing and an add-access order.
    async fn changes_from_record(&self, ctx: &Context<'_>) -> Result<Vec<FieldChange>> {
        heavy(async move {
            let actor = actor(ctx)?;
            let changes = crate::services::orders::changes_from_record(deps(ctx), actor, &self.0).await.map_err(gql)?;
            Ok(changes.into_iter().map(FieldChange::from).collect())
        })
        .await
    }

    /// The MIIT SMS checks of the current round, one per responsible person.
    async fn sms_checks(&self, ctx: &Context<'_>) -> Result<Vec<SmsCheck>> {
        heavy(async move {
            let actor = actor(ctx)?;
            let checks = crate::services::workflow::sms_checks(deps(ctx), actor, self.0.id).await.map_err(gql)?;
            Ok(checks.into_iter().map(SmsCheck).collect())
        })
        .await
    }

    /// The workflow mutations the caller may perform on this filing now (what a console offers as buttons); a
    /// mutation not listed answers INVALID_TRANSITION or FORBIDDEN.
    async fn available_actions(&self, ctx: &Context<'_>) -> Result<Vec<enums::AvailableAction>> {
        let actor = actor(ctx)?;
        Ok(crate::services::workflow::available_actions(actor, &self.0).into_iter().map(Into::into).collect())
    }

    /// The reasons of the latest return (初审, SMS or bureau), for the applicant to fix.
    async fn return_reasons(&self, ctx: &Context<'_>) -> Result<Vec<ReturnReasonObject>> {
        heavy(async move {
            let found = loader(ctx).load_one(EventsOf(self.0.id)).await.map_err(loader_error)?.unwrap_or_default();
            let latest = found.iter().rev().find(|e| e.to_status == Some(domain::FilingStatus::Returned));
            Ok(latest.map(|e| reasons_of(&e.details)).unwrap_or_default())
        })
        .await
    }

    /// Since the filing was last returned: what the applicant changed (so the reviewer re-checks only that), and
    /// which of the return's reasons those changes answer. Null if it was never returned.
    async fn since_last_return(&self, ctx: &Context<'_>) -> Result<Option<SinceReturn>> {
        heavy(async move {
            let events = loader(ctx).load_one(EventsOf(self.0.id)).await.map_err(loader_error)?.unwrap_or_default();
            Ok(crate::services::workflow::since_last_return(&events).map(|s| SinceReturn {
                returned_at: s.returned_at,
                changes: s.changes.into_iter().map(FieldChange::from).collect(),
                answered_reasons: s.answered.into_iter().map(Into::into).collect(),
                open_reasons: s.open.into_iter().map(Into::into).collect(),
            }))
        })
        .await
    }

    /// The subject (主体) the filing is for.
    async fn subject(&self, ctx: &Context<'_>) -> Result<Subject> {
        heavy(async move {
            loader(ctx)
                .load_one(SubjectOf(self.0.id))
                .await
                .map_err(loader_error)?
                .map(Subject)
                .ok_or_else(|| gql(ServiceError::internal(anyhow::anyhow!("filing without subject"))))
        })
        .await
    }

    /// The websites of the filing, in the order they were added.
    async fn websites(&self, ctx: &Context<'_>) -> Result<Vec<Website>> {
        heavy(async move {
            let found = loader(ctx).load_one(WebsitesOf(self.0.id)).await.map_err(loader_error)?;
            Ok(found.iter().flat_map(|list| list.iter()).cloned().map(Website).collect())
        })
        .await
    }

    /// The pre-submit check: everything a reviewer or the bureau would refuse in the filing as it stands (the list
    /// submission enforces), and warnings that often draw a question.
    async fn precheck(&self, ctx: &Context<'_>) -> Result<Precheck> {
        heavy(async move {
            let actor = actor(ctx)?;
            let check = crate::services::rules::precheck(deps(ctx), actor, self.0.id).await.map_err(gql)?;
            let finding = |f: &domain::FieldError| {
                let website_id = f
                    .field
                    .strip_prefix("websites[")
                    .and_then(|rest| rest.split_once(']'))
                    .and_then(|(i, _)| i.parse::<usize>().ok())
                    .and_then(|i| check.website_ids.get(i))
                    .map(|id| ids::encode(Kind::Website, *id));
                Finding {
                    field: f.field.clone(),
                    code: enums::FieldErrorCode(f.code),
                    message: crate::language::pick(&f.message, &f.message_zh).clone(),
                    message_zh: f.message_zh.clone(),
                    suggestion: f.suggestion.as_ref().map(|s| crate::language::pick(&s.0, &s.1).clone()),
                    suggestion_zh: f.suggestion.as_ref().map(|s| s.1.clone()),
                    website_id,
                }
            };
            let errors: Vec<Finding> = check.findings.iter().filter(|f| f.is_error()).map(finding).collect();
            let warnings: Vec<Finding> = check.findings.iter().filter(|f| !f.is_error()).map(finding).collect();
            Ok(Precheck { passed: errors.is_empty(), errors, warnings })
        })
        .await
    }

    /// The materials checklist: what this filing needs (from the requirements table), and where each stands.
    async fn checklist(&self, ctx: &Context<'_>) -> Result<Checklist> {
        heavy(async move { attachment::checklist(ctx, self.0.id).await }).await
    }

    /// The materials: uploaded files, and uploads in progress.
    async fn attachments(&self, ctx: &Context<'_>) -> Result<Vec<Attachment>> {
        heavy(async move {
            let found = loader(ctx).load_one(AttachmentsOf(self.0.id)).await.map_err(loader_error)?;
            Ok(found.iter().flat_map(|list| list.iter()).cloned().map(Attachment).collect())
        })
        .await
    }

    /// The verification sheet (网站备案信息真实性核验单) filled in from the filing as it stands: a printable HTML page
    /// (A4, UTF-8) for the applicant to print, sign (stamp, for organisations) and upload as VERIFICATION_SHEET.
    async fn verification_sheet_html(&self, ctx: &Context<'_>) -> Result<String> {
        heavy(async move {
            let actor = actor(ctx)?;
            crate::services::documents::verification_sheet(deps(ctx), actor, self.0.id).await.map_err(gql)
        })
        .await
    }

    /// The mobile hand-offs (QR codes) started for the filing's responsible persons, newest first.
    async fn mobile_verifications(&self, ctx: &Context<'_>) -> Result<Vec<MobileVerification>> {
        heavy(async move { mobile::of_filing(ctx, self.0.id).await }).await
    }

    /// The emails about this filing, oldest first: to whom, when, in which language, and whether they went out
    /// (staff only; FORBIDDEN for applicants).
    async fn notifications(&self, ctx: &Context<'_>) -> Result<Vec<Notification>> {
        heavy(async move {
            let found = loader(ctx).load_one(NotificationsOf(self.0.id)).await.map_err(loader_error)?;
            Ok(found.unwrap_or_default().into_iter().map(Notification).collect())
        })
        .await
    }

    /// The audit trail: every change of the filing, oldest first.
    async fn events(&self, ctx: &Context<'_>) -> Result<Vec<FilingEvent>> {
        heavy(async move {
            let found = loader(ctx).load_one(EventsOf(self.0.id)).await.map_err(loader_error)?;
            Ok(found.iter().flat_map(|list| list.iter()).cloned().map(FilingEvent).collect())
        })
        .await
    }
}

pub struct FilingEvent(pub models::FilingEvent);

/// One entry of a filing's audit trail: who did what, when, and what changed.
#[Object]
impl FilingEvent {
    /// The event's opaque global ID.
    pub async fn id(&self) -> ID {
        ids::encode(Kind::FilingEvent, self.0.id)
    }

    /// The filing the event belongs to.
    async fn filing_id(&self) -> ID {
        ids::encode(Kind::Filing, self.0.filing_id)
    }

    /// Who acted.
    async fn actor(&self) -> EventActor {
        EventActor { kind: self.0.actor_kind.into(), name: self.0.actor_label.clone() }
    }

    /// What happened.
    async fn action(&self) -> enums::FilingAction {
        self.0.action.into()
    }

    /// The status before, for status changes.
    async fn from_status(&self) -> Option<enums::FilingStatus> {
        self.0.from_status.map(Into::into)
    }

    /// The status after, for status changes.
    async fn to_status(&self) -> Option<enums::FilingStatus> {
        self.0.to_status.map(Into::into)
    }

    /// The fields that changed; certificate numbers, phones and emails are masked.
    async fn changes(&self) -> Vec<FieldChange> {
        self.0.changes.iter().cloned().map(FieldChange::from).collect()
    }

    /// The reason given, if any.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }

    /// The reasons of a return (初审, SMS or bureau).
    async fn reasons(&self) -> Vec<ReturnReasonObject> {
        reasons_of(&self.0.details)
    }

    /// Structured details, whose keys depend on the action (`FilingAction` lists them); IDs in them are global
    /// IDs. Absent for actions that carry none.
    async fn details(&self) -> Option<async_graphql::Json<serde_json::Value>> {
        self.0.details.clone().map(|d| async_graphql::Json(global_ids_in(d)))
    }

    /// When it happened.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// The stored details of an event with the IDs they name turned into global IDs, as everywhere in the API.
pub fn global_ids_in(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let kind = match key.as_str() {
                        "sessionId" => Some(Kind::MobileVerification),
                        "websiteId" | "baseWebsiteId" => Some(Kind::Website),
                        "attachmentId" => Some(Kind::Attachment),
                        "baseFilingId" | "filingId" => Some(Kind::Filing),
                        _ => None,
                    };
                    let id = kind.zip(value.as_str().and_then(|s| uuid::Uuid::parse_str(s).ok()));
                    let value = match id {
                        Some((kind, id)) => Value::String(ids::encode(kind, id).0),
                        None => global_ids_in(value),
                    };
                    (key, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(global_ids_in).collect()),
        other => other,
    }
}

/// Who performed an audited action.
#[derive(SimpleObject)]
pub struct EventActor {
    /// The kind of caller.
    pub kind: enums::ActorKind,
    /// The caller's name at the time, e.g. the API key's name.
    pub name: String,
}

/// One changed field of an audited action.
#[derive(SimpleObject)]
pub struct FieldChange {
    /// Path of the field, as in the mutation input (`subject.name`, `website.domains`).
    pub field: String,
    /// The value before (absent when the field was empty).
    pub old_value: Option<String>,
    /// The value after (absent when the field was cleared).
    pub new_value: Option<String>,
}

impl From<audit::FieldChange> for FieldChange {
    fn from(c: audit::FieldChange) -> Self {
        Self { field: c.field, old_value: c.old, new_value: c.new }
    }
}

/// The result of the pre-submit check.
#[derive(SimpleObject)]
pub struct Precheck {
    /// Whether nothing blocks submission.
    pub passed: bool,
    /// What a reviewer or the bureau would refuse; submission is refused while any remain.
    pub errors: Vec<Finding>,
    /// What often draws a question; does not block.
    pub warnings: Vec<Finding>,
}

/// One finding of the pre-submit check.
#[derive(SimpleObject)]
pub struct Finding {
    /// Path of the field: `subject.certificateNumber`, `websites[0].name` (websites in the filing's order).
    pub field: String,
    /// Stable machine code, e.g. NAME_TOO_SHORT.
    pub code: enums::FieldErrorCode,
    /// What is wrong, in the language the request asked for (`Accept-Language`; Chinese by default).
    pub message: String,
    /// What is wrong, in Chinese.
    #[graphql(deprecation = "use message, which follows Accept-Language (Chinese unless the client asks for English)")]
    pub message_zh: String,
    /// What to do about it, in the language the request asked for.
    pub suggestion: Option<String>,
    /// What to do about it, in Chinese.
    #[graphql(
        deprecation = "use suggestion, which follows Accept-Language (Chinese unless the client asks for English)"
    )]
    pub suggestion_zh: Option<String>,
    /// The website the finding is about, if any.
    pub website_id: Option<ID>,
}

/// What changed since a filing was last returned.
#[derive(SimpleObject)]
pub struct SinceReturn {
    /// When it was returned.
    pub returned_at: Option<DateTime<Utc>>,
    /// The fields and materials changed since.
    pub changes: Vec<FieldChange>,
    /// The return's reasons that the changes address.
    pub answered_reasons: Vec<ReturnReasonObject>,
    /// The return's reasons nothing addressed yet.
    pub open_reasons: Vec<ReturnReasonObject>,
}

/// A filing and its cursor.
#[derive(SimpleObject)]
pub struct FilingEdge {
    /// Pass as `after` to continue after this filing.
    pub cursor: String,
    /// The filing.
    pub node: Filing,
}

fn reasons_of(details: &Option<serde_json::Value>) -> Vec<ReturnReasonObject> {
    details
        .as_ref()
        .and_then(|d| d.get("reasons"))
        .and_then(|r| serde_json::from_value::<Vec<crate::services::workflow::ReturnReason>>(r.clone()).ok())
        .unwrap_or_default()
        .into_iter()
        .map(Into::into)
        .collect()
}
