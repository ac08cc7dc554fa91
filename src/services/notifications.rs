//! Workflow notifications: who hears about each stage of a filing, in which language, with what in the message;
//! and what staff and administrators see and do about mail (a filing's notifications, the tenant's list, retries,
//! counts, the registrar's own templates and previews).

use crate::language::Text;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::prelude::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use super::audit::{FilingAction, NewEvent};
use super::models::Filing;
use super::{Page, ServiceError};
use crate::auth::{Actor, ApiKeyScope, Principal};
use crate::domain::{FieldError, FieldErrorCode, FilingStatus, FilingType, WebsiteOperation};
use crate::mail::outbox::{self, Envelope};
use crate::mail::templates::{self, Branding, Overrides, Template, TenantTemplates};
use crate::mail::{MailLanguage, Stage};
use crate::services::Deps;
use entity::enums::{OutboxStatus, SmsCheckStatus};
use entity::outbox_message::{self, Column};

/// The registrar's branding of its messages.
pub fn branding(tenant: &entity::tenant::Model) -> Branding {
    Branding {
        registrar: tenant.name.clone(),
        signature: tenant.mail_signature.clone(),
        support: tenant.support_contact.clone(),
    }
}

/// The registrar's own templates.
pub async fn overrides(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<Overrides, sea_orm::DbErr> {
    let rows = entity::mail_template::Entity::find()
        .filter(entity::mail_template::Column::TenantId.eq(tenant_id))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let stage = row.stage.parse().ok()?;
            let language = row.language.parse().ok()?;
            Some(((stage, language), Template { subject: row.subject, body: row.body }))
        })
        .collect())
}

/// What the mail dispatcher is given of each registrar: its templates ([`overrides`]) and [`branding`].
pub struct RegistrarTemplates;

#[async_trait::async_trait]
impl TenantTemplates for RegistrarTemplates {
    async fn overrides(&self, db: &DatabaseConnection, tenant_id: Uuid) -> Result<Overrides, sea_orm::DbErr> {
        overrides(db, tenant_id).await
    }

    fn branding(&self, tenant: &entity::tenant::Model) -> Branding {
        branding(tenant)
    }
}

/// The stages a workflow step is announced as.
fn stages_of(action: FilingAction, to: Option<FilingStatus>) -> Vec<Stage> {
    match action {
        FilingAction::Submitted if to == Some(FilingStatus::SmsVerification) => {
            vec![Stage::SubmissionReceived, Stage::SmsCheckStarted]
        }
        FilingAction::Submitted => vec![Stage::SubmissionReceived],
        FilingAction::ReviewClaimed => vec![Stage::ReviewStarted],
        FilingAction::PreliminaryRejected => vec![Stage::PreliminaryRejected],
        FilingAction::PreliminaryApproved => vec![Stage::PreliminaryApproved],
        FilingAction::SmsResent => vec![Stage::SmsCheckStarted],
        FilingAction::SmsCheckFailed => vec![Stage::SmsFailed],
        FilingAction::ReturnedToApplicant => vec![Stage::ReturnedToApplicant],
        FilingAction::SmsCompleted => vec![Stage::SentToBureau],
        FilingAction::BureauApproved => vec![Stage::BureauApproved],
        FilingAction::BureauRejected => vec![Stage::BureauRejected],
        FilingAction::Withdrawn => vec![Stage::Withdrawn],
        FilingAction::Abandoned => vec![Stage::Abandoned],
        _ => vec![],
    }
}

/// Queues the notifications of a workflow step, in the step's transaction.
pub(crate) async fn on_transition(
    deps: &Deps,
    txn: &impl ConnectionTrait,
    actor: &Actor,
    filing: &Filing,
    action: FilingAction,
    details: Option<&serde_json::Value>,
) -> Result<(), ServiceError> {
    for stage in stages_of(action, Some(filing.status)) {
        notify(deps, txn, actor.tenant_id, filing, stage, details, None).await?;
    }
    Ok(())
}

/// One recipient of a notification.
#[derive(Clone, Debug)]
struct Recipient {
    email: String,
    name: String,
    language: Option<MailLanguage>,
}

