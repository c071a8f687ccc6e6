//! Client-side SigV4 header signing (the remote S3 store, tools, tests).
//!
//! [`sign_request`] signs every header the caller passes (which must include `host`) except
//! `authorization`, `user-agent`, `expect`, `transfer-encoding` and `x-amzn-trace-id` (the
//! ones proxies and client libraries change), plus the `x-amz-date` and `x-amz-content-sha256`
//! it adds itself. Send the path exactly as given (build it with
//! [`super::canonical::encode_path`]) so that what is sent is what is signed.

use super::canonical::{self, SigningKey};
use super::{amz_date, CredentialScope, ALGORITHM};
use http::{HeaderMap, HeaderValue, Method};
use std::time::SystemTime;

/// Who signs, for which region/service, at what time.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    /// `us-east-1` unless the endpoint says otherwise (Ozone accepts any region).
    pub region: &'a str,
    /// `s3`.
    pub service: &'a str,
    pub time: SystemTime,
}

impl SigningParams<'_> {
    /// The credential scope these parameters sign with.
    pub fn scope(&self) -> CredentialScope {
        CredentialScope {
            date: amz_date::date_stamp(self.time),
            region: self.region.to_string(),
            service: self.service.to_string(),
        }
    }
}

/// Headers excluded from signing.
const UNSIGNED: &[&str] = &[
    "authorization",
    "user-agent",
    "expect",
    "transfer-encoding",
    "x-amzn-trace-id",
];

/// The result of signing: the headers to add, and what a streaming (aws-chunked) upload needs to
/// sign its chunks ([`super::chunked::ChunkSigner`]).
#[derive(Debug, Clone)]
pub struct SigningOutput {
    /// `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`
    pub authorization: String,
    /// `20130524T000000Z`
    pub amz_date: String,
    /// The payload hash that was signed.
    pub content_sha256: String,
    /// The request signature (the seed signature of a chunked upload).
    pub signature: String,
    pub signing_key: SigningKey,
    /// `20130524/us-east-1/s3/aws4_request`
    pub scope: String,
    pub canonical_request: String,
    pub string_to_sign: String,
}

impl SigningOutput {
    /// Insert `authorization`, `x-amz-date` and `x-amz-content-sha256` into `headers`.
    pub fn apply(&self, headers: &mut HeaderMap) {
        // All three values are ASCII by construction (hex, digits, the access key was checked
        // by HeaderValue::from_str); an access key with control characters is left out.
        if let Ok(v) = HeaderValue::from_str(&self.authorization) {
            headers.insert(http::header::AUTHORIZATION, v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.amz_date) {
            headers.insert("x-amz-date", v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.content_sha256) {
            headers.insert("x-amz-content-sha256", v);
        }
    }
}

/// Sign a request with SigV4 header auth.
///
/// - `raw_path`: the path as it will be sent (percent-encoded), e.g. `/bucket/a%20b`.
/// - `raw_query`: the query as it will be sent, without `?` (`""` if none).
/// - `headers`: the headers that will be sent; must contain `host`. Any `x-amz-date` /
///   `x-amz-content-sha256` in it are replaced by the signed values.
/// - `payload_hash`: hex SHA-256 of the body, [`super::UNSIGNED_PAYLOAD`], or a
///   `STREAMING-...` keyword.
pub fn sign_request(
    method: &Method,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    payload_hash: &str,
    params: &SigningParams<'_>,
) -> SigningOutput {
    let amz_date = amz_date::format(params.time);
    let mut to_sign = headers.clone();
    for h in UNSIGNED {
        to_sign.remove(*h);
    }
    if let Ok(v) = HeaderValue::from_str(&amz_date) {
        to_sign.insert("x-amz-date", v);
    }
    if let Ok(v) = HeaderValue::from_str(payload_hash) {
        to_sign.insert("x-amz-content-sha256", v);
    }
    let mut names: Vec<String> = to_sign.keys().map(|k| k.as_str().to_string()).collect();
    names.sort();
    names.dedup();
    let signed_headers = names.join(";");
    let canonical_request = canonical::canonical_request(
        method.as_str(),
        &canonical::canonical_uri(raw_path),
        &canonical::canonical_query(raw_query, &[]),
        &canonical::canonical_headers(&to_sign, &names),
        &signed_headers,
        payload_hash,
    );
    let scope = params.scope();
    let scope_string = scope.to_scope_string();
    let string_to_sign = canonical::string_to_sign(&amz_date, &scope_string, &canonical_request);
    let signing_key = SigningKey::for_scope(params.secret_key, &scope);
    let signature = signing_key.sign(&string_to_sign);
    SigningOutput {
        authorization: format!(
            "{ALGORITHM} Credential={}/{scope_string}, SignedHeaders={signed_headers}, Signature={signature}",
            params.access_key
        ),
        amz_date,
        content_sha256: payload_hash.to_string(),
        signature,
        signing_key,
        scope: scope_string,
        canonical_request,
        string_to_sign,
    }
}
