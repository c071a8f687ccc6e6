//! S3 operation handlers, one file per operation or resource. Each handler parses what it needs
//! from the request context, calls the [`ozfs::ObjectStore`] and renders the reply; shared
//! pieces (access checks, header ↔ attribute mapping, XML replies) live here.

pub mod acl;
pub mod browser;
pub mod browser_write;
pub mod bucket;
pub mod bucket_tagging;
pub mod copy;
pub mod delete;
pub mod front;
pub mod lifecycle;
pub mod list;
pub mod multipart;
pub mod object_acl;
pub mod object_attributes;
pub mod object_get;
pub mod object_put;
pub mod tagging;

use crate::body::RespBody;
use crate::error::{S3Error, S3ErrorCode};
use crate::router::Query;
use crate::state::State;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use ozfs::{BucketInfo, BucketPath, ObjectAttrs, ObjectInfo};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The owner ID Ozone shows for every owner (sha256 of "ozone"); the DisplayName carries the
/// real owner name.
pub const OWNER_ID: &str = "bb2bd7ca4a327f84e6cd3979f8fa3828a50a08893c1b68f9d6715352c8d07b93";

/// Grantee name meaning "everyone, signed or not" (canned ACL `public-read`).
pub const ALL_USERS: &str = "AllUsers";
/// The URI S3 uses for the AllUsers group.
pub const ALL_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// Grantee name meaning "every signed request" (canned ACL `authenticated-read`).
pub const AUTH_USERS: &str = "AuthenticatedUsers";
/// The URI S3 uses for the AuthenticatedUsers group.
pub const AUTH_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// Total size limit of user metadata (names + values), as Ozone and S3: 2 KiB.
pub const MAX_USER_METADATA: usize = 2048;

/// Everything a handler knows about the request (the body is passed separately).
pub struct Ctx {
    pub state: Arc<State>,
    pub headers: HeaderMap,
    pub query: Query,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// The authenticated user; `None` for an anonymous request.
    pub user: Option<String>,
    /// The region the client signed for (GetBucketLocation answers it).
    pub region: Option<String>,
    /// How the request body must be decoded and checked.
    pub payload: ozfs::sigv4::PayloadMode,
    /// The bucket page's own request with security off (`?browser=true`, or a page write that
    /// passes its same-origin rule): served like a signed request although it carries no
    /// signature (see `service.rs`).
    pub page: bool,
}

/// What an operation needs on the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    /// Only the owner (DeleteBucket).
    Owner,
}

