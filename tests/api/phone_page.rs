//! The phone page walked through in a real browser: Chromium driven over WebDriver (Debian's `chromium-driver`),
//! its fake camera and microphone recording the face video, uploads going to the object store from the page.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::workflow::{cast, drain, next_message, subscribe};

/// A chromedriver and the browser session it drives; both end with it.
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
}

/// Chromium at `width` x 900 in `language`, with a fake camera and microphone, or `None` where no browser or driver
/// is installed (and none is required).
async fn browser(language: &str, width: u32) -> Option<Browser> {
    let chromium = crate::browser::chromium()?;
    let Some(driver) = crate::browser::on_path("chromedriver") else {
        assert!(
            std::env::var("BEIAN_TEST_REQUIRE_BROWSER").is_err(),
            "no chromedriver: apt-get install chromium-driver"
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = tokio::process::Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    eventually(10, "chromedriver answers", || async {
        reqwest::get(format!("{url}/status")).await.is_ok_and(|r| r.status().is_success())
    })
    .await;
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                format!("--window-size={width},900"), format!("--lang={language}"),
                format!("--accept-lang={language}")],
            "prefs": { "intl.accept_languages": language },
            // A phone's viewport (the desktop window of headless Chromium is at least 500 px wide).
            "mobileEmulation": { "deviceMetrics": { "width": width, "height": 800, "pixelRatio": 2, "touch": true } },
        }),
    );
    let client = ClientBuilder::rustls()
        .expect("a TLS configuration")
        .capabilities(capabilities)
        .connect(&url)
        .await
        .expect("a browser session");
    Some(Browser { client, _driver: child })
}

/// Where the walk-through's screenshots go (under the build folder, not committed).
fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("phone-page");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

async fn find(client: &Client, css: &str) -> fantoccini::elements::Element {
    match client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(css)).await {
        Ok(element) => element,
        Err(error) => panic!("{css}: {error}; the page: {}", client.source().await.unwrap_or_default()),
    }
}

async fn click(client: &Client, css: &str) {
    find(client, css).await.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

/// Uploads `bytes` as `name` through the page's file picker (the one without `capture`).
async fn pick(client: &Client, name: &str, bytes: &[u8]) {
    let path = shots().join(name);
    std::fs::write(&path, bytes).unwrap();
    let input = find(client, "input[type=file]:not([capture])").await;
    input.send_keys(path.to_str().unwrap()).await.unwrap();
}

const START: &str = "mutation($input: StartMobileVerificationInput!) { startMobileVerification(input: $input) {
    token url verification { id } } }";

