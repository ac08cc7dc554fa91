//! OWASP API1, broken object level authorization: every root field of `schema.graphql` that takes an ID (as an
//! argument, inside an input object, or as a list cursor) is called with the IDs of objects of another registrar, and
//! of another applicant of the same registrar.
//!
//! The rules the cases assert:
//! - A caller whose role could make the call on an object of its own gets NOT_FOUND for someone else's object: never
//!   data, never FORBIDDEN (which would tell that the object exists).
//! - A caller whose role may never make the call (an applicant recording MIIT's SMS results, a reviewer editing a
//!   subject) may get FORBIDDEN instead, because that answer does not depend on the ID.
//! - Either way, the answer to a foreign ID is exactly the answer to an ID that never existed (same code, same refused
//!   fields): the answer tells nothing about the other registrar's or applicant's objects.
//! - An ID that only narrows or positions a list of the caller's own objects (a filter, a cursor), or that names an
//!   object of someone else inside an input whose other IDs are the caller's own, is answered exactly as an ID that
//!   never existed: the caller's own (possibly empty) list, or the same refusal.
//! - Nothing changes: both registrars' data (every filing with its websites, materials, SMS checks, hand-offs, mail and
//!   audit trail, the accounts, API keys and notifications) reads the same before and after the attacks.
//! - Every case reaches the ownership check: afterwards the object's owner makes the very same call, and it succeeds.
//!
//! `every_id_taking_root_field_has_a_bola_case` parses the schema and fails, naming the field, when a root field takes
//! an ID that [`COVERED`] does not list; each group of cases checks that it exercises exactly what [`COVERED`] says.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{
    BaseType, FieldDefinition, InputValueDefinition, Type, TypeKind, TypeSystemDefinition,
};
use sea_orm::prelude::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::attachments::{COMPLETE, REQUEST, pdf, png, put, sha256, upload_input};
use crate::helpers::*;
use crate::people::*;
use crate::workflow::{act, confirm_all_sms, next_message, numbered_filing, step, subscribe, upload_materials};

/// Every root field that takes an ID, with the ID arguments (paths into input objects; `[]` for a list) its cases
/// make foreign, by the test that covers them. A field added to the schema with an ID argument fails
/// `every_id_taking_root_field_has_a_bola_case` until it is listed here and has its cases.
const COVERED: &[(&str, &str, &[&str])] = &[
    ("reads", "Query.filing", &["id"]),
    ("reads", "Query.node", &["id"]),
    ("reads", "Query.nodes", &["ids[]"]),
    ("reads", "Query.account", &["id"]),
    ("reads", "Query.previewEmail", &["filingId"]),
    ("reads", "Query.notifications", &["filter.filingId"]),
    ("cursors", "Query.filings", &["after"]),
    ("cursors", "Query.accounts", &["after"]),
    ("cursors", "Query.notifications", &["after"]),
    ("cursors", "Query.reviewQueue", &["after"]),
    ("cursors", "Query.filingEvents", &["after"]),
    ("edits", "Mutation.updateFilingSubject", &["input.filingId"]),
    ("edits", "Mutation.addWebsite", &["input.filingId"]),
    ("edits", "Mutation.updateWebsite", &["input.websiteId"]),
    ("edits", "Mutation.removeWebsite", &["input.websiteId"]),
    ("edits", "Mutation.submitFiling", &["input.filingId"]),
    ("edits", "Mutation.withdrawFiling", &["input.filingId"]),
    ("edits", "Mutation.abandonFiling", &["input.filingId"]),
    ("review", "Mutation.claimReview", &["input.filingId"]),
    ("review", "Mutation.releaseReview", &["input.filingId"]),
    ("review", "Mutation.approvePreliminaryReview", &["input.filingId"]),
    ("review", "Mutation.rejectPreliminaryReview", &["input.filingId"]),
    ("review", "Mutation.recordSmsVerification", &["checkId"]),
    ("review", "Mutation.resubmitToMiit", &["input.filingId"]),
    ("review", "Mutation.returnToApplicant", &["input.filingId"]),
    ("records", "Mutation.recordBureauDecision", &["input.filingId", "input.approved.websites[].websiteId"]),
    ("records", "Mutation.startOrder", &["input.filingId", "input.websiteIds[]"]),
    ("materials", "Mutation.requestAttachmentUpload", &["input.filingId", "input.websiteId"]),
    ("materials", "Mutation.uploadAttachment", &["input.filingId", "input.websiteId"]),
    ("materials", "Mutation.completeAttachmentUpload", &["id"]),
    ("materials", "Mutation.deleteAttachment", &["id"]),
    ("materials", "Mutation.reviewAttachment", &["id"]),
    ("mobile", "Mutation.startMobileVerification", &["input.filingId", "input.websiteId"]),
    ("mobile", "Mutation.revokeMobileVerification", &["id"]),
    ("mobile", "Mutation.completeMobileUpload", &["id"]),
    ("people", "Mutation.disableAccount", &["accountId"]),
    ("people", "Mutation.enableAccount", &["accountId"]),
    ("people", "Mutation.updateAccountRole", &["accountId"]),
    ("people", "Mutation.revokeApiKey", &["id"]),
    ("people", "Mutation.retryNotification", &["id"]),
    ("webhooks", "Mutation.updateWebhookEndpoint", &["input.id"]),
    ("webhooks", "Mutation.deleteWebhookEndpoint", &["id"]),
    ("webhooks", "Mutation.rotateWebhookEndpointSecret", &["id"]),
    ("webhooks", "Mutation.pingWebhookEndpoint", &["id"]),
    ("webhooks", "Mutation.redeliverWebhook", &["deliveryId"]),
    ("subscription", "Subscription.filingUpdated", &["id"]),
];

/// The types `node(id:)` resolves; the `reads` cases try another owner's object of each.
const NODE_KINDS: &[&str] = &[
    "Account",
    "ApiKey",
    "Attachment",
    "Filing",
    "FilingEvent",
    "MobileVerification",
    "Notification",
    "SmsCheck",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Website",
];

// -------------------------------------------------------------------------------------------------------------------
// Completeness
// -------------------------------------------------------------------------------------------------------------------

#[test]
fn every_id_taking_root_field_has_a_bola_case() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    let found = Sdl::parse(&text).id_taking_root_fields();
    // The reader itself: a plain argument, one inside an input, one inside a list inside an input, a cursor.
    assert_eq!(found["Query.filing"], set(&["id"]));
    assert_eq!(found["Mutation.recordBureauDecision"], set(&["input.filingId", "input.approved.websites[].websiteId"]));
    assert_eq!(found["Query.reviewQueue"], set(&["after"]));
    assert!(!found.contains_key("Query.me") && !found.contains_key("Mutation.login"), "{found:#?}");
    let problems = uncovered(&text);
    assert!(problems.is_empty(), "ID-taking fields without BOLA cases:\n{}", problems.join("\n"));

    // The check fails, naming the field, for a new field with an ID, and for a new ID inside an existing input.
    let grown = text
        .replacen("type MutationRoot {", "type MutationRoot {\n\tarchiveFiling(filingId: ID!): Filing!", 1)
        .replacen("input FilingFilterInput {", "input FilingFilterInput {\n\townerId: ID", 1);
    let problems = uncovered(&grown);
    assert!(problems.iter().any(|p| p.starts_with("Mutation.archiveFiling takes an ID (filingId)")), "{problems:#?}");
    assert!(problems.iter().any(|p| p.starts_with("Query.filings: the schema's ID arguments")), "{problems:#?}");
}

/// What the schema `text` has that the cases do not cover (or the other way round).
fn uncovered(text: &str) -> Vec<String> {
    let sdl = Sdl::parse(text);
    let found = sdl.id_taking_root_fields();
    let mut covered: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, field, arguments) in COVERED {
        covered.entry(field.to_string()).or_default().extend(arguments.iter().map(|a| a.to_string()));
    }
    let mut problems = Vec::new();
    for (field, arguments) in &found {
        match covered.get(field) {
            None => problems.push(format!(
                "{field} takes an ID ({}) but has no BOLA case: add its cases and list it in COVERED in \
                 tests/api/bola.rs",
                arguments.iter().cloned().collect::<Vec<_>>().join(", ")
            )),
            Some(listed) if listed != arguments => problems
                .push(format!("{field}: the schema's ID arguments are {arguments:?}, the BOLA cases cover {listed:?}")),
            Some(_) => {}
        }
    }
    for field in covered.keys().filter(|f| !found.contains_key(*f)) {
        problems.push(format!("{field} is in COVERED but takes no ID in the schema (renamed or removed?)"));
    }
    let nodes: BTreeSet<String> = sdl
        .implements
        .iter()
        .filter(|(_, interfaces)| interfaces.iter().any(|i| i == "Node"))
        .map(|(t, _)| t.clone())
        .collect();
    if nodes != set(NODE_KINDS) {
        problems.push(format!("node(id:) resolves {nodes:?}; the BOLA cases try {:?}", set(NODE_KINDS)));
    }
    problems
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Just enough of `schema.graphql` for this check, as async-graphql's parser reads it: the operation roots, the object
/// types (with the interfaces they implement) and the input types.
#[derive(Default, Debug)]
struct Sdl {
    roots: BTreeMap<&'static str, String>,
    objects: BTreeMap<String, Vec<FieldDefinition>>,
    inputs: BTreeMap<String, Vec<InputValueDefinition>>,
    implements: BTreeMap<String, Vec<String>>,
}

