//! Mutation root: filing drafts.

use async_graphql::{Context, Object, Result, SimpleObject};

use super::context::{actor, deps};
use super::error::gql;
use super::ids::{self, Kind};
use super::inputs::{
    AddWebsiteInput, CreateFilingInput, RemoveWebsiteInput, StartOrderInput, UpdateFilingSubjectInput,
    UpdateWebsiteInput,
};
use super::objects::filing::Filing;
use super::objects::website::Website;
use crate::services::filings;

#[derive(Default)]
pub struct FilingMutation;

/// A changed website with its filing (whose version moved on).
#[derive(SimpleObject)]
pub struct WebsitePayload {
    /// The filing, at its new version.
    pub filing: Filing,
    /// The website as stored.
    pub website: Website,
}

#[Object]
impl FilingMutation {
    /// Creates a first-filing (首次备案) draft with its subject and, optionally, websites; or, with
    /// `filingType: ADD_ACCESS` and the subject's `icpNumber`, an add-access order (新增接入) for a subject filed
    /// through another registrar. Every refused field is listed in `extensions.fields` of a BAD_USER_INPUT error, and
    /// nothing is written.
    async fn create_filing(&self, ctx: &Context<'_>, input: CreateFilingInput) -> Result<Filing> {
        let actor = actor(ctx)?;
        let (form, order) = input.split();
        let filing = filings::create_filing(deps(ctx), actor, form, order).await.map_err(gql)?;
        Ok(Filing(filing))
    }

    /// Starts an order from a filed record (a filing whose `isCurrentRecord` is true): add website (新增网站), change
    /// subject / website / access (变更), cancel subject / website / access (注销, 取消接入). The draft holds the record
    /// as it stands; edit it with the usual mutations, within what the order's type allows (CHANGE_NOT_ALLOWED,
    /// DOMAIN_REMOVAL_NOT_ALLOWED otherwise), and submit it. Cancel-website and cancel-access orders name their
    /// websites. One open order per record (ORDER_IN_FLIGHT); a record that is not current is NOT_CURRENT_RECORD.
    async fn start_order(&self, ctx: &Context<'_>, input: StartOrderInput) -> Result<Filing> {
        let actor = actor(ctx)?;
        let id = ids::decode(&input.filing_id, Kind::Filing, "filingId").map_err(gql)?;
        let mut websites = Vec::new();
        for (i, website) in input.website_ids.iter().enumerate() {
            websites.push(ids::decode(website, Kind::Website, &format!("websiteIds[{i}]")).map_err(gql)?);
        }
        let filing = crate::services::orders::start(deps(ctx), actor, id, input.filing_type.into(), websites)
            .await
            .map_err(gql)?;
        Ok(Filing(filing))
    }

    /// Replaces the subject of a draft (or a returned filing). A stale `version` is CONFLICT.
    async fn update_filing_subject(&self, ctx: &Context<'_>, input: UpdateFilingSubjectInput) -> Result<Filing> {
        let actor = actor(ctx)?;
        let id = ids::decode(&input.filing_id, Kind::Filing, "filingId").map_err(gql)?;
        let filing = filings::update_subject(deps(ctx), actor, id, input.version, input.subject.into()).await;
        let filing = filing.map_err(gql)?;
        Ok(Filing(filing))
    }

    /// Adds a website to a draft (at most 10 per filing). A stale `version` is CONFLICT.
    async fn add_website(&self, ctx: &Context<'_>, input: AddWebsiteInput) -> Result<WebsitePayload> {
        let actor = actor(ctx)?;
        let id = ids::decode(&input.filing_id, Kind::Filing, "filingId").map_err(gql)?;
        let (filing, website) =
            filings::add_website(deps(ctx), actor, id, input.version, input.website.into()).await.map_err(gql)?;
        Ok(WebsitePayload { filing: Filing(filing), website: Website(website) })
    }

    /// Replaces a website of a draft. A stale `version` is CONFLICT.
    async fn update_website(&self, ctx: &Context<'_>, input: UpdateWebsiteInput) -> Result<WebsitePayload> {
        let actor = actor(ctx)?;
        let id = ids::decode(&input.website_id, Kind::Website, "websiteId").map_err(gql)?;
        let (filing, website) =
            filings::update_website(deps(ctx), actor, id, input.version, input.website.into()).await.map_err(gql)?;
        Ok(WebsitePayload { filing: Filing(filing), website: Website(website) })
    }

    /// Removes a website from a draft. A stale `version` is CONFLICT.
    async fn remove_website(&self, ctx: &Context<'_>, input: RemoveWebsiteInput) -> Result<Filing> {
        let actor = actor(ctx)?;
        let id = ids::decode(&input.website_id, Kind::Website, "websiteId").map_err(gql)?;
        let filing = filings::remove_website(deps(ctx), actor, id, input.version).await.map_err(gql)?;
        Ok(Filing(filing))
    }
}
