//! What RemoteStore's operations share on the wire, whatever the operation: object
//! attributes to and from S3 headers, conditional-write and copy-source headers, ETags, and the
//! page-cache identity of a remote object. Depends on `client.rs` only (for header reading and
//! S3 URI encoding), so every operation file can use it without a cycle.

use super::client::{header_str, uri_encode};
use crate::store::{ObjectAttrs, ObjectInfo, WriteCondition};
use http::{HeaderMap, HeaderName};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// The page-cache identity of a remote object.
pub(super) fn version_of(bucket: &str, key: &str, etag: &str, size: u64, last_modified: SystemTime) -> u64 {
    let secs = last_modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut h = Sha256::new();
    for part in [bucket.as_bytes(), key.as_bytes(), etag.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(size.to_be_bytes());
    h.update(secs.to_be_bytes());
    let d = h.finalize();
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Strip the quotes of an ETag.
pub(super) fn unquote(etag: &str) -> String {
    etag.trim().trim_start_matches("W/").trim_matches('"').to_string()
}

/// Standard headers kept in [`ObjectAttrs::headers`].
const STANDARD_HEADERS: [&str; 5] = [
    "cache-control",
    "content-encoding",
    "content-disposition",
    "content-language",
    "expires",
];

/// Attributes from the headers of a GET or HEAD answer.
pub(super) fn attrs_from_headers(h: &HeaderMap) -> ObjectAttrs {
    let mut attrs = ObjectAttrs {
        content_type: header_str(h, "content-type").map(str::to_string),
        storage_class: header_str(h, "x-amz-storage-class").map(str::to_string),
        ..ObjectAttrs::default()
    };
    for name in STANDARD_HEADERS {
        if let Some(v) = header_str(h, name) {
            attrs.headers.insert(name.to_string(), v.to_string());
        }
    }
    for (name, value) in h {
        let n = name.as_str();
        if let (Some(meta), Ok(v)) = (n.strip_prefix("x-amz-meta-"), value.to_str()) {
            attrs.user.insert(meta.to_string(), v.to_string());
        } else if let (Some(alg), Ok(v)) = (n.strip_prefix("x-amz-checksum-"), value.to_str()) {
            if alg != "type" {
                attrs.checksums.insert(alg.to_string(), v.to_string());
            }
        }
    }
    attrs
}

/// Request headers carrying `attrs` (PUT, multipart create, copy with REPLACE).
pub(super) fn attrs_to_headers(attrs: &ObjectAttrs) -> Vec<(HeaderName, String)> {
    let mut out = Vec::new();
    if let Some(ct) = &attrs.content_type {
        out.push((http::header::CONTENT_TYPE, ct.clone()));
    }
    for (n, v) in &attrs.headers {
        if let Ok(name) = HeaderName::from_bytes(n.as_bytes()) {
            out.push((name, v.clone()));
        }
    }
    for (n, v) in &attrs.user {
        if let Ok(name) = HeaderName::from_bytes(format!("x-amz-meta-{n}").as_bytes()) {
            out.push((name, v.clone()));
        }
    }
    if let Some(sc) = &attrs.storage_class {
        out.push((HeaderName::from_static("x-amz-storage-class"), sc.clone()));
    }
    if !attrs.tags.is_empty() {
        out.push((HeaderName::from_static("x-amz-tagging"), tagging(&attrs.tags)));
    }
    out
}

/// The `x-amz-tagging` value of `tags`: `k1=v1&k2=v2`, URI-encoded.
pub(super) fn tagging(tags: &BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `x-amz-copy-source` value: `/bucket/key`, key URI-encoded (CopyObject, UploadPartCopy).
pub(super) fn copy_source(bucket: &str, key: &str) -> String {
    format!("/{}/{}", bucket, uri_encode(key, true))
}

/// Conditional-write headers.
pub(super) fn condition_headers(c: &WriteCondition) -> Vec<(HeaderName, String)> {
    match c {
        WriteCondition::None => vec![],
        WriteCondition::IfNoneMatch => vec![(http::header::IF_NONE_MATCH, "*".into())],
        WriteCondition::IfMatch(e) => vec![(http::header::IF_MATCH, format!("\"{e}\""))],
    }
}

/// Info of `key` from the headers of a HEAD/GET answer. The size is the full object size
/// (from `Content-Range` on a partial answer).
pub(super) fn info_from_headers(bucket: &str, key: &str, h: &HeaderMap, owner: &str) -> ObjectInfo {
    let size = header_str(h, "content-range")
        .and_then(|cr| cr.rsplit('/').next())
        .and_then(|t| t.trim().parse::<u64>().ok())
        .or_else(|| header_str(h, "content-length").and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0);
    let etag = header_str(h, "etag").map(unquote).unwrap_or_default();
    let last_modified = header_str(h, "last-modified")
        .and_then(crate::time::parse_http_date)
        .unwrap_or(UNIX_EPOCH);
    ObjectInfo {
        key: key.to_string(),
        size,
        version: version_of(bucket, key, &etag, size, last_modified),
        etag,
        last_modified,
        owner: owner.to_string(),
        attrs: attrs_from_headers(h),
        parts: Vec::new(),
        part_numbers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn version_is_stable_per_identity_and_ignores_subseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_767_607_872_345);
        let t2 = UNIX_EPOCH + Duration::from_secs(1_767_607_872);
        assert_eq!(version_of("b", "k", "e", 5, t), version_of("b", "k", "e", 5, t2));
        assert_ne!(version_of("b", "k", "e", 5, t), version_of("b", "k", "e", 6, t));
        assert_ne!(version_of("b", "k", "e", 5, t), version_of("b", "k2", "e", 5, t));
        assert_ne!(version_of("b", "ke", "", 5, t), version_of("b", "k", "e", 5, t));
    }
}
