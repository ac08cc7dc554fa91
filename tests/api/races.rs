//! Races: two requests that decide on the same thing at the same moment, many rounds each, released together by a
//! barrier. Exactly one may win where the rules say "one", and the loser hears a field error, never INTERNAL.
//!
//! The races are PostgreSQL's (concurrent transactions under READ COMMITTED): run them with
//! `BEIAN_TEST_DATABASE_URL`. SQLite serialises every write transaction, so there they cannot lose; they still run
//! (a few rounds) to show the same paths answer the same way on the embedded default.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::helpers::*;
use crate::workflow::{Cast, act, cast, confirm_all_sms, numbered_filing, state, step, upload_materials};

/// Rounds per race: enough on PostgreSQL to catch a race that loses one round in four (before the fixes, measured
/// here: 19 of 50 filings stranded, 34 of 50 rounds with both orders in review, 50 of 50 numbers given twice), a few
/// on SQLite.
fn rounds(app: &TestApp) -> usize {
    if app.database.as_ref().is_some_and(|d| d.is_postgres()) { 50 } else { 5 }
}

/// Runs `a` and `b` at the same moment (both wait at a barrier first) and returns both answers.
async fn at_once<A, B>(a: A, b: B) -> (Value, Value)
where
    A: std::future::Future<Output = Value> + Send,
    B: std::future::Future<Output = Value> + Send,
{
    let barrier = Arc::new(Barrier::new(2));
    let (first, second) = (barrier.clone(), barrier);
    tokio::join!(
        async move {
            first.wait().await;
            a.await
        },
        async move {
            second.wait().await;
            b.await
        }
    )
}

const RECORD_SMS: &str =
    "mutation($id: ID!, $ok: Boolean!) { recordSmsVerification(checkId: $id, confirmed: $ok) { status } }";
const DECIDE: &str = "mutation($input: BureauDecisionInput!) { recordBureauDecision(input: $input) { status } }";

/// Takes a draft (or a returned filing) through the preliminary review into the MIIT SMS check.
async fn to_sms(cast: &Cast, filing: &Value) {
    let Cast { app, reviewer, applicant, .. } = cast;
    assert_eq!(act(app, applicant, "submitFiling", filing).await["status"], "PENDING_REVIEW");
    act(app, reviewer, "claimReview", filing).await;
    assert_eq!(act(app, reviewer, "approvePreliminaryReview", filing).await["status"], "SMS_VERIFICATION");
}

#[tokio::test]
async fn two_sms_confirmations_recorded_at_once_send_the_filing_to_the_bureau() {
    let cast = cast().await;
    let Cast { app, backend, applicant, .. } = &cast;
    let filing = app.create_filing(applicant, "北京示例科技有限公司").await;
    upload_materials(app, applicant, &filing).await;
    let mut stranded = 0;
    for round in 0..rounds(app) {
        to_sms(&cast, &filing).await;
        let checks = state(app, backend, &filing).await["smsChecks"].clone();
        assert_eq!(checks.as_array().unwrap().len(), 2, "the subject's and the website's person");
        let record = |check: &Value| app.post(Some(backend), RECORD_SMS, json!({ "id": check["id"], "ok": true }));
        let (a, b) = at_once(async { record(&checks[0]).await.1 }, async { record(&checks[1]).await.1 }).await;
        assert!(a.get("errors").is_none() && b.get("errors").is_none(), "round {round}: {a} {b}");
        let now = state(app, backend, &filing).await;
        assert!(now["smsChecks"].as_array().unwrap().iter().all(|c| c["status"] == "CONFIRMED"));
        if now["status"] != "BUREAU_REVIEW" {
            stranded += 1;
            // Moved on by hand (one more confirmation decides), so the next round starts from the same place.
            app.ok(backend, RECORD_SMS, json!({ "id": checks[0]["id"], "ok": true })).await;
        }
        // The bureau returns it, so the next round can go through the SMS check again.
        let version = state(app, backend, &filing).await["version"].clone();
        let reasons = json!([{ "field": "websites[0].name", "code": "NAME_UNCLEAR", "message": "网站名称与内容不符" }]);
        let input = json!({ "input": { "filingId": filing["id"], "version": version, "reasons": reasons } });
        assert_eq!(app.ok(backend, DECIDE, input).await["recordBureauDecision"]["status"], "RETURNED");
    }
    assert_eq!(stranded, 0, "filings stranded in SMS_VERIFICATION with every check confirmed");
}

