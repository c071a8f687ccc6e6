//! The HTTP side of [`RemoteStore`](super::RemoteStore): one pooled hyper client over http or
//! https, request building (path-style or virtual-host addressing, S3 URI encoding), SigV4
//! signing, timeouts and retries.
//!
//! - Connection pool: hyper-util's legacy `Client` keeps idle keep-alive connections per host
//!   (TCP_NODELAY), so page loads and part uploads reuse connections and run in parallel.
//! - TLS: `https://` endpoints go through rustls (hyper-rustls, ring provider, TLS 1.2/1.3).
//!   Trusted roots are the system's (rustls-native-certs: `/etc/ssl/certs`, `SSL_CERT_FILE`,
//!   `SSL_CERT_DIR`), or, when a CA bundle is configured (`--ca-bundle`, `AWS_CA_BUNDLE`,
//!   `ca_bundle` in `~/.aws/config`), only the certificates of that PEM file, as the aws CLI
//!   does. The roots are loaded once, when the store is made, and only for https.
//! - Signing: SigV4 header auth with [`crate::sigv4::sign_request`] (the same module the
//!   gateway verifies with); a session token goes in `x-amz-security-token` and is signed.
//!   Bodies we hold in memory (XML, buffered parts) are signed with their SHA-256; streamed
//!   bodies with `UNSIGNED-PAYLOAD` and an exact `Content-Length`.
//! - Timeouts: the configured timeout bounds connecting (TCP and TLS handshake), the wait for
//!   response headers (plus one second per MiB of request body, which has to go up first) and
//!   every wait for the next chunk of a response body.
//! - Retries ([`retry_decision`]): up to `max_retries` more attempts, sleeping
//!   `base × 2^n` (capped at 5 s) with equal jitter (half fixed, half random) so clients that
//!   failed together do not come back together. What is retried:
//!   - a connection that could not be made (nothing was sent): always;
//!   - 503 (SlowDown, ServiceUnavailable) and 429: always (the server refused the request
//!     before doing anything);
//!   - 500, 502, 504, a connection reset or closed before the answer, a timeout waiting for
//!     it: only for idempotent requests (GET, HEAD, PUT, DELETE, and the POSTs marked
//!     [`Req::idempotent`]: CompleteMultipartUpload, DeleteObjects);
//!   - a 2xx answer whose XML body is an `<Error>` (CopyObject, UploadPartCopy and
//!     CompleteMultipartUpload can fail that way after the status line went out) with a
//!     transient code (InternalError, SlowDown, ServiceUnavailable): like a 500, only for
//!     idempotent requests.
//!
//!   Never retried: a streamed request body (it cannot be replayed), 501 and 4xx answers. A
//!   response body that fails midway is not retried here: the reader sees an error (never a
//!   short body: [`Client::body_stream`] checks the length it was promised).

use super::error_xml::{self, Context};
use super::RemoteConfig;
use crate::error::{Error, Result};
use crate::sigv4;
use crate::store::ByteStream;
use bytes::Bytes;
use futures_util::{stream, StreamExt};
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ReqBody = UnsyncBoxBody<Bytes, BoxError>;

/// Largest error body we read.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Longest sleep between two attempts.
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// A request body.
pub enum Body {
    Empty,
    /// In memory: signed with its SHA-256, replayable.
    Bytes(Bytes),
    /// In memory, sent with `UNSIGNED-PAYLOAD` (large parts: hashing twice costs CPU for
    /// nothing, the remote checks the part's MD5 anyway), replayable.
    UnsignedBytes(Bytes),
    /// Streamed once with `UNSIGNED-PAYLOAD` and this exact length.
    Stream(ByteStream, u64),
}

/// One S3 request before addressing and signing.
pub struct Req<'a> {
    pub method: Method,
    pub bucket: Option<&'a str>,
    pub key: Option<&'a str>,
    /// Decoded query parameters (a sub-resource such as `uploads` has an empty value).
    pub query: Vec<(String, String)>,
    pub headers: Vec<(HeaderName, String)>,
    pub body: Body,
    /// Safe to send twice (a retry after a lost answer does no harm). GET, HEAD, PUT and
    /// DELETE are; a POST is only when marked with [`Req::idempotent`].
    pub idempotent: bool,
}

