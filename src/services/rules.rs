//! Running the ICP rules of [`crate::domain::rules`] on filings: the facts they need from the database, the
//! "a save may not introduce an error" policy, and the pre-submit check.

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QuerySelect, RelationTrait};
use uuid::Uuid;

use super::ServiceError;
use super::access::{self, certificate_index, stored_form};
use crate::auth::Actor;
use crate::domain::forms::CreateFilingInput;
use crate::domain::rules::{self, Context};
use crate::domain::{FieldError, FilingStatus};
use crate::pii::Blind;
use crate::services::Deps;
use entity::{filing, filing_subject, website};

/// The findings of the pre-submit check on a stored filing.
#[derive(Clone, Debug)]
pub struct Precheck {
    /// Errors and warnings; website paths are `websites[i]` in the filing's website order.
    pub findings: Vec<FieldError>,
    /// The ids of the filing's websites, in that order.
    pub website_ids: Vec<Uuid>,
}

/// Every finding on the filing form, with the facts the rules need from the tenant's other filings.
pub(crate) async fn findings(
    deps: &Deps,
    db: &impl ConnectionTrait,
    actor: &Actor,
    form: &CreateFilingInput,
    this_filing: Option<Uuid>,
    complete: bool,
) -> Result<Vec<FieldError>, ServiceError> {
    let context = Context {
        reference: &deps.reference,
        today: deps.now().date_naive(),
        mobiles_of_other_subjects: mobiles_of_other_subjects(deps, db, actor, form, this_filing).await?,
    };
    Ok(rules::check_filing(form, &context, complete))
}

/// The errors of `prospective` that `current` does not have: a save may not introduce an error, but a draft that
/// carries one (the rules or the facts changed since) can still be edited elsewhere.
pub(crate) fn introduced(prospective: Vec<FieldError>, current: &[FieldError]) -> Vec<FieldError> {
    let known: HashSet<(&str, _)> =
        current.iter().filter(|f| f.is_error()).map(|f| (f.field.as_str(), f.code)).collect();
    prospective.into_iter().filter(|f| f.is_error() && !known.contains(&(f.field.as_str(), f.code))).collect()
}

/// Basic field errors and rule errors together; where a field already has a basic error (empty, too long, ...),
/// rule errors on it would only repeat the problem.
pub(crate) fn merge(mut basic: Vec<FieldError>, rule_errors: Vec<FieldError>) -> Vec<FieldError> {
    let fields: HashSet<String> = basic.iter().map(|e| e.field.clone()).collect();
    basic.extend(rule_errors.into_iter().filter(|e| e.is_error() && !fields.contains(&e.field)));
    basic
}

/// Renames the paths of website `index` (`websites[3].name`) to the mutation's input (`website.name`).
pub(crate) fn as_website_input(errors: Vec<FieldError>, index: usize) -> Vec<FieldError> {
    let prefix = format!("websites[{index}]");
    errors
        .into_iter()
        .map(|mut e| {
            if let Some(rest) = e.field.strip_prefix(&prefix) {
                e.field = format!("website{rest}");
            }
            e
        })
        .collect()
}

/// The pre-submit check: everything a reviewer or the bureau would refuse, and what would draw a question.
pub async fn precheck(deps: &Deps, actor: &Actor, filing_id: Uuid) -> Result<Precheck, ServiceError> {
    let db = &deps.db;
    super::access::get_filing(deps, actor, filing_id).await?;
    let (form, website_ids) = stored_form(db, &deps.keys, actor, filing_id).await?;
    let findings = findings(deps, db, actor, &form, Some(filing_id), true).await?;
    Ok(Precheck { findings, website_ids })
}

/// Mobile numbers of the form that back another subject (another certificate) in another live filing of the tenant.
async fn mobiles_of_other_subjects(
    deps: &Deps,
    db: &impl ConnectionTrait,
    actor: &Actor,
    form: &CreateFilingInput,
    this_filing: Option<Uuid>,
) -> Result<HashSet<String>, ServiceError> {
    // The database compares blind indexes (the values are sealed); this maps them back to the form's mobiles.
    let keys = &deps.keys;
    let by_index: HashMap<String, String> = std::iter::once(&form.subject.responsible_person)
        .chain(form.websites.iter().map(|w| &w.responsible_person))
        .map(|p| access::rules_mobile(&p.mobile))
        .filter(|m| !m.is_empty())
        .map(|m| (keys.blind(actor.tenant_id, Blind::Mobile, &m), m))
        .collect();
    if by_index.is_empty() {
        return Ok(HashSet::new());
    }
    let mobiles: Vec<String> = by_index.keys().cloned().collect();
    let ours = certificate_index(keys, actor.tenant_id, &form.subject.certificate_number);
    let live = |query: sea_orm::Select<filing_subject::Entity>| {
        let query = query
            .join(JoinType::InnerJoin, filing_subject::Relation::Filing.def())
            .filter(filing_subject::Column::TenantId.eq(actor.tenant_id))
            .filter(filing::Column::Status.ne(FilingStatus::Abandoned.as_str()));
        match this_filing {
            Some(id) => query.filter(filing::Column::Id.ne(id)),
            None => query,
        }
    };
    // Subjects' responsible persons.
    let subjects: Vec<(String, String)> = live(filing_subject::Entity::find())
        .filter(filing_subject::Column::RpMobileBidx.is_in(mobiles.clone()))
        .select_only()
        .column(filing_subject::Column::RpMobileBidx)
        .column(filing_subject::Column::CertificateNumberBidx)
        .into_tuple()
        .all(db)
        .await?;
    let mut taken: HashSet<String> =
        subjects.into_iter().filter(|(_, cert)| *cert != ours).filter_map(|(m, _)| by_index.get(&m).cloned()).collect();
    // Websites' responsible persons, with their filing's subject certificate.
    let websites: Vec<(String, Uuid)> = website::Entity::find()
        .filter(website::Column::TenantId.eq(actor.tenant_id))
        .filter(website::Column::RpMobileBidx.is_in(mobiles))
        .select_only()
        .column(website::Column::RpMobileBidx)
        .column(website::Column::FilingId)
        .into_tuple()
        .all(db)
        .await?;
    if !websites.is_empty() {
        let filing_ids: Vec<Uuid> = websites.iter().map(|(_, f)| *f).collect();
        let certificates: HashMap<Uuid, String> = live(filing_subject::Entity::find())
            .filter(filing_subject::Column::FilingId.is_in(filing_ids))
            .select_only()
            .column(filing_subject::Column::FilingId)
            .column(filing_subject::Column::CertificateNumberBidx)
            .into_tuple::<(Uuid, String)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        taken.extend(websites.into_iter().filter_map(|(mobile, filing)| {
            certificates.get(&filing).filter(|cert| **cert != ours).and_then(|_| by_index.get(&mobile).cloned())
        }));
    }
    Ok(taken)
}
