//! The HTTP server: accepts TCP connections and serves the routes on each over hyper (HTTP/1.1 with upgrades for
//! the WebSockets, and HTTP/2), with the limits on slow and silent clients that poem's own `Server` lacks.
//!
//! poem 3.1's `Server` builds hyper's connections without a timer, so hyper's HTTP/1 header-read timeout never
//! runs; its idle timeout is reset by every byte, and when it fires it only asks the connection to finish, which a
//! connection still reading its first request head never does. A client trickling one header byte at a time held
//! a connection for ever. Here each connection is watched for:
//! - the request head: hyper's HTTP/1 header-read timeout (it has a timer here) closes a connection whose request
//!   head has not arrived whole in time;
//! - a request at all: a connection with no request in hand (one still choosing its protocol, an HTTP/2 connection
//!   without streams, a kept-alive HTTP/1 connection) is asked to finish after the same time;
//! - bytes moving: none in either direction for the idle timeout asks the connection to finish.
//!
//! A connection asked to finish answers what it has in hand; if it then holds on for another such period without
//! a request in hand, or without a byte moving, it is cut. On shutdown the listener closes, every connection is
//! asked to finish, and those still open after the grace period are cut.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long connections are waited for.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// No byte moving in either direction for this long: the connection is asked to finish.
    pub idle: Duration,
    /// A request head must arrive whole within this long; a connection with no request in hand for this long is
    /// asked to finish.
    pub header_read: Duration,
    /// After shutdown begins, the longest wait for open connections to finish.
    pub grace: Duration,
}

/// Serves `endpoint` on `listener` until `shutdown` completes; then stops accepting, lets the open connections
/// finish what they have in hand for at most `timeouts.grace`, and cuts the rest.
pub async fn serve<E>(
    listener: TcpListener,
    endpoint: E,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    E: Endpoint + 'static,
{
    let local = listener.local_addr()?;
    let endpoint = Arc::new(endpoint);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(timeouts.header_read);
    // poem's HTTP/2 settings, except the stream limit: hyper's default (200) instead of none.
    builder.http2().timer(TokioTimer::new()).max_header_list_size(16 * 1024).max_pending_accept_reset_streams(20);
    let builder = Arc::new(builder);
    let connections = TaskTracker::new();
    // Asks every connection to finish; then cuts those still open.
    let (finish, cut) = (CancellationToken::new(), CancellationToken::new());
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((socket, peer)) => {
                let connection = Connection {
                    local,
                    peer,
                    timeouts,
                    finish: finish.clone(),
                    cut: cut.clone(),
                    watch: Arc::new(Watch::new()),
                };
                connections.spawn(connection.serve(socket, endpoint.clone(), builder.clone()));
            }
            // The peer gave up before it was accepted: nothing to do.
            Err(error) if is_connection_error(&error) => {}
            // Out of file descriptors or memory: accepting again at once would spin.
            Err(error) => {
                tracing::error!(%error, "accepting a connection failed; pausing for a second");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    drop(listener);
    finish.cancel();
    connections.close();
    if tokio::time::timeout(timeouts.grace, connections.wait()).await.is_err() {
        tracing::warn!(open = connections.len(), "connections still open after the grace period are cut");
        cut.cancel();
        connections.wait().await;
    }
    Ok(())
}

fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted)
}

/// One accepted connection and what ends it.
struct Connection {
    local: SocketAddr,
    peer: SocketAddr,
    timeouts: Timeouts,
    /// The server is shutting down: finish what is in hand.
    finish: CancellationToken,
    /// The grace period is over.
    cut: CancellationToken,
    watch: Arc<Watch>,
}