impl Sdl {
    fn parse(text: &str) -> Sdl {
        let document = parse_schema(text).unwrap_or_else(|e| panic!("the schema does not parse: {e}"));
        let mut sdl = Sdl::default();
        for definition in document.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    let schema = schema.node;
                    for (operation, root) in
                        [("query", schema.query), ("mutation", schema.mutation), ("subscription", schema.subscription)]
                    {
                        if let Some(root) = root {
                            sdl.roots.insert(operation, root.node.to_string());
                        }
                    }
                }
                TypeSystemDefinition::Type(ty) => {
                    let name = ty.node.name.node.to_string();
                    match ty.node.kind {
                        TypeKind::Object(object) => {
                            sdl.implements
                                .insert(name.clone(), object.implements.iter().map(|i| i.node.to_string()).collect());
                            sdl.objects.insert(name, object.fields.into_iter().map(|f| f.node).collect());
                        }
                        TypeKind::InputObject(input) => {
                            sdl.inputs.insert(name, input.fields.into_iter().map(|f| f.node).collect());
                        }
                        _ => {}
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        sdl
    }

    /// `Query.field` / `Mutation.field` / `Subscription.field` to the paths of its ID arguments (and cursors).
    fn id_taking_root_fields(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out = BTreeMap::new();
        for (operation, label) in [("query", "Query"), ("mutation", "Mutation"), ("subscription", "Subscription")] {
            let root = self.roots.get(operation).cloned().unwrap_or_else(|| label.to_owned());
            let fields = self.objects.get(&root).unwrap_or_else(|| panic!("the schema has no {root} type"));
            for field in fields {
                let mut paths = BTreeSet::new();
                for argument in &field.arguments {
                    let argument = &argument.node;
                    // A cursor names a position in someone's list: it counts as an ID.
                    if argument.name.node == "after" {
                        paths.insert("after".to_owned());
                    }
                    self.id_paths(&argument.ty.node, argument.name.node.to_string(), &mut Vec::new(), &mut paths);
                }
                if !paths.is_empty() {
                    out.insert(format!("{label}.{}", field.name.node), paths);
                }
            }
        }
        out
    }

    fn id_paths<'a>(&'a self, ty: &'a Type, path: String, seen: &mut Vec<&'a str>, out: &mut BTreeSet<String>) {
        match &ty.base {
            BaseType::List(inner) => self.id_paths(inner, format!("{path}[]"), seen, out),
            BaseType::Named(name) if name == "ID" => {
                out.insert(path);
            }
            BaseType::Named(name) => {
                if let Some(fields) = self.inputs.get(name.as_str())
                    && !seen.contains(&name.as_str())
                {
                    seen.push(name);
                    for field in fields {
                        self.id_paths(&field.ty.node, format!("{path}.{}", field.name.node), seen, out);
                    }
                    seen.pop();
                }
            }
        }
    }
}

// -------------------------------------------------------------------------------------------------------------------
// The world: two registrars, each with every kind of caller
// -------------------------------------------------------------------------------------------------------------------

/// What a caller may do at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Applicant,
    FullKey,
    ReadOnlyKey,
    Admin,
    Reviewer,
    /// A mobile token of a hand-off.
    Phone,
}

use Role::*;

const EVERYONE: &[Role] = &[Applicant, FullKey, ReadOnlyKey, Admin, Reviewer];
/// Those who fill in filings: the owning applicant, or the registrar's backend with a full key.
const EDITORS: &[Role] = &[Applicant, FullKey];
/// Those who do the preliminary review.
const REVIEWERS: &[Role] = &[Reviewer, Admin];
/// Those who record what MIIT and the bureau decided.
const REGISTRAR: &[Role] = &[Admin, FullKey];
/// Those who see the registrar's mail (applicants do not).
const STAFF: &[Role] = &[FullKey, ReadOnlyKey, Admin, Reviewer];
/// Those who hold an account (everyone may read their own).
const ACCOUNT_HOLDERS: &[Role] = &[Applicant, Admin, Reviewer];
const ADMINS: &[Role] = &[Admin];
/// Those who manage mail: administrators and the backend's full key.
const MAIL_MANAGERS: &[Role] = &[Admin, FullKey];
const PHONES: &[Role] = &[Phone];

#[derive(Clone, Debug)]
struct Caller {
    name: String,
    token: String,
    role: Role,
    /// Of the other registrar: its answers must not even name the victim's registrar.
    foreign: bool,
}

impl Caller {
    fn new(name: &str, token: &str, role: Role, foreign: bool) -> Caller {
        Caller { name: name.to_owned(), token: token.to_owned(), role, foreign }
    }
}

/// A registrar with one caller of every kind.
struct Registrar {
    slug: &'static str,
    key: String,
    read_only: String,
    admin: String,
    reviewer: String,
    /// The applicant whose objects are attacked (in `alpha`), or who attacks (in `beta`).
    applicant: String,
    /// Another applicant of the same registrar.
    second_applicant: String,
}

impl Registrar {
    async fn new(app: &TestApp, slug: &'static str) -> Registrar {
        let key = app.tenant(slug).await;
        let admin = access(&first_admin(app, slug, &format!("admin@{slug}.example")).await);
        let reviewer = access(&staff(app, &admin, &format!("reviewer@{slug}.example"), "REVIEWER").await);
        let create = "mutation { createApiKey(name: \"read\", scope: READ_ONLY) { secret } }";
        let read_only = app.ok(&admin, create, json!({})).await["createApiKey"]["secret"].as_str().unwrap().to_owned();
        let owner = access(&applicant(app, slug, &format!("owner@{slug}.example")).await);
        let second = access(&applicant(app, slug, &format!("second@{slug}.example")).await);
        Registrar { slug, key, read_only, admin, reviewer, applicant: owner, second_applicant: second }
    }
}

/// How far a fixture filing goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Draft,
    /// A draft with every material.
    Ready,
    Pending,
    /// Claimed by the registrar's reviewer.
    InReview,
    Sms,
    SmsFailed,
    Bureau,
    Approved,
}

/// A fixture filing: as its owner reads it, and the input it was created from.
struct Fix {
    filing: Value,
    input: Value,
    n: u32,
}

impl Fix {
    fn id(&self) -> &Value {
        &self.filing["id"]
    }

    fn website(&self) -> &Value {
        &self.filing["websites"][0]["id"]
    }

    fn version(&self) -> &Value {
        &self.filing["version"]
    }

    fn subject_number(&self) -> String {
        format!("京ICP备2026{:06}号", self.n)
    }
}

/// How a refusal must look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The ID names the object the call is about: NOT_FOUND for every caller whose role could make the call on an
    /// object of its own; NOT_FOUND or an ID-independent FORBIDDEN for the others.
    NotFound,
    /// The ID narrows a list of the caller's own objects, or sits beside IDs of the caller's own objects: the answer
    /// is exactly the answer to an ID that never existed.
    LikeUnknown,
}

/// One call with another owner's IDs.
#[derive(Clone, Debug)]
struct Probe {
    field: &'static str,
    /// The ID arguments that name the victim's objects in this call.
    ids: &'static [&'static str],
    query: String,
    vars: Value,
    /// The victim's IDs in `vars` (replaced by never-existing IDs of the same type for the comparison).
    victim: Vec<String>,
    may: &'static [Role],
    expect: Expect,
    /// Sent as a GraphQL multipart request with this PNG as `file`.
    file: Option<Vec<u8>>,
    /// What the case tries, for the log.
    about: &'static str,
}

impl Probe {
    fn new(field: &'static str, ids: &'static [&'static str], query: &str, vars: Value, victim: &[&Value]) -> Probe {
        Probe {
            field,
            ids,
            query: query.to_owned(),
            vars,
            victim: victim.iter().map(|v| v.as_str().expect("a global ID").to_owned()).collect(),
            may: EVERYONE,
            expect: Expect::NotFound,
            file: None,
            about: "",
        }
    }

    fn may(mut self, may: &'static [Role]) -> Probe {
        self.may = may;
        self
    }

    fn like_unknown(mut self) -> Probe {
        self.expect = Expect::LikeUnknown;
        self
    }

    fn about(mut self, about: &'static str) -> Probe {
        self.about = about;
        self
    }

    fn multipart(mut self, file: Vec<u8>) -> Probe {
        self.file = Some(file);
        self
    }

    fn name(&self) -> &'static str {
        self.field.rsplit('.').next().unwrap()
    }
}

struct World {
    app: TestApp,
    /// The victim registrar.
    a: Registrar,
    /// The attacking registrar.
    b: Registrar,
    next: AtomicU32,
    /// Strings only the victim's objects contain (subjects, people, addresses).
    secrets: Mutex<Vec<String>>,
    log: Mutex<Vec<String>>,
    failures: Mutex<Vec<String>>,
    covered: Mutex<BTreeSet<(String, String)>>,
    proven: Mutex<BTreeSet<String>>,
    /// The owners' own calls, made once the attacks are over and nothing changed.
    proofs: Mutex<Vec<(Probe, String, Value)>>,
}

impl World {
    async fn new() -> World {
        let app = spawn_app().await;
        let a = Registrar::new(&app, "alpha").await;
        let b = Registrar::new(&app, "beta").await;
        World {
            app,
            a,
            b,
            next: AtomicU32::new(0),
            secrets: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
            covered: Mutex::new(BTreeSet::new()),
            proven: Mutex::new(BTreeSet::new()),
            proofs: Mutex::new(Vec::new()),
        }
    }

    /// The other registrar's callers of every kind, and the victim registrar's second applicant.
    fn attackers(&self) -> Vec<Caller> {
        let b = &self.b;
        vec![
            Caller::new("beta's full key", &b.key, FullKey, true),
            Caller::new("beta's read-only key", &b.read_only, ReadOnlyKey, true),
            Caller::new("beta's administrator", &b.admin, Admin, true),
            Caller::new("beta's reviewer", &b.reviewer, Reviewer, true),
            Caller::new("beta's applicant", &b.applicant, Applicant, true),
            self.second_applicant(),
        ]
    }

    fn beta(&self) -> Vec<Caller> {
        self.attackers().into_iter().filter(|c| c.foreign).collect()
    }

    fn second_applicant(&self) -> Caller {
        Caller::new("alpha's second applicant", &self.a.second_applicant, Applicant, false)
    }

    fn fail(&self, message: String) {
        self.failures.lock().unwrap().push(message);
    }

    fn cover(&self, field: &str, ids: &[&str]) {
        let mut covered = self.covered.lock().unwrap();
        for id in ids {
            covered.insert((field.to_owned(), id.to_string()));
        }
    }

