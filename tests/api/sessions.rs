//! Credentials that died stop working everywhere: access tokens are bound to their session (logout, password change
//! or reset, refresh-token replay, disabling end them on the next request), and an open `filingUpdated`
//! subscription is checked again on every message and while idle, its connection closed once its credential died.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;
use crate::people::*;
use crate::workflow::{cast_on, state, subscribe};

const ME: &str = "{ me { kind role } }";
const REFRESH: &str = "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }";
const LOGOUT: &str = "mutation($t: String!) { logout(refreshToken: $t) }";
const WATCH: &str = "subscription($id: ID!) { filingUpdated(id: $id) { id version } }";

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Asserts that `token` is refused with 401 UNAUTHENTICATED; returns the message.
async fn refused(app: &TestApp, token: &str) -> String {
    let (status, body) = app.post(Some(token), ME, json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(code(&body["errors"][0]), "UNAUTHENTICATED", "{body}");
    body["errors"][0]["message"].as_str().unwrap().to_owned()
}

fn change_password() -> String {
    format!(
        "mutation($c: String!, $n: String!) {{ changePassword(currentPassword: $c, newPassword: $n) {{ {SESSION_FIELDS} }} }}"
    )
}

#[tokio::test]
async fn logout_ends_the_access_tokens_of_its_session_at_once() {
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    let first = applicant(&app, "xinnet", "alice@example.com").await;
    let other_device = session(&app, "xinnet", "alice@example.com").await;
    // A refresh continues the session: the token it replaced keeps working until it expires.
    let refreshed = anonymous(&app, REFRESH, json!({ "t": first["refreshToken"] })).await["refreshSession"].clone();
    app.ok(&access(&first), ME, json!({})).await;
    app.ok(&access(&refreshed), ME, json!({})).await;

    assert_eq!(anonymous(&app, LOGOUT, json!({ "t": refreshed["refreshToken"] })).await["logout"], true);
    for token in [access(&first), access(&refreshed)] {
        assert!(refused(&app, &token).await.contains("会话已结束"));
    }
    // Another sign-in is another session.
    assert_eq!(app.ok(&access(&other_device), ME, json!({})).await["me"]["role"], "APPLICANT");
}

#[tokio::test]
async fn changing_or_resetting_the_password_ends_the_other_sessions_access_tokens() {
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    let here = applicant(&app, "xinnet", "alice@example.com").await;
    let elsewhere = session(&app, "xinnet", "alice@example.com").await;

    let vars = json!({ "c": PASSWORD, "n": "a brand new passphrase" });
    let changed = app.ok(&access(&here), &change_password(), vars).await["changePassword"].clone();
    refused(&app, &access(&elsewhere)).await;
    refused(&app, &access(&here)).await;
    app.ok(&access(&changed), ME, json!({})).await;

    let request = "mutation { requestPasswordReset(tenant: \"xinnet\", email: \"alice@example.com\") }";
    anonymous(&app, request, json!({})).await;
    let token = outbox_token(&app, "PASSWORD_RESET", "alice@example.com").await;
    let reset = "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
    anonymous(&app, reset, json!({ "t": token, "p": "yet another passphrase" })).await;
    refused(&app, &access(&changed)).await;
}

#[tokio::test]
async fn a_replayed_refresh_token_ends_the_access_tokens_of_its_family() {
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    let first = applicant(&app, "xinnet", "alice@example.com").await;
    let second = anonymous(&app, REFRESH, json!({ "t": first["refreshToken"] })).await["refreshSession"].clone();
    app.ok(&access(&second), ME, json!({})).await;
    // Someone presents the spent token again: the thief's and the owner's tokens of that sign-in end.
    anonymous_err(&app, REFRESH, json!({ "t": first["refreshToken"] })).await;
    refused(&app, &access(&second)).await;
    refused(&app, &access(&first)).await;
}

#[tokio::test]
async fn a_disabled_account_stays_signed_out_when_it_is_enabled_again() {
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    let admin = access(&first_admin(&app, "xinnet", "admin@xinnet.example").await);
    let reviewer = staff(&app, &admin, "reviewer@xinnet.example", "REVIEWER").await;
    let id = json!({ "id": reviewer["account"]["id"] });
    app.ok(&access(&reviewer), ME, json!({})).await;

    app.ok(&admin, "mutation($id: ID!) { disableAccount(accountId: $id) { status } }", id.clone()).await;
    refused(&app, &access(&reviewer)).await;
    app.ok(&admin, "mutation($id: ID!) { enableAccount(accountId: $id) { status } }", id).await;
    // Disabling ended its sessions: enabling lets the person sign in again, not the old tokens back in.
    assert!(refused(&app, &access(&reviewer)).await.contains("会话已结束"));
    let fresh = session(&app, "xinnet", "reviewer@xinnet.example").await;
    assert_eq!(app.ok(&access(&fresh), ME, json!({})).await["me"]["role"], "REVIEWER");
}

#[tokio::test]
async fn a_suspended_registrars_access_tokens_are_refused() {
    use beian::services::tenants::{TenantStatus, set_tenant_status};
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    let alice = access(&applicant(&app, "xinnet", "alice@example.com").await);
    set_tenant_status(&app.deps, "xinnet", TenantStatus::Suspended).await.unwrap();
    assert!(refused(&app, &alice).await.contains("暂停"));
    set_tenant_status(&app.deps, "xinnet", TenantStatus::Active).await.unwrap();
    app.ok(&alice, ME, json!({})).await;
}

// ---------------------------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------------------------

/// Changes the filing (its subject, as it is) with `key`, so that its subscribers hear of it.
async fn touch(app: &TestApp, key: &str, filing: &Value) {
    let version = state(app, key, filing).await["version"].clone();
    let query = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }";
    // A real change each time: a save that changes nothing records no event, and nothing is announced.
    let mut subject = subject_input("北京示例科技有限公司");
    subject["mailingAddress"] = json!(format!("北京市朝阳区示例路{}号", version.as_i64().unwrap() + 1));
    let input = json!({ "filingId": filing["id"], "version": version, "subject": subject });
    app.ok(key, query, json!({ "input": input })).await;
}

