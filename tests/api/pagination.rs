//! Keyset pagination and filters of the filing list.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::*;

const PAGE: &str = "query($first: Int, $after: String, $filter: FilingFilterInput) {
    filings(first: $first, after: $after, filter: $filter) {
        totalCount
        edges { cursor node { id subject { name } } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    } }";

async fn page(app: &TestApp, key: &str, first: i64, after: Value, filter: Value) -> Value {
    app.ok(key, PAGE, json!({ "first": first, "after": after, "filter": filter })).await["filings"].clone()
}

fn ids(page: &Value) -> Vec<String> {
    page["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn no_filing_is_lost_or_repeated_while_filings_are_created_between_pages() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let mut existing = Vec::new();
    for i in 0..25 {
        existing.push(app.create_filing(&key, &format!("示例公司{i:02}")).await["id"].as_str().unwrap().to_owned());
    }

    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let p = page(&app, &key, 10, after.clone(), Value::Null).await;
        seen.extend(ids(&p));
        pages += 1;
        // New filings arrive while the registrar pages through the list.
        app.create_filing(&key, &format!("新公司{pages}")).await;
        if !p["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        assert_eq!(p["pageInfo"]["endCursor"], p["edges"][9]["cursor"]);
        after = p["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 3);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no filing repeated");
    existing.reverse();
    assert_eq!(seen, existing, "every filing present at the start, newest first, none of the new ones");
}

#[tokio::test]
async fn filters_narrow_the_list_and_the_count() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    app.create_filing(&key, "北京示例科技有限公司").await;
    app.create_filing(&key, "Beijing Example 100% Tech").await;
    let shanghai = shanghai_filing("上海示例贸易有限公司");
    let sh = app.ok(&key, &CREATE, json!({ "input": shanghai })).await["createFiling"].clone();

    let count = |p: &Value| p["totalCount"].as_i64().unwrap();
    let by = |filter: Value| page(&app, &key, 100, Value::Null, filter);

    let p = by(json!({ "provinceCode": "31" })).await;
    assert_eq!((count(&p), ids(&p)), (1, vec![sh["id"].as_str().unwrap().to_owned()]));
    assert_eq!(count(&by(json!({ "provinceCode": "110000" })).await), 2);
    assert_eq!(count(&by(json!({ "subjectNameContains": "示例" })).await), 2);
    assert_eq!(count(&by(json!({ "subjectNameContains": "example" })).await), 1, "case-insensitive");
    assert_eq!(count(&by(json!({ "subjectNameContains": "100%" })).await), 1, "% is literal");
    assert_eq!(count(&by(json!({ "subjectNameContains": "0% T" })).await), 1);
    assert_eq!(count(&by(json!({ "subjectNameContains": "1%" })).await), 0, "% matches only itself");
    assert_eq!(count(&by(json!({ "subjectNameContains": "_" })).await), 0, "_ is literal");
    assert_eq!(count(&by(json!({ "status": ["DRAFT"] })).await), 3);
    assert_eq!(count(&by(json!({ "status": ["APPROVED", "IN_REVIEW"] })).await), 0);
    assert_eq!(count(&by(json!({ "filingType": ["FIRST_FILING"] })).await), 3);
    assert_eq!(count(&by(json!({ "filingType": ["CANCEL_SUBJECT"] })).await), 0);
    assert_eq!(count(&by(json!({ "provinceCode": "110000", "subjectNameContains": "贸易" })).await), 0);

    let created_at = sh["createdAt"].as_str().unwrap();
    assert_eq!(count(&by(json!({ "createdAfter": created_at })).await), 1);
    assert_eq!(count(&by(json!({ "createdBefore": created_at })).await), 2);

    let error = app.err(&key, PAGE, json!({ "filter": { "provinceCode": "99" } })).await;
    assert_eq!(fields(&error), vec![("filter.provinceCode".to_owned(), "UNKNOWN_PROVINCE".to_owned())]);
}

#[tokio::test]
async fn page_sizes_and_cursors_are_checked() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    app.create_filing(&key, "北京示例科技有限公司").await;

    for first in [0, -1, 101] {
        let error = app.err(&key, PAGE, json!({ "first": first })).await;
        assert_eq!(fields(&error), vec![("first".to_owned(), "INVALID_FORMAT".to_owned())], "first = {first}");
    }
    let error = app.err(&key, PAGE, json!({ "after": "bm9wZQ" })).await;
    assert_eq!(fields(&error), vec![("after".to_owned(), "INVALID_FORMAT".to_owned())]);

    let p = page(&app, &key, 100, Value::Null, Value::Null).await;
    assert_eq!(p["pageInfo"]["hasNextPage"], false);
    assert_eq!(p["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(p["pageInfo"]["startCursor"], p["pageInfo"]["endCursor"]);
    let empty = page(&app, &key, 10, p["pageInfo"]["endCursor"].clone(), Value::Null).await;
    assert_eq!(empty["edges"], json!([]));
    assert_eq!(empty["pageInfo"]["endCursor"], Value::Null);
}
