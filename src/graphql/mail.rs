//! Email over GraphQL: notifications (a filing's, the registrar's list, counts, retries), the registrar's templates
//! and previews.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use super::context::{actor, deps, settings};
use super::enums;
use super::error::gql;
use super::ids::{self, Kind};
use super::objects::notification::{Notification, NotificationStatus};
use super::paging::{PageInfo, page_size};
use crate::auth::Actor;
use crate::services::Page;
use crate::services::notifications::{self as svc, NotificationFilter};
use entity::outbox_message;

/// Filters of the notification list.
#[derive(InputObject, Default)]
pub struct NotificationFilterInput {
    /// Any of these statuses.
    pub status: Option<Vec<NotificationStatus>>,
    /// Any of these stages.
    pub stage: Option<Vec<enums::EmailStage>>,
    /// About this filing.
    pub filing_id: Option<ID>,
    /// To this address.
    pub recipient: Option<String>,
}

impl NotificationFilterInput {
    fn into_filter(self) -> Result<NotificationFilter> {
        Ok(NotificationFilter {
            statuses: self.status.map(|s| s.into_iter().map(Into::into).collect()),
            stages: self.stage.map(|s| s.into_iter().map(Into::into).collect()),
            filing_id: self
                .filing_id
                .map(|id| ids::decode(&id, Kind::Filing, "filter.filingId"))
                .transpose()
                .map_err(gql)?,
            recipient: self.recipient,
        })
    }
}

pub struct NotificationConnection {
    page: Page<outbox_message::Model>,
    filter: NotificationFilter,
    actor: Actor,
}

/// A page of notifications, newest first (Relay cursor connection).
#[Object]
impl NotificationConnection {
    /// The notifications of this page with their cursors.
    async fn edges(&self) -> Vec<NotificationEdge> {
        self.page
            .items
            .iter()
            .map(|n| NotificationEdge { cursor: ids::encode_cursor(n.id), node: Notification(n.clone()) })
            .collect()
    }

    /// The notifications of this page.
    async fn nodes(&self) -> Vec<Notification> {
        self.page.items.iter().cloned().map(Notification).collect()
    }

    /// Where this page stands.
    async fn page_info(&self) -> PageInfo {
        let cursors: Vec<String> = self.page.items.iter().map(|n| ids::encode_cursor(n.id)).collect();
        PageInfo::forward(self.page.has_next_page, &cursors)
    }

    /// How many notifications match the filter in all.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        svc::count(deps(ctx), &self.actor, &self.filter).await.map_err(gql)
    }
}

/// A notification and its cursor.
#[derive(SimpleObject)]
pub struct NotificationEdge {
    /// Pass as `after` to continue after this notification.
    pub cursor: String,
    /// The notification.
    pub node: Notification,
}

/// How many of the registrar's messages wait, went out, or failed.
#[derive(SimpleObject)]
pub struct NotificationStats {
    /// Waiting to be sent (or for their next attempt).
    pub queued: u64,
    /// Sent.
    pub sent: u64,
    /// Parked as failed.
    pub failed: u64,
}

/// One stage's wording in one language.
#[derive(SimpleObject)]
pub struct EmailTemplate {
    /// The stage.
    pub stage: enums::EmailStage,
    /// The language.
    pub language: enums::PreferredLanguage,
    /// A minijinja template of the subject line.
    pub subject: String,
    /// A minijinja template of the plain-text body; the HTML alternative is made from it, and the registrar's
    /// signature and support contact follow it.
    pub body: String,
    /// Whether it is the registrar's own wording (otherwise the built-in one).
    pub overridden: bool,
}

impl From<svc::EmailTemplate> for EmailTemplate {
    fn from(t: svc::EmailTemplate) -> Self {
        Self {
            stage: t.stage.into(),
            language: t.language.into(),
            subject: t.subject,
            body: t.body,
            overridden: t.overridden,
        }
    }
}

/// A rendered message.
#[derive(SimpleObject)]
pub struct EmailPreview {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML alternative.
    pub html: String,
}

