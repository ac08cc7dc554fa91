//! Isolation as a property: random sequences of operations by the people of two registrars (three applicants, a
//! reviewer and the backend's full-access API key each), checked against a model of who owns what.
//!
//! The operations: creating filings, editing them (subject, adding and removing websites), uploading their
//! materials, the workflow steps (submit, withdraw, abandon; claim, release, approve, reject), paging through the
//! filing list, replaying another actor's cursor, looking up any ID seen so far (and IDs that never existed), and the
//! review queue. About two thirds of the writes go to a filing the model picks for the right actor in a fitting
//! state, so that filings really move through the workflow; the others come from any actor, mostly one who may not
//! see the filing.
//!
//! What is checked:
//! - after every operation, for every actor of both registrars, the filing list (its nodes with status, subject
//!   name and websites, and `totalCount`) is exactly the model's visible set: applicants their own filings, staff
//!   and the API key every filing of their registrar; the review queue of staff and key holds exactly their
//!   registrar's submitted filings (and applicants are refused it);
//! - paging (`first`/`after`) walks exactly that set, newest first, without repeats;
//! - a lookup (`node`, `filing`) or a write naming an object the caller may not see (another registrar's, another
//!   applicant's) is refused (NOT_FOUND; FORBIDDEN for a reviewer's edit, which no reviewer may make), returns no
//!   data and changes nothing;
//! - that answer is the very answer (errors with messages, codes, paths; data) to the same request naming an ID that
//!   never existed: nothing tells a foreign object from a missing one;
//! - a cursor taken from one actor's list and replayed by an actor of the other registrar only walks the second
//!   actor's own filings (those older than the cursor's filing); a cursor of the other registrar's review queue
//!   only walks the caller's own queue.
//!
//! One server and one cast serve every case: signing up two registrars' people (ten argon2 hashes, seconds in a
//! debug build) and starting a server (a new PostgreSQL database each time) would cost more than a case's
//! operations. Each case continues the world the previous passing case left, the model carrying every filing over
//! with its owner and state, so later cases also act on and look up earlier filings; after a failure (the server
//! may then differ from the model) the next case signs up two new registrars, whose neighbours the earlier ones
//! become. Shrinking therefore replays the smaller sequences on another world than the original.
//!
//! The server trusts one proxy hop so that each sign-up can come from a client address of its own (sign-ups are
//! throttled per client address). The runner has a fixed seed (`BEIAN_ISOLATION_SEED=<u64>` tries another) and
//! writes no failure files. A failure tells the steps of the failing run, each with its actor, target and answer,
//! and the generated operations that ran; `BEIAN_ISOLATION_LOG=1` prints the steps of every case.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use beian::graphql::ids::{self, Kind};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::attachments::{COMPLETE, REQUEST, pdf, png, put, upload_input};
use crate::helpers::*;
use crate::people::*;
use crate::workflow::numbered_filing;

const TENANTS: usize = 2;
const APPLICANTS: usize = 3;
/// Per registrar: the applicants, then the reviewer, then the API key.
const PER_TENANT: usize = APPLICANTS + 2;
const ACTORS: usize = TENANTS * PER_TENANT;
const CASES: u32 = 12;
const SEED: u64 = 0x6265_6961_6e5f_6973;
/// A world's people are signed up anew before their access tokens (15 minutes) could expire.
const WORLD_LIFETIME: std::time::Duration = std::time::Duration::from_secs(10 * 60);

const EDITABLE: &[&str] = &["DRAFT", "RETURNED"];
const IN_QUEUE: &[&str] = &["PENDING_REVIEW", "IN_REVIEW"];

// ---------------------------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Edit {
    UpdateSubject,
    AddWebsite,
    RemoveWebsite,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Submit,
    Withdraw,
    Abandon,
    Claim,
    Release,
    Approve,
    Reject,
}

impl Step {
    fn mutation(self) -> &'static str {
        match self {
            Step::Submit => "submitFiling",
            Step::Withdraw => "withdrawFiling",
            Step::Abandon => "abandonFiling",
            Step::Claim => "claimReview",
            Step::Release => "releaseReview",
            Step::Approve => "approvePreliminaryReview",
            Step::Reject => "rejectPreliminaryReview",
        }
    }

    fn by_reviewer(self) -> bool {
        matches!(self, Step::Claim | Step::Release | Step::Approve | Step::Reject)
    }

    /// The states the step leaves from, and where it leads.
    fn transition(self) -> (&'static [&'static str], &'static str) {
        match self {
            Step::Submit => (EDITABLE, "PENDING_REVIEW"),
            Step::Withdraw => (IN_QUEUE, "DRAFT"),
            Step::Abandon => {
                (&["DRAFT", "RETURNED", "PENDING_REVIEW", "IN_REVIEW", "SMS_VERIFICATION", "SMS_FAILED"], "ABANDONED")
            }
            Step::Claim => (&["PENDING_REVIEW"], "IN_REVIEW"),
            Step::Release => (&["IN_REVIEW"], "PENDING_REVIEW"),
            Step::Approve => (&["IN_REVIEW"], "SMS_VERIFICATION"),
            Step::Reject => (&["IN_REVIEW"], "RETURNED"),
        }
    }
}

/// Who acts on which filing. Indices are resolved against the world as it stands when the operation runs, so every
/// generated sequence is meaningful whatever happened before. `fitting`: the model picks a filing in a state the
/// operation fits and the actor who may take it; otherwise the filing and the actor are any.
#[derive(Clone, Debug)]
struct Target {
    filing: Index,
    actor: Index,
    fitting: bool,
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        actor: Index,
        fitting: bool,
    },
    Edit {
        edit: Edit,
        target: Target,
    },
    Upload {
        target: Target,
    },
    Step {
        step: Step,
        target: Target,
    },
    /// Pages through the actor's list, `first` at a time.
    List {
        actor: Index,
        first: i64,
    },
    /// A cursor of `from`'s list, replayed by `to` (of the other registrar when `cross`).
    ReplayCursor {
        from: Index,
        to: Index,
        at: Index,
        first: i64,
        cross: bool,
    },
    /// Looks up one of the IDs seen so far, or (the last slot) an ID that never existed.
    Lookup {
        actor: Index,
        id: Index,
        fake: u128,
        with_filing_query: bool,
    },
    /// The review queue, `first` at a time, from its start or from a cursor of the other registrar's queue.
    Queue {
        actor: Index,
        first: i64,
        foreign_cursor: Option<Index>,
    },
}

