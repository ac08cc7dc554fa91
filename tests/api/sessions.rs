//! Credentials that died stop working everywhere: access tokens are bound to their session (logout, password change
//! or reset, refresh-token replay, disabling end them on the next request).

use serde_json::json;

use crate::helpers::*;
use crate::people::*;

const ME: &str = "{ me { kind role } }";
const REFRESH: &str = "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }";
const LOGOUT: &str = "mutation($t: String!) { logout(refreshToken: $t) }";

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
        assert!(refused(&app, &token).await.contains("session has ended"));
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
    assert!(refused(&app, &access(&reviewer)).await.contains("session has ended"));
    let fresh = session(&app, "xinnet", "reviewer@xinnet.example").await;
    assert_eq!(app.ok(&access(&fresh), ME, json!({})).await["me"]["role"], "REVIEWER");
}

#[tokio::test]
async fn a_suspended_registrars_access_tokens_are_refused() {
    use beian::services::tenants::{TenantStatus, set_tenant_status};
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    let alice = access(&applicant(&app, "xinnet", "alice@example.com").await);
    set_tenant_status(&app.db, "xinnet", TenantStatus::Suspended).await.unwrap();
    assert!(refused(&app, &alice).await.contains("suspended"));
    set_tenant_status(&app.db, "xinnet", TenantStatus::Active).await.unwrap();
    app.ok(&alice, ME, json!({})).await;
}
