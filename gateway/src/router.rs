//! Request routing: from method, Host, path and query to one [`Endpoint`].
//!
//! Addressing: path style (`/bucket/key`) always; virtual-host style (`bucket.domain/key`) as
//! well when domains are configured — the longest configured domain that the Host ends with
//! wins, a Host equal to a domain (or matching none, e.g. `127.0.0.1`) is path style.
//!
//! Sub-resources are query parameters such as `acl`, `tagging`, `uploads`. Every query name that
//! is not an ordinary parameter of some operation (listing, multipart, response overrides,
//! presigned auth) counts as a sub-resource; a sub-resource we do not implement is
//! [`Endpoint::NotImplemented`] — never a fall-through to another operation (Ozone's
//! `DELETE /b?cors` deletes the bucket; ours answers 501).

use crate::error::{S3Error, S3ErrorCode};
use http::Method;
use percent_encoding::percent_decode_str;

/// Decoded query parameters, in request order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub pairs: Vec<(String, String)>,
}

impl Query {
    /// Parse a raw query string (`a=1&b&c=%20`): `+` is a space, `%XX` decoded, invalid UTF-8
    /// is an error.
    pub fn parse(raw: Option<&str>) -> Result<Query, S3Error> {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode_query(k)?, decode_query(v)?));
        }
        Ok(Query { pairs })
    }

    /// First value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }
}

fn decode_query(s: &str) -> Result<String, S3Error> {
    let plus = s.replace('+', " ");
    percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| S3Error::new(S3ErrorCode::InvalidURI, "Couldn't parse the specified URI."))
}

/// Decode a request path (no `+` rule in paths).
pub fn decode_path(s: &str) -> Result<String, S3Error> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| S3Error::new(S3ErrorCode::InvalidURI, "Couldn't parse the specified URI."))
}

/// What the request addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// True when the bucket came from the Host header.
    pub virtual_host: bool,
}

/// Strip the port from a Host value (IPv6 aware) and lower-case it.
fn host_name(host: &str) -> String {
    let h = host.trim();
    let name = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        h.rsplit_once(':').map(|(n, _)| n).unwrap_or(h)
    };
    name.to_ascii_lowercase()
}

/// Work out bucket and key from Host and the (still encoded) path.
pub fn target(host: Option<&str>, raw_path: &str, domains: &[String]) -> Result<Target, S3Error> {
    let path = decode_path(raw_path)?;
    let path = path.strip_prefix('/').unwrap_or(&path);
    if let Some(host) = host.filter(|_| !domains.is_empty()) {
        let h = host_name(host);
        let best = domains
            .iter()
            .map(|d| d.trim_start_matches('.').to_ascii_lowercase())
            .filter(|d| h.len() > d.len() + 1 && h.ends_with(d.as_str()) && h.as_bytes()[h.len() - d.len() - 1] == b'.')
            .max_by_key(|d| d.len());
        if let Some(d) = best {
            let bucket = h[..h.len() - d.len() - 1].to_string();
            let key = (!path.is_empty()).then(|| path.to_string());
            return Ok(Target {
                bucket: Some(bucket),
                key,
                virtual_host: true,
            });
        }
    }
    if path.is_empty() {
        return Ok(Target::default());
    }
    let (b, k) = match path.split_once('/') {
        Some((b, k)) => (b, (!k.is_empty()).then(|| k.to_string())),
        None => (path, None),
    };
    Ok(Target {
        bucket: Some(b.to_string()),
        key: k,
        virtual_host: false,
    })
}

