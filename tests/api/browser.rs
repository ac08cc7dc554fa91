//! beian's pages in a real browser: Chromium from Debian's packages (`apt-get install chromium`), headless. CI sets
//! `BEIAN_REQUIRE_BROWSER=1`, so a missing browser fails the run there instead of skipping these tests.

use std::path::PathBuf;

use crate::helpers::*;

/// The Chromium binary, or `None` (with a note) where none is installed and none is required.
pub fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| PathBuf::from(dir).join(name)).find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("BEIAN_REQUIRE_BROWSER").is_err(),
            "BEIAN_REQUIRE_BROWSER is set but no Chromium is installed: apt-get install chromium"
        );
        eprintln!("no Chromium installed (apt-get install chromium): browser tests skipped");
    }
    found
}

/// Loads `url` in headless Chromium, runs its scripts, and returns the DOM then and what the browser logged.
pub async fn dump_dom(browser: &PathBuf, url: &str) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(browser)
        .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-logging=stderr", "--v=0"])
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
