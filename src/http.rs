//! HTTP routes: GraphQL, GraphiQL and the files of beian's pages, health and readiness.

use crate::language::{self, Lang, Text, pick};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::ParseRequestError;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::http::MultipartOptions;
use async_graphql_poem::{GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use poem::http::{HeaderMap, StatusCode, header};
use poem::web::websocket::{Message, WebSocket, WebSocketConfig, WebSocketStream};
use poem::web::{Data, Json, RemoteAddr};
use poem::{Body, EndpointExt, IntoResponse, Response, Route, get, handler};
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio_util::compat::TokioAsyncReadCompatExt;

use crate::config::Config;
use crate::graphql::context::RequestContext;
use crate::graphql::error::code;
use crate::graphql::{BeianSchema, loaders};
use crate::metrics::{Counted, Metrics};
use crate::services::Deps;
use crate::services::credentials::{self, ConnectionCredential};
use crate::services::{ServiceError, tenants};
use crate::websocket_limits::{InitDeadline, LimitedSubscriptions};

/// Largest GraphQL request body without files (queries and variables).
pub const MAX_GRAPHQL_BODY: usize = 1024 * 1024;

/// Most files one multipart request may carry.
pub const MAX_FILES_PER_REQUEST: usize = 2;

#[derive(Clone)]
struct State {
    schema: BeianSchema,
    /// The services' dependencies: credentials are checked with them.
    deps: Deps,
    graphiql: bool,
    proxy_hops: usize,
    /// Largest file a multipart request may carry: the largest material.
    max_file_size: usize,
    metrics: Metrics,
    /// Set when the process is shutting down: `/readyz` then answers 503.
    draining: Arc<AtomicBool>,
    /// The object store as this process sees it (`/readyz` detail, `/metrics`).
    storage: Arc<crate::storage::StorageHealth>,
    json_body_timeout: std::time::Duration,
    upload_body_timeout: std::time::Duration,
    /// graphql-ws: the longest wait for `connection_init`, and the most operations one connection runs at once.
    ws_init_timeout: std::time::Duration,
    ws_max_subscriptions: usize,
}

/// All routes of the server. `server_metrics` are the server's (its mail dispatchers count into it too).
pub fn routes(
    schema: BeianSchema,
    deps: Deps,
    config: &Config,
    draining: Arc<AtomicBool>,
    storage_health: Arc<crate::storage::StorageHealth>,
    server_metrics: Metrics,
) -> impl poem::Endpoint + use<> {
    let graphiql = config.graphql.graphiql;
    let proxy_hops = config.trusted_proxy_hops;
    let storage = &config.storage;
    let max_file_size = storage.max_image_bytes.max(storage.max_document_bytes).max(storage.max_video_bytes) as usize;
    let seconds = std::time::Duration::from_secs;
    let hsts = config.http.hsts_max_age_seconds;
    let routes = Route::new()
        .at("/graphql", get(graphiql_page).post(graphql))
        .at("/graphql/ws", get(graphql_ws))
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(metrics))
        .at("/mobile", get(mobile_page))
        .nest("/static", crate::web::files())
        .data(State {
            schema,
            deps,
            graphiql,
            proxy_hops,
            max_file_size,
            metrics: server_metrics,
            draining,
            storage: storage_health,
            json_body_timeout: seconds(config.http.json_body_timeout_seconds.max(1)),
            upload_body_timeout: seconds(config.http.upload_body_timeout_seconds.max(1)),
            ws_init_timeout: seconds(config.graphql.subscription_init_timeout_seconds.max(1)),
            ws_max_subscriptions: config.graphql.max_subscriptions_per_connection,
        })
        .around(move |endpoint, request| security_headers(endpoint, request, hsts));
    // Without configured origins no CORS headers are sent at all, so browsers keep other origins out. (poem's Cors
    // with an empty list would allow every origin.)
    let routes = if config.http.cors_allowed_origins.is_empty() {
        routes.boxed()
    } else {
        let cors = poem::middleware::Cors::new()
            .allow_origins(config.http.cors_allowed_origins.iter().map(String::as_str))
            .allow_methods([poem::http::Method::GET, poem::http::Method::POST])
            .allow_headers(["authorization", "content-type", "accept-language"])
            .max_age(600);
        routes.with(cors).boxed()
    };
    // A panic anywhere in a handler becomes a 500 (and the process goes on), never a dropped connection.
    routes.with(poem::middleware::CatchPanic::new()).around(crate::telemetry::log_request)
}

