//! Materials in S3: presigned uploads checked before they count, uploads through GraphQL, downloads, replacement,
//! deletion, expiry, and another tenant's attachments.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

pub const REQUEST: &str = "mutation($input: RequestAttachmentUploadInput!) { requestAttachmentUpload(input: $input) {
    method url headers { name value } expiresAt attachment { id status kind } } }";
pub const COMPLETE: &str = "mutation($id: ID!) { completeAttachmentUpload(id: $id) {
    id status size contentType sha256 fileName downloadUrl { url expiresAt } } }";
const ATTACHMENTS: &str =
    "query($id: ID!) { filing(id: $id) { attachments { id kind status fileName } events { action } } }";

/// A small but real PNG (signature, IHDR) padded to `size` bytes.
pub fn png(size: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde".to_vec();
    bytes.resize(size, 0);
    bytes
}

pub fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn upload_input(filing: &Value, kind: &str, file_name: &str, content_type: &str, bytes: &[u8]) -> Value {
    json!({ "input": {
        "filingId": filing["id"], "kind": kind, "fileName": file_name, "contentType": content_type,
        "size": bytes.len(), "sha256": sha256(bytes),
    } })
}

/// Whether the store checks signatures (the embedded s3s-fs does, as S3 does; moto accepts anything).
fn store_checks_signatures() -> bool {
    std::env::var("BEIAN_TEST_S3_ENDPOINT").map_or(true, |e| e.is_empty())
}

/// Where an attachment's object is, read from the database.
async fn object_key(app: &TestApp, id: &Value) -> beian::storage::ObjectRef {
    use sea_orm::EntityTrait;
    let id = beian::graphql::ids::decode(id.as_str().unwrap(), beian::graphql::ids::Kind::Attachment, "id").unwrap();
    let row = entity::attachment::Entity::find_by_id(id).one(&app.db).await.unwrap().unwrap();
    app.storage.object(row.bucket.as_deref(), &row.object_key)
}

/// PUTs bytes to a presigned URL with the headers it came with; returns the HTTP status.
pub async fn put(app: &TestApp, ticket: &Value, bytes: Vec<u8>) -> u16 {
    let mut request = app.client.put(ticket["url"].as_str().unwrap());
    for header in ticket["headers"].as_array().unwrap() {
        let name = header["name"].as_str().unwrap();
        if !name.eq_ignore_ascii_case("content-length") {
            request = request.header(name, header["value"].as_str().unwrap());
        }
    }
    request.body(bytes).send().await.unwrap().status().as_u16()
}

