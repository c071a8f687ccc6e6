//! The HTTP side of [`RemoteStore`](super::RemoteStore): one pooled hyper client, request
//! building (path-style or virtual-host addressing, S3 URI encoding), SigV4 signing, timeouts
//! and retries.
//!
//! - Connection pool: hyper-util's legacy `Client` keeps idle keep-alive connections per host
//!   (TCP_NODELAY), so page loads and part uploads reuse connections and run in parallel.
//! - Only `http://` endpoints are supported (no TLS crate in the dependency set); an `https://`
//!   endpoint is refused with a clear [`Error::NotSupported`] at construction.
//! - Signing: SigV4 header auth with [`crate::sigv4::sign_request`] (the same module the
//!   gateway verifies with). Bodies we hold in memory (XML, buffered parts) are signed with
//!   their SHA-256; streamed bodies with `UNSIGNED-PAYLOAD` and an exact `Content-Length`.
//! - Timeouts: the configured timeout bounds the wait for response headers (plus one second per
//!   MiB of request body, which has to go up first) and every wait for the next chunk of a
//!   response body.
//! - Retries: connection errors, timeouts and 5xx answers are retried with exponential backoff
//!   (100 ms doubling, bounded count) when the request body can be replayed (empty or in
//!   memory). A streamed body is sent once: it cannot be replayed.

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
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ReqBody = UnsyncBoxBody<Bytes, BoxError>;

/// Largest error body we read.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// First retry delay.
const BACKOFF_START: Duration = Duration::from_millis(100);

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
}

impl<'a> Req<'a> {
    pub fn new(method: Method, bucket: Option<&'a str>, key: Option<&'a str>) -> Self {
        Req {
            method,
            bucket,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::Empty,
        }
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
    http: HyperClient<HttpConnector, ReqBody>,
    /// `host[:port]` of the endpoint.
    authority: String,
    /// Path prefix of the endpoint (no trailing `/`).
    base_path: String,
    cfg: RemoteConfig,
}

impl Client {
    pub fn new(cfg: RemoteConfig) -> Result<Self> {
        let uri: http::Uri = cfg
            .endpoint
            .parse()
            .map_err(|e| Error::InvalidArgument(format!("endpoint {:?}: {e}", cfg.endpoint)))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(Error::NotSupported(format!(
                    "endpoint {}: https is not supported by the remote S3 client; use http:// \
                     (or a local TLS-terminating proxy)",
                    cfg.endpoint
                )))
            }
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "endpoint {:?} must be an http:// URL",
                    cfg.endpoint
                )))
            }
        }
        let authority = uri
            .authority()
            .ok_or_else(|| Error::InvalidArgument(format!("endpoint {:?} has no host", cfg.endpoint)))?
            .to_string();
        let base_path = uri.path().trim_end_matches('/').to_string();
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.set_keepalive(Some(Duration::from_secs(60)));
        conn.set_connect_timeout(Some(cfg.timeout));
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build(conn);
        Ok(Client {
            http,
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
            format!("http://{}{}", self.authority, path)
        } else {
            format!("http://{}{}?{}", self.authority, path, query_string)
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
    pub async fn send_raw(&self, mut req: Req<'_>) -> Result<Response<Incoming>> {
        let mut delay = BACKOFF_START;
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
            let retry_left = replayable && attempt < self.cfg.max_retries;
            let failure = match outcome {
                Ok(Ok(resp)) if resp.status().is_server_error() && retry_left => {
                    let status = resp.status();
                    let _ = read_body_limited(resp.into_body(), MAX_ERROR_BODY, self.cfg.timeout).await;
                    format!("HTTP {status}")
                }
                Ok(Ok(resp)) => return Ok(resp),
                Ok(Err(e)) if retry_left => format!("{e}"),
                Ok(Err(e)) => {
                    return Err(Error::Io(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        format!("remote S3 endpoint {}: {e}", self.cfg.endpoint),
                    )))
                }
                Err(_) if retry_left => "timed out".to_string(),
                Err(_) => {
                    return Err(Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "remote S3 endpoint {}: no answer within {:?}",
                            self.cfg.endpoint, self.cfg.timeout
                        ),
                    )))
                }
            };
            log::debug!(
                "{} {:?}/{:?}: {failure}; retry {} in {delay:?}",
                req.method,
                req.bucket,
                req.key,
                attempt + 1
            );
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
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

    /// Send `req` and read a small (XML) success body.
    pub async fn send_read(&self, req: Req<'_>, ctx: &Context, limit: usize) -> Result<(http::HeaderMap, Vec<u8>)> {
        let resp = self.send(req, ctx).await?;
        let (parts, body) = resp.into_parts();
        let body = read_body_limited(body, limit, self.cfg.timeout).await?;
        Ok((parts.headers, body))
    }

    /// A response body as a [`ByteStream`] with the per-chunk timeout.
    pub fn body_stream(&self, body: Incoming) -> ByteStream {
        let timeout = self.cfg.timeout;
        Box::pin(stream::unfold(Some(body), move |state| async move {
            let mut body = state?;
            loop {
                match tokio::time::timeout(timeout, body.frame()).await {
                    Err(_) => return Some((Err(io_err(std::io::ErrorKind::TimedOut, "response body stalled")), None)),
                    Ok(None) => return None,
                    Ok(Some(Err(e))) => return Some((Err(io_err(std::io::ErrorKind::ConnectionAborted, e)), None)),
                    Ok(Some(Ok(frame))) => {
                        if let Ok(data) = frame.into_data() {
                            if !data.is_empty() {
                                return Some((Ok(data), Some(body)));
                            }
                        }
                    }
                }
            }
        }))
    }
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
            Ok(Some(Err(e))) => return Err(io_err(std::io::ErrorKind::ConnectionAborted, e)),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if out.len() + data.len() > limit {
                        return Err(Error::Backend {
                            status: 200,
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
        let mut cfg = super::super::RemoteConfig::new("http://127.0.0.1:9878/base/", "a", "b");
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
    fn encodes_like_s3() {
        assert_eq!(uri_encode("a b/c~d", true), "a%20b/c~d");
        assert_eq!(uri_encode("a b/c", false), "a%20b%2Fc");
        assert_eq!(uri_encode("é+", true), "%C3%A9%2B");
    }
}