/// Security headers on every response (unless the handler set its own): nothing is sniffed, framed, cached or
/// referred; the API's responses load nothing; HTTPS is remembered.
async fn security_headers<E: poem::Endpoint>(
    endpoint: Arc<E>,
    request: poem::Request,
    hsts: u64,
) -> poem::Result<Response> {
    // Errors (404, 405, ...) become responses here so that they carry the headers too.
    let mut response = match endpoint.call(request).await {
        Ok(response) => response.into_response(),
        Err(error) => error.into_response(),
    };
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if !headers.contains_key(name)
            && let Ok(value) = poem::http::HeaderValue::from_str(&value)
        {
            headers.insert(name, value);
        }
    };
    set("x-content-type-options", "nosniff".into());
    set("x-frame-options", "DENY".into());
    set("referrer-policy", "no-referrer".into());
    set("content-security-policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'".into());
    set("cache-control", "no-store".into());
    set("cross-origin-resource-policy", "same-origin".into());
    if hsts > 0 {
        set("strict-transport-security", format!("max-age={hsts}; includeSubDomains"));
    }
    Ok(response)
}

#[handler]
async fn graphql(state: Data<&State>, headers: &HeaderMap, remote: &RemoteAddr, body: Body) -> Response {
    let started = std::time::Instant::now();
    // Messages in the language the client asks for (Chinese unless it asks for English).
    let lang = Lang::from_accept_language(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()));
    let (counted, mut response) = language::scope(lang, execute(&state, headers, remote, body)).await;
    state.metrics.observe(&counted, response.status().as_u16(), started.elapsed().as_secs_f64());
    response.headers_mut().insert(header::CONTENT_LANGUAGE, header::HeaderValue::from_static(lang.tag()));
    response.headers_mut().append(header::VARY, header::HeaderValue::from_static("accept-language"));
    response
}

/// Prometheus metrics (text exposition format).
#[handler]
async fn metrics(state: Data<&State>) -> Response {
    match state.metrics.render(&state.deps.db, &state.storage).await {
        Ok(text) => {
            Response::builder().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(text)
        }
        Err(error) => {
            tracing::error!(error = ?error, "rendering metrics failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Runs one GraphQL request; returns what it counts as (for metrics) and the response.
async fn execute(state: &State, headers: &HeaderMap, remote: &RemoteAddr, body: Body) -> (Counted, Response) {
    // The caller is known from the headers before a byte of the body is read: a multipart body (spooled to disk
    // as it arrives) is refused unread unless the caller may send files, and a credential that does not
    // authenticate is refused unread too.
    let caller = match bearer_token(headers) {
        None => Ok(None),
        Some(token) => authenticate(state, token).await.map(Some),
    };
    if let Some(refused) = refuse_files(headers, &caller) {
        return (Counted::Unauthenticated, refused);
    }
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return (Counted::Unauthenticated, authentication_failed(error)),
    };
    let counted = |operation: Option<String>| match caller {
        Some(_) => Counted::Operation(operation),
        None => Counted::Unauthenticated,
    };
    let request = match parse_request(state, headers, body).await {
        Ok(request) => request,
        Err(response) => return (counted(None), response),
    };
    if let Err(message) = check_file_markers(&request) {
        let response = error_response(StatusCode::BAD_REQUEST, message.current(), code::BAD_USER_INPUT).into_response();
        return (counted(None), response);
    }
    let operation = request.operation_name.clone().or_else(|| crate::metrics::operation_name(&request.query));
    if let Some(operation) = &operation {
        tracing::Span::current().record("operation", operation.as_str());
    }
    let counted = counted(operation);
    let mut request = request;
    let (actor, mobile) = match caller {
        Some(Caller::Actor(actor)) => (Some(actor), None),
        Some(Caller::Mobile(mobile)) => (None, Some(mobile)),
        None => (None, None),
    };
    if let Some(actor) = &actor {
        request = request.data(loaders::for_request(&state.deps, actor));
    }
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let client_ip = client_address(remote.as_socket_addr().map(|addr| addr.ip()), forwarded, state.proxy_hops);
    // From here on the database shows only the caller's registrar (PostgreSQL row-level security, `beian::db`);
    // without a caller the anonymous steps (sign-in, sign-up, reference data) act as the server.
    let tenant = actor.as_ref().map(|a| a.tenant_id).or(mobile.as_ref().map(|m| m.tenant_id));
    request = request.data(RequestContext { actor, mobile, client_ip });
    let mut response = match tenant {
        Some(tenant) => crate::db::as_tenant(tenant, state.schema.execute(request)).await,
        None => state.schema.execute(request).await,
    };
    // Parse and validation errors (a malformed query, a value of the wrong type, a limit) come from the GraphQL
    // engine without a code: they are the caller's input.
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", code::BAD_USER_INPUT);
        }
    }
    (counted, GraphQLResponse::from(response).into_response())
}

/// The answer to a token that does not authenticate: 401 (or, when the check itself failed, 503 with Retry-After
/// while the database is busy, 500 otherwise).
fn authentication_failed(error: ServiceError) -> Response {
    match error {
        ServiceError::Unauthenticated(message) => unauthenticated(message.current()),
        other => check_failed(other),
    }
}

/// The credential could not be checked: a busy database is worth a retry (503, `DATABASE_BUSY`), anything else is
/// a bug (500).
fn check_failed(error: ServiceError) -> Response {
    if let ServiceError::DatabaseBusy = error {
        tracing::warn!("the database was busy while a credential was checked: answered 503");
        let retry = crate::graphql::error::DATABASE_BUSY_RETRY_AFTER_SECONDS;
        return error_response(StatusCode::SERVICE_UNAVAILABLE, &error.message(), code::DATABASE_BUSY)
            .with_header(header::RETRY_AFTER, retry.to_string())
            .into_response();
    }
    tracing::error!(error = ?error, "authentication failed");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, pick("internal error", "服务器内部错误"), code::INTERNAL)
        .into_response()
}