/// Queues `stage` for the filing's applicant and, for the SMS check and the bureau's approval, its responsible
/// persons (only those in `only` when given), each address once.
async fn notify(
    deps: &Deps,
    txn: &impl ConnectionTrait,
    tenant_id: Uuid,
    filing: &Filing,
    stage: Stage,
    details: Option<&serde_json::Value>,
    only: Option<&[String]>,
) -> Result<(), ServiceError> {
    let tenant = super::tenants::tenant_by_id(txn, tenant_id).await?;
    let system = Actor::system(tenant_id);
    let stored = super::access::stored_filing(txn, &deps.keys, &system, filing.id).await?;
    let mut recipients = vec![applicant(txn, filing, &stored).await?];
    let persons_too = matches!(
        stage,
        Stage::PreliminaryApproved | Stage::SmsCheckStarted | Stage::SmsReminder | Stage::BureauApproved
    );
    if persons_too {
        for person in involved_persons(deps, txn, tenant_id, filing, &stored).await? {
            if only.is_none_or(|names| names.contains(&person.name)) {
                recipients.push(person);
            }
        }
    }
    let numbers = website_numbers(txn, tenant_id, filing.id).await?;
    let mut seen = Vec::new();
    let base = payload(&tenant, filing, &stored, &numbers, details, only);
    for recipient in recipients {
        let key = recipient.email.trim().to_lowercase();
        if key.is_empty() || seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let mut payload = base.clone();
        payload["recipientName"] = json!(recipient.name);
        let envelope = Envelope {
            tenant_id,
            stage,
            recipient: &recipient.email,
            recipient_name: Some(&recipient.name),
            language: recipient.language,
            filing_id: Some(filing.id),
            payload,
        };
        outbox::enqueue(txn, &deps.keys, envelope).await?;
    }
    Ok(())
}

/// Who applied: the owning account, or (for a filing the registrar's backend created) the subject's responsible
/// person.
async fn applicant(
    txn: &impl ConnectionTrait,
    filing: &Filing,
    stored: &super::access::StoredFiling,
) -> Result<Recipient, ServiceError> {
    if let Some(owner) = filing.owner_account_id
        && let Some(account) = entity::account::Entity::find_by_id(owner).one(txn).await?
    {
        return Ok(Recipient {
            email: account.email,
            name: account.display_name,
            language: account.preferred_language.and_then(|l| l.parse().ok()),
        });
    }
    let person = &stored.form.subject.responsible_person;
    Ok(Recipient { email: person.email.clone(), name: person.name.clone(), language: None })
}

/// The responsible persons the order involves: the subject's, and those of the websites it adds, changes or cancels.
async fn involved_persons(
    deps: &Deps,
    txn: &impl ConnectionTrait,
    tenant_id: Uuid,
    filing: &Filing,
    stored: &super::access::StoredFiling,
) -> Result<Vec<Recipient>, ServiceError> {
    let system = Actor::system(tenant_id);
    let record = super::access::record_of_order(txn, &deps.keys, &system, filing).await?;
    let in_scope = super::access::websites_in_scope(filing.filing_type, stored, record.as_ref());
    let mut people = vec![&stored.form.subject.responsible_person];
    for ((website, w), involved) in stored.form.websites.iter().zip(&stored.websites).zip(in_scope) {
        if involved || matches!(w.operation, WebsiteOperation::Cancel | WebsiteOperation::CancelAccess) {
            people.push(&website.responsible_person);
        }
    }
    Ok(people.into_iter().map(|p| Recipient { email: p.email.clone(), name: p.name.clone(), language: None }).collect())
}

/// The ICP numbers of a filing's websites.
pub(crate) async fn website_numbers(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    filing_id: Uuid,
) -> Result<HashMap<Uuid, String>, ServiceError> {
    Ok(entity::website::Entity::find()
        .filter(entity::website::Column::TenantId.eq(tenant_id))
        .filter(entity::website::Column::FilingId.eq(filing_id))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|w| w.icp_number.map(|n| (w.id, n)))
        .collect())
}

