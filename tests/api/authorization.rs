//! Who may do what: every operation with every kind of caller, through the GraphQL API.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::people::*;

/// Outcome of a request: "ok" or the error code.
async fn outcome(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> String {
    let (_, body) = app.post(token, query, variables).await;
    match body.get("errors") {
        None => "ok".to_owned(),
        Some(errors) => errors[0]["extensions"]["code"].as_str().unwrap_or("NO_CODE").to_owned(),
    }
}

#[tokio::test]
async fn role_by_operation_matrix() {
    let app = spawn_app().await;
    let full_key = app.tenant("xinnet").await;
    let admin = access(&first_admin(&app, "xinnet", "admin@xinnet.example").await);
    let reviewer = access(&staff(&app, &admin, "reviewer@xinnet.example", "REVIEWER").await);
    let owner = access(&applicant(&app, "xinnet", "owner@example.com").await);
    let other_applicant = access(&applicant(&app, "xinnet", "other@example.com").await);
    let create_key = "mutation($scope: ApiKeyScope!) { createApiKey(name: \"k\", scope: $scope) { secret } }";
    let read_only = app.ok(&admin, create_key, json!({ "scope": "READ_ONLY" })).await["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_tenant_key = app.tenant("other").await;
    let other_tenant_admin = access(&first_admin(&app, "other", "admin@other.example").await);

    let filing = app.create_filing(&owner, "申请人自己的公司").await;
    let admin_id = app.ok(&admin, "{ me { account { id } } }", json!({})).await["me"]["account"]["id"].clone();

    let callers: Vec<(&str, Option<&str>)> = vec![
        ("owner", Some(&owner)),
        ("other applicant", Some(&other_applicant)),
        ("reviewer", Some(&reviewer)),
        ("admin", Some(&admin)),
        ("full key", Some(&full_key)),
        ("read-only key", Some(&read_only)),
        ("anonymous", None),
        ("other tenant admin", Some(&other_tenant_admin)),
        ("other tenant key", Some(&other_tenant_key)),
    ];
    const NF: &str = "NOT_FOUND";
    const FB: &str = "FORBIDDEN";
    const UA: &str = "UNAUTHENTICATED";
    let update = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }";
    let operations: Vec<(&str, String, Value, [&str; 9])> = vec![
        ("read the filing", GET.clone(), json!({ "id": filing["id"] }), ["ok", NF, "ok", "ok", "ok", "ok", UA, NF, NF]),
        (
            "read its website through node",
            "query($id: ID!) { node(id: $id) { id } }".to_owned(),
            json!({ "id": filing["websites"][0]["id"] }),
            ["ok", NF, "ok", "ok", "ok", "ok", UA, NF, NF],
        ),
        (
            "read its audit event through node",
            "query($id: ID!) { node(id: $id) { id } }".to_owned(),
            json!({ "id": filing["events"][0]["id"] }),
            ["ok", NF, "ok", "ok", "ok", "ok", UA, NF, NF],
        ),
        (
            "edit the filing",
            update.to_owned(),
            Value::Null, // filled in with the current version below
            ["ok", NF, FB, FB, "ok", FB, UA, FB, NF],
        ),
        (
            "create a filing",
            CREATE.clone(),
            json!({ "input": filing_input("新的公司") }),
            ["ok", "ok", FB, FB, "ok", FB, UA, FB, "ok"],
        ),
        (
            "list accounts",
            "{ accounts { edges { node { id } } } }".to_owned(),
            json!({}),
            [FB, FB, FB, "ok", FB, FB, UA, "ok", FB],
        ),
        (
            "read another account",
            "query($id: ID!) { account(id: $id) { email } }".to_owned(),
            json!({ "id": admin_id }),
            [NF, NF, NF, "ok", NF, NF, UA, NF, NF],
        ),
        (
            "invite staff",
            "mutation { inviteStaff(input: { email: \"new@x.example\", displayName: \"N\", role: REVIEWER }) { id } }"
                .to_owned(),
            json!({}),
            [FB, FB, FB, "ok", FB, FB, UA, "ok", FB],
        ),
        (
            "create an API key",
            "mutation { createApiKey(name: \"n\", scope: FULL) { secret } }".to_owned(),
            json!({}),
            [FB, FB, FB, "ok", FB, FB, UA, "ok", FB],
        ),
        ("list API keys", "{ apiKeys { id } }".to_owned(), json!({}), [FB, FB, FB, "ok", FB, FB, UA, "ok", FB]),
        (
            "change settings",
            "mutation { updateTenantSettings(input: { name: \"新网\" }) { name } }".to_owned(),
            json!({}),
            [FB, FB, FB, "ok", FB, FB, UA, "ok", FB],
        ),
        ("read me", "{ me { kind } }".to_owned(), json!({}), ["ok", "ok", "ok", "ok", "ok", "ok", UA, "ok", "ok"]),
    ];

    let mut mismatches = Vec::new();
    for (name, query, variables, expected) in &operations {
        for ((caller, token), want) in callers.iter().zip(expected.iter()) {
            let variables = if variables.is_null() {
                let version = app.ok(&full_key, &GET, json!({ "id": filing["id"] })).await["filing"]["version"].clone();
                json!({ "input": { "filingId": filing["id"], "version": version,
                    "subject": subject_input(&format!("{caller} 改名有限公司")) } })
            } else {
                variables.clone()
            };
            let got = outcome(&app, *token, query, variables).await;
            if got != *want {
                mismatches.push(format!("{name} as {caller}: expected {want}, got {got}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");

    // Staff see who filed; the applicant sees itself; filings a backend created have no applicant.
    let who = "query($id: ID!) { filing(id: $id) { applicant { email role } } }";
    let seen_by_reviewer = app.ok(&reviewer, who, json!({ "id": filing["id"] })).await;
    assert_eq!(seen_by_reviewer["filing"]["applicant"], json!({ "email": "owner@example.com", "role": "APPLICANT" }));
    let seen_by_owner = app.ok(&owner, who, json!({ "id": filing["id"] })).await;
    assert_eq!(seen_by_owner["filing"]["applicant"]["email"], "owner@example.com");
    let by_backend = app.create_filing(&full_key, "后台创建的公司").await;
    assert_eq!(app.ok(&admin, who, json!({ "id": by_backend["id"] })).await["filing"]["applicant"], json!(null));

    // What the list shows follows the same rule.
    let count = |token: String| {
        let app = &app;
        async move { app.ok(&token, "{ filings { totalCount } }", json!({})).await["filings"]["totalCount"].clone() }
    };
    // owner: its own filing plus the one it created in the matrix; other applicant: the one it created.
    assert_eq!(count(owner.clone()).await, 2);
    assert_eq!(count(other_applicant.clone()).await, 1);
    assert_eq!(count(reviewer.clone()).await, 5, "the owner's two, the other applicant's, the full key's two");
    assert_eq!(count(other_tenant_admin.clone()).await, 1, "only the other tenant's own filing");
}

#[tokio::test]
async fn accounts_and_keys_of_another_tenant_are_not_found() {
    let app = spawn_app().await;
    app.tenant("alice").await;
    app.tenant("bob").await;
    let alice_admin = access(&first_admin(&app, "alice", "admin@alice.example").await);
    let bob_admin = access(&first_admin(&app, "bob", "admin@bob.example").await);
    let alice_account =
        app.ok(&alice_admin, "{ me { account { id } } }", json!({})).await["me"]["account"]["id"].clone();
    let alice_key = app.ok(&alice_admin, "{ apiKeys { id } }", json!({})).await["apiKeys"][0]["id"].clone();

    for query in ["query($id: ID!) { node(id: $id) { id } }", "query($id: ID!) { account(id: $id) { id } }"] {
        assert_eq!(code(&app.err(&bob_admin, query, json!({ "id": alice_account })).await), "NOT_FOUND");
    }
    assert_eq!(
        code(&app.err(&bob_admin, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": alice_key })).await),
        "NOT_FOUND"
    );
    let mutations = [
        "mutation($id: ID!) { disableAccount(accountId: $id) { id } }",
        "mutation($id: ID!) { enableAccount(accountId: $id) { id } }",
        "mutation($id: ID!) { updateAccountRole(accountId: $id, role: REVIEWER) { id } }",
    ];
    for mutation in mutations {
        assert_eq!(
            code(&app.err(&bob_admin, mutation, json!({ "id": alice_account })).await),
            "NOT_FOUND",
            "{mutation}"
        );
    }
    let revoke = "mutation($id: ID!) { revokeApiKey(id: $id) { id } }";
    assert_eq!(code(&app.err(&bob_admin, revoke, json!({ "id": alice_key })).await), "NOT_FOUND");
    // Alice's administrator is untouched.
    assert_eq!(
        app.ok(&alice_admin, "{ me { account { status role } } }", json!({})).await["me"]["account"],
        json!({ "status": "ACTIVE", "role": "ADMIN" })
    );

    // The same email may hold accounts at both registrars, each with its own password and filings.
    applicant(&app, "alice", "same@example.com").await;
    applicant(&app, "bob", "same@example.com").await;
    let at_alice = access(&session(&app, "alice", "same@example.com").await);
    app.create_filing(&at_alice, "在爱丽丝注册商的公司").await;
    let at_bob = access(&session(&app, "bob", "same@example.com").await);
    assert_eq!(app.ok(&at_bob, "{ filings { totalCount } }", json!({})).await["filings"]["totalCount"], 0);
}
