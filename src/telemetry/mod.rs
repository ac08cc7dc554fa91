//! Logs and traces: the global subscriber, and one span per HTTP request carrying its request id.
//!
//! Logs never carry personal data: a request is logged by method, path (no query string), status, duration,
//! GraphQL operation name and request id; never its body, variables, client address or tokens.

use std::sync::Arc;
use std::time::Instant;

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogConfig, LogFormat, TelemetryConfig};

mod otlp;

/// The header that carries a request's id, in and out.
pub const REQUEST_ID: &str = "x-request-id";

/// What must be flushed before the process exits.
#[must_use = "dropping the guard does not flush traces; call shutdown()"]
pub struct Guard {
    traces: Option<otlp::Tracing>,
}

impl Guard {
    /// Sends the traces still buffered (bounded by the exporter's timeout).
    pub fn shutdown(self) {
        if let Some(traces) = self.traces {
            traces.shutdown();
        }
    }
}

/// Installs the global subscriber; `RUST_LOG`, when set, overrides the configured filter. With an OTLP endpoint
/// configured, spans are exported too.
pub fn init(config: &LogConfig, telemetry: &TelemetryConfig) -> anyhow::Result<Guard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.filter));
    let traces = match &telemetry.otlp_endpoint {
        Some(endpoint) => Some(otlp::Tracing::start(endpoint, telemetry.service_name.as_deref())?),
        None => None,
    };
    let otel = traces.as_ref().map(otlp::Tracing::layer);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let result = match config.format {
        LogFormat::Text => registry.with(fmt).try_init(),
        // One JSON object per line; the fields of the request span (request_id, operation) are on every line.
        LogFormat::Json => registry.with(fmt.json().with_current_span(true).with_span_list(false)).try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
    Ok(Guard { traces })
}

/// Runs a request inside a `request` span (request id, method, path, GraphQL operation), logs its outcome, and
/// answers with its `X-Request-Id`: the caller's, when it sent a sensible one, or a new one.
pub async fn log_request<E: Endpoint>(next: Arc<E>, request: Request) -> poem::Result<Response> {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sensible_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %path,
        operation = tracing::field::Empty,
    );
    otlp::adopt_remote_parent(&span, request.headers());
    let started = Instant::now();
    let response = match next.call(request).instrument(span.clone()).await {
        Ok(response) => response.into_response(),
        Err(error) => error.into_response(),
    };
    let status = response.status().as_u16();
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    // Probes and scrapes come every few seconds: only worth a line when something is wrong.
    let routine = matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics") && status < 500;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, duration_ms = millis, "request failed");
        } else if routine {
            tracing::debug!(status, duration_ms = millis, "request");
        } else {
            tracing::info!(status, duration_ms = millis, "request");
        }
    });
    let mut response = response;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

/// A request id taken from a client: short, and only characters that are safe in any log.
fn is_sensible_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::is_sensible_id;

    #[test]
    fn only_plain_request_ids_are_kept() {
        assert!(is_sensible_id("0190b8a5-7d2e-7c3a-9f00-123456789abc"));
        assert!(is_sensible_id("lb.trace_42"));
        assert!(!is_sensible_id(""));
        assert!(!is_sensible_id(&"a".repeat(65)));
        assert!(!is_sensible_id("x\"}\n{\"forged\":1"));
        assert!(!is_sensible_id("张三"));
    }
}
