//! Sign-up, sign-in, sessions, passwords, staff management and API keys.

use chrono::{Duration, Utc};
use serde_json::json;

use crate::helpers::*;
use crate::people::*;

const ME: &str = "{ me { kind name role apiKeyScope permissions account { email role status } tenant { slug } } }";

#[tokio::test]
async fn an_applicant_signs_up_verifies_the_address_and_signs_in() {
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    let registered = register(&app, "xinnet", " Alice@Example.com ").await;
    assert!(registered["registerApplicant"]["message"].as_str().unwrap().contains("inbox"));

    // Not yet verified: the right password hears why it cannot sign in.
    let (_, body) = login(&app, "xinnet", "alice@example.com", PASSWORD).await;
    assert_eq!(code(&body["errors"][0]), "UNAUTHENTICATED");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("确认电子邮箱"));

    let token = outbox_token(&app, "EMAIL_VERIFICATION", "alice@example.com").await;
    let query = format!("mutation($token: String!) {{ verifyEmail(token: $token) {{ {SESSION_FIELDS} }} }}");
    let session = anonymous(&app, &query, json!({ "token": token })).await["verifyEmail"].clone();
    assert_eq!(session["account"]["email"], "alice@example.com");
    assert_eq!(session["account"]["role"], "APPLICANT");
    assert_eq!(session["account"]["status"], "ACTIVE");

    let me = app.ok(&access(&session), ME, json!({})).await["me"].clone();
    assert_eq!(me["kind"], "ACCOUNT");
    assert_eq!(me["role"], "APPLICANT");
    assert_eq!(me["permissions"], json!(["READ_OWN_FILINGS", "EDIT_FILINGS", "READ_PERSONAL_DATA"]));
    assert_eq!(me["tenant"]["slug"], "xinnet");

    // The link works once.
    let error = anonymous_err(&app, &query, json!({ "token": token })).await;
    assert_eq!(fields(&error), vec![("token".to_owned(), "INVALID_TOKEN".to_owned())]);

    let signed_in = session_of(&app, "xinnet", "ALICE@example.com").await;
    assert_eq!(signed_in["account"]["id"], session["account"]["id"]);
}

async fn session_of(app: &TestApp, tenant: &str, email: &str) -> serde_json::Value {
    session(app, tenant, email).await
}

#[tokio::test]
async fn answers_never_tell_which_addresses_have_accounts() {
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    applicant(&app, "xinnet", "alice@example.com").await;

    // Sign-up with a known address answers as for a new one; the owner is told instead.
    let again = register(&app, "xinnet", "alice@example.com").await;
    let fresh = register(&app, "xinnet", "bob@example.com").await;
    assert_eq!(again, fresh);
    assert_eq!(outbox_count(&app, "ACCOUNT_EXISTS", "alice@example.com").await, 1);
    assert_eq!(outbox_count(&app, "EMAIL_VERIFICATION", "alice@example.com").await, 1);

    // A wrong password and an unknown address fail alike.
    let (s1, wrong_password) = login(&app, "xinnet", "alice@example.com", "not the password").await;
    let (s2, unknown) = login(&app, "xinnet", "nobody@example.com", PASSWORD).await;
    let (s3, no_tenant) = login(&app, "no-such-registrar", "alice@example.com", PASSWORD).await;
    assert_eq!((s1, s2, s3), (200, 200, 200));
    assert_eq!(wrong_password["errors"][0]["message"], unknown["errors"][0]["message"]);
    assert_eq!(wrong_password["errors"][0]["message"], no_tenant["errors"][0]["message"]);
    assert_eq!(code(&unknown["errors"][0]), "UNAUTHENTICATED");

    // Password reset: true either way, a message only for the real account.
    let reset = "mutation($t: String!, $e: String!) { requestPasswordReset(tenant: $t, email: $e) }";
    for email in ["alice@example.com", "nobody@example.com"] {
        let data = anonymous(&app, reset, json!({ "t": "xinnet", "e": email })).await;
        assert_eq!(data["requestPasswordReset"], true);
    }
    assert_eq!(outbox_count(&app, "PASSWORD_RESET", "alice@example.com").await, 1);
    assert_eq!(outbox_count(&app, "PASSWORD_RESET", "nobody@example.com").await, 0);
}