#[tokio::test]
async fn two_orders_of_one_subject_submitted_at_once_one_goes_to_review() {
    let Cast { app, applicant, admin, .. } = cast().await;
    // About the in-flight rule, not the phones: the registrar does not require the phone check here (50 rounds of
    // two fresh phone confirmations for one person each would only exercise the code throttle).
    let update =
        "mutation { updateTenantSettings(input: { requirePhoneVerification: false }) { requirePhoneVerification } }";
    app.ok(&admin, update, json!({})).await;
    let drafts = [
        app.create_filing(&applicant, "北京示例科技有限公司").await,
        app.create_filing(&applicant, "北京示例科技有限公司").await,
    ];
    for draft in &drafts {
        upload_materials(&app, &applicant, draft).await;
    }
    let query = step("submitFiling");
    let mut both = 0;
    for round in 0..rounds(&app) {
        let versions = [state(&app, &applicant, &drafts[0]).await, state(&app, &applicant, &drafts[1]).await];
        let submit = |i: usize| {
            let input = json!({ "input": { "filingId": drafts[i]["id"], "version": versions[i]["version"] } });
            app.post(Some(&applicant), &query, input)
        };
        let (a, b) = at_once(async { submit(0).await.1 }, async { submit(1).await.1 }).await;
        let went: Vec<usize> = [&a, &b]
            .iter()
            .enumerate()
            .filter(|(_, body)| body["data"]["submitFiling"]["status"] == "PENDING_REVIEW")
            .map(|(i, _)| i)
            .collect();
        for body in [&a, &b].into_iter().filter(|body| body.get("errors").is_some()) {
            assert_eq!(
                fields(&body["errors"][0]),
                vec![("subject.certificateNumber".to_owned(), "ORDER_IN_FLIGHT".to_owned())],
                "round {round}"
            );
        }
        match went.len() {
            1 => {}
            2 => both += 1,
            _ => panic!("round {round}: neither went: {a} {b}"),
        }
        for i in went {
            act(&app, &applicant, "withdrawFiling", &drafts[i]).await;
        }
    }
    assert_eq!(both, 0, "rounds in which both orders of one subject went to review");
}

/// A filing of subject `i` (its own credit code, people and domain) at the bureau.
async fn at_bureau(cast: &Cast, i: u32) -> Value {
    let Cast { app, backend, applicant, .. } = cast;
    let filing = app.ok(applicant, &CREATE, json!({ "input": numbered_filing(i) })).await["createFiling"].clone();
    upload_materials(app, applicant, &filing).await;
    to_sms(cast, &filing).await;
    confirm_all_sms(app, backend, &filing).await;
    assert_eq!(state(app, backend, &filing).await["status"], "BUREAU_REVIEW");
    filing
}

/// The bureau's approval of `filing` with the subject number `number` (and its first website's serial).
fn approval(filing: &Value, version: &Value, number: &str) -> Value {
    json!({ "input": { "filingId": filing["id"], "version": version, "approved": { "subjectNumber": number,
        "websites": [{ "websiteId": filing["websites"][0]["id"], "number": format!("{number}-1") }] } } })
}

#[tokio::test]
async fn one_icp_number_approved_for_two_subjects_at_once_goes_to_one() {
    let cast = cast().await;
    let Cast { app, backend, .. } = &cast;
    // The loser of a round stays at the bureau and meets a new subject in the next round.
    let mut waiting = at_bureau(&cast, 0).await;
    let mut both = 0;
    for round in 0..rounds(app) {
        let other = at_bureau(&cast, round as u32 + 1).await;
        let number = format!("京ICP备2026{:06}号", round + 1);
        let pair = [waiting.clone(), other];
        let versions = [
            state(app, backend, &pair[0]).await["version"].clone(),
            state(app, backend, &pair[1]).await["version"].clone(),
        ];
        let decide = |i: usize| app.post(Some(backend), DECIDE, approval(&pair[i], &versions[i], &number));
        let (a, b) = at_once(async { decide(0).await.1 }, async { decide(1).await.1 }).await;
        let approved: Vec<usize> = [&a, &b]
            .iter()
            .enumerate()
            .filter(|(_, body)| body["data"]["recordBureauDecision"]["status"] == "APPROVED")
            .map(|(i, _)| i)
            .collect();
        for body in [&a, &b].into_iter().filter(|body| body.get("errors").is_some()) {
            let refused = fields(&body["errors"][0]);
            assert!(refused.contains(&("subjectNumber".to_owned(), "NUMBER_IN_USE".to_owned())), "{body}");
        }
        match approved.as_slice() {
            [winner] => waiting = pair[1 - winner].clone(),
            [_, _] => {
                both += 1;
                waiting = at_bureau(&cast, 500 + round as u32).await;
            }
            _ => panic!("round {round}: neither was approved: {a} {b}"),
        }
    }
    assert_eq!(both, 0, "rounds in which two subjects were given one ICP number");
}
