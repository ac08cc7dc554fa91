//! The pages beian serves itself and every file they load: GraphiQL (at `/graphql`) and, from the same folder, the
//! phone page. The files are in `static/` and are compiled into the binary, so a page needs nothing from another
//! host (networks in China often block foreign CDNs) and `beian serve` needs nothing beside the binary.

use poem::endpoint::EmbeddedFilesEndpoint;
use poem::http::StatusCode;
use poem::{Endpoint, EndpointExt, IntoResponse, Response};
use rust_embed::RustEmbed;

/// `static/`, embedded (in debug builds too: tests serve what a release serves).
#[derive(RustEmbed)]
#[folder = "src/web/static"]
#[exclude = "*.sh"]
pub struct Static;

/// GraphiQL's policy: its scripts and styles from beian only (React sets style attributes, so inline styles are
/// allowed; no inline script, no `eval`), its fonts are data URLs, and it talks to the API and its WebSocket.
pub const GRAPHIQL_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'none'";

/// The phone page's policy: its own script and styles only (no inline script or style, no `eval`), images and
/// video it makes itself (`blob:`, `data:` logos), and requests to beian and to the object store for presigned
/// uploads (`upload_origins`).
pub fn mobile_csp(upload_origins: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
         connect-src 'self' {upload_origins}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
}

/// An HTML page of `static/` with its own Content-Security-Policy; it is checked for a newer version on every load
/// (its files are not renamed when they change).
pub fn page(path: &str, csp: &str) -> Response {
    match Static::get(path) {
        Some(file) => Response::builder()
            .content_type("text/html; charset=utf-8")
            .header("content-security-policy", csp)
            .header("cache-control", "no-cache")
            .body(file.data.into_owned()),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `static/` at `/static/`: each file with its type and an ETag, revalidated on use (`no-cache`: names carry no
/// version, so a cached copy must not outlive an upgrade).
pub fn files() -> impl Endpoint<Output = Response> {
    EmbeddedFilesEndpoint::<Static>::new().map_to_response().after(|response| async move {
        let mut response = response?;
        if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
            response.headers_mut().insert("cache-control", poem::http::HeaderValue::from_static("no-cache"));
        }
        Ok(response)
    })
}
