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
    /// Where chromedriver listens, for the DevTools commands WebDriver has no verb for.
    driver_url: String,
    _driver: tokio::process::Child,
}

impl Browser {
    /// Runs a DevTools command in the page (chromedriver's `goog/cdp/execute`).
    async fn devtools(&self, command: &str, params: Value) -> Value {
        let session = self.client.session_id().await.unwrap().expect("a session");
        let url = format!("{}/session/{session}/goog/cdp/execute", self.driver_url);
        let response = reqwest::Client::new().post(url).json(&json!({ "cmd": command, "params": params })).send().await;
        let body: Value = response.expect("chromedriver answers").json().await.unwrap();
        assert!(body["value"].get("error").is_none(), "{command}: {body}");
        body["value"].clone()
    }
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
    Some(Browser { client, driver_url: url, _driver: child })
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

/// Waits until the element at `css` says `needle`, and returns what it says.
async fn says(client: &Client, css: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            last = element.text().await.unwrap_or_default();
            if last.contains(needle) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never said {needle:?}; it said {last:?}");
}

async fn click(client: &Client, css: &str) {
    find(client, css).await.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

/// Chooses `bytes` as `name` in the page's file picker (the one without `capture`).
async fn pick(client: &Client, name: &str, bytes: &[u8]) {
    pick_in(client, "input[type=file]:not([capture])", name, bytes).await;
}

/// Chooses `bytes` as `name` in the file input at `css`.
async fn pick_in(client: &Client, css: &str, name: &str, bytes: &[u8]) {
    let path = shots().join(name);
    std::fs::write(&path, bytes).unwrap();
    find(client, css).await.send_keys(path.to_str().unwrap()).await.unwrap();
}

const START: &str = "mutation($input: StartMobileVerificationInput!) { startMobileVerification(input: $input) {
    token url verification { id } } }";

/// A new filing, a hand-off for its subject's responsible person (张三), and its link opened in the browser.
async fn subjects_link_opened(client: &Client) -> (crate::workflow::Cast, Value, String) {
    let cast = cast().await;
    let filing = cast.app.create_filing(&cast.applicant, "北京示例科技有限公司").await;
    let input = json!({ "input": { "filingId": filing["id"] } });
    let started = cast.app.ok(&cast.applicant, START, input).await;
    let token = started["startMobileVerification"]["token"].as_str().unwrap().to_owned();
    client.goto(&format!("{}/mobile#token={token}", cast.app.address)).await.unwrap();
    (cast, filing, token)
}

#[tokio::test]
async fn a_website_person_does_every_phone_step_in_the_browser_and_the_desktop_turns_green() {
    let Some(browser) = browser("zh-CN", 390).await else { return };
    let client = &browser.client;
    let crate::workflow::Cast { app, applicant, admin, .. } = cast().await;
    // The registrar's page: its colour and support contact.
    let brand = "mutation($input: UpdateTenantSettingsInput!) { updateTenantSettings(input: $input) { brandColor } }";
    let input =
        json!({ "input": { "brandColor": "#c8102e", "supportContact": "备案客服 400-600-0000（9:00-18:00）" } });
    app.ok(&admin, brand, input).await;
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
    let accent = "return getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()";
    assert_eq!(client.execute(accent, vec![]).await.unwrap(), json!("#c8102e"), "the registrar's colour");
    assert!(find(client, "#support").await.text().await.unwrap().contains("400-600-0000"), "the support contact");
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
    assert!(find(client, "#support").await.text().await.unwrap().contains("400-600-0000"), "on every screen");
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
    let stored = "return [localStorage.length, Object.keys(sessionStorage)]";
    let stored = client.execute(stored, vec![]).await.unwrap();
    assert_eq!(stored[0], 0, "nothing in localStorage");
    assert!(stored[1].as_array().unwrap().iter().all(|k| k.as_str().unwrap().starts_with("beian.mobile.")), "{stored}");
    let heard: Value = next_message(&mut desktop).await;
    assert_eq!(heard["type"], "next", "filingUpdated fired: {heard}");
    client.clone().close().await.unwrap();
}