fn unauthenticated(message: &str) -> Response {
    error_response(StatusCode::UNAUTHORIZED, message, code::UNAUTHENTICATED)
        .with_header(header::WWW_AUTHENTICATE, "Bearer")
        .into_response()
}

/// Files come in multipart requests, and only a signed-in person or an API key may send one: every field that takes
/// a file (`uploadAttachment`) needs such a caller, and a phone uploads through presigned URLs. Anyone else's
/// multipart request is refused (the answer returned here) before its body is read.
fn refuse_files(headers: &HeaderMap, caller: &Result<Option<Caller>, ServiceError>) -> Option<Response> {
    if !is_multipart(headers) {
        return None;
    }
    match caller {
        Ok(Some(Caller::Actor(_))) => None,
        Ok(None) => Some(unauthenticated(pick(
            "sign in, or send an API key, to upload files: `Authorization: Bearer <token>`",
            "请登录或发送 API 密钥后再上传文件：`Authorization: Bearer <token>`",
        ))),
        Ok(Some(Caller::Mobile(_))) => {
            let message = pick(
                "a mobile token uploads through `requestMobileUpload`, not in a multipart request",
                "手机令牌通过 `requestMobileUpload` 上传文件，不能使用 multipart 请求",
            );
            Some(error_response(StatusCode::FORBIDDEN, message, code::FORBIDDEN).into_response())
        }
        Err(ServiceError::Unauthenticated(message)) => Some(unauthenticated(message.current())),
        Err(ServiceError::DatabaseBusy) => Some(check_failed(ServiceError::DatabaseBusy)),
        Err(other) => {
            tracing::error!(error = ?other, "authentication failed");
            let message = pick("internal error", "服务器内部错误");
            Some(error_response(StatusCode::INTERNAL_SERVER_ERROR, message, code::INTERNAL).into_response())
        }
    }
}

/// Whether the body is read as multipart: as async-graphql decides (a `multipart/*` media type, in any case).
fn is_multipart(headers: &HeaderMap) -> bool {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    content_type.trim_start().get(..10).is_some_and(|t| t.eq_ignore_ascii_case("multipart/"))
}

