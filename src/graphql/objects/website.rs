//! A website of a filing and its pre-approvals.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};

use super::subject::ResponsiblePerson;
use crate::graphql::enums;
use crate::graphql::ids::{self, Kind};
use crate::services::models;

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
    pub async fn id(&self) -> ID {
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
