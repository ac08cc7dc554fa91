//! The ICP rules through the GraphQL API: identifiers, domains, names, cross-field rules, the pre-submit check and
//! the reference data.

use serde_json::{Value, json};

use crate::helpers::*;

const ADD_WEBSITE: &str = "mutation($input: AddWebsiteInput!) { addWebsite(input: $input) { filing { version } } }";
const PRECHECK: &str = "query($id: ID!) { filing(id: $id) { precheck { passed
    errors { field code message messageZh suggestion suggestionZh websiteId }
    warnings { field code websiteId } } } }";

fn codes(error: &Value) -> Vec<(String, String)> {
    let mut found = fields(error);
    found.sort();
    found
}

async fn count(app: &TestApp, key: &str) -> i64 {
    app.ok(key, "{ filings { totalCount } }", json!({})).await["filings"]["totalCount"].as_i64().unwrap()
}

#[tokio::test]
async fn identifier_vectors_are_accepted_or_refused_by_field() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    // Valid: GB 11643's own example, and credit codes printed on public business licences.
    // (Each in its own registrar: within one, a mobile number backs only one subject.)
    for (i, (id, code)) in [("11010519491231002X", "91110000802100433B"), ("11010519491231002x", "91110105MA01ABCD13")]
        .into_iter()
        .enumerate()
    {
        let valid = app.tenant(&format!("valid{i}")).await;
        let mut input = filing_input("北京示例科技有限公司");
        input["subject"]["certificateNumber"] = json!(code);
        input["subject"]["responsiblePerson"]["certificateNumber"] = json!(id);
        app.ok(&valid, &CREATE, json!({ "input": input })).await;
    }
    let refused = [
        ("110105194912310021", "91110000802100433B", "subject.responsiblePerson.certificateNumber"), // check char
        ("11010519491331002X", "91110000802100433B", "subject.responsiblePerson.certificateNumber"), // month 13
        ("11010519491231002X", "91110000802100433C", "subject.certificateNumber"),                   // check char
        ("11010519491231002X", "91110000802I00433B", "subject.certificateNumber"),                   // I not allowed
        ("11010519491231002X", "9111000080210043", "subject.certificateNumber"),                     // length
    ];
    for (id, code, field) in refused {
        let mut input = filing_input("北京示例科技有限公司");
        input["subject"]["certificateNumber"] = json!(code);
        input["subject"]["responsiblePerson"]["certificateNumber"] = json!(id);
        let error = app.err(&key, &CREATE, json!({ "input": input })).await;
        assert_eq!(codes(&error), vec![(field.to_owned(), "INVALID_CERTIFICATE_NUMBER".to_owned())], "{id} {code}");
        let detail = &error["extensions"]["fields"][0];
        assert!(detail["messageZh"].as_str().unwrap().contains("无效"), "{detail}");
        assert!(detail["suggestion"].is_string());
    }
    assert_eq!(count(&app, &key).await, 0, "nothing of the refused filings was saved");

    // A company registered in Shenzhen files in Guangdong, not in Beijing.
    let mut input = filing_input("深圳示例有限公司");
    input["subject"]["certificateNumber"] = json!("91440300708461136T");
    let error = app.err(&key, &CREATE, json!({ "input": input })).await;
    assert_eq!(codes(&error), vec![("subject.provinceCode".to_owned(), "PROVINCE_MISMATCH".to_owned())]);
    assert!(error["extensions"]["fields"][0]["suggestion"].as_str().unwrap().contains("440000"));
    // A public institution's code on an enterprise.
    let mut input = filing_input("北京示例科技有限公司");
    input["subject"]["certificateNumber"] = json!("12100000400000624D");
    let error = app.err(&key, &CREATE, json!({ "input": input })).await;
    assert_eq!(codes(&error), vec![("subject.certificateNumber".to_owned(), "SUBJECT_TYPE_MISMATCH".to_owned())]);
}

