//! [`RemoteStore`]: an S3 client that implements [`ObjectStore`](crate::ObjectStore) against any S3 endpoint (an
//! Ozone S3 gateway, `ozfs serve`, other S3 servers).
//!
//! Design:
//! - One file per S3 operation under `remote/` (`get_object.rs`, `put_object.rs`, …); the HTTP
//!   machinery (pool, signing, retries, timeouts) is in `client.rs`, error mapping in
//!   `error_xml.rs`.
//! - Namespace mapping: the remote's buckets are the buckets of one volume,
//!   [`RemoteConfig::volume`] (default `s3v`). A bucket path in another volume is
//!   [`Error::NoSuchVolume`]; volume creation and bucket links are [`Error::NotSupported`]
//!   (S3 has neither).
//! - Object identity: [`ObjectInfo::version`] of a remote object is a stable hash of (bucket,
//!   key, ETag, size, Last-Modified to the second), so the page cache keys pages by content
//!   identity, and HEAD, GET and listings of the same object agree on it.
//! - Version-pinned reads (`read_version`) are ranged GETs with `If-Match: "<etag>"`; a 412 or
//!   404 means the object changed: [`Error::ObjectChanged`].
//! - Streaming: GET bodies stream from the socket; PUT streams the body with
//!   `UNSIGNED-PAYLOAD` and its exact `Content-Length` when the length is known and at most the
//!   multipart threshold; larger or unknown-length bodies go up as a multipart upload with a
//!   bounded number of parts in flight (memory ≤ (concurrency + 1) × part size).
//! - Not atomic (S3 has no such primitives, documented here and in the method docs):
//!   `rename_object` is copy + delete; `rename_prefix` is list + copy + delete per key;
//!   `set_attrs` is a CopyObject onto itself with the REPLACE directive (through a temporary
//!   key when the remote refuses or ignores that copy, as Ozone does); `delete_object` with
//!   `if_match` checks with a HEAD and then sends a DELETE with `If-Match`.
//! - Transport (`client.rs`): http or https (rustls, ring provider; system roots or a CA
//!   bundle), SigV4 with session tokens, per-request timeouts, retries with backoff and jitter
//!   for requests that are safe to repeat. Credentials come from one loader
//!   ([`credentials`]) shared by `ozfs mount` and `ozfs serve --backend`.
//! - Change feed: a local broadcast of the changes made through this `RemoteStore`; changes
//!   made by other clients of the remote are not seen.

mod bucket;
mod client;
mod copy_object;
pub mod credentials;
mod delete_object;
mod error_xml;
mod get_object;
mod head_object;
mod list_objects;
mod multipart;
mod put_object;
pub(crate) mod xml;

use crate::error::{Error, Result};
use crate::namespace::{BucketPath, DEFAULT_S3_VOLUME};
use crate::store::{
    BucketInfo, BucketUpdate, ByteStream, ChangeEvent, ChangeKind, CompletedPart, CopyOptions, GetOptions, GetResult,
    ListPage, ListRequest, Multipart, Namespace, ObjectAttrs, ObjectInfo, Objects, PartCopy, PartInfo, PartsPage,
    PutOptions, UploadsPage, UploadsRequest, VolumeInfo, WriteCondition,
};
use async_trait::async_trait;
use client::Client;
use error_xml::Context;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// Settings of a [`RemoteStore`]. `Debug` leaves the secret key and session token out.
#[derive(Clone)]
pub struct RemoteConfig {
    /// `http://host:port` or `https://host:port` (an optional path prefix is kept).
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// Session token of temporary credentials, sent (and signed) as `x-amz-security-token`.
    pub session_token: Option<String>,
    /// PEM file of the CA certificates trusted for an `https://` endpoint instead of the
    /// system's (what `AWS_CA_BUNDLE` means to the aws CLI).
    pub ca_bundle: Option<std::path::PathBuf>,
    /// Virtual-host addressing (`bucket.host`); path style (`host/bucket`) when false.
    pub virtual_host: bool,
    /// Bound on connecting, on waiting for response headers and for each chunk of a response
    /// body.
    pub timeout: Duration,
    /// Retries after the first attempt (5xx, 503 SlowDown, connection errors, timeouts), for
    /// requests that are safe to repeat (see `client.rs`).
    pub max_retries: u32,
    /// First retry delay; each retry doubles it (capped at 5 s), with full jitter.
    pub retry_base: Duration,
    /// The volume whose buckets the remote's buckets are.
    pub volume: String,
    /// Bodies longer than this (or of unknown length longer than one part) use multipart.
    pub multipart_threshold: u64,
    /// Part size of multipart uploads made by `put_object`.
    pub part_size: u64,
    /// Parts uploaded in parallel by `put_object`.
    pub part_concurrency: usize,
    /// Ask listings for user metadata (`ozfs-metadata=true`, an extension `ozfs serve`
    /// answers; other servers ignore the parameter and the pages say `user_meta: false`).
    pub list_metadata: bool,
}

