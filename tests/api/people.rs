//! Helpers for tests with people: sign-up, sign-in, staff, and reading the outbox.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::*;

pub const SESSION_FIELDS: &str =
    "accessToken accessTokenExpiresAt refreshToken refreshTokenExpiresAt account { id email displayName role status }";

pub const PASSWORD: &str = "correct horse battery staple";

/// The messages of `template` to `recipient`, newest first (recipients are sealed at rest: each is opened).
pub async fn outbox_messages(app: &TestApp, template: &str, recipient: &str) -> Vec<entity::outbox_message::Model> {
    let keys = &app.deps.keys;
    entity::outbox_message::Entity::find()
        .filter(entity::outbox_message::Column::Template.eq(template))
        .order_by_desc(entity::outbox_message::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| keys.open(m.tenant_id, &m.recipient).unwrap() == recipient)
        .collect()
}

/// The token in the newest queued message of `template` to `recipient`.
pub async fn outbox_token(app: &TestApp, template: &str, recipient: &str) -> String {
    let messages = outbox_messages(app, template, recipient).await;
    let message = messages.first().unwrap_or_else(|| panic!("no {template} message to {recipient}"));
    message.payload["token"].as_str().expect("a token in the message").to_owned()
}

/// How many messages of `template` went to `recipient`.
pub async fn outbox_count(app: &TestApp, template: &str, recipient: &str) -> usize {
    outbox_messages(app, template, recipient).await.len()
}

/// Runs a GraphQL request without credentials that must succeed.
pub async fn anonymous(app: &TestApp, query: &str, variables: Value) -> Value {
    let (status, body) = app.post(None, query, variables).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

/// Runs a GraphQL request without credentials that must fail; returns the first error.
pub async fn anonymous_err(app: &TestApp, query: &str, variables: Value) -> Value {
    let (_, body) = app.post(None, query, variables).await;
    body["errors"].as_array().unwrap_or_else(|| panic!("expected errors: {body}"))[0].clone()
}

pub async fn register(app: &TestApp, tenant: &str, email: &str) -> Value {
    let query = "mutation($input: RegisterApplicantInput!) { registerApplicant(input: $input) { message } }";
    let input = json!({ "tenant": tenant, "email": email, "password": PASSWORD, "displayName": "申请人" });
    anonymous(app, query, json!({ "input": input })).await
}

/// Registers and verifies an applicant; returns the session.
pub async fn applicant(app: &TestApp, tenant: &str, email: &str) -> Value {
    register(app, tenant, email).await;
    let token = outbox_token(app, "EMAIL_VERIFICATION", email).await;
    let query = format!("mutation($token: String!) {{ verifyEmail(token: $token) {{ {SESSION_FIELDS} }} }}");
    anonymous(app, &query, json!({ "token": token })).await["verifyEmail"].clone()
}

pub async fn login(app: &TestApp, tenant: &str, email: &str, password: &str) -> (u16, Value) {
    let query = format!("mutation($input: LoginInput!) {{ login(input: $input) {{ {SESSION_FIELDS} }} }}");
    app.post(None, &query, json!({ "input": { "tenant": tenant, "email": email, "password": password } })).await
}

/// Signs in and returns the session.
pub async fn session(app: &TestApp, tenant: &str, email: &str) -> Value {
    let (_, body) = login(app, tenant, email, PASSWORD).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["login"].clone()
}

pub fn access(session: &Value) -> String {
    session["accessToken"].as_str().unwrap().to_owned()
}

/// Creates the first administrator of a tenant (as `beian tenant create --admin-email` does) and signs in.
pub async fn first_admin(app: &TestApp, slug: &str, email: &str) -> Value {
    let tenant = beian::services::tenants::list_tenants(&app.deps)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.slug == slug)
        .expect("tenant exists");
    let (_, token) = beian::services::accounts::create_first_admin(&app.deps, tenant.id, email).await.unwrap();
    complete_setup(app, &token).await
}

pub async fn complete_setup(app: &TestApp, token: &str) -> Value {
    let query = format!(
        "mutation($token: String!, $password: String!) {{ completeAccountSetup(token: $token, password: $password) {{ {SESSION_FIELDS} }} }}"
    );
    anonymous(app, &query, json!({ "token": token, "password": PASSWORD })).await["completeAccountSetup"].clone()
}

/// Invites staff with the admin's token, completes the setup and returns the staff session.
pub async fn staff(app: &TestApp, admin: &str, email: &str, role: &str) -> Value {
    let query = "mutation($input: InviteStaffInput!) { inviteStaff(input: $input) { id status role } }";
    let input = json!({ "email": email, "displayName": format!("{role} 员工"), "role": role });
    let invited = app.ok(admin, query, json!({ "input": input })).await["inviteStaff"].clone();
    assert_eq!(invited["status"], "INVITED");
    let token = outbox_token(app, "STAFF_INVITATION", email).await;
    complete_setup(app, &token).await
}