#[tokio::test]
async fn phones_and_contacts_follow_the_rules() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let mut input = filing_input("北京示例科技有限公司");
    input["subject"]["responsiblePerson"]["mobile"] = json!("12800138000");
    input["subject"]["responsiblePerson"]["emergencyPhone"] = json!("12345");
    input["websites"][0]["responsiblePerson"]["email"] = json!("ZhangSan@example.com");
    let error = app.err(&key, &CREATE, json!({ "input": input })).await;
    assert_eq!(
        codes(&error),
        vec![
            ("subject.responsiblePerson.emergencyPhone".to_owned(), "INVALID_PHONE".to_owned()),
            ("subject.responsiblePerson.mobile".to_owned(), "INVALID_MOBILE".to_owned()),
            ("websites[0].responsiblePerson.email".to_owned(), "SHARED_CONTACT".to_owned()),
        ]
    );

    // Mobiles are stored canonical, and one number backs one subject within the registrar.
    let mut input = filing_input("北京示例科技有限公司");
    input["subject"]["responsiblePerson"]["mobile"] = json!("+86 138-0013-8000");
    let filing = app.ok(&key, &CREATE, json!({ "input": input })).await["createFiling"].clone();
    assert_eq!(filing["subject"]["responsiblePerson"]["mobile"], "13800138000");
    let mut other = shanghai_filing("上海示例贸易有限公司");
    other["subject"]["responsiblePerson"]["mobile"] = json!("138 0013 8000");
    let error = app.err(&key, &CREATE, json!({ "input": other })).await;
    assert_eq!(codes(&error), vec![("subject.responsiblePerson.mobile".to_owned(), "MOBILE_TAKEN".to_owned())]);
    // The same subject filing again may use its own number; another registrar is another world.
    app.create_filing(&key, "北京示例科技有限公司").await;
    let elsewhere = app.tenant("other").await;
    let mut other = shanghai_filing("上海示例贸易有限公司");
    other["subject"]["responsiblePerson"]["mobile"] = json!("13800138000");
    app.ok(&elsewhere, &CREATE, json!({ "input": other })).await;
}

#[tokio::test]
async fn domains_are_registrable_under_approved_tlds_in_unicode_or_punycode() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let add = |domain: &str, homepage: &str, version: i64| {
        let mut website = website_input("示例科技产品网", "placeholder.cn");
        website["domains"] = json!([domain]);
        website["homepageUrl"] = json!(homepage);
        json!({ "input": { "filingId": filing["id"], "version": version, "website": website } })
    };
    let ok = app.ok(&key, ADD_WEBSITE, add("例子.中国", "https://www.例子.中国/", 1)).await;
    assert_eq!(ok["addWebsite"]["filing"]["version"], 2);
    app.ok(&key, ADD_WEBSITE, add("xn--55qx5d.xn--fiqs8s", "http://xn--55qx5d.xn--fiqs8s", 2)).await;
    app.ok(&key, ADD_WEBSITE, add("example.com.cn", "https://example.com.cn", 3)).await;

    let cases = [
        ("www.example.com", "https://www.example.com", "website.domains[0]", "NOT_REGISTRABLE_DOMAIN"),
        ("shop.例子.中国", "https://shop.例子.中国", "website.domains[0]", "NOT_REGISTRABLE_DOMAIN"),
        ("example.zz", "https://example.zz", "website.domains[0]", "TLD_NOT_APPROVED"),
        ("192.168.1.1", "https://192.168.1.1", "website.domains[0]", "INVALID_DOMAIN"),
        ("example.org", "https://elsewhere.org", "website.homepageUrl", "HOMEPAGE_NOT_ON_DOMAIN"),
    ];
    for (domain, homepage, field, code) in cases {
        let error = app.err(&key, ADD_WEBSITE, add(domain, homepage, 4)).await;
        assert_eq!(codes(&error), vec![(field.to_owned(), code.to_owned())], "{domain}");
    }
    let error = app.err(&key, ADD_WEBSITE, add("www.example.com", "https://www.example.com", 4)).await;
    assert!(error["extensions"]["fields"][0]["suggestion"].as_str().unwrap().contains("example.com"));
    let read = app.ok(&key, &GET, json!({ "id": filing["id"] })).await["filing"].clone();
    assert_eq!(read["version"], 4);
    assert_eq!(read["websites"][1]["domains"], json!(["xn--fsqu00a.xn--fiqs8s"]));
}