fn target() -> impl Strategy<Value = Target> {
    (any::<Index>(), any::<Index>(), prop::bool::weighted(0.65)).prop_map(|(filing, actor, fitting)| Target {
        filing,
        actor,
        fitting,
    })
}

fn create() -> impl Strategy<Value = Op> {
    (any::<Index>(), prop::bool::weighted(0.85)).prop_map(|(actor, fitting)| Op::Create { actor, fitting })
}

fn operation() -> impl Strategy<Value = Op> {
    let edit = prop_oneof![Just(Edit::UpdateSubject), Just(Edit::AddWebsite), Just(Edit::RemoveWebsite)];
    let step = prop_oneof![
        3 => Just(Step::Submit),
        1 => Just(Step::Withdraw),
        1 => Just(Step::Abandon),
        3 => Just(Step::Claim),
        1 => Just(Step::Release),
        2 => Just(Step::Approve),
        2 => Just(Step::Reject),
    ];
    prop_oneof![
        2 => create(),
        3 => (edit, target()).prop_map(|(edit, target)| Op::Edit { edit, target }),
        3 => target().prop_map(|target| Op::Upload { target }),
        7 => (step, target()).prop_map(|(step, target)| Op::Step { step, target }),
        2 => (any::<Index>(), 1..=4i64).prop_map(|(actor, first)| Op::List { actor, first }),
        2 => (any::<Index>(), any::<Index>(), any::<Index>(), 1..=3i64, prop::bool::weighted(0.8))
            .prop_map(|(from, to, at, first, cross)| Op::ReplayCursor { from, to, at, first, cross }),
        4 => (any::<Index>(), any::<Index>(), any::<u128>(), any::<bool>()).prop_map(
            |(actor, id, fake, with_filing_query)| Op::Lookup { actor, id, fake, with_filing_query }
        ),
        2 => (any::<Index>(), 1..=3i64, prop::option::weighted(0.5, any::<Index>()))
            .prop_map(|(actor, first, foreign_cursor)| Op::Queue { actor, first, foreign_cursor }),
    ]
}

/// 10 to 25 operations, the first few of them creating filings.
fn operations() -> impl Strategy<Value = Vec<Op>> {
    (prop::collection::vec(create(), 2..=4), prop::collection::vec(operation(), 8..=21)).prop_map(|(mut a, b)| {
        a.extend(b);
        a
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Actors
// ---------------------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Applicant,
    Reviewer,
    Key,
}

fn tenant_of(actor: usize) -> usize {
    actor / PER_TENANT
}

fn role_of(actor: usize) -> Role {
    match actor % PER_TENANT {
        j if j < APPLICANTS => Role::Applicant,
        j if j == APPLICANTS => Role::Reviewer,
        _ => Role::Key,
    }
}

fn reviewer_of(tenant: usize) -> usize {
    tenant * PER_TENANT + APPLICANTS
}

fn key_of(tenant: usize) -> usize {
    tenant * PER_TENANT + APPLICANTS + 1
}

fn label(actor: usize) -> String {
    let tenant = tenant_of(actor);
    match role_of(actor) {
        Role::Applicant => format!("t{tenant}.applicant{}", actor % PER_TENANT),
        Role::Reviewer => format!("t{tenant}.reviewer"),
        Role::Key => format!("t{tenant}.key"),
    }
}

static WORLDS: AtomicUsize = AtomicUsize::new(0);
static SIGN_UPS: AtomicUsize = AtomicUsize::new(0);

/// Registers and verifies an applicant, each sign-up from a client address of its own (the app trusts one proxy
/// hop): sign-ups are throttled per client address, and every world (a new one after each failure) signs up six.
async fn sign_up(app: &TestApp, slug: &str, email: &str) -> Value {
    let n = SIGN_UPS.fetch_add(1, Ordering::Relaxed);
    let client = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
    let query = "mutation($input: RegisterApplicantInput!) { registerApplicant(input: $input) { message } }";
    let input = json!({ "tenant": slug, "email": email, "password": PASSWORD, "displayName": "申请人" });
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("x-forwarded-for", client)
        .json(&json!({ "query": query, "variables": { "input": input } }))
        .send()
        .await
        .expect("request");
    let body: Value = response.json().await.expect("JSON body");
    assert!(body.get("errors").is_none(), "sign-up of {email}: {body}");
    let token = outbox_token(app, "EMAIL_VERIFICATION", email).await;
    let query = format!("mutation($token: String!) {{ verifyEmail(token: $token) {{ {SESSION_FIELDS} }} }}");
    anonymous(app, &query, json!({ "token": token })).await["verifyEmail"].clone()
}

/// Signs up a registrar's people: access tokens (the API key for the key) and account IDs, in actor order.
async fn registrar(app: &TestApp, slug: &str) -> Vec<(String, Option<String>)> {
    let key = app.tenant(slug).await;
    let reviewer = async {
        let admin = access(&first_admin(app, slug, &format!("admin@{slug}.example")).await);
        // About who sees what, not about phones: submission needs the materials only here (the phone checks'
        // isolation is `mobile.rs`'s and `bola.rs`'s).
        let phones = "mutation { updateTenantSettings(input: { requirePhoneVerification: false }) { slug } }";
        app.ok(&admin, phones, json!({})).await;
        staff(app, &admin, &format!("reviewer@{slug}.example"), "REVIEWER").await
    };
    let applicants = futures_util::future::join_all(
        (0..APPLICANTS).map(|j| async move { sign_up(app, slug, &format!("applicant{j}@{slug}.example")).await }),
    );
    let (reviewer, applicants) = tokio::join!(reviewer, applicants);
    let person = |session: &Value| (access(session), session["account"]["id"].as_str().map(str::to_owned));
    let mut people: Vec<(String, Option<String>)> = applicants.iter().map(person).collect();
    people.push(person(&reviewer));
    people.push((key, None));
    people
}

// ---------------------------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------------------------

struct FilingModel {
    id: String,
    uuid: Uuid,
    tenant: usize,
    /// The applicant (actor index) who owns it; none for a filing the registrar's backend created.
    owner: Option<usize>,
    /// Its subject's number (`numbered_filing`): unique within the registrar, shared with the other registrar's
    /// filing of the same number, so that per-registrar checks (one order per subject, one mobile per subject) are
    /// also tested for isolation.
    number: u32,
    status: String,
    name: String,
    /// Website IDs, oldest first.
    websites: Vec<String>,
    websites_added: usize,
    /// Whether every material of the filing as it was at the last upload is uploaded...
    materials_uploaded: bool,
    /// ...and the websites that upload covered.
    websites_covered: HashSet<String>,
    attachments: HashSet<String>,
}

impl FilingModel {
    fn materials_complete(&self) -> bool {
        self.materials_uploaded && self.websites.iter().all(|w| self.websites_covered.contains(w))
    }

    fn describe(&self, index: usize) -> String {
        let owner = self.owner.map_or_else(|| format!("t{}.key", self.tenant), label);
        format!("F{index}[{owner}, {}]", self.status)
    }
}

/// An ID seen so far, with what it belongs to.
#[derive(Clone, Debug)]
enum Known {
    Filing(usize),
    Website(usize, String),
    Event(usize, String),
    Attachment(usize, String),
    Account(usize),
}

impl Known {
    fn kind(&self) -> Kind {
        match self {
            Known::Filing(_) => Kind::Filing,
            Known::Website(..) => Kind::Website,
            Known::Event(..) => Kind::FilingEvent,
            Known::Attachment(..) => Kind::Attachment,
            Known::Account(_) => Kind::Account,
        }
    }

    fn typename(&self) -> &'static str {
        match self {
            Known::Filing(_) => "Filing",
            Known::Website(..) => "Website",
            Known::Event(..) => "FilingEvent",
            Known::Attachment(..) => "Attachment",
            Known::Account(_) => "Account",
        }
    }
}

fn fake_id(kind: Kind, bits: u128) -> String {
    ids::encode(kind, Uuid::from_u128(bits)).0
}

fn uuid_of(id: &str) -> Uuid {
    ids::decode_any(id, "id").expect("a global ID").1
}

fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// Whether a body carries no data: `data` null, or every root field null.
fn no_data(body: &Value) -> bool {
    match &body["data"] {
        Value::Null => true,
        Value::Object(fields) => fields.values().all(Value::is_null),
        _ => false,
    }
}

fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .map_or_else(Vec::new, |items| items.iter().filter_map(|item| item["id"].as_str().map(str::to_owned)).collect())
}

