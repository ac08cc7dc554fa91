//! beian's pages in a real browser: Chromium from Debian's packages (`apt-get install chromium`), headless. CI sets
//! `BEIAN_TEST_REQUIRE_BROWSER=1`, so a missing browser fails the run there instead of skipping these tests.

use std::path::PathBuf;

use crate::helpers::*;

/// The Chromium binary, or `None` (with a note) where none is installed and none is required.
pub fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| on_path(name));
    if found.is_none() {
        assert!(
            std::env::var("BEIAN_TEST_REQUIRE_BROWSER").is_err(),
            "BEIAN_TEST_REQUIRE_BROWSER is set but no Chromium is installed: apt-get install chromium"
        );
        eprintln!("no Chromium installed (apt-get install chromium): browser tests skipped");
    }
    found
}

/// The program `name` on the PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| PathBuf::from(dir).join(name)).find(|p| p.is_file())
}

/// Loads `url` in headless Chromium, runs its scripts, and returns the DOM then and what the browser logged.
pub async fn dump_dom(browser: &PathBuf, url: &str) -> (String, String) {
    dump_dom_in(browser, url, "en-US").await
}

/// [`dump_dom`] with the browser's language set to `language` (`zh-CN`, `en-US`).
pub async fn dump_dom_in(browser: &PathBuf, url: &str, language: &str) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(browser)
        .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--lang={language}"))
        .arg(format!("--accept-lang={language}"))
        .env("LANGUAGE", language.replace('-', "_"))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=10000", "--dump-dom", url])
        .kill_on_drop(true)
        .output()
        .await
        .expect("Chromium runs");
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test]
async fn graphiql_runs_from_beians_own_files_within_its_policy() {
    let Some(browser) = chromium() else { return };
    let app = spawn_app().await;
    let (dom, log) = dump_dom(&browser, &format!("{}/graphql", app.address)).await;
    // GraphiQL rendered: its editors and the run button are in the page.
    for part in ["graphiql-container", "graphiql-editors", "graphiql-execute-button"] {
        assert!(dom.contains(part), "{part} missing; the browser said:\n{log}");
    }
    assert!(!log.contains("Content Security Policy") && !log.contains("Refused to"), "{log}");
}

const START: &str = "mutation($input: StartMobileVerificationInput!) { startMobileVerification(input: $input) {
    token url verification { id } } }";

fn no_policy_violation(log: &str) {
    assert!(!log.contains("Content Security Policy") && !log.contains("Refused to"), "{log}");
}

#[tokio::test]
async fn the_phone_page_opens_from_the_qr_codes_link_in_the_browsers_language() {
    let Some(browser) = chromium() else { return };
    let cast = crate::workflow::cast().await;
    let (app, applicant) = (&cast.app, &cast.applicant);
    let filing = app.create_filing(applicant, "北京示例科技有限公司").await;
    let started = app.ok(applicant, START, serde_json::json!({ "input": { "filingId": filing["id"] } })).await;
    let link = started["startMobileVerification"]["url"].as_str().unwrap().to_owned();
    // The QR code's link points at this server's page (mobile.public_base_url), the token in the fragment.
    let (base, token) = link.split_once("#token=").expect("the token is in the fragment");
    assert!(base.ends_with("/mobile") && token.starts_with("beian_m_"), "{link}");
    let page = format!("{}/mobile#token={token}", app.address);

    let (dom, log) = dump_dom_in(&browser, &page, "zh-CN").await;
    no_policy_violation(&log);
    for shown in ["备案核验", "北京示例科技有限公司", "张*", "138****8000", "我已阅读并同意以上内容", "English"]
    {
        assert!(dom.contains(shown), "{shown} missing:\n{dom}\n{log}");
    }
    assert!(!dom.contains(token), "the token is not written into the page");
    let (dom, log) = dump_dom_in(&browser, &page, "en-US").await;
    no_policy_violation(&log);
    for shown in ["ICP filing check", "Filed by", "I have read and agree", "中文"] {
        assert!(dom.contains(shown), "{shown} missing:\n{dom}\n{log}");
    }
}

#[tokio::test]
async fn a_missing_malformed_or_revoked_token_shows_what_to_do() {
    let Some(browser) = chromium() else { return };
    let cast = crate::workflow::cast().await;
    let (app, applicant) = (&cast.app, &cast.applicant);
    let (dom, log) = dump_dom(&browser, &format!("{}/mobile", app.address)).await;
    no_policy_violation(&log);
    assert!(dom.contains("This link is incomplete") && dom.contains("new QR code"), "{dom}");
    let (dom, _) = dump_dom(&browser, &format!("{}/mobile#token=not-a-token", app.address)).await;
    assert!(dom.contains("This link no longer works"), "{dom}");

    let filing = app.create_filing(applicant, "北京示例科技有限公司").await;
    let started = app.ok(applicant, START, serde_json::json!({ "input": { "filingId": filing["id"] } })).await;
    let token = started["startMobileVerification"]["token"].as_str().unwrap().to_owned();
    let revoke = "mutation($id: ID!) { revokeMobileVerification(id: $id) { id } }";
    let id = started["startMobileVerification"]["verification"]["id"].clone();
    app.ok(applicant, revoke, serde_json::json!({ "id": id })).await;
    let (dom, log) = dump_dom_in(&browser, &format!("{}/mobile#token={token}", app.address), "zh-CN").await;
    no_policy_violation(&log);
    assert!(dom.contains("链接无效") && dom.contains("重新生成二维码"), "{dom}");
}

#[tokio::test]
async fn the_phone_page_is_served_with_a_strict_policy() {
    let app = spawn_app().await;
    let page = app.client.get(format!("{}/mobile", app.address)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let header = |name: &str| page.headers()[name].to_str().unwrap().to_owned();
    let policy = header("content-security-policy");
    assert!(policy.contains("script-src 'self';") && policy.contains("style-src 'self';"), "{policy}");
    assert!(!policy.contains("unsafe"), "no inline script or style, no eval: {policy}");
    assert!(policy.contains("connect-src 'self' http://127.0.0.1:"), "beian and the object store: {policy}");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert!(header("permissions-policy").contains("camera=(self)"));
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains("style="), "nothing inline");
    assert!(!html.contains("://"), "nothing from another host");
}