/// The marker async-graphql reads as "the n-th file of this multipart request".
const FILE_MARKER: &str = "#__graphql_file__:";

/// A file marker must name a file the request carries, and only in variables (where the multipart mapping puts
/// it). async-graphql 7.2 turns any string value with the marker into a file index without checking it: a
/// malformed or dangling one panicked while the arguments were read, before any sign-in check.
fn check_file_markers(request: &async_graphql::Request) -> Result<(), Text> {
    fn walk(value: &async_graphql::Value, files: usize) -> Result<(), Text> {
        match value {
            async_graphql::Value::String(s) => match s.strip_prefix(FILE_MARKER) {
                None => Ok(()),
                Some(index) => match index.parse::<usize>() {
                    Ok(i) if i < files => Ok(()),
                    _ => Err(Text::new(
                        "a file reference names no file of this request",
                        "文件引用没有对应本请求中的文件",
                    )),
                },
            },
            async_graphql::Value::List(items) => items.iter().try_for_each(|v| walk(v, files)),
            async_graphql::Value::Object(fields) => fields.values().try_for_each(|v| walk(v, files)),
            _ => Ok(()),
        }
    }
    if request.query.contains(FILE_MARKER) {
        return Err(Text::new(
            "files are sent as multipart request fields, not written into the query",
            "文件须作为 multipart 请求的字段发送，不能写在查询中",
        ));
    }
    request.variables.iter().try_for_each(|(_, v)| walk(v, request.uploads.len()))
}

/// Reads a GraphQL request: JSON up to [`MAX_GRAPHQL_BODY`], or a multipart request (files streamed to temporary
/// files, never held in memory) whose files may not exceed the largest material. Too large is a 413.
async fn parse_request(state: &State, headers: &HeaderMap, body: Body) -> Result<async_graphql::Request, Response> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let multipart = is_multipart(headers);
    let limit = if multipart {
        state.max_file_size.saturating_mul(MAX_FILES_PER_REQUEST).saturating_add(MAX_GRAPHQL_BODY)
    } else {
        MAX_GRAPHQL_BODY
    };
    let too_large = || {
        let message = pick("the request is too large", "请求过大");
        error_response(StatusCode::PAYLOAD_TOO_LARGE, message, code::PAYLOAD_TOO_LARGE).into_response()
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let options = MultipartOptions::default().max_file_size(state.max_file_size).max_num_files(MAX_FILES_PER_REQUEST);
    let reader = body.into_async_read().take(limit as u64 + 1).compat();
    // A client that sends its body slowly (or stops) is not waited for forever.
    let deadline = if multipart { state.upload_body_timeout } else { state.json_body_timeout };
    let received = tokio::time::timeout(deadline, async_graphql::http::receive_body(content_type, reader, options));
    let Ok(received) = received.await else {
        let message = pick("the request body did not arrive in time", "请求内容未能按时送达");
        return Err(error_response(StatusCode::REQUEST_TIMEOUT, message, code::BAD_USER_INPUT).into_response());
    };
    match received {
        Ok(request) => Ok(request),
        Err(ParseRequestError::PayloadTooLarge) => Err(too_large()),
        Err(error) => {
            let message = pick(format!("the request could not be read: {error}"), format!("无法读取请求：{error}"));
            Err(error_response(StatusCode::BAD_REQUEST, &message, code::BAD_USER_INPUT).into_response())
        }
    }
}

/// Who a bearer token speaks for: a person or backend, or the phone of a mobile hand-off.
enum Caller {
    Actor(crate::auth::Actor),
    Mobile(crate::services::mobile::MobileCaller),
}

/// Mobile tokens and API keys are recognised by their prefixes; anything else must be an access token.
async fn authenticate(state: &State, token: &str) -> Result<Caller, ServiceError> {
    if token.starts_with(crate::services::mobile::TOKEN_PREFIX) {
        let mobile = crate::services::mobile::authenticate(&state.deps, token).await?;
        if !tenants::tenant_is_active(&state.deps.db, mobile.tenant_id).await? {
            return Err(ServiceError::Unauthenticated(Text::new("this registrar is suspended", "该接入商已被暂停")));
        }
        Ok(Caller::Mobile(mobile))
    } else {
        credentials::authenticate_actor(&state.deps, token).await.map(Caller::Actor)
    }
}