/// What the templates of a filing stage may use.
fn payload(
    tenant: &entity::tenant::Model,
    filing: &Filing,
    stored: &super::access::StoredFiling,
    numbers: &HashMap<Uuid, String>,
    details: Option<&serde_json::Value>,
    pending: Option<&[String]>,
) -> serde_json::Value {
    let websites: Vec<serde_json::Value> = stored
        .form
        .websites
        .iter()
        .zip(&stored.websites)
        .filter(|(_, w)| matches!(w.operation, WebsiteOperation::New | WebsiteOperation::Carried))
        .map(|(form, w)| {
            json!({ "name": form.name, "domains": form.domains.join(", "), "operation": w.operation.as_str(),
                "icpNumber": numbers.get(&w.id) })
        })
        .collect();
    let reasons = details.and_then(|d| d.get("reasons")).cloned().unwrap_or_else(|| json!([]));
    let filing_url =
        tenant.frontend_base_url.as_deref().map(|base| format!("{}/filings/{}", base.trim_end_matches('/'), filing.id));
    json!({
        "filingId": filing.id,
        "filingReference": filing.id.simple().to_string(),
        "filingType": filing.filing_type.as_str(),
        "filingTypeZh": filing.filing_type.label_zh(),
        "filingTypeEn": filing_type_en(filing.filing_type),
        "subjectName": stored.form.subject.name,
        "websites": websites,
        "reasons": reasons,
        "icpNumber": filing.icp_number,
        "smsDeadline": filing.sms_deadline_at,
        // The window the check opened with (`workflow.sms_window_hours`), counted from the step that opened it.
        "smsWindowHours": filing.sms_deadline_at.map(|d| ((d - filing.updated_at).num_minutes() + 30) / 60),
        "pending": pending.unwrap_or_default(),
        "filingUrl": filing_url,
    })
}

fn filing_type_en(t: FilingType) -> &'static str {
    match t {
        FilingType::FirstFiling => "first filing",
        FilingType::AddWebsite => "add-website order",
        FilingType::AddAccess => "add-access order",
        FilingType::ChangeSubject => "subject change",
        FilingType::ChangeWebsite => "website change",
        FilingType::ChangeAccess => "access change",
        FilingType::CancelSubject => "subject cancellation",
        FilingType::CancelWebsite => "website cancellation",
        FilingType::CancelAccess => "access cancellation",
    }
}

/// Staff (reviewers, administrators, the registrar's backend) see notifications; applicants do not.
fn require_staff(actor: &Actor) -> Result<(), ServiceError> {
    if actor.owner_scope().is_none() && !matches!(actor.principal, Principal::System) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(Text::new(
            "notifications are for the registrar's staff",
            "通知仅供接入商工作人员查看",
        )))
    }
}

/// Administrators and the registrar's backend manage mail: the list, retries, templates.
fn require_registrar(actor: &Actor) -> Result<(), ServiceError> {
    if actor.is_admin() || actor.principal == (Principal::ApiKey { scope: ApiKeyScope::Full }) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(Text::new(
            "only the registrar's administrators manage mail",
            "只有接入商管理员可以管理邮件",
        )))
    }
}