const CREATE_Q: &str = "mutation($input: CreateFilingInput!) { createFiling(input: $input) {
    id status subject { name } websites { id } events { id } } }";
const UPDATE_SUBJECT_Q: &str = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) {
    id status subject { name } events { id } } }";
const ADD_WEBSITE_Q: &str = "mutation($input: AddWebsiteInput!) { addWebsite(input: $input) {
    website { id } filing { id events { id } } } }";
const REMOVE_WEBSITE_Q: &str = "mutation($input: RemoveWebsiteInput!) { removeWebsite(input: $input) {
    id websites { id } attachments { id } events { id } } }";
const VERSION_Q: &str = "query($id: ID!) { filing(id: $id) { version } }";
const CHECKLIST_Q: &str = "query($id: ID!) { filing(id: $id) { checklist { items { kind websiteId state } } } }";
const ATTACHMENTS_Q: &str = "query($id: ID!) { filing(id: $id) { attachments { id } } }";
const VIEW_Q: &str = "{ filings(first: 100) { totalCount nodes { id status subject { name } websites { id } } } }";
const STAFF_VIEW_Q: &str = "{ filings(first: 100) { totalCount nodes { id status subject { name } websites { id } } }
    reviewQueue(first: 100) { edges { node { filing { id } } } } }";
const PAGE_Q: &str = "query($first: Int, $after: String) { filings(first: $first, after: $after) {
    totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }";
const QUEUE_Q: &str = "query($first: Int, $after: String) { reviewQueue(first: $first, after: $after) {
    edges { cursor node { filing { id } } } pageInfo { hasNextPage endCursor } } }";
const NODE_Q: &str = "query($id: ID!) { node(id: $id) { id __typename } }";
const FILING_Q: &str = "query($id: ID!) { filing(id: $id) { id __typename } }";

fn step_query(step: Step) -> String {
    let input = if step == Step::Reject { "ReturnFilingInput" } else { "FilingVersionInput" };
    format!("mutation($input: {input}!) {{ {}(input: $input) {{ id status events {{ id }} }} }}", step.mutation())
}

fn step_input(step: Step, filing_id: &str, version: &Value) -> Value {
    let mut input = json!({ "filingId": filing_id, "version": version });
    if step == Step::Reject {
        input["reasons"] = json!([{ "field": "websites[0].name", "code": "NAME_UNCLEAR",
            "message": "网站名称与内容不符", "suggestion": "请修改网站名称" }]);
    }
    json!({ "input": input })
}

/// Names for added websites: distinct within a filing, each a plausible website name.
const WEBSITE_NAMES: &[&str] = &[
    "产品展示网",
    "客户服务网",
    "技术文档网",
    "招聘信息网",
    "新闻资讯网",
    "合作伙伴网",
    "售后支持网",
    "企业文化网",
    "投资者关系网",
    "开发者社区网",
];

struct World<'a> {
    app: &'a TestApp,
    tokens: Vec<String>,
    accounts: Vec<Option<String>>,
    filings: Vec<FilingModel>,
    known: Vec<Known>,
    seen: HashSet<String>,
    numbers: [u32; TENANTS],
    log: Vec<String>,
    /// When its people signed in: their access tokens last 15 minutes.
    born: std::time::Instant,
}

