//! Integration tests: the real server on port 0, over HTTP, against SQLite (default) or PostgreSQL
//! (`BEIAN_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres`), a fresh database per test.

mod helpers;
mod people;

mod accounts;
mod architecture;
mod attachments;
mod auth;
mod authorization;
mod bola;
mod browser;
mod cli;
mod events;
mod feed;
mod filings;
mod hardening;
mod health;
mod hostile_input;
mod isolation;
mod isolation_properties;
mod language;
mod limits;
mod mail;
mod mobile;
mod orders;
mod pagination;
mod persisted_queries;
mod persistence;
mod personal_data;
mod phone_page;
mod processes;
mod races;
mod rollout;
mod row_security;
mod rules;
mod schema;
mod seed;
mod sessions;
mod statements;
mod storage_outages;
mod transport;
mod validation;
mod webhooks;
mod workflow;