#[tokio::test]
async fn sign_up_validates_and_can_be_switched_off() {
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    let query = "mutation($input: RegisterApplicantInput!) { registerApplicant(input: $input) { message } }";
    let input = json!({ "tenant": "xinnet", "email": "not-an-email", "password": "short", "displayName": " " });
    let error = anonymous_err(&app, query, json!({ "input": input })).await;
    let mut got = fields(&error);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("displayName".to_owned(), "REQUIRED".to_owned()),
            ("email".to_owned(), "INVALID_EMAIL".to_owned()),
            ("password".to_owned(), "WEAK_PASSWORD".to_owned()),
        ]
    );

    let admin = first_admin(&app, "xinnet", "admin@xinnet.example").await;
    let update = "mutation($input: UpdateTenantSettingsInput!) { updateTenantSettings(input: $input) { openSignup } }";
    let data = app.ok(&access(&admin), update, json!({ "input": { "openSignup": false } })).await;
    assert_eq!(data["updateTenantSettings"]["openSignup"], false);
    let input = json!({ "tenant": "xinnet", "email": "carol@example.com", "password": PASSWORD, "displayName": "C" });
    let error = anonymous_err(&app, query, json!({ "input": input })).await;
    assert_eq!(code(&error), "FORBIDDEN");
    assert_eq!(outbox_count(&app, "EMAIL_VERIFICATION", "carol@example.com").await, 0);
}

const REFRESH: &str = "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }";

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replay_ends_the_whole_session_family() {
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    let first = applicant(&app, "xinnet", "alice@example.com").await;
    let other_device = session(&app, "xinnet", "alice@example.com").await;

    let second = anonymous(&app, REFRESH, json!({ "t": first["refreshToken"] })).await["refreshSession"].clone();
    assert_ne!(second["refreshToken"], first["refreshToken"]);
    app.ok(second["accessToken"].as_str().unwrap(), ME, json!({})).await;

    // The spent token comes back (stolen, or replayed): refused, and its family ends with it.
    let error = anonymous_err(&app, REFRESH, json!({ "t": first["refreshToken"] })).await;
    assert_eq!(code(&error), "UNAUTHENTICATED");
    let error = anonymous_err(&app, REFRESH, json!({ "t": second["refreshToken"] })).await;
    assert_eq!(code(&error), "UNAUTHENTICATED", "the descendant is revoked too");
    // Another sign-in is another family and lives on.
    let third = anonymous(&app, REFRESH, json!({ "t": other_device["refreshToken"] })).await["refreshSession"].clone();

    // Forged and logged-out tokens are refused.
    let error = anonymous_err(&app, REFRESH, json!({ "t": "beian_rt_forged" })).await;
    assert_eq!(code(&error), "UNAUTHENTICATED");
    let logout = "mutation($t: String!) { logout(refreshToken: $t) }";
    assert_eq!(anonymous(&app, logout, json!({ "t": third["refreshToken"] })).await["logout"], true);
    let error = anonymous_err(&app, REFRESH, json!({ "t": third["refreshToken"] })).await;
    assert_eq!(code(&error), "UNAUTHENTICATED");
    assert_eq!(anonymous(&app, logout, json!({ "t": "unknown" })).await["logout"], true);
}

