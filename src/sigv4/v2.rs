//! SigV2 (`Authorization: AWS AK:base64(hmac-sha1)` and presigned
//! `?AWSAccessKeyId=AK&Expires=<unix>&Signature=<base64>`), which goofys falls back to.
//!
//! String to sign:
//! ```text
//! METHOD\nContent-MD5\nContent-Type\nDate\n<x-amz-* headers>\n...<canonical resource>
//! ```
//! - `Date` is the `Date` header, empty when `x-amz-date` is present, and the `Expires` value
//!   for presigned URLs.
//! - Each `x-amz-*` header (also `x-amz-date`) as `name:value\n`: lower-case name, sorted, values
//!   trimmed (inner whitespace kept, as botocore and aws-sdk-go do) and comma-joined when repeated.
//! - Canonical resource: `/bucket` (virtual-host style only) + the path + the S3 sub-resources
//!   present in the query (`acl`, `uploads`, `uploadId=`, `partNumber=`, `delete`, `tagging`,
//!   `versionId=`, `response-*` overrides, ...), sorted, `?a&b=c`.
//!
//! Clients differ in small ways: botocore signs the path and sub-resource values as sent
//! (still encoded) with decoded sub-resource values, aws-sdk-go signs the path and values
//! re-encoded, goofys signs the path escaped the Go way (`$&+,:;=@` kept), and AWS documents
//! decoded `response-*` values. The verifier
//! therefore accepts any of a few candidate strings to sign ([`candidate_resources`]); the
//! first is the AWS-documented one.

use super::auth::{query_param, DeclaredPayload, ParsedAuth, RequestParts, Scheme};
use super::canonical::{self, uri_encode};
use super::{amz_date, AuthError};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha1::Sha1;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The query parameters that are part of the SigV2 canonical resource: botocore's list, which
/// contains the AWS-documented ones and every one aws-sdk-go / goofys signs.
pub const SUB_RESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// Base64 HMAC-SHA1 of `string_to_sign` with `secret`.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

fn header_text(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .map(|v| canonical::header_text(v.as_bytes()).trim().to_string())
        .unwrap_or_default()
}

/// The canonicalized `x-amz-*` headers block (each line ends with `\n`).
pub fn canonical_amz_headers(headers: &HeaderMap) -> String {
    let mut names: Vec<&str> = headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("x-amz-"))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut out = String::new();
    for name in names {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| canonical::header_text(v.as_bytes()).trim().to_string())
            .collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out
}

/// How a canonical resource renders the path and the sub-resource values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceStyle {
    /// Path and values exactly as sent (botocore, s3cmd).
    AsSent,
    /// Path as sent, values decoded (the AWS SigV2 documentation).
    DecodedValues,
    /// Path decoded then re-encoded (AWS `UriEncode`), values decoded (`+` as a space, as Go's
    /// `ParseQuery`) then re-encoded (aws-sdk-go's SigV2 signer).
    Reencoded,
    /// Like [`ResourceStyle::Reencoded`], but the path re-encoded the way Go's
    /// `url.URL.EscapedPath` does (keeping `$&+,:;=@`): what goofys's own SigV2 signer signs.
    GoEscapedPath,
}

