//! One request: parse → authenticate → dispatch → render.
//!
//! * `/_ozfs/…` goes to the admin API (only when an admin token is configured, else 404).
//! * Routing ([`crate::router`]) picks an [`Endpoint`]; requests for other AWS services and
//!   unimplemented sub-resources are answered at once (501) without reading the body.
//! * Bucket names are checked on every request (InvalidBucketName, as Ozone).
//! * Authentication ([`crate::auth`]) says who the user is and how to read the body.
//! * The handler gets a [`Ctx`] and the request body as a `ByteStream`.
//! * Errors become S3 XML (no body for HEAD). Every response carries `x-amz-request-id`,
//!   `x-amz-id-2` and `Server`.
//! * Observability where a request enters: everything logged while it is served runs inside a
//!   `request{id=…}` tracing span (its S3 request id); the request is counted and timed in
//!   [`ozfs::metrics`]; one access event per request goes to [`crate::ACCESS_TARGET`]. Errors
//!   are logged by kind: client errors and unimplemented sub-resources (the feature probes of
//!   s3cmd and the aws CLI) at debug, server faults at warn/error.
//! * `GET /prom` and `GET /metrics` — path style, unsigned, no query — answer the metrics
//!   ([`crate::metrics_page`]); anything else on those paths is the bucket's.

