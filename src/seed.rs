//! Realistic data at scale, for benchmarks and trying things out: `beian dev seed --tenants N --filings M`.
//!
//! Every filing is a valid form (check digits, divisions, domains and names pass the same rules as `createFiling`),
//! spread over the workflow's states with the audit events of the path that leads there, 1-3 websites, and 3-6
//! materials (metadata rows only: no file is stored in S3, so their download URLs lead nowhere). Approved filings
//! carry ICP numbers. Rows are written with multi-row INSERTs in transactions of [`CHUNK`] filings, so a million
//! filings take minutes. The same `--seed` gives the same data.
//!
//! `beian dev sample-input create-filing` prints more forms of the same kind, numbered apart from the seeded ones,
//! as GraphQL inputs (for the benchmark's createFiling runs).

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, TransactionTrait};
use uuid::Uuid;

use crate::auth::{Actor, ActorKind};
use crate::domain::forms::{CreateFilingInput, PersonInput, SubjectInput, WebsiteInput};
use crate::domain::identifiers::icp_number::{IcpNumber, IcpNumberKind};
use crate::domain::identifiers::{org_code, resident_id, uscc};
use crate::domain::{
    AccessMethod, CertificateType, FilingStatus, FilingType, Language, MaterialKind, ServiceContent, SubjectType,
    WebsiteOperation,
};
use crate::pii::Keyring;
use crate::services::audit::FilingAction;
use crate::services::{Deps, ServiceError};

/// Filings written per transaction.
pub const CHUNK: u64 = 500;

/// Transactions written at once on PostgreSQL (SQLite takes them one after the other).
const PARALLEL_CHUNKS: usize = 3;

/// What to create.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub tenants: u32,
    pub filings: u64,
    /// Varies the data; the same seed gives the same filings.
    pub seed: u64,
}

/// A registrar the seed created, with the key to call the API as its backend.
#[derive(Clone, Debug)]
pub struct SeededTenant {
    pub slug: String,
    pub id: Uuid,
    pub api_key: String,
}

/// How the filings spread over the states, out of 100.
const STATES: [(FilingStatus, u64); 9] = [
    (FilingStatus::Draft, 25),
    (FilingStatus::PendingReview, 10),
    (FilingStatus::InReview, 5),
    (FilingStatus::Returned, 8),
    (FilingStatus::SmsVerification, 5),
    (FilingStatus::SmsFailed, 2),
    (FilingStatus::BureauReview, 10),
    (FilingStatus::Approved, 30),
    (FilingStatus::Abandoned, 5),
];

const WEBSITE_NAMES: [&str; 6] = ["企业官网", "产品展示网", "技术文档网", "客户服务中心", "品牌介绍网", "合作伙伴网"];
const SURNAMES: [&str; 8] = ["张", "王", "李", "赵", "陈", "刘", "杨", "黄"];
const GIVEN: [&str; 8] = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "军"];