/// Subscribes to the filing with `token`, and proves the subscription live: a change made with `toucher` arrives.
/// Returns the socket and the filing's version by then: whatever arrives later with a higher version was delivered
/// for a later change.
async fn watching(app: &TestApp, token: &str, filing: &Value, toucher: &str) -> (Socket, i64) {
    let mut socket = subscribe(app, Some(token), WATCH, json!({ "id": filing["id"] })).await;
    // Until the subscription is registered, changes go unheard: touch until one arrives (no timing assumption).
    for _ in 0..20 {
        touch(app, toucher, filing).await;
        if let Ok(message) = tokio::time::timeout(Duration::from_secs(3), socket.next()).await {
            let message: Value = serde_json::from_str(message.unwrap().unwrap().to_text().unwrap()).unwrap();
            assert_eq!(message["payload"]["data"]["filingUpdated"]["id"], filing["id"], "{message}");
            let seen = state(app, toucher, filing).await["version"].as_i64().unwrap();
            return (socket, seen);
        }
    }
    panic!("the subscription never heard a change");
}

/// Reads the connection until the server closes it (within a generous minute); returns the messages before the
/// close, and the close frame's code and reason.
async fn until_closed(socket: &mut Socket) -> (Vec<Value>, Option<(u16, String)>) {
    let mut messages = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(60), socket.next()).await.expect("closed within a minute");
        match next {
            Some(Ok(Message::Text(text))) => messages.push(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => {
                return (messages, frame.map(|f| (u16::from(f.code), f.reason.to_string())));
            }
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return (messages, None),
        }
    }
}

/// Asserts that the connection closes with 4403 and delivers no change after version `seen` before; returns the
/// reason.
async fn closed_without_data(socket: &mut Socket, seen: i64) -> String {
    let (messages, close) = until_closed(socket).await;
    for message in &messages {
        let delivered = &message["payload"]["data"]["filingUpdated"];
        if delivered.is_null() {
            if message["type"] == "next" {
                assert_eq!(code(&message["payload"]["errors"][0]), "UNAUTHENTICATED", "{message}");
            }
        } else {
            assert!(delivered["version"].as_i64().unwrap() <= seen, "delivered after its credential died: {message}");
        }
    }
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, 4403, "{reason}");
    reason
}