impl RemoteConfig {
    /// Defaults for `endpoint`: region `us-east-1`, path style, 30 s timeout, 4 retries, volume
    /// `s3v`, multipart above 16 MiB with 4 parts of 8 MiB in flight, listings without metadata.
    pub fn new(endpoint: impl Into<String>, access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        RemoteConfig {
            endpoint: endpoint.into(),
            region: "us-east-1".into(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            session_token: None,
            ca_bundle: None,
            virtual_host: false,
            timeout: Duration::from_secs(30),
            max_retries: 4,
            retry_base: Duration::from_millis(100),
            volume: DEFAULT_S3_VOLUME.into(),
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            part_concurrency: 4,
            list_metadata: false,
        }
    }
}

impl std::fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("ca_bundle", &self.ca_bundle)
            .field("virtual_host", &self.virtual_host)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("volume", &self.volume)
            .finish_non_exhaustive()
    }
}

impl RemoteConfig {
    /// Defaults for `endpoint` with the credentials and region of `aws` (see
    /// [`credentials::load`]); an error naming where it looked when no keys were found.
    pub fn from_aws(endpoint: impl Into<String>, aws: &credentials::AwsProfile) -> Result<Self> {
        let c = aws.credentials.clone().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no AWS credentials ({}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure \
                 ~/.aws/credentials (AWS_PROFILE / --profile)",
                aws.source
            ))
        })?;
        let mut cfg = RemoteConfig::new(endpoint, c.access_key, c.secret_key);
        cfg.session_token = c.session_token;
        if let Some(r) = &aws.region {
            cfg.region = r.clone();
        }
        cfg.ca_bundle = aws.ca_bundle.clone();
        Ok(cfg)
    }
}

/// The remote S3 store.
pub struct RemoteStore {
    client: Arc<Client>,
    changes: broadcast::Sender<ChangeEvent>,
    /// Set once the remote refused ListObjectsV2: use V1 from then on.
    list_v1: AtomicBool,
    /// The server refused a listing with `ozfs-metadata`: list without it from now on.
    list_meta_off: AtomicBool,
    /// Set once the remote refused a CopyObject onto the same key, or answered one without
    /// applying the new metadata: `set_attrs` goes through a temporary key from then on.
    self_copy_refused: AtomicBool,
}

impl RemoteStore {
    /// A store talking to `cfg.endpoint`. Nothing is sent until the first call.
    pub fn new(cfg: RemoteConfig) -> Result<Self> {
        if cfg.part_size < crate::store::MIN_PART_SIZE {
            return Err(Error::InvalidArgument(format!(
                "part size {} is below the S3 minimum of {}",
                cfg.part_size,
                crate::store::MIN_PART_SIZE
            )));
        }
        Ok(RemoteStore {
            client: Arc::new(Client::new(cfg)?),
            changes: broadcast::channel(1024).0,
            list_v1: AtomicBool::new(false),
            list_meta_off: AtomicBool::new(false),
            self_copy_refused: AtomicBool::new(false),
        })
    }

    pub fn config(&self) -> &RemoteConfig {
        self.client.config()
    }

