//! The change feed (`filingEvents`) and `filings(filter: { updatedAfter })`: what a registrar's system that polls
//! reads. It pages oldest first, resumes from its last cursor without gaps or repeats (also when transactions
//! commit out of order on PostgreSQL), filters by type and time, and shows only the caller's registrar.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::workflow::cast;

const FEED: &str = "query($first: Int, $after: String, $filter: FilingEventFilterInput) {
    filingEvents(first: $first, after: $after, filter: $filter) {
        edges { cursor node { id filingId action createdAt } }
        pageInfo { hasNextPage endCursor }
    }
}";

const UPDATE: &str = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }";

/// One page: its events as (filing, action) and its page information.
async fn page(app: &TestApp, key: &str, after: Option<&str>, first: i32, filter: Value) -> (Vec<Value>, Value) {
    let data = app.ok(key, FEED, json!({ "first": first, "after": after, "filter": filter })).await;
    let connection = &data["filingEvents"];
    let nodes = connection["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
    (nodes, connection["pageInfo"].clone())
}

/// Every event after `after`, page by page; the events and the cursor to resume from.
async fn read_to_end(app: &TestApp, key: &str, mut after: Option<String>, first: i32) -> (Vec<Value>, Option<String>) {
    let mut all = Vec::new();
    loop {
        let (nodes, info) = page(app, key, after.as_deref(), first, Value::Null).await;
        if let Some(end) = info["endCursor"].as_str() {
            after = Some(end.to_owned());
        } else {
            assert!(nodes.is_empty(), "a page with events has an end cursor: {info}");
        }
        all.extend(nodes);
        if info["hasNextPage"] != true {
            return (all, after);
        }
    }
}

/// Waits until the feed shows `n` events in all. On PostgreSQL an event shows once every transaction older than its
/// own has ended (a background job's, say): usually at once, and once shown it stays. Waiting for that first keeps
/// the checks below exact.
async fn settle(app: &TestApp, key: &str, n: usize) {
    eventually(10, &format!("the feed shows {n} events"), || async {
        read_to_end(app, key, None, 100).await.0.len() == n
    })
    .await;
}

fn summary(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e["filingId"].as_str().unwrap().to_owned(), e["action"].as_str().unwrap().to_owned()))
        .collect()
}

fn pair(filing: &Value, action: &str) -> (String, String) {
    (filing["id"].as_str().unwrap().to_owned(), action.to_owned())
}

#[tokio::test]
async fn the_feed_pages_oldest_first_and_a_poller_resumes_without_gaps_or_repeats() {
    let cast = cast().await;
    let (app, key) = (&cast.app, &cast.backend);
    let other = app.tenant("west-cloud").await;
    let theirs = app.create_filing(&other, "西部云客户有限公司").await;

    let a = app.create_filing(key, "北京甲科技有限公司").await;
    let b = app.create_filing(key, "北京乙科技有限公司").await;
    let update =
        json!({ "input": { "filingId": a["id"], "version": 1, "subject": subject_input("北京甲二科技有限公司") } });
    app.ok(key, UPDATE, update).await;

    // Pages of two: oldest first, nothing of another registrar.
    settle(app, key, 3).await;
    let (events, cursor) = read_to_end(app, key, None, 2).await;
    let expected = vec![pair(&a, "FILING_CREATED"), pair(&b, "FILING_CREATED"), pair(&a, "SUBJECT_UPDATED")];
    assert_eq!(summary(&events), expected);
    let cursor = cursor.expect("the last page has an end cursor");

    // Later: exactly what happened since.
    let update =
        json!({ "input": { "filingId": b["id"], "version": 1, "subject": subject_input("北京乙二科技有限公司") } });
    app.ok(key, UPDATE, update).await;
    let c = app.create_filing(key, "北京丙科技有限公司").await;
    settle(app, key, 5).await;
    let (events, resumed) = read_to_end(app, key, Some(cursor.clone()), 20).await;
    assert_eq!(summary(&events), vec![pair(&b, "SUBJECT_UPDATED"), pair(&c, "FILING_CREATED")]);
    // Nothing new: an empty page, and the cursor to keep is the one held.
    let (nothing, info) = page(app, key, resumed.as_deref(), 20, Value::Null).await;
    assert!(nothing.is_empty());
    assert_eq!(info["hasNextPage"], false);
    assert!(info["endCursor"].is_null());

    // The other registrar reads its own events only, and ours are not in them.
    settle(app, &other, 1).await;
    let (events, _) = read_to_end(app, &other, None, 20).await;
    assert_eq!(summary(&events), vec![pair(&theirs, "FILING_CREATED")]);
    // Its cursor read with our key shows our events after that position, never theirs.
    let (ours, _) = read_to_end(app, key, Some(cursor), 20).await;
    assert!(ours.iter().all(|e| e["filingId"] != theirs["id"]));

    // Filters: by type, and by time; the cursor moves past what they leave out.
    let (updates, info) = page(app, key, None, 20, json!({ "types": ["SUBJECT_UPDATED"] })).await;
    assert_eq!(summary(&updates), vec![pair(&a, "SUBJECT_UPDATED"), pair(&b, "SUBJECT_UPDATED")]);
    let (after_updates, _) = page(app, key, info["endCursor"].as_str(), 20, Value::Null).await;
    assert_eq!(summary(&after_updates), vec![pair(&c, "FILING_CREATED")]);
    let since = updates[1]["createdAt"].clone();
    let (recent, _) = page(app, key, None, 20, json!({ "since": since })).await;
    assert_eq!(summary(&recent), vec![pair(&b, "SUBJECT_UPDATED"), pair(&c, "FILING_CREATED")]);

    // The same events as the filings' own trails.
    let trail = "query($id: ID!) { filing(id: $id) { events { id } } }";
    let (all, _) = read_to_end(app, key, None, 100).await;
    for filing in [&a, &b, &c] {
        let own: Vec<Value> = app.ok(key, trail, json!({ "id": filing["id"] })).await["filing"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].clone())
            .collect();
        let in_feed: Vec<Value> =
            all.iter().filter(|e| e["filingId"] == filing["id"]).map(|e| e["id"].clone()).collect();
        assert_eq!(in_feed, own, "the feed carries each filing's trail, in its order");
    }

    // Staff read it too; an applicant follows their own filings' trails instead.
    assert!(!read_to_end(app, &cast.reviewer, None, 20).await.0.is_empty());
    let refused = app.err(&cast.applicant, FEED, json!({})).await;
    assert_eq!(code(&refused), "FORBIDDEN", "{refused}");

    // A cursor the feed did not make is a field error on `after`, not an empty page.
    for bad in ["nonsense", "Y3Vyc29yOnYxOjE"] {
        let error = app.err(key, FEED, json!({ "after": bad })).await;
        assert_eq!(code(&error), "BAD_USER_INPUT", "{error}");
        assert_eq!(fields(&error), vec![("after".to_owned(), "INVALID_FORMAT".to_owned())]);
    }
}

