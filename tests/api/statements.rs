//! Nested fields load through DataLoaders: the SQL statements of a list query do not grow with the page size.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use crate::helpers::*;
use crate::processes::scalar;

const PAGE: &str = "query($first: Int) { filings(first: $first) { nodes { id
    subject { name responsiblePerson { name } }
    websites { name responsiblePerson { name } }
    events { action } } } }";

/// The app on a connection that counts every SQL statement it runs.
async fn counting_app() -> (TestApp, Arc<AtomicUsize>) {
    let database = TestDatabase::new().await;
    let mut db = beian::db::connect_ready(&database.config()).await.unwrap();
    let statements = Arc::new(AtomicUsize::new(0));
    let counter = statements.clone();
    // The request's statements: not the background looks for new work (the SQLite server's for new filing events
    // every 200 ms, the webhook dispatcher's for due deliveries), which run on the same pool whatever the requests
    // do.
    db.set_metric_callback(move |info| {
        if !info.statement.sql.contains(beian::db::BACKGROUND_POLL_MARK) {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (spawn_app_with_db(database, db).await, statements)
}

#[tokio::test]
async fn a_page_of_filings_costs_the_same_statements_whatever_its_size() {
    let (app, statements) = counting_app().await;
    let key = app.tenant("xinnet").await;
    for i in 0..30 {
        app.create_filing(&key, &format!("示例公司{i}")).await;
    }

    let mut counts = Vec::new();
    for first in [1, 10, 30] {
        statements.store(0, Ordering::SeqCst);
        let data = app.ok(&key, PAGE, json!({ "first": first })).await;
        assert_eq!(data["filings"]["nodes"].as_array().unwrap().len(), first);
        counts.push(statements.load(Ordering::SeqCst));
    }
    // The API key lookup, the page, and one statement each for subjects, websites and events.
    assert_eq!(counts, vec![5, 5, 5]);
}

#[tokio::test]
async fn a_person_pays_one_statement_for_authentication_like_a_key() {
    let (app, statements) = counting_app().await;
    let key = app.tenant("xinnet").await;
    let admin = crate::people::first_admin(&app, "xinnet", "admin@xinnet.example").await;
    let token = admin["accessToken"].as_str().unwrap().to_owned();
    for i in 0..10 {
        app.create_filing(&key, &format!("示例公司{i}")).await;
    }
    // The account, its registrar and its session (alive: not logged out, not ended by a password change) in one
    // statement, then the same four as with a key.
    statements.store(0, Ordering::SeqCst);
    let data = app.ok(&token, PAGE, json!({ "first": 10 })).await;
    assert_eq!(data["filings"]["nodes"].as_array().unwrap().len(), 10);
    assert_eq!(statements.load(Ordering::SeqCst), 5);
}

/// The benchmark's page query: a registrar's newest filings with subject, websites and materials.
const BENCH_PAGE: &str = "query($first: Int) { filings(first: $first) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id status icpNumber subject { name provinceCode } websites { name domains icpNumber }
      attachments { kind fileName size status } } } } }";

#[tokio::test]
async fn a_page_of_100_costs_the_same_statements_as_a_page_of_10_even_under_concurrency() {
    let (app, statements) = counting_app().await;
    let options = beian::seed::Options { tenants: 1, filings: 120, seed: 3 };
    let key = beian::seed::seed(&app.deps, options, |_| {}).await.unwrap().remove(0).api_key;

    for first in [10, 100] {
        statements.store(0, Ordering::SeqCst);
        let data = app.ok(&key, BENCH_PAGE, json!({ "first": first })).await;
        assert_eq!(data["filings"]["edges"].as_array().unwrap().len(), first);
        // The API key, the page, and one statement each for subjects, websites and attachments.
        assert_eq!(statements.load(Ordering::SeqCst), 5, "page of {first}");
    }
    // Sixteen at once: still five each (the loaders' batches no longer split when resolving is slow).
    statements.store(0, Ordering::SeqCst);
    let requests = (0..16).map(|_| app.ok(&key, BENCH_PAGE, json!({ "first": 100 })));
    let pages = futures_util::future::join_all(requests).await;
    assert!(pages.iter().all(|p| p["filings"]["edges"].as_array().unwrap().len() == 100));
    assert_eq!(statements.load(Ordering::SeqCst), 16 * 5);
}

/// A reviewer's queue screen: per filing its subject, websites and reviewer.
const QUEUE: &str = "query($first: Int) { reviewQueue(first: $first) { edges { node { deadline filing {
    id subject { name } websites { name domains } reviewer { displayName } applicant { displayName } } } } } }";

#[tokio::test]
async fn the_review_queue_costs_the_same_statements_whatever_its_size() {
    let (app, statements) = counting_app().await;
    let options = beian::seed::Options { tenants: 1, filings: 400, seed: 5 };
    let key = beian::seed::seed(&app.deps, options, |_| {}).await.unwrap().remove(0).api_key;
    let waiting = app.ok(&key, QUEUE, json!({ "first": 100 })).await["reviewQueue"]["edges"].as_array().unwrap().len();
    assert!(waiting >= 20, "the seed leaves filings waiting for review: {waiting}");
    let claimed = "SELECT count(*) FROM filings WHERE status = 'IN_REVIEW' AND reviewer_id IS NOT NULL";
    assert!(scalar(&app, claimed).await > 0, "some of them have a reviewer");

    let mut counts = Vec::new();
    for first in [2, 20, waiting] {
        statements.store(0, Ordering::SeqCst);
        let data = app.ok(&key, QUEUE, json!({ "first": first })).await;
        assert_eq!(data["reviewQueue"]["edges"].as_array().unwrap().len(), first);
        counts.push(statements.load(Ordering::SeqCst));
    }
    assert!(counts.iter().all(|&n| n == counts[0]), "statements per page of 2, 20, {waiting}: {counts:?}");
    // Sixteen screens at once: the same statements each.
    statements.store(0, Ordering::SeqCst);
    let requests = (0..16).map(|_| app.ok(&key, QUEUE, json!({ "first": waiting })));
    let pages = futures_util::future::join_all(requests).await;
    assert!(pages.iter().all(|p| p["reviewQueue"]["edges"].as_array().unwrap().len() == waiting));
    assert_eq!(statements.load(Ordering::SeqCst), 16 * counts[0], "statements of 16 pages at once");
}
