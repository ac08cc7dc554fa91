//! Hostile clients at the transport (OWASP API4, unrestricted resource consumption): request bodies nobody may
//! send, request heads trickled byte by byte, WebSockets that never initialise or pile up subscriptions.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::attachments::pdf;
use crate::helpers::*;
use crate::workflow::{cast_on, next_message};

/// The server's address as host:port.
fn authority(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Starts a multipart upload, chunked (no length announced), with its operations and the first 64 KiB of a file,
/// then stops sending, as a slow client would; returns the server's answer, which must come without the rest.
async fn stalled_multipart(app: &TestApp, authorization: Option<&str>, content_type: &str) -> String {
    let mut socket = TcpStream::connect(authority(app)).await.unwrap();
    let auth = authorization.map(|a| format!("authorization: {a}\r\n")).unwrap_or_default();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: beian\r\n{auth}content-type: {content_type}; boundary=XyZ\r\n\
         transfer-encoding: chunked\r\n\r\n"
    );
    let operations = json!({
        "query": "mutation($input: UploadAttachmentInput!, $file: Upload!) { uploadAttachment(input: $input, file: $file) { id } }",
        "variables": { "input": { "filingId": "x", "kind": "FACE_VIDEO" }, "file": null },
    });
    let mut body = format!(
        "--XyZ\r\ncontent-disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n\
         --XyZ\r\ncontent-disposition: form-data; name=\"map\"\r\n\r\n{{\"0\": [\"variables.file\"]}}\r\n\
         --XyZ\r\ncontent-disposition: form-data; name=\"0\"; filename=\"face.mp4\"\r\ncontent-type: video/mp4\r\n\r\n"
    )
    .into_bytes();
    body.resize(body.len() + 64 * 1024, b'7');
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(format!("{:x}\r\n", body.len()).as_bytes()).await.unwrap();
    socket.write_all(&body).await.unwrap();
    socket.write_all(b"\r\n").await.unwrap();
    // The other 42 MB never come. The answer must not wait for them (the upload timeout is 15 minutes).
    let mut answer = Vec::new();
    let mut buf = vec![0; 8192];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf))
            .await
            .expect("answered before the body was sent");
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&answer);
        if text.contains("\r\n\r\n") && text.contains("\"errors\"") && text.trim_end().ends_with('}') {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn multipart_bodies_without_a_credential_that_may_upload_are_refused_unread() {
    let cast = cast_on(spawn_app().await).await;
    let (app, key) = (&cast.app, cast.backend.clone());
    for (authorization, content_type) in [
        (None, "multipart/form-data"),
        (None, "MULTIPART/Form-Data"),
        (Some("Bearer not-a-token"), "multipart/form-data"),
        (Some("Basic YWRtaW46YWRtaW4="), "multipart/form-data"),
    ] {
        let answer = stalled_multipart(app, authorization, content_type).await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{authorization:?} {content_type}: {answer}");
        assert!(answer.contains("\"UNAUTHENTICATED\""), "{answer}");
    }
    // A phone's mobile token is a credential, but no field it may use takes a file: refused unread too.
    let filing = app.create_filing(&cast.applicant, "北京示例科技有限公司").await;
    let start = "mutation($input: StartMobileVerificationInput!) { startMobileVerification(input: $input) { token } }";
    let started = app.ok(&cast.applicant, start, json!({ "input": { "filingId": filing["id"] } })).await;
    let mobile = started["startMobileVerification"]["token"].as_str().unwrap().to_owned();
    let answer = stalled_multipart(app, Some(&format!("Bearer {mobile}")), "multipart/form-data").await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("\"FORBIDDEN\""), "{answer}");

    // Those who may upload still do (the whole request, through reqwest).
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let operations = json!({
        "query": "mutation($input: UploadAttachmentInput!, $file: Upload!) { uploadAttachment(input: $input, file: $file) { status } }",
        "variables": { "input": { "filingId": filing["id"], "kind": "SUBJECT_CERTIFICATE" }, "file": null },
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(pdf()).file_name("licence.pdf").mime_str("application/pdf").unwrap(),
        );
    let response =
        app.client.post(format!("{}/graphql", app.address)).bearer_auth(&key).multipart(form).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["uploadAttachment"]["status"], "UPLOADED", "{body}");
    // And JSON requests without a token are read as before (sign-in needs them).
    let (status, body) = app.post(None, "{ apiVersion { schema } }", json!({})).await;
    assert_eq!(status, 200, "{body}");
}