impl<'a> Req<'a> {
    pub fn new(method: Method, bucket: Option<&'a str>, key: Option<&'a str>) -> Self {
        Req {
            bucket,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::Empty,
            idempotent: method != Method::POST,
            method,
        }
    }

    /// Mark a POST as safe to repeat (CompleteMultipartUpload, DeleteObjects).
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_string(), value.into()));
        self
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }
}

/// S3 URI encoding: unreserved characters stay, every other byte is `%XX`; `/` stays in paths.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    sigv4::canonical::uri_encode(s.as_bytes(), !keep_slash)
}

/// The pooled, signing, retrying S3 HTTP client.
pub struct Client {
    http: HyperClient<HttpsConnector<HttpConnector>, ReqBody>,
    /// `http` or `https`.
    scheme: &'static str,
    /// `host[:port]` of the endpoint.
    authority: String,
    /// Path prefix of the endpoint (no trailing `/`).
    base_path: String,
    cfg: RemoteConfig,
}

/// The rustls client configuration for `cfg`: ring provider, safe default protocol versions,
/// the CA bundle's certificates when one is configured, else the system's.
fn tls_config(cfg: &RemoteConfig, https: bool) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.ca_bundle {
        Some(path) => {
            let bad = |e: &dyn std::fmt::Display| Error::InvalidArgument(format!("CA bundle {}: {e}", path.display()));
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))?;
            for cert in certs {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
            if roots.is_empty() {
                return Err(bad(&"no PEM certificate in the file"));
            }
        }
        // Plain http never needs roots: do not read the system store for nothing.
        None if https => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(Error::InvalidArgument(format!(
                    "endpoint {}: no trusted CA certificates found on this system{}; pass --ca-bundle FILE \
                     or set AWS_CA_BUNDLE",
                    cfg.endpoint,
                    found.errors.first().map(|e| format!(" ({e})")).unwrap_or_default()
                )));
            }
        }
        None => {}
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InvalidArgument(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// What to do after one failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The connection could not be made: nothing reached the server.
    Connect,
    /// The server refused the request without doing it (503 SlowDown/ServiceUnavailable, 429).
    Refused,
    /// The request may or may not have been carried out (500/502/504, a reset or close after
    /// sending, no answer in time, a 2xx carrying a transient `<Error>`).
    Unknown,
}

/// Whether a failure of this kind may be retried for a request with this idempotency and
/// replayability (see the module docs).
pub fn retry_decision(failure: Failure, idempotent: bool, replayable: bool) -> bool {
    replayable
        && match failure {
            Failure::Connect | Failure::Refused => true,
            Failure::Unknown => idempotent,
        }
}

/// The failure kind of an HTTP status, `None` when the status is not retried.
pub fn status_failure(status: u16) -> Option<Failure> {
    match status {
        429 | 503 => Some(Failure::Refused),
        500 | 502 | 504 => Some(Failure::Unknown),
        _ => None,
    }
}

/// The sleep before retry number `attempt` (0-based): `base × 2^attempt` capped at
/// [`BACKOFF_CAP`], half of it fixed and half random.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    use rand::Rng;
    let full = base.saturating_mul(1u32 << attempt.min(16)).min(BACKOFF_CAP);
    let half = full / 2;
    let jitter_ms = half.as_millis() as u64;
    half + Duration::from_millis(if jitter_ms == 0 {
        0
    } else {
        rand::thread_rng().gen_range(0..=jitter_ms)
    })
}

/// An answer to [`Client::send_inner`]: the response with its body still streaming, or (for
/// [`Client::send_read`]) a success read whole.
enum Answer {
    Streaming(Response<Incoming>),
    Read(http::HeaderMap, Vec<u8>),
}