/// The notifications of filings (staff), oldest first.
pub async fn by_filing(
    deps: &Deps,
    actor: &Actor,
    filing_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<outbox_message::Model>>, ServiceError> {
    let db = &deps.db;
    require_staff(actor)?;
    let rows = outbox_message::Entity::find()
        .filter(Column::TenantId.eq(actor.tenant_id))
        .filter(Column::FilingId.is_in(filing_ids.iter().copied()))
        .order_by_asc(Column::Id)
        .all(db)
        .await?;
    let mut out: HashMap<Uuid, Vec<outbox_message::Model>> = HashMap::new();
    for row in rows {
        if let Some(filing) = row.filing_id {
            out.entry(filing).or_default().push(row);
        }
    }
    Ok(out)
}

/// One notification of the caller's tenant (staff).
pub async fn get(deps: &Deps, actor: &Actor, id: Uuid) -> Result<outbox_message::Model, ServiceError> {
    let db = &deps.db;
    require_staff(actor)?;
    outbox_message::Entity::find_by_id(id)
        .filter(Column::TenantId.eq(actor.tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Filters of the notification list; every set filter must match.
#[derive(Clone, Debug, Default)]
pub struct NotificationFilter {
    /// QUEUED, SENT, FAILED.
    pub statuses: Option<Vec<entity::enums::OutboxStatus>>,
    pub stages: Option<Vec<Stage>>,
    pub filing_id: Option<Uuid>,
    /// The exact address.
    pub recipient: Option<String>,
}

fn filtered(
    keys: &crate::pii::Keyring,
    actor: &Actor,
    filter: &NotificationFilter,
) -> sea_orm::Select<outbox_message::Entity> {
    let mut query = outbox_message::Entity::find().filter(Column::TenantId.eq(actor.tenant_id));
    if let Some(statuses) = &filter.statuses {
        query = query.filter(Column::Status.is_in(statuses.clone()));
    }
    if let Some(stages) = &filter.stages {
        query = query.filter(Column::Template.is_in(stages.iter().map(|s| s.as_str())));
    }
    if let Some(filing) = filter.filing_id {
        query = query.filter(Column::FilingId.eq(filing));
    }
    if let Some(recipient) = &filter.recipient {
        // Sealed rows by their blind index; rows written before sealing (until `beian pii rotate`) by the address.
        let index = outbox::recipient_index(keys, actor.tenant_id, recipient);
        query = query.filter(
            sea_orm::Condition::any()
                .add(Column::RecipientIndex.eq(index))
                .add(Column::Recipient.eq(recipient.trim().to_lowercase())),
        );
    }
    query
}

/// A page of the tenant's notifications, newest first, after `after` (keyset on the time-ordered id).
pub async fn list(
    deps: &Deps,
    actor: &Actor,
    filter: &NotificationFilter,
    after: Option<Uuid>,
    first: u64,
) -> Result<Page<outbox_message::Model>, ServiceError> {
    let db = &deps.db;
    require_registrar(actor)?;
    let mut query = filtered(&deps.keys, actor, filter);
    if let Some(after) = after {
        query = query.filter(Column::Id.lt(after));
    }
    let mut items = query.order_by_desc(Column::Id).limit(first + 1).all(db).await?;
    let has_next_page = items.len() as u64 > first;
    items.truncate(first as usize);
    Ok(Page { items, has_next_page })
}

/// How many notifications match.
pub async fn count(deps: &Deps, actor: &Actor, filter: &NotificationFilter) -> Result<u64, ServiceError> {
    let db = &deps.db;
    require_registrar(actor)?;
    Ok(filtered(&deps.keys, actor, filter).count(db).await?)
}

/// How many of the tenant's messages wait, went out, or failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotificationStats {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
}

pub async fn stats(deps: &Deps, actor: &Actor) -> Result<NotificationStats, ServiceError> {
    let db = &deps.db;
    require_registrar(actor)?;
    let rows: Vec<(OutboxStatus, i64)> = outbox_message::Entity::find()
        .filter(Column::TenantId.eq(actor.tenant_id))
        .select_only()
        .column(Column::Status)
        .column_as(Column::Id.count(), "count")
        .group_by(Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let of = |status| rows.iter().find(|(s, _)| *s == status).map(|(_, n)| *n as u64).unwrap_or(0);
    Ok(NotificationStats {
        queued: of(OutboxStatus::Queued),
        sent: of(OutboxStatus::Sent),
        failed: of(OutboxStatus::Failed),
    })
}

/// Queues a failed message again, with a fresh period of retries (administrators).
pub async fn retry(deps: &Deps, actor: &Actor, id: Uuid) -> Result<outbox_message::Model, ServiceError> {
    let db = &deps.db;
    require_registrar(actor)?;
    let now = deps.now();
    let updated = outbox_message::Entity::update_many()
        .col_expr(Column::Status, Expr::value(OutboxStatus::Queued))
        .col_expr(Column::Attempts, Expr::value(0))
        .col_expr(Column::RetryingSince, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(Column::NextAttemptAt, Expr::value(now))
        .col_expr(Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::TenantId.eq(actor.tenant_id))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(OutboxStatus::Failed))
        .exec(db)
        .await?;
    let row = get(deps, actor, id).await?;
    if updated.rows_affected == 0 {
        return Err(ServiceError::InvalidInput(vec![
            FieldError::new("id", FieldErrorCode::ChangeNotAllowed).with_message(
                format!("Only failed messages are retried; this one is {}.", row.status),
                format!("只能重试发送失败的邮件；该邮件状态为 {}。", row.status),
            ),
        ]));
    }
    tracing::info!(message = %id, "mail queued again");
    Ok(row)
}

/// One stage's wording in one language as the registrar's mail uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailTemplate {
    pub stage: Stage,
    pub language: MailLanguage,
    pub subject: String,
    pub body: String,
    /// Whether it is the registrar's own (otherwise the built-in one).
    pub overridden: bool,
}

/// Every stage in both languages, the registrar's own where it has one.
pub async fn email_templates(deps: &Deps, actor: &Actor) -> Result<Vec<EmailTemplate>, ServiceError> {
    let db = &deps.db;
    use strum::IntoEnumIterator;
    require_registrar(actor)?;
    let own = overrides(db, actor.tenant_id).await?;
    let mut out = Vec::new();
    for stage in Stage::iter() {
        for language in MailLanguage::iter() {
            let (template, overridden) = match own.get(&(stage, language)) {
                Some(t) => (t.clone(), true),
                None => (templates::built_in(stage, language).clone(), false),
            };
            out.push(EmailTemplate { stage, language, subject: template.subject, body: template.body, overridden });
        }
    }
    Ok(out)
}

/// Sets the registrar's own wording of a stage; refused (and nothing stored) if it does not render.
pub async fn set_template(
    deps: &Deps,
    actor: &Actor,
    stage: Stage,
    language: MailLanguage,
    subject: String,
    body: String,
) -> Result<EmailTemplate, ServiceError> {
    let db = &deps.db;
    require_registrar(actor)?;
    let mut errors = Vec::new();
    // The subject becomes the Subject header: one line.
    let subject = super::validation::one_line(&subject, "subject", 300, &mut errors);
    let body = super::validation::multi_line(&body, "body", 20_000, &mut errors);
    let template = Template { subject, body };
    if errors.is_empty()
        && let Err(error) = templates::check(stage, &template)
    {
        let field = if error.0.starts_with("subject") { "subject" } else { "body" };
        errors.push(
            FieldError::new(field, FieldErrorCode::InvalidTemplate)
                .with_message(format!("The template does not render: {error}."), format!("模板无法渲染：{error}。")),
        );
    }
    if !errors.is_empty() {
        return Err(ServiceError::InvalidInput(errors));
    }
    let now = deps.now();
    let txn = crate::db::write_txn(db).await?;
    let existing = entity::mail_template::Entity::find()
        .filter(entity::mail_template::Column::TenantId.eq(actor.tenant_id))
        .filter(entity::mail_template::Column::Stage.eq(stage.as_str()))
        .filter(entity::mail_template::Column::Language.eq(language.as_str()))
        .one(&txn)
        .await?;
    match existing {
        Some(row) => {
            let mut active: entity::mail_template::ActiveModel = row.into();
            active.subject = Set(template.subject.clone());
            active.body = Set(template.body.clone());
            active.updated_at = Set(now);
            active.update(&txn).await?;
        }
        None => {
            entity::mail_template::ActiveModel {
                id: Set(Uuid::now_v7()),
                tenant_id: Set(actor.tenant_id),
                stage: Set(stage.as_str().to_owned()),
                language: Set(language.as_str().to_owned()),
                subject: Set(template.subject.clone()),
                body: Set(template.body.clone()),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
        }
    }
    txn.commit().await?;
    tracing::info!(stage = stage.as_str(), language = language.as_str(), "mail template set");
    Ok(EmailTemplate { stage, language, subject: template.subject, body: template.body, overridden: true })
}

/// Returns a stage to the built-in wording.
pub async fn reset_template(
    deps: &Deps,
    actor: &Actor,
    stage: Stage,
    language: MailLanguage,
) -> Result<EmailTemplate, ServiceError> {
    let db = &deps.db;
    require_registrar(actor)?;
    entity::mail_template::Entity::delete_many()
        .filter(entity::mail_template::Column::TenantId.eq(actor.tenant_id))
        .filter(entity::mail_template::Column::Stage.eq(stage.as_str()))
        .filter(entity::mail_template::Column::Language.eq(language.as_str()))
        .exec(db)
        .await?;
    let built_in = templates::built_in(stage, language).clone();
    Ok(EmailTemplate { stage, language, subject: built_in.subject, body: built_in.body, overridden: false })
}

/// What a stage's message would look like: for a filing of the tenant (with its data and latest reasons), or with
/// sample data; in one language, or both.
pub async fn preview(
    deps: &Deps,
    actor: &Actor,
    stage: Stage,
    filing_id: Option<Uuid>,
    language: Option<MailLanguage>,
) -> Result<templates::Rendered, ServiceError> {
    let db = &deps.db;
    require_staff(actor)?;
    let tenant = super::tenants::tenant_by_id(db, actor.tenant_id).await?;
    let payload = match filing_id {
        Some(id) if stage.is_filing_stage() => {
            let filing = super::access::get_filing(deps, actor, id).await?;
            let stored = super::access::stored_filing(db, &deps.keys, actor, id).await?;
            let events = super::filings::events_by_filing(deps, actor, &[id]).await?.remove(&id).unwrap_or_default();
            let details = events.iter().rev().find_map(|e| e.details.clone().filter(|d| d.get("reasons").is_some()));
            let numbers = website_numbers(db, actor.tenant_id, id).await?;
            let recipient = applicant(db, &filing, &stored).await?;
            let mut payload = payload(&tenant, &filing, &stored, &numbers, details.as_ref(), None);
            payload["recipientName"] = json!(recipient.name);
            payload
        }
        _ => templates::sample_payload(stage),
    };
    let own = overrides(db, actor.tenant_id).await?;
    templates::render(stage, language, &own, &branding(&tenant), &payload).map_err(|e| {
        ServiceError::InvalidInput(vec![
            FieldError::new("stage", FieldErrorCode::InvalidTemplate)
                .with_message(format!("The template does not render: {e}."), format!("模板无法渲染：{e}。")),
        ])
    })
}

/// Reminds the people who have not confirmed the MIIT SMS yet, once per round, `hours` before the deadline. Safe on
/// every replica at once: the conditional update lets exactly one of them remind each filing. Returns how many
/// filings were reminded.
pub async fn send_sms_reminders(deps: &Deps, hours: i64) -> Result<usize, ServiceError> {
    let (db, now) = (&deps.db, deps.now());
    let due = entity::filing::Entity::find()
        .filter(entity::filing::Column::Status.eq(FilingStatus::SmsVerification.as_str()))
        .filter(entity::filing::Column::SmsDeadlineAt.lte(now + chrono::Duration::hours(hours)))
        .filter(entity::filing::Column::SmsDeadlineAt.gt(now))
        .filter(entity::filing::Column::SmsRemindedAt.is_null())
        .all(db)
        .await?;
    let mut reminded = 0;
    for row in due {
        let txn = crate::db::write_txn(db).await?;
        let claimed = entity::filing::Entity::update_many()
            .col_expr(entity::filing::Column::SmsRemindedAt, Expr::value(now))
            .filter(entity::filing::Column::Id.eq(row.id))
            .filter(entity::filing::Column::Status.eq(FilingStatus::SmsVerification.as_str()))
            .filter(entity::filing::Column::SmsRemindedAt.is_null())
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 0 {
            continue;
        }
        let pending: Vec<String> = entity::sms_check::Entity::find()
            .filter(entity::sms_check::Column::FilingId.eq(row.id))
            .filter(entity::sms_check::Column::Status.eq(SmsCheckStatus::Pending))
            .all(&txn)
            .await?
            .into_iter()
            .map(|c| c.person_name)
            .collect();
        if !pending.is_empty() {
            let filing = Filing::try_from(row.clone())?;
            notify(deps, &txn, row.tenant_id, &filing, Stage::SmsReminder, None, Some(&pending)).await?;
            let details = serde_json::json!({ "people": pending });
            let event = NewEvent::new(row.id, FilingAction::SmsReminderSent, now).details(Some(details));
            super::audit::record(&txn, &Actor::system(row.tenant_id), event).await?;
            reminded += 1;
        }
        txn.commit().await?;
    }
    Ok(reminded)
}
