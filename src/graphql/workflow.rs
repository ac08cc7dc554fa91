//! The review workflow over GraphQL.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::Utc;

use super::context::{actor, deps};
use super::enums;
use super::error::gql;
use super::ids::{self, Kind};
use super::objects::attachment::Attachment;
use super::objects::filing::Filing;
use super::paging::{PageInfo, page_size};
use crate::services::workflow::{self as svc, ReturnReason};

/// A filing and the version the caller last read.
#[derive(InputObject)]
pub struct FilingVersionInput {
    /// The filing.
    pub filing_id: ID,
    /// Its version as last read; a stale version is CONFLICT.
    pub version: i32,
}

/// One reason for returning a filing: which field or material, a code, what is wrong and what to do.
#[derive(InputObject)]
pub struct ReturnReasonInput {
    /// The field (`subject.name`, `websites[0].name`) or material (`materials.ID_CARD_FRONT`) concerned.
    pub field: String,
    /// A machine code, e.g. NAME_NOT_ALLOWED.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub suggestion: Option<String>,
}

/// Return a filing with reasons.
#[derive(InputObject)]
pub struct ReturnFilingInput {
    /// The filing.
    pub filing_id: ID,
    /// Its version as last read.
    pub version: i32,
    /// At least one reason.
    pub reasons: Vec<ReturnReasonInput>,
}

/// The ICP number the bureau issued to one website.
#[derive(InputObject)]
pub struct WebsiteNumberInput {
    /// The website.
    pub website_id: ID,
    /// Its number, e.g. 京ICP备2026000001号-1.
    pub number: String,
}

/// The bureau's approval.
#[derive(InputObject)]
pub struct BureauApprovalInput {
    /// The subject's number, e.g. 京ICP备2026000001号 (the filing's province prefix). Required for a first filing;
    /// an order that already carries the subject's number keeps it (a number given must match).
    pub subject_number: Option<String>,
    /// One number per website that has none yet (every website of a first filing or an add-access order, the new
    /// websites of an add-website order). Websites that have one keep it.
    #[graphql(default)]
    pub websites: Vec<WebsiteNumberInput>,
}

/// The bureau's decision: `approved` with the ICP numbers, or `reasons` for a refusal.
#[derive(InputObject)]
pub struct BureauDecisionInput {
    /// The filing.
    pub filing_id: ID,
    /// Its version as last read.
    pub version: i32,
    /// Set when the bureau approved.
    pub approved: Option<BureauApprovalInput>,
    /// The bureau's reasons when it refused.
    #[graphql(default)]
    pub reasons: Vec<ReturnReasonInput>,
}

fn filing_id(id: &ID) -> Result<uuid::Uuid> {
    ids::decode(id, Kind::Filing, "filingId").map_err(gql)
}

fn reasons(list: Vec<ReturnReasonInput>) -> Vec<ReturnReason> {
    list.into_iter()
        .map(|r| ReturnReason { field: r.field, code: r.code, message: r.message, suggestion: r.suggestion })
        .collect()
}

#[derive(Default)]
pub struct WorkflowMutation;

#[Object]
impl WorkflowMutation {
    /// Submits a draft or returned filing for the preliminary review (初审). Refused with every finding of the
    /// pre-submit check and every missing material when anything blocks.
    async fn submit_filing(&self, ctx: &Context<'_>, input: FilingVersionInput) -> Result<Filing> {
        let actor = actor(ctx)?;
        let id = filing_id(&input.filing_id)?;
        let filing = svc::submit(deps(ctx), actor, id, input.version).await;
        let filing = filing.map_err(gql)?;
        Ok(Filing(filing))
    }

    /// Takes a filing back before the 初审 decision; it becomes an editable draft again.
    async fn withdraw_filing(&self, ctx: &Context<'_>, input: FilingVersionInput) -> Result<Filing> {
        let actor = actor(ctx)?;
        let filing = svc::withdraw(deps(ctx), actor, filing_id(&input.filing_id)?, input.version).await.map_err(gql)?;
        Ok(Filing(filing))
    }

    /// Gives a filing up for good (possible until it reaches the bureau).
    async fn abandon_filing(&self, ctx: &Context<'_>, input: FilingVersionInput) -> Result<Filing> {
        let actor = actor(ctx)?;
        let filing = svc::abandon(deps(ctx), actor, filing_id(&input.filing_id)?, input.version).await.map_err(gql)?;
        Ok(Filing(filing))
    }

    /// A reviewer takes a submitted filing for review; one reviewer at a time.
    async fn claim_review(&self, ctx: &Context<'_>, input: FilingVersionInput) -> Result<Filing> {
        let actor = actor(ctx)?;
        let filing =
            svc::claim_review(deps(ctx), actor, filing_id(&input.filing_id)?, input.version).await.map_err(gql)?;
        Ok(Filing(filing))
    }