impl<'a> World<'a> {
    async fn new(app: &'a TestApp) -> World<'a> {
        let n = WORLDS.fetch_add(1, Ordering::Relaxed);
        let slugs: Vec<String> = (0..TENANTS).map(|t| format!("iso{n}-t{t}")).collect();
        let people = futures_util::future::join_all(slugs.iter().map(|slug| registrar(app, slug))).await;
        let (tokens, accounts): (Vec<String>, Vec<Option<String>>) = people.into_iter().flatten().unzip();
        let mut world = World {
            app,
            tokens,
            accounts,
            filings: Vec::new(),
            known: Vec::new(),
            seen: HashSet::new(),
            numbers: [0; TENANTS],
            log: Vec::new(),
            born: std::time::Instant::now(),
        };
        for actor in 0..ACTORS {
            if let Some(id) = world.accounts[actor].clone() {
                world.remember(&id, Known::Account(actor));
            }
        }
        world
    }

    fn remember(&mut self, id: &str, known: Known) {
        if self.seen.insert(id.to_owned()) {
            self.known.push(known);
        }
    }

    fn remember_events(&mut self, filing: usize, events: &Value) {
        for id in ids_of(events) {
            self.remember(&id, Known::Event(filing, id.clone()));
        }
    }

    fn sees(&self, actor: usize, filing: usize) -> bool {
        let f = &self.filings[filing];
        tenant_of(actor) == f.tenant && (role_of(actor) != Role::Applicant || f.owner == Some(actor))
    }

    /// The filings `actor` may see, newest first.
    fn visible_to(&self, actor: usize) -> Vec<usize> {
        let mut out: Vec<usize> = (0..self.filings.len()).filter(|&f| self.sees(actor, f)).collect();
        out.sort_by_key(|&f| std::cmp::Reverse(self.filings[f].uuid));
        out
    }

    fn note(&mut self, entry: String) {
        self.log.push(format!("#{} {entry}", self.log.len()));
    }

    async fn post(&self, actor: usize, query: &str, variables: Value) -> Result<Value, TestCaseError> {
        let (status, body) = self.app.post(Some(&self.tokens[actor]), query, variables).await;
        prop_assert_eq!(status, 200, "HTTP {} for {}: {}", status, label(actor), body);
        Ok(body)
    }

    /// A request that must succeed; returns its data.
    async fn data(&self, actor: usize, query: &str, variables: Value) -> Result<Value, TestCaseError> {
        let body = self.post(actor, query, variables).await?;
        prop_assert!(body.get("errors").is_none(), "{} was refused: {}", label(actor), body);
        Ok(body["data"].clone())
    }

    /// The filing's version, as its registrar's backend reads it: a write naming it is refused only for who asks.
    async fn version(&self, filing: usize) -> Result<Value, TestCaseError> {
        let f = &self.filings[filing];
        Ok(self.data(key_of(f.tenant), VERSION_Q, json!({ "id": f.id })).await?["filing"]["version"].clone())
    }

    /// A request about an object `actor` may not see: refused with one of `codes`, without data, and answered
    /// exactly as the same request about an object that does not exist.
    async fn expect_hidden(
        &self,
        actor: usize,
        query: &str,
        real: Value,
        fake: Value,
        codes: &[&str],
        what: &str,
    ) -> Result<String, TestCaseError> {
        let body = self.post(actor, query, real).await?;
        let control = self.post(actor, query, fake).await?;
        let code = error_code(&body).unwrap_or("none").to_owned();
        prop_assert!(codes.contains(&code.as_str()), "{}: {} expected {:?}, got {}", what, label(actor), codes, body);
        prop_assert!(no_data(&body), "{}: {} got data: {}", what, label(actor), body);
        prop_assert_eq!(
            (&body["errors"], &body["data"]),
            (&control["errors"], &control["data"]),
            "{}: {} is answered unlike a nonexistent ID",
            what,
            label(actor)
        );
        Ok(code)
    }

    // -----------------------------------------------------------------------------------------------------------
    // Running operations
    // -----------------------------------------------------------------------------------------------------------

    async fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Create { actor, fitting } => self.create(actor, *fitting).await,
            Op::Edit { edit, target } => self.edit(*edit, target).await,
            Op::Upload { target } => self.upload(target).await,
            Op::Step { step, target } => self.step(*step, target).await,
            Op::List { actor, first } => {
                let actor = actor.index(ACTORS);
                let ids = self.walk(actor, *first, None).await?;
                let expected: Vec<String> =
                    self.visible_to(actor).into_iter().map(|f| self.filings[f].id.clone()).collect();
                self.note(format!("{} pages through its list, {first} at a time: {} filings", label(actor), ids.len()));
                prop_assert_eq!(ids, expected, "{} paging through its list", label(actor));
                Ok(())
            }
            Op::ReplayCursor { from, to, at, first, cross } => self.replay(from, to, at, *first, *cross).await,
            Op::Lookup { actor, id, fake, with_filing_query } => {
                self.lookup(actor.index(ACTORS), id, *fake, *with_filing_query).await
            }
            Op::Queue { actor, first, foreign_cursor } => {
                self.queue(actor.index(ACTORS), *first, foreign_cursor.as_ref()).await
            }
        }
    }

    async fn create(&mut self, actor: &Index, fitting: bool) -> Result<(), TestCaseError> {
        let actor = if fitting {
            // An applicant or the backend of either registrar.
            let choice = actor.index(TENANTS * (APPLICANTS + 1));
            let (tenant, j) = (choice % TENANTS, choice / TENANTS);
            if j < APPLICANTS { tenant * PER_TENANT + j } else { key_of(tenant) }
        } else {
            actor.index(ACTORS)
        };
        let tenant = tenant_of(actor);
        let number = self.numbers[tenant] + 1;
        let body = self.post(actor, CREATE_Q, json!({ "input": numbered_filing(number) })).await?;
        if role_of(actor) == Role::Reviewer {
            self.note(format!("{} createFiling -> {:?}", label(actor), error_code(&body)));
            prop_assert_eq!(error_code(&body), Some("FORBIDDEN"), "a reviewer creates a filing: {}", body);
            prop_assert!(no_data(&body), "{}", body);
            return Ok(());
        }
        prop_assert!(body.get("errors").is_none(), "{} createFiling: {}", label(actor), body);
        self.numbers[tenant] = number;
        let created = &body["data"]["createFiling"];
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        let index = self.filings.len();
        self.filings.push(FilingModel {
            id: id.clone(),
            uuid: uuid_of(&id),
            tenant,
            owner: (role_of(actor) == Role::Applicant).then_some(actor),
            number,
            status: created["status"].as_str().unwrap_or_default().to_owned(),
            name: created["subject"]["name"].as_str().unwrap_or_default().to_owned(),
            websites: ids_of(&created["websites"]),
            websites_added: 0,
            materials_uploaded: false,
            websites_covered: HashSet::new(),
            attachments: HashSet::new(),
        });
        prop_assert_eq!(&self.filings[index].status, "DRAFT");
        self.remember(&id, Known::Filing(index));
        for website in ids_of(&created["websites"]) {
            self.remember(&website, Known::Website(index, website.clone()));
        }
        self.remember_events(index, &created["events"]);
        let described = self.filings[index].describe(index);
        self.note(format!("{} createFiling -> {described}", label(actor)));
        Ok(())
    }

    /// Resolves a target: the filing (preferring those `prefer` accepts when fitting) and the actor (`fit` for
    /// that filing when fitting). None when there is no filing yet.
    fn resolve(
        &self,
        target: &Target,
        prefer: impl Fn(&FilingModel) -> bool,
        fit: impl Fn(&FilingModel, &Index) -> usize,
    ) -> Option<(usize, usize)> {
        if self.filings.is_empty() {
            return None;
        }
        let all: Vec<usize> = (0..self.filings.len()).collect();
        let preferred: Vec<usize> = all.iter().copied().filter(|&f| prefer(&self.filings[f])).collect();
        let pool = if target.fitting && !preferred.is_empty() { preferred } else { all };
        let filing = pool[target.filing.index(pool.len())];
        let actor = if target.fitting { fit(&self.filings[filing], &target.actor) } else { target.actor.index(ACTORS) };
        Some((filing, actor))
    }

    /// The filing's owner, or now and then (and for the backend's own filings) the backend.
    fn editor(f: &FilingModel, choice: &Index) -> usize {
        match f.owner {
            Some(owner) if choice.index(4) != 0 => owner,
            _ => key_of(f.tenant),
        }
    }

    async fn edit(&mut self, edit: Edit, target: &Target) -> Result<(), TestCaseError> {
        let prefer = |f: &FilingModel| {
            EDITABLE.contains(&f.status.as_str()) && (edit != Edit::RemoveWebsite || f.websites.len() > 1)
        };
        let Some((filing, actor)) = self.resolve(target, prefer, Self::editor) else {
            return Ok(());
        };
        let version = self.version(filing).await?;
        let visible = self.sees(actor, filing);
        let f = &self.filings[filing];
        let expected: Result<(), &str> = if role_of(actor) == Role::Reviewer {
            Err("FORBIDDEN")
        } else if !EDITABLE.contains(&f.status.as_str()) {
            Err("INVALID_TRANSITION")
        } else if edit == Edit::AddWebsite && f.websites.len() >= 10 {
            Err("BAD_USER_INPUT")
        } else {
            Ok(())
        };
        if visible && expected.is_ok() && edit == Edit::RemoveWebsite && f.websites.len() < 2 {
            // A filing keeps at least one website here: the model does not follow a filing without any.
            return Ok(());
        }
        let (query, input, fake_input) = match edit {
            Edit::UpdateSubject => {
                let mut subject = numbered_filing(f.number)["subject"].clone();
                let renamed = format!("北京示例{}号信息技术有限公司", f.number);
                if f.name != renamed {
                    subject["name"] = json!(renamed);
                }
                let fake = fake_id(Kind::Filing, u128::from(f.number) << 64 | 0xdead);
                (
                    UPDATE_SUBJECT_Q,
                    json!({ "input": { "filingId": f.id, "version": version, "subject": subject } }),
                    json!({ "input": { "filingId": fake, "version": version, "subject": subject } }),
                )
            }
            Edit::AddWebsite => {
                let k = f.websites_added + 1;
                let domain = format!("example{}-{k}.com", f.number);
                let mut website = website_input(WEBSITE_NAMES[k % WEBSITE_NAMES.len()], &domain);
                website["responsiblePerson"] = numbered_filing(f.number)["websites"][0]["responsiblePerson"].clone();
                let fake = fake_id(Kind::Filing, u128::from(f.number) << 64 | 0xbeef);
                (
                    ADD_WEBSITE_Q,
                    json!({ "input": { "filingId": f.id, "version": version, "website": website } }),
                    json!({ "input": { "filingId": fake, "version": version, "website": website } }),
                )
            }
            Edit::RemoveWebsite => {
                let website = f.websites.last().cloned().unwrap_or_default();
                let fake = fake_id(Kind::Website, u128::from(f.number) << 64 | 0xf00d);
                (
                    REMOVE_WEBSITE_Q,
                    json!({ "input": { "websiteId": website, "version": version } }),
                    json!({ "input": { "websiteId": fake, "version": version } }),
                )
            }
        };
        let what = format!("{} {edit:?} on {}", label(actor), f.describe(filing));
        if !visible {
            let codes: &[&str] = if role_of(actor) == Role::Reviewer { &["FORBIDDEN"] } else { &["NOT_FOUND"] };
            let code = self.expect_hidden(actor, query, input, fake_input, codes, &what).await?;
            self.note(format!("{what} -> {code} (hidden)"));
            return Ok(());
        }
        let body = self.post(actor, query, input).await?;
        let Ok(()) = expected else {
            self.note(format!("{what} -> {:?}", error_code(&body)));
            prop_assert_eq!(error_code(&body), expected.err(), "{}: {}", what, body);
            return Ok(());
        };
        prop_assert!(body.get("errors").is_none(), "{}: {}", what, body);
        let data = &body["data"];
        match edit {
            Edit::UpdateSubject => {
                let changed = &data["updateFilingSubject"];
                self.filings[filing].name = changed["subject"]["name"].as_str().unwrap_or_default().to_owned();
                self.remember_events(filing, &changed["events"]);
            }
            Edit::AddWebsite => {
                let website = data["addWebsite"]["website"]["id"].as_str().unwrap_or_default().to_owned();
                let f = &mut self.filings[filing];
                f.websites.push(website.clone());
                f.websites_added += 1;
                self.remember(&website, Known::Website(filing, website.clone()));
                self.remember_events(filing, &data["addWebsite"]["filing"]["events"]);
            }
            Edit::RemoveWebsite => {
                let changed = &data["removeWebsite"];
                let f = &mut self.filings[filing];
                f.websites.pop();
                prop_assert_eq!(ids_of(&changed["websites"]), f.websites.clone(), "{}", what);
                f.attachments = ids_of(&changed["attachments"]).into_iter().collect();
                self.remember_events(filing, &changed["events"]);
            }
        }
        self.note(format!("{what} -> ok"));
        Ok(())
    }

    async fn upload(&mut self, target: &Target) -> Result<(), TestCaseError> {
        let prefer = |f: &FilingModel| EDITABLE.contains(&f.status.as_str()) && !f.materials_complete();
        let Some((filing, actor)) = self.resolve(target, prefer, Self::editor) else {
            return Ok(());
        };
        let visible = self.sees(actor, filing);
        let f = &self.filings[filing];
        let what = format!("{} uploads materials of {}", label(actor), f.describe(filing));
        let may = role_of(actor) != Role::Reviewer && EDITABLE.contains(&f.status.as_str());
        if visible && may && target.fitting {
            self.upload_all(actor, filing).await?;
            self.note(format!("{what} -> ok"));
            return Ok(());
        }
        // Otherwise one upload request: a foreign filing must look like a missing one.
        let bytes = pdf();
        let real = upload_input(&json!({ "id": f.id }), "SUBJECT_CERTIFICATE", "doc.pdf", "application/pdf", &bytes);
        let fake_filing = json!({ "id": fake_id(Kind::Filing, u128::from(f.number) << 64 | 0xcafe) });
        let fake = upload_input(&fake_filing, "SUBJECT_CERTIFICATE", "doc.pdf", "application/pdf", &bytes);
        if !visible {
            let codes: &[&str] = if role_of(actor) == Role::Reviewer { &["FORBIDDEN"] } else { &["NOT_FOUND"] };
            let code = self.expect_hidden(actor, REQUEST, real, fake, codes, &what).await?;
            self.note(format!("{what} -> {code} (hidden)"));
            return Ok(());
        }
        let body = self.post(actor, REQUEST, real).await?;
        self.note(format!("{what} (one request) -> {:?}", error_code(&body)));
        // Allowed or not, a filing the caller sees is never NOT_FOUND. An upload not completed does not count.
        prop_assert_ne!(error_code(&body), Some("NOT_FOUND"), "{}: {}", what, body);
        prop_assert_eq!(body.get("errors").is_none(), may, "{}: {}", what, body);
        Ok(())
    }

    /// Uploads every material the checklist asks for.
    async fn upload_all(&mut self, actor: usize, filing: usize) -> Result<(), TestCaseError> {
        let id = self.filings[filing].id.clone();
        let items = self.data(actor, CHECKLIST_Q, json!({ "id": id })).await?["filing"]["checklist"]["items"].clone();
        for item in items.as_array().cloned().unwrap_or_default() {
            if matches!(item["state"].as_str(), Some("UPLOADED" | "ACCEPTED")) {
                continue;
            }
            let kind = item["kind"].as_str().unwrap_or_default();
            let (name, content_type, bytes) = match kind {
                "FACE_VIDEO" => ("face.mp4", "video/mp4", {
                    let mut video = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
                    video.resize(4096, 1);
                    video
                }),
                k if k.starts_with("ID_CARD") => ("id.png", "image/png", png(1024)),
                _ => ("doc.pdf", "application/pdf", pdf()),
            };
            let mut input = upload_input(&json!({ "id": id }), kind, name, content_type, &bytes);
            input["input"]["websiteId"] = item["websiteId"].clone();
            let ticket = self.data(actor, REQUEST, input).await?["requestAttachmentUpload"].clone();
            prop_assert_eq!(put(self.app, &ticket, bytes).await, 200, "PUT of {}", kind);
            self.data(actor, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await?;
        }
        let attachments = self.data(actor, ATTACHMENTS_Q, json!({ "id": id })).await?["filing"]["attachments"].clone();
        let attachments = ids_of(&attachments);
        for attachment in &attachments {
            self.remember(attachment, Known::Attachment(filing, attachment.clone()));
        }
        let f = &mut self.filings[filing];
        f.attachments = attachments.into_iter().collect();
        f.materials_uploaded = true;
        f.websites_covered = f.websites.iter().cloned().collect();
        Ok(())
    }

    async fn step(&mut self, step: Step, target: &Target) -> Result<(), TestCaseError> {
        let (from, to) = step.transition();
        let prefer =
            |f: &FilingModel| from.contains(&f.status.as_str()) && (step != Step::Submit || f.materials_complete());
        let fit = |f: &FilingModel, choice: &Index| {
            if step.by_reviewer() { reviewer_of(f.tenant) } else { Self::editor(f, choice) }
        };
        let Some((filing, actor)) = self.resolve(target, prefer, fit) else {
            return Ok(());
        };
        let version = self.version(filing).await?;
        let f = &self.filings[filing];
        let what = format!("{} {} on {}", label(actor), step.mutation(), f.describe(filing));
        let query = step_query(step);
        let input = step_input(step, &f.id, &version);
        if !self.sees(actor, filing) {
            let fake = step_input(step, &fake_id(Kind::Filing, u128::from(f.number) << 64 | 0xface), &version);
            let code = self.expect_hidden(actor, &query, input, fake, &["NOT_FOUND"], &what).await?;
            self.note(format!("{what} -> {code} (hidden)"));
            return Ok(());
        }
        let role_fits = step.by_reviewer() == (role_of(actor) == Role::Reviewer);
        let expected: Result<&str, &str> = if step == Step::Submit && !f.materials_complete() {
            Err("BAD_USER_INPUT")
        } else if role_fits && from.contains(&f.status.as_str()) {
            Ok(to)
        } else {
            Err("INVALID_TRANSITION")
        };
        let body = self.post(actor, &query, input).await?;
        match expected {
            Ok(to) => {
                prop_assert!(body.get("errors").is_none(), "{}: {}", what, body);
                let moved = &body["data"][step.mutation()];
                prop_assert_eq!(moved["status"].as_str(), Some(to), "{}: {}", what, body);
                self.filings[filing].status = to.to_owned();
                self.remember_events(filing, &moved["events"]);
                self.note(format!("{what} -> {to}"));
            }
            Err(code) => {
                self.note(format!("{what} -> {:?}", error_code(&body)));
                prop_assert_eq!(error_code(&body), Some(code), "{}: {}", what, body);
                prop_assert!(no_data(&body), "{}: {}", what, body);
            }
        }
        Ok(())
    }

    /// Walks `actor`'s list `first` at a time from `after`; checks each page; returns the IDs.
    async fn walk(&self, actor: usize, first: i64, mut after: Option<String>) -> Result<Vec<String>, TestCaseError> {
        let total = self.visible_to(actor).len();
        let mut out = Vec::new();
        for _ in 0..=total + 1 {
            let page = self.data(actor, PAGE_Q, json!({ "first": first, "after": after })).await?["filings"].clone();
            prop_assert_eq!(page["totalCount"].as_u64(), Some(total as u64), "{}'s totalCount", label(actor));
            let edges = page["edges"].as_array().cloned().unwrap_or_default();
            prop_assert!(edges.len() as i64 <= first, "{} asked for {} and got {}", label(actor), first, edges.len());
            for edge in &edges {
                out.push(edge["node"]["id"].as_str().unwrap_or_default().to_owned());
            }
            if let Some(last) = edges.last() {
                prop_assert_eq!(&page["pageInfo"]["endCursor"], &last["cursor"]);
            }
            if page["pageInfo"]["hasNextPage"] != json!(true) {
                return Ok(out);
            }
            prop_assert_eq!(edges.len() as i64, first, "{}: a short page before the last", label(actor));
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
        Err(TestCaseError::fail(format!("{} pages through more pages than it has filings", label(actor))))
    }

    async fn replay(
        &mut self,
        from: &Index,
        to: &Index,
        at: &Index,
        first: i64,
        cross: bool,
    ) -> Result<(), TestCaseError> {
        let from = from.index(ACTORS);
        let to = if cross {
            let other = (tenant_of(from) + 1 + to.index(TENANTS - 1)) % TENANTS;
            other * PER_TENANT + to.index(PER_TENANT)
        } else {
            to.index(ACTORS)
        };
        let page = self.data(from, PAGE_Q, json!({ "first": 100 })).await?["filings"].clone();
        let edges = page["edges"].as_array().cloned().unwrap_or_default();
        if edges.is_empty() {
            self.note(format!("{} has no cursor to give {}", label(from), label(to)));
            return Ok(());
        }
        let edge = &edges[at.index(edges.len())];
        let cursor = edge["cursor"].as_str().unwrap_or_default().to_owned();
        let position = uuid_of(edge["node"]["id"].as_str().unwrap_or_default());
        let ids = self.walk(to, first, Some(cursor)).await?;
        let expected: Vec<String> = self
            .visible_to(to)
            .into_iter()
            .filter(|&f| self.filings[f].uuid < position)
            .map(|f| self.filings[f].id.clone())
            .collect();
        self.note(format!(
            "{} replays a cursor of {}, {first} at a time: {} filings",
            label(to),
            label(from),
            ids.len()
        ));
        prop_assert_eq!(ids, expected, "{} walking after a cursor of {}", label(to), label(from));
        Ok(())
    }

    async fn lookup(
        &mut self,
        actor: usize,
        id: &Index,
        fake: u128,
        with_filing_query: bool,
    ) -> Result<(), TestCaseError> {
        let slot = id.index(self.known.len() + 1);
        let Some(known) = self.known.get(slot).cloned() else {
            // An ID that never existed, of any kind.
            let kinds = [Kind::Filing, Kind::Website, Kind::FilingEvent, Kind::Attachment, Kind::Account];
            let id = fake_id(kinds[(fake % kinds.len() as u128) as usize], fake);
            let body = self.post(actor, NODE_Q, json!({ "id": id })).await?;
            self.note(format!("{} looks up a nonexistent ID -> {:?}", label(actor), error_code(&body)));
            prop_assert_eq!(error_code(&body), Some("NOT_FOUND"), "{}", body);
            prop_assert!(no_data(&body), "{}", body);
            return Ok(());
        };
        let (id, visible, whose) = match &known {
            Known::Filing(f) => (self.filings[*f].id.clone(), self.sees(actor, *f), self.filings[*f].describe(*f)),
            Known::Website(f, id) | Known::Attachment(f, id) => {
                let exists = match &known {
                    Known::Website(..) => self.filings[*f].websites.contains(id),
                    _ => self.filings[*f].attachments.contains(id),
                };
                (id.clone(), exists && self.sees(actor, *f), self.filings[*f].describe(*f))
            }
            Known::Event(f, id) => (id.clone(), self.sees(actor, *f), self.filings[*f].describe(*f)),
            Known::Account(a) => (self.accounts[*a].clone().unwrap_or_default(), *a == actor, label(*a)),
        };
        let query = if with_filing_query && matches!(known, Known::Filing(_)) { FILING_Q } else { NODE_Q };
        let what = format!("{} looks up {} of {whose}", label(actor), known.typename());
        if visible {
            let body = self.post(actor, query, json!({ "id": id })).await?;
            self.note(format!("{what} -> {:?}", error_code(&body).unwrap_or("found")));
            prop_assert!(body.get("errors").is_none(), "{}: {}", what, body);
            let node = body["data"].as_object().and_then(|d| d.values().next()).cloned().unwrap_or_default();
            prop_assert_eq!(
                (node["id"].as_str(), node["__typename"].as_str()),
                (Some(id.as_str()), Some(known.typename()))
            );
            return Ok(());
        }
        let fake = json!({ "id": fake_id(known.kind(), fake) });
        let code = self.expect_hidden(actor, query, json!({ "id": id }), fake, &["NOT_FOUND"], &what).await?;
        self.note(format!("{what} -> {code} (hidden)"));
        Ok(())
    }

    /// Pages through the review queue, from its start or from a cursor of the other registrar's queue.
    async fn queue(&mut self, actor: usize, first: i64, foreign_cursor: Option<&Index>) -> Result<(), TestCaseError> {
        if role_of(actor) == Role::Applicant {
            let body = self.post(actor, QUEUE_Q, json!({ "first": first })).await?;
            self.note(format!("{} opens the review queue -> {:?}", label(actor), error_code(&body)));
            prop_assert_eq!(error_code(&body), Some("FORBIDDEN"), "{}", body);
            prop_assert!(no_data(&body), "{}", body);
            return Ok(());
        }
        let mut after: Option<String> = None;
        let mut from = String::new();
        if let Some(at) = foreign_cursor {
            let other = key_of((tenant_of(actor) + 1) % TENANTS);
            let page = self.data(other, QUEUE_Q, json!({ "first": 100 })).await?["reviewQueue"].clone();
            let edges = page["edges"].as_array().cloned().unwrap_or_default();
            if !edges.is_empty() {
                after = edges[at.index(edges.len())]["cursor"].as_str().map(str::to_owned);
                from = format!(" from a cursor of {}", label(other));
            }
        }
        let mut seen = Vec::new();
        loop {
            let page =
                self.data(actor, QUEUE_Q, json!({ "first": first, "after": after })).await?["reviewQueue"].clone();
            let edges = page["edges"].as_array().cloned().unwrap_or_default();
            seen.extend(edges.iter().map(|e| e["node"]["filing"]["id"].as_str().unwrap_or_default().to_owned()));
            prop_assert!(seen.len() <= self.filings.len(), "{}'s queue does not end", label(actor));
            if page["pageInfo"]["hasNextPage"] != json!(true) {
                break;
            }
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
        self.note(format!(
            "{} pages through the review queue{from}, {first} at a time: {} filings",
            label(actor),
            seen.len()
        ));
        let unique: BTreeSet<String> = seen.iter().cloned().collect();
        prop_assert_eq!(unique.len(), seen.len(), "{}'s queue repeats a filing", label(actor));
        let own = self.queue_of(tenant_of(actor));
        if from.is_empty() {
            prop_assert_eq!(unique, own, "{}'s review queue", label(actor));
        } else {
            // Where a foreign cursor stands (its submission time) is not modelled: only the caller's own filings.
            prop_assert!(unique.is_subset(&own), "{}'s queue{}: {:?}, own {:?}", label(actor), from, unique, own);
        }
        Ok(())
    }

    fn queue_of(&self, tenant: usize) -> BTreeSet<String> {
        self.filings
            .iter()
            .filter(|f| f.tenant == tenant && IN_QUEUE.contains(&f.status.as_str()))
            .map(|f| f.id.clone())
            .collect()
    }

    /// Every actor's list (and the staff's queue) is exactly what the model says it may see.
    async fn check_views(&self) -> Result<(), TestCaseError> {
        let bodies = futures_util::future::join_all((0..ACTORS).map(|actor| {
            let query = if role_of(actor) == Role::Applicant { VIEW_Q } else { STAFF_VIEW_Q };
            self.post(actor, query, json!({}))
        }))
        .await;
        for (actor, body) in bodies.into_iter().enumerate() {
            let body = body?;
            prop_assert!(body.get("errors").is_none(), "{}'s views: {}", label(actor), body);
            let expected: Vec<Value> = self
                .visible_to(actor)
                .into_iter()
                .map(|f| {
                    let f = &self.filings[f];
                    let websites: Vec<Value> = f.websites.iter().map(|w| json!({ "id": w })).collect();
                    json!({ "id": f.id, "status": f.status, "subject": { "name": f.name }, "websites": websites })
                })
                .collect();
            let list = &body["data"]["filings"];
            prop_assert_eq!(&list["nodes"], &json!(expected), "{}'s list", label(actor));
            prop_assert_eq!(list["totalCount"].as_u64(), Some(expected.len() as u64), "{}'s totalCount", label(actor));
            if role_of(actor) != Role::Applicant {
                let edges = body["data"]["reviewQueue"]["edges"].as_array().cloned().unwrap_or_default();
                let queue: BTreeSet<String> =
                    edges.iter().map(|e| e["node"]["filing"]["id"].as_str().unwrap_or_default().to_owned()).collect();
                prop_assert_eq!(queue.len(), edges.len(), "{}'s queue repeats a filing", label(actor));
                prop_assert_eq!(queue, self.queue_of(tenant_of(actor)), "{}'s review queue", label(actor));
            }
        }
        Ok(())
    }
}

/// Runs one case on `world`; hands the world back for the next case if every check passed (it is then exactly as
/// the model says).
async fn run_case<'a>(mut world: World<'a>, ops: Vec<Op>) -> (Option<World<'a>>, Result<(), TestCaseError>) {
    world.log.clear();
    let earlier = world.filings.len();
    let mut outcome = world.check_views().await;
    let mut ran = 0;
    for op in &ops {
        if outcome.is_err() {
            break;
        }
        ran += 1;
        outcome = match world.apply(op).await {
            Ok(()) => world.check_views().await,
            Err(e) => Err(e),
        };
    }
    if std::env::var_os("BEIAN_ISOLATION_LOG").is_some() {
        eprintln!("case on {earlier} earlier filings:\n{}\n", world.log.join("\n"));
    }
    match outcome {
        Ok(()) => (Some(world), Ok(())),
        Err(e) => {
            let reason = match e {
                TestCaseError::Fail(reason) | TestCaseError::Reject(reason) => reason.to_string(),
            };
            let steps = world.log.join("\n");
            let ops = &ops[..ran];
            let message = format!(
                "{reason}\n\nsteps of this run, on {earlier} earlier filings (the last one failed):\n{steps}\n\n\
                 the operations that ran: {ops:?}"
            );
            (None, Err(TestCaseError::fail(message)))
        }
    }
}

#[test]
fn no_actor_of_two_registrars_observes_what_it_may_not() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let app = runtime.block_on(async {
        let database = TestDatabase::new().await;
        spawn_app_with(database, |config| config.trusted_proxy_hops = 1).await
    });
    // The world of the last passing case; none at first, and none after a failure (a new one is signed up).
    let world: std::cell::RefCell<Option<World<'_>>> = std::cell::RefCell::new(None);
    let seed = std::env::var("BEIAN_ISOLATION_SEED").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(SEED);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        // A failed case leaves a world that is signed up anew (seconds): shrink briefly, the steps tell the story.
        max_shrink_iters: 32,
        max_shrink_time: 60_000,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    let result = runner.run(&operations(), |ops| {
        runtime.block_on(async {
            let taken = world.borrow_mut().take().filter(|w| w.born.elapsed() < WORLD_LIFETIME);
            let current = match taken {
                Some(current) => current,
                None => World::new(&app).await,
            };
            let (next, outcome) = run_case(current, ops).await;
            *world.borrow_mut() = next;
            outcome
        })
    });
    drop(world);
    drop(runtime.block_on(app.stop()));
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, ops)) => {
            panic!("isolation broken (seed {seed}, {} operations after shrinking): {reason}", ops.len())
        }
        Err(TestError::Abort(reason)) => panic!("the property run was aborted (seed {seed}): {reason}"),
    }
}