    /// A filing of `owner` (an applicant, or the full key, of `reg`), taken to `stage` by `reg`'s people. A filing of
    /// `alpha`'s first applicant or backend is a victim: its data becomes a secret no attacker may see.
    async fn filing(&self, reg: &Registrar, owner: &str, stage: Stage) -> Fix {
        let app = &self.app;
        let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let input = numbered_filing(n);
        if std::ptr::eq(reg, &self.a) && owner != self.a.second_applicant {
            let subject = &input["subject"];
            let mut secrets = self.secrets.lock().unwrap();
            for value in [&subject["name"], &subject["certificateNumber"], &subject["responsiblePerson"]["email"]] {
                secrets.push(value.as_str().unwrap().to_owned());
            }
            secrets.push(input["websites"][0]["responsiblePerson"]["email"].as_str().unwrap().to_owned());
            secrets.push(input["websites"][0]["domains"][0].as_str().unwrap().to_owned());
        }
        let created = app.ok(owner, &CREATE, json!({ "input": input })).await["createFiling"].clone();
        if stage >= Stage::Ready {
            upload_materials(app, owner, &created).await;
        }
        if stage >= Stage::Pending {
            act(app, owner, "submitFiling", &created).await;
        }
        if stage >= Stage::InReview {
            act(app, &reg.reviewer, "claimReview", &created).await;
        }
        if stage >= Stage::Sms {
            act(app, &reg.reviewer, "approvePreliminaryReview", &created).await;
        }
        if stage == Stage::SmsFailed {
            let checks = app
                .ok(
                    &reg.key,
                    "query($id: ID!) { filing(id: $id) { smsChecks { id } } }",
                    json!({ "id": created["id"] }),
                )
                .await["filing"]["smsChecks"]
                .clone();
            for _ in 0..5 {
                app.ok(&reg.key, RECORD_SMS, json!({ "id": checks[0]["id"], "ok": false })).await;
            }
        }
        if stage >= Stage::Bureau {
            confirm_all_sms(app, &reg.key, &created).await;
        }
        let mut fix = Fix { filing: self.read(owner, &created["id"]).await, input, n };
        assert_eq!(fix.filing["status"], stage_status(stage), "{}", fix.filing);
        if stage == Stage::Approved {
            let vars = decision(&fix, fix.website(), &format!("{}-1", fix.subject_number()));
            app.ok(&reg.key, DECIDE, vars).await;
            fix.filing = self.read(owner, &created["id"]).await;
        }
        fix
    }

    async fn read(&self, owner: &str, id: &Value) -> Value {
        self.app.ok(owner, &GET, json!({ "id": id })).await["filing"].clone()
    }

    /// Both registrars as their administrators see them: every filing in full, the accounts, keys and mail.
    async fn snapshot(&self) -> Value {
        let mut out = serde_json::Map::new();
        for reg in [&self.a, &self.b] {
            let app = &self.app;
            let list = "query($after: String) { filings(first: 100, after: $after) {
                nodes { id } pageInfo { hasNextPage endCursor } } }";
            let mut filings = Vec::new();
            let mut after = Value::Null;
            loop {
                let page = app.ok(&reg.admin, list, json!({ "after": after })).await["filings"].clone();
                for node in page["nodes"].as_array().unwrap() {
                    filings.push(app.ok(&reg.admin, SNAPSHOT, json!({ "id": node["id"] })).await["filing"].clone());
                }
                if page["pageInfo"]["hasNextPage"] != true {
                    break;
                }
                after = page["pageInfo"]["endCursor"].clone();
            }
            let people = app.ok(&reg.admin, PEOPLE, json!({})).await;
            out.insert(reg.slug.to_owned(), json!({ "filings": filings, "people": people }));
        }
        Value::Object(out)
    }

    async fn send(&self, token: &str, probe: &Probe, vars: &Value) -> Value {
        let app = &self.app;
        match &probe.file {
            None => app.post(Some(token), &probe.query, vars.clone()).await.1,
            Some(bytes) => {
                let mut variables = vars.clone();
                variables["file"] = Value::Null;
                let operations = json!({ "query": probe.query, "variables": variables });
                let form = reqwest::multipart::Form::new()
                    .text("operations", operations.to_string())
                    .text("map", json!({ "0": ["variables.file"] }).to_string())
                    .part(
                        "0",
                        reqwest::multipart::Part::bytes(bytes.clone())
                            .file_name("id.png")
                            .mime_str("image/png")
                            .unwrap(),
                    );
                let url = format!("{}/graphql", app.address);
                let response = app.client.post(url).bearer_auth(token).multipart(form).send().await.unwrap();
                response.json().await.unwrap()
            }
        }
    }

    /// Leaks of the victim's data in an answer to `caller`.
    fn leaks(&self, caller: &Caller, text: &str) -> Vec<String> {
        let mut secrets = self.secrets.lock().unwrap().clone();
        if caller.foreign {
            secrets.extend(["alpha.example".to_owned(), "Registrar alpha".to_owned()]);
        }
        secrets.into_iter().filter(|s| text.contains(s.as_str())).map(|s| format!("the answer shows {s}")).collect()
    }

    /// Makes the call as each attacker, with the victim's IDs and with IDs that never existed, and checks the answers.
    async fn probe(&self, probe: &Probe, attackers: &[Caller]) {
        let unknown = forged(&probe.vars, &probe.victim);
        for attacker in attackers {
            let body = self.send(&attacker.token, probe, &probe.vars).await;
            let baseline = self.send(&attacker.token, probe, &unknown).await;
            let (got, like) = (outcome(&body), outcome(&baseline));
            let mut wrong = self.leaks(attacker, &body.to_string());
            match probe.expect {
                Expect::NotFound => {
                    if !body["data"][probe.name()].is_null() {
                        wrong.push("it returned data".to_owned());
                    }
                    if probe.may.contains(&attacker.role) {
                        if got != "NOT_FOUND" {
                            wrong.push(format!("{got} instead of NOT_FOUND"));
                        }
                    } else if got != "NOT_FOUND" && got != "FORBIDDEN" {
                        wrong.push(format!("{got} instead of NOT_FOUND (or FORBIDDEN: the role may never do this)"));
                    }
                }
                Expect::LikeUnknown => {
                    if body["data"] != baseline["data"] {
                        wrong.push(format!("data {} where a nonexistent ID gets {}", body["data"], baseline["data"]));
                    }
                }
            }
            if got != like || refused(&body) != refused(&baseline) {
                wrong.push(format!(
                    "{got} {:?} for the foreign ID but {like} {:?} for a nonexistent one",
                    refused(&body),
                    refused(&baseline)
                ));
            }
            let line = format!("{} {:?} {} as {}: {got}", probe.field, probe.ids, probe.about, attacker.name);
            self.log.lock().unwrap().push(line);
            if !wrong.is_empty() {
                self.fail(format!(
                    "{} {:?} as {}: {}; answer: {body}",
                    probe.field,
                    probe.ids,
                    attacker.name,
                    wrong.join("; ")
                ));
            }
        }
        self.cover(probe.field, probe.ids);
    }

    /// The same call by the object's owner (with `vars`, or the probe's own), once the attacks are over.
    fn prove(&self, probe: &Probe, token: &str, vars: Option<Value>) {
        let vars = vars.unwrap_or_else(|| probe.vars.clone());
        self.proofs.lock().unwrap().push((probe.clone(), token.to_owned(), vars));
    }

    /// Checks that the attacks changed nothing (`before`, when given), makes the owners' calls, and that this group
    /// exercised exactly what [`COVERED`] lists for it, each field with an owner's call that went through.
    async fn finish(self, group: &str, before: Option<Value>) {
        if let Some(before) = before {
            let after = self.snapshot().await;
            let mut changed = Vec::new();
            differences("", &before, &after, &mut changed);
            if !changed.is_empty() {
                self.fail(format!("the attacks changed the registrars' data:\n{}", changed.join("\n")));
            }
        }
        let proofs = std::mem::take(&mut *self.proofs.lock().unwrap());
        for (probe, token, vars) in proofs {
            let body = self.send(&token, &probe, &vars).await;
            if body.get("errors").is_some() || body["data"][probe.name()].is_null() {
                self.fail(format!(
                    "{}: the same call by the owner failed, so the refusals prove nothing: {body}",
                    probe.field
                ));
            } else {
                self.proven.lock().unwrap().insert(probe.field.to_owned());
            }
        }
        println!("{}", self.log.lock().unwrap().join("\n"));
        let failures = self.failures.lock().unwrap().clone();
        assert!(failures.is_empty(), "{} BOLA failure(s):\n{}", failures.len(), failures.join("\n\n"));
        let covered = self.covered.lock().unwrap().clone();
        let declared: BTreeSet<(String, String)> = COVERED
            .iter()
            .filter(|(g, _, _)| *g == group)
            .flat_map(|(_, field, ids)| ids.iter().map(|id| (field.to_string(), id.to_string())))
            .collect();
        assert_eq!(covered, declared, "the `{group}` cases must exercise exactly what COVERED lists for them");
        let proven = self.proven.lock().unwrap().clone();
        for (field, _) in &covered {
            assert!(proven.contains(field), "{field}: no owner's call showed that the attacks' input was valid");
        }
    }
}

const SNAPSHOT: &str = "query($id: ID!) { filing(id: $id) { id status version filingType icpNumber isCurrentRecord
    submittedAt smsDeadlineAt updatedAt availableActions baseFiling { id } supersededBy { id } reviewer { id }
    returnReasons { field code message }
    subject { name certificateNumber mailingAddress responsiblePerson { name mobile email } }
    websites { id name domains homepageUrl icpNumber operation accessMethod updatedAt
      responsiblePerson { name mobile } }
    attachments { id kind status reviewStatus reviewReason websiteId fileName size sha256 uploadedAt }
    smsChecks { id status failures } mobileVerifications { id status phoneVerifiedAt expiresAt }
    notifications { id status attempts stage recipient } events { id action fromStatus toStatus } } }";