/// An app whose idle connections are never checked in the test's time: what closes them is the check of a message.
async fn checked_per_message() -> crate::workflow::Cast {
    cast_on(spawn_app_with(TestDatabase::new().await, |c| c.auth.connection_check_seconds = 3600).await).await
}

#[tokio::test]
async fn a_subscription_stops_and_closes_when_its_session_is_logged_out() {
    let cast = checked_per_message().await;
    let app = &cast.app;
    let alice = session(app, "xinnet", "owner@example.com").await;
    let filing = app.create_filing(&access(&alice), "北京示例科技有限公司").await;
    let (mut socket, seen) = watching(app, &access(&alice), &filing, &cast.backend).await;

    anonymous(app, LOGOUT, json!({ "t": alice["refreshToken"] })).await;
    touch(app, &cast.backend, &filing).await;
    assert!(closed_without_data(&mut socket, seen).await.contains("会话已结束"));
}

#[tokio::test]
async fn a_subscription_stops_and_closes_when_the_password_changes_elsewhere() {
    let cast = checked_per_message().await;
    let app = &cast.app;
    let filing = app.create_filing(&cast.applicant, "北京示例科技有限公司").await;
    let (mut socket, seen) = watching(app, &cast.applicant, &filing, &cast.backend).await;

    let other = access(&session(app, "xinnet", "owner@example.com").await);
    app.ok(&other, &change_password(), json!({ "c": PASSWORD, "n": "a brand new passphrase" })).await;
    touch(app, &cast.backend, &filing).await;
    closed_without_data(&mut socket, seen).await;
}

#[tokio::test]
async fn a_subscription_stops_and_closes_when_the_account_is_disabled() {
    let cast = checked_per_message().await;
    let app = &cast.app;
    let filing = app.create_filing(&cast.backend, "北京示例科技有限公司").await;
    let reviewer = session(app, "xinnet", "reviewer@xinnet.example").await;
    let (mut socket, seen) = watching(app, &access(&reviewer), &filing, &cast.backend).await;

    let disable = "mutation($id: ID!) { disableAccount(accountId: $id) { status } }";
    app.ok(&cast.admin, disable, json!({ "id": reviewer["account"]["id"] })).await;
    touch(app, &cast.backend, &filing).await;
    closed_without_data(&mut socket, seen).await;
}

#[tokio::test]
async fn a_subscription_stops_and_closes_when_its_api_key_is_revoked() {
    let cast = checked_per_message().await;
    let app = &cast.app;
    let create = "mutation { createApiKey(name: \"reporting\", scope: READ_ONLY) { secret apiKey { id } } }";
    let created = app.ok(&cast.admin, create, json!({})).await["createApiKey"].clone();
    let filing = app.create_filing(&cast.backend, "北京示例科技有限公司").await;
    let (mut socket, seen) = watching(app, created["secret"].as_str().unwrap(), &filing, &cast.backend).await;

    let revoke = "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }";
    app.ok(&cast.admin, revoke, json!({ "id": created["apiKey"]["id"] })).await;
    touch(app, &cast.backend, &filing).await;
    closed_without_data(&mut socket, seen).await;
}

#[tokio::test]
async fn a_subscription_stops_and_closes_when_the_callers_role_changes() {
    let cast = checked_per_message().await;
    let app = &cast.app;
    let filing = app.create_filing(&cast.backend, "北京示例科技有限公司").await;
    let reviewer = session(app, "xinnet", "reviewer@xinnet.example").await;
    let (mut socket, seen) = watching(app, &access(&reviewer), &filing, &cast.backend).await;

    // Its messages were shaped by the reviewer's rights (personal data in full): an administrator sees them masked.
    let role = "mutation($id: ID!) { updateAccountRole(accountId: $id, role: ADMIN) { role } }";
    app.ok(&cast.admin, role, json!({ "id": reviewer["account"]["id"] })).await;
    touch(app, &cast.backend, &filing).await;
    assert!(closed_without_data(&mut socket, seen).await.contains("权限已变更"));
}