/// The registrar's wording of one stage in one language.
#[derive(InputObject)]
pub struct SetEmailTemplateInput {
    /// The stage.
    pub stage: enums::EmailStage,
    /// The language.
    pub language: enums::PreferredLanguage,
    /// A minijinja template of the subject line (at most 300 characters).
    pub subject: String,
    /// A minijinja template of the plain-text body.
    pub body: String,
}

#[derive(Default)]
pub struct MailQuery;

#[Object]
impl MailQuery {
    /// The registrar's notifications, newest first (administrators and the registrar's backend).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity + 1")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(desc = "Filters; every given filter must match.")] filter: Option<NotificationFilterInput>,
    ) -> Result<NotificationConnection> {
        let actor = actor(ctx)?;
        let first = page_size(settings(ctx), first)?;
        let after = after.as_deref().map(ids::decode_cursor).transpose().map_err(gql)?;
        let filter = filter.unwrap_or_default().into_filter()?;
        let page = svc::list(deps(ctx), actor, &filter, after, u64::from(first)).await.map_err(gql)?;
        Ok(NotificationConnection { page, filter, actor: actor.clone() })
    }

    /// How many of the registrar's messages wait, went out, or failed (administrators).
    async fn notification_stats(&self, ctx: &Context<'_>) -> Result<NotificationStats> {
        let stats = svc::stats(deps(ctx), actor(ctx)?).await.map_err(gql)?;
        Ok(NotificationStats { queued: stats.queued, sent: stats.sent, failed: stats.failed })
    }

    /// Every stage's wording in both languages, the registrar's own where it has one (administrators).
    async fn email_templates(&self, ctx: &Context<'_>) -> Result<Vec<EmailTemplate>> {
        let templates = svc::email_templates(deps(ctx), actor(ctx)?).await.map_err(gql)?;
        Ok(templates.into_iter().map(Into::into).collect())
    }

    /// What a stage's message looks like: for one of the registrar's filings (its data and latest reasons), or with
    /// sample data; in one language, or both (staff).
    async fn preview_email(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The stage.")] stage: enums::EmailStage,
        #[graphql(desc = "A filing to fill the message with; sample data without it.")] filing_id: Option<ID>,
        #[graphql(desc = "One language; both without it.")] language: Option<enums::PreferredLanguage>,
    ) -> Result<EmailPreview> {
        let actor = actor(ctx)?;
        let filing = filing_id.map(|id| ids::decode(&id, Kind::Filing, "filingId")).transpose().map_err(gql)?;
        let rendered =
            svc::preview(deps(ctx), actor, stage.into(), filing, language.map(Into::into)).await.map_err(gql)?;
        Ok(EmailPreview { subject: rendered.subject, text: rendered.text, html: rendered.html })
    }
}

#[derive(Default)]
pub struct MailMutation;

#[Object]
impl MailMutation {
    /// Queues a failed notification again, with a fresh set of attempts (administrators).
    async fn retry_notification(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The failed notification.")] id: ID,
    ) -> Result<Notification> {
        let actor = actor(ctx)?;
        let id = ids::decode(&id, Kind::Notification, "id").map_err(gql)?;
        Ok(Notification(svc::retry(deps(ctx), actor, id).await.map_err(gql)?))
    }

    /// Sets the registrar's own wording of a stage in a language (administrators). Refused with INVALID_TEMPLATE,
    /// and nothing stored, when it does not render.
    async fn set_email_template(&self, ctx: &Context<'_>, input: SetEmailTemplateInput) -> Result<EmailTemplate> {
        let actor = actor(ctx)?;
        let template =
            svc::set_template(deps(ctx), actor, input.stage.into(), input.language.into(), input.subject, input.body)
                .await
                .map_err(gql)?;
        Ok(template.into())
    }

    /// Returns a stage to the built-in wording (administrators).
    async fn reset_email_template(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The stage.")] stage: enums::EmailStage,
        #[graphql(desc = "The language.")] language: enums::PreferredLanguage,
    ) -> Result<EmailTemplate> {
        let actor = actor(ctx)?;
        let template = svc::reset_template(deps(ctx), actor, stage.into(), language.into()).await.map_err(gql)?;
        Ok(template.into())
    }
}
