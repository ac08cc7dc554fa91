//! Bad input gets every refused field with a stable code, and changes nothing.

use serde_json::json;

use crate::helpers::*;

const COUNT: &str = "{ filings { totalCount } }";

#[tokio::test]
async fn every_bad_field_is_reported_at_once_and_nothing_is_written() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let mut input = filing_input("   ");
    input["subject"]["provinceCode"] = json!("990000");
    input["subject"]["certificateType"] = json!("RESIDENT_ID_CARD");
    input["subject"]["mailingAddress"] = json!("地".repeat(301));
    input["subject"]["responsiblePerson"]["email"] = json!("not-an-email");
    input["subject"]["responsiblePerson"]["certificateType"] = json!("BUSINESS_LICENCE");
    input["subject"]["responsiblePerson"]["mobile"] = json!("call me");
    input["websites"][0]["domains"] = json!(["http://example.com/", "1.2.3.4", "ok.cn", "OK.cn"]);
    input["websites"][0]["homepageUrl"] = json!("ftp://example.com");
    input["websites"][0]["serviceContent"] = json!([]);
    input["websites"][0]["languages"] = json!(["ENGLISH", "ENGLISH"]);

    let error = app.err(&key, &CREATE, json!({ "input": input })).await;
    let mut got = fields(&error);
    got.sort();
    let mut expected: Vec<(String, String)> = [
        ("subject.name", "REQUIRED"),
        ("subject.provinceCode", "UNKNOWN_PROVINCE"),
        ("subject.certificateType", "CERTIFICATE_TYPE_NOT_ALLOWED"),
        ("subject.mailingAddress", "TOO_LONG"),
        ("subject.responsiblePerson.email", "INVALID_EMAIL"),
        ("subject.responsiblePerson.certificateType", "CERTIFICATE_TYPE_NOT_ALLOWED"),
        ("subject.responsiblePerson.mobile", "INVALID_MOBILE"),
        ("websites[0].domains[0]", "INVALID_DOMAIN"),
        ("websites[0].domains[1]", "INVALID_DOMAIN"),
        ("websites[0].domains[3]", "DUPLICATE"),
        ("websites[0].homepageUrl", "INVALID_URL"),
        ("websites[0].serviceContent", "REQUIRED"),
        ("websites[0].languages", "DUPLICATE"),
    ]
    .iter()
    .map(|(f, c)| (f.to_string(), c.to_string()))
    .collect();
    expected.sort();
    assert_eq!(got, expected);

    // Each refused field says what is wrong in both languages.
    for field in error["extensions"]["fields"].as_array().unwrap() {
        assert!(!field["message"].as_str().unwrap().is_empty());
        assert!(!field["messageZh"].as_str().unwrap().is_empty());
    }
    assert_eq!(app.ok(&key, COUNT, json!({})).await["filings"]["totalCount"], 0);
}

#[tokio::test]
async fn division_codes_must_nest() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let mut input = filing_input("上海示例有限公司");
    input["subject"] = shanghai_subject("上海示例有限公司");
    input["subject"]["cityCode"] = json!("320100");
    input["subject"]["districtCode"] = json!("31011");
    let error = app.err(&key, &CREATE, json!({ "input": input })).await;
    let mut got = fields(&error);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("subject.cityCode".to_owned(), "REGION_MISMATCH".to_owned()),
            ("subject.districtCode".to_owned(), "INVALID_FORMAT".to_owned()),
        ]
    );

    input["subject"]["cityCode"] = json!("310100");
    input["subject"]["districtCode"] = json!("320115");
    let error = app.err(&key, &CREATE, json!({ "input": input })).await;
    assert_eq!(fields(&error), vec![("subject.districtCode".to_owned(), "REGION_MISMATCH".to_owned())]);

    input["subject"]["districtCode"] = json!("310115");
    let filing = app.ok(&key, &CREATE, json!({ "input": input })).await["createFiling"].clone();
    assert_eq!(filing["subject"]["province"]["icpPrefix"], "沪");
}

#[tokio::test]
async fn an_invalid_edit_changes_nothing() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let mut subject = subject_input("北京示例科技有限公司（改）");
    subject["responsiblePerson"]["email"] = json!("broken@");
    let query = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }";
    let input = json!({ "filingId": filing["id"], "version": 1, "subject": subject });
    let error = app.err(&key, query, json!({ "input": input })).await;
    assert_eq!(fields(&error), vec![("subject.responsiblePerson.email".to_owned(), "INVALID_EMAIL".to_owned())]);

    let read = app.ok(&key, &GET, json!({ "id": filing["id"] })).await["filing"].clone();
    assert_eq!(read["version"], 1);
    assert_eq!(read["subject"]["name"], "北京示例科技有限公司");
    assert_eq!(read["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_unknown_enum_value_is_refused_by_the_schema() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let mut input = filing_input("北京示例科技有限公司");
    input["subject"]["subjectType"] = json!("SPACESHIP");
    let (status, body) = app.post(Some(&key), &CREATE, json!({ "input": input })).await;
    assert_eq!(status, 200);
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("SPACESHIP"), "{body}");
    assert_eq!(app.ok(&key, COUNT, json!({})).await["filings"]["totalCount"], 0);
}