const PEOPLE: &str = "{ accounts(first: 100) { edges { node { id email displayName role status preferredLanguage } } }
    apiKeys { id name scope revokedAt }
    notifications(first: 100) { totalCount nodes { id status attempts stage recipient } } }";

const RECORD_SMS: &str =
    "mutation($id: ID!, $ok: Boolean!) { recordSmsVerification(checkId: $id, confirmed: $ok) { status version } }";
const DECIDE: &str =
    "mutation($input: BureauDecisionInput!) { recordBureauDecision(input: $input) { status version } }";
const START_ORDER: &str = "mutation($input: StartOrderInput!) { startOrder(input: $input) { id status } }";
const START_HAND_OFF: &str = "mutation($input: StartMobileVerificationInput!) {
    startMobileVerification(input: $input) { token verification { id status } } }";
const UPLOAD: &str = "mutation($input: UploadAttachmentInput!, $file: Upload!) {
    uploadAttachment(input: $input, file: $file) { id status } }";

fn stage_status(stage: Stage) -> &'static str {
    match stage {
        Stage::Draft | Stage::Ready => "DRAFT",
        Stage::Pending => "PENDING_REVIEW",
        Stage::InReview => "IN_REVIEW",
        Stage::Sms => "SMS_VERIFICATION",
        Stage::SmsFailed => "SMS_FAILED",
        Stage::Bureau | Stage::Approved => "BUREAU_REVIEW",
    }
}

/// The bureau approves `fix` with its subject's number, giving `website` the website number.
fn decision(fix: &Fix, website: &Value, number: &str) -> Value {
    json!({ "input": { "filingId": fix.id(), "version": fix.version(), "approved": {
        "subjectNumber": fix.subject_number(), "websites": [{ "websiteId": website, "number": number }] } } })
}

fn reasons() -> Value {
    json!([{ "field": "subject.mailingAddress", "code": "ADDRESS_INCOMPLETE", "message": "地址不完整" }])
}

fn version_input(fix: &Fix) -> Value {
    json!({ "input": { "filingId": fix.id(), "version": fix.version() } })
}

/// "ok", or the code of the first error.
fn outcome(body: &Value) -> String {
    match body.get("errors") {
        None => "ok".to_owned(),
        Some(errors) => errors[0]["extensions"]["code"].as_str().unwrap_or("NO_CODE").to_owned(),
    }
}

/// The refused fields of an error answer, as (field, code).
fn refused(body: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = body["errors"][0]["extensions"]["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .map(|f| (f["field"].as_str().unwrap_or("").to_owned(), f["code"].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// A global ID of the same type as `id` that names nothing.
fn forge(id: &str) -> String {
    let (kind, _) = beian::graphql::ids::decode_any(id, "id").expect("a global ID");
    beian::graphql::ids::encode(kind, Uuid::now_v7()).0
}

/// `vars` with each of the victim's IDs replaced by a forged one.
fn forged(vars: &Value, victim: &[String]) -> Value {
    let replacements: Vec<(String, String)> = victim.iter().map(|id| (id.clone(), forge(id))).collect();
    fn walk(value: &Value, replacements: &[(String, String)]) -> Value {
        match value {
            Value::String(s) => replacements
                .iter()
                .find(|(from, _)| from == s)
                .map_or_else(|| value.clone(), |(_, to)| Value::String(to.clone())),
            Value::Array(items) => Value::Array(items.iter().map(|v| walk(v, replacements)).collect()),
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), walk(v, replacements))).collect()),
            other => other.clone(),
        }
    }
    walk(vars, &replacements)
}

/// Where two JSON values differ, as `path: before -> after`.
fn differences(path: &str, before: &Value, after: &Value, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
                let (x, y) = (a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null));
                differences(&format!("{path}.{key}"), x, y, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if before != after => out.push(format!("{path}: {before} -> {after}")),
        _ => {}
    }
}

// -------------------------------------------------------------------------------------------------------------------
// Reads
// -------------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn reading_another_owners_objects_is_not_found() {
    let w = World::new().await;
    let (app, a) = (&w.app, &w.a);
    // In the SMS step: websites, events, materials, SMS checks and mail to read.
    let filing = w.filing(a, &a.applicant, Stage::Sms).await;
    let draft = w.filing(a, &a.applicant, Stage::Draft).await;
    let hand_off = app.ok(&a.applicant, START_HAND_OFF, json!({ "input": { "filingId": draft.id() } })).await
        ["startMobileVerification"]
        .clone();
    let query = "query($id: ID!) { filing(id: $id) { attachments { id } notifications { id } smsChecks { id } } }";
    let details = app.ok(&a.admin, query, json!({ "id": filing.id() })).await["filing"].clone();
    let me = "{ me { account { id } } }";
    let owner_account = app.ok(&a.applicant, me, json!({})).await["me"]["account"]["id"].clone();
    let admin_account = app.ok(&a.admin, me, json!({})).await["me"]["account"]["id"].clone();
    let api_key = app.ok(&a.admin, "{ apiKeys { id } }", json!({})).await["apiKeys"][0]["id"].clone();
    let notification = details["notifications"][0]["id"].clone();
    let (endpoint, delivery) = webhook(app, &a.admin).await;

    let before = w.snapshot().await;
    let attackers = w.attackers();

    let read = "query($id: ID!) { filing(id: $id) { id subject { name } } }";
    let probe = Probe::new("Query.filing", &["id"], read, json!({ "id": filing.id() }), &[filing.id()]);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.applicant, None);

    // node(id:): an object of every type it resolves, each as its owner (or its registrar's staff) may read it.
    let node = "query($id: ID!) { node(id: $id) { id } }";
    let nodes: Vec<(&'static str, &Value, &'static [Role], &str)> = vec![
        ("Filing", filing.id(), EVERYONE, &a.applicant),
        ("Website", filing.website(), EVERYONE, &a.applicant),
        ("FilingEvent", &filing.filing["events"][0]["id"], EVERYONE, &a.applicant),
        ("Attachment", &details["attachments"][0]["id"], EVERYONE, &a.applicant),
        ("SmsCheck", &details["smsChecks"][0]["id"], EVERYONE, &a.applicant),
        ("MobileVerification", &hand_off["verification"]["id"], EVERYONE, &a.applicant),
        ("Notification", &notification, STAFF, &a.reviewer),
        ("Account", &owner_account, ACCOUNT_HOLDERS, &a.admin),
        ("ApiKey", &api_key, ADMINS, &a.admin),
        ("WebhookEndpoint", &endpoint, ADMINS, &a.admin),
        ("WebhookDelivery", &delivery, ADMINS, &a.admin),
    ];
    let mut kinds = BTreeSet::new();
    for (kind, id, may, owner) in nodes {
        let probe = Probe::new("Query.node", &["id"], node, json!({ "id": id }), &[id]).may(may).about(kind);
        w.probe(&probe, &attackers).await;
        w.prove(&probe, owner, None);
        kinds.insert(kind.to_owned());
    }
    assert_eq!(kinds, set(NODE_KINDS));
    // nodes(ids:): another owner's objects come back exactly as IDs that never existed (null), each type at once.
    let many = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }";
    let all = [
        filing.id(),
        filing.website(),
        &filing.filing["events"][0]["id"],
        &details["attachments"][0]["id"],
        &details["smsChecks"][0]["id"],
        &hand_off["verification"]["id"],
        &notification,
        &owner_account,
        &api_key,
        &endpoint,
        &delivery,
    ];
    let probe = Probe::new("Query.nodes", &["ids[]"], many, json!({ "ids": all }), &all).like_unknown();
    w.probe(&probe, &attackers).await;
    let readable = &all[..6];
    let probe = Probe::new("Query.nodes", &["ids[]"], many, json!({ "ids": readable }), readable);
    w.prove(&probe, &a.applicant, None);
    let found = app.ok(&a.applicant, many, json!({ "ids": readable })).await["nodes"].clone();
    assert_eq!(found, json!(readable.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>()), "in order");
    let found = app.ok(&a.admin, many, json!({ "ids": all })).await["nodes"].clone();
    assert_eq!(found, json!(all.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>()), "in order");

    // account(id:): administrators read their registrar's accounts, everyone their own.
    let account = "query($id: ID!) { account(id: $id) { id email } }";
    for id in [&owner_account, &admin_account] {
        let probe = Probe::new("Query.account", &["id"], account, json!({ "id": id }), &[id]).may(ACCOUNT_HOLDERS);
        w.probe(&probe, &attackers).await;
        w.prove(&probe, &a.admin, None);
    }

    // previewEmail fills a filing stage with the filing's data (staff).
    let preview =
        "query($id: ID) { previewEmail(stage: SUBMISSION_RECEIVED, filingId: $id, language: ZH) { subject text } }";
    let probe = Probe::new("Query.previewEmail", &["filingId"], preview, json!({ "id": filing.id() }), &[filing.id()])
        .may(STAFF);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.reviewer, None);
    // An account stage shows sample data whatever filing is named: the foreign ID is ignored exactly like an
    // unknown one (nothing of the victim's filing is rendered).
    let sample = "query($id: ID) { previewEmail(stage: PASSWORD_RESET, filingId: $id, language: ZH) { subject text } }";
    let probe = Probe::new("Query.previewEmail", &["filingId"], sample, json!({ "id": filing.id() }), &[filing.id()])
        .like_unknown()
        .about("(an account stage: sample data)");
    w.probe(&probe, &attackers).await;

    // notifications(filter: { filingId }) narrows the caller's own mail: a foreign filing leaves the same empty list
    // an unknown one does (applicants and reviewers may not list mail at all: FORBIDDEN either way).
    let list =
        "query($id: ID) { notifications(first: 50, filter: { filingId: $id }) { totalCount nodes { id recipient } } }";
    let theirs = app.ok(&a.admin, list, json!({ "id": filing.id() })).await["notifications"]["totalCount"].clone();
    assert!(theirs.as_u64().unwrap() > 0, "the victim's filing has mail to find");
    let probe =
        Probe::new("Query.notifications", &["filter.filingId"], list, json!({ "id": filing.id() }), &[filing.id()])
            .like_unknown();
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.admin, None);

    w.finish("reads", Some(before)).await;
}