use crate::body::{incoming_stream, RespBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::handlers::{self, Ctx};
use crate::router::{self, Endpoint, Query};
use crate::state::State;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use ozfs::ByteStream;
use rand::RngCore;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// How long a request body may stall between two chunks.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest header section we accept (all names and values).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

fn request_id() -> (String, String) {
    let mut b = [0u8; 8];
    let mut rng = rand::thread_rng();
    rng.fill_bytes(&mut b);
    let mut id2 = [0u8; 24];
    rng.fill_bytes(&mut id2);
    use base64::Engine as _;
    (
        hex::encode_upper(b),
        base64::engine::general_purpose::STANDARD.encode(id2),
    )
}

/// What the access log and the metrics say about a request besides its status.
#[derive(Debug, Default)]
struct Outcome {
    /// The operation ([`Endpoint::name`]), `-` before routing.
    op: String,
    /// The authenticated user, if any.
    user: Option<String>,
}

/// Serve one request (the hyper service function) from `peer`.
pub async fn handle(
    state: Arc<State>,
    peer: std::net::SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, Infallible> {
    let started = Instant::now();
    let (rid, id2) = request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let target = redact_query(req.uri().path_and_query().map(|p| p.as_str()).unwrap_or_default());
    let version = req.version();
    ozfs::metrics::s3_in_flight(1);
    let span = tracing::error_span!("request", id = %rid);
    let (mut resp, outcome) = async {
        if path.starts_with("/_ozfs/") {
            let op = Outcome {
                op: "Admin".into(),
                user: None,
            };
            (admin(&state, req).await, op)
        } else if crate::metrics_page::is_metrics_request(&req, &state.cfg.domains) {
            let op = Outcome {
                op: "Metrics".into(),
                user: None,
            };
            (crate::metrics_page::respond(req.method() == Method::HEAD), op)
        } else {
            s3(&state, req, &rid).await
        }
    }
    .instrument(span.clone())
    .await;
    ozfs::metrics::s3_in_flight(-1);
    let what = &outcome.op;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&rid) {
        h.insert("x-amz-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&id2) {
        h.insert("x-amz-id-2", v);
    }
    h.insert(http::header::SERVER, HeaderValue::from_static("ozfs"));
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    ozfs::metrics::s3_request(what, status, elapsed);
    span.in_scope(|| tracing::debug!("{method} {path} {what} -> {status} in {elapsed:?}"));
    let length = resp
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    tracing::info!(
        target: crate::ACCESS_TARGET,
        client = %peer,
        user = %outcome.user.as_deref().unwrap_or("-"),
        request = ?format!("{method} {target} {version:?}"),
        status,
        bytes = %length,
        seconds = elapsed.as_secs_f64(),
        operation = %what,
        request_id = %rid,
    );
    Ok(resp)
}

/// Log a failed request by kind: what a client did wrong or probed for is not a fault of ours.
fn log_error(resource: &str, e: &S3Error) {
    if e.status == StatusCode::NOT_IMPLEMENTED {
        tracing::debug!("{resource}: not implemented (a client's feature probe): {e}");
    } else if e.status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!("{resource}: {e}");
    } else if e.status.is_server_error() {
        tracing::warn!("{resource}: {e}");
    } else {
        tracing::debug!("{resource}: {e}");
    }
}

async fn admin(state: &State, req: Request<Incoming>) -> Response<RespBody> {
    let Some(admin) = &state.admin else {
        let mut r = Response::new(RespBody::full("not found\n"));
        *r.status_mut() = StatusCode::NOT_FOUND;
        return r;
    };
    let (parts, body) = req.into_parts();
    let req = Request::from_parts(parts, incoming_stream(body, state.body_idle_timeout).0);
    let (parts, body) = crate::admin::handle(admin, req).await.into_parts();
    Response::from_parts(parts, RespBody::Stream(body))
}

/// Render an error.
pub fn error_response(e: &S3Error, resource: &str, rid: &str, head: bool) -> Response<RespBody> {
    let mut r = if head {
        Response::new(RespBody::Empty)
    } else {
        let mut r = Response::new(RespBody::full(e.to_xml(resource, rid)));
        r.headers_mut()
            .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
        r
    };
    *r.status_mut() = e.status;
    r
}

async fn s3(state: &Arc<State>, req: Request<Incoming>, rid: &str) -> (Response<RespBody>, Outcome) {
    let (parts, body) = req.into_parts();
    let resource = parts.uri.path().to_string();
    let head = parts.method == Method::HEAD;
    let mut what = Outcome {
        op: "-".into(),
        user: None,
    };
    // A body left unread (an early error, or `Expect: 100-continue` never answered) makes the
    // connection unusable for the client's next request (botocore reuses it and misreads the
    // next response), so such responses close the connection.
    let may_have_body = parts.headers.contains_key(http::header::EXPECT)
        || parts.headers.contains_key(http::header::TRANSFER_ENCODING)
        || parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let parts_expect_empty = parts.headers.contains_key(http::header::EXPECT)
        && parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0");
    let (body, done) = incoming_stream(body, state.body_idle_timeout);
    let mut resp = match s3_inner(state, parts, body, &mut what).await {
        Ok(r) => r,
        Err(e) => {
            log_error(&resource, &e);
            error_response(&e, &resource, rid, head)
        }
    };
    // hyper never sends `100 Continue` for an empty body; botocore then takes the final response
    // as an early answer and misreads the next one on that connection. Close those too.
    let empty_expect = parts_expect_empty;
    if empty_expect || (may_have_body && !done.load(std::sync::atomic::Ordering::Acquire)) {
        resp.headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    (resp, what)
}

async fn s3_inner(
    state: &Arc<State>,
    parts: http::request::Parts,
    body: ByteStream,
    what: &mut Outcome,
) -> Result<Response<RespBody>, S3Error> {
    let header_bytes: usize = parts.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(S3Error::new(
            S3ErrorCode::RequestHeaderSectionTooLarge,
            format!("Your request header section exceeds the maximum allowed size of {MAX_HEADER_BYTES} bytes."),
        ));
    }
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.host());
    let target = router::target(host, parts.uri.path(), &state.cfg.domains)?;
    let query = Query::parse(parts.uri.query())?;
    let endpoint = router::refine_copy(
        router::route(&parts.method, &target, &query),
        parts.headers.contains_key("x-amz-copy-source"),
    );
    // A metrics label: the sub-resource name of a NotImplemented comes from the client.
    what.op = match &endpoint {
        Endpoint::NotImplemented(_) => "NotImplemented".to_string(),
        e => e.name().to_string(),
    };
    match &endpoint {
        Endpoint::OtherService => return Err(S3Error::not_implemented(
            "This endpoint serves the S3 API only; requests for other AWS services (IAM, STS, ...) are not supported.",
        )),
        Endpoint::NotImplemented(what) => {
            return Err(S3Error::not_implemented(format!(
                "{what}: this operation or sub-resource is not implemented"
            )))
        }
        _ => {}
    }
    if let Some(b) = &target.bucket {
        ozfs::namespace::name::validate_resource_name(ozfs::error::NameKind::Bucket, b)
            .map_err(|e| S3Error::from(e).with_resource(b.clone()))?;
    }
    if let Some(k) = &target.key {
        ozfs::namespace::name::validate_key(k).map_err(S3Error::from)?;
    }
    let vhost = target.bucket.as_deref().filter(|_| target.virtual_host);
    let auth = crate::auth::authenticate(state, &parts, vhost).await?;
    what.user = auth.user.clone();
    // Anonymous requests are allowed exactly where an ACL grants it (see `handlers::Ctx::
    // enforce_acl`), with security on or off. The one exception is the bucket page with
    // security off: it is the server's own UI, and with security off anyone may act with any
    // access key, so the page (and its writes, which pass their own same-origin rule in
    // `browser_write`) is served as a signed request would be; its download links are
    // presigned (`handlers::browser`).
    let page =
        !state.cfg.secure && auth.user.is_none() && matches!(endpoint, Endpoint::Browser | Endpoint::BrowserWrite);
    let ctx = Ctx {
        state: state.clone(),
        headers: parts.headers,
        query,
        bucket: target.bucket,
        key: target.key,
        user: auth.user,
        region: auth.region,
        payload: auth.payload,
        page,
    };
    dispatch(&ctx, endpoint, body).await
}

