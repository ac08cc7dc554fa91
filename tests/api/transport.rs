//! Hostile clients at the transport (OWASP API4, unrestricted resource consumption): request heads trickled byte
//! by byte.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// The server's address as host:port.
fn authority(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
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