// -------------------------------------------------------------------------------------------------------------------
// Cursors
// -------------------------------------------------------------------------------------------------------------------

/// A cursor is a position, not an object: someone else's cursor must page through the caller's own list, exactly as
/// far as its position says, and show none of the victim's objects (a NOT_FOUND would be wrong: nothing is looked up).
#[tokio::test]
async fn another_owners_cursor_only_positions_the_callers_own_list() {
    let w = World::new().await;
    let (app, a, b) = (&w.app, &w.a, &w.b);
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(20));
    // The attackers' objects on both sides of the victim's, so that the position shows.
    w.filing(b, &b.applicant, Stage::Pending).await;
    w.filing(a, &a.second_applicant, Stage::Draft).await;
    staff(app, &b.admin, "early@beta.example", "REVIEWER").await;
    pause().await;
    let victim = w.filing(a, &a.applicant, Stage::Pending).await;
    applicant(app, a.slug, "mid@alpha.example").await;
    pause().await;
    w.filing(b, &b.applicant, Stage::Pending).await;
    w.filing(a, &a.second_applicant, Stage::Draft).await;
    staff(app, &b.admin, "late@beta.example", "REVIEWER").await;

    let first = |token: &'static str| format!("{{ {token}(first: 1) {{ edges {{ cursor node {{ id }} }} }} }}");
    let filings = app.ok(&a.applicant, &first("filings"), json!({})).await["filings"]["edges"][0].clone();
    assert_eq!(&filings["node"]["id"], victim.id());
    let accounts = app.ok(&a.admin, &first("accounts"), json!({})).await["accounts"]["edges"][0].clone();
    let mail = app.ok(&a.admin, &first("notifications"), json!({})).await["notifications"]["edges"][0].clone();
    let queue = "{ reviewQueue(first: 1) { edges { cursor node { filing { id } } } } }";
    let queue = app.ok(&a.reviewer, queue, json!({})).await["reviewQueue"]["edges"][0].clone();
    // The change feed's first event of alpha: the second applicant's draft, between beta's filings.
    let events = app.ok(&a.key, &first("filingEvents"), json!({})).await["filingEvents"]["edges"][0].clone();
    assert_eq!(&queue["node"]["filing"]["id"], victim.id());

    let before = w.snapshot().await;
    let cases = [
        (
            "Query.filings",
            "filings(first: 100, after: $after) { nodes { id subject { name } } }",
            &filings,
            &a.applicant,
        ),
        (
            "Query.accounts",
            "accounts(first: 100, after: $after) { nodes: edges { node { id email } } }",
            &accounts,
            &a.admin,
        ),
        ("Query.notifications", "notifications(first: 100, after: $after) { nodes { id recipient } }", &mail, &a.admin),
        (
            "Query.reviewQueue",
            "reviewQueue(first: 100, after: $after) { nodes: edges { node { filing { id submittedAt } } } }",
            &queue,
            &a.reviewer,
        ),
        (
            "Query.filingEvents",
            "filingEvents(first: 100, after: $after) { nodes: edges { cursor node { id filingId } } }",
            &events,
            &a.key,
        ),
    ];
    for (field, selection, edge, owner) in cases {
        let query = format!("query($after: String) {{ {selection} }}");
        let name = field.rsplit('.').next().unwrap();
        let cursor = edge["cursor"].as_str().unwrap();
        let position = Position::of(name, cursor);
        for attacker in w.attackers() {
            let list = app.post(Some(&attacker.token), &query, json!({ "after": null })).await.1;
            let page = app.post(Some(&attacker.token), &query, json!({ "after": cursor })).await.1;
            let elsewhere = app.post(Some(&attacker.token), &query, json!({ "after": position.forged() })).await.1;
            let got = outcome(&page);
            let mut wrong = w.leaks(&attacker, &page.to_string());
            if outcome(&list) != "ok" {
                // A caller who may not list these at all is refused whatever the cursor.
                if got != outcome(&list) || got != outcome(&elsewhere) || got != "FORBIDDEN" {
                    wrong.push(format!("{got}; without a cursor {}", outcome(&list)));
                }
            } else {
                let all = items(&list["data"][name]);
                let expected: Vec<(String, Position)> =
                    all.iter().filter(|(_, p)| position.before(p)).cloned().collect();
                if expected.is_empty() || expected.len() == all.len() {
                    w.fail(format!("{field} as {}: the fixture does not put the victim in the middle", attacker.name));
                }
                if got != "ok" || items(&page["data"][name]) != expected {
                    wrong.push(format!("expected the caller's own {expected:?}"));
                }
            }
            w.log.lock().unwrap().push(format!("{field} [\"after\"] as {}: {got}", attacker.name));
            if !wrong.is_empty() {
                w.fail(format!("{field} [\"after\"] as {}: {}; answer: {page}", attacker.name, wrong.join("; ")));
            }
        }
        w.cover(field, &["after"]);
        let probe = Probe::new(field, &["after"], &query, json!({ "after": cursor }), &[]);
        w.prove(&probe, owner, None);
    }
    w.finish("cursors", Some(before)).await;
}

/// Where an item stands in a list: its keyset (submission time, for the queue; the feed position, for the change
/// feed) and id.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Position {
    queue: bool,
    at: Option<chrono::DateTime<chrono::Utc>>,
    feed: Option<beian::services::filings::FeedPosition>,
    id: Uuid,
}

impl Position {
    fn of(list: &str, cursor: &str) -> Position {
        use base64::Engine;
        if list == "reviewQueue" {
            let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).unwrap();
            let text = String::from_utf8(text).unwrap();
            let (at, id) = text.strip_prefix("queue:v1:").unwrap().split_once('|').unwrap();
            let at = chrono::DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&chrono::Utc);
            Position { queue: true, at: Some(at), feed: None, id: Uuid::parse_str(id).unwrap() }
        } else if list == "filingEvents" {
            let feed = beian::graphql::ids::decode_feed_cursor(cursor).unwrap();
            Position { queue: false, at: None, feed: Some(feed), id: Uuid::nil() }
        } else {
            Position { queue: false, at: None, feed: None, id: beian::graphql::ids::decode_cursor(cursor).unwrap() }
        }
    }

    /// Whether `item` comes after this position: newest-first lists go to older ids, the queue to later submissions.
    fn before(&self, item: &Position) -> bool {
        if self.feed.is_some() {
            item.feed > self.feed
        } else if self.queue {
            (item.at, item.id) > (self.at, self.id)
        } else {
            item.id < self.id
        }
    }

    /// A cursor at a position no object of the caller's holds: a moment ago.
    fn forged(&self) -> String {
        use base64::Engine;
        if let Some(feed) = self.feed {
            // The feed's positions are numbers: the one right after the victim's holds no event of the caller's.
            let next = beian::services::filings::FeedPosition { seq: feed.seq + 1, ..feed };
            return beian::graphql::ids::encode_feed_cursor(next);
        }
        match self.at {
            Some(at) => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
                "queue:v1:{}|{}",
                at.to_rfc3339(),
                Uuid::now_v7()
            )),
            None => beian::graphql::ids::encode_cursor(Uuid::now_v7()),
        }
    }
}

/// The ids and positions of a list's items (`nodes { id }`, `nodes: edges { node { id } }`, or the queue's
/// `nodes: edges { node { filing { id submittedAt } } }`).
fn items(connection: &Value) -> Vec<(String, Position)> {
    connection["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let node = if item["node"].is_null() { item } else { &item["node"] };
            let queued = &node["filing"];
            let id = if queued.is_null() { &node["id"] } else { &queued["id"] };
            if let Some(cursor) = item["cursor"].as_str().filter(|_| node["filingId"].is_string()) {
                // A change feed event: its place is its cursor's.
                return (id.as_str().unwrap().to_owned(), Position::of("filingEvents", cursor));
            }
            let (_, uuid) = beian::graphql::ids::decode_any(id.as_str().unwrap(), "id").unwrap();
            let at = queued["submittedAt"]
                .as_str()
                .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&chrono::Utc));
            (id.as_str().unwrap().to_owned(), Position { queue: at.is_some(), at, feed: None, id: uuid })
        })
        .collect()
}

// -------------------------------------------------------------------------------------------------------------------
// Filing data
// -------------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn another_owners_filing_data_cannot_be_changed() {
    let w = World::new().await;
    let a = &w.a;
    let subject = w.filing(a, &a.applicant, Stage::Draft).await;
    let add = w.filing(a, &a.applicant, Stage::Draft).await;
    let update = w.filing(a, &a.applicant, Stage::Draft).await;
    let remove = w.filing(a, &a.applicant, Stage::Draft).await;
    let abandon = w.filing(a, &a.applicant, Stage::Draft).await;
    let submit = w.filing(a, &a.applicant, Stage::Ready).await;
    let withdraw = w.filing(a, &a.applicant, Stage::Pending).await;
    let before = w.snapshot().await;
    let attackers = w.attackers();

    let mut moved = subject.input["subject"].clone();
    moved["mailingAddress"] = json!("北京市朝阳区示例路2号");
    let query = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { id version } }";
    let vars = json!({ "input": { "filingId": subject.id(), "version": subject.version(), "subject": moved } });
    let probe = Probe::new("Mutation.updateFilingSubject", &["input.filingId"], query, vars, &[subject.id()]);
    w.probe(&probe.clone().may(EDITORS), &attackers).await;
    w.prove(&probe, &a.applicant, None);

    let mut website = add.input["websites"][0].clone();
    website["name"] = json!("示例科技产品展示网");
    website["domains"] = json!([format!("extra{}.com", add.n)]);
    website["homepageUrl"] = json!(format!("https://www.extra{}.com", add.n));
    let query = "mutation($input: AddWebsiteInput!) { addWebsite(input: $input) { website { id } } }";
    let vars = json!({ "input": { "filingId": add.id(), "version": add.version(), "website": website } });
    let probe = Probe::new("Mutation.addWebsite", &["input.filingId"], query, vars, &[add.id()]).may(EDITORS);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.applicant, None);

    let mut website = update.input["websites"][0].clone();
    website["name"] = json!("示例科技产品展示网");
    let query = "mutation($input: UpdateWebsiteInput!) { updateWebsite(input: $input) { website { id name } } }";
    let vars = json!({ "input": { "websiteId": update.website(), "version": update.version(), "website": website } });
    let probe =
        Probe::new("Mutation.updateWebsite", &["input.websiteId"], query, vars, &[update.website()]).may(EDITORS);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.applicant, None);

    let query = "mutation($input: RemoveWebsiteInput!) { removeWebsite(input: $input) { id version } }";
    let vars = json!({ "input": { "websiteId": remove.website(), "version": remove.version() } });
    let probe =
        Probe::new("Mutation.removeWebsite", &["input.websiteId"], query, vars, &[remove.website()]).may(EDITORS);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.applicant, None);

    for (field, name, fix) in [
        ("Mutation.abandonFiling", "abandonFiling", &abandon),
        ("Mutation.submitFiling", "submitFiling", &submit),
        ("Mutation.withdrawFiling", "withdrawFiling", &withdraw),
    ] {
        let probe = Probe::new(field, &["input.filingId"], &step(name), version_input(fix), &[fix.id()]).may(EDITORS);
        w.probe(&probe, &attackers).await;
        w.prove(&probe, &a.applicant, None);
    }
    w.finish("edits", Some(before)).await;
}

