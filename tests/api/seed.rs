//! `beian dev seed`: the synthetic registrars and filings read back through the API like real ones.

use serde_json::json;

use crate::helpers::*;

const PAGE: &str = "query($after: String) { filings(first: 40, after: $after) {
    edges { node { id status icpNumber createdAt subject { name certificateNumber }
      websites { name domains icpNumber } attachments { kind status } events { action toStatus } } }
    pageInfo { hasNextPage endCursor } } }";

#[tokio::test]
async fn seeded_filings_are_valid_readable_and_kept_to_their_registrar() {
    let app = spawn_app().await;
    let options = beian::seed::Options { tenants: 2, filings: 1201, seed: 9 };
    let mut reported = Vec::new();
    let tenants = beian::seed::seed(&app.deps, options, |n| reported.push(n)).await.expect("seeded");
    assert_eq!(tenants.len(), 2);
    assert_eq!(reported.last(), Some(&1201), "progress reaches the total: {reported:?}");

    let mut seen_ids = std::collections::HashSet::new();
    for (t, tenant) in tenants.iter().enumerate() {
        let mut filings = Vec::new();
        let mut after = serde_json::Value::Null;
        loop {
            let page = app.ok(&tenant.api_key, PAGE, json!({ "after": after })).await["filings"].clone();
            filings.extend(page["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()));
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(filings.len(), if t == 0 { 601 } else { 600 }, "evenly spread, and only its own");
        for filing in &filings {
            assert!(seen_ids.insert(filing["id"].as_str().unwrap().to_owned()), "no filing in two registrars");
            let websites = filing["websites"].as_array().unwrap();
            assert!((1..=3).contains(&websites.len()), "{filing}");
            let materials = filing["attachments"].as_array().unwrap().len();
            assert!((3..=6).contains(&materials), "{filing}");
            let events = filing["events"].as_array().unwrap();
            assert_eq!(events.last().unwrap()["toStatus"], filing["status"], "the trail ends in the state: {filing}");
            let approved = filing["status"] == "APPROVED";
            assert_eq!(filing["icpNumber"].is_string(), approved, "{filing}");
            assert!(websites.iter().all(|w| w["icpNumber"].is_string() == approved), "{filing}");
        }
        // Newest first, by creation.
        let created: Vec<&str> = filings.iter().map(|f| f["createdAt"].as_str().unwrap()).collect();
        assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");
        let states: std::collections::HashSet<&str> = filings.iter().map(|f| f["status"].as_str().unwrap()).collect();
        assert!(states.len() >= 8, "spread over the states: {states:?}");
    }
    // Seeding again adds new registrars; it never collides with what is there.
    let again = beian::seed::seed(&app.deps, beian::seed::Options { tenants: 1, filings: 10, seed: 9 }, |_| {}).await;
    assert!(again.is_ok(), "{:?}", again.err());
}