#[tokio::test]
async fn a_website_person_does_every_phone_step_in_the_browser_and_the_desktop_turns_green() {
    let Some(browser) = browser("zh-CN", 390).await else { return };
    let client = &browser.client;
    let crate::workflow::Cast { app, applicant, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let website = filing["websites"][0]["id"].clone();
    let mut desktop = subscribe(
        &app,
        Some(&applicant),
        "subscription($id: ID!) { filingUpdated(id: $id) { id version } }",
        json!({ "id": filing["id"] }),
    )
    .await;
    let input = json!({ "input": { "filingId": filing["id"], "websiteId": website } });
    let started = app.ok(&applicant, START, input).await["startMobileVerification"].clone();
    let token = started["token"].as_str().unwrap();
    drain(&mut desktop).await;

    // The QR code's link, opened on the phone: who this is for, and the consent.
    client.goto(&format!("{}/mobile#token={token}", app.address)).await.unwrap();
    find(client, "#agree").await;
    assert!(!client.current_url().await.unwrap().as_str().contains(token), "the token left the address bar");
    shot(client, "1-intro").await;
    click(client, "#agree").await;
    click(client, "button.primary").await;

    // The phone check: send, then the six digits (read back from the embedded sender, as the API tests do).
    click(client, "button.secondary").await;
    find(client, "p.ok").await;
    let code = crate::mobile::recorded_code(&app, "13900139000").await;
    find(client, "#code").await.send_keys(&code).await.unwrap();
    shot(client, "2-phone").await;
    click(client, "button.primary").await;

    // The documents: the ID card (the number typed off it), then its back.
    click(client, "button[data-kind=ID_CARD_FRONT]").await;
    find(client, "#number").await.send_keys("110105199001011232").await.unwrap();
    shot(client, "3-document").await;
    pick(client, "id-front.png", &crate::attachments::png(4096)).await;
    find(client, "button[data-kind=ID_CARD_FRONT] .badge.UPLOADED").await;
    click(client, "button[data-kind=ID_CARD_BACK]").await;
    pick(client, "id-back.png", &crate::attachments::png(4096)).await;
    find(client, "button[data-kind=ID_CARD_BACK] .badge.UPLOADED").await;
    shot(client, "4-materials").await;

    // The face video: the digits on white, recorded from the (fake) front camera, reviewed, uploaded.
    click(client, "button[data-kind=FACE_VIDEO]").await;
    click(client, "button.primary").await;
    let digits = find(client, "#digits").await.text().await.unwrap();
    assert!(digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()), "{digits}");
    shot(client, "5-face").await;
    find(client, "video.preview").await;
    click(client, "button.primary").await;
    let done = find(client, "section.done h1").await.text().await.unwrap();
    assert_eq!(done, "已完成");
    shot(client, "6-done").await;

    // The desktop: the person's phone and materials are done, and the console heard of it.
    let seen = app
        .ok(
            &applicant,
            "query($id: ID!) { filing(id: $id) { checklist { phones { person state } items { kind websiteId state } }
                mobileVerifications { personName phoneVerifiedAt } attachments { kind faceChallenge } } }",
            json!({ "id": filing["id"] }),
        )
        .await["filing"]
        .clone();
    let phones = seen["checklist"]["phones"].as_array().unwrap();
    assert!(phones.iter().any(|p| p["person"] == "李四" && p["state"] == "ACCEPTED"), "{phones:?}");
    for kind in ["ID_CARD_FRONT", "ID_CARD_BACK", "FACE_VIDEO"] {
        let item = seen["checklist"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == kind && i["websiteId"] == website)
            .unwrap_or_else(|| panic!("{kind}: {seen}"));
        assert_eq!(item["state"], "UPLOADED", "{kind}");
    }
    let face = seen["attachments"].as_array().unwrap().iter().find(|a| a["kind"] == "FACE_VIDEO").unwrap();
    assert_eq!(face["faceChallenge"], json!(digits), "the video is bound to the digits the page showed");
    assert!(seen["mobileVerifications"].as_array().unwrap().iter().any(|v| !v["phoneVerifiedAt"].is_null()));
    let heard: Value = next_message(&mut desktop).await;
    assert_eq!(heard["type"], "next", "filingUpdated fired: {heard}");
    client.clone().close().await.unwrap();
}

#[tokio::test]
async fn the_page_fits_a_320_pixel_phone_and_explains_wrong_codes_and_mismatched_numbers() {
    let Some(browser) = browser("en-US", 320).await else { return };
    let client = &browser.client;
    let crate::workflow::Cast { app, applicant, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let input = json!({ "input": { "filingId": filing["id"] } });
    let token = app.ok(&applicant, START, input).await["startMobileVerification"]["token"].as_str().unwrap().to_owned();
    client.goto(&format!("{}/mobile#token={token}", app.address)).await.unwrap();
    find(client, "#agree").await;
    let widths =
        client.execute("return [document.documentElement.scrollWidth, window.innerWidth]", vec![]).await.unwrap();
    let (scroll, inner) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(inner <= 320 && scroll <= inner, "no horizontal scroll at 320 px: {scroll} wide in {inner}");
    shot(client, "320-intro").await;
    click(client, "#agree").await;
    click(client, "button.primary").await;
    click(client, "button.secondary").await;
    find(client, "p.ok").await;
    // A wrong code is explained, and the typed digits stay.
    let code = crate::mobile::recorded_code(&app, "13800138000").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    find(client, "#code").await.send_keys(wrong).await.unwrap();
    click(client, "button.primary").await;
    let error = find(client, "p.error").await.text().await.unwrap();
    assert!(error.contains("not right"), "{error}");
    shot(client, "320-wrong-code").await;
    // The right one, then a document whose number is not the form's.
    let field = find(client, "#code").await;
    field.clear().await.unwrap();
    field.send_keys(&code).await.unwrap();
    click(client, "button.primary").await;
    click(client, "button[data-kind=ID_CARD_FRONT]").await;
    find(client, "#number").await.send_keys("110101199003074477").await.unwrap();
    pick(client, "wrong-id.png", &crate::attachments::png(4096)).await;
    let error = find(client, "p.error").await.text().await.unwrap();
    assert!(error.contains("does not match the form"), "{error}");
    let typed = find(client, "#number").await.prop("value").await.unwrap();
    assert_eq!(typed.as_deref(), Some("110101199003074477"), "what the person typed is kept");
    shot(client, "320-mismatch").await;
    client.clone().close().await.unwrap();
}