// -------------------------------------------------------------------------------------------------------------------
// The preliminary review and the MIIT SMS check
// -------------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn another_registrars_review_steps_cannot_be_taken() {
    let w = World::new().await;
    let (app, a) = (&w.app, &w.a);
    let claim = w.filing(a, &a.applicant, Stage::Pending).await;
    let release = w.filing(a, &a.applicant, Stage::InReview).await;
    let approve = w.filing(a, &a.applicant, Stage::InReview).await;
    let reject = w.filing(a, &a.applicant, Stage::InReview).await;
    let sms = w.filing(a, &a.applicant, Stage::Sms).await;
    let resubmit = w.filing(a, &a.applicant, Stage::SmsFailed).await;
    let give_back = w.filing(a, &a.applicant, Stage::SmsFailed).await;
    let checks = "query($id: ID!) { filing(id: $id) { smsChecks { id } } }";
    let check = app.ok(&a.key, checks, json!({ "id": sms.id() })).await["filing"]["smsChecks"][0]["id"].clone();
    let before = w.snapshot().await;
    let attackers = w.attackers();

    // Reviewers' steps: the other registrar's reviewers and administrators must not find the filing; its applicant
    // and keys, who never review, get NOT_FOUND too (the filing is looked up first) or FORBIDDEN.
    for (field, name, fix) in [
        ("Mutation.claimReview", "claimReview", &claim),
        ("Mutation.releaseReview", "releaseReview", &release),
        ("Mutation.approvePreliminaryReview", "approvePreliminaryReview", &approve),
    ] {
        let probe = Probe::new(field, &["input.filingId"], &step(name), version_input(fix), &[fix.id()]).may(REVIEWERS);
        w.probe(&probe, &attackers).await;
        w.prove(&probe, &a.reviewer, None);
    }
    let returning =
        |name: &str| format!("mutation($input: ReturnFilingInput!) {{ {name}(input: $input) {{ status }} }}");
    let vars = json!({ "input": { "filingId": reject.id(), "version": reject.version(), "reasons": reasons() } });
    let probe = Probe::new(
        "Mutation.rejectPreliminaryReview",
        &["input.filingId"],
        &returning("rejectPreliminaryReview"),
        vars,
        &[reject.id()],
    )
    .may(REVIEWERS);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.reviewer, None);

    // The registrar's steps (administrators, the backend's full key). Applicants and reviewers may never record
    // MIIT's results: FORBIDDEN before any lookup is right for them.
    let probe = Probe::new(
        "Mutation.recordSmsVerification",
        &["checkId"],
        RECORD_SMS,
        json!({ "id": check, "ok": true }),
        &[&check],
    )
    .may(REGISTRAR);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.key, None);
    let probe = Probe::new(
        "Mutation.resubmitToMiit",
        &["input.filingId"],
        &step("resubmitToMiit"),
        version_input(&resubmit),
        &[resubmit.id()],
    )
    .may(REGISTRAR);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.key, None);
    let vars = json!({ "input": { "filingId": give_back.id(), "version": give_back.version(), "reasons": reasons() } });
    let probe = Probe::new(
        "Mutation.returnToApplicant",
        &["input.filingId"],
        &returning("returnToApplicant"),
        vars,
        &[give_back.id()],
    )
    .may(REGISTRAR);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.key, None);

    w.finish("review", Some(before)).await;
}

// -------------------------------------------------------------------------------------------------------------------
// The bureau's decision and orders after the first filing
// -------------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn another_owners_records_cannot_be_decided_or_amended() {
    let w = World::new().await;
    let (a, b) = (&w.a, &w.b);
    let approve = w.filing(a, &a.applicant, Stage::Bureau).await;
    let refuse = w.filing(a, &a.applicant, Stage::Bureau).await;
    let record = w.filing(a, &a.applicant, Stage::Approved).await;
    // The attackers' own: a filing at the bureau (beta's backend), filed records (beta's applicant, alpha's second).
    let at_bureau = w.filing(b, &b.key, Stage::Bureau).await;
    let beta_record = w.filing(b, &b.applicant, Stage::Approved).await;
    let second_record = w.filing(a, &a.second_applicant, Stage::Approved).await;
    let before = w.snapshot().await;
    let attackers = w.attackers();

    // Approved with numbers: the filing and its website are the victim's.
    let number = format!("{}-1", approve.subject_number());
    let probe = Probe::new(
        "Mutation.recordBureauDecision",
        &["input.filingId", "input.approved.websites[].websiteId"],
        DECIDE,
        decision(&approve, approve.website(), &number),
        &[approve.id(), approve.website()],
    )
    .may(REGISTRAR);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.key, None);
    // Refused with reasons (another path through the server).
    let vars = json!({ "input": { "filingId": refuse.id(), "version": refuse.version(), "reasons": reasons() } });
    let probe =
        Probe::new("Mutation.recordBureauDecision", &["input.filingId"], DECIDE, vars, &[refuse.id()]).may(REGISTRAR);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.key, None);
    // beta's own filing, numbering alpha's website: refused exactly as an unknown website is.
    let number = format!("{}-1", at_bureau.subject_number());
    let probe = Probe::new(
        "Mutation.recordBureauDecision",
        &["input.approved.websites[].websiteId"],
        DECIDE,
        decision(&at_bureau, approve.website(), &number),
        &[approve.website()],
    )
    .like_unknown()
    .about("(beta's own filing at the bureau)");
    w.probe(&probe, &w.beta()).await;
    w.prove(&probe, &b.key, Some(decision(&at_bureau, at_bureau.website(), &number)));

    // Orders start from a filed record; a cancellation names its websites.
    let order = |fix: &Fix, website: &Value| {
        json!({ "input": {
            "filingId": fix.id(), "filingType": "CANCEL_ACCESS", "websiteIds": [website] } })
    };
    let probe = Probe::new(
        "Mutation.startOrder",
        &["input.filingId", "input.websiteIds[]"],
        START_ORDER,
        order(&record, record.website()),
        &[record.id(), record.website()],
    )
    .may(EDITORS);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.applicant, None);
    // The attacker's own record, cancelling the victim's website.
    for (own, attackers, owner) in
        [(&beta_record, w.beta(), &b.applicant), (&second_record, vec![w.second_applicant()], &a.second_applicant)]
    {
        let probe = Probe::new(
            "Mutation.startOrder",
            &["input.websiteIds[]"],
            START_ORDER,
            order(own, record.website()),
            &[record.website()],
        )
        .like_unknown()
        .about("(the attacker's own record)");
        w.probe(&probe, &attackers).await;
        w.prove(&probe, owner, Some(order(own, own.website())));
    }
    w.finish("records", Some(before)).await;
}