impl Client {
    pub fn new(cfg: RemoteConfig) -> Result<Self> {
        let uri: http::Uri = cfg
            .endpoint
            .parse()
            .map_err(|e| Error::InvalidArgument(format!("endpoint {:?}: {e}", cfg.endpoint)))?;
        let scheme = match uri.scheme_str() {
            Some("http") => "http",
            Some("https") => "https",
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "endpoint {:?} must be an http:// or https:// URL",
                    cfg.endpoint
                )))
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| Error::InvalidArgument(format!("endpoint {:?} has no host", cfg.endpoint)))?
            .to_string();
        let base_path = uri.path().trim_end_matches('/').to_string();
        let mut conn = HttpConnector::new();
        conn.enforce_http(false);
        conn.set_nodelay(true);
        conn.set_keepalive(Some(Duration::from_secs(60)));
        conn.set_connect_timeout(Some(cfg.timeout));
        let tls = tls_config(&cfg, scheme == "https")?;
        let conn = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(conn);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build(conn);
        Ok(Client {
            http,
            scheme,
            authority,
            base_path,
            cfg,
        })
    }

    pub fn config(&self) -> &RemoteConfig {
        &self.cfg
    }

    /// Host header and path for a bucket/key under the configured addressing style.
    fn address(&self, bucket: Option<&str>, key: Option<&str>) -> (String, String) {
        let key_part = key.map(|k| uri_encode(k, true)).unwrap_or_default();
        match bucket {
            Some(b) if self.cfg.virtual_host => (
                format!("{b}.{}", self.authority),
                format!("{}/{}", self.base_path, key_part),
            ),
            Some(b) => {
                let mut p = format!("{}/{}", self.base_path, uri_encode(b, false));
                if key.is_some() {
                    p.push('/');
                    p.push_str(&key_part);
                }
                (self.authority.clone(), p)
            }
            None => (self.authority.clone(), format!("{}/", self.base_path)),
        }
    }

    /// Build and sign one attempt of `req`.
    fn build(&self, req: &Req<'_>, body: ReqBody, payload_hash: &str) -> Result<Request<ReqBody>> {
        let (host, path) = self.address(req.bucket, req.key);
        let mut query: Vec<(String, String)> = req
            .query
            .iter()
            .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
            .collect();
        query.sort();
        let query_string = query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::HOST,
            HeaderValue::from_str(&host).map_err(|_| Error::InvalidArgument(format!("bad host {host:?}")))?,
        );
        if let Some(token) = &self.cfg.session_token {
            let value = HeaderValue::from_str(token.trim())
                .map_err(|_| Error::InvalidArgument("the AWS session token cannot be sent in a header".into()))?;
            headers.insert(HeaderName::from_static("x-amz-security-token"), value);
        }
        for (n, v) in &req.headers {
            let value = HeaderValue::from_str(v.trim())
                .map_err(|_| Error::InvalidArgument(format!("header {n}: value {v:?} cannot be sent")))?;
            headers.append(n.clone(), value);
        }
        let params = sigv4::SigningParams {
            access_key: &self.cfg.access_key,
            secret_key: &self.cfg.secret_key,
            region: &self.cfg.region,
            service: "s3",
            time: SystemTime::now(),
        };
        let signed = sigv4::sign_request(&req.method, &path, &query_string, &headers, payload_hash, &params);
        signed.apply(&mut headers);

        let uri = if query_string.is_empty() {
            format!("{}://{}{}", self.scheme, self.authority, path)
        } else {
            format!("{}://{}{}?{}", self.scheme, self.authority, path, query_string)
        };
        let mut builder = Request::builder().method(req.method.clone()).uri(uri);
        if let Some(h) = builder.headers_mut() {
            *h = headers;
        }
        match &req.body {
            Body::Bytes(b) | Body::UnsignedBytes(b) => builder = builder.header(http::header::CONTENT_LENGTH, b.len()),
            Body::Stream(_, len) => builder = builder.header(http::header::CONTENT_LENGTH, *len),
            Body::Empty => {
                if matches!(req.method, Method::PUT | Method::POST) {
                    builder = builder.header(http::header::CONTENT_LENGTH, 0)
                }
            }
        }
        builder
            .body(body)
            .map_err(|e| Error::InvalidArgument(format!("cannot build request: {e}")))
    }

    /// Send `req`, retrying where it is safe, and return the response whatever its status.
    pub async fn send_raw(&self, req: Req<'_>) -> Result<Response<Incoming>> {
        match self.send_inner(req, None).await? {
            Answer::Streaming(resp) => Ok(resp),
            Answer::Read(..) => unreachable!("send_inner reads only when asked to"),
        }
    }

    /// The retry loop. With `read_limit`, a 2xx answer is read whole (at most that many bytes)
    /// and a transient `<Error>` inside it is retried like the status it stands for.
    async fn send_inner(&self, mut req: Req<'_>, read_limit: Option<usize>) -> Result<Answer> {
        let mut attempt = 0u32;
        loop {
            let (body, hash, replayable): (ReqBody, String, bool) = match std::mem::replace(&mut req.body, Body::Empty)
            {
                Body::Empty => (
                    Empty::new().map_err(|never| match never {}).boxed_unsync(),
                    hex::encode(Sha256::digest(b"")),
                    true,
                ),
                Body::Bytes(b) => {
                    let hash = hex::encode(Sha256::digest(&b));
                    req.body = Body::Bytes(b.clone());
                    (Full::new(b).map_err(|never| match never {}).boxed_unsync(), hash, true)
                }
                Body::UnsignedBytes(b) => {
                    req.body = Body::UnsignedBytes(b.clone());
                    let full = Full::new(b).map_err(|never| match never {}).boxed_unsync();
                    (full, sigv4::UNSIGNED_PAYLOAD.to_string(), true)
                }
                Body::Stream(s, len) => {
                    let frames = s.map(|r| r.map(Frame::data).map_err(|e| Box::new(e) as BoxError));
                    // keep the length so the request still carries Content-Length
                    req.body = Body::Stream(Box::pin(stream::empty()), len);
                    (
                        BodyExt::boxed_unsync(StreamBody::new(frames)),
                        sigv4::UNSIGNED_PAYLOAD.to_string(),
                        false,
                    )
                }
            };
            let request = self.build(&req, body, &hash)?;
            // The answer comes after the whole body went up: allow one second per MiB on top.
            let body_len = match &req.body {
                Body::Empty => 0,
                Body::Bytes(b) | Body::UnsignedBytes(b) => b.len() as u64,
                Body::Stream(_, len) => *len,
            };
            let wait = self.cfg.timeout + Duration::from_secs(body_len >> 20);
            let outcome = tokio::time::timeout(wait, self.http.request(request)).await;
            let may_retry =
                |f: Failure| attempt < self.cfg.max_retries && retry_decision(f, req.idempotent, replayable);
            let (failure, what) = 'outcome: {
                match outcome {
                    Ok(Ok(resp)) => {
                        let status = resp.status();
                        match status_failure(status.as_u16()) {
                            Some(f) if may_retry(f) => {
                                let body = read_body_limited(resp.into_body(), MAX_ERROR_BODY, self.cfg.timeout)
                                    .await
                                    .unwrap_or_default();
                                let code = error_xml::parse(&body).map(|e| e.code).unwrap_or_default();
                                (f, format!("HTTP {status} {code}"))
                            }
                            _ => match read_limit {
                                Some(limit) if status.is_success() => {
                                    let (parts, body) = resp.into_parts();
                                    let body = match read_body_limited(body, limit, self.cfg.timeout).await {
                                        Ok(b) => b,
                                        Err(e) if may_retry(Failure::Unknown) => {
                                            break 'outcome (
                                                Failure::Unknown,
                                                format!("HTTP {status}, body failed: {e}"),
                                            );
                                        }
                                        Err(e) => return Err(e),
                                    };
                                    match error_xml::parse(&body) {
                                        Some(e) => {
                                            // The status line said success: the request may
                                            // have been carried out, whatever the code says.
                                            let f = error_xml::code_status(&e.code)
                                                .and_then(status_failure)
                                                .map(|_| Failure::Unknown);
                                            match f {
                                                Some(f) if may_retry(f) => {
                                                    (f, format!("HTTP {status} with an <Error> body: {}", e.code))
                                                }
                                                _ => return Ok(Answer::Read(parts.headers, body)),
                                            }
                                        }
                                        None => return Ok(Answer::Read(parts.headers, body)),
                                    }
                                }
                                _ => return Ok(Answer::Streaming(resp)),
                            },
                        }
                    }
                    Ok(Err(e)) => {
                        let f = if e.is_connect() {
                            Failure::Connect
                        } else {
                            Failure::Unknown
                        };
                        if !may_retry(f) {
                            return Err(Error::Io(std::io::Error::new(
                                std::io::ErrorKind::ConnectionAborted,
                                format!("remote S3 endpoint {}: {}", self.cfg.endpoint, error_chain(&e)),
                            )));
                        }
                        (f, error_chain(&e))
                    }
                    Err(_) => {
                        if !may_retry(Failure::Unknown) {
                            return Err(Error::Io(std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                format!("remote S3 endpoint {}: no answer within {wait:?}", self.cfg.endpoint),
                            )));
                        }
                        (Failure::Unknown, "timed out".to_string())
                    }
                }
            };
            let delay = backoff(self.cfg.retry_base, attempt);
            log::debug!(
                "{} {:?}/{:?}: {what} ({failure:?}); retry {} in {delay:?}",
                req.method,
                req.bucket,
                req.key,
                attempt + 1
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Send `req`; a non-2xx answer becomes the mapped core error.
    pub async fn send(&self, req: Req<'_>, ctx: &Context) -> Result<Response<Incoming>> {
        let resp = self.send_raw(req).await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(self.error_of(resp, ctx).await)
    }

    /// Read an error response and map it.
    pub async fn error_of(&self, resp: Response<Incoming>, ctx: &Context) -> Error {
        let status = resp.status();
        let body = read_body_limited(resp.into_body(), MAX_ERROR_BODY, self.cfg.timeout)
            .await
            .unwrap_or_default();
        error_xml::to_error(status.as_u16(), &body, ctx)
    }

    /// Send `req` and read a small (XML) success body. A transient `<Error>` body on a 2xx
    /// answer is retried like its status; any other `<Error>` body is left to the caller's
    /// parser (`multipart::parse_result`), which maps it to an error status.
    pub async fn send_read(&self, req: Req<'_>, ctx: &Context, limit: usize) -> Result<(http::HeaderMap, Vec<u8>)> {
        match self.send_inner(req, Some(limit)).await? {
            Answer::Read(headers, body) => Ok((headers, body)),
            Answer::Streaming(resp) => Err(self.error_of(resp, ctx).await),
        }
    }

    /// A response body as a [`ByteStream`] with the per-chunk timeout. With `expected`, the
    /// stream fails (instead of ending) when the body is shorter or longer than that: a
    /// truncated answer never reads as a complete one.
    pub fn body_stream(&self, body: Incoming, expected: Option<u64>) -> ByteStream {
        let timeout = self.cfg.timeout;
        Box::pin(stream::unfold(Some((body, 0u64)), move |state| async move {
            let (mut body, mut seen) = state?;
            loop {
                match tokio::time::timeout(timeout, body.frame()).await {
                    Err(_) => return Some((Err(io_err(std::io::ErrorKind::TimedOut, "response body stalled")), None)),
                    Ok(None) => {
                        return match expected {
                            Some(n) if n != seen => Some((
                                Err(io_err(
                                    std::io::ErrorKind::UnexpectedEof,
                                    format!("response body ended after {seen} of {n} bytes"),
                                )),
                                None,
                            )),
                            _ => None,
                        }
                    }
                    Ok(Some(Err(e))) => {
                        return Some((
                            Err(io_err(std::io::ErrorKind::ConnectionAborted, error_chain(&e))),
                            None,
                        ))
                    }
                    Ok(Some(Ok(frame))) => {
                        if let Ok(data) = frame.into_data() {
                            if !data.is_empty() {
                                seen += data.len() as u64;
                                if expected.is_some_and(|n| seen > n) {
                                    return Some((
                                        Err(io_err(
                                            std::io::ErrorKind::InvalidData,
                                            format!(
                                                "response body longer than the {} bytes announced",
                                                expected.unwrap_or(0)
                                            ),
                                        )),
                                        None,
                                    ));
                                }
                                return Some((Ok(data), Some((body, seen))));
                            }
                        }
                    }
                }
            }
        }))
    }
}

