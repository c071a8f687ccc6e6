//! SigV4 presigned URLs (query-string auth): only `host` is signed and the payload is
//! `UNSIGNED-PAYLOAD`, as botocore and the AWS CLI do.

use super::canonical::{self, uri_encode, SigningKey};
use super::signer::SigningParams;
use super::{amz_date, ALGORITHM, UNSIGNED_PAYLOAD};
use http::{HeaderMap, HeaderValue, Method};

/// The query string of a presigned URL: `raw_query` (as it will be sent, may be empty) followed
/// by `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
/// `X-Amz-SignedHeaders` and `X-Amz-Signature`. Build the URL as
/// `http://{host}{raw_path}?{result}`. `expires_secs` must be 1..=604800 for a server to accept
/// it. `host` is the `Host` header value the request will carry (`127.0.0.1:9878`).
pub fn presign(
    method: &Method,
    host: &str,
    raw_path: &str,
    raw_query: &str,
    expires_secs: u64,
    params: &SigningParams<'_>,
) -> String {
    let amz_date = amz_date::format(params.time);
    let scope = params.scope();
    let scope_string = scope.to_scope_string();
    let credential = format!("{}/{scope_string}", params.access_key);
    let mut query = String::from(raw_query);
    for (name, value) in [
        ("X-Amz-Algorithm", ALGORITHM.to_string()),
        ("X-Amz-Credential", credential),
        ("X-Amz-Date", amz_date.clone()),
        ("X-Amz-Expires", expires_secs.to_string()),
        ("X-Amz-SignedHeaders", "host".to_string()),
    ] {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(name);
        query.push('=');
        query.push_str(&uri_encode(value.as_bytes(), true));
    }
    let mut headers = HeaderMap::new();
    if let Ok(h) = HeaderValue::from_str(host) {
        headers.insert(http::header::HOST, h);
    }
    let canonical_request = canonical::canonical_request(
        method.as_str(),
        &canonical::canonical_uri(raw_path),
        &canonical::canonical_query(&query, &[]),
        &canonical::canonical_headers(&headers, &["host".to_string()]),
        "host",
        UNSIGNED_PAYLOAD,
    );
    let sts = canonical::string_to_sign(&amz_date, &scope_string, &canonical_request);
    let signature = SigningKey::for_scope(params.secret_key, &scope).sign(&sts);
    query.push_str("&X-Amz-Signature=");
    query.push_str(&signature);
    query
}