// -------------------------------------------------------------------------------------------------------------------
// Materials
// -------------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn another_owners_materials_cannot_be_touched() {
    let w = World::new().await;
    let (app, a, b) = (&w.app, &w.a, &w.b);
    let target = w.filing(a, &a.applicant, Stage::Draft).await;
    let pending = w.filing(a, &a.applicant, Stage::Draft).await;
    let uploaded = w.filing(a, &a.applicant, Stage::Ready).await;
    let in_review = w.filing(a, &a.applicant, Stage::InReview).await;
    let beta_draft = w.filing(b, &b.applicant, Stage::Draft).await;
    let second_draft = w.filing(a, &a.second_applicant, Stage::Draft).await;

    // An upload started but not completed, a material in place, a material under review.
    let bytes = png(1024);
    let ticket = app
        .ok(&a.applicant, REQUEST, upload_input(&pending.filing, "SUBJECT_CERTIFICATE", "l.png", "image/png", &bytes))
        .await["requestAttachmentUpload"]
        .clone();
    assert_eq!(put(app, &ticket, bytes.clone()).await, 200);
    let materials = "query($id: ID!) { filing(id: $id) { attachments { id kind } } }";
    let in_place =
        app.ok(&a.applicant, materials, json!({ "id": uploaded.id() })).await["filing"]["attachments"][0]["id"].clone();
    let reviewed =
        app.ok(&a.reviewer, materials, json!({ "id": in_review.id() })).await["filing"]["attachments"][0]["id"].clone();
    let before = w.snapshot().await;
    let attackers = w.attackers();

    // A website's responsible person's ID card: the filing and the website are named.
    let request = |fix: &Fix, website: &Value| {
        let mut vars = upload_input(&fix.filing, "ID_CARD_FRONT", "id.png", "image/png", &bytes);
        vars["input"]["websiteId"] = website.clone();
        vars
    };
    let through_server = |fix: &Fix, website: &Value| {
        json!({ "input": {
            "filingId": fix.id(), "kind": "ID_CARD_FRONT", "websiteId": website } })
    };
    let shapes: [Shape; 2] = [
        ("Mutation.requestAttachmentUpload", REQUEST, &request, None),
        ("Mutation.uploadAttachment", UPLOAD, &through_server, Some(bytes.clone())),
    ];
    for (field, query, vars, file) in shapes {
        let with_file = |probe: Probe| match &file {
            Some(bytes) => probe.multipart(bytes.clone()),
            None => probe,
        };
        let probe = with_file(
            Probe::new(
                field,
                &["input.filingId", "input.websiteId"],
                query,
                vars(&target, target.website()),
                &[target.id(), target.website()],
            )
            .may(EDITORS),
        );
        w.probe(&probe, &attackers).await;
        w.prove(&probe, &a.applicant, None);
        // The attacker's own draft, with the victim's website: refused as an unknown website is.
        for (own, attackers, owner) in
            [(&beta_draft, w.beta(), &b.applicant), (&second_draft, vec![w.second_applicant()], &a.second_applicant)]
        {
            let probe = with_file(
                Probe::new(field, &["input.websiteId"], query, vars(own, target.website()), &[target.website()])
                    .like_unknown()
                    .about("(the attacker's own draft)"),
            );
            w.probe(&probe, &attackers).await;
            w.prove(&probe, owner, Some(vars(own, own.website())));
        }
    }

    let id = &ticket["attachment"]["id"];
    let probe =
        Probe::new("Mutation.completeAttachmentUpload", &["id"], COMPLETE, json!({ "id": id }), &[id]).may(EDITORS);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.applicant, None);

    let delete = "mutation($id: ID!) { deleteAttachment(id: $id) }";
    let probe =
        Probe::new("Mutation.deleteAttachment", &["id"], delete, json!({ "id": in_place }), &[&in_place]).may(EDITORS);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.applicant, None);

    // Only reviewers decide on materials: the other registrar's keys and applicants get FORBIDDEN before any lookup.
    let review = "mutation($id: ID!, $ok: Boolean!) { reviewAttachment(id: $id, accepted: $ok) { id reviewStatus } }";
    let probe =
        Probe::new("Mutation.reviewAttachment", &["id"], review, json!({ "id": reviewed, "ok": true }), &[&reviewed])
            .may(REVIEWERS);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.reviewer, None);

    w.finish("materials", Some(before)).await;
}

// -------------------------------------------------------------------------------------------------------------------
// Mobile hand-offs
// -------------------------------------------------------------------------------------------------------------------

/// A field that names a filing and a website, its query, its variables for (filing, website), and the file it sends.
type Shape<'a> = (&'static str, &'static str, &'a dyn Fn(&Fix, &Value) -> Value, Option<Vec<u8>>);

/// The last code the embedded sender recorded for `mobile`.
async fn phone_code(app: &TestApp, mobile: &str) -> String {
    let messages = beian::mail::outbox::latest(&app.db, None, 200).await.unwrap();
    let keys = &app.deps.keys;
    let message = messages
        .iter()
        .find(|m| m.template == "PHONE_CODE" && keys.open(m.tenant_id, &m.recipient).unwrap() == mobile)
        .expect("a code");
    message.payload["code"].as_str().unwrap().to_owned()
}

async fn hand_off(app: &TestApp, token: &str, fix: &Fix) -> Value {
    let input = json!({ "input": { "filingId": fix.id() } });
    app.ok(token, START_HAND_OFF, input).await["startMobileVerification"].clone()
}

#[tokio::test]
async fn another_owners_hand_offs_cannot_be_used() {
    let w = World::new().await;
    let (app, a, b) = (&w.app, &w.a, &w.b);
    let target = w.filing(a, &a.applicant, Stage::Draft).await;
    let revoked = w.filing(a, &a.applicant, Stage::Draft).await;
    let phoned = w.filing(a, &a.applicant, Stage::Draft).await;
    let another_of_the_owner = w.filing(a, &a.applicant, Stage::Draft).await;
    let backends = w.filing(a, &a.key, Stage::Draft).await;
    let beta_draft = w.filing(b, &b.applicant, Stage::Draft).await;
    let second_draft = w.filing(a, &a.second_applicant, Stage::Draft).await;

    let verification = hand_off(app, &a.applicant, &revoked).await["verification"]["id"].clone();
    // The subject's responsible person confirms the phone and starts an upload of the commitment letter.
    let phone = hand_off(app, &a.applicant, &phoned).await["token"].as_str().unwrap().to_owned();
    app.ok(&phone, "mutation { sendPhoneCode { codesLeft } }", json!({})).await;
    let code = phone_code(app, phoned.input["subject"]["responsiblePerson"]["mobile"].as_str().unwrap()).await;
    app.ok(
        &phone,
        "mutation($code: String!) { confirmPhoneCode(code: $code) { phoneVerified } }",
        json!({ "code": code }),
    )
    .await;
    let letter = pdf();
    let upload = "mutation($input: RequestMobileUploadInput!) { requestMobileUpload(input: $input) {
        url headers { name value } attachment { id } } }";
    let input = json!({ "input": { "kind": "COMMITMENT_LETTER", "fileName": "c.pdf", "contentType": "application/pdf",
        "size": letter.len(), "sha256": sha256(&letter) } });
    let ticket = app.ok(&phone, upload, input).await["requestMobileUpload"].clone();
    assert_eq!(put(app, &ticket, letter).await, 200);
    // Other phones: of the other registrar, of the second applicant, of another filing of the same owner, of a filing
    // the registrar's backend created.
    let mut phones = Vec::new();
    for (name, token, fix, foreign) in [
        ("a phone of beta's applicant", &b.applicant, &beta_draft, true),
        ("a phone of alpha's second applicant", &a.second_applicant, &second_draft, false),
        ("a phone of another filing of the owner", &a.applicant, &another_of_the_owner, false),
        ("a phone of a filing of alpha's backend", &a.key, &backends, false),
    ] {
        let token = hand_off(app, token, fix).await["token"].as_str().unwrap().to_owned();
        phones.push(Caller::new(name, &token, Phone, foreign));
    }
    let before = w.snapshot().await;
    let attackers = w.attackers();

    let start = |fix: &Fix, website: &Value| json!({ "input": { "filingId": fix.id(), "websiteId": website } });
    let probe = Probe::new(
        "Mutation.startMobileVerification",
        &["input.filingId", "input.websiteId"],
        START_HAND_OFF,
        start(&target, target.website()),
        &[target.id(), target.website()],
    )
    .may(EDITORS);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.applicant, None);
    for (own, attackers, owner) in
        [(&beta_draft, w.beta(), &b.applicant), (&second_draft, vec![w.second_applicant()], &a.second_applicant)]
    {
        let probe = Probe::new(
            "Mutation.startMobileVerification",
            &["input.websiteId"],
            START_HAND_OFF,
            start(own, target.website()),
            &[target.website()],
        )
        .like_unknown()
        .about("(the attacker's own draft)");
        w.probe(&probe, &attackers).await;
        w.prove(&probe, owner, Some(start(own, own.website())));
    }

    let revoke = "mutation($id: ID!) { revokeMobileVerification(id: $id) { id status } }";
    let probe = Probe::new(
        "Mutation.revokeMobileVerification",
        &["id"],
        revoke,
        json!({ "id": verification }),
        &[&verification],
    )
    .may(EDITORS);
    w.probe(&probe, &attackers).await;
    w.prove(&probe, &a.applicant, None);

    // Only phones complete phone uploads (anything else is UNAUTHENTICATED whatever the ID); another phone must not
    // find this phone's upload.
    let complete = "mutation($id: ID!) { completeMobileUpload(id: $id) { id status } }";
    let id = &ticket["attachment"]["id"];
    let probe = Probe::new("Mutation.completeMobileUpload", &["id"], complete, json!({ "id": id }), &[id]).may(PHONES);
    w.probe(&probe, &phones).await;
    w.prove(&probe, &phone, None);

    w.finish("mobile", Some(before)).await;
}

// -------------------------------------------------------------------------------------------------------------------
// Accounts, API keys, mail
// -------------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn another_registrars_accounts_keys_and_mail_cannot_be_managed() {
    let w = World::new().await;
    let (app, a) = (&w.app, &w.a);
    let account =
        |email: &'static str| async move { staff(app, &a.admin, email, "REVIEWER").await["account"]["id"].clone() };
    let to_disable = account("disable-me@alpha.example").await;
    let to_enable = account("enable-me@alpha.example").await;
    let to_promote = account("promote-me@alpha.example").await;
    let disable = "mutation($id: ID!) { disableAccount(accountId: $id) { id status } }";
    app.ok(&a.admin, disable, json!({ "id": to_enable })).await;
    let create = "mutation { createApiKey(name: \"victim\", scope: FULL) { apiKey { id } } }";
    let key = app.ok(&a.admin, create, json!({})).await["createApiKey"]["apiKey"]["id"].clone();
    // A message the relay refused for good.
    let invite = "mutation { inviteStaff(input: {
        email: \"retry-me@alpha.example\", displayName: \"R\", role: REVIEWER }) { id } }";
    app.ok(&a.admin, invite, json!({})).await;
    let list = "{ notifications(first: 1, filter: { recipient: \"retry-me@alpha.example\" }) { nodes { id } } }";
    let notification = app.ok(&a.admin, list, json!({})).await["notifications"]["nodes"][0]["id"].clone();
    let uuid =
        beian::graphql::ids::decode(notification.as_str().unwrap(), beian::graphql::ids::Kind::Notification, "id")
            .unwrap();
    use entity::outbox_message::{Column, Entity};
    Entity::update_many()
        .col_expr(Column::Status, Expr::value("FAILED"))
        .col_expr(Column::Attempts, Expr::value(5))
        .filter(Column::Id.eq(uuid))
        .exec(&app.db)
        .await
        .unwrap();
    let before = w.snapshot().await;
    let attackers = w.attackers();

    // Administrators' business: everyone else gets FORBIDDEN whatever the ID; the other registrar's administrator,
    // who may do this to its own accounts, keys and mail, must not find ours.
    let enable = "mutation($id: ID!) { enableAccount(accountId: $id) { id status } }";
    let promote = "mutation($id: ID!) { updateAccountRole(accountId: $id, role: ADMIN) { id role } }";
    let revoke = "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }";
    let retry = "mutation($id: ID!) { retryNotification(id: $id) { id status } }";
    for (field, ids, query, id, may) in [
        ("Mutation.disableAccount", &["accountId"], disable, &to_disable, ADMINS),
        ("Mutation.enableAccount", &["accountId"], enable, &to_enable, ADMINS),
        ("Mutation.updateAccountRole", &["accountId"], promote, &to_promote, ADMINS),
        ("Mutation.revokeApiKey", &["id"], revoke, &key, ADMINS),
        ("Mutation.retryNotification", &["id"], retry, &notification, MAIL_MANAGERS),
    ] {
        let probe = Probe::new(field, ids, query, json!({ "id": id }), &[id]).may(may);
        w.probe(&probe, &attackers).await;
        w.prove(&probe, &a.admin, None);
    }
    w.finish("people", Some(before)).await;
}