#[tokio::test]
async fn each_website_name_rule_is_enforced_with_its_code() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let cases = [
        ("示例", "NAME_TOO_SHORT"),
        ("12345678", "NAME_ONLY_DIGITS_OR_LETTERS"),
        ("ExampleTech", "NAME_ONLY_DIGITS_OR_LETTERS"),
        ("example.com", "NAME_IS_DOMAIN"),
        ("示例科技★产品网", "NAME_HAS_SYMBOLS"),
        ("中国示例科技网", "NAME_RESERVED_PREFIX"),
        ("示例博彩娱乐网", "NAME_SENSITIVE_WORD"),
        ("示例科技交流论坛", "NAME_NEEDS_PRE_APPROVAL"),
    ];
    for (name, code) in cases {
        let input = json!({ "filingId": filing["id"], "version": 1,
            "website": website_input(name, "example-name.cn") });
        let error = app.err(&key, ADD_WEBSITE, json!({ "input": input })).await;
        assert_eq!(codes(&error), vec![("website.name".to_owned(), code.to_owned())], "{name}");
        let field = &error["extensions"]["fields"][0];
        assert!(field["suggestionZh"].is_string() && field["messageZh"].is_string(), "{field}");
    }
    // With the pre-approval the bulletin name is fine.
    let mut forum = website_input("示例科技交流论坛", "example-name.cn");
    forum["preApprovals"] = json!([{ "category": "ELECTRONIC_BULLETIN", "licenceNumber": "京ICP证000001号" }]);
    app.ok(&key, ADD_WEBSITE, json!({ "input": { "filingId": filing["id"], "version": 1, "website": forum } })).await;

    // A personal site may not use organisation or generic words.
    let mut personal = filing_input("王五");
    personal["subject"]["subjectType"] = json!("INDIVIDUAL");
    personal["subject"]["certificateType"] = json!("RESIDENT_ID_CARD");
    personal["subject"]["certificateNumber"] = json!("110105199001011232");
    personal["subject"]["certificateAddress"] = Value::Null;
    personal["subject"]["responsiblePerson"] =
        person("王五", "110105199001011232", "13700137000", "wangwu@example.com");
    personal["websites"][0]["name"] = json!("王五网络工作室");
    personal["websites"][0]["serviceContent"] = json!(["BLOG_PERSONAL_SPACE"]);
    personal["websites"][0]["responsiblePerson"] = personal["subject"]["responsiblePerson"].clone();
    let error = app.err(&key, &CREATE, json!({ "input": personal.clone() })).await;
    assert_eq!(codes(&error), vec![("websites[0].name".to_owned(), "NAME_NOT_FOR_PERSONAL_SITE".to_owned())]);

    // Individuals: one website, and only blog or other content.
    personal["websites"][0]["name"] = json!("王五的摄影作品集");
    personal["websites"][0]["serviceContent"] = json!(["OTHER"]);
    let mut second = personal["websites"][0].clone();
    second["domains"] = json!(["wangwu-travel.cn"]);
    second["homepageUrl"] = json!("https://wangwu-travel.cn");
    second["name"] = json!("王五的旅行日记");
    second["serviceContent"] = json!(["ONLINE_SHOPPING"]);
    personal["websites"] = json!([personal["websites"][0], second]);
    let error = app.err(&key, &CREATE, json!({ "input": personal.clone() })).await;
    assert_eq!(
        codes(&error),
        vec![
            ("websites".to_owned(), "TOO_MANY".to_owned()),
            ("websites[1].serviceContent".to_owned(), "NOT_ALLOWED_FOR_INDIVIDUALS".to_owned()),
        ]
    );
    personal["websites"] = json!([personal["websites"][0]]);
    app.ok(&key, &CREATE, json!({ "input": personal })).await;
}

#[tokio::test]
async fn remarks_and_service_content_that_needs_a_pre_approval() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let mut input = filing_input("北京示例科技有限公司");
    input["websites"][0]["remark"] = json!("太短");
    input["websites"][0]["serviceContent"] = json!(["ONLINE_NEWS"]);
    let error = app.err(&key, &CREATE, json!({ "input": input.clone() })).await;
    assert_eq!(
        codes(&error),
        vec![
            ("websites[0].preApprovals".to_owned(), "PRE_APPROVAL_REQUIRED".to_owned()),
            ("websites[0].remark".to_owned(), "TOO_SHORT".to_owned()),
        ]
    );
    input["websites"][0]["remark"] = Value::Null;
    input["websites"][0]["preApprovals"] = json!([{ "category": "NEWS", "licenceNumber": "10120260001" }]);
    let error = app.err(&key, &CREATE, json!({ "input": input.clone() })).await;
    assert_eq!(codes(&error), vec![("websites[0].remark".to_owned(), "REQUIRED".to_owned())]);
}

#[tokio::test]
async fn precheck_lists_errors_and_warnings_and_warnings_do_not_block() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let mut input = filing_input("北京示例科技有限公司");
    input["websites"] = json!([]);
    let filing = app.ok(&key, &CREATE, json!({ "input": input })).await["createFiling"].clone();
    let check = app.ok(&key, PRECHECK, json!({ "id": filing["id"] })).await["filing"]["precheck"].clone();
    assert_eq!(check["passed"], false);
    assert_eq!(check["errors"].as_array().unwrap().len(), 1);
    assert_eq!(check["errors"][0]["field"], "websites");
    assert_eq!(check["errors"][0]["code"], "REQUIRED");

    // 官网 draws a question but saves.
    let input =
        json!({ "filingId": filing["id"], "version": 1, "website": website_input("示例科技官网", "example.com") });
    app.ok(&key, ADD_WEBSITE, json!({ "input": input })).await;
    let read = app.ok(&key, &GET, json!({ "id": filing["id"] })).await["filing"].clone();
    let check = app.ok(&key, PRECHECK, json!({ "id": filing["id"] })).await["filing"]["precheck"].clone();
    assert_eq!(check["passed"], true, "{check}");
    assert_eq!(check["errors"], json!([]));
    assert_eq!(
        check["warnings"],
        json!([{ "field": "websites[0].name", "code": "NAME_MAY_DRAW_QUESTION", "websiteId": read["websites"][0]["id"] }])
    );

    // Another applicant cannot precheck someone else's filing: it is not there for them.
    let other = app.tenant("other").await;
    assert_eq!(code(&app.err(&other, PRECHECK, json!({ "id": filing["id"] })).await), "NOT_FOUND");
}

