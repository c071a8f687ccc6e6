//! `GET /prom` (the path of Ozone's S3 gateway) and `GET /metrics`: the process's metrics
//! ([`ozfs::metrics`]) in the Prometheus/OpenMetrics text format.
//!
//! Both paths are also valid bucket names, so the metrics answer only a request that no S3
//! client sends to a bucket: GET or HEAD, path style, exactly `/prom` or `/metrics` (no trailing
//! slash), no query string, and unsigned (no `Authorization` header). Every signed request,
//! every request with a query (`?list-type=2`, `?browser=true`, presigned URLs) and every
//! virtual-host request reaches the bucket as before; the only request taken is an anonymous
//! bare listing, which S3 clients never send (and which with security off is refused anyway).
//! The metrics are readable without credentials, like Prometheus exporters generally are.

use crate::body::RespBody;
use http::{HeaderValue, Method, Request, Response};

/// Is `req` a metrics scrape rather than a bucket request (see the module docs)?
pub fn is_metrics_request<B>(req: &Request<B>, domains: &[String]) -> bool {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return false;
    }
    let path = req.uri().path();
    if !(path == "/prom" || path == "/metrics") || req.uri().query().is_some() {
        return false;
    }
    if req.headers().contains_key(http::header::AUTHORIZATION) {
        return false;
    }
    // With virtual-host addressing `bucket.domain/metrics` is a key of that bucket.
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().host());
    !crate::router::target(host, path, domains).is_ok_and(|t| t.virtual_host)
}

/// The metrics response (no body for HEAD).
pub fn respond(head: bool) -> Response<RespBody> {
    let text = ozfs::metrics::render();
    let len = text.len();
    let mut r = Response::new(if head { RespBody::Empty } else { RespBody::full(text) });
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(ozfs::metrics::CONTENT_TYPE),
    );
    h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, uri: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn only_bare_unsigned_path_style_gets_count_as_scrapes() {
        let d = vec!["s3.local".to_string()];
        let host = [("host", "127.0.0.1:9878")];
        assert!(is_metrics_request(&req(Method::GET, "/prom", &host), &d));
        assert!(is_metrics_request(&req(Method::GET, "/metrics", &host), &d));
        assert!(is_metrics_request(&req(Method::HEAD, "/metrics", &host), &d));
        // Bucket requests on the same paths.
        assert!(!is_metrics_request(&req(Method::GET, "/prom/", &host), &d));
        assert!(!is_metrics_request(&req(Method::GET, "/prom?list-type=2", &host), &d));
        assert!(!is_metrics_request(
            &req(Method::GET, "/metrics?browser=true", &host),
            &d
        ));
        assert!(!is_metrics_request(&req(Method::PUT, "/metrics", &host), &d));
        assert!(!is_metrics_request(&req(Method::DELETE, "/prom", &host), &d));
        let signed = [
            ("host", "127.0.0.1:9878"),
            ("authorization", "AWS4-HMAC-SHA256 Credential=x"),
        ];
        assert!(!is_metrics_request(&req(Method::GET, "/prom", &signed), &d));
        // Virtual host: a key named `metrics` in bucket `b`.
        let vh = [("host", "b.s3.local:9878")];
        assert!(!is_metrics_request(&req(Method::GET, "/metrics", &vh), &d));
    }
}