/// The operation a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    ListBuckets,
    /// A request for another AWS service (IAM/STS form posts, ...).
    OtherService,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    ListObjects {
        v2: bool,
    },
    ListObjectVersions,
    GetBucketLocation,
    GetBucketAcl,
    PutBucketAcl,
    GetBucketTagging,
    PutBucketTagging,
    DeleteBucketTagging,
    GetBucketLifecycle,
    PutBucketLifecycle,
    DeleteBucketLifecycle,
    GetObjectAcl,
    PutObjectAcl,
    ListMultipartUploads,
    DeleteObjects,
    Browser,
    /// An upload or a new folder from the bucket page (`POST /bucket/key?browser=…`).
    BrowserWrite,
    GetObject,
    HeadObject,
    PutObject,
    CopyObject,
    DeleteObject,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    GetObjectAttributes,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    /// A sub-resource or method we do not implement (the name is reported in the message).
    NotImplemented(String),
}

impl Endpoint {
    /// Name for logs.
    pub fn name(&self) -> &str {
        match self {
            Endpoint::NotImplemented(s) => s,
            other => endpoint_name(other),
        }
    }
}

fn endpoint_name(e: &Endpoint) -> &'static str {
    match e {
        Endpoint::ListBuckets => "ListBuckets",
        Endpoint::OtherService => "OtherService",
        Endpoint::CreateBucket => "CreateBucket",
        Endpoint::HeadBucket => "HeadBucket",
        Endpoint::DeleteBucket => "DeleteBucket",
        Endpoint::ListObjects { v2: false } => "ListObjects",
        Endpoint::ListObjects { v2: true } => "ListObjectsV2",
        Endpoint::ListObjectVersions => "ListObjectVersions",
        Endpoint::GetBucketLocation => "GetBucketLocation",
        Endpoint::GetBucketAcl => "GetBucketAcl",
        Endpoint::PutBucketAcl => "PutBucketAcl",
        Endpoint::GetBucketTagging => "GetBucketTagging",
        Endpoint::PutBucketTagging => "PutBucketTagging",
        Endpoint::DeleteBucketTagging => "DeleteBucketTagging",
        Endpoint::GetBucketLifecycle => "GetBucketLifecycleConfiguration",
        Endpoint::PutBucketLifecycle => "PutBucketLifecycleConfiguration",
        Endpoint::DeleteBucketLifecycle => "DeleteBucketLifecycle",
        Endpoint::GetObjectAcl => "GetObjectAcl",
        Endpoint::PutObjectAcl => "PutObjectAcl",
        Endpoint::ListMultipartUploads => "ListMultipartUploads",
        Endpoint::DeleteObjects => "DeleteObjects",
        Endpoint::Browser => "Browser",
        Endpoint::BrowserWrite => "BrowserWrite",
        Endpoint::GetObject => "GetObject",
        Endpoint::HeadObject => "HeadObject",
        Endpoint::PutObject => "PutObject",
        Endpoint::CopyObject => "CopyObject",
        Endpoint::DeleteObject => "DeleteObject",
        Endpoint::GetObjectTagging => "GetObjectTagging",
        Endpoint::PutObjectTagging => "PutObjectTagging",
        Endpoint::DeleteObjectTagging => "DeleteObjectTagging",
        Endpoint::GetObjectAttributes => "GetObjectAttributes",
        Endpoint::CreateMultipartUpload => "CreateMultipartUpload",
        Endpoint::UploadPart => "UploadPart",
        Endpoint::UploadPartCopy => "UploadPartCopy",
        Endpoint::CompleteMultipartUpload => "CompleteMultipartUpload",
        Endpoint::AbortMultipartUpload => "AbortMultipartUpload",
        Endpoint::ListParts => "ListParts",
        Endpoint::NotImplemented(_) => "NotImplemented",
    }
}