/// Sends `bytes` one a second until the server answers or hangs up; returns how long that took, or None if the
/// connection was still open after `patience`.
async fn trickle(address: String, bytes: &'static [u8], patience: Duration) -> Option<Duration> {
    let started = std::time::Instant::now();
    let (mut reader, mut writer) = TcpStream::connect(address).await.unwrap().into_split();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut next = bytes.iter().cycle();
    let mut buf = [0; 1024];
    while started.elapsed() < patience {
        tokio::select! {
            // Any answer (a 408) or a hang-up ends the wait.
            _ = reader.read(&mut buf) => return Some(started.elapsed()),
            _ = tick.tick() => {
                if writer.write_all(&[*next.next().unwrap()]).await.is_err() {
                    return Some(started.elapsed());
                }
            }
        }
    }
    None
}

#[tokio::test]
async fn request_heads_trickled_byte_by_byte_do_not_hold_connections() {
    let app = spawn_app_with(TestDatabase::new().await, |c| c.http.header_read_timeout_seconds = 2).await;
    let key = app.tenant("xinnet").await;
    // Twenty HTTP/1.1 heads that never end (a header growing a byte a second), and two HTTP/2 prefaces sent as
    // slowly. The idle timeout (60 s) never fires for them: a byte moves every second.
    let patience = Duration::from_secs(20);
    let mut slow = Vec::new();
    for _ in 0..20 {
        slow.push(tokio::spawn(trickle(
            authority(&app),
            b"GET /healthz HTTP/1.1\r\nhost: beian\r\nx-slow: aaaaaaaa",
            patience,
        )));
    }
    for _ in 0..2 {
        slow.push(tokio::spawn(trickle(authority(&app), b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", patience)));
    }
    // Meanwhile the server serves everyone else.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let health = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    app.ok(&key, "{ filings { totalCount } }", json!({})).await;
    for (i, connection) in slow.into_iter().enumerate() {
        let closed = connection.await.unwrap();
        let closed = closed.unwrap_or_else(|| panic!("connection {i} was still open after {patience:?}"));
        assert!(closed >= Duration::from_millis(1500), "connection {i} closed before its time: {closed:?}");
    }
    // A request that takes its time between requests on a kept-alive connection is fine; one that arrives whole
    // in time is served on a fresh connection too.
    let health = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn open_socket(app: &TestApp, protocol: &str) -> Socket {
    let url = format!("{}/graphql/ws", app.address.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The close code the server ended the socket with (None: it hung up without one), within 10 s.
async fn closed_with(socket: &mut Socket) -> Option<u16> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("closed in time");
        match message {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code.into()),
            Some(Ok(Message::Text(text))) if text.contains("pong") => panic!("answered: {text}"),
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return None,
        }
    }
}

#[tokio::test]
async fn websockets_that_do_not_initialise_in_time_are_closed() {
    let app = spawn_app_with(TestDatabase::new().await, |c| c.graphql.subscription_init_timeout_seconds = 2).await;
    let key = app.tenant("xinnet").await;
    // Silent, or chatty without ever initialising, in both protocols: closed with graphql-ws' 4408.
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mut silent = open_socket(&app, protocol).await;
        assert_eq!(closed_with(&mut silent).await, Some(4408), "{protocol}");
    }
    let mut chatty = open_socket(&app, "graphql-transport-ws").await;
    for _ in 0..2 {
        chatty.send(Message::text(json!({ "type": "ping" }).to_string())).await.unwrap();
        let pong = tokio::time::timeout(Duration::from_secs(10), chatty.next()).await.unwrap().unwrap().unwrap();
        assert!(pong.to_text().unwrap().contains("pong"), "{pong:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(closed_with(&mut chatty).await, Some(4408));

    // One message may not be larger than a GraphQL request body (1 MiB): a 2 MiB ping is not answered.
    let mut large = open_socket(&app, "graphql-transport-ws").await;
    let ping = json!({ "type": "ping", "payload": { "pad": "x".repeat(2 * 1024 * 1024) } });
    let _ = large.send(Message::text(ping.to_string())).await;
    assert_ne!(closed_with(&mut large).await, Some(4408), "closed for its size, before the init deadline");

    // A connection that initialises in time stays open past the deadline.
    let mut socket = open_socket(&app, "graphql-transport-ws").await;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } });
    socket.send(Message::text(init.to_string())).await.unwrap();
    assert_eq!(next_message(&mut socket).await["type"], "connection_ack");
    tokio::time::sleep(Duration::from_secs(3)).await;
    socket.send(Message::text(json!({ "type": "ping" }).to_string())).await.unwrap();
    assert_eq!(next_message(&mut socket).await["type"], "pong");
}

#[tokio::test]
async fn one_websocket_holds_a_limited_number_of_subscriptions() {
    let app = spawn_app_with(TestDatabase::new().await, |c| c.graphql.max_subscriptions_per_connection = 3).await;
    let key = app.tenant("xinnet").await;
    let filing = app.create_filing(&key, "北京示例科技有限公司").await;
    let mut socket = open_socket(&app, "graphql-transport-ws").await;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } });
    socket.send(Message::text(init.to_string())).await.unwrap();
    assert_eq!(next_message(&mut socket).await["type"], "connection_ack");
    let query = "subscription($id: ID!) { filingUpdated(id: $id) { version } }";
    let subscribe = |id: &str| {
        let message = json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": { "id": filing["id"] } } });
        Message::text(message.to_string())
    };
    for id in ["1", "2", "3", "4"] {
        socket.send(subscribe(id)).await.unwrap();
    }
    // The fourth is refused with a stable code and completed; the first three stay open.
    let refused = next_message(&mut socket).await;
    assert_eq!((refused["id"].as_str(), refused["type"].as_str()), (Some("4"), Some("next")), "{refused}");
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{refused}");
    let completed = next_message(&mut socket).await;
    assert_eq!(completed, json!({ "id": "4", "type": "complete" }));

    // Once the client completes one, another may start, and the connection delivers as before.
    socket.send(Message::text(json!({ "id": "1", "type": "complete" }).to_string())).await.unwrap();
    assert_eq!(next_message(&mut socket).await, json!({ "id": "1", "type": "complete" }));
    socket.send(subscribe("5")).await.unwrap();
    // Announcements of the filing's creation may still be on their way to 2 and 3 (the SQLite server reads new
    // events every 200 ms): read them off, which also gives the server time to start 5.
    crate::workflow::drain(&mut socket).await;
    let update = "mutation($input: UpdateFilingSubjectInput!) { updateFilingSubject(input: $input) { version } }";
    // A real change: a save that changes nothing records no event, and nothing is announced.
    let mut subject = subject_input("北京示例科技有限公司");
    subject["mailingAddress"] = json!("北京市朝阳区示例路2号");
    let input = json!({ "filingId": filing["id"], "version": filing["version"], "subject": subject });
    app.ok(&key, update, json!({ "input": input })).await;
    let mut heard = std::collections::BTreeSet::new();
    while heard.len() < 3 {
        let message = next_message(&mut socket).await;
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"]["data"]["filingUpdated"]["version"].is_i64(), "{message}");
        let id = message["id"].as_str().unwrap().to_owned();
        assert!(["2", "3", "5"].contains(&id.as_str()), "only the open subscriptions hear it: {message}");
        heard.insert(id);
    }
}
