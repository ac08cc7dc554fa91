//! Nested fields load through DataLoaders: the SQL statements of a list query do not grow with the page size.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use crate::helpers::*;

const PAGE: &str = "query($first: Int) { filings(first: $first) { nodes { id
    subject { name responsiblePerson { name } }
    websites { name responsiblePerson { name } }
    events { action } } } }";

#[tokio::test]
async fn a_page_of_filings_costs_the_same_statements_whatever_its_size() {
    let database = TestDatabase::new().await;
    let mut db = beian::db::connect_ready(&database.config()).await.unwrap();
    let statements = Arc::new(AtomicUsize::new(0));
    let counter = statements.clone();
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let app = spawn_app_with_db(database, db).await;
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