/// Creates the registrars (each with a reviewer account and an API key) and spreads the filings over them, calling
/// `progress` with the number written after each chunk.
pub async fn seed(
    deps: &Deps,
    options: Options,
    mut progress: impl FnMut(u64),
) -> Result<Vec<SeededTenant>, ServiceError> {
    let db = &deps.db;
    let run = Uuid::now_v7().simple().to_string();
    let mut tenants = Vec::new();
    let mut reviewers = Vec::new();
    for t in 0..options.tenants.max(1) {
        let slug = format!("seed-{}-{t:02}", &run[run.len() - 6..]);
        let created = crate::services::tenants::create_tenant(deps, &slug, &format!("示例接入商 {t:02}")).await?;
        let reviewer = Uuid::now_v7();
        entity::account::Entity::insert(entity::account::ActiveModel {
            id: Set(reviewer),
            tenant_id: Set(created.tenant.id),
            email: Set(format!("reviewer@{slug}.example")),
            password_hash: Set(None),
            display_name: Set("审核员".to_owned()),
            role: Set(entity::enums::Role::Reviewer),
            status: Set(entity::enums::AccountStatus::Active),
            preferred_language: Set(None),
            created_at: Set(Utc::now()),
            updated_at: Set(Utc::now()),
        })
        .exec_without_returning(db)
        .await?;
        reviewers.push(reviewer);
        tenants.push(SeededTenant { slug, id: created.tenant.id, api_key: created.api_key });
    }
    let now = Utc::now();
    // Chunks are written by several connections at once (the database does most of the work), while the next
    // chunk is being generated.
    let parallel = if db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite { 1 } else { PARALLEL_CHUNKS };
    let mut writing = tokio::task::JoinSet::new();
    let (mut generated, mut written) = (0, 0);
    while written < options.filings {
        if generated < options.filings && writing.len() < parallel {
            let end = (generated + CHUNK).min(options.filings);
            let mut rows = Rows::default();
            for i in generated..end {
                let t = (i % tenants.len() as u64) as usize;
                rows.add(&deps.keys, options, i, tenants[t].id, reviewers[t], now);
            }
            let (db, count) = (db.clone(), end - generated);
            writing.spawn(async move {
                let txn = db.begin().await?;
                rows.insert(&txn).await?;
                txn.commit().await?;
                Ok::<u64, sea_orm::DbErr>(count)
            });
            generated = end;
            continue;
        }
        let done = writing.join_next().await.expect("a chunk is being written");
        written += done.map_err(ServiceError::internal)??;
        progress(written);
    }
    // Fresh statistics: without them the planner guesses, and a benchmark right after seeding measures its guesses
    // (a page of 50 took several times the database CPU before ANALYZE).
    db.execute_unprepared("ANALYZE").await?;
    Ok(tenants)
}