    /// The assigned reviewer puts the filing back in the queue.
    async fn release_review(&self, ctx: &Context<'_>, input: FilingVersionInput) -> Result<Filing> {
        let actor = actor(ctx)?;
        let filing =
            svc::release_review(deps(ctx), actor, filing_id(&input.filing_id)?, input.version).await.map_err(gql)?;
        Ok(Filing(filing))
    }

    /// The preliminary review passes: the MIIT SMS check starts (for `workflow.sms_window_hours`, 24 by default, for
    /// every responsible person).
    async fn approve_preliminary_review(&self, ctx: &Context<'_>, input: FilingVersionInput) -> Result<Filing> {
        let actor = actor(ctx)?;
        let id = filing_id(&input.filing_id)?;
        let filing = svc::approve_preliminary(deps(ctx), actor, id, input.version).await.map_err(gql)?;
        Ok(Filing(filing))
    }

    /// The preliminary review returns the filing to the applicant with its reasons.
    async fn reject_preliminary_review(&self, ctx: &Context<'_>, input: ReturnFilingInput) -> Result<Filing> {
        let actor = actor(ctx)?;
        let id = filing_id(&input.filing_id)?;
        let filing = svc::reject_preliminary(deps(ctx), actor, id, input.version, reasons(input.reasons)).await;
        let filing = filing.map_err(gql)?;
        Ok(Filing(filing))
    }

    /// The assigned reviewer decides on a material: accepted, or needs revision with a reason.
    async fn review_attachment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The attachment.")] id: ID,
        #[graphql(desc = "Whether the material is acceptable.")] accepted: bool,
        #[graphql(desc = "Why it needs revision (required when not accepted).")] reason: Option<String>,
    ) -> Result<Attachment> {
        let actor = actor(ctx)?;
        let id = ids::decode(&id, Kind::Attachment, "id").map_err(gql)?;
        let attachment = svc::review_attachment(deps(ctx), actor, id, accepted, reason).await.map_err(gql)?;
        Ok(Attachment(attachment))
    }

    /// Records MIIT's result for one person's SMS confirmation (registrar). When every person confirmed, the
    /// filing goes to the bureau; five failures end the round.
    async fn record_sms_verification(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The SMS check (Filing.smsChecks).")] check_id: ID,
        #[graphql(desc = "Whether the person confirmed.")] confirmed: bool,
    ) -> Result<Filing> {
        let actor = actor(ctx)?;
        let id = ids::decode(&check_id, Kind::SmsCheck, "checkId").map_err(gql)?;
        let filing = svc::record_sms(deps(ctx), actor, id, confirmed).await.map_err(gql)?;
        Ok(Filing(filing))
    }

    /// After a failed SMS round, starts a new one with a new SMS window (registrar).
    async fn resubmit_to_miit(&self, ctx: &Context<'_>, input: FilingVersionInput) -> Result<Filing> {
        let actor = actor(ctx)?;
        let id = filing_id(&input.filing_id)?;
        let filing = svc::resubmit_to_miit(deps(ctx), actor, id, input.version).await.map_err(gql)?;
        Ok(Filing(filing))
    }

    /// After a failed SMS round, returns the filing to the applicant (registrar).
    async fn return_to_applicant(&self, ctx: &Context<'_>, input: ReturnFilingInput) -> Result<Filing> {
        let actor = actor(ctx)?;
        let id = filing_id(&input.filing_id)?;
        let filing = svc::return_to_applicant(deps(ctx), actor, id, input.version, reasons(input.reasons)).await;
        let filing = filing.map_err(gql)?;
        Ok(Filing(filing))
    }

    /// Records the bureau's decision (registrar): approved with the ICP numbers, or refused with reasons.
    async fn record_bureau_decision(&self, ctx: &Context<'_>, input: BureauDecisionInput) -> Result<Filing> {
        let actor = actor(ctx)?;
        let id = filing_id(&input.filing_id)?;
        let numbers = match input.approved {
            None => None,
            Some(approval) => {
                let mut websites = Vec::new();
                for w in approval.websites {
                    websites.push((ids::decode(&w.website_id, Kind::Website, "websiteId").map_err(gql)?, w.number));
                }
                Some(svc::BureauApproval { subject_number: approval.subject_number, websites })
            }
        };
        let filing =
            svc::record_bureau_decision(deps(ctx), actor, id, input.version, numbers, reasons(input.reasons)).await;
        let filing = filing.map_err(gql)?;
        Ok(Filing(filing))
    }
}