    /// The remote bucket name of `b` (which must be in the configured volume).
    fn bucket_name<'b>(&self, b: &'b BucketPath) -> Result<&'b str> {
        if b.volume != self.config().volume {
            return Err(Error::NoSuchVolume(b.volume.clone()));
        }
        Ok(&b.bucket)
    }

    fn ctx(&self, bucket: &str, key: Option<&str>) -> Context {
        Context {
            bucket: bucket.to_string(),
            key: key.map(str::to_string),
            upload_id: None,
        }
    }

    fn notify(&self, bucket: &BucketPath, key: &str, kind: ChangeKind) {
        let _ = self.changes.send(ChangeEvent {
            bucket: bucket.clone(),
            key: key.to_string(),
            kind,
        });
    }

    /// `set_attrs` for a remote that refuses a copy onto itself: copy to a temporary sibling
    /// key, copy back with the new attributes, delete the temporary key. The object is never
    /// missing; a crash in between leaves the temporary key behind (its name says what it is).
    async fn set_attrs_via_temp(&self, bucket: &BucketPath, key: &str, opts: CopyOptions) -> Result<ObjectInfo> {
        let tmp = format!("{key}.ozfs-set-attrs-{:016x}", rand::random::<u64>());
        self.copy_object_impl(bucket, key, bucket, &tmp, CopyOptions::default())
            .await?;
        let res = self.copy_object_impl(bucket, &tmp, bucket, key, opts).await;
        let cleanup = self.delete_object_impl(bucket, &tmp, None).await;
        let info = res?;
        cleanup?;
        Ok(info)
    }

    fn no_links(&self, what: &str) -> Error {
        Error::NotSupported(format!(
            "{what} is not supported on a remote S3 endpoint: it only has the buckets of volume {}",
            self.config().volume
        ))
    }
}

/// Whether the user metadata read back from the remote is `wanted`: names compared without
/// case (S3 lower-cases them), values without surrounding blanks (HTTP header values).
fn same_user_meta(
    got: &std::collections::BTreeMap<String, String>,
    wanted: &std::collections::BTreeMap<String, String>,
) -> bool {
    let norm = |m: &std::collections::BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    norm(got) == norm(wanted)
}

