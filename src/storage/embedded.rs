//! The embedded S3-compatible server of the default run: s3s-fs serving a folder under `data_dir` on loopback,
//! verifying SigV4 (presigned URLs included) with keys made up at start.

use std::net::SocketAddr;
use std::path::Path;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running embedded S3 server; it stops when dropped.
pub struct EmbeddedS3 {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    task: JoinHandle<()>,
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the server on `listen` (port 0 picks a free one) over the folder `root`, with keys made up now.
pub async fn start(root: &Path, listen: SocketAddr) -> anyhow::Result<EmbeddedS3> {
    let (access_key, _) = crate::auth::tokens::opaque("");
    let (secret_key, _) = crate::auth::tokens::opaque("");
    let access_key: String = access_key.chars().filter(char::is_ascii_alphanumeric).take(20).collect();
    serve(root, listen, access_key, secret_key).await
}

/// Starts the server on `listen` over the folder `root`, accepting requests signed with these keys (tests stand a
/// store up where a server expects one).
pub async fn serve(
    root: &Path,
    listen: SocketAddr,
    access_key: String,
    secret_key: String,
) -> anyhow::Result<EmbeddedS3> {
    // ID photos and licences: the owner's alone.
    crate::config::create_private_dir(root)?;
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| anyhow::anyhow!("cannot serve {}: {e:?}", root.display()))?;
    let service = {
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(access_key.clone(), secret_key.clone()));
        builder.build()
    };
    let listener = TcpListener::bind(listen).await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let mut http = ConnBuilder::new(TokioExecutor::new());
        // With a timer hyper enforces its header-read timeout (30 s): a client trickling a request head does not
        // hold a connection for ever (see `crate::http_server`).
        http.http1().timer(TokioTimer::new());
        loop {
            let Ok((socket, _)) = listener.accept().await else { continue };
            let service = service.clone();
            let cors = hyper::service::service_fn(move |request| with_cors(service.clone(), request));
            let connection = http.serve_connection(TokioIo::new(socket), cors).into_owned();
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
    });
    tracing::info!(%endpoint, root = %root.display(), "embedded S3 server listening");
    Ok(EmbeddedS3 { endpoint, access_key, secret_key, task })
}

/// CORS for browsers that upload to a presigned URL (the phone page at `/mobile`, a registrar's console): a
/// preflight is answered for any origin, and answers carry `Access-Control-Allow-Origin`. The URL's signature is
/// what authorises the request; CORS only lets the page see the answer. (s3s-fs answers no preflight itself; an
/// external store needs a CORS rule on its bucket.)
async fn with_cors(
    service: s3s::service::S3Service,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<s3s::Body>, s3s::HttpError> {
    use hyper::header::{self, HeaderValue};
    let origin = request.headers().get(header::ORIGIN).cloned();
    let asked_headers = request.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned();
    let preflight = request.method() == hyper::Method::OPTIONS
        && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut response = hyper::Response::new(s3s::Body::empty());
        *response.status_mut() = hyper::StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, PUT"));
        if let Some(asked) = asked_headers {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
        }
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        response
    } else {
        service.call(request.map(s3s::Body::from)).await?
    };
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("ETag"));
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response)
}