#[tokio::test]
async fn a_filing_the_subscriber_no_longer_sees_ends_its_subscription_with_not_found() {
    let cast = checked_per_message().await;
    let app = &cast.app;
    let filing = app.create_filing(&cast.applicant, "北京示例科技有限公司").await;
    let (mut socket, _) = watching(app, &cast.applicant, &filing, &cast.backend).await;

    // The filing passes to another applicant (no mutation does this today; an operator could, in the database).
    let bob = applicant(app, "xinnet", "bob@example.com").await;
    let bob_id =
        beian::graphql::ids::decode(bob["account"]["id"].as_str().unwrap(), beian::graphql::ids::Kind::Account, "id")
            .unwrap();
    let filing_id =
        beian::graphql::ids::decode(filing["id"].as_str().unwrap(), beian::graphql::ids::Kind::Filing, "id").unwrap();
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    entity::filing::Entity::update_many()
        .col_expr(entity::filing::Column::OwnerAccountId, Expr::value(bob_id))
        .filter(entity::filing::Column::Id.eq(filing_id))
        .exec(&app.db)
        .await
        .unwrap();
    touch(app, &cast.backend, &filing).await;

    let mut message = next_text(&mut socket).await;
    while !message["payload"]["data"]["filingUpdated"].is_null() {
        message = next_text(&mut socket).await; // a change from before the filing passed on
    }
    assert_eq!(message["type"], "next", "{message}");
    assert!(message["payload"]["data"].is_null(), "{message}");
    assert_eq!(code(&message["payload"]["errors"][0]), "NOT_FOUND", "{message}");
    assert_eq!(next_text(&mut socket).await, json!({ "type": "complete", "id": "1" }));
    // The credential is alive: the connection stays open and answers.
    socket.send(Message::text(json!({ "type": "ping" }).to_string())).await.unwrap();
    assert_eq!(next_text(&mut socket).await["type"], "pong");
}

async fn next_text(socket: &mut Socket) -> Value {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(20), socket.next()).await.expect("a message within 20 s");
        match next.expect("the connection is open").unwrap() {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn idle_connections_close_once_their_credential_died() {
    use beian::services::tenants::{TenantStatus, set_tenant_status};
    let app = spawn_app_with(TestDatabase::new().await, |c| c.auth.connection_check_seconds = 1).await;
    let cast = cast_on(app).await;
    let app = &cast.app;
    let alice = session(app, "xinnet", "owner@example.com").await;
    let filing = app.create_filing(&access(&alice), "北京示例科技有限公司").await;
    let (mut logged_out, seen) = watching(app, &access(&alice), &filing, &cast.backend).await;
    // The backend watches a filing of its own, so that touching one does not speak to the other's watcher.
    let own = app.create_filing(&cast.backend, "北京示例科技有限公司").await;
    let (mut backend, seen_own) = watching(app, &cast.backend, &own, &cast.backend).await;

    // Nothing changes from here on: only the periodic check can tell.
    anonymous(app, LOGOUT, json!({ "t": alice["refreshToken"] })).await;
    assert!(closed_without_data(&mut logged_out, seen).await.contains("会话已结束"));
    set_tenant_status(&app.deps, "xinnet", TenantStatus::Suspended).await.unwrap();
    assert!(closed_without_data(&mut backend, seen_own).await.contains("暂停"));
}

#[tokio::test]
async fn a_connection_closes_when_its_access_token_expires() {
    let database = TestDatabase::new().await;
    let app = spawn_app_with(database, |c| {
        c.auth.connection_check_seconds = 1;
        c.auth.access_token_ttl_seconds = 15;
        c.auth.clock_skew_seconds = 0;
    })
    .await;
    let cast = cast_on(app).await;
    let app = &cast.app;
    let alice = access(&session(app, "xinnet", "owner@example.com").await);
    let filing = app.create_filing(&alice, "北京示例科技有限公司").await;
    let mut socket = subscribe(app, Some(&alice), WATCH, json!({ "id": filing["id"] })).await;
    // The token was valid when the connection opened (acknowledged); a minute later it has expired. The filing's
    // creation may still be announced while the token is valid: nothing newer may arrive.
    let seen = filing["version"].as_i64().unwrap();
    assert!(closed_without_data(&mut socket, seen).await.contains("已过期"));
}
