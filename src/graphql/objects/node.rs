//! The `Node` interface: every object with a global ID.

use async_graphql::{ID, Interface};

use super::account::{Account, ApiKey};
use super::attachment::Attachment;
use super::filing::{Filing, FilingEvent};
use super::mobile::MobileVerification;
use super::notification::Notification;
use super::webhook::{WebhookDelivery, WebhookEndpoint};
use super::website::Website;
use super::workflow::SmsCheck;

/// An object with a global ID, fetchable with `node(id:)` and `nodes(ids:)`.
// Built once per `node` answer and dropped right after: boxing the variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "The object's opaque global ID."))]
pub enum Node {
    Filing(Filing),
    Website(Website),
    FilingEvent(FilingEvent),
    Account(Account),
    ApiKey(ApiKey),
    Attachment(Attachment),
    SmsCheck(SmsCheck),
    MobileVerification(MobileVerification),
    Notification(Notification),
    WebhookEndpoint(WebhookEndpoint),
    WebhookDelivery(WebhookDelivery),
}