/// An error and its sources on one line (hyper's own message is often just "connection error").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

fn io_err(kind: std::io::ErrorKind, e: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::new(kind, format!("remote S3 endpoint: {e}")))
}

/// Read a whole (small) body, failing past `limit` bytes.
pub async fn read_body_limited(mut body: Incoming, limit: usize, timeout: Duration) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => return Err(io_err(std::io::ErrorKind::TimedOut, "response body stalled")),
            Ok(None) => return Ok(out),
            Ok(Some(Err(e))) => return Err(io_err(std::io::ErrorKind::ConnectionAborted, error_chain(&e))),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if out.len() + data.len() > limit {
                        return Err(Error::Backend {
                            status: 502,
                            code: "ResponseTooLarge".into(),
                            message: format!("remote answer larger than {limit} bytes"),
                        });
                    }
                    out.extend_from_slice(&data);
                }
            }
        }
    }
}

/// Header value as a string (empty when absent or not text).
pub fn header_str<'h>(h: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_virtual_host_addressing() {
        let mut cfg = RemoteConfig::new("http://127.0.0.1:9878/base/", "a", "b");
        let c = Client::new(cfg.clone()).unwrap();
        assert_eq!(
            c.address(Some("bkt"), Some("a b/c")),
            ("127.0.0.1:9878".to_string(), "/base/bkt/a%20b/c".to_string())
        );
        assert_eq!(
            c.address(Some("bkt"), None),
            ("127.0.0.1:9878".to_string(), "/base/bkt".to_string())
        );
        assert_eq!(
            c.address(None, None),
            ("127.0.0.1:9878".to_string(), "/base/".to_string())
        );
        cfg.virtual_host = true;
        let c = Client::new(cfg).unwrap();
        assert_eq!(
            c.address(Some("bkt"), Some("k")),
            ("bkt.127.0.0.1:9878".to_string(), "/base/k".to_string())
        );
    }

    #[test]
    fn retry_policy() {
        use Failure::*;
        // nothing reached the server, or the server refused: always, if the body can be resent
        for f in [Connect, Refused] {
            assert!(retry_decision(f, false, true));
            assert!(retry_decision(f, true, true));
            assert!(!retry_decision(f, true, false));
        }
        // maybe done: only idempotent requests
        assert!(retry_decision(Unknown, true, true));
        assert!(!retry_decision(Unknown, false, true));
        assert!(!retry_decision(Unknown, true, false));
        assert_eq!(status_failure(503), Some(Refused));
        assert_eq!(status_failure(429), Some(Refused));
        for s in [500, 502, 504] {
            assert_eq!(status_failure(s), Some(Unknown));
        }
        for s in [200, 400, 403, 404, 409, 412, 501] {
            assert_eq!(status_failure(s), None, "{s}");
        }
        // what is idempotent
        assert!(Req::new(Method::PUT, Some("b"), Some("k")).idempotent);
        assert!(Req::new(Method::DELETE, Some("b"), Some("k")).idempotent);
        assert!(!Req::new(Method::POST, Some("b"), Some("k")).idempotent);
        assert!(Req::new(Method::POST, Some("b"), Some("k")).idempotent().idempotent);
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for attempt in 0..20 {
            let full = (base * 2u32.pow(attempt.min(10))).min(BACKOFF_CAP);
            for _ in 0..20 {
                let d = backoff(base, attempt);
                assert!(
                    d >= full / 2 && d <= full,
                    "attempt {attempt}: {d:?} not in [{:?}, {full:?}]",
                    full / 2
                );
            }
        }
        // jitter: not always the same
        let samples: std::collections::HashSet<_> = (0..50).map(|_| backoff(base, 3)).collect();
        assert!(samples.len() > 1);
    }

    #[test]
    fn encodes_like_s3() {
        assert_eq!(uri_encode("a b/c~d", true), "a%20b/c~d");
        assert_eq!(uri_encode("a b/c", false), "a%20b%2Fc");
        assert_eq!(uri_encode("é+", true), "%C3%A9%2B");
    }
}