/// Query names that are parameters of an operation rather than sub-resources.
const PLAIN_PARAMS: &[&str] = &[
    // listing
    "prefix",
    "delimiter",
    "marker",
    "max-keys",
    "list-type",
    "start-after",
    "continuation-token",
    "encoding-type",
    "fetch-owner",
    "key-marker",
    "version-id-marker",
    "upload-id-marker",
    "max-uploads",
    "max-buckets",
    "bucket-region",
    "optional-object-attributes",
    // ozfs's listing extension (user metadata in the listing, see handlers/list.rs)
    "ozfs-metadata",
    // objects and multipart
    "partNumber",
    "uploadId",
    "versionId",
    "max-parts",
    "part-number-marker",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    // SigV2 presigned
    "AWSAccessKeyId",
    "Signature",
    "Expires",
    // SDK operation hint (`x-id=PutObject`)
    "x-id",
    // our HTML page
    "browser",
];

fn is_plain(name: &str) -> bool {
    PLAIN_PARAMS.contains(&name) || name.to_ascii_lowercase().starts_with("x-amz-")
}

/// Choose the endpoint.
pub fn route(method: &Method, t: &Target, q: &Query) -> Endpoint {
    let subs: Vec<&str> = q
        .pairs
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !is_plain(k))
        .collect();
    let has = |s: &str| subs.contains(&s);
    let only = |allowed: &[&str]| subs.iter().all(|s| allowed.contains(s));
    let not_impl = |what: &str| Endpoint::NotImplemented(what.to_string());
    let first_sub = subs.first().map(|s| s.to_string()).unwrap_or_default();
    let m = method.as_str();

    let Some(_) = &t.bucket else {
        // Service level.
        return match m {
            "GET" if subs.is_empty() => Endpoint::ListBuckets,
            "GET" | "HEAD" => not_impl(&format!("{m} / ?{first_sub}")),
            "POST" => Endpoint::OtherService,
            _ => not_impl(&format!("{m} /")),
        };
    };

    if t.key.is_none() {
        if !only(&[
            "acl",
            "uploads",
            "delete",
            "location",
            "versions",
            "tagging",
            "lifecycle",
        ]) {
            return not_impl(&format!("{m} bucket ?{first_sub}"));
        }
        return match m {
            "GET" if subs.is_empty() && q.has("browser") => Endpoint::Browser,
            "GET" if subs.is_empty() => Endpoint::ListObjects {
                v2: q.get("list-type") == Some("2"),
            },
            "GET" if subs == ["acl"] => Endpoint::GetBucketAcl,
            "GET" if subs == ["uploads"] => Endpoint::ListMultipartUploads,
            "GET" if subs == ["location"] => Endpoint::GetBucketLocation,
            "GET" if subs == ["versions"] => Endpoint::ListObjectVersions,
            "HEAD" if subs.is_empty() => Endpoint::HeadBucket,
            "PUT" if subs.is_empty() => Endpoint::CreateBucket,
            "PUT" if subs == ["acl"] => Endpoint::PutBucketAcl,
            "GET" if subs == ["tagging"] => Endpoint::GetBucketTagging,
            "PUT" if subs == ["tagging"] => Endpoint::PutBucketTagging,
            "DELETE" if subs == ["tagging"] => Endpoint::DeleteBucketTagging,
            "GET" if subs == ["lifecycle"] => Endpoint::GetBucketLifecycle,
            "PUT" if subs == ["lifecycle"] => Endpoint::PutBucketLifecycle,
            "DELETE" if subs == ["lifecycle"] => Endpoint::DeleteBucketLifecycle,
            "DELETE" if subs.is_empty() => Endpoint::DeleteBucket,
            "POST" if subs == ["delete"] => Endpoint::DeleteObjects,
            _ => not_impl(&format!("{m} bucket ?{first_sub}")),
        };
    }

    if !only(&["tagging", "uploads", "attributes", "acl"]) {
        return not_impl(&format!("{m} object ?{first_sub}"));
    }
    let upload = q.has("uploadId");
    match m {
        "GET" if has("tagging") && subs.len() == 1 && !upload => Endpoint::GetObjectTagging,
        "GET" if subs == ["attributes"] && !upload => Endpoint::GetObjectAttributes,
        "GET" if has("acl") && subs.len() == 1 && !upload => Endpoint::GetObjectAcl,
        "PUT" if has("acl") && subs.len() == 1 && !upload => Endpoint::PutObjectAcl,
        "GET" if subs.is_empty() && upload => Endpoint::ListParts,
        "GET" if subs.is_empty() => Endpoint::GetObject,
        "HEAD" if subs.is_empty() && !upload => Endpoint::HeadObject,
        "PUT" if has("tagging") && subs.len() == 1 && !upload => Endpoint::PutObjectTagging,
        "PUT" if subs.is_empty() && upload => Endpoint::UploadPart,
        "PUT" if subs.is_empty() => Endpoint::PutObject,
        "DELETE" if has("tagging") && subs.len() == 1 && !upload => Endpoint::DeleteObjectTagging,
        "DELETE" if subs.is_empty() && upload => Endpoint::AbortMultipartUpload,
        "DELETE" if subs.is_empty() => Endpoint::DeleteObject,
        "POST" if has("uploads") && subs.len() == 1 && !upload => Endpoint::CreateMultipartUpload,
        "POST" if subs.is_empty() && upload => Endpoint::CompleteMultipartUpload,
        "POST" if subs.is_empty() && q.has("browser") => Endpoint::BrowserWrite,
        _ => not_impl(&format!("{m} object ?{first_sub}")),
    }
}