#[tokio::test]
async fn filings_changed_since_a_time_are_those_with_an_event_since_then() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let quiet = app.create_filing(&key, "北京静科技有限公司").await;
    let busy = app.create_filing(&key, "北京忙科技有限公司").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mark = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let update =
        json!({ "input": { "filingId": busy["id"], "version": 1, "subject": subject_input("北京忙二科技有限公司") } });
    app.ok(&key, UPDATE, update).await;

    let list = "query($after: DateTime) { filings(filter: { updatedAfter: $after }) { nodes { id } } }";
    let ids = |data: Value| -> Vec<Value> {
        data["filings"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].clone()).collect()
    };
    assert_eq!(ids(app.ok(&key, list, json!({ "after": mark })).await), vec![busy["id"].clone()]);
    let all = ids(app.ok(&key, list, json!({ "after": null })).await);
    assert!(all.contains(&quiet["id"]) && all.contains(&busy["id"]));
    // Another registrar's changes do not count.
    let other = app.tenant("west-cloud").await;
    assert!(ids(app.ok(&other, list, json!({ "after": mark })).await).is_empty());
}

/// PostgreSQL: transaction T1 writes an event and stays open; T2 writes one later and commits first. A reader must
/// not be shown T2's event before T1's is settled, or it would page past T2 and never see T1's (which sorts
/// before). SQLite has one writer at a time, so its order cannot be overtaken.
#[tokio::test]
async fn an_event_committed_late_is_not_skipped_by_a_reader_that_paged_past_later_ones() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let database = TestDatabase::new().await;
    if !database.is_postgres() {
        return;
    }
    let app = spawn_app_on(database).await;
    let key = app.tenant("xinnet").await;
    let first = app.create_filing(&key, "北京早科技有限公司").await;
    settle(&app, &key, 1).await;
    let (_, cursor) = read_to_end(&app, &key, None, 20).await;

    // T1: an event of `first`, written and held open.
    let slow = app.db.begin().await.unwrap();
    slow.execute_unprepared(
        "INSERT INTO filing_events (id, tenant_id, filing_id, actor_kind, actor_label, action, changes, created_at)
         SELECT gen_random_uuid(), tenant_id, id, 'SYSTEM', 'slow', 'SUBJECT_UPDATED', '[]', now()
         FROM filings ORDER BY created_at LIMIT 1",
    )
    .await
    .unwrap();
    // T2: a new filing, committed while T1 is open.
    let second = app.create_filing(&key, "北京晚科技有限公司").await;
    let (seen, held) = read_to_end(&app, &key, cursor.clone(), 20).await;
    assert!(seen.is_empty(), "nothing is shown while an older transaction is open: {seen:?}");
    assert_eq!(held, cursor, "the reader keeps its position");

    slow.commit().await.unwrap();
    settle(&app, &key, 3).await;
    let (seen, _) = read_to_end(&app, &key, held, 20).await;
    assert_eq!(summary(&seen), vec![pair(&first, "SUBJECT_UPDATED"), pair(&second, "FILING_CREATED")]);
}