/// The client's address: the TCP peer, or, behind `hops` trusted proxies, the address the outermost of them saw.
/// Entries a client wrote into X-Forwarded-For itself stand further left and are never believed.
pub fn client_address(peer: Option<IpAddr>, forwarded_for: Option<&str>, hops: usize) -> Option<IpAddr> {
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = forwarded_for.map(|v| v.split(',').map(str::trim).collect()).unwrap_or_default();
    entries.len().checked_sub(hops).and_then(|i| entries[i].parse().ok()).or(peer)
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

fn error_response(status: StatusCode, message: &str, code: &str) -> poem::web::WithStatus<Json<serde_json::Value>> {
    Json(json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })).with_status(status)
}

#[handler]
async fn graphiql_page(state: Data<&State>) -> Response {
    if !state.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    crate::web::page("graphiql/index.html", crate::web::GRAPHIQL_CSP)
}

/// The phone page a hand-off's QR code opens (`mobile.public_base_url`): it reads the token from the URL's fragment
/// and talks to the public GraphQL API with it, uploading straight to the object store.
#[handler]
async fn mobile_page(state: Data<&State>) -> Response {
    let mut page = crate::web::page("mobile/index.html", &crate::web::mobile_csp(state.deps.storage.upload_origins()));
    page.headers_mut().insert(
        "permissions-policy",
        poem::http::HeaderValue::from_static("camera=(self), microphone=(self), geolocation=(), payment=()"),
    );
    page
}

/// graphql-ws (and the older subscriptions-transport-ws): the caller authenticates in the connection_init payload
/// with `{"Authorization": "Bearer <token>"}`; a connection without valid credentials is refused.
#[handler]
async fn graphql_ws(
    state: Data<&State>,
    headers: &HeaderMap,
    protocol: GraphQLProtocol,
    websocket: WebSocket,
) -> impl IntoResponse {
    // The connection's messages (errors, the close reason) in the language the upgrade request asked for.
    let lang = Lang::from_accept_language(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()));
    // The libraries lack these limits; `websocket_limits` adds them around their pieces.
    let schema = LimitedSubscriptions::new(state.schema.clone(), state.ws_max_subscriptions);
    let init_timeout = state.ws_init_timeout;
    let inner = (*state).clone();
    let messages =
        WebSocketConfig::default().max_message_size(Some(MAX_GRAPHQL_BODY)).max_frame_size(Some(MAX_GRAPHQL_BODY));
    websocket.protocols(ALL_WEBSOCKET_PROTOCOLS).config(messages).on_upgrade(move |stream| {
        let stream = InitDeadline::new(stream, init_timeout);
        // The connection's registrar is known once connection_init authenticates it; its subscriptions then read
        // the database as that registrar's (row-level security).
        let tenant = crate::db::TenantCell::default();
        let scope = tenant.clone();
        // The credential is checked again while the connection lives; once it died the connection closes.
        let credential = ConnectionCredential::new(inner.deps.clone());
        let watched = credential.clone();
        let check_every = std::time::Duration::from_secs(inner.deps.auth.config.connection_check_seconds.max(1));
        let (sink, stream) = shared_sink(stream);
        let connection = GraphQLWebSocket::new_with_pair(sink.clone().into_sink(), stream, schema, protocol)
            .on_connection_init(move |payload| async move {
                let token = ["Authorization", "authorization"]
                    .iter()
                    .find_map(|k| payload.get(*k).and_then(|v| v.as_str()))
                    .map(|v| {
                        v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).unwrap_or(v).trim().to_owned()
                    })
                    .ok_or_else(|| {
                        async_graphql::Error::new(pick(
                            "send Authorization in the connection_init payload",
                            "请在 connection_init 中发送 Authorization",
                        ))
                    })?;
                let caller = authenticate(&inner, &token).await.map_err(|e| async_graphql::Error::new(e.message()))?;
                // Subscriptions are for consoles; a phone's mobile token does not open one.
                let Caller::Actor(actor) = caller else {
                    return Err(async_graphql::Error::new(pick(
                        "a mobile token does not open subscriptions",
                        "手机令牌不能订阅",
                    )));
                };
                tenant.set(actor.tenant_id);
                credential.open(&token, actor.clone());
                let mut data = async_graphql::Data::default();
                data.insert(credential);
                data.insert(loaders::for_connection(&inner.deps, &actor));
                data.insert(RequestContext { actor: Some(actor), mobile: None, client_ip: None });
                Ok(data)
            })
            .serve();
        let connection = close_when_credential_dies(connection, sink, watched, check_every);
        language::scope(lang, crate::db::with_tenant_cell(scope, connection))
    })
}

