//! Messages in the language the client asks for (`Accept-Language`): Chinese by default, English on request, for
//! top-level errors, refusals before the engine, field errors and the pre-submit findings alike.

use serde_json::{Value, json};

use crate::helpers::*;

/// Whether `text` has Chinese characters.
fn chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_else(|| panic!("an error message: {body}"))
}

#[tokio::test]
async fn top_level_errors_are_chinese_unless_the_client_asks_for_english() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = "query($id: ID!) { filing(id: $id) { id } }";
    let missing = beian::graphql::ids::encode(beian::graphql::ids::Kind::Filing, uuid::Uuid::now_v7()).0;
    let me = "{ me { permissions } }";

    // No header, a language neither Chinese nor English, Chinese preferred by quality: Chinese.
    for language in [None, Some("fr-FR,fr;q=0.9"), Some("en;q=0.5, zh-CN;q=0.8")] {
        let (_, body) = app.post_in(language, Some(&key), filing, json!({ "id": missing })).await;
        assert_eq!(code(&body["errors"][0]), "NOT_FOUND");
        assert_eq!(message(&body), "未找到", "{language:?}");
        let (_, body) = app.post_in(language, None, me, json!({})).await;
        assert_eq!(code(&body["errors"][0]), "UNAUTHENTICATED");
        assert!(chinese(message(&body)), "{language:?}: {body}");
    }
    // English asked for, also among others and with a region.
    for language in ["en", "en-US,en;q=0.9", "fr, en-GB;q=0.7, zh;q=0.3"] {
        let (_, body) = app.post_in(Some(language), Some(&key), filing, json!({ "id": missing })).await;
        assert_eq!(message(&body), "not found", "{language}");
        let (_, body) = app.post_in(Some(language), None, me, json!({})).await;
        assert!(message(&body).starts_with("sign in"), "{language}: {body}");
    }

    // A refusal made before the engine runs (a credential that does not authenticate: 401) follows it too.
    let (status, body) = app.post_in(None, Some("beian_not-a-key"), me, json!({})).await;
    assert_eq!((status, code(&body["errors"][0])), (401, "UNAUTHENTICATED"));
    assert_eq!(message(&body), "API 密钥无效");
    let (_, body) = app.post_in(Some("en"), Some("beian_not-a-key"), me, json!({})).await;
    assert_eq!(message(&body), "the API key is not valid");

    // A state the filing is not in names the state in the asked language.
    let created = app.create_filing(&key, "北京示例科技有限公司").await;
    let step = "mutation($input: FilingVersionInput!) { claimReview(input: $input) { status } }";
    let input = json!({ "input": { "filingId": created["id"], "version": created["version"] } });
    let (_, body) = app.post_in(None, Some(&key), step, input.clone()).await;
    assert_eq!(code(&body["errors"][0]), "INVALID_TRANSITION");
    assert_eq!(message(&body), "处于“草稿”状态的备案不能执行此操作（claimReview）");
    let (_, body) = app.post_in(Some("en"), Some(&key), step, input).await;
    assert_eq!(message(&body), "a filing in state DRAFT cannot be changed this way (claimReview)");

    // The answer says which language it is in, and that it depends on the header.
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .header("accept-language", "en")
        .json(&json!({ "query": "{ apiVersion { schema } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-language"], "en");
    assert!(response.headers().get_all("vary").iter().any(|v| v.to_str().unwrap().contains("accept-language")));
}

#[tokio::test]
async fn field_errors_and_findings_speak_the_asked_language() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let mut input = filing_input("北京示例科技有限公司");
    input["subject"]["responsiblePerson"]["mobile"] = json!("123");
    let create = "mutation($input: CreateFilingInput!) { createFiling(input: $input) { id } }";

    let (_, body) = app.post_in(None, Some(&key), create, json!({ "input": input })).await;
    let field = &body["errors"][0]["extensions"]["fields"][0];
    assert_eq!(
        (field["field"].as_str(), field["code"].as_str()),
        (Some("subject.responsiblePerson.mobile"), Some("INVALID_MOBILE"))
    );
    assert_eq!(field["message"], "请输入 11 位中国大陆手机号码。");
    assert!(chinese(message(&body)), "{body}");
    let (_, body) = app.post_in(Some("en-US"), Some(&key), create, json!({ "input": input })).await;
    let field = &body["errors"][0]["extensions"]["fields"][0];
    assert_eq!(field["message"], "Enter an 11-digit mainland mobile number.");
    // 1.x clients still find the Chinese text where it was.
    assert_eq!(field["messageZh"], "请输入 11 位中国大陆手机号码。");
    assert!(message(&body).starts_with("invalid input"), "{body}");

    // The pre-submit check's findings: 官网 draws a question.
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let precheck = "query($id: ID!) { filing(id: $id) { precheck { warnings { code message messageZh } } } }";
    let (_, zh) = app.post_in(None, Some(&key), precheck, json!({ "id": filing["id"] })).await;
    let (_, en) = app.post_in(Some("en"), Some(&key), precheck, json!({ "id": filing["id"] })).await;
    let (zh, en) = (&zh["data"]["filing"]["precheck"]["warnings"][0], &en["data"]["filing"]["precheck"]["warnings"][0]);
    assert_eq!((&zh["code"], &en["code"]), (&json!("NAME_MAY_DRAW_QUESTION"), &json!("NAME_MAY_DRAW_QUESTION")));
    assert_eq!(zh["message"], "此类名称通常需要提供商标或授权证明。");
    assert_eq!(en["message"], "Reviewers usually ask for proof (a trademark or authorisation) of names like this.");
    assert_eq!(en["messageZh"], zh["message"], "the deprecated field keeps its meaning");
}