impl Connection {
    async fn serve<E: Endpoint + 'static>(
        self,
        socket: TcpStream,
        endpoint: Arc<E>,
        builder: Arc<auto::Builder<TokioExecutor>>,
    ) {
        let (local, peer, watch) = (self.local, self.peer, self.watch.clone());
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let endpoint = endpoint.clone();
            let in_hand = InHand::new(&watch);
            async move {
                let request = poem::Request::from((
                    request,
                    LocalAddr(Addr::SocketAddr(local)),
                    RemoteAddr(Addr::SocketAddr(peer)),
                    Scheme::HTTP,
                ));
                let response: hyper::Response<_> = endpoint.get_response(request).await.into();
                // The request stays in hand until its answer is sent.
                Ok::<_, Infallible>(response.map(|body| Answering { body, _in_hand: in_hand }))
            }
        });
        let io = TokioIo::new(Watched { inner: socket, watch: self.watch.clone() });
        let connection = builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(connection);
        let expired = tokio::select! {
            _ = connection.as_mut() => return,
            () = self.finish.cancelled() => None,
            expired = self.watch.expired(Instant::now(), &self.timeouts) => Some(expired),
        };
        if let Some(expired) = expired {
            tracing::debug!(peer = %self.peer, reason = expired.reason(), "closing the connection");
        }
        connection.as_mut().graceful_shutdown();
        let since = Instant::now();
        tokio::select! {
            _ = connection.as_mut() => {}
            () = self.cut.cancelled() => {}
            expired = self.watch.expired(since, &self.timeouts) => {
                tracing::debug!(peer = %self.peer, reason = expired.reason(), "cutting the connection");
            }
        }
    }
}

/// What a connection has been doing, updated as it reads, writes and answers.
struct Watch {
    opened: Instant,
    /// Milliseconds from `opened` to the last byte read or written.
    last_byte: AtomicU64,
    /// Requests being handled or answered.
    in_hand: AtomicUsize,
    /// Milliseconds from `opened` to the last request that began or ended.
    last_request: AtomicU64,
}

/// Why a connection is closed.
enum Expired {
    Idle,
    NoRequest,
}

impl Expired {
    fn reason(&self) -> &'static str {
        match self {
            Expired::Idle => "no byte moved within the idle timeout",
            Expired::NoRequest => "no request within the header-read timeout",
        }
    }
}

impl Watch {
    fn new() -> Self {
        Self { opened: Instant::now(), last_byte: 0.into(), in_hand: 0.into(), last_request: 0.into() }
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.opened).as_millis()).unwrap_or(u64::MAX)
    }

    fn byte_moved(&self) {
        self.last_byte.store(self.millis(Instant::now()), Ordering::Relaxed);
    }

    /// Completes when, since `since`, no byte has moved for `idle`, or no request has been in hand for
    /// `header_read`.
    async fn expired(&self, since: Instant, timeouts: &Timeouts) -> Expired {
        let since = self.millis(since);
        let idle = u64::try_from(timeouts.idle.as_millis()).unwrap_or(u64::MAX);
        let waiting = u64::try_from(timeouts.header_read.as_millis()).unwrap_or(u64::MAX);
        loop {
            let now = self.millis(Instant::now());
            let idle_until = self.last_byte.load(Ordering::Relaxed).max(since).saturating_add(idle);
            if now >= idle_until {
                return Expired::Idle;
            }
            // A request that ends changes nothing here: look again within `waiting` while one is in hand.
            let waiting_until = match self.in_hand.load(Ordering::SeqCst) {
                0 => self.last_request.load(Ordering::SeqCst).max(since).saturating_add(waiting),
                _ => now.saturating_add(waiting),
            };
            if now >= waiting_until && self.in_hand.load(Ordering::SeqCst) == 0 {
                return Expired::NoRequest;
            }
            let next = idle_until.min(waiting_until);
            tokio::time::sleep_until(self.opened + Duration::from_millis(next)).await;
        }
    }
}

/// A request in hand, from its head to the end of its answer.
struct InHand(Arc<Watch>);

impl InHand {
    fn new(watch: &Arc<Watch>) -> Self {
        watch.last_request.store(watch.millis(Instant::now()), Ordering::SeqCst);
        watch.in_hand.fetch_add(1, Ordering::SeqCst);
        Self(watch.clone())
    }
}

impl Drop for InHand {
    fn drop(&mut self) {
        // The time first: whoever sees no request in hand sees when the last one ended.
        self.0.last_request.store(self.0.millis(Instant::now()), Ordering::SeqCst);
        self.0.in_hand.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its request in hand until it is sent (or dropped).
struct Answering<B> {
    body: B,
    _in_hand: InHand,
}

impl<B: Body + Unpin> Body for Answering<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The connection's socket, noting every byte that moves.
struct Watched {
    inner: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.byte_moved();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.byte_moved();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.byte_moved();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