/// Requests an upload, PUTs the bytes and completes it; returns the completed attachment.
async fn upload(app: &TestApp, key: &str, filing: &Value, kind: &str, name: &str, ty: &str, bytes: Vec<u8>) -> Value {
    let ticket =
        app.ok(key, REQUEST, upload_input(filing, kind, name, ty, &bytes)).await["requestAttachmentUpload"].clone();
    assert_eq!(ticket["method"], "PUT");
    assert_eq!(put(app, &ticket, bytes).await, 200);
    app.ok(key, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await["completeAttachmentUpload"].clone()
}

#[tokio::test]
async fn a_presigned_upload_is_checked_completed_and_downloadable() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let bytes = png(2048);
    let ticket = app
        .ok(&key, REQUEST, upload_input(&filing, "ID_CARD_FRONT", "身份证正面.png", "image/png", &bytes))
        .await["requestAttachmentUpload"]
        .clone();
    assert_eq!(ticket["attachment"]["status"], "PENDING");
    let headers: Vec<&str> =
        ticket["headers"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert!(headers.iter().any(|h| h.eq_ignore_ascii_case("content-type")), "{headers:?}");

    // Not uploaded yet.
    let error = app.err(&key, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await;
    assert_eq!(fields(&error), vec![("id".to_owned(), "UPLOAD_MISSING".to_owned())]);

    assert_eq!(put(&app, &ticket, bytes.clone()).await, 200);
    let done =
        app.ok(&key, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await["completeAttachmentUpload"].clone();
    assert_eq!(done["status"], "UPLOADED");
    assert_eq!(done["size"], 2048);
    assert_eq!(done["sha256"], sha256(&bytes));
    assert_eq!(done["fileName"], "身份证正面.png");

    let download = app.client.get(done["downloadUrl"]["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().to_vec(), bytes, "the same bytes come back");

    let read = app.ok(&key, ATTACHMENTS, json!({ "id": filing["id"] })).await["filing"].clone();
    assert_eq!(read["attachments"][0]["status"], "UPLOADED");
    assert!(read["events"].as_array().unwrap().iter().any(|e| e["action"] == "ATTACHMENT_UPLOADED"));
}

#[tokio::test]
async fn disguised_tampered_and_oversized_files_are_refused() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;

    // An executable named and announced as a PNG: refused after upload, and removed.
    let exe = {
        let mut bytes = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".to_vec();
        bytes.resize(4096, 0);
        bytes
    };
    let ticket = app.ok(&key, REQUEST, upload_input(&filing, "ID_CARD_BACK", "back.png", "image/png", &exe)).await
        ["requestAttachmentUpload"]
        .clone();
    assert_eq!(put(&app, &ticket, exe).await, 200);
    let error = app.err(&key, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await;
    assert_eq!(fields(&error), vec![("id".to_owned(), "CONTENT_MISMATCH".to_owned())]);
    let error = app.err(&key, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await;
    assert_eq!(fields(&error), vec![("id".to_owned(), "UPLOAD_MISSING".to_owned())], "the refused object is gone");

    // Other bytes than announced (same size, same type): the checksum tells.
    let announced = png(1000);
    let mut other = png(1000);
    other[999] = 1;
    let ticket = app
        .ok(&key, REQUEST, upload_input(&filing, "ID_CARD_BACK", "back.png", "image/png", &announced))
        .await["requestAttachmentUpload"]
        .clone();
    let status = put(&app, &ticket, other.clone()).await;
    if store_checks_signatures() {
        assert_eq!(status, 400, "the declared SHA-256 is signed into the PUT: the store refuses other bytes");
    }
    // The server checks all the same, for stores that take any body (moto) or keep it while refusing (s3s-fs).
    overwrite(&app, &upload_key(&app, &ticket["attachment"]["id"]).await, "image/png", &other).await;
    let error = app.err(&key, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await;
    assert_eq!(fields(&error), vec![("id".to_owned(), "CHECKSUM_MISMATCH".to_owned())]);

    // A PUT with another content type than signed is refused by S3 itself.
    let bytes = png(500);
    let ticket = app.ok(&key, REQUEST, upload_input(&filing, "ID_CARD_BACK", "back.png", "image/png", &bytes)).await
        ["requestAttachmentUpload"]
        .clone();
    let status = app
        .client
        .put(ticket["url"].as_str().unwrap())
        .header("content-type", "application/pdf")
        .body(bytes)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    if store_checks_signatures() {
        assert_eq!(status, 403, "the signature covers the content type");
    }

    // Refused before any URL is issued: wrong type for the material, too large, bad checksum text.
    let too_big = json!({ "input": { "filingId": filing["id"], "kind": "ID_CARD_FRONT", "fileName": "a.png",
        "contentType": "image/png", "size": 11 * 1024 * 1024, "sha256": "0".repeat(64) } });
    assert_eq!(fields(&app.err(&key, REQUEST, too_big).await), vec![("size".to_owned(), "FILE_TOO_LARGE".to_owned())]);
    let wrong_type = upload_input(&filing, "ID_CARD_FRONT", "a.pdf", "application/pdf", &pdf());
    assert_eq!(
        fields(&app.err(&key, REQUEST, wrong_type).await),
        vec![("contentType".to_owned(), "UNSUPPORTED_CONTENT_TYPE".to_owned())]
    );
    let mut bad_sum = upload_input(&filing, "VERIFICATION_SHEET", "sheet.pdf", "application/pdf", &pdf());
    bad_sum["input"]["sha256"] = json!("not-hex");
    assert_eq!(
        fields(&app.err(&key, REQUEST, bad_sum).await),
        vec![("sha256".to_owned(), "INVALID_FORMAT".to_owned())]
    );
    let no_website = upload_input(&filing, "FACE_VIDEO", "face.mp4", "video/mp4", b"\0\0\0\x18ftypmp42");
    assert_eq!(
        fields(&app.err(&key, REQUEST, no_website).await),
        vec![("websiteId".to_owned(), "REQUIRED".to_owned())]
    );

    let read = app.ok(&key, ATTACHMENTS, json!({ "id": filing["id"] })).await["filing"].clone();
    assert!(read["attachments"].as_array().unwrap().iter().all(|a| a["status"] == "PENDING"), "nothing counted");
}

#[tokio::test]
async fn a_new_upload_replaces_the_material_and_deletion_removes_it() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let first = upload(&app, &key, &filing, "VERIFICATION_SHEET", "核验单.pdf", "application/pdf", pdf()).await;
    let first_key = object_key(&app, &first["id"]).await;
    assert!(app.storage.head(&first_key).await.unwrap().is_some());
    let second = upload(&app, &key, &filing, "VERIFICATION_SHEET", "核验单-签字.png", "image/png", png(800)).await;
    assert_ne!(first["id"], second["id"]);

    let read = app.ok(&key, ATTACHMENTS, json!({ "id": filing["id"] })).await["filing"].clone();
    let sheets: Vec<&Value> =
        read["attachments"].as_array().unwrap().iter().filter(|a| a["kind"] == "VERIFICATION_SHEET").collect();
    assert_eq!(sheets.len(), 1, "one current file per material");
    assert_eq!(sheets[0]["fileName"], "核验单-签字.png");
    assert_eq!(app.storage.head(&first_key).await.unwrap(), None, "the replaced object is deleted");

    let second_key = object_key(&app, &second["id"]).await;
    let delete = "mutation($id: ID!) { deleteAttachment(id: $id) }";
    assert_eq!(app.ok(&key, delete, json!({ "id": second["id"] })).await["deleteAttachment"], true);
    let read = app.ok(&key, ATTACHMENTS, json!({ "id": filing["id"] })).await["filing"].clone();
    assert_eq!(read["attachments"], json!([]));
    assert!(read["events"].as_array().unwrap().iter().any(|e| e["action"] == "ATTACHMENT_REMOVED"));
    assert_eq!(app.storage.head(&second_key).await.unwrap(), None);
}

#[tokio::test]
async fn expired_upload_urls_are_refused_and_cleaned_up() {
    let app = spawn_app_with(TestDatabase::new().await, |c| c.storage.upload_url_ttl_seconds = 1).await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let bytes = png(600);
    let ticket = app.ok(&key, REQUEST, upload_input(&filing, "ID_CARD_FRONT", "a.png", "image/png", &bytes)).await
        ["requestAttachmentUpload"]
        .clone();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let status = put(&app, &ticket, bytes).await;
    if store_checks_signatures() {
        assert_eq!(status, 403, "S3 refuses an expired presigned URL");
    }
    let error = app.err(&key, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await;
    assert_eq!(fields(&error), vec![("id".to_owned(), "UPLOAD_EXPIRED".to_owned())]);

    // Backdate the expiry past the grace minute, as if the upload was abandoned long ago.
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let row = entity::attachment::Entity::find().one(&app.db).await.unwrap().unwrap();
    let mut old: entity::attachment::ActiveModel = row.into();
    old.upload_expires_at = Set(chrono::Utc::now() - chrono::Duration::minutes(5));
    old.update(&app.db).await.unwrap();
    // Three replicas' cleanups at once: exactly one removes it.
    let (a, b, c) = tokio::join!(app.clean_up_uploads(), app.clean_up_uploads(), app.clean_up_uploads());
    assert_eq!(a + b + c, 1);
    let read = app.ok(&key, ATTACHMENTS, json!({ "id": filing["id"] })).await["filing"].clone();
    assert_eq!(read["attachments"], json!([]));
}

#[tokio::test]
async fn another_tenant_or_applicant_cannot_reach_an_attachment() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let other = app.tenant("other").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let done = upload(&app, &key, &filing, "SUBJECT_CERTIFICATE", "营业执照.pdf", "application/pdf", pdf()).await;

    let node = "query($id: ID!) { node(id: $id) { id ... on Attachment { downloadUrl { url } } } }";
    assert_eq!(code(&app.err(&other, node, json!({ "id": done["id"] })).await), "NOT_FOUND");
    assert_eq!(code(&app.err(&other, COMPLETE, json!({ "id": done["id"] })).await), "NOT_FOUND");
    let delete = "mutation($id: ID!) { deleteAttachment(id: $id) }";
    assert_eq!(code(&app.err(&other, delete, json!({ "id": done["id"] })).await), "NOT_FOUND");
    let foreign = upload_input(&filing, "SUBJECT_CERTIFICATE", "x.pdf", "application/pdf", &pdf());
    assert_eq!(code(&app.err(&other, REQUEST, foreign).await), "NOT_FOUND");
    // The owner still sees it.
    let seen = app.ok(&key, node, json!({ "id": done["id"] })).await;
    assert!(seen["node"]["downloadUrl"]["url"].is_string());
}

#[tokio::test]
async fn a_file_uploaded_through_graphql_multipart_is_streamed_to_the_store() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let website_id = filing["websites"][0]["id"].clone();

    // A 20 MB "video": larger than one 8 MB part, so it goes up in a multipart upload.
    let mut video = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    video.resize(20 * 1024 * 1024, 7);
    let operations = json!({
        "query": "mutation($input: UploadAttachmentInput!, $file: Upload!) { uploadAttachment(input: $input, file: $file) { id status size sha256 contentType downloadUrl { url } } }",
        "variables": { "input": { "filingId": filing["id"], "kind": "FACE_VIDEO", "websiteId": website_id }, "file": null },
    });
    let send = |bytes: Vec<u8>, name: &str, ty: &str| {
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", json!({ "0": ["variables.file"] }).to_string())
            .part("0", reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()).mime_str(ty).unwrap());
        app.client.post(format!("{}/graphql", app.address)).bearer_auth(&key).multipart(form).send()
    };
    let response = send(video.clone(), "face.mp4", "video/mp4").await.unwrap();
    let body: Value = response.json().await.unwrap();
    let attachment = &body["data"]["uploadAttachment"];
    assert_eq!(attachment["status"], "UPLOADED", "{body}");
    assert_eq!(attachment["size"], video.len());
    assert_eq!(attachment["sha256"], sha256(&video));
    let downloaded = app.client.get(attachment["downloadUrl"]["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(downloaded.bytes().await.unwrap().len(), video.len());

    // A disguised file is refused and nothing is stored.
    let response = send(png(100).into_iter().rev().collect(), "face.mp4", "video/mp4").await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(fields(&body["errors"][0]), vec![("file".to_owned(), "CONTENT_MISMATCH".to_owned())]);
    let read = app.ok(&key, ATTACHMENTS, json!({ "id": filing["id"] })).await["filing"].clone();
    assert_eq!(read["attachments"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_oversized_multipart_upload_is_refused_while_streaming() {
    let app = spawn_app_with(TestDatabase::new().await, |c| {
        c.storage.max_video_bytes = 1024 * 1024;
        c.storage.max_image_bytes = 1024 * 1024;
        c.storage.max_document_bytes = 1024 * 1024;
    })
    .await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let operations = json!({
        "query": "mutation($input: UploadAttachmentInput!, $file: Upload!) { uploadAttachment(input: $input, file: $file) { id } }",
        "variables": { "input": { "filingId": filing["id"], "kind": "SUBJECT_CERTIFICATE" }, "file": null },
    });
    let mut big = pdf();
    big.resize(3 * 1024 * 1024, b' ');
    // Streamed without a Content-Length, so only the limit while reading can stop it.
    let stream = futures_stream(big);
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part("0", reqwest::multipart::Part::stream(stream).file_name("big.pdf").mime_str("application/pdf").unwrap());
    let response =
        app.client.post(format!("{}/graphql", app.address)).bearer_auth(&key).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body["errors"][0]), "PAYLOAD_TOO_LARGE");
    let read = app.ok(&key, ATTACHMENTS, json!({ "id": filing["id"] })).await["filing"].clone();
    assert_eq!(read["attachments"], json!([]));
}

fn futures_stream(bytes: Vec<u8>) -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

#[tokio::test]
async fn the_checklist_lists_what_the_filing_needs_and_where_each_stands() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let query = "query($id: ID!) { filing(id: $id) { checklist { complete
        items { kind label websiteId person state reason attachmentId } } } }";
    let vars = json!({ "id": filing["id"] });
    let list = app.ok(&key, query, vars.clone()).await["filing"]["checklist"].clone();
    assert_eq!(list["complete"], false);
    let items: Vec<(String, Value, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["kind"].as_str().unwrap().to_owned(), i["person"].clone(), i["state"].as_str().unwrap().to_owned()))
        .collect();
    let missing = |kind: &str, person: Value| (kind.to_owned(), person, "MISSING".to_owned());
    assert_eq!(
        items,
        vec![
            missing("SUBJECT_CERTIFICATE", Value::Null),
            missing("ID_CARD_FRONT", json!("张三")),
            missing("ID_CARD_BACK", json!("张三")),
            missing("ID_CARD_FRONT", json!("李四")),
            missing("ID_CARD_BACK", json!("李四")),
            missing("FACE_VIDEO", Value::Null),
            missing("VERIFICATION_SHEET", Value::Null),
            missing("COMMITMENT_LETTER", Value::Null),
            missing("SECURITY_AGREEMENT", Value::Null),
        ]
    );
    assert_eq!(list["items"][3]["websiteId"], filing["websites"][0]["id"]);
    assert_eq!(list["items"][0]["label"], "主体证件");

    let done = upload(&app, &key, &filing, "SUBJECT_CERTIFICATE", "营业执照.pdf", "application/pdf", pdf()).await;
    let list = app.ok(&key, query, vars.clone()).await["filing"]["checklist"].clone();
    assert_eq!(list["items"][0]["state"], "UPLOADED");
    assert_eq!(list["items"][0]["attachmentId"], done["id"]);

    // A reviewer's verdict shows (the review workflow records it; here it is written directly).
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let row = entity::attachment::Entity::find().one(&app.db).await.unwrap().unwrap();
    let mut reviewed: entity::attachment::ActiveModel = row.into();
    reviewed.review_status = Set(Some(entity::enums::ReviewStatus::NeedsRevision));
    reviewed.review_reason = Set(Some("营业执照四角不完整".into()));
    reviewed.update(&app.db).await.unwrap();
    let list = app.ok(&key, query, vars.clone()).await["filing"]["checklist"].clone();
    assert_eq!(list["items"][0]["state"], "NEEDS_REVISION");
    assert_eq!(list["items"][0]["reason"], "营业执照四角不完整");

    // A responsible person who is not the legal representative needs the authorisation letter.
    let mut subject = subject_input("北京示例科技有限公司");
    subject["responsiblePersonIsLegalRepresentative"] = json!(false);
    let update = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }";
    app.ok(&key, update, json!({ "input": { "filingId": filing["id"], "version": 1, "subject": subject } })).await;
    let list = app.ok(&key, query, vars.clone()).await["filing"]["checklist"].clone();
    assert!(list["items"].as_array().unwrap().iter().any(|i| i["kind"] == "LEGAL_REPRESENTATIVE_AUTHORISATION"));
}

#[tokio::test]
async fn a_tenant_may_keep_its_materials_in_a_bucket_and_prefix_of_its_own() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let before = upload(&app, &key, &filing, "COMMITMENT_LETTER", "承诺书.pdf", "application/pdf", pdf()).await;

    let bucket = format!("own-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    beian::services::tenants::set_tenant_storage(&app.deps, "xinnet", Some(bucket.clone()), Some("xn/".into()))
        .await
        .unwrap();
    let after = upload(&app, &key, &filing, "SECURITY_AGREEMENT", "协议.pdf", "application/pdf", pdf()).await;
    let object = object_key(&app, &after["id"]).await;
    assert_eq!(object.bucket, bucket);
    assert!(object.key.starts_with("xn/tenants/"), "{}", object.key);
    assert!(app.storage.head(&object).await.unwrap().is_some());
    let download = app.client.get(after["downloadUrl"]["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(download.bytes().await.unwrap().to_vec(), pdf());

    // Files stored before stay reachable where they are.
    let earlier = object_key(&app, &before["id"]).await;
    assert_ne!(earlier.bucket, bucket);
    assert!(app.storage.head(&earlier).await.unwrap().is_some());

    let error =
        beian::services::tenants::set_tenant_storage(&app.deps, "xinnet", Some("Bad_Bucket".into()), None).await;
    assert!(matches!(error, Err(beian::services::ServiceError::InvalidInput(_))));
}

/// The key the upload URL of an attachment writes to (recorded when the URL was issued).
pub async fn upload_key(app: &TestApp, id: &Value) -> beian::storage::ObjectRef {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let id = beian::graphql::ids::decode(id.as_str().unwrap(), beian::graphql::ids::Kind::Attachment, "id").unwrap();
    let row = entity::upload_url::Entity::find()
        .filter(entity::upload_url::Column::AttachmentId.eq(id))
        .one(&app.db)
        .await
        .unwrap()
        .expect("an upload URL was issued");
    app.storage.object(Some(&row.bucket), &row.object_key)
}

/// Writes bytes straight into the store, as a store that ignores the signed checksum would let a PUT do.
pub async fn overwrite(app: &TestApp, object: &beian::storage::ObjectRef, content_type: &str, bytes: &[u8]) {
    use std::io::Write;
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(bytes).unwrap();
    app.storage.put_file(object, content_type, &file).await.unwrap();
}

/// Lets every upload URL issued so far be two hours past its expiry, as if issued long ago.
pub async fn upload_urls_long_expired(app: &TestApp) {
    use sea_orm::EntityTrait;
    use sea_orm::prelude::Expr;
    entity::upload_url::Entity::update_many()
        .col_expr(entity::upload_url::Column::ExpiresAt, Expr::value(chrono::Utc::now() - chrono::Duration::hours(2)))
        .exec(&app.db)
        .await
        .unwrap();
}

/// GETs a URL and returns the body.
pub async fn download(app: &TestApp, url: &Value) -> Vec<u8> {
    let response = app.client.get(url.as_str().unwrap()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

/// Whether a presigned request carries the signed SHA-256 of `bytes` (base64, as `x-amz-checksum-sha256`).
pub fn signs_checksum_of(ticket: &Value, bytes: &[u8]) -> bool {
    use base64::Engine;
    let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes));
    ticket["headers"].as_array().unwrap().iter().any(|h| {
        h["name"].as_str().unwrap().eq_ignore_ascii_case("x-amz-checksum-sha256") && h["value"] == expected.as_str()
    })
}

#[tokio::test]
async fn a_checked_material_cannot_be_replaced_through_its_upload_url() {
    let crate::workflow::Cast { app, applicant, reviewer, .. } = crate::workflow::cast().await;
    let filing = app.create_filing(&applicant, "北京示例科技有限公司").await;
    let checked = png(4096);
    let mut other = png(4096);
    other[4000] = 0xEE;
    let ticket = app
        .ok(&applicant, REQUEST, upload_input(&filing, "ID_CARD_FRONT", "身份证正面.png", "image/png", &checked))
        .await["requestAttachmentUpload"]
        .clone();
    assert!(signs_checksum_of(&ticket, &checked), "the declared SHA-256 is signed into the PUT: {ticket}");
    assert_eq!(put(&app, &ticket, checked.clone()).await, 200);
    let done =
        app.ok(&applicant, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await["completeAttachmentUpload"]
            .clone();
    assert_eq!(done["sha256"], sha256(&checked));
    let upload = upload_key(&app, &done["id"]).await;
    let material = object_key(&app, &done["id"]).await;
    assert_ne!(material, upload, "the checked file lives under a key no URL was issued for");
    assert_eq!(app.storage.head(&upload).await.unwrap(), None, "the upload's own object is gone");

    // The same URL, another file of the same size and type. A store that verifies checksums (S3, and s3s-fs)
    // refuses it; moto takes it.
    let status = put(&app, &ticket, other.clone()).await;
    if store_checks_signatures() {
        assert_eq!(status, 400, "the signed checksum does not match the body");
    }
    // Whatever a store does with such a PUT (s3s-fs keeps the body although it answers 400), the material is not
    // where the URL writes: even bytes written straight to the upload key change nothing.
    overwrite(&app, &upload, "image/png", &other).await;

    let again = app.ok(&applicant, COMPLETE, json!({ "id": done["id"] })).await["completeAttachmentUpload"].clone();
    assert_eq!(again["sha256"], sha256(&checked), "completing again changes nothing");
    assert_eq!(sha256(&download(&app, &done["downloadUrl"]["url"]).await), sha256(&checked), "the applicant's link");
    let seen = "query($id: ID!) { filing(id: $id) { attachments { id sha256 downloadUrl { url } } } }";
    let attachments = app.ok(&reviewer, seen, json!({ "id": filing["id"] })).await["filing"]["attachments"].clone();
    assert_eq!(attachments.as_array().unwrap().len(), 1);
    let bytes = download(&app, &attachments[0]["downloadUrl"]["url"]).await;
    assert_eq!(sha256(&bytes), sha256(&checked), "the reviewer gets the checked file");
    assert_eq!(sha256(&bytes), attachments[0]["sha256"].as_str().unwrap(), "and it matches its sha256");

    // What the URL wrote after the check does not linger: once the URL has long expired, its key is emptied,
    // and the material stays.
    assert!(app.storage.head(&upload).await.unwrap().is_some());
    upload_urls_long_expired(&app).await;
    app.clean_up_uploads().await;
    assert_eq!(app.storage.head(&upload).await.unwrap(), None, "the upload key is emptied");
    assert!(app.storage.head(&material).await.unwrap().is_some(), "the material stays");
    let attachments = app.ok(&reviewer, seen, json!({ "id": filing["id"] })).await["filing"]["attachments"].clone();
    assert_eq!(sha256(&download(&app, &attachments[0]["downloadUrl"]["url"]).await), sha256(&checked));
}

#[tokio::test]
async fn an_upload_url_of_a_deleted_material_is_swept_too() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let bytes = pdf();
    let ticket = app
        .ok(&key, REQUEST, upload_input(&filing, "VERIFICATION_SHEET", "核验单.pdf", "application/pdf", &bytes))
        .await["requestAttachmentUpload"]
        .clone();
    assert_eq!(put(&app, &ticket, bytes.clone()).await, 200);
    let done =
        app.ok(&key, COMPLETE, json!({ "id": ticket["attachment"]["id"] })).await["completeAttachmentUpload"].clone();
    let upload = upload_key(&app, &done["id"]).await;
    let delete = "mutation($id: ID!) { deleteAttachment(id: $id) }";
    assert_eq!(app.ok(&key, delete, json!({ "id": done["id"] })).await["deleteAttachment"], true);
    // The URL is still valid after the row is gone: what it writes now has no attachment to be found through.
    assert_eq!(put(&app, &ticket, bytes).await, 200);
    assert!(app.storage.head(&upload).await.unwrap().is_some());
    upload_urls_long_expired(&app).await;
    app.clean_up_uploads().await;
    assert_eq!(app.storage.head(&upload).await.unwrap(), None);
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(entity::upload_url::Entity::find().count(&app.db).await.unwrap(), 0, "and forgotten");
}

#[tokio::test]
async fn materials_stored_under_their_upload_key_before_still_download() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let done = upload(&app, &key, &filing, "COMMITMENT_LETTER", "承诺书.pdf", "application/pdf", pdf()).await;
    // As stored before checked files got keys of their own: the material under its upload key, no URL recorded.
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let upload = upload_key(&app, &done["id"]).await;
    overwrite(&app, &upload, "application/pdf", &pdf()).await;
    app.storage.delete(&object_key(&app, &done["id"]).await).await.unwrap();
    let id =
        beian::graphql::ids::decode(done["id"].as_str().unwrap(), beian::graphql::ids::Kind::Attachment, "id").unwrap();
    let row = entity::attachment::Entity::find_by_id(id).one(&app.db).await.unwrap().unwrap();
    let mut legacy: entity::attachment::ActiveModel = row.into();
    legacy.object_key = Set(upload.key.clone());
    legacy.update(&app.db).await.unwrap();
    entity::upload_url::Entity::delete_many().exec(&app.db).await.unwrap();

    let node = "query($id: ID!) { node(id: $id) { ... on Attachment { downloadUrl { url } } } }";
    let url = app.ok(&key, node, json!({ "id": done["id"] })).await["node"]["downloadUrl"]["url"].clone();
    assert_eq!(download(&app, &url).await, pdf());
    app.clean_up_uploads().await;
    assert!(app.storage.head(&upload).await.unwrap().is_some(), "the clean-up leaves it alone");
}

#[tokio::test]
async fn concurrent_completions_of_one_upload_count_it_once() {
    let app = spawn_app().await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let bytes = png(1500);
    let ticket = app.ok(&key, REQUEST, upload_input(&filing, "ID_CARD_BACK", "back.png", "image/png", &bytes)).await
        ["requestAttachmentUpload"]
        .clone();
    assert_eq!(put(&app, &ticket, bytes.clone()).await, 200);
    let id = json!({ "id": ticket["attachment"]["id"] });
    let (a, b) = tokio::join!(app.ok(&key, COMPLETE, id.clone()), app.ok(&key, COMPLETE, id.clone()));
    assert_eq!(a["completeAttachmentUpload"]["status"], "UPLOADED");
    assert_eq!(b["completeAttachmentUpload"]["status"], "UPLOADED");
    let read = app.ok(&key, ATTACHMENTS, json!({ "id": filing["id"] })).await["filing"].clone();
    let uploaded = read["events"].as_array().unwrap().iter().filter(|e| e["action"] == "ATTACHMENT_UPLOADED").count();
    assert_eq!(uploaded, 1, "one completion counts");
    let url = &b["completeAttachmentUpload"]["downloadUrl"]["url"];
    assert_eq!(sha256(&download(&app, url).await), sha256(&bytes));
    assert!(app.storage.head(&object_key(&app, &ticket["attachment"]["id"]).await).await.unwrap().is_some());
}

/// The phone page uploads from the browser to a presigned URL on another origin: a bucket beian creates answers the
/// browser's CORS preflight for that `PUT` (under `BEIAN_TEST_S3_ENDPOINT`, an external store given beian's rule;
/// otherwise the embedded store, which answers by itself).
#[tokio::test]
async fn a_bucket_beian_creates_lets_browsers_upload_to_presigned_urls() {
    let app = spawn_app().await;
    let bucket = format!("cors-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    app.storage.ensure_bucket(&bucket).await.unwrap();
    let object = app.storage.object(Some(&bucket), "tenants/phone/id-front.png");
    let digest = hex::encode(Sha256::digest(b"photo"));
    let ticket = app.storage.presign_put(&object, "image/png", 5, &digest, std::time::Duration::from_secs(60)).await;
    let ticket = ticket.unwrap();
    let origin = "https://beian.registrar.example";
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, &ticket.url)
        .header("origin", origin)
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type,x-amz-checksum-sha256")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let header = |name: &str| {
        preflight.headers().get(name).map(|v| v.to_str().unwrap().to_ascii_lowercase()).unwrap_or_default()
    };
    let allowed_origin = header("access-control-allow-origin");
    assert!(allowed_origin == origin || allowed_origin == "*", "{allowed_origin:?}");
    assert!(header("access-control-allow-methods").contains("put"), "{:?}", preflight.headers());
    let allowed_headers = header("access-control-allow-headers");
    assert!(
        allowed_headers == "*" || ["content-type", "x-amz-checksum-sha256"].iter().all(|h| allowed_headers.contains(h)),
        "the signed headers may be sent: {:?}",
        preflight.headers()
    );

    // An external store may answer preflights of its own accord (moto does; S3 refuses a bucket without a rule):
    // the bucket itself must carry the rule.
    if let Some(endpoint) = std::env::var("BEIAN_TEST_S3_ENDPOINT").ok().filter(|e| !e.is_empty()) {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test"))
            .force_path_style(true)
            .build();
        let cors = aws_sdk_s3::Client::from_conf(config).get_bucket_cors().bucket(&bucket).send().await;
        let rules = cors.expect("the bucket has a CORS configuration").cors_rules().to_vec();
        assert!(
            rules.iter().any(|r| r.allowed_methods().iter().any(|m| m == "PUT")
                && r.allowed_origins().iter().any(|o| o == "*")
                && r.allowed_headers().iter().any(|h| h == "*")),
            "{rules:?}"
        );
    }
}