#[tokio::test]
async fn the_page_fits_a_320_pixel_phone_and_explains_wrong_codes_and_mismatched_numbers() {
    let Some(browser) = browser("en-US", 320).await else { return };
    let client = &browser.client;
    let (crate::workflow::Cast { app, .. }, _, _) = subjects_link_opened(client).await;
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

/// The kinds of attachment the filing holds, as the desktop sees them.
async fn attachment_kinds(app: &TestApp, applicant: &str, filing: &Value) -> Vec<String> {
    let query = "query($id: ID!) { filing(id: $id) { attachments { kind } } }";
    let seen = app.ok(applicant, query, json!({ "id": filing["id"] })).await;
    seen["filing"]["attachments"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn five_wrong_codes_then_the_right_one_say_to_send_a_new_code() {
    let Some(browser) = browser("en-US", 390).await else { return };
    let client = &browser.client;
    let (crate::workflow::Cast { app, .. }, _, token) = subjects_link_opened(client).await;
    click(client, "#agree").await;
    click(client, "button.primary").await;
    click(client, "button.secondary").await;
    find(client, "p.ok").await;
    // The resend wait the API gives, counted down on the button, which waits with it.
    let send = says(client, "button.secondary", "Send again in").await;
    assert!(!find(client, "button.secondary").await.is_enabled().await.unwrap(), "{send}");
    let code = crate::mobile::recorded_code(&app, "13800138000").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    // (Each answer draws the view anew: the field is found again each time.)
    let enter = |digits: String| async move {
        let field = find(client, "#code").await;
        field.clear().await.unwrap();
        field.send_keys(&digits).await.unwrap();
        click(client, "button.primary").await;
    };
    for left in (1..5).rev() {
        enter(wrong.to_owned()).await;
        says(client, "p.error", &format!("{left} tries left")).await;
    }
    enter(wrong.to_owned()).await;
    says(client, "p.error", "tried too often: ask for a new one").await;
    // The code is burnt: even the right one is refused, with what to do.
    enter(code.clone()).await;
    says(client, "p.error", "send a new one").await;
    shot(client, "wrong-code-five-times").await;
    let phone = app.ok(&token, "{ mobileSession { phoneVerified } }", json!({})).await;
    assert_eq!(phone["mobileSession"]["phoneVerified"], false);
    client.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_wrong_or_oversized_file_is_refused_before_upload_and_a_dropped_upload_is_retried() {
    let Some(browser) = browser("en-US", 390).await else { return };
    let client = &browser.client;
    let crate::workflow::Cast { app, applicant, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let token = crate::mobile::confirmed_phone(&app, &applicant, &filing, None).await;
    let frame = app.ok(&token, "{ mobileSession { materials { kind contentTypes maxBytes } } }", json!({})).await;
    let front =
        frame["mobileSession"]["materials"].as_array().unwrap().iter().find(|m| m["kind"] == "ID_CARD_FRONT").cloned();
    let limit = front.expect("the ID card is this person's")["maxBytes"].as_u64().unwrap();
    // The phone is confirmed already: the page opens at the documents.
    client.goto(&format!("{}/mobile#token={token}", app.address)).await.unwrap();
    click(client, "button[data-kind=ID_CARD_FRONT]").await;
    find(client, "#number").await.send_keys("11010519491231002X").await.unwrap();

    // A text file, then an image over the limit: refused on the phone, with the types and the limit shown, and
    // nothing sent to the server (the page's requests, as the browser timed them).
    let requests = "return performance.getEntriesByType('resource').filter(e => e.name.endsWith('/graphql')).length";
    let before = client.execute(requests, vec![]).await.unwrap();
    pick(client, "notes.txt", b"not a photo").await;
    let error = says(client, "p.error", "not accepted").await;
    assert!(error.contains("PNG") && error.contains("JPEG") && error.contains(" MB"), "{error}");
    let mut big = crate::attachments::png(64);
    big.resize(limit as usize + 1, 0);
    pick(client, "huge.png", &big).await;
    let error = says(client, "p.error", "too large").await;
    assert!(error.contains(&format!("at most {} MB", limit / 1_048_576)), "{error}");
    assert_eq!(client.execute(requests, vec![]).await.unwrap(), before, "no request went out");
    assert_eq!(attachment_kinds(&app, &applicant, &filing).await, Vec::<String>::new(), "nothing was stored");
    shot(client, "file-refused").await;

    // The object store cannot be reached: the upload fails, what was typed and chosen stays, and a retry sends it.
    browser.devtools("Network.enable", json!({})).await;
    browser.devtools("Network.setBlockedURLs", json!({ "urls": ["*X-Amz-Signature*"] })).await;
    pick(client, "id-front.png", &crate::attachments::png(4096)).await;
    says(client, "p.error", "The upload failed").await;
    let typed = find(client, "#number").await.prop("value").await.unwrap();
    assert_eq!(typed.as_deref(), Some("11010519491231002X"), "what the person typed is kept");
    shot(client, "upload-failed").await;
    browser.devtools("Network.setBlockedURLs", json!({ "urls": [] })).await;
    click(client, "button.primary").await;
    find(client, "button[data-kind=ID_CARD_FRONT] .badge.UPLOADED").await;
    assert!(attachment_kinds(&app, &applicant, &filing).await.contains(&"ID_CARD_FRONT".to_owned()));
    client.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_link_that_expires_while_open_says_to_ask_for_a_new_qr_code() {
    let Some(browser) = browser("zh-CN", 390).await else { return };
    let client = &browser.client;
    let (crate::workflow::Cast { app, .. }, _, _) = subjects_link_opened(client).await;
    click(client, "#agree").await;
    click(client, "button.primary").await;
    find(client, "#code").await;
    {
        use entity::mobile_session::{Column, Entity};
        use sea_orm::{EntityTrait, QueryFilter, sea_query::Expr};
        Entity::update_many()
            .col_expr(Column::ExpiresAt, Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)))
            .filter(sea_orm::ColumnTrait::is_not_null(&Column::Id))
            .exec(&app.db)
            .await
            .unwrap();
    }
    // The next step finds the link expired: the page says what to do instead of failing silently.
    click(client, "button.secondary").await;
    says(client, "h1", "链接无效").await;
    says(client, "#app p", "重新生成二维码").await;
    shot(client, "expired").await;
    // The token is gone from the tab: reopening the page does not try it again.
    client.refresh().await.unwrap();
    says(client, "h1", "链接不完整").await;
    client.clone().close().await.unwrap();
}

#[tokio::test]
async fn where_the_browser_cannot_record_the_phones_camera_app_records_the_face_video() {
    let Some(browser) = browser("en-US", 390).await else { return };
    let client = &browser.client;
    let crate::workflow::Cast { app, applicant, .. } = cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let website = filing["websites"][0]["id"].clone();
    let token = crate::mobile::confirmed_phone(&app, &applicant, &filing, Some(&website)).await;
    client.goto(&format!("{}/mobile#token={token}", app.address)).await.unwrap();
    find(client, "button[data-kind=FACE_VIDEO]").await;
    // A browser without MediaRecorder (older phones' in-app browsers).
    client.execute("window.MediaRecorder = undefined", vec![]).await.unwrap();
    click(client, "button[data-kind=FACE_VIDEO]").await;
    click(client, "button.primary").await;
    says(client, "p.error", "Record a video with your phone's camera").await;
    let digits = find(client, ".challenge-inline strong").await.text().await.unwrap();
    assert!(digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()), "{digits}");
    shot(client, "face-fallback").await;
    // The camera app's video comes back through the front-camera file input.
    let mut video = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    video.resize(64 * 1024, 0);
    pick_in(client, "input[type=file][capture=user]", "face.mp4", &video).await;
    find(client, "button[data-kind=FACE_VIDEO] .badge.UPLOADED").await;
    let query = "query($id: ID!) { filing(id: $id) { attachments { kind faceChallenge } } }";
    let seen = app.ok(&applicant, query, json!({ "id": filing["id"] })).await;
    let face = seen["filing"]["attachments"].as_array().unwrap().iter().find(|a| a["kind"] == "FACE_VIDEO").cloned();
    assert_eq!(face.expect("the video is in")["faceChallenge"], json!(digits), "bound to the digits shown");
    client.clone().close().await.unwrap();
}