async fn dispatch(ctx: &Ctx, e: Endpoint, body: ByteStream) -> Result<Response<RespBody>, S3Error> {
    use handlers::*;
    match e {
        Endpoint::ListBuckets => {
            if ctx.user.is_none() {
                if !ctx.state.cfg.secure && front::wants_html(ctx) {
                    return front::front_page(ctx).await;
                }
                return Err(S3Error::access_denied());
            }
            bucket::list_buckets(ctx).await
        }
        Endpoint::CreateBucket => bucket::create_bucket(ctx).await,
        Endpoint::HeadBucket => bucket::head_bucket(ctx).await,
        Endpoint::DeleteBucket => bucket::delete_bucket(ctx).await,
        Endpoint::GetBucketLocation => bucket::location(ctx).await,
        Endpoint::ListObjects { v2 } => list::list_objects(ctx, v2).await,
        Endpoint::ListObjectVersions => list::list_versions(ctx).await,
        Endpoint::GetBucketAcl => acl::get(ctx).await,
        Endpoint::PutBucketAcl => acl::put(ctx, body).await,
        Endpoint::GetBucketTagging => bucket_tagging::get(ctx).await,
        Endpoint::PutBucketTagging => bucket_tagging::put(ctx, body).await,
        Endpoint::DeleteBucketTagging => bucket_tagging::delete(ctx).await,
        Endpoint::GetBucketLifecycle => lifecycle::get(ctx).await,
        Endpoint::PutBucketLifecycle => lifecycle::put(ctx, body).await,
        Endpoint::DeleteBucketLifecycle => lifecycle::delete(ctx).await,
        Endpoint::GetObjectAcl => object_acl::get(ctx).await,
        Endpoint::PutObjectAcl => object_acl::put(ctx, body).await,
        Endpoint::ListMultipartUploads => multipart::list_uploads(ctx).await,
        Endpoint::DeleteObjects => delete::delete_objects(ctx, body).await,
        Endpoint::Browser => browser::browse(ctx).await,
        Endpoint::BrowserWrite => browser_write::write(ctx, body).await,
        Endpoint::GetObject => object_get::get_object(ctx).await,
        Endpoint::HeadObject => object_get::head_object(ctx).await,
        Endpoint::PutObject => object_put::put_object(ctx, body).await,
        Endpoint::CopyObject => copy::copy_object(ctx).await,
        Endpoint::DeleteObject => delete::delete_object(ctx).await,
        Endpoint::GetObjectTagging => tagging::get(ctx).await,
        Endpoint::PutObjectTagging => tagging::put(ctx, body).await,
        Endpoint::DeleteObjectTagging => tagging::delete(ctx).await,
        Endpoint::GetObjectAttributes => object_attributes::get(ctx).await,
        Endpoint::CreateMultipartUpload => multipart::create(ctx).await,
        Endpoint::UploadPart => multipart::upload_part(ctx, body).await,
        Endpoint::UploadPartCopy => multipart::upload_part_copy(ctx).await,
        Endpoint::CompleteMultipartUpload => multipart::complete(ctx, body).await,
        Endpoint::AbortMultipartUpload => multipart::abort(ctx).await,
        Endpoint::ListParts => multipart::list_parts(ctx).await,
        Endpoint::OtherService | Endpoint::NotImplemented(_) => {
            Err(S3Error::not_implemented("this operation is not implemented"))
        }
    }
}

/// The request target as the access log shows it: the values of query parameters that carry a
/// signature or a session token (presigned URLs) are replaced by `REDACTED`, so no credential
/// that could be replayed reaches a log.
fn redact_query(target: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let secret = |name: &str| {
        let n = name.to_ascii_lowercase();
        n == "x-amz-signature" || n == "signature" || n == "x-amz-security-token"
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if secret(k) => format!("{k}=REDACTED"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

#[cfg(test)]
mod redact_tests {
    use super::redact_query;

    #[test]
    fn signatures_and_tokens_are_redacted_in_the_access_log_target() {
        assert_eq!(redact_query("/b/k"), "/b/k");
        assert_eq!(
            redact_query("/b/k?X-Amz-Credential=a&X-Amz-Signature=deadbeef&X-Amz-Security-Token=t&uploads"),
            "/b/k?X-Amz-Credential=a&X-Amz-Signature=REDACTED&X-Amz-Security-Token=REDACTED&uploads"
        );
        assert_eq!(
            redact_query("/b/k?AWSAccessKeyId=a&Signature=abc%2B"),
            "/b/k?AWSAccessKeyId=a&Signature=REDACTED"
        );
    }
}