#[tokio::test]
async fn expired_forged_and_tampered_access_tokens_are_refused() {
    let database = TestDatabase::new().await;
    let secret = database.config().auth.jwt_secret.clone().unwrap();
    let app = spawn_app_on(database).await;
    app.tenant("xinnet").await;
    let alice = applicant(&app, "xinnet", "alice@example.com").await;
    let account_id =
        beian::graphql::ids::decode(alice["account"]["id"].as_str().unwrap(), beian::graphql::ids::Kind::Account, "id")
            .unwrap();
    let tenant_id = beian::services::tenants::list_tenants(&app.deps).await.unwrap()[0].id;

    use secrecy::ExposeSecret;
    let signer =
        |key: &[u8]| beian::auth::tokens::TokenSigner::new(key, Duration::minutes(15), Duration::seconds(30)).unwrap();
    let real = signer(secret.expose_secret().as_bytes());
    let session = real.verify(alice["accessToken"].as_str().unwrap()).unwrap().sid;
    let (expired, _) = real.issue(tenant_id, account_id, session, "APPLICANT", Utc::now() - Duration::minutes(20));
    let (forged, _) = signer(&[7; 32]).issue(tenant_id, account_id, session, "ADMIN", Utc::now());
    let (valid, _) = real.issue(tenant_id, account_id, session, "APPLICANT", Utc::now());
    let mut tampered = valid.clone();
    tampered.replace_range(tampered.len() - 3.., "AAA");
    // Signed right, but naming another account's session, or none (as tokens did before they named one).
    let bob = applicant(&app, "xinnet", "bob@example.com").await;
    let bobs_session = real.verify(bob["accessToken"].as_str().unwrap()).unwrap().sid;
    let (borrowed, _) = real.issue(tenant_id, account_id, bobs_session, "APPLICANT", Utc::now());
    let now = Utc::now().timestamp();
    let claims = json!({ "sub": account_id, "tid": tenant_id, "role": "APPLICANT", "iss": "beian",
        "aud": "beian-api", "iat": now, "exp": now + 600 });
    let key = jsonwebtoken::EncodingKey::from_secret(secret.expose_secret().as_bytes()).unwrap();
    let sessionless = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap();

    for (name, token) in [
        ("expired", &expired),
        ("forged", &forged),
        ("tampered", &tampered),
        ("another account's session", &borrowed),
        ("without a session", &sessionless),
    ] {
        let (status, body) = app.post(Some(token), ME, json!({})).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(code(&body["errors"][0]), "UNAUTHENTICATED");
    }
    let (_, body) = app.post(Some(&expired), ME, json!({})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("已过期"));
    assert_eq!(app.ok(&valid, ME, json!({})).await["me"]["role"], "APPLICANT");
}

#[tokio::test]
async fn password_reset_and_change_end_the_old_sessions() {
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    let before = applicant(&app, "xinnet", "alice@example.com").await;

    let request = "mutation { requestPasswordReset(tenant: \"xinnet\", email: \"alice@example.com\") }";
    anonymous(&app, request, json!({})).await;
    let token = outbox_token(&app, "PASSWORD_RESET", "alice@example.com").await;
    let reset = "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
    let error = anonymous_err(&app, reset, json!({ "t": token, "p": "short" })).await;
    assert_eq!(fields(&error), vec![("newPassword".to_owned(), "WEAK_PASSWORD".to_owned())]);
    anonymous(&app, reset, json!({ "t": token, "p": "a brand new passphrase" })).await;
    let error = anonymous_err(&app, reset, json!({ "t": token, "p": "yet another passphrase" })).await;
    assert_eq!(fields(&error), vec![("token".to_owned(), "INVALID_TOKEN".to_owned())], "single use");

    assert_eq!(code(&anonymous_err(&app, REFRESH, json!({ "t": before["refreshToken"] })).await), "UNAUTHENTICATED");
    let (_, old) = login(&app, "xinnet", "alice@example.com", PASSWORD).await;
    assert_eq!(code(&old["errors"][0]), "UNAUTHENTICATED");
    let (_, new) = login(&app, "xinnet", "alice@example.com", "a brand new passphrase").await;
    let current = new["data"]["login"].clone();
    let other = login(&app, "xinnet", "alice@example.com", "a brand new passphrase").await.1["data"]["login"].clone();

    let change = format!(
        "mutation($c: String!, $n: String!) {{ changePassword(currentPassword: $c, newPassword: $n) {{ {SESSION_FIELDS} }} }}"
    );
    let error = app.err(&access(&current), &change, json!({ "c": "wrong password", "n": "third passphrase!" })).await;
    assert_eq!(fields(&error), vec![("currentPassword".to_owned(), "WRONG_PASSWORD".to_owned())]);
    let changed = app
        .ok(&access(&current), &change, json!({ "c": "a brand new passphrase", "n": "third passphrase!" }))
        .await["changePassword"]
        .clone();
    assert_eq!(code(&anonymous_err(&app, REFRESH, json!({ "t": other["refreshToken"] })).await), "UNAUTHENTICATED");
    anonymous(&app, REFRESH, json!({ "t": changed["refreshToken"] })).await;
    assert_eq!(outbox_count(&app, "PASSWORD_CHANGED", "alice@example.com").await, 1);
}

