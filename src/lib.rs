//! beian: an ICP filing (ICP备案) platform for registrars.
//!
//! Layers, with dependencies pointing down only:
//! - [`graphql`] and [`http`]: the API surface;
//! - [`services`]: one function per use case, scoped to the caller's tenant, one transaction each;
//! - [`domain`]: pure ICP rules; [`auth`]: callers and credentials;
//! - `entity` and `migration` crates: the database.

pub mod auth;
pub mod changes;
pub mod cli;
pub mod config;
pub mod db;
pub mod documents;
pub mod domain;
pub mod graphql;
pub mod http;
pub mod http_server;
pub mod language;
pub mod mail;
pub mod metrics;
pub mod pii;
pub mod seed;
pub mod services;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod web;
pub mod websocket_limits;
