//! GraphQL object types. Each wraps a service read model; resolvers of nested data go through the DataLoaders.

use async_graphql::{Context, ID, Interface, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::enums;
use super::heavy;
use super::ids::{self, Kind};
use super::loaders::{
    AccountById, AttachmentsOf, EventsOf, FilingById, NotificationsOf, SubjectOf, WebsitesOf, loader_error,
};
use crate::domain;
use crate::domain::masking;
use crate::services::{ServiceError, audit, models};

/// An object with a global ID, fetchable with `node(id:)`.
// Built once per `node` answer and dropped right after: boxing the variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "The object's opaque global ID."))]
pub enum Node {
    Filing(Filing),
    Website(Website),
    FilingEvent(FilingEvent),
    Account(super::accounts::Account),
    ApiKey(super::accounts::ApiKey),
    Attachment(super::attachments::Attachment),
    Notification(super::mail::Notification),
}

fn loader<'a>(ctx: &'a Context<'_>) -> &'a super::loaders::Loaders {
    ctx.data_unchecked::<super::loaders::Loaders>()
}

pub struct Filing(pub models::Filing);

/// A filing order (备案订单): a subject and its websites, moving through the review workflow.
#[Object]
impl Filing {
    /// The filing's opaque global ID.
    async fn id(&self) -> ID {
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
    async fn applicant(&self, ctx: &Context<'_>) -> Result<Option<super::accounts::Account>> {
        heavy(async move {
            let Some(owner) = self.0.owner_account_id else {
                return Ok(None);
            };
            let found = loader(ctx).load_one(AccountById(owner)).await.map_err(loader_error)?;
            Ok(found.map(super::accounts::Account))
        })
        .await
    }

    /// The reviewer who claimed the preliminary review.
    async fn reviewer(&self, ctx: &Context<'_>) -> Result<Option<super::accounts::Account>> {
        heavy(async move {
            let Some(reviewer) = self.0.reviewer_id else {
                return Ok(None);
            };
            let found = loader(ctx).load_one(AccountById(reviewer)).await.map_err(loader_error)?;
            Ok(found.map(super::accounts::Account))
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
        let actor = super::context::actor(ctx)?;
        Ok(crate::services::orders::startable_types(actor, &self.0).into_iter().map(Into::into).collect())
    }

    /// What this order changes in the filed record it amends, field by field (website paths follow the order's
    /// websites; personal data masked). Empty for a first filing and an add-access order.
    async fn changes_from_record(&self, ctx: &Context<'_>) -> Result<Vec<FieldChange>> {
        heavy(async move {
            let actor = super::context::actor(ctx)?;
            let changes = crate::services::orders::changes_from_record(super::context::db(ctx), actor, &self.0)
                .await
                .map_err(super::error::gql)?;
            Ok(changes.into_iter().map(FieldChange::from).collect())
        })
        .await
    }

    /// The MIIT SMS checks of the current round, one per responsible person.
    async fn sms_checks(&self, ctx: &Context<'_>) -> Result<Vec<super::workflow::SmsCheck>> {
        heavy(async move {
            let actor = super::context::actor(ctx)?;
            let checks = crate::services::workflow::sms_checks(super::context::db(ctx), actor, self.0.id)
                .await
                .map_err(super::error::gql)?;
            Ok(checks.into_iter().map(super::workflow::SmsCheck).collect())
        })
        .await
    }

    /// The workflow actions the caller may take now.
    async fn available_actions(&self, ctx: &Context<'_>) -> Result<Vec<enums::WorkflowAction>> {
        let actor = super::context::actor(ctx)?;
        Ok(crate::services::workflow::available_actions(actor, &self.0).into_iter().map(Into::into).collect())
    }

    /// The reasons of the latest return (初审, SMS or bureau), for the applicant to fix.
    async fn return_reasons(&self, ctx: &Context<'_>) -> Result<Vec<super::workflow::ReturnReasonObject>> {
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
                .ok_or_else(|| super::error::gql(ServiceError::internal(anyhow::anyhow!("filing without subject"))))
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
            let actor = super::context::actor(ctx)?;
            let reference = super::context::reference(ctx);
            let check = crate::services::rules::precheck(super::context::db(ctx), actor, reference, self.0.id)
                .await
                .map_err(super::error::gql)?;
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
                    code: f.code.as_str().to_owned(),
                    message: f.message.clone(),
                    message_zh: f.message_zh.clone(),
                    suggestion: f.suggestion.as_ref().map(|s| s.0.clone()),
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
    async fn checklist(&self, ctx: &Context<'_>) -> Result<super::attachments::Checklist> {
        heavy(async move { super::attachments::checklist(ctx, self.0.id).await }).await
    }

    /// The materials: uploaded files, and uploads in progress.
    async fn attachments(&self, ctx: &Context<'_>) -> Result<Vec<super::attachments::Attachment>> {
        heavy(async move {
            let found = loader(ctx).load_one(AttachmentsOf(self.0.id)).await.map_err(loader_error)?;
            Ok(found.iter().flat_map(|list| list.iter()).cloned().map(super::attachments::Attachment).collect())
        })
        .await
    }

    /// The verification sheet (网站备案信息真实性核验单) filled in from the filing as it stands: a printable HTML page
    /// (A4, UTF-8) for the applicant to print, sign (stamp, for organisations) and upload as VERIFICATION_SHEET.
    async fn verification_sheet_html(&self, ctx: &Context<'_>) -> Result<String> {
        heavy(async move {
            let actor = super::context::actor(ctx)?;
            crate::services::documents::verification_sheet(super::context::db(ctx), actor, self.0.id)
                .await
                .map_err(super::error::gql)
        })
        .await
    }

    /// The mobile hand-offs (QR codes) started for the filing's responsible persons, newest first.
    async fn mobile_verifications(&self, ctx: &Context<'_>) -> Result<Vec<super::mobile::MobileVerification>> {
        heavy(async move { super::mobile::of_filing(ctx, self.0.id).await }).await
    }

    /// The emails about this filing, oldest first: to whom, when, in which language, and whether they went out
    /// (staff only; FORBIDDEN for applicants).
    async fn notifications(&self, ctx: &Context<'_>) -> Result<Vec<super::mail::Notification>> {
        heavy(async move {
            let found = loader(ctx).load_one(NotificationsOf(self.0.id)).await.map_err(loader_error)?;
            Ok(found.unwrap_or_default().into_iter().map(super::mail::Notification).collect())
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

/// A province-level division and the ICP-number prefix of its bureau (管局).
#[derive(SimpleObject)]
pub struct Province {
    /// Six-digit GB/T 2260 code, e.g. `110000`.
    pub code: String,
    /// Chinese name, e.g. 北京市.
    pub name: String,
    /// English name, e.g. Beijing.
    pub name_en: String,
    /// Prefix of the ICP numbers this province issues, e.g. 京 (蜀 for Sichuan, 黔 for Guizhou).
    pub icp_prefix: String,
}

impl From<domain::Province> for Province {
    fn from(p: domain::Province) -> Self {
        Self {
            code: p.division_code(),
            name: p.name_zh.to_owned(),
            name_en: p.name_en.to_owned(),
            icp_prefix: p.icp_prefix.to_owned(),
        }
    }
}

pub struct Subject(pub std::sync::Arc<models::Subject>);

/// The subject (主体) of a filing: the person or organisation that runs the websites.
#[Object(serial)]
impl Subject {
    /// Subject type (单位性质).
    async fn subject_type(&self) -> enums::SubjectType {
        self.0.subject_type.into()
    }

    /// Name of the organisation, or of the person (主办单位名称).
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Type of the subject's certificate.
    async fn certificate_type(&self) -> enums::CertificateType {
        self.0.certificate_type.into()
    }

    /// Number of the subject's certificate (for organisations usually the Unified Social Credit Code); masked
    /// without the READ_PERSONAL_DATA permission.
    async fn certificate_number(&self, ctx: &Context<'_>) -> String {
        personal(ctx, &self.0.certificate_number, masking::mask_certificate_number)
    }

    /// Address on the certificate (证件住所).
    async fn certificate_address(&self) -> Option<&str> {
        self.0.certificate_address.as_deref()
    }

    /// The province whose bureau reviews the filing (the subject's domicile).
    async fn province(&self) -> Option<Province> {
        domain::Province::of_division_code(&self.0.province_code).map(Province::from)
    }

    /// Six-digit division code of the province.
    async fn province_code(&self) -> &str {
        &self.0.province_code
    }

    /// Six-digit division code of the city.
    async fn city_code(&self) -> &str {
        &self.0.city_code
    }

    /// Six-digit division code of the district or county.
    async fn district_code(&self) -> &str {
        &self.0.district_code
    }

    /// Mailing address (通信地址), within the district.
    async fn mailing_address(&self) -> &str {
        &self.0.mailing_address
    }

    /// Investor or supervising unit (投资者或上级主管单位).
    async fn investor(&self) -> Option<&str> {
        self.0.investor.as_deref()
    }

    /// Remarks on the subject.
    async fn remark(&self) -> Option<&str> {
        self.0.remark.as_deref()
    }

    /// Whether the responsible person is the organisation's legal representative.
    async fn responsible_person_is_legal_representative(&self) -> bool {
        self.0.responsible_person_is_legal_representative
    }

    /// The subject's responsible person (主体负责人); for organisations normally the legal representative.
    async fn responsible_person(&self) -> ResponsiblePerson {
        ResponsiblePerson(self.0.responsible_person.clone())
    }
}

pub struct ResponsiblePerson(pub models::ResponsiblePerson);

/// A responsible person (负责人) of a subject or a website.
#[Object(serial)]
impl ResponsiblePerson {
    /// Full name as on the certificate.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Type of the person's certificate.
    async fn certificate_type(&self) -> enums::CertificateType {
        self.0.certificate_type.into()
    }

    /// Number of the person's certificate; masked without the READ_PERSONAL_DATA permission.
    async fn certificate_number(&self, ctx: &Context<'_>) -> String {
        personal(ctx, &self.0.certificate_number, masking::mask_certificate_number)
    }

    /// Mainland mobile number; MIIT texts the verification code to it. Masked without READ_PERSONAL_DATA.
    async fn mobile(&self, ctx: &Context<'_>) -> String {
        personal(ctx, &self.0.mobile, masking::mask_phone)
    }

    /// Emergency phone (mobile or landline); masked without READ_PERSONAL_DATA.
    async fn emergency_phone(&self, ctx: &Context<'_>) -> Option<String> {
        self.0.emergency_phone.as_deref().map(|phone| personal(ctx, phone, masking::mask_phone))
    }

    /// Email address; masked without READ_PERSONAL_DATA.
    async fn email(&self, ctx: &Context<'_>) -> String {
        personal(ctx, &self.0.email, masking::mask_email)
    }
}

/// A personal value as the caller may see it: in full with READ_PERSONAL_DATA, masked otherwise.
pub(crate) fn personal(ctx: &Context<'_>, value: &str, mask: fn(&str) -> String) -> String {
    disclosure(ctx).show(value, mask)
}

/// How the caller sees personal data: the actor's [`Disclosure`](masking::Disclosure); masked for anyone else
/// (a phone's mobile token, no caller).
pub(crate) fn disclosure(ctx: &Context<'_>) -> masking::Disclosure {
    match ctx.data_opt::<super::context::RequestContext>().and_then(|r| r.actor.as_ref()) {
        Some(actor) => actor.disclosure(),
        None => masking::Disclosure::Masked,
    }
}

pub struct PreApproval(pub models::PreApproval);

/// A pre-approval (前置审批) a website holds.
#[Object(serial)]
impl PreApproval {
    /// The pre-approval category.
    async fn category(&self) -> enums::PreApprovalCategory {
        self.0.category.into()
    }

    /// Number of the licence or approval document.
    async fn licence_number(&self) -> &str {
        &self.0.licence_number
    }
}

pub struct Website(pub models::Website);

/// A website of a filing.
#[Object(serial)]
impl Website {
    /// The website's opaque global ID.
    async fn id(&self) -> ID {
        ids::encode(Kind::Website, self.0.id)
    }

    /// The filing this website belongs to.
    async fn filing_id(&self) -> ID {
        ids::encode(Kind::Filing, self.0.filing_id)
    }

    /// Website name (网站名称).
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Domain names, in ASCII (internationalised names as punycode).
    async fn domains(&self) -> &[String] {
        &self.0.domains
    }

    /// Homepage URL.
    async fn homepage_url(&self) -> &str {
        &self.0.homepage_url
    }

    /// Service content (服务内容).
    async fn service_content(&self) -> Vec<enums::ServiceContent> {
        self.0.service_content.iter().map(|&s| s.into()).collect()
    }

    /// Languages the website is published in.
    async fn languages(&self) -> Vec<enums::Language> {
        self.0.languages.iter().map(|&l| l.into()).collect()
    }

    /// Pre-approvals (前置审批); empty when the website needs none.
    async fn pre_approvals(&self) -> Vec<PreApproval> {
        self.0.pre_approvals.iter().cloned().map(PreApproval).collect()
    }

    /// How the website is connected to the registrar (接入方式).
    async fn access_method(&self) -> enums::AccessMethod {
        self.0.access_method.into()
    }

    /// Description of the service (备注).
    async fn remark(&self) -> Option<&str> {
        self.0.remark.as_deref()
    }

    /// The website's ICP number, once the bureau approved (carried over from the record in later orders).
    async fn icp_number(&self) -> Option<&str> {
        self.0.icp_number.as_deref()
    }

    /// What the order does with this website: new, carried over from the filed record, cancelled, access ended.
    async fn operation(&self) -> enums::WebsiteOperation {
        self.0.operation.into()
    }

    /// The website's responsible person (网站负责人), who does the face verification.
    async fn responsible_person(&self) -> ResponsiblePerson {
        ResponsiblePerson(self.0.responsible_person.clone())
    }

    /// When the website was added to the filing.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the website last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

pub struct FilingEvent(pub models::FilingEvent);

/// One entry of a filing's audit trail: who did what, when, and what changed.
#[Object]
impl FilingEvent {
    /// The event's opaque global ID.
    async fn id(&self) -> ID {
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
    async fn reasons(&self) -> Vec<super::workflow::ReturnReasonObject> {
        reasons_of(&self.0.details)
    }

    /// When it happened.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
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
    pub code: String,
    /// What is wrong, in English.
    pub message: String,
    /// What is wrong, in Chinese.
    pub message_zh: String,
    /// What to do about it, in English.
    pub suggestion: Option<String>,
    /// What to do about it, in Chinese.
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
    pub answered_reasons: Vec<super::workflow::ReturnReasonObject>,
    /// The return's reasons nothing addressed yet.
    pub open_reasons: Vec<super::workflow::ReturnReasonObject>,
}

/// Relay page information.
#[derive(SimpleObject)]
#[graphql(serial)]
pub struct PageInfo {
    /// Whether another page follows; fetch it with `after: endCursor`.
    pub has_next_page: bool,
    /// Always false: pages are walked forwards only.
    pub has_previous_page: bool,
    /// Cursor of the first item of the page.
    pub start_cursor: Option<String>,
    /// Cursor of the last item of the page.
    pub end_cursor: Option<String>,
}

impl PageInfo {
    /// The page information of a forward-only page whose items have these cursors, in order.
    pub fn forward(has_next_page: bool, cursors: &[String]) -> Self {
        Self {
            has_next_page,
            has_previous_page: false,
            start_cursor: cursors.first().cloned(),
            end_cursor: cursors.last().cloned(),
        }
    }
}

/// A filing and its cursor.
#[derive(SimpleObject)]
pub struct FilingEdge {
    /// Pass as `after` to continue after this filing.
    pub cursor: String,
    /// The filing.
    pub node: Filing,
}

fn reasons_of(details: &Option<serde_json::Value>) -> Vec<super::workflow::ReturnReasonObject> {
    details
        .as_ref()
        .and_then(|d| d.get("reasons"))
        .and_then(|r| serde_json::from_value::<Vec<crate::services::workflow::ReturnReason>>(r.clone()).ok())
        .unwrap_or_default()
        .into_iter()
        .map(Into::into)
        .collect()
}