#[tokio::test]
async fn login_is_throttled_per_account() {
    let app = spawn_app_with(TestDatabase::new().await, |c| c.auth.login_attempts_per_account = 3).await;
    app.tenant("xinnet").await;
    applicant(&app, "xinnet", "alice@example.com").await;
    for _ in 0..3 {
        let (_, body) = login(&app, "xinnet", "alice@example.com", "guess").await;
        assert_eq!(code(&body["errors"][0]), "UNAUTHENTICATED");
    }
    // Even the right password waits now, and an unknown address is throttled the same way.
    let (_, body) = login(&app, "xinnet", "alice@example.com", PASSWORD).await;
    assert_eq!(code(&body["errors"][0]), "RATE_LIMITED", "{body}");
    assert!(body["errors"][0]["extensions"]["retryAfterSeconds"].as_u64().unwrap() > 60);
    for _ in 0..3 {
        login(&app, "xinnet", "ghost@example.com", "guess").await;
    }
    let (_, body) = login(&app, "xinnet", "ghost@example.com", "guess").await;
    assert_eq!(code(&body["errors"][0]), "RATE_LIMITED");
    // Other accounts are not affected.
    applicant(&app, "xinnet", "bob@example.com").await;
    session(&app, "xinnet", "bob@example.com").await;
}

#[tokio::test]
async fn login_is_throttled_per_client_address() {
    let app = spawn_app_with(TestDatabase::new().await, |c| c.auth.login_attempts_per_address = 5).await;
    app.tenant("xinnet").await;
    // Five a minute: a slot comes back every 12 s. Slow sign-ins (argon2 on a loaded machine) may earn one more
    // attempt per 12 s elapsed, never more; the first five are never refused.
    let start = std::time::Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (_, body) = login(&app, "xinnet", &format!("user{attempts}@example.com"), "guess").await;
        if code(&body["errors"][0]) == "RATE_LIMITED" {
            break;
        }
        assert_eq!(code(&body["errors"][0]), "UNAUTHENTICATED");
        let allowed = 5 + start.elapsed().as_secs() / 12;
        assert!(
            attempts <= allowed,
            "{attempts} attempts from one address in {:?} were not throttled",
            start.elapsed()
        );
    }
    assert!(attempts > 5, "refused after {} attempts: the first five must be allowed", attempts - 1);
}