/// Refine PUT endpoints by the copy-source header.
pub fn refine_copy(e: Endpoint, has_copy_source: bool) -> Endpoint {
    match (e, has_copy_source) {
        (Endpoint::PutObject, true) => Endpoint::CopyObject,
        (Endpoint::UploadPart, true) => Endpoint::UploadPartCopy,
        (e, _) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(method: &str, path: &str, query: &str) -> Endpoint {
        let t = target(None, path, &[]).unwrap();
        let q = Query::parse(Some(query)).unwrap();
        route(&Method::from_bytes(method.as_bytes()).unwrap(), &t, &q)
    }

    #[test]
    fn routes_operations() {
        assert_eq!(r("GET", "/", ""), Endpoint::ListBuckets);
        assert_eq!(r("POST", "/", "Action=ListUsers"), Endpoint::OtherService);
        assert_eq!(r("PUT", "/b", ""), Endpoint::CreateBucket);
        assert_eq!(
            r("GET", "/b", "list-type=2&prefix=a"),
            Endpoint::ListObjects { v2: true }
        );
        assert_eq!(r("GET", "/b/", "marker=x"), Endpoint::ListObjects { v2: false });
        assert_eq!(r("GET", "/b", "location"), Endpoint::GetBucketLocation);
        assert_eq!(r("GET", "/b", "versions"), Endpoint::ListObjectVersions);
        assert_eq!(r("POST", "/b", "delete"), Endpoint::DeleteObjects);
        assert_eq!(r("GET", "/b", "browser=true"), Endpoint::Browser);
        assert_eq!(r("POST", "/b/dir/f.txt", "browser=upload"), Endpoint::BrowserWrite);
        assert_eq!(r("POST", "/b/dir/new/", "browser=folder"), Endpoint::BrowserWrite);
        assert_eq!(r("PUT", "/b/k", "x-id=PutObject"), Endpoint::PutObject);
        assert_eq!(r("PUT", "/b/k", "partNumber=1&uploadId=u"), Endpoint::UploadPart);
        assert_eq!(r("POST", "/b/k", "uploads"), Endpoint::CreateMultipartUpload);
        assert_eq!(r("POST", "/b/k", "uploadId=u"), Endpoint::CompleteMultipartUpload);
        assert_eq!(r("GET", "/b/k", "uploadId=u"), Endpoint::ListParts);
        assert_eq!(r("DELETE", "/b/k", "uploadId=u"), Endpoint::AbortMultipartUpload);
        assert_eq!(r("GET", "/b/k", "tagging"), Endpoint::GetObjectTagging);
        assert_eq!(r("GET", "/b/k", "attributes"), Endpoint::GetObjectAttributes);
        assert_eq!(r("PUT", "/b", "tagging"), Endpoint::PutBucketTagging);
        assert_eq!(r("GET", "/b", "tagging"), Endpoint::GetBucketTagging);
        assert_eq!(r("DELETE", "/b", "tagging"), Endpoint::DeleteBucketTagging);
        assert_eq!(r("PUT", "/b", "lifecycle"), Endpoint::PutBucketLifecycle);
        assert_eq!(r("GET", "/b", "lifecycle"), Endpoint::GetBucketLifecycle);
        assert_eq!(r("DELETE", "/b", "lifecycle"), Endpoint::DeleteBucketLifecycle);
        assert_eq!(r("GET", "/b/k", "acl"), Endpoint::GetObjectAcl);
        assert_eq!(r("PUT", "/b/k", "acl"), Endpoint::PutObjectAcl);
        assert!(matches!(r("DELETE", "/b/k", "acl"), Endpoint::NotImplemented(_)));
        assert_eq!(r("GET", "/b/k", "partNumber=2"), Endpoint::GetObject);
        assert_eq!(r("GET", "/b/k", "X-Amz-Signature=abc"), Endpoint::GetObject);
    }

    #[test]
    fn unknown_subresources_are_not_implemented() {
        for (m, p, q) in [
            ("DELETE", "/b", "cors"),
            ("GET", "/b", "policy"),
            ("PUT", "/b", "versioning"),
            ("PUT", "/b/k", "retention"),
            ("GET", "/b/k", "torrent"),
            ("POST", "/b", ""),
            ("POST", "/b/k", ""),
            ("POST", "/b", "tagging"),
            ("PUT", "/b/k", "attributes"),
            ("GET", "/b", "tagging&lifecycle"),
        ] {
            assert!(matches!(r(m, p, q), Endpoint::NotImplemented(_)), "{m} {p}?{q}");
        }
    }

    #[test]
    fn virtual_host_and_path_style() {
        let d = vec!["s3.local".to_string(), "x.s3.local".to_string()];
        let t = target(Some("bkt.s3.local:9878"), "/a/b", &d).unwrap();
        assert_eq!((t.bucket.as_deref(), t.key.as_deref()), (Some("bkt"), Some("a/b")));
        let t = target(Some("bkt.x.s3.local"), "/", &d).unwrap();
        assert_eq!((t.bucket.as_deref(), t.key), (Some("bkt"), None));
        let t = target(Some("s3.local:9878"), "/bkt/k%20x", &d).unwrap();
        assert_eq!((t.bucket.as_deref(), t.key.as_deref()), (Some("bkt"), Some("k x")));
        let t = target(Some("127.0.0.1:9878"), "/bkt//k", &d).unwrap();
        assert_eq!(t.key.as_deref(), Some("/k"));
        let t = target(Some("[::1]:9878"), "/bkt", &d).unwrap();
        assert_eq!(t.bucket.as_deref(), Some("bkt"));
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse(Some("prefix=a+b%2Bc&delimiter=%2F&acl")).unwrap();
        assert_eq!(q.get("prefix"), Some("a b+c"));
        assert_eq!(q.get("delimiter"), Some("/"));
        assert!(q.has("acl"));
        assert!(Query::parse(Some("a=%ff")).is_err());
    }

    proptest! {
        #[test]
        fn routing_never_panics(path in "/[a-z0-9%/.+-]{0,20}", query in "[a-zA-Z=&%0-9-]{0,30}",
                                m in prop::sample::select(vec!["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"])) {
            if let (Ok(t), Ok(q)) = (target(Some("h.s3.local"), &path, &["s3.local".to_string()]), Query::parse(Some(&query))) {
                let _ = route(&Method::from_bytes(m.as_bytes()).unwrap(), &t, &q);
            }
        }
    }
}