/// Go's `url.URL{Path: p}.EscapedPath()`: everything but `A-Z a-z 0-9 - _ . ~` and
/// `$ & + , / : ; = @` as `%XX`.
pub fn go_escape_path(decoded: &[u8]) -> String {
    let mut out = String::with_capacity(decoded.len() + 8);
    for &b in decoded {
        if b.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical resource of a request for one [`ResourceStyle`].
pub fn canonical_resource(
    raw_path: &str,
    raw_query: &str,
    virtual_host_bucket: Option<&str>,
    style: ResourceStyle,
) -> String {
    let mut out = String::new();
    if let Some(b) = virtual_host_bucket {
        out.push('/');
        out.push_str(b);
    }
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    match style {
        ResourceStyle::AsSent | ResourceStyle::DecodedValues => out.push_str(path),
        ResourceStyle::Reencoded => out.push_str(&canonical::canonical_uri(path)),
        ResourceStyle::GoEscapedPath => out.push_str(&go_escape_path(
            &percent_encoding::percent_decode_str(path).collect::<Vec<u8>>(),
        )),
    }
    let mut subs: Vec<(String, Option<String>)> = Vec::new();
    for seg in raw_query.split('&').filter(|s| !s.is_empty()) {
        let (raw_name, raw_value) = match seg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (seg, None),
        };
        let name = percent_encoding::percent_decode_str(raw_name)
            .decode_utf8_lossy()
            .into_owned();
        if !SUB_RESOURCES.contains(&name.as_str()) {
            continue;
        }
        let value = raw_value.filter(|v| !v.is_empty()).map(|v| match style {
            ResourceStyle::AsSent => v.to_string(),
            ResourceStyle::DecodedValues => percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned(),
            ResourceStyle::Reencoded | ResourceStyle::GoEscapedPath => uri_encode(
                &percent_encoding::percent_decode_str(&v.replace('+', " ")).collect::<Vec<u8>>(),
                true,
            ),
        });
        subs.push((name, value));
    }
    subs.sort();
    for (i, (name, value)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(name);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// The canonical resources to try, AWS-documented first, without duplicates: every
/// [`ResourceStyle`]s, and for a path-style bucket request `/bucket` also `/bucket/`.
pub fn candidate_resources(raw_path: &str, raw_query: &str, virtual_host_bucket: Option<&str>) -> Vec<String> {
    let mut paths = vec![raw_path.to_string()];
    // A path-style bucket request (`/bucket`): botocore and AWS sign `/bucket/`.
    if virtual_host_bucket.is_none() && raw_path.len() > 1 && raw_path.starts_with('/') && !raw_path[1..].contains('/')
    {
        paths.push(format!("{raw_path}/"));
    }
    let mut out: Vec<String> = Vec::new();
    for path in &paths {
        for style in [
            ResourceStyle::DecodedValues,
            ResourceStyle::AsSent,
            ResourceStyle::Reencoded,
            ResourceStyle::GoEscapedPath,
        ] {
            let r = canonical_resource(path, raw_query, virtual_host_bucket, style);
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out
}

/// The SigV2 string to sign. `date_line` is the `Date` header (empty when `x-amz-date` is
/// present) or, for presigned URLs, the `Expires` value.
pub fn string_to_sign(method: &str, headers: &HeaderMap, date_line: &str, canonical_resource: &str) -> String {
    format!(
        "{method}\n{}\n{}\n{date_line}\n{}{canonical_resource}",
        header_text(headers, "content-md5"),
        header_text(headers, "content-type"),
        canonical_amz_headers(headers)
    )
}

/// Client side: the `Authorization` header value (`AWS AK:sig`) for a request whose headers
/// already hold `Date` or `x-amz-date`. `raw_path`/`raw_query` are as they will be sent.
pub fn authorization(
    access_key: &str,
    secret: &str,
    method: &str,
    headers: &HeaderMap,
    raw_path: &str,
    raw_query: &str,
    virtual_host_bucket: Option<&str>,
) -> String {
    let resource = canonical_resource(raw_path, raw_query, virtual_host_bucket, ResourceStyle::AsSent);
    let sts = string_to_sign(method, headers, &date_line(headers), &resource);
    format!("AWS {access_key}:{}", sign(secret, &sts))
}

fn date_line(headers: &HeaderMap) -> String {
    if headers.contains_key("x-amz-date") {
        String::new()
    } else {
        header_text(headers, "date")
    }
}

fn strings_to_sign(req: &RequestParts<'_>, date_line: &str) -> Vec<String> {
    candidate_resources(req.raw_path, req.raw_query, req.virtual_host_bucket)
        .iter()
        .map(|r| string_to_sign(req.method.as_str(), req.headers, date_line, r))
        .collect()
}

/// Parse `AK:signature` (what follows `AWS ` in the header).
pub(crate) fn parse_header(req: &RequestParts<'_>, rest: &str) -> Result<ParsedAuth, AuthError> {
    let (access_key, signature) = rest.trim().rsplit_once(':').ok_or_else(|| {
        AuthError::MalformedHeader("a SigV2 Authorization header is `AWS AccessKey:Signature`".into())
    })?;
    if access_key.is_empty() || signature.is_empty() {
        return Err(AuthError::MalformedHeader("empty access key or signature".into()));
    }
    let date_text = match req
        .headers
        .get("x-amz-date")
        .or_else(|| req.headers.get(http::header::DATE))
    {
        Some(v) => canonical::header_text(v.as_bytes()).trim().to_string(),
        None => return Err(AuthError::MissingDate),
    };
    let request_time = amz_date::parse_any(&date_text).ok_or(AuthError::InvalidDate(date_text))?;
    Ok(ParsedAuth {
        access_key: access_key.to_string(),
        scheme: Scheme::V2Header,
        credential: None,
        signature: signature.to_string(),
        amz_date: String::new(),
        strings_to_sign: strings_to_sign(req, &date_line(req.headers)),
        canonical_request: String::new(),
        request_time,
        expires: None,
        payload: DeclaredPayload::Unsigned,
        unsigned_headers: Vec::new(),
    })
}

/// Parse `?AWSAccessKeyId=&Expires=&Signature=`.
pub(crate) fn parse_query(req: &RequestParts<'_>, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<ParsedAuth, AuthError> {
    let required = |name: &str| {
        query_param(pairs, name).filter(|v| !v.is_empty()).ok_or_else(|| {
            AuthError::MalformedQuery(format!("Query-string authentication requires the {name} parameter"))
        })
    };
    let access_key = required("AWSAccessKeyId")?;
    // Base64 has no spaces: a `+` the client left unencoded was read as a space.
    let signature = required("Signature")?.replace(' ', "+");
    let expires_text = required("Expires")?;
    let expires: u64 = expires_text
        .trim()
        .parse()
        .map_err(|_| AuthError::MalformedQuery(format!("Expires should be a number, got {expires_text:?}")))?;
    // `SystemTime + Duration` panics past the platform's range: a huge `Expires` is malformed.
    let expires_at = UNIX_EPOCH
        .checked_add(Duration::from_secs(expires))
        .ok_or_else(|| AuthError::MalformedQuery(format!("Expires is out of range: {expires_text:?}")))?;
    Ok(ParsedAuth {
        access_key,
        scheme: Scheme::V2Presigned,
        credential: None,
        signature,
        amz_date: String::new(),
        strings_to_sign: strings_to_sign(req, expires_text.trim()),
        canonical_request: String::new(),
        request_time: expires_at,
        expires: Some(expires_at),
        payload: DeclaredPayload::Unsigned,
        unsigned_headers: Vec::new(),
    })
}

/// Client side / tests: the query string (existing query + `AWSAccessKeyId`, `Expires`,
/// `Signature`) of a SigV2 presigned URL valid until `expires`.
pub fn presign(
    access_key: &str,
    secret: &str,
    method: &str,
    raw_path: &str,
    raw_query: &str,
    virtual_host_bucket: Option<&str>,
    expires: SystemTime,
) -> String {
    let secs = expires
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string();
    let resource = canonical_resource(raw_path, raw_query, virtual_host_bucket, ResourceStyle::AsSent);
    let sts = string_to_sign(method, &HeaderMap::new(), &secs, &resource);
    let sig = sign(secret, &sts);
    let mut q = String::from(raw_query);
    if !q.is_empty() {
        q.push('&');
    }
    q.push_str(&format!(
        "AWSAccessKeyId={}&Expires={secs}&Signature={}",
        uri_encode(access_key.as_bytes(), true),
        uri_encode(sig.as_bytes(), true)
    ));
    q
}