#[tokio::test]
async fn an_edit_may_not_introduce_an_error_but_an_existing_one_does_not_block_other_edits() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    // A website's person taking the subject person's email is a new error: refused.
    let website_id = filing["websites"][0]["id"].clone();
    let mut website = website_input("示例科技产品网", "example.com");
    website["responsiblePerson"]["email"] = json!("zhangsan@example.com");
    let update = "mutation($input: UpdateWebsiteInput!) { updateWebsite(input: $input) { filing { version } } }";
    let error =
        app.err(&key, update, json!({ "input": { "websiteId": website_id, "version": 1, "website": website } })).await;
    assert_eq!(codes(&error), vec![("website.responsiblePerson.email".to_owned(), "SHARED_CONTACT".to_owned())]);

    // A draft saved before a rule existed (or before the registrar changed its reference data) may break it:
    // simulate one by writing behind the API's back.
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let row = entity::website::Entity::find().one(&app.db).await.unwrap().unwrap();
    let mut broken: entity::website::ActiveModel = row.into();
    broken.remark = Set(Some("短".into()));
    broken.update(&app.db).await.unwrap();
    let check = app.ok(&key, PRECHECK, json!({ "id": filing["id"] })).await["filing"]["precheck"].clone();
    assert_eq!(check["errors"][0]["code"], "TOO_SHORT");
    // Editing the subject is still possible: the broken remark is not the subject's doing.
    let subject = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }";
    let input = json!({ "filingId": filing["id"], "version": 1, "subject": subject_input("北京示例网络科技有限公司") });
    assert_eq!(app.ok(&key, subject, json!({ "input": input })).await["updateFilingSubject"]["version"], 2);
}

#[tokio::test]
async fn reference_data_is_served_and_can_be_replaced_by_the_registrar() {
    let app = spawn_app().await;
    let query = "{ referenceData { provinces { code icpPrefix } approvedTlds individualMaxWebsites
        subjectTypes { value miitCode certificateTypes }
        serviceContent { value allowedForIndividuals requiresPreApprovals }
        preApprovalCategories { value licence } languages { value label } accessMethods { value label }
        websiteNameRules { minChineseCharacters } } }";
    let (_, body) = app.post(None, query, json!({})).await;
    let data = &body["data"]["referenceData"];
    assert_eq!(data["provinces"].as_array().unwrap().len(), 31);
    assert!(data["provinces"].as_array().unwrap().contains(&json!({ "code": "510000", "icpPrefix": "蜀" })));
    assert!(data["approvedTlds"].as_array().unwrap().contains(&json!("中国")));
    let individual = data["subjectTypes"].as_array().unwrap().iter().find(|t| t["value"] == "INDIVIDUAL").unwrap();
    assert_eq!(individual["miitCode"], 5);
    assert!(individual["certificateTypes"].as_array().unwrap().contains(&json!("RESIDENT_ID_CARD")));
    let news = data["serviceContent"].as_array().unwrap().iter().find(|s| s["value"] == "ONLINE_NEWS").unwrap();
    assert_eq!(news["requiresPreApprovals"], json!(["NEWS"]));
    assert_eq!(data["individualMaxWebsites"], 1);
    assert_eq!(data["websiteNameRules"]["minChineseCharacters"], 3);

    // A registrar's own file: .com is not on its list.
    let database = TestDatabase::new().await;
    let file = database.dir.path().join("reference.toml");
    let builtin = beian::domain::reference::BUILT_IN.replace("\"com\", ", "");
    std::fs::write(&file, builtin).unwrap();
    let custom = spawn_app_with(database, |c| c.rules.reference_file = Some(file)).await;
    let key = custom.tenant("xinnet").await;
    let error = custom.err(&key, &CREATE, json!({ "input": filing_input("北京示例科技有限公司") })).await;
    assert_eq!(codes(&error), vec![("websites[0].domains[0]".to_owned(), "TLD_NOT_APPROVED".to_owned())]);
}