/// The page-cache identity of a remote object.
pub(crate) fn version_of(bucket: &str, key: &str, etag: &str, size: u64, last_modified: SystemTime) -> u64 {
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
pub(crate) fn unquote(etag: &str) -> String {
    etag.trim().trim_start_matches("W/").trim_matches('"').to_string()
}

/// Parse `2026-01-05T10:11:12.345Z` (S3 XML timestamps; fraction and `Z` optional).
pub(crate) fn parse_iso8601(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b' ') {
        return None;
    }
    let num = |r: Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut millis = 0u64;
    if b.len() > 20 && b[19] == b'.' {
        let frac: String = s[20..].chars().take_while(char::is_ascii_digit).take(3).collect();
        let scale = 10u64.pow(3 - frac.len() as u32);
        millis = frac.parse::<u64>().unwrap_or(0) * scale;
    }
    // days from civil (proleptic Gregorian)
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    if secs < 0 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::from_secs(secs as u64) + Duration::from_millis(millis))
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
pub(crate) fn attrs_from_headers(h: &HeaderMap) -> ObjectAttrs {
    let mut attrs = ObjectAttrs {
        content_type: client::header_str(h, "content-type").map(str::to_string),
        storage_class: client::header_str(h, "x-amz-storage-class").map(str::to_string),
        ..ObjectAttrs::default()
    };
    for name in STANDARD_HEADERS {
        if let Some(v) = client::header_str(h, name) {
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
pub(crate) fn attrs_to_headers(attrs: &ObjectAttrs) -> Vec<(http::HeaderName, String)> {
    use http::HeaderName;
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
        let tagging = attrs
            .tags
            .iter()
            .map(|(k, v)| format!("{}={}", client::uri_encode(k, false), client::uri_encode(v, false)))
            .collect::<Vec<_>>()
            .join("&");
        out.push((HeaderName::from_static("x-amz-tagging"), tagging));
    }
    out
}

/// Conditional-write headers.
pub(crate) fn condition_headers(c: &WriteCondition) -> Vec<(http::HeaderName, String)> {
    match c {
        WriteCondition::None => vec![],
        WriteCondition::IfNoneMatch => vec![(http::header::IF_NONE_MATCH, "*".into())],
        WriteCondition::IfMatch(e) => vec![(http::header::IF_MATCH, format!("\"{e}\""))],
    }
}

/// Info of `key` from the headers of a HEAD/GET answer. The size is the full object size
/// (from `Content-Range` on a partial answer).
pub(crate) fn info_from_headers(bucket: &str, key: &str, h: &HeaderMap, owner: &str) -> ObjectInfo {
    let size = client::header_str(h, "content-range")
        .and_then(|cr| cr.rsplit('/').next())
        .and_then(|t| t.trim().parse::<u64>().ok())
        .or_else(|| client::header_str(h, "content-length").and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0);
    let etag = client::header_str(h, "etag").map(unquote).unwrap_or_default();
    let last_modified = client::header_str(h, "last-modified")
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

#[async_trait]
impl Namespace for RemoteStore {
    async fn create_volume(&self, _name: &str, _owner: &str) -> Result<VolumeInfo> {
        Err(self.no_links("creating a volume"))
    }
    async fn delete_volume(&self, _name: &str) -> Result<()> {
        Err(self.no_links("deleting a volume"))
    }
    async fn volume_info(&self, name: &str) -> Result<VolumeInfo> {
        self.volume_info_impl(name).await
    }
    async fn list_volumes(&self) -> Result<Vec<VolumeInfo>> {
        Ok(vec![self.volume_info_impl(&self.config().volume.clone()).await?])
    }
    async fn create_bucket(&self, bucket: &BucketPath, owner: &str) -> Result<BucketInfo> {
        self.create_bucket_impl(bucket, owner).await
    }
    async fn create_link(&self, _link: &BucketPath, _target: &BucketPath, _owner: &str) -> Result<BucketInfo> {
        Err(self.no_links("a bucket link"))
    }
    async fn delete_bucket(&self, bucket: &BucketPath) -> Result<()> {
        self.delete_bucket_impl(bucket).await
    }
    async fn bucket_info(&self, bucket: &BucketPath) -> Result<BucketInfo> {
        self.bucket_info_impl(bucket).await
    }
    async fn list_buckets(&self, volume: &str) -> Result<Vec<BucketInfo>> {
        self.list_buckets_impl(volume).await
    }
    async fn bucket_settings(&self, bucket: &BucketPath) -> Result<BucketInfo> {
        self.bucket_settings_impl(bucket).await
    }
    async fn update_bucket(&self, bucket: &BucketPath, update: BucketUpdate) -> Result<BucketInfo> {
        self.update_bucket_impl(bucket, update).await
    }
    async fn resolve_bucket(&self, bucket: &BucketPath) -> Result<BucketPath> {
        self.head_bucket(bucket).await?;
        Ok(bucket.clone())
    }
}

#[async_trait]
impl Objects for RemoteStore {
    async fn put_object(
        &self,
        bucket: &BucketPath,
        key: &str,
        body: ByteStream,
        opts: PutOptions,
    ) -> Result<ObjectInfo> {
        let info = self.put_object_impl(bucket, key, body, opts).await?;
        self.notify(bucket, key, ChangeKind::Put);
        Ok(info)
    }
    async fn get_object(&self, bucket: &BucketPath, key: &str, opts: GetOptions) -> Result<GetResult> {
        self.get_object_impl(bucket, key, opts).await
    }
    async fn read_version(&self, bucket: &BucketPath, info: &ObjectInfo, range: Range<u64>) -> Result<ByteStream> {
        self.read_version_impl(bucket, info, range).await
    }
    async fn head_object(&self, bucket: &BucketPath, key: &str) -> Result<ObjectInfo> {
        self.head_object_impl(bucket, key).await
    }
    async fn delete_object(&self, bucket: &BucketPath, key: &str, if_match: Option<&str>) -> Result<()> {
        self.delete_object_impl(bucket, key, if_match).await?;
        self.notify(bucket, key, ChangeKind::Delete);
        Ok(())
    }
    async fn copy_object(
        &self,
        src_bucket: &BucketPath,
        src_key: &str,
        dst_bucket: &BucketPath,
        dst_key: &str,
        opts: CopyOptions,
    ) -> Result<ObjectInfo> {
        // A copy onto itself that replaces the attributes (how S3 clients change metadata) is
        // `set_attrs`, which knows the remotes that refuse or ignore such a copy (Ozone).
        if src_bucket == dst_bucket
            && src_key == dst_key
            && matches!(opts.condition, WriteCondition::None)
            && opts.source_range.is_none()
        {
            if let Some(mut attrs) = opts.attrs.clone() {
                if let Some(tags) = &opts.tags {
                    attrs.tags = tags.clone();
                }
                return self.set_attrs(dst_bucket, dst_key, attrs).await;
            }
        }
        let info = self
            .copy_object_impl(src_bucket, src_key, dst_bucket, dst_key, opts)
            .await?;
        self.notify(dst_bucket, dst_key, ChangeKind::Put);
        Ok(info)
    }
    /// A CopyObject of the key onto itself with the REPLACE directive. The remote gives the
    /// result a new Last-Modified (and so a new cache identity) although the bytes are the same;
    /// for an object made by multipart upload the copy also gets a new (single-part) ETag, so a
    /// reader pinned to the old info gets [`Error::ObjectChanged`] afterwards.
    async fn set_attrs(&self, bucket: &BucketPath, key: &str, attrs: ObjectAttrs) -> Result<ObjectInfo> {
        let wanted = attrs.user.clone();
        let opts = CopyOptions {
            attrs: Some(attrs),
            ..CopyOptions::default()
        };
        // A directory marker is rewritten with a PUT (see `copy_marker`), never copied onto itself.
        let direct = if self.self_copy_refused.load(Ordering::Relaxed) && !key.ends_with('/') {
            None
        } else {
            match self.copy_object_impl(bucket, key, bucket, key, opts.clone()).await {
                Err(Error::Backend { status: 400, code, .. }) if code == "InvalidRequest" => {
                    // Ozone refuses a CopyObject of a key onto itself even with the REPLACE
                    // directive: learn it and go through a temporary key from now on.
                    log::debug!("{key}: the remote refuses a copy onto itself; using a temporary key");
                    self.self_copy_refused.store(true, Ordering::Relaxed);
                    None
                }
                Ok(info) if !key.ends_with('/') && !same_user_meta(&info.attrs.user, &wanted) => {
                    // Ozone answers 200 to a copy onto itself that carries x-amz-storage-class
                    // and changes nothing (not even with REPLACE): the metadata read back is
                    // the old one. Learn it, and go through a temporary key from now on.
                    log::debug!("{key}: the remote ignored a copy onto itself; using a temporary key");
                    self.self_copy_refused.store(true, Ordering::Relaxed);
                    None
                }
                r => Some(r?),
            }
        };
        let info = match direct {
            Some(info) => info,
            None => {
                let info = self.set_attrs_via_temp(bucket, key, opts).await?;
                if !same_user_meta(&info.attrs.user, &wanted) {
                    return Err(Error::NotSupported(format!(
                        "the remote did not keep the new metadata of {key} (copied back through a temporary key)"
                    )));
                }
                info
            }
        };
        self.notify(bucket, key, ChangeKind::Put);
        Ok(info)
    }
    /// Copy + delete: not atomic on S3 (a crash between the two leaves both keys).
    async fn rename_object(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<()> {
        self.rename_object_impl(bucket, from, to).await
    }
    /// List + copy + delete of every key: not atomic on S3 (a failure midway leaves some keys
    /// moved and some not; running it again finishes the move).
    async fn rename_prefix(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<u64> {
        self.rename_prefix_impl(bucket, from, to).await
    }
    async fn list_objects(&self, bucket: &BucketPath, req: ListRequest) -> Result<ListPage> {
        self.list_objects_impl(bucket, req).await
    }
    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.changes.subscribe()
    }
}

#[async_trait]
impl Multipart for RemoteStore {
    async fn delete_bucket_aborting_uploads(&self, bucket: &BucketPath) -> Result<()> {
        crate::store::abort_uploads_then_delete(self, bucket).await
    }
    async fn create_multipart(&self, bucket: &BucketPath, key: &str, opts: PutOptions) -> Result<String> {
        self.create_multipart_impl(bucket, key, &opts).await
    }
    async fn upload_part(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        opts: PutOptions,
    ) -> Result<PartInfo> {
        self.upload_part_impl(bucket, key, upload_id, part_number, body, &opts)
            .await
    }
    async fn upload_part_copy(&self, bucket: &BucketPath, key: &str, copy: PartCopy<'_>) -> Result<PartInfo> {
        let PartCopy {
            upload_id,
            part_number,
            src_bucket,
            src_key,
            src_range,
        } = copy;
        self.upload_part_copy_impl(bucket, key, upload_id, part_number, src_bucket, src_key, src_range)
            .await
    }
    async fn complete_multipart(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        condition: WriteCondition,
    ) -> Result<ObjectInfo> {
        let info = self
            .complete_multipart_impl(bucket, key, upload_id, parts, &condition)
            .await?;
        self.notify(bucket, key, ChangeKind::Put);
        Ok(info)
    }
    async fn abort_multipart(&self, bucket: &BucketPath, key: &str, upload_id: &str) -> Result<()> {
        self.abort_multipart_impl(bucket, key, upload_id).await
    }
    async fn list_parts(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        part_number_marker: u32,
        max_parts: usize,
    ) -> Result<PartsPage> {
        self.list_parts_impl(bucket, key, upload_id, part_number_marker, max_parts)
            .await
    }
    async fn list_uploads(&self, bucket: &BucketPath, req: UploadsRequest<'_>) -> Result<UploadsPage> {
        let UploadsRequest {
            prefix,
            key_marker,
            upload_id_marker,
            max_uploads,
        } = req;
        self.list_uploads_impl(bucket, prefix, key_marker, upload_id_marker, max_uploads)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_parses_s3_timestamps() {
        let t = parse_iso8601("2026-01-05T10:11:12.345Z").unwrap();
        assert_eq!(crate::time::iso8601(t), "2026-01-05T10:11:12.345Z");
        let t = parse_iso8601("2000-02-29T00:00:00Z").unwrap();
        assert_eq!(crate::time::iso8601(t), "2000-02-29T00:00:00.000Z");
        assert!(parse_iso8601("yesterday").is_none());
        assert!(parse_iso8601("2026-13-05T10:11:12Z").is_none());
    }

    #[test]
    fn version_is_stable_per_identity_and_ignores_subseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_767_607_872_345);
        let t2 = UNIX_EPOCH + Duration::from_secs(1_767_607_872);
        assert_eq!(version_of("b", "k", "e", 5, t), version_of("b", "k", "e", 5, t2));
        assert_ne!(version_of("b", "k", "e", 5, t), version_of("b", "k", "e", 6, t));
        assert_ne!(version_of("b", "k", "e", 5, t), version_of("b", "k2", "e", 5, t));
        assert_ne!(version_of("b", "ke", "", 5, t), version_of("b", "k", "e", 5, t));
    }

    #[test]
    fn https_endpoints_need_a_readable_ca_bundle_when_one_is_named() {
        let mut cfg = RemoteConfig::new("https://127.0.0.1:1", "a", "b");
        cfg.ca_bundle = Some("/nonexistent/ca.pem".into());
        match RemoteStore::new(cfg.clone()) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("/nonexistent/ca.pem"), "{m}"),
            Err(e) => panic!("{e:?}"),
            Ok(_) => panic!("a missing CA bundle was accepted"),
        }
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        cfg.ca_bundle = Some(empty);
        assert!(matches!(RemoteStore::new(cfg), Err(Error::InvalidArgument(m)) if m.contains("no PEM certificate")));
        assert!(matches!(
            RemoteStore::new(RemoteConfig::new("ftp://h", "a", "b")),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn config_debug_hides_secrets() {
        let mut cfg = RemoteConfig::new("http://h:1", "AKID", "the-secret-key");
        cfg.session_token = Some("the-session-token".into());
        let s = format!("{cfg:?}");
        assert!(
            s.contains("AKID") && !s.contains("the-secret-key") && !s.contains("the-session-token"),
            "{s}"
        );
    }

    proptest::proptest! {
        #[test]
        fn iso8601_round_trips(ms in 0u64..4_102_444_800_000) {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            proptest::prop_assert_eq!(parse_iso8601(&crate::time::iso8601(t)), Some(t));
        }
    }
}