/// An endpoint of the registrar and a delivery (a test ping) to it; their IDs.
async fn webhook(app: &TestApp, admin: &str) -> (Value, Value) {
    let create = "mutation { createWebhookEndpoint(input: { url: \"https://hooks.alpha.example/beian\",
        description: \"alpha billing\" }) { endpoint { id } } }";
    let endpoint = app.ok(admin, create, json!({})).await["createWebhookEndpoint"]["endpoint"]["id"].clone();
    let ping = "mutation($id: ID!) { pingWebhookEndpoint(id: $id) { id } }";
    let delivery = app.ok(admin, ping, json!({ "id": endpoint })).await["pingWebhookEndpoint"]["id"].clone();
    (endpoint, delivery)
}

#[tokio::test]
async fn another_registrars_webhooks_cannot_be_managed() {
    let w = World::new().await;
    let (app, a) = (&w.app, &w.a);
    let (endpoint, delivery) = webhook(app, &a.admin).await;
    let endpoints = "{ webhookEndpoints { id url description enabled updatedAt previousSecretExpiresAt
        deliveries { nodes { id status } } } }";
    let theirs = app.ok(&a.admin, endpoints, json!({})).await;
    let before = w.snapshot().await;
    let attackers = w.attackers();

    // Administrators' (and admin-scope keys') business: everyone else gets FORBIDDEN whatever the ID; the other
    // registrar's administrator, who may do this to its own endpoints, must not find ours.
    let update = "mutation($id: ID!) { updateWebhookEndpoint(input: { id: $id, description: \"x\" }) { id } }";
    let rotate = "mutation($id: ID!) { rotateWebhookEndpointSecret(id: $id) { secret } }";
    let ping = "mutation($id: ID!) { pingWebhookEndpoint(id: $id) { id } }";
    let redeliver = "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id } }";
    let delete = "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }";
    let cases: [(&str, &[&str], &str, &Value); 5] = [
        ("Mutation.updateWebhookEndpoint", &["input.id"], update, &endpoint),
        ("Mutation.rotateWebhookEndpointSecret", &["id"], rotate, &endpoint),
        ("Mutation.pingWebhookEndpoint", &["id"], ping, &endpoint),
        ("Mutation.redeliverWebhook", &["deliveryId"], redeliver, &delivery),
        ("Mutation.deleteWebhookEndpoint", &["id"], delete, &endpoint),
    ];
    for (field, ids, query, id) in cases {
        let probe = Probe::new(field, ids, query, json!({ "id": id }), &[id]).may(ADMINS);
        w.probe(&probe, &attackers).await;
        w.prove(&probe, &a.admin, None);
    }
    assert_eq!(app.ok(&a.admin, endpoints, json!({})).await, theirs, "the attacks changed no endpoint");
    w.finish("webhooks", Some(before)).await;
}

// -------------------------------------------------------------------------------------------------------------------
// Subscriptions
// -------------------------------------------------------------------------------------------------------------------

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next message within `millis`, if any (a closed socket is none).
async fn message_within(socket: &mut Socket, millis: u64) -> Option<Value> {
    use futures_util::StreamExt;
    match tokio::time::timeout(std::time::Duration::from_millis(millis), socket.next()).await {
        Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) => serde_json::from_str(&text).ok(),
        _ => None,
    }
}

/// The error code of a subscription's answer (`next` with errors, or `error`).
fn ws_code(message: &Value) -> String {
    let errors = if message["type"] == "error" { &message["payload"] } else { &message["payload"]["errors"] };
    errors[0]["extensions"]["code"].as_str().unwrap_or("ok").to_owned()
}

#[tokio::test]
async fn another_owners_filing_cannot_be_watched() {
    let w = World::new().await;
    let (app, a) = (&w.app, &w.a);
    let filing = w.filing(a, &a.applicant, Stage::Draft).await;
    let query = "subscription($id: ID!) { filingUpdated(id: $id) { id status version subject { name } } }";
    let before = w.snapshot().await;

    let mut watchers = Vec::new();
    for attacker in w.attackers() {
        let mut socket = subscribe(app, Some(&attacker.token), query, json!({ "id": filing.id() })).await;
        let answer = next_message(&mut socket).await;
        let unknown = forge(filing.id().as_str().unwrap());
        let mut other = subscribe(app, Some(&attacker.token), query, json!({ "id": unknown })).await;
        let baseline = next_message(&mut other).await;
        let got = ws_code(&answer);
        let mut wrong = w.leaks(&attacker, &answer.to_string());
        if got != "NOT_FOUND" {
            wrong.push(format!("{got} instead of NOT_FOUND"));
        }
        if !answer["payload"]["data"].is_null() {
            wrong.push("it returned data".to_owned());
        }
        if got != ws_code(&baseline) {
            wrong.push(format!("{} for a nonexistent ID", ws_code(&baseline)));
        }
        w.log.lock().unwrap().push(format!("Subscription.filingUpdated [\"id\"] as {}: {got}", attacker.name));
        if !wrong.is_empty() {
            w.fail(format!("Subscription.filingUpdated as {}: {}; answer: {answer}", attacker.name, wrong.join("; ")));
        }
        watchers.push((attacker, socket));
    }
    let mut owner = subscribe(app, Some(&a.applicant), query, json!({ "id": filing.id() })).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let after = w.snapshot().await;
    let mut changed = Vec::new();
    differences("", &before, &after, &mut changed);
    assert!(changed.is_empty(), "{changed:#?}");

    // The owner changes the filing: the owner hears of it, none of the attackers does.
    let mut moved = filing.input["subject"].clone();
    moved["mailingAddress"] = json!("北京市朝阳区示例路2号");
    let update = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }";
    let vars = json!({ "input": { "filingId": filing.id(), "version": filing.version(), "subject": moved } });
    app.ok(&a.applicant, update, vars).await;
    let heard = next_message(&mut owner).await;
    if &heard["payload"]["data"]["filingUpdated"]["id"] == filing.id() {
        w.proven.lock().unwrap().insert("Subscription.filingUpdated".to_owned());
    } else {
        w.fail(format!("the owner's own subscription heard nothing of the change: {heard}"));
    }
    for (attacker, mut socket) in watchers {
        while let Some(message) = message_within(&mut socket, 300).await {
            if message["type"] == "next" && !message["payload"]["data"].is_null() {
                w.fail(format!("Subscription.filingUpdated as {}: an update came through: {message}", attacker.name));
            }
        }
    }
    w.cover("Subscription.filingUpdated", &["id"]);
    w.finish("subscription", None).await;
}

// -------------------------------------------------------------------------------------------------------------------
// The checks themselves
// -------------------------------------------------------------------------------------------------------------------

/// The probes and the snapshot must catch a caller who does find the object: here the owner, posing as an attacker.
#[tokio::test]
async fn the_checks_catch_a_caller_who_finds_the_object() {
    let w = World::new().await;
    let a = &w.a;
    let fix = w.filing(a, &a.applicant, Stage::Draft).await;
    let before = w.snapshot().await;
    let owner = [Caller::new("the owner", &a.applicant, Applicant, false)];

    let read = "query($id: ID!) { filing(id: $id) { id subject { name } } }";
    let probe = Probe::new("Query.filing", &["id"], read, json!({ "id": fix.id() }), &[fix.id()]);
    w.probe(&probe, &owner).await;
    w.probe(&probe.clone().like_unknown(), &owner).await;
    let mut moved = fix.input["subject"].clone();
    moved["mailingAddress"] = json!("北京市朝阳区示例路2号");
    let query = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { id version } }";
    let vars = json!({ "input": { "filingId": fix.id(), "version": fix.version(), "subject": moved } });
    let probe = Probe::new("Mutation.updateFilingSubject", &["input.filingId"], query, vars, &[fix.id()]).may(EDITORS);
    w.probe(&probe, &owner).await;

    let failures = w.failures.lock().unwrap().clone();
    let name = fix.input["subject"]["name"].as_str().unwrap();
    let caught = |field: &str, needles: &[&str]| {
        failures.iter().any(|f| f.starts_with(field) && needles.iter().all(|n| f.contains(n)))
    };
    assert!(
        caught("Query.filing", &["it returned data", "ok instead of NOT_FOUND", &format!("the answer shows {name}")]),
        "{failures:#?}"
    );
    assert!(caught("Query.filing", &["where a nonexistent ID gets null", "ok [] for the foreign ID but NOT_FOUND"]));
    assert!(caught("Mutation.updateFilingSubject", &["ok instead of NOT_FOUND"]), "{failures:#?}");
    let mut changed = Vec::new();
    differences("", &before, &w.snapshot().await, &mut changed);
    assert!(changed.iter().any(|c| c.contains("mailingAddress")), "{changed:#?}");
}