/// Filters of the review queue.
#[derive(InputObject, Default)]
pub struct ReviewQueueFilter {
    /// Any of these states (default: PENDING_REVIEW and IN_REVIEW).
    pub status: Option<Vec<enums::FilingStatus>>,
    /// Only the filings the caller claimed.
    #[graphql(default)]
    pub assigned_to_me: bool,
    /// Only the filings nobody claimed.
    #[graphql(default)]
    pub unassigned: bool,
    /// The subject's province: six-digit code or two-digit prefix.
    pub province_code: Option<String>,
    /// Any of these filing types.
    pub filing_type: Option<Vec<enums::FilingType>>,
}

/// A filing waiting for (or in) review.
#[derive(SimpleObject)]
pub struct ReviewQueueItem {
    /// The filing.
    pub filing: Filing,
    /// When the preliminary review is due: the end of the last allowed working day (China time; weekends and the
    /// registrar's holiday calendar excluded).
    pub deadline: chrono::DateTime<Utc>,
    /// Whether the deadline has passed.
    pub overdue: bool,
}

/// A queue item and its cursor.
#[derive(SimpleObject)]
pub struct ReviewQueueEdge {
    /// Pass as `after` to continue after this item.
    pub cursor: String,
    /// The item.
    pub node: ReviewQueueItem,
}

pub struct ReviewQueueConnection {
    pub edges: Vec<ReviewQueueEdge>,
    pub page_info: PageInfo,
}

/// A page of the review queue, oldest submission first.
#[Object]
impl ReviewQueueConnection {
    /// The items of this page with their cursors.
    async fn edges(&self, ctx: &Context<'_>) -> Result<&[ReviewQueueEdge]> {
        let filings = ctx.look_ahead().field("node").field("filing");
        super::loaders::prefetch(ctx, filings, self.edges.iter().map(|e| &e.node.filing.0)).await?;
        Ok(&self.edges)
    }

    /// Where this page stands.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }
}

/// One state's figures.
#[derive(SimpleObject)]
pub struct StatusCount {
    /// The state.
    pub status: enums::FilingStatus,
    /// How many filings are in it now.
    pub count: u64,
    /// The median time filings spent in it, in seconds, over the stays that ended (null before any did).
    pub median_seconds_in_state: Option<i64>,
}

fn queue_cursor(item: &crate::services::queue::QueueItem) -> String {
    let submitted = item.filing.submitted_at.unwrap_or(item.filing.created_at);
    crate::graphql::ids::encode_time_cursor("queue", submitted, item.filing.id)
}

#[derive(Default)]
pub struct WorkflowQuery;

#[Object]
impl WorkflowQuery {
    /// The reviewers' queue: submitted filings, oldest first, each with its deadline (registrar staff).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity + 1")]
    async fn review_queue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor.")] after: Option<String>,
        #[graphql(desc = "Filters.")] filter: Option<ReviewQueueFilter>,
    ) -> Result<ReviewQueueConnection> {
        let actor = actor(ctx)?;
        let first = page_size(super::context::settings(ctx), first)?;
        let after =
            after.as_deref().map(|c| crate::graphql::ids::decode_time_cursor("queue", c)).transpose().map_err(gql)?;
        let filter = filter.unwrap_or_default();
        let filter = crate::services::queue::QueueFilter {
            statuses: filter.status.map(|s| s.into_iter().map(Into::into).collect()),
            reviewer_id: filter.assigned_to_me.then_some(actor.id),
            unassigned: filter.unassigned,
            province_code: filter.province_code,
            filing_types: filter.filing_type.map(|t| t.into_iter().map(Into::into).collect()),
        };
        let page = crate::services::queue::review_queue(deps(ctx), actor, &filter, u64::from(first), after)
            .await
            .map_err(gql)?;
        let cursors: Vec<String> = page.items.iter().map(queue_cursor).collect();
        Ok(ReviewQueueConnection {
            page_info: PageInfo::forward(page.has_next_page, &cursors),
            edges: page
                .items
                .into_iter()
                .zip(cursors)
                .map(|(item, cursor)| ReviewQueueEdge {
                    cursor,
                    node: ReviewQueueItem {
                        filing: Filing(item.filing),
                        deadline: item.deadline,
                        overdue: item.overdue,
                    },
                })
                .collect(),
        })
    }

    /// Per state: how many of the registrar's filings are in it, and the median time spent in it (registrar staff).
    async fn filing_stats(&self, ctx: &Context<'_>) -> Result<Vec<StatusCount>> {
        let actor = actor(ctx)?;
        let stats = crate::services::queue::stats(deps(ctx), actor).await.map_err(gql)?;
        Ok(stats
            .into_iter()
            .map(|s| StatusCount { status: s.status.into(), count: s.count, median_seconds_in_state: s.median_seconds })
            .collect())
    }
}