/// The sending half of a WebSocket, shared between the graphql-ws connection and whoever closes it.
#[derive(Clone)]
struct SharedSink(Arc<tokio::sync::Mutex<SplitSink<Socket, Message>>>);

/// A connection's socket: closed unless it initialises in time.
type Socket = InitDeadline<WebSocketStream>;

fn shared_sink(socket: Socket) -> (SharedSink, SplitStream<Socket>) {
    let (sink, stream) = socket.split();
    (SharedSink(Arc::new(tokio::sync::Mutex::new(sink))), stream)
}

impl SharedSink {
    fn into_sink(self) -> impl futures_util::Sink<Message, Error = std::io::Error> {
        futures_util::sink::unfold(self, |shared, message: Message| async move {
            shared.0.lock().await.send(message).await?;
            Ok(shared)
        })
    }
}

/// Serves a graphql-ws connection until it ends, or until its credential dies: then its subscriptions stop and the
/// socket is closed with 4403 (graphql-ws' "Forbidden") and the reason.
async fn close_when_credential_dies(
    connection: impl std::future::Future<Output = ()>,
    sink: SharedSink,
    credential: ConnectionCredential,
    check_every: std::time::Duration,
) {
    // Biased: a message the connection is sending (a subscription's last error) goes out before the close.
    let reason = tokio::select! {
        biased;
        () = connection => return,
        reason = credential.died(check_every) => reason,
    };
    // A client that reads nothing does not keep the task: the socket is dropped after a while anyway.
    let close = async {
        let mut sink = sink.0.lock().await;
        let _ = sink.send(Message::close_with(4403u16, reason.current())).await;
        let _ = sink.close().await;
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), close).await;
}

/// The process is up.
#[handler]
async fn healthz() -> &'static str {
    "ok"
}

/// The process can serve: its database answers. The body's first line says so (`ready`); the next one reports the
/// object store (`storage: up`, `storage: unavailable`, or `storage: unknown` before the first check finished).
///
/// An unavailable store does not fail readiness: every replica shares the one store, so taking them all out of the
/// load balancer would turn an outage of uploads and downloads into an outage of the whole API, while a replica
/// still serves every request that needs no file (those that do answer STORAGE_UNAVAILABLE, retryable).
#[handler]
async fn readyz(state: Data<&State>) -> Response {
    if state.draining.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let storage = match state.storage.state() {
        crate::storage::StorageState::Up => "up",
        crate::storage::StorageState::Unavailable => "unavailable",
        crate::storage::StorageState::Unknown => "unknown",
    };
    match state.deps.db.ping().await {
        Ok(()) => format!("ready\nstorage: {storage}\n").into_response(),
        Err(error) => {
            tracing::warn!(%error, "database not reachable");
            let body = format!("database not reachable\nstorage: {storage}\n");
            (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::client_address;

    #[test]
    fn the_client_address_comes_from_trusted_proxies_only() {
        let peer = Some("10.0.0.9".parse().unwrap());
        let ip = |s: &str| Some(s.parse().unwrap());
        assert_eq!(client_address(peer, Some("1.2.3.4"), 0), peer, "no proxies: the header is ignored");
        assert_eq!(client_address(peer, Some("1.2.3.4"), 1), ip("1.2.3.4"));
        assert_eq!(client_address(peer, Some("6.6.6.6, 1.2.3.4"), 1), ip("1.2.3.4"), "a forged entry is ignored");
        assert_eq!(client_address(peer, Some("6.6.6.6, 1.2.3.4, 10.0.0.2"), 2), ip("1.2.3.4"));
        assert_eq!(client_address(peer, None, 1), peer);
        assert_eq!(client_address(peer, Some("garbage"), 1), peer);
    }
}