/// Seeds and reports on stdout (one `slug<TAB>tenant id<TAB>API key` line per registrar) and stderr (progress).
pub async fn run(deps: &Deps, options: Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last = Instant::now();
    let tenants = seed(deps, options, |written| {
        if last.elapsed().as_secs() >= 5 || written == options.filings {
            let rate = written as f64 / started.elapsed().as_secs_f64().max(0.001);
            eprintln!("{written} of {} filings written ({rate:.0}/s)", options.filings);
            last = Instant::now();
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    for tenant in &tenants {
        println!("{}\t{}\t{}", tenant.slug, tenant.id, tenant.api_key);
    }
    eprintln!(
        "seeded {} registrars and {} filings in {:.1} s",
        tenants.len(),
        options.filings,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A deterministic 64-bit hash (splitmix64) of the seed, the filing and a purpose.
fn mix(seed: u64, i: u64, purpose: u64) -> u64 {
    let mut z = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ purpose.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn state_of(seed: u64, i: u64) -> FilingStatus {
    let mut roll = mix(seed, i, 1) % 100;
    for (state, share) in STATES {
        if roll < share {
            return state;
        }
        roll -= share;
    }
    FilingStatus::Draft
}

/// A person with a valid resident ID number (Beijing, Chaoyang), a mobile and an email unique to `serial`.
fn person(seed: u64, serial: u64, mobile_prefix: &str) -> PersonInput {
    let h = mix(seed, serial, 2);
    let birth = chrono::NaiveDate::from_ymd_opt(1960, 1, 1).unwrap() + chrono::Days::new(h % 15_000);
    let first17 = format!("110105{}{:03}", birth.format("%Y%m%d"), h % 1000);
    let id = format!("{first17}{}", resident_id::check_char(first17.as_bytes()));
    PersonInput {
        name: format!("{}{}{}", SURNAMES[(h % 8) as usize], GIVEN[(h / 8 % 8) as usize], GIVEN[(h / 64 % 8) as usize]),
        certificate_type: CertificateType::ResidentIdCard,
        certificate_number: id,
        mobile: format!("{mobile_prefix}{:08}", serial % 100_000_000),
        emergency_phone: Some("010-12345678".to_owned()),
        email: format!("p{serial}@example.com"),
    }
}

/// The form of filing `i`: a Beijing enterprise of its own (credit code, people, domains) with 1-3 websites.
pub fn form(seed: u64, i: u64) -> CreateFilingInput {
    let org8 = format!("{:08}", i % 100_000_000);
    let org = format!("{org8}{}", org_code::check_char(org8.as_bytes()));
    let first17 = format!("91110105{org}");
    let credit_code = format!("{first17}{}", uscc::check_char(first17.as_bytes()));
    let subject = SubjectInput {
        subject_type: SubjectType::Enterprise,
        name: format!("北京示例{i}号科技有限公司"),
        certificate_type: CertificateType::BusinessLicence,
        certificate_number: credit_code,
        certificate_address: Some(format!("北京市朝阳区示例路{}号", i % 999 + 1)),
        province_code: "110000".to_owned(),
        city_code: "110100".to_owned(),
        district_code: "110105".to_owned(),
        mailing_address: format!("北京市朝阳区示例路{}号", i % 999 + 1),
        investor: None,
        remark: None,
        responsible_person: person(seed, i * 4, "139"),
        responsible_person_is_legal_representative: true,
    };
    let count = 1 + mix(seed, i, 3) % 3;
    let websites = (0..count)
        .map(|k| {
            let domain = format!("site{i}-{k}.com");
            WebsiteInput {
                name: WEBSITE_NAMES[((i + k) % WEBSITE_NAMES.len() as u64) as usize].to_owned(),
                homepage_url: format!("https://www.{domain}"),
                domains: vec![domain],
                service_content: vec![ServiceContent::OrganisationPortal],
                languages: vec![Language::SimplifiedChinese],
                pre_approvals: Vec::new(),
                access_method: AccessMethod::Cloud,
                remark: Some("公司介绍、产品展示与联系方式，不提供交互服务。".to_owned()),
                responsible_person: person(seed, i * 4 + 1 + k, "138"),
            }
        })
        .collect();
    CreateFilingInput { subject, websites }
}

/// Where `beian dev sample-input` numbers its forms from by default: apart from `dev seed`'s filings (numbered from
/// 0), so their credit codes, domains, mobiles and emails differ from the seeded ones' while the seed holds fewer
/// than 15 million filings.
pub const SAMPLE_START: u64 = 90_000_000;

/// Numbers of forms stay below this: beyond it credit codes repeat.
pub const SAMPLE_END: u64 = 100_000_000;

/// The forms `start..start + count` (as [`form`] makes them for `dev seed`), each as the JSON of the GraphQL input
/// `createFiling(input:)` takes: camelCase fields, GraphQL enum names. All valid, all different.
pub fn sample_create_filing_inputs(seed: u64, start: u64, count: u64) -> impl Iterator<Item = serde_json::Value> {
    (start..start.saturating_add(count)).map(move |i| {
        let input = crate::graphql::inputs::CreateFilingInput::from(form(seed, i));
        async_graphql::InputType::to_value(&input).into_json().expect("an input object is plain JSON")
    })
}

/// The workflow steps that lead to `state`, as (action, from, to).
fn path(state: FilingStatus) -> Vec<(FilingAction, FilingStatus, FilingStatus)> {
    use FilingAction as A;
    use FilingStatus as S;
    let submitted = vec![(A::Submitted, S::Draft, S::PendingReview)];
    let claimed = [submitted.clone(), vec![(A::ReviewClaimed, S::PendingReview, S::InReview)]].concat();
    let rejected = [claimed.clone(), vec![(A::PreliminaryRejected, S::InReview, S::Returned)]].concat();
    let approved = [claimed.clone(), vec![(A::PreliminaryApproved, S::InReview, S::SmsVerification)]].concat();
    let confirmed = [approved.clone(), vec![(A::SmsCompleted, S::SmsVerification, S::BureauReview)]].concat();
    match state {
        S::Draft => Vec::new(),
        S::PendingReview => submitted,
        S::InReview => claimed,
        S::Returned => rejected,
        S::SmsVerification => approved,
        S::SmsFailed => [approved, vec![(A::SmsCheckFailed, S::SmsVerification, S::SmsFailed)]].concat(),
        S::BureauReview => confirmed,
        S::Approved => [confirmed, vec![(A::BureauApproved, S::BureauReview, S::Approved)]].concat(),
        S::Abandoned => [rejected, vec![(A::Abandoned, S::Returned, S::Abandoned)]].concat(),
    }
}

fn id_at(at: DateTime<Utc>) -> Uuid {
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, at.timestamp() as u64, at.timestamp_subsec_nanos());
    Uuid::new_v7(ts)
}

/// What the rows of one seeded filing share: whose it is, when it was created, where in the workflow it stands and
/// the path that led there, and the ICP number it carries once approved.
struct SeededFiling {
    seed: u64,
    i: u64,
    tenant: Uuid,
    reviewer: Uuid,
    actor: Actor,
    id: Uuid,
    created_at: DateTime<Utc>,
    state: FilingStatus,
    steps: Vec<(FilingAction, FilingStatus, FilingStatus)>,
    number: IcpNumber,
}

impl SeededFiling {
    /// Filing `i`: created over the last two years, in order (the newest filing is the last one), in the state the
    /// seed gives it, numbered in Beijing in a year by its position.
    fn new(options: Options, i: u64, tenant: Uuid, reviewer: Uuid, now: DateTime<Utc>) -> Self {
        let seed = options.seed;
        let state = state_of(seed, i);
        let span = Duration::days(730).num_seconds() as f64;
        let created_at = now - Duration::seconds((span * (1.0 - (i + 1) as f64 / options.filings as f64)) as i64);
        let id = id_at(created_at);
        let year = 2020 + (i / 1_000_000) as u32;
        let number = IcpNumber::subject(
            crate::domain::Province::of_division_code("110000").expect("Beijing"),
            year,
            (i % 1_000_000) as u32,
        );
        SeededFiling {
            seed,
            i,
            tenant,
            reviewer,
            actor: Actor::system(tenant),
            id,
            created_at,
            state,
            steps: path(state),
            number,
        }
    }

    /// When step `n` of the path was taken: ten minutes apart, from ten minutes after creation.
    fn step_at(&self, n: usize) -> DateTime<Utc> {
        self.created_at + Duration::minutes(10 * (n as i64 + 1))
    }

    /// Whether the filing left the draft.
    fn submitted(&self) -> bool {
        !self.steps.is_empty()
    }

    /// Whether the bureau approved it (it carries ICP numbers).
    fn approved(&self) -> bool {
        self.state == FilingStatus::Approved
    }

    /// The filing's row: its state, version and times as its path left them.
    fn row(&self, now: DateTime<Utc>) -> entity::filing::ActiveModel {
        let state = self.state;
        let submitted = self.submitted();
        entity::filing::ActiveModel {
            id: Set(self.id),
            tenant_id: Set(self.tenant),
            owner_account_id: Set(None),
            filing_type: Set(FilingType::FirstFiling),
            status: Set(state),
            version: Set(1 + self.steps.len() as i32),
            reviewer_id: Set((!matches!(state, FilingStatus::Draft | FilingStatus::PendingReview) && submitted)
                .then_some(self.reviewer)),
            submitted_at: Set(submitted.then(|| self.step_at(0))),
            sms_deadline_at: Set((state == FilingStatus::SmsVerification).then(|| now + Duration::hours(24))),
            icp_number: Set(self.approved().then(|| self.number.to_string())),
            base_filing_id: Set(None),
            superseded_by_id: Set(None),
            sms_reminded_at: Set(None),
            created_at: Set(self.created_at),
            updated_at: Set(self.step_at(self.steps.len())),
            purged_at: Set(None),
        }
    }
}

/// One chunk's rows, table by table.
#[derive(Default)]
struct Rows {
    filings: Vec<entity::filing::ActiveModel>,
    subjects: Vec<entity::filing_subject::ActiveModel>,
    websites: Vec<entity::website::ActiveModel>,
    attachments: Vec<entity::attachment::ActiveModel>,
    events: Vec<entity::filing_event::ActiveModel>,
}

impl Rows {
    /// Adds filing `i` of `tenant`: its row, its subject, its websites, its materials and the audit events of the
    /// path to its state.
    fn add(&mut self, keys: &Keyring, options: Options, i: u64, tenant: Uuid, reviewer: Uuid, now: DateTime<Utc>) {
        let form = form(options.seed, i);
        let filing = SeededFiling::new(options, i, tenant, reviewer, now);
        self.filings.push(filing.row(now));
        self.subjects.push(crate::services::filings::subject_row(
            keys,
            &filing.actor,
            filing.id,
            id_at(filing.created_at),
            &form.subject,
        ));
        let website_ids = self.add_websites(keys, &filing, &form.websites);
        self.add_materials(&filing, &website_ids);
        self.add_events(&filing);
    }

    /// Adds the filing's websites, numbered when it is approved; their ids, in order.
    fn add_websites(&mut self, keys: &Keyring, filing: &SeededFiling, websites: &[WebsiteInput]) -> Vec<Uuid> {
        let mut website_ids = Vec::new();
        for (k, website) in websites.iter().enumerate() {
            let website_id = id_at(filing.created_at);
            website_ids.push(website_id);
            let mut row = crate::services::filings::website_row(
                keys,
                &filing.actor,
                filing.id,
                website_id,
                website,
                filing.created_at,
                filing.created_at,
            );
            row.icp_number = Set(filing
                .approved()
                .then(|| filing.number.with_kind(IcpNumberKind::Website(k as u32 + 1)).to_string()));
            row.operation = Set(WebsiteOperation::New);
            row.base_website_id = Set(None);
            self.websites.push(row);
        }
        website_ids
    }

    /// Adds the filing's materials: the subject's certificate and the ID card, and once submitted a face video per
    /// website.
    fn add_materials(&mut self, filing: &SeededFiling, website_ids: &[Uuid]) {
        let (seed, i, id) = (filing.seed, filing.i, filing.id);
        let mut materials: Vec<(MaterialKind, Option<Uuid>, &str, &str)> = vec![
            (MaterialKind::SubjectCertificate, None, "营业执照.pdf", "application/pdf"),
            (MaterialKind::IdCardFront, None, "身份证正面.jpg", "image/jpeg"),
            (MaterialKind::IdCardBack, None, "身份证反面.jpg", "image/jpeg"),
        ];
        if filing.submitted() {
            materials
                .extend(website_ids.iter().map(|w| (MaterialKind::FaceVideo, Some(*w), "核验视频.mp4", "video/mp4")));
        }
        for (n, (kind, website_id, file_name, content_type)) in materials.into_iter().enumerate() {
            let at = filing.created_at + Duration::seconds(n as i64 + 1);
            let attachment = id_at(at);
            self.attachments.push(entity::attachment::ActiveModel {
                id: Set(attachment),
                tenant_id: Set(filing.tenant),
                filing_id: Set(id),
                kind: Set(kind),
                website_id: Set(website_id),
                pre_approval_category: Set(None),
                file_name: Set(file_name.to_owned()),
                content_type: Set(content_type.to_owned()),
                size_bytes: Set(100_000 + (mix(seed, i, 10 + n as u64) % 4_000_000) as i64),
                sha256: Set(format!("{:016x}{:016x}{:016x}{:016x}", mix(seed, i, 20), mix(seed, i, 21), n, i)),
                object_key: Set(format!("seed/{}/{}", id.simple(), attachment.simple())),
                bucket: Set(None),
                status: Set(entity::enums::AttachmentStatus::Uploaded),
                upload_expires_at: Set(at),
                uploaded_at: Set(Some(at)),
                created_by: Set(filing.actor.id),
                review_status: Set(None),
                review_reason: Set(None),
                face_challenge: Set(None),
                created_at: Set(at),
                updated_at: Set(at),
            });
        }
    }

    /// Adds the filing's audit events: its creation, then one per step of its path, the review steps by the
    /// reviewer and the rest by the system.
    fn add_events(&mut self, filing: &SeededFiling) {
        let event = |action: FilingAction, from: Option<FilingStatus>, to: Option<FilingStatus>, at| {
            let by_reviewer = matches!(
                action,
                FilingAction::ReviewClaimed | FilingAction::PreliminaryApproved | FilingAction::PreliminaryRejected
            );
            entity::filing_event::ActiveModel {
                id: Set(id_at(at)),
                tenant_id: Set(filing.tenant),
                filing_id: Set(filing.id),
                actor_kind: Set(if by_reviewer { ActorKind::Account } else { ActorKind::System }),
                actor_id: Set(Some(if by_reviewer { filing.reviewer } else { filing.actor.id })),
                actor_label: Set(if by_reviewer { "审核员" } else { "beian" }.to_owned()),
                action: Set(action),
                from_status: Set(from),
                to_status: Set(to),
                changes: Set(serde_json::json!([])),
                reason: Set((action == FilingAction::PreliminaryRejected).then(|| "材料不清晰".to_owned())),
                details: Set(None),
                created_at: Set(at),
            }
        };
        self.events.push(event(FilingAction::FilingCreated, None, Some(FilingStatus::Draft), filing.created_at));
        for (n, (action, from, to)) in filing.steps.iter().copied().enumerate() {
            self.events.push(event(action, Some(from), Some(to), filing.step_at(n)));
        }
    }

    async fn insert(self, txn: &impl ConnectionTrait) -> Result<(), sea_orm::DbErr> {
        insert_all(txn, self.filings).await?;
        insert_all(txn, self.subjects).await?;
        insert_all(txn, self.websites).await?;
        insert_all(txn, self.attachments).await?;
        insert_all(txn, self.events).await
    }
}

/// Multi-row INSERTs of 1000 rows: PostgreSQL takes at most 65535 parameters a statement, and 1000 rows of up to 25
/// columns stay under it.
async fn insert_all<A>(txn: &impl ConnectionTrait, rows: Vec<A>) -> Result<(), sea_orm::DbErr>
where
    A: sea_orm::ActiveModelTrait + Clone + Send,
{
    for chunk in rows.chunks(1000) {
        A::Entity::insert_many(chunk.to_vec()).exec_without_returning(txn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reference::ReferenceData;
    use crate::domain::rules::{Context, check_filing};

    #[test]
    fn seeded_forms_pass_the_rules_of_create_filing() {
        let reference = ReferenceData::built_in();
        let context = Context {
            reference: &reference,
            today: Utc::now().date_naive(),
            mobiles_of_other_subjects: Default::default(),
        };
        for i in (0..300).chain([99_999, 1_000_000, 12_345_678]) {
            let mut input = form(7, i);
            let basic = crate::services::inputs::validate_create_filing(&mut input);
            assert!(basic.is_empty(), "filing {i}: {basic:?}");
            let errors: Vec<_> = check_filing(&input, &context, true).into_iter().filter(|e| e.is_error()).collect();
            assert!(errors.is_empty(), "filing {i}: {errors:?}");
        }
    }

    #[test]
    fn states_spread_as_configured_and_paths_end_in_them() {
        let mut counts = std::collections::HashMap::new();
        for i in 0..10_000 {
            *counts.entry(state_of(1, i)).or_insert(0u64) += 1;
        }
        for (state, share) in STATES {
            let seen = counts.get(&state).copied().unwrap_or(0);
            assert!(seen.abs_diff(share * 100) < 200, "{state:?}: {seen} of 10000, expected about {}", share * 100);
            let steps = path(state);
            assert_eq!(steps.last().map(|s| s.2).unwrap_or(FilingStatus::Draft), state);
            for pair in steps.windows(2) {
                assert_eq!(pair[0].2, pair[1].1, "{state:?}: steps connect");
            }
        }
    }
}