#[tokio::test]
async fn administrators_manage_staff_and_keep_at_least_one_administrator() {
    let app = spawn_app().await;
    app.tenant("xinnet").await;
    let admin = first_admin(&app, "xinnet", "admin@xinnet.example").await;
    let admin_token = access(&admin);
    let me = app.ok(&admin_token, ME, json!({})).await["me"].clone();
    assert_eq!(
        me["permissions"],
        json!(["READ_ALL_FILINGS", "MANAGE_ACCOUNTS", "MANAGE_API_KEYS", "MANAGE_SETTINGS", "MANAGE_WEBHOOKS"])
    );

    let reviewer = staff(&app, &admin_token, "reviewer@xinnet.example", "REVIEWER").await;
    assert_eq!(reviewer["account"]["role"], "REVIEWER");
    let reviewer_id = reviewer["account"]["id"].clone();

    // Duplicates and applicants-as-staff are refused.
    let invite = "mutation($input: InviteStaffInput!) { inviteStaff(input: $input) { id } }";
    let dup = json!({ "email": "REVIEWER@xinnet.example", "displayName": "X", "role": "REVIEWER" });
    assert_eq!(fields(&app.err(&admin_token, invite, json!({ "input": dup })).await)[0].1, "DUPLICATE");
    let applicant_role = json!({ "email": "a@xinnet.example", "displayName": "X", "role": "APPLICANT" });
    assert_eq!(fields(&app.err(&admin_token, invite, json!({ "input": applicant_role })).await)[0].0, "role");

    let list = "{ accounts(filter: { role: [REVIEWER, ADMIN] }) { edges { node { email role status } } } }";
    let accounts = app.ok(&admin_token, list, json!({})).await["accounts"]["edges"].clone();
    assert_eq!(accounts.as_array().unwrap().len(), 2);

    // The last administrator cannot demote or disable themself.
    let role = "mutation($id: ID!, $role: Role!) { updateAccountRole(accountId: $id, role: $role) { role } }";
    let error = app.err(&admin_token, role, json!({ "id": admin["account"]["id"], "role": "REVIEWER" })).await;
    assert_eq!(fields(&error), vec![("accountId".to_owned(), "LAST_ADMIN".to_owned())]);
    let promoted = app.ok(&admin_token, role, json!({ "id": reviewer_id, "role": "ADMIN" })).await;
    assert_eq!(promoted["updateAccountRole"]["role"], "ADMIN");
    // The new role applies to the very next request, without signing in again.
    let me = app.ok(&access(&reviewer), ME, json!({})).await["me"].clone();
    assert_eq!(me["role"], "ADMIN");
    app.ok(&admin_token, role, json!({ "id": reviewer_id, "role": "REVIEWER" })).await;

    // Disabling ends the sessions at once.
    let disable = "mutation($id: ID!) { disableAccount(accountId: $id) { status } }";
    let data = app.ok(&admin_token, disable, json!({ "id": reviewer_id })).await;
    assert_eq!(data["disableAccount"]["status"], "DISABLED");
    let (status, _) = app.post(Some(&access(&reviewer)), ME, json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(code(&anonymous_err(&app, REFRESH, json!({ "t": reviewer["refreshToken"] })).await), "UNAUTHENTICATED");
    let (_, body) = login(&app, "xinnet", "reviewer@xinnet.example", PASSWORD).await;
    assert_eq!(code(&body["errors"][0]), "UNAUTHENTICATED");
    let error = app.err(&admin_token, disable, json!({ "id": admin["account"]["id"] })).await;
    assert_eq!(code(&error), "BAD_USER_INPUT");

    let enable = "mutation($id: ID!) { enableAccount(accountId: $id) { status } }";
    assert_eq!(app.ok(&admin_token, enable, json!({ "id": reviewer_id })).await["enableAccount"]["status"], "ACTIVE");
    session(&app, "xinnet", "reviewer@xinnet.example").await;
}

#[tokio::test]
async fn api_keys_are_created_scoped_and_revoked_by_administrators() {
    let app = spawn_app().await;
    let backend = app.tenant("xinnet").await;
    let admin = access(&first_admin(&app, "xinnet", "admin@xinnet.example").await);
    let create = "mutation($name: String!, $scope: ApiKeyScope!) {
        createApiKey(name: $name, scope: $scope) { secret apiKey { id name prefix scope revokedAt } } }";
    let created =
        app.ok(&admin, create, json!({ "name": "reporting", "scope": "READ_ONLY" })).await["createApiKey"].clone();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(created["apiKey"]["prefix"].as_str().unwrap()));

    // A read-only key reads, and is refused every change.
    app.create_filing(&backend, "北京示例科技有限公司").await;
    let count = app.ok(&secret, "{ filings { totalCount } }", json!({})).await;
    assert_eq!(count["filings"]["totalCount"], 1);
    let error = app.err(&secret, &CREATE, json!({ "input": filing_input("只读公司") })).await;
    assert_eq!(code(&error), "FORBIDDEN");
    let me = app.ok(&secret, ME, json!({})).await["me"].clone();
    assert_eq!((me["kind"].clone(), me["apiKeyScope"].clone()), (json!("API_KEY"), json!("READ_ONLY")));
    assert_eq!(me["permissions"], json!(["READ_ALL_FILINGS"]));

    let keys = app.ok(&admin, "{ apiKeys { name scope } }", json!({})).await["apiKeys"].clone();
    assert_eq!(keys, json!([{ "name": "reporting", "scope": "READ_ONLY" }, { "name": "default", "scope": "FULL" }]));
    let revoke = "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }";
    let revoked = app.ok(&admin, revoke, json!({ "id": created["apiKey"]["id"] })).await;
    assert!(revoked["revokeApiKey"]["revokedAt"].is_string());
    let (status, _) = app.post(Some(&secret), "{ filings { totalCount } }", json!({})).await;
    assert_eq!(status, 401);

    // Keys cannot manage keys: that takes a person with the administrator role.
    let error = app.err(&backend, create, json!({ "name": "sneaky", "scope": "FULL" })).await;
    assert_eq!(code(&error), "FORBIDDEN");
}
