//! sea-orm entities of beian: the shape of the tables, nothing else.
//!
//! Enumerated columns are stored as their stable string names (`DRAFT`, `ENTERPRISE`, ...), so the database never
//! needs a migration when a list grows, and typed as the active enums of [`enums`].

pub mod account;
pub mod account_token;
pub mod api_key;
pub mod attachment;
pub mod enums;
pub mod filing;
pub mod filing_event;
pub mod filing_subject;
pub mod mail_template;
pub mod mobile_session;
pub mod outbox_message;
pub mod phone_code_send;
pub mod session;
pub mod sms_check;
pub mod tenant;
pub mod upload_url;
pub mod webhook_delivery;
pub mod webhook_endpoint;
pub mod website;