impl Ctx {
    pub fn bucket_name(&self) -> &str {
        self.bucket.as_deref().unwrap_or("")
    }
    pub fn key_name(&self) -> &str {
        self.key.as_deref().unwrap_or("")
    }
    pub fn bucket_path(&self) -> BucketPath {
        BucketPath::new(self.state.cfg.s3_volume.clone(), self.bucket_name())
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The user name new buckets and uploads are recorded under.
    pub fn owner_name(&self) -> String {
        self.user.clone().unwrap_or_else(|| "anonymous".to_string())
    }

    /// Are ACLs enforced for this request? Always with security on; with security off only for
    /// anonymous requests (a signed request with any key may do anything, as in Ozone), except
    /// the bucket page's own requests.
    pub fn enforce_acl(&self) -> bool {
        self.state.cfg.secure || (self.user.is_none() && !self.page)
    }

    /// Check that the requester may do `access` on the current bucket, and the
    /// `x-amz-expected-bucket-owner` condition. When ACLs are not enforced
    /// ([`Ctx::enforce_acl`]) only the condition is checked (and the bucket is not even looked
    /// up when there is none).
    pub async fn check_bucket(&self, access: Access) -> Result<Option<BucketInfo>, S3Error> {
        let expected = self.header("x-amz-expected-bucket-owner").map(str::to_string);
        self.check_named_bucket(&self.bucket_path(), access, expected.as_deref())
            .await
    }

    /// Check that the requester may do `access` on the current key: the bucket's ACL allows it,
    /// or else the object's own (its owner, or a grant in its ACL, e.g. `x-amz-acl:
    /// public-read` given at PutObject). A key that does not exist is AccessDenied on that
    /// second path, as S3 answers a caller without rights on the bucket.
    pub async fn check_key(&self, access: Access) -> Result<(), S3Error> {
        let denied = match self.check_bucket(access).await {
            Ok(_) => return Ok(()),
            Err(e) if e.code == S3ErrorCode::AccessDenied && self.header("x-amz-expected-bucket-owner").is_none() => e,
            Err(e) => return Err(e),
        };
        match self.state.store.head_object(&self.bucket_path(), self.key_name()).await {
            Ok(info) if grants_allow(&info.owner, &info.attrs.acl, self.user.as_deref(), access) => Ok(()),
            Ok(_) | Err(ozfs::Error::NoSuchKey(_)) => Err(denied),
            Err(e) => Err(e.into()),
        }
    }

    /// Same for another bucket (copy source).
    pub async fn check_named_bucket(
        &self,
        bucket: &BucketPath,
        access: Access,
        expected_owner: Option<&str>,
    ) -> Result<Option<BucketInfo>, S3Error> {
        let enforce = self.enforce_acl();
        if !enforce && expected_owner.is_none() {
            return Ok(None);
        }
        let info = self
            .state
            .store
            .bucket_info(bucket)
            .await
            .map_err(|e| S3Error::from(e).with_resource(bucket.bucket.clone()))?;
        if let Some(exp) = expected_owner {
            if exp != info.owner {
                return Err(S3Error::access_denied());
            }
        }
        if enforce && !allowed(&info, self.user.as_deref(), access) {
            return Err(S3Error::access_denied());
        }
        if enforce && info.link_target.is_some() && access != Access::Owner && access != Access::ReadAcp {
            self.check_link_target(bucket, access).await?;
        }
        Ok(Some(info))
    }

    /// Security on, a link: what goes through the link (keys, uploads, the ACL, which the store
    /// keeps on the real bucket) also needs the permission on the bucket it resolves to, as Ozone
    /// checks the source too. Without this the owner of a link to another user's bucket — or of a
    /// dangling link whose name another user later creates — could use that bucket without its
    /// owner's consent. A dangling link or a loop is left to the operation (NoSuchBucket, or the
    /// loop error), since bucket operations on a link act on the link itself.
    async fn check_link_target(&self, link: &BucketPath, access: Access) -> Result<(), S3Error> {
        let real = match self.state.store.resolve_bucket(link).await {
            Ok(r) => r,
            Err(ozfs::Error::NoSuchBucket(_) | ozfs::Error::LinkLoop(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let info = match self.state.store.bucket_info(&real).await {
            Ok(i) => i,
            Err(ozfs::Error::NoSuchBucket(_) | ozfs::Error::NoSuchVolume(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if !allowed(&info, self.user.as_deref(), access) {
            return Err(S3Error::access_denied());
        }
        Ok(())
    }
}

/// The bucket whose configuration (tags, lifecycle) a request reads or changes: the bucket the
/// request names, links followed. Only the owner may (as in S3, where an ACL grants no bucket
/// configuration permission); with security on, through a link the requester must also own the
/// bucket the link resolves to, so a link cannot reach into another user's bucket.
pub async fn config_bucket(ctx: &Ctx) -> Result<BucketPath, S3Error> {
    ctx.check_bucket(Access::Owner).await?;
    let path = ctx.bucket_path();
    let real = ctx
        .state
        .store
        .resolve_bucket(&path)
        .await
        .map_err(|e| S3Error::from(e).with_resource(ctx.bucket_name().to_string()))?;
    if ctx.state.cfg.secure && real != path {
        let info = ctx.state.store.bucket_info(&real).await?;
        if ctx.user.as_deref() != Some(info.owner.as_str()) {
            return Err(S3Error::access_denied());
        }
    }
    Ok(real)
}

/// May `user` (None = anonymous) do `access` on `bucket`? Owner may do anything; otherwise a
/// grant to the user (or to AllUsers, or to AuthenticatedUsers for a signed request) with that
/// permission or FULL_CONTROL.
pub fn allowed(bucket: &BucketInfo, user: Option<&str>, access: Access) -> bool {
    grants_allow(&bucket.owner, &bucket.acl, user, access)
}

/// The ACL rule shared by buckets and objects: `owner` may do anything; others need a grant.
pub fn grants_allow(owner: &str, acl: &[ozfs::Grant], user: Option<&str>, access: Access) -> bool {
    if user == Some(owner) {
        return true;
    }
    let want = match access {
        Access::Read => "READ",
        Access::Write => "WRITE",
        Access::ReadAcp => "READ_ACP",
        Access::WriteAcp => "WRITE_ACP",
        Access::Owner => return false,
    };
    acl.iter().any(|g| {
        let who =
            g.grantee == ALL_USERS || (g.grantee == AUTH_USERS && user.is_some()) || Some(g.grantee.as_str()) == user;
        who && (g.permission == want || g.permission == "FULL_CONTROL")
    })
}

/// A response with an XML body.
pub fn xml_response(status: StatusCode, body: Vec<u8>) -> Response<RespBody> {
    let mut r = Response::new(RespBody::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    r
}

/// An empty response.
pub fn empty_response(status: StatusCode) -> Response<RespBody> {
    let mut r = Response::new(RespBody::Empty);
    *r.status_mut() = status;
    r
}

/// Set a header from a string, skipping values that are not valid header values.
pub fn set_header(h: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        http::header::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        h.insert(n, v);
    }
}

/// A header value as text: UTF-8 when it is, else Latin-1 (what Python's http.client sends
/// for non-ASCII values, e.g. botocore's `x-amz-meta-*`).
pub fn header_text(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => b.iter().map(|&c| c as char).collect(),
    }
}

/// The bytes to send for a stored header text: Latin-1 when every character fits (so clients
/// that sent Latin-1 read back what they wrote), else UTF-8.
pub fn header_bytes(s: &str) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) < 256) {
        s.chars().map(|c| c as u32 as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

pub fn quote(etag: &str) -> String {
    format!("\"{etag}\"")
}

pub fn unquote(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// Standard headers kept with an object.
pub const STORED_HEADERS: &[&str] = &[
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

/// Storage classes accepted on writes.
const STORAGE_CLASSES: &[&str] = &["STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA"];

/// `Content-Encoding` without its `aws-chunked` token(s), which describe the transfer, not the
/// object: the other codings are kept exactly as sent (`aws-chunked, deflate, gzip` stores
/// `deflate, gzip`, as AWS does); only `aws-chunked` leaves nothing to store.
fn strip_aws_chunked(v: &str) -> String {
    v.split(',')
        .filter(|p| !p.trim().eq_ignore_ascii_case("aws-chunked"))
        .collect::<Vec<_>>()
        .join(",")
        .trim()
        .to_string()
}

/// Object attributes from request headers (PutObject, CreateMultipartUpload, CopyObject REPLACE).
pub fn attrs_from_headers(h: &HeaderMap) -> Result<ObjectAttrs, S3Error> {
    let mut a = ObjectAttrs {
        content_type: h
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string),
        ..Default::default()
    };
    for name in STORED_HEADERS {
        if let Some(v) = h.get(*name).and_then(|v| v.to_str().ok()) {
            let v = if *name == "content-encoding" {
                strip_aws_chunked(v)
            } else {
                v.to_string()
            };
            if !v.is_empty() {
                a.headers.insert((*name).to_string(), v);
            }
        }
    }
    let mut meta_size = 0usize;
    for (name, value) in h.iter() {
        if let Some(m) = name.as_str().strip_prefix("x-amz-meta-") {
            let v = header_text(value.as_bytes());
            meta_size += m.len() + v.len();
            a.user.insert(m.to_string(), v);
        }
    }
    if meta_size > MAX_USER_METADATA {
        return Err(S3Error::new(
            S3ErrorCode::MetadataTooLarge,
            format!("Your metadata headers exceed the maximum allowed metadata size of {MAX_USER_METADATA} bytes"),
        ));
    }
    if let Some(sc) = h.get("x-amz-storage-class").and_then(|v| v.to_str().ok()) {
        if !STORAGE_CLASSES.contains(&sc) {
            return Err(S3Error::new(
                S3ErrorCode::InvalidStorageClass,
                "The storage class you specified is not valid",
            ));
        }
        a.storage_class = Some(sc.to_string());
    }
    if let Some(t) = h.get("x-amz-tagging").and_then(|v| v.to_str().ok()) {
        a.tags = tagging::parse_tagging_header(t)?;
    }
    a.acl = acl::grants_from_headers(h)?.unwrap_or_default();
    Ok(a)
}

/// Headers describing an object, for GET and HEAD.
pub fn object_headers(h: &mut HeaderMap, info: &ObjectInfo, with_checksums: bool, query: &Query) {
    set_header(h, "etag", &quote(&info.etag));
    set_header(h, "last-modified", &ozfs::time::rfc1123(info.last_modified));
    set_header(
        h,
        "content-type",
        info.attrs.content_type.as_deref().unwrap_or("binary/octet-stream"),
    );
    for (k, v) in &info.attrs.headers {
        set_header(h, k, v);
    }
    for (k, v) in &info.attrs.user {
        if let (Ok(n), Ok(v)) = (
            http::header::HeaderName::from_bytes(format!("x-amz-meta-{k}").as_bytes()),
            HeaderValue::from_bytes(&header_bytes(v)),
        ) {
            h.insert(n, v);
        }
    }
    if !info.attrs.tags.is_empty() {
        set_header(h, "x-amz-tagging-count", &info.attrs.tags.len().to_string());
    }
    if !info.parts.is_empty() {
        set_header(h, "x-amz-mp-parts-count", &info.parts.len().to_string());
    }
    set_header(
        h,
        "x-amz-storage-class",
        info.attrs.storage_class.as_deref().unwrap_or("STANDARD"),
    );
    if with_checksums {
        checksum_headers(h, &info.attrs.checksums);
    }
    for (param, header) in [
        ("response-content-type", "content-type"),
        ("response-content-language", "content-language"),
        ("response-expires", "expires"),
        ("response-cache-control", "cache-control"),
        ("response-content-disposition", "content-disposition"),
        ("response-content-encoding", "content-encoding"),
    ] {
        if let Some(v) = query.get(param) {
            set_header(h, header, v);
        }
    }
}

/// `x-amz-checksum-<alg>` headers for stored checksums.
pub fn checksum_headers(h: &mut HeaderMap, sums: &BTreeMap<String, String>) {
    for (alg, v) in sums {
        set_header(h, &format!("x-amz-checksum-{alg}"), v);
        if v.contains('-') {
            set_header(h, "x-amz-checksum-type", "COMPOSITE");
        } else {
            set_header(h, "x-amz-checksum-type", "FULL_OBJECT");
        }
    }
}

/// Parse a `max-keys`-style integer parameter (`default` when absent; negative or not a
/// number is InvalidArgument; values above `cap` are clamped).
pub fn int_param(q: &Query, name: &str, default: usize, cap: usize) -> Result<usize, S3Error> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Ok((n as u64).min(cap as u64) as usize),
            _ => Err(S3Error::invalid_argument(format!(
                "Provided {name} not an integer or within integer range"
            ))),
        },
    }
}

/// Parse `x-amz-copy-source`: `[/]bucket/url-encoded-key[?versionId=null]`. The value is
/// URL-decoded as a form value: `+` is a space (AWS and Ozone's `URLDecoder` both read it so,
/// and goofys builds the header with Go's `url.QueryEscape`); a literal `+` arrives as `%2B`.
pub fn parse_copy_source(v: &str) -> Result<(String, String), S3Error> {
    let (path, query) = match v.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (v, None),
    };
    if let Some(q) = query {
        let q = Query::parse(Some(q))?;
        match q.get("versionId") {
            None | Some("null") => {}
            Some(_) => return Err(S3Error::invalid_argument("Invalid version id specified")),
        }
    }
    let decoded = crate::router::decode_path(&path.replace('+', " "))?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    match decoded.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok((b.to_string(), k.to_string())),
        _ => Err(S3Error::invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )),
    }
}

/// Evaluate GET/HEAD-style conditions against an object: `Some(status)` (304 or 412) when the
/// request must not be served. Rules as Ozone/S3: If-Match beats If-Unmodified-Since,
/// If-None-Match beats If-Modified-Since; dates compare at second precision; unparsable dates
/// are ignored.
pub fn read_conditions(h: &HeaderMap, info: &ObjectInfo) -> Option<StatusCode> {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    let lm = secs(info.last_modified);
    let etag_in = |list: &str| {
        list.split(',')
            .map(unquote)
            .any(|e| e == "*" || e == info.etag.as_str())
    };
    if let Some(m) = get("if-match") {
        if !etag_in(m) {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    } else if let Some(t) = get("if-unmodified-since").and_then(ozfs::time::parse_http_date) {
        if lm > secs(t) {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    }
    if let Some(m) = get("if-none-match") {
        if etag_in(m) {
            return Some(StatusCode::NOT_MODIFIED);
        }
    } else if let Some(t) = get("if-modified-since").and_then(ozfs::time::parse_http_date) {
        if lm <= secs(t) {
            return Some(StatusCode::NOT_MODIFIED);
        }
    }
    None
}

/// Destination write condition from `If-None-Match: *` / `If-Match: etag`.
pub fn write_condition(h: &HeaderMap) -> Result<ozfs::WriteCondition, S3Error> {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    match (get("if-none-match"), get("if-match")) {
        (None, None) => Ok(ozfs::WriteCondition::None),
        (Some("*"), None) => Ok(ozfs::WriteCondition::IfNoneMatch),
        (Some(_), None) => Err(S3Error::new(
            S3ErrorCode::NotImplemented,
            "If-None-Match on writes supports only '*'",
        )),
        (None, Some(e)) if !e.is_empty() => Ok(ozfs::WriteCondition::IfMatch(unquote(e).to_string())),
        _ => Err(S3Error::invalid_request("Invalid combination of conditional headers")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn info() -> ObjectInfo {
        ObjectInfo {
            key: "k".into(),
            size: 1,
            etag: "abc".into(),
            last_modified: UNIX_EPOCH + Duration::from_secs(1_000_000),
            version: 1,
            owner: "o".into(),
            attrs: ObjectAttrs::default(),
            parts: vec![],
            part_numbers: vec![],
        }
    }

    fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            set_header(&mut h, k, v);
        }
        h
    }

    #[test]
    fn conditions() {
        let i = info();
        let before = ozfs::time::rfc1123(UNIX_EPOCH + Duration::from_secs(999_000));
        let after = ozfs::time::rfc1123(UNIX_EPOCH + Duration::from_secs(1_001_000));
        assert_eq!(read_conditions(&hm(&[("if-match", "\"abc\"")]), &i), None);
        assert_eq!(read_conditions(&hm(&[("if-match", "x, *")]), &i), None);
        assert_eq!(
            read_conditions(&hm(&[("if-match", "\"x\"")]), &i),
            Some(StatusCode::PRECONDITION_FAILED)
        );
        assert_eq!(
            read_conditions(&hm(&[("if-none-match", "\"abc\"")]), &i),
            Some(StatusCode::NOT_MODIFIED)
        );
        assert_eq!(
            read_conditions(&hm(&[("if-modified-since", &after)]), &i),
            Some(StatusCode::NOT_MODIFIED)
        );
        assert_eq!(read_conditions(&hm(&[("if-modified-since", &before)]), &i), None);
        assert_eq!(
            read_conditions(&hm(&[("if-unmodified-since", &before)]), &i),
            Some(StatusCode::PRECONDITION_FAILED)
        );
        assert_eq!(read_conditions(&hm(&[("if-unmodified-since", "garbage")]), &i), None);
        // If-Match wins over If-Unmodified-Since.
        assert_eq!(
            read_conditions(&hm(&[("if-match", "abc"), ("if-unmodified-since", &before)]), &i),
            None
        );
    }

    #[test]
    fn copy_source() {
        assert_eq!(parse_copy_source("/b/a%2Bb").unwrap(), ("b".into(), "a+b".into()));
        // `+` is a space, as AWS and Ozone decode it (goofys TestIssue162).
        assert_eq!(
            parse_copy_source("b/issue162/dir+1/f").unwrap(),
            ("b".into(), "issue162/dir 1/f".into())
        );
        assert_eq!(
            parse_copy_source("b/d/k?versionId=null").unwrap(),
            ("b".into(), "d/k".into())
        );
        assert!(parse_copy_source("nokey").is_err());
        assert!(parse_copy_source("b/k?versionId=123").is_err());
    }

    #[test]
    fn aws_chunked_stripped_rest_verbatim() {
        assert_eq!(strip_aws_chunked("aws-chunked, deflate, gzip"), "deflate, gzip");
        assert_eq!(strip_aws_chunked("aws-chunked,gzip"), "gzip");
        assert_eq!(strip_aws_chunked("deflate, aws-chunked, gzip"), "deflate, gzip");
        assert_eq!(strip_aws_chunked("gzip, AWS-Chunked"), "gzip");
        assert_eq!(strip_aws_chunked("aws-chunked"), "");
        assert_eq!(strip_aws_chunked("gzip"), "gzip");
        let a = attrs_from_headers(&hm(&[("content-encoding", "aws-chunked")])).unwrap();
        assert!(!a.headers.contains_key("content-encoding"));
        let a = attrs_from_headers(&hm(&[("content-encoding", "aws-chunked, deflate, gzip")])).unwrap();
        assert_eq!(
            a.headers.get("content-encoding").map(String::as_str),
            Some("deflate, gzip")
        );
    }

    #[test]
    fn attrs_and_metadata_limit() {
        let a = attrs_from_headers(&hm(&[
            ("content-type", "text/plain"),
            ("content-encoding", "aws-chunked,gzip"),
            ("x-amz-meta-color", "blue"),
            ("x-amz-tagging", "a=1&b"),
        ]))
        .unwrap();
        assert_eq!(a.content_type.as_deref(), Some("text/plain"));
        assert_eq!(a.headers.get("content-encoding").map(String::as_str), Some("gzip"));
        assert_eq!(a.user.get("color").map(String::as_str), Some("blue"));
        assert_eq!(a.tags.len(), 2);
        let big = "x".repeat(2100);
        assert_eq!(
            attrs_from_headers(&hm(&[("x-amz-meta-big", &big)])).unwrap_err().code,
            S3ErrorCode::MetadataTooLarge
        );
        assert_eq!(
            attrs_from_headers(&hm(&[("x-amz-storage-class", "GLACIER")]))
                .unwrap_err()
                .code,
            S3ErrorCode::InvalidStorageClass
        );
    }

    #[test]
    fn latin1_header_round_trip() {
        assert_eq!(header_text(b"M\xfcller"), "M\u{fc}ller");
        assert_eq!(header_text("M\u{fc}ller".as_bytes()), "M\u{fc}ller");
        assert_eq!(header_bytes("M\u{fc}ller"), b"M\xfcller");
        assert_eq!(header_bytes("\u{4e2d}"), "\u{4e2d}".as_bytes());
    }

    proptest::proptest! {
        /// Every parser that sees request-derived text (path, Host, query, headers, XML bodies)
        /// answers Ok or an S3 error for arbitrary input, never a panic.
        #[test]
        fn request_parsers_never_panic(
            path in "/\\PC{0,40}",
            host in "\\PC{0,30}",
            query in "\\PC{0,60}",
            text in "\\PC{0,60}",
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            m in proptest::sample::select(vec!["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"]),
        ) {
            let domains = ["s3.local".to_string(), ".x.s3.local".to_string()];
            let hosts = [Some(host.as_str()), Some("b.s3.local"), None];
            for h in hosts {
                if let (Ok(t), Ok(q)) = (crate::router::target(h, &path, &domains), Query::parse(Some(&query))) {
                    let e = crate::router::route(&http::Method::from_bytes(m.as_bytes()).unwrap(), &t, &q);
                    let _ = crate::router::refine_copy(e, true);
                    let _ = int_param(&q, "max-keys", 1000, 1000);
                }
            }
            let _ = object_get::parse_range(&text);
            let _ = object_get::parse_range(&format!("bytes={text}"));
            let _ = parse_copy_source(&text);
            let _ = list::decode_token(&text);
            let _ = tagging::parse_tagging_header(&text);
            for doc in [raw.as_slice(), text.as_bytes()] {
                let _ = tagging::parse_tagging_xml(doc, tagging::MAX_BUCKET_TAGS);
                let _ = ozfs::lifecycle::parse(doc);
                let _ = multipart::parse_complete(doc);
                let _ = ozfs::xml::parse(doc);
            }
            let wrapped = format!("<CompleteMultipartUpload><Part><PartNumber>{text}</PartNumber><ETag>{text}</ETag></Part></CompleteMultipartUpload>");
            let _ = multipart::parse_complete(wrapped.as_bytes());
            let mut h = HeaderMap::new();
            for name in ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "x-amz-meta-a",
                         "content-type", "x-amz-tagging", "x-amz-storage-class", "content-encoding"] {
                if let Ok(v) = HeaderValue::from_bytes(&raw) {
                    h.insert(name, v);
                }
            }
            let _ = attrs_from_headers(&h);
            let _ = read_conditions(&h, &info());
            let _ = write_condition(&h);
        }
    }

    #[test]
    fn int_params() {
        let q = Query::parse(Some("max-keys=5000&a=-1&b=x")).unwrap();
        assert_eq!(int_param(&q, "max-keys", 1000, 1000).unwrap(), 1000);
        assert_eq!(int_param(&q, "none", 1000, 1000).unwrap(), 1000);
        assert!(int_param(&q, "a", 1, 1).is_err());
        assert!(int_param(&q, "b", 1, 1).is_err());
    }
}
