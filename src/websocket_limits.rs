//! Limits on graphql-ws connections that async-graphql 7.2 and async-graphql-poem 7.2 lack: a connection must
//! send `connection_init` within a deadline (else it is closed with graphql-ws' 4408), and holds at most so many
//! subscriptions at once (more are refused with `RATE_LIMITED`, and the connection stays usable). Both wrap the
//! library's pieces (the socket it reads, the executor it runs operations on) and leave its protocol handling alone.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use async_graphql::{Data, ErrorExtensionValues, Executor, Request, Response, ServerError};
use futures_util::stream::BoxStream;
use futures_util::{Sink, Stream, StreamExt};
use poem::web::websocket::Message;

use crate::graphql::error::code;

/// graphql-ws' close code for a connection that did not initialise in time.
pub const INIT_TIMEOUT_CLOSE_CODE: u16 = 4408;

/// A WebSocket that closes itself with [`INIT_TIMEOUT_CLOSE_CODE`] unless `connection_init` arrives within the
/// deadline. It is read and written as the socket it wraps.
pub struct InitDeadline<S> {
    inner: S,
    /// Until `connection_init` arrives.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    closing: Closing,
}

enum Closing {
    No,
    Send,
    Flush,
    Done,
}

impl<S> InitDeadline<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self { inner, deadline: Some(Box::pin(tokio::time::sleep(timeout))), closing: Closing::No }
    }
}

impl<S> InitDeadline<S>
where
    S: Sink<Message> + Unpin,
{
    /// Sends the close frame; then the stream ends, which ends the library's connection.
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<std::io::Result<Message>>> {
        loop {
            match self.closing {
                Closing::No | Closing::Done => {
                    self.closing = Closing::Done;
                    return Poll::Ready(None);
                }
                Closing::Send => {
                    if ready!(Pin::new(&mut self.inner).poll_ready(cx)).is_err() {
                        self.closing = Closing::Done;
                        continue;
                    }
                    let close = Message::close_with(INIT_TIMEOUT_CLOSE_CODE, "Connection initialisation timeout");
                    self.closing = match Pin::new(&mut self.inner).start_send(close) {
                        Ok(()) => Closing::Flush,
                        Err(_) => Closing::Done,
                    };
                }
                Closing::Flush => {
                    let _ = ready!(Pin::new(&mut self.inner).poll_flush(cx));
                    self.closing = Closing::Done;
                }
            }
        }
    }
}

impl<S> Stream for InitDeadline<S>
where
    S: Stream<Item = std::io::Result<Message>> + Sink<Message> + Unpin,
{
    type Item = std::io::Result<Message>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if !matches!(this.closing, Closing::No) {
            return this.poll_close(cx);
        }
        if let Some(deadline) = &mut this.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            tracing::debug!("closing a WebSocket that sent no connection_init in time");
            this.deadline = None;
            this.closing = Closing::Send;
            return this.poll_close(cx);
        }
        let polled = Pin::new(&mut this.inner).poll_next(cx);
        if this.deadline.is_some()
            && let Poll::Ready(Some(Ok(message))) = &polled
            && is_connection_init(message)
        {
            this.deadline = None;
        }
        polled
    }
}

impl<S> Sink<Message> for InitDeadline<S>
where
    S: Sink<Message> + Unpin,
{
    type Error = S::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        Pin::new(&mut self.inner).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

fn is_connection_init(message: &Message) -> bool {
    #[derive(serde::Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
    }
    let bytes = match message {
        Message::Text(text) => text.as_bytes(),
        Message::Binary(bytes) => bytes.as_slice(),
        _ => return false,
    };
    serde_json::from_slice::<Kind>(bytes).is_ok_and(|k| k.kind == "connection_init")
}

/// An executor that runs at most `limit` operations of one connection at once (subscriptions, and the queries a
/// client may send over the socket too); one more is answered with a `RATE_LIMITED` error and completed, and the
/// connection goes on.
#[derive(Clone)]
pub struct LimitedSubscriptions<E> {
    executor: E,
    open: Arc<AtomicUsize>,
    limit: usize,
}

impl<E> LimitedSubscriptions<E> {
    /// Limits for one connection: make one per connection.
    pub fn new(executor: E, limit: usize) -> Self {
        Self { executor, open: Arc::default(), limit }
    }
}

/// One open operation of a connection, given back when its stream is dropped (completed by the server, stopped by
/// the client, or the connection ended).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<E: Executor> Executor for LimitedSubscriptions<E> {
    fn execute(&self, request: Request) -> impl Future<Output = Response> + Send {
        self.executor.execute(request)
    }

    fn execute_stream(&self, request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let slot = Slot(self.open.clone());
        if self.open.fetch_add(1, Ordering::SeqCst) >= self.limit {
            drop(slot);
            let message = crate::language::pick(
                format!(
                    "this connection already has {} subscriptions open: complete one before starting another",
                    self.limit
                ),
                format!("该连接已有 {} 个订阅：请先结束一个再开始新的订阅", self.limit),
            );
            let mut error = ServerError::new(message, None);
            let mut extensions = ErrorExtensionValues::default();
            extensions.set("code", code::RATE_LIMITED);
            extensions.set("limit", self.limit as u64);
            error.extensions = Some(extensions);
            return futures_util::stream::once(async move { Response::from_errors(vec![error]) }).boxed();
        }
        self.executor
            .execute_stream(request, session_data)
            .map(move |response| {
                let _open = &slot;
                response
            })
            .boxed()
    }
}
