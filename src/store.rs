//! The [`ObjectStore`] trait: the one seam both front ends use, and the value types that cross it.
//!
//! A store owns the Ozone namespace (volumes → buckets, bucket links) and the keys inside
//! buckets. Key operations take a [`BucketPath`] as the caller named it; the store follows bucket
//! links (chains included) before touching keys, so a link behaves as its source bucket, a
//! dangling link gives [`Error::NoSuchBucket`] and a loop [`Error::LinkLoop`]. Bucket-level calls
//! (`bucket_info`, `delete_bucket`, `list_buckets`) act on the link record itself.
//!
//! Bodies stream both ways as [`ByteStream`]s; no implementation holds a whole object in memory.
//! Every write of a key gets a fresh [`ObjectInfo::version`], which the page cache uses as the
//! key of its pages, so an overwrite can never be answered from stale pages.

pub mod deadline;
pub mod local;
pub mod mem;
pub mod remote;
pub mod writeback;

/// The store's traits, for code that calls a concrete store (`MemStore`, `LocalStore`, …)
/// rather than a `dyn ObjectStore` (whose methods need no import): `use ozfs::store::prelude::*;`.
pub mod prelude {
    pub use super::{Multipart, Namespace, ObjectStore, Objects};
}

use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};
use std::collections::BTreeMap;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;
use tokio::sync::broadcast;

/// A stream of body chunks. Errors end the stream.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// A body made of one buffer (tests, small control payloads).
pub fn body_from_bytes(b: impl Into<Bytes>) -> ByteStream {
    let b: Bytes = b.into();
    Box::pin(stream::once(async move { Ok(b) }))
}

/// A body of the first `len` bytes of `file`, read in 1 MiB chunks; a file shorter than `len`
/// reads as zeros past its end (a sparse tail), a longer one is cut at `len`.
pub fn body_from_file(file: std::fs::File, len: u64) -> ByteStream {
    use std::os::unix::fs::FileExt;
    const CHUNK: u64 = 1 << 20;
    let st = stream::unfold((file, 0u64), move |(file, off)| async move {
        if off >= len {
            return None;
        }
        let n = (len - off).min(CHUNK) as usize;
        let mut buf = vec![0u8; n];
        let mut done = 0;
        while done < n {
            match file.read_at(&mut buf[done..], off + done as u64) {
                Ok(0) => break, // sparse tail: zeros
                Ok(k) => done += k,
                Err(e) => return Some((Err(Error::Io(e)), (file, len))),
            }
        }
        Some((Ok(Bytes::from(buf)), (file, off + n as u64)))
    });
    Box::pin(st)
}

/// Collect a body into memory. Only for small bodies (XML requests, tests).
pub async fn collect_body(mut body: ByteStream, limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            return Err(Error::InvalidArgument(format!("body larger than {limit} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Per-object attributes kept beside the bytes and returned on GET/HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectAttrs {
    /// `Content-Type` as sent by the writer.
    pub content_type: Option<String>,
    /// Other standard headers, lower-case name → value: `cache-control`, `content-encoding`,
    /// `content-disposition`, `content-language`, `expires`.
    pub headers: BTreeMap<String, String>,
    /// User metadata (`x-amz-meta-<name>`), name lower-case without the prefix.
    pub user: BTreeMap<String, String>,
    /// Object tags.
    pub tags: BTreeMap<String, String>,
    /// `x-amz-storage-class` if one was given (STANDARD when absent).
    pub storage_class: Option<String>,
    /// Flexible checksums, algorithm (lower-case: `crc32`, `crc32c`, `crc64nvme`, `sha1`,
    /// `sha256`) → base64 value as S3 returns it (`…-N` for a composite multipart checksum).
    pub checksums: BTreeMap<String, String>,
    /// The object's ACL grants beyond its owner's implicit FULL_CONTROL (a canned ACL given at
    /// PutObject / CreateMultipartUpload, or a later PutObjectAcl). Empty: owner only.
    pub acl: Vec<Grant>,
}

/// What a HEAD returns, and what a listing returns per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Unquoted: lower-case hex MD5, or `hex-N` for a multipart object (AWS's rule: MD5 of the
    /// concatenated binary part digests).
    pub etag: String,
    pub last_modified: SystemTime,
    /// Unique per write of any key in this store (page-cache key; never reused).
    pub version: u64,
    /// Owner: the user (access key) that wrote this version of the key, or the bucket's owner
    /// when the writer had none (FUSE) or the store cannot tell (remote stores report theirs).
    pub owner: String,
    pub attrs: ObjectAttrs,
    /// Sizes of the parts, in order, for an object made by multipart upload (empty otherwise).
    pub parts: Vec<u64>,
    /// The part numbers the parts were uploaded as, parallel to `parts` (AWS numbers the parts
    /// of a completed object as they were uploaded: completing with parts {1, 3} gives parts 1
    /// and 3). Empty: `1..=parts.len()` (records written before the numbers were kept).
    pub part_numbers: Vec<u32>,
}

/// A condition on the current state of the destination key, checked atomically with the commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteCondition {
    #[default]
    None,
    /// `If-None-Match: *`: the key must not exist.
    IfNoneMatch,
    /// `If-Match: etag` (unquoted): the key must exist with this ETag.
    IfMatch(String),
}

/// A flexible checksum the writer declared. The store computes `algorithm` over the body while
/// writing and refuses to commit when it differs from `expected`. `expected` may be filled late
/// (by a body decoder that reads it from an aws-chunked trailer) as long as it is set before the
/// body stream ends; unset at the end of the body means "compute and store, nothing to verify".
#[derive(Debug, Clone)]
pub struct ChecksumSpec {
    pub algorithm: crate::checksum::Algorithm,
    pub expected: Arc<OnceLock<String>>,
}

/// Options of a put, of a multipart create (only `attrs` matter there) and of a part upload
/// (only `content_md5`, `expected_len` and `checksum` matter there).
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub attrs: ObjectAttrs,
    /// `Content-MD5` (decoded): the put fails with [`Error::BadDigest`] and commits nothing if
    /// the body's MD5 differs.
    pub content_md5: Option<[u8; 16]>,
    /// Declared length: a shorter or longer body fails with [`Error::IncompleteBody`].
    pub expected_len: Option<u64>,
    pub checksum: Option<ChecksumSpec>,
    pub condition: WriteCondition,
    /// Who writes the key (the request's access key): recorded as the key's owner. `None`
    /// records the bucket's owner (the FUSE mount, which has no access key).
    pub owner: Option<String>,
    /// Where a store that writes the body to a data file hands its pages as it writes them
    /// (write-allocate: [`crate::cache::fill`]); other stores ignore it.
    pub pages: Option<Arc<dyn PageSink>>,
}

/// Receives a put's body in whole pages as a store writes it to its data file, so the bytes can
/// be cached without reading them back. The store calls [`PageSink::page`] for each
/// [`PageSink::page_size`] slice of the body in order (the last one may be shorter), under the
/// version the put will commit, before it commits; a put that fails may have handed pages of a
/// version that never becomes current (the sink's owner drops them). A store that does not
/// write data files (the remote one) never calls it.
pub trait PageSink: Send + Sync + std::fmt::Debug {
    /// Bytes per page (every page but the last).
    fn page_size(&self) -> usize;
    /// Page `index` of the body of `version`.
    fn page(&self, version: u64, index: u64, bytes: Bytes);
}

/// A byte range as a client asked for it, resolved against the object size by
/// [`RangeSpec::resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=a-b` (inclusive).
    FromTo(u64, u64),
    /// `bytes=a-`.
    From(u64),
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

impl RangeSpec {
    /// Resolve against `size` with S3 rules: the end is clamped to the size; a start at or past
    /// the end of the object (or any range of an empty object) is [`Error::InvalidRange`]; a
    /// suffix longer than the object is the whole object.
    pub fn resolve(self, size: u64) -> Result<Range<u64>> {
        if size == 0 {
            return Err(Error::InvalidRange);
        }
        match self {
            RangeSpec::FromTo(a, b) if a <= b && a < size => Ok(a..(b.min(size - 1) + 1)),
            RangeSpec::FromTo(..) => Err(Error::InvalidRange),
            RangeSpec::From(a) if a < size => Ok(a..size),
            RangeSpec::From(_) => Err(Error::InvalidRange),
            RangeSpec::Suffix(0) => Err(Error::InvalidRange),
            RangeSpec::Suffix(n) => Ok(size.saturating_sub(n)..size),
        }
    }
}

/// Options of a GET.
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    pub range: Option<RangeSpec>,
    /// Return only this part of a multipart object (1-based). For a plain object only 1 is valid.
    pub part_number: Option<u32>,
}

/// What a GET returns: the object's info, the byte range being sent, and the lazy body. Nothing
/// is read until the body is polled, so a front end can still answer 304/412 from `info`.
pub struct GetResult {
    pub info: ObjectInfo,
    pub range: Range<u64>,
    pub body: ByteStream,
}

/// Options of a server-side copy.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// `None` keeps the source's attributes (COPY directive); `Some` replaces them (REPLACE).
    pub attrs: Option<ObjectAttrs>,
    /// Replace only the tags (tagging directive REPLACE) while keeping the other attributes.
    pub tags: Option<BTreeMap<String, String>>,
    /// Conditions on the destination.
    pub condition: WriteCondition,
    /// Copy only this range of the source (UploadPartCopy).
    pub source_range: Option<Range<u64>>,
    /// Who writes the copy: recorded as its owner (`None`: the bucket's owner).
    pub owner: Option<String>,
}

/// A listing request. Keys come back in byte order.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Return only keys (and common prefixes) strictly after this one. A value that is a common
    /// prefix of this listing skips every key under it (that is how a page that ended on a
    /// common prefix is resumed).
    pub start_after: Option<String>,
    /// At most this many entries (objects + common prefixes) in the page.
    pub max_keys: usize,
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ObjectInfo>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// When truncated: the last key or common prefix returned; pass it as `start_after`.
    pub next_start_after: Option<String>,
    /// Directory markers seen by the listing: for a common prefix `dir/` whose own key `dir/` is
    /// an object, that object (same order as `common_prefixes`). Meaningful only with
    /// `user_meta`.
    pub markers: Vec<ObjectInfo>,
    /// True when every object's (and marker's) `attrs.user` is its whole user metadata, as a
    /// HEAD would return it, and `markers` names every marker of the page. The embedded stores
    /// always set it; a remote store sets it when the server said so (S3 listings carry no
    /// metadata: false, and `attrs` holds only the storage class).
    pub user_meta: bool,
}

/// What to ask [`Objects::lookup_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameQuery {
    /// Also tell whether any key lies under `key/` (an implicit directory). `false`:
    /// [`NameLookup::under`] is `false` without asking.
    pub implicit: bool,
    /// Stop at the first thing found, in the order object, marker, keys under `key/`: a store
    /// that answers with separate requests sends them one at a time and skips the rest (goofys'
    /// `--cheap`). The answer's fields past the first one found may then be unset although the
    /// key exists; a store that answers everything at once (the embedded one) fills them all.
    pub first_found: bool,
}

impl Default for NameQuery {
    fn default() -> Self {
        NameQuery {
            implicit: true,
            first_found: false,
        }
    }
}

/// What a name `key` is in a bucket ([`Objects::lookup_name`]): the object `key`, the
/// directory marker `key/`, and whether any key starts with `key/` (the marker included).
/// Each field is what [`Objects::head_object`] of `key`, of `key/` and a one-key listing with
/// prefix `key/` would say. Which one wins when several exist is the caller's business.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameLookup {
    pub object: Option<ObjectInfo>,
    pub marker: Option<ObjectInfo>,
    pub under: bool,
}

/// [`Objects::lookup_name`] composed of the separate calls: HEAD of `key`, HEAD of `key/` and a
/// one-key listing under `key/`, concurrently, or one at a time up to the first found with
/// [`NameQuery::first_found`]. A missing key ([`Error::NoSuchKey`]) is `None`; any other error
/// fails the lookup (the object's first, then the marker's, then the listing's).
pub async fn lookup_name_by_parts<S: Objects + ?Sized>(
    store: &S,
    bucket: &BucketPath,
    key: &str,
    query: NameQuery,
) -> Result<NameLookup> {
    let dir_key = format!("{key}/");
    let head = |k: String| async move {
        match store.head_object(bucket, &k).await {
            Ok(i) => Ok(Some(i)),
            Err(Error::NoSuchKey(_)) => Ok(None),
            Err(e) => Err(e),
        }
    };
    let under = |k: String| async move {
        if !query.implicit {
            return Ok(false);
        }
        let one = ListRequest {
            prefix: k,
            max_keys: 1,
            ..Default::default()
        };
        let page = store.list_objects(bucket, one).await?;
        Ok::<_, Error>(!page.objects.is_empty() || !page.common_prefixes.is_empty())
    };
    if query.first_found {
        let mut out = NameLookup {
            object: head(key.to_string()).await?,
            ..Default::default()
        };
        if out.object.is_some() {
            return Ok(out);
        }
        out.marker = head(dir_key.clone()).await?;
        if out.marker.is_none() {
            out.under = under(dir_key).await?;
        }
        return Ok(out);
    }
    let (object, marker, under) = tokio::join!(head(key.to_string()), head(dir_key.clone()), under(dir_key));
    Ok(NameLookup {
        object: object?,
        marker: marker?,
        under: under?,
    })
}

/// A part named in CompleteMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    /// Unquoted.
    pub etag: String,
}

/// An uploaded part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub part_number: u32,
    /// Unquoted hex MD5 of the part.
    pub etag: String,
    pub size: u64,
    pub last_modified: SystemTime,
    pub checksums: BTreeMap<String, String>,
}

/// A page of ListParts.
#[derive(Debug, Clone, Default)]
pub struct PartsPage {
    pub parts: Vec<PartInfo>,
    pub is_truncated: bool,
    pub next_part_number_marker: Option<u32>,
    pub attrs: ObjectAttrs,
}

/// An unfinished multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    pub key: String,
    pub upload_id: String,
    pub initiated: SystemTime,
    pub owner: String,
    pub storage_class: Option<String>,
}

/// A page of ListMultipartUploads (ordered by key, then initiation).
#[derive(Debug, Clone, Default)]
pub struct UploadsPage {
    pub uploads: Vec<UploadInfo>,
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
}

/// A volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    pub name: String,
    pub owner: String,
    pub created: SystemTime,
}

/// One grant of a bucket ACL: a user name and an S3 permission
/// (`FULL_CONTROL`, `READ`, `WRITE`, `READ_ACP`, `WRITE_ACP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub grantee: String,
    pub permission: String,
}

/// A bucket record as stored (a link is not resolved here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    pub volume: String,
    pub name: String,
    pub owner: String,
    pub created: SystemTime,
    /// For a link: the bucket it points at (which may itself be a link, or missing).
    pub link_target: Option<BucketPath>,
    pub acl: Vec<Grant>,
    /// Bucket tags (PutBucketTagging); empty when none are set.
    pub tags: BTreeMap<String, String>,
    /// The lifecycle configuration document as accepted (PutBucketLifecycleConfiguration),
    /// `None` when the bucket has none.
    pub lifecycle: Option<String>,
    /// The layout the bucket was created with (Ozone's `--layout`).
    pub layout: BucketLayout,
}

/// Apache Ozone's bucket layouts. Recorded and reported as Ozone does; how a store honours
/// them is its own business (docs/SEMANTICS.md says what the embedded store does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BucketLayout {
    /// What buckets made over S3 get (Ozone's `ozone.s3g.default.bucket.layout`).
    #[default]
    ObjectStore,
    FileSystemOptimized,
    Legacy,
}

impl BucketLayout {
    /// Ozone's name for the layout.
    pub fn as_str(self) -> &'static str {
        match self {
            BucketLayout::ObjectStore => "OBJECT_STORE",
            BucketLayout::FileSystemOptimized => "FILE_SYSTEM_OPTIMIZED",
            BucketLayout::Legacy => "LEGACY",
        }
    }
}

impl std::str::FromStr for BucketLayout {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "OBJECT_STORE" | "OBS" => Ok(BucketLayout::ObjectStore),
            "FILE_SYSTEM_OPTIMIZED" | "FSO" => Ok(BucketLayout::FileSystemOptimized),
            "LEGACY" => Ok(BucketLayout::Legacy),
            _ => Err(Error::InvalidArgument(format!(
                "unknown bucket layout {s:?} (OBJECT_STORE, FILE_SYSTEM_OPTIMIZED or LEGACY)"
            ))),
        }
    }
}

/// One change to a bucket's settings ([`Namespace::update_bucket`]). On a link it changes
/// the bucket the link resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketUpdate {
    /// Replace the ACL grants.
    Acl(Vec<Grant>),
    /// Replace the tags (empty: delete them).
    Tags(BTreeMap<String, String>),
    /// Replace (`Some`) or delete (`None`) the lifecycle configuration.
    Lifecycle(Option<String>),
    /// Record the layout.
    Layout(BucketLayout),
}

/// What changed, for the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The key was written (put, copy, complete, rename target, attribute change).
    Put,
    /// The key was removed (delete, rename source).
    Delete,
}

/// One entry of the change feed. `bucket` is the real (link-resolved) bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    pub bucket: BucketPath,
    pub key: String,
    pub kind: ChangeKind,
}

/// A drop guard returned by [`Objects::pin_version`]: while it lives, `read_version` of the
/// pinned version keeps working even if its key is overwritten, deleted or renamed. Dropping it
/// lets the store reclaim what the version held (e.g. data files an overwrite deferred removing).
pub struct VersionPin(Option<Box<dyn std::any::Any + Send + Sync>>);

impl VersionPin {
    /// A pin that holds nothing (stores whose versions stay readable without one).
    pub fn none() -> VersionPin {
        VersionPin(None)
    }

    /// A pin holding `guard`, whose drop releases the version.
    pub fn new(guard: impl std::any::Any + Send + Sync) -> VersionPin {
        VersionPin(Some(Box::new(guard)))
    }

    /// Whether this pin holds anything.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl std::fmt::Debug for VersionPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("VersionPin")
            .field(&if self.0.is_some() { "held" } else { "none" })
            .finish()
    }
}

/// The namespace half of the seam: volumes, buckets, links, bucket settings and link
/// resolution. Metadata only: nothing here moves object bytes, so a decorator that only
/// changes how bytes are read (the page cache) passes it through untouched ([`PassThrough`]).
#[async_trait]
pub trait Namespace: Send + Sync {
    async fn create_volume(&self, name: &str, owner: &str) -> Result<VolumeInfo>;
    async fn delete_volume(&self, name: &str) -> Result<()>;
    async fn volume_info(&self, name: &str) -> Result<VolumeInfo>;
    async fn list_volumes(&self) -> Result<Vec<VolumeInfo>>;
    async fn create_bucket(&self, bucket: &BucketPath, owner: &str) -> Result<BucketInfo>;
    /// Create `link` as a link to `target`. The target need not exist.
    async fn create_link(&self, link: &BucketPath, target: &BucketPath, owner: &str) -> Result<BucketInfo>;
    /// Deletes the bucket (or the link record). A bucket with keys or unfinished multipart
    /// uploads is [`Error::BucketNotEmpty`] (Ozone's rule; `ozfs sh bucket delete`).
    async fn delete_bucket(&self, bucket: &BucketPath) -> Result<()>;
    async fn bucket_info(&self, bucket: &BucketPath) -> Result<BucketInfo>;
    async fn list_buckets(&self, volume: &str) -> Result<Vec<BucketInfo>>;
    /// The bucket record with every setting filled in (tags, lifecycle), for the operations
    /// that read them. The default is [`Namespace::bucket_info`] (stores that keep settings in
    /// the record); a remote store reads them from its backend, which costs extra requests that
    /// `bucket_info` (called for every access check) should not pay.
    async fn bucket_settings(&self, bucket: &BucketPath) -> Result<BucketInfo> {
        self.bucket_info(bucket).await
    }
    /// Change one of a bucket's settings; returns the bucket as it is afterwards.
    async fn update_bucket(&self, bucket: &BucketPath, update: BucketUpdate) -> Result<BucketInfo>;
    /// Follow links to the real bucket (which must exist).
    async fn resolve_bucket(&self, bucket: &BucketPath) -> Result<BucketPath>;
}

/// Key I/O: writing, reading, copying, renaming and listing the keys of a bucket, and the change
/// feed those writes produce. The part a byte-level decorator (cache, deadline) changes.
#[async_trait]
pub trait Objects: Send + Sync {
    async fn put_object(
        &self,
        bucket: &BucketPath,
        key: &str,
        body: ByteStream,
        opts: PutOptions,
    ) -> Result<ObjectInfo>;
    /// Make the first `len` bytes of `file` the new version of `key`: the same checks, digests
    /// and result as [`Objects::put_object`] with those bytes. A store may keep the file itself
    /// as the object's data instead of copying it (the embedded store links it into its data
    /// directory when [`Objects::adopts_files_from`] says so), so after a successful return the
    /// caller must not change the file through any descriptor; the store never changes it.
    /// `md5`, when given, is the MD5 of exactly those bytes as the caller computed it while
    /// writing them (in-process callers only): a store that adopts the file may take it instead
    /// of reading the file back to hash it (not when `opts` asks for a flexible checksum). The
    /// default streams the file into `put_object`, which hashes it anyway.
    async fn put_file(
        &self,
        bucket: &BucketPath,
        key: &str,
        file: std::fs::File,
        len: u64,
        md5: Option<[u8; 16]>,
        opts: PutOptions,
    ) -> Result<ObjectInfo> {
        let _ = md5;
        self.put_object(bucket, key, body_from_file(file, len), opts).await
    }
    /// Whether [`Objects::put_file`] of a file in directory `dir` keeps the file instead of
    /// copying it (the embedded store: `dir` is on the filesystem of its data directory). A
    /// writer that stages files there can then skip streaming them into `put_object` early.
    fn adopts_files_from(&self, dir: &std::path::Path) -> bool {
        let _ = dir;
        false
    }
    async fn get_object(&self, bucket: &BucketPath, key: &str, opts: GetOptions) -> Result<GetResult>;
    /// Read `range` of exactly the object version `info` describes (the page cache's loader).
    /// Fails with [`Error::ObjectChanged`] if that version is gone.
    async fn read_version(&self, bucket: &BucketPath, info: &ObjectInfo, range: Range<u64>) -> Result<ByteStream>;
    /// Pin the object version `info` describes: while the returned [`VersionPin`] lives,
    /// [`Objects::read_version`] of that version keeps working even if the key is overwritten,
    /// deleted or renamed (a GET streaming many pages reads the old object whole). Fails with
    /// [`Error::ObjectChanged`] if that version is already gone. The default returns an empty pin:
    /// right for stores whose versions stay readable anyway, and for remote stores with S3
    /// semantics, which need nothing from us.
    async fn pin_version(&self, bucket: &BucketPath, info: &ObjectInfo) -> Result<VersionPin> {
        let _ = (bucket, info);
        Ok(VersionPin::none())
    }
    /// A file holding exactly the bytes of the version `info` describes, at their offsets, open
    /// for reading: the embedded store's data file of a one-file object. `None` where there is
    /// no such file (inline and multipart objects, remote stores; the default) or the version is
    /// gone. The FUSE mount hands it to the kernel, which then reads it without asking us
    /// (FUSE passthrough). The file is never written again: a new version is a new file.
    async fn version_file(&self, bucket: &BucketPath, info: &ObjectInfo) -> Result<Option<std::fs::File>> {
        let _ = (bucket, info);
        Ok(None)
    }
    async fn head_object(&self, bucket: &BucketPath, key: &str) -> Result<ObjectInfo>;
    /// Deleting a missing key succeeds (S3 semantics); `if_match` fails with
    /// [`Error::PreconditionFailed`] when the key is missing or has another ETag.
    async fn delete_object(&self, bucket: &BucketPath, key: &str, if_match: Option<&str>) -> Result<()>;
    async fn copy_object(
        &self,
        src_bucket: &BucketPath,
        src_key: &str,
        dst_bucket: &BucketPath,
        dst_key: &str,
        opts: CopyOptions,
    ) -> Result<ObjectInfo>;
    /// Replace the attributes of an existing key without touching its bytes (chmod, xattrs,
    /// tagging). The version stays the same: the bytes did not change.
    async fn set_attrs(&self, bucket: &BucketPath, key: &str, attrs: ObjectAttrs) -> Result<ObjectInfo>;
    /// Rename one key; replaces `to` if it exists. Atomic in the embedded store.
    async fn rename_object(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<()>;
    /// Rename every key under `from` (a prefix such as `dir/`) to the same suffix under `to`.
    /// Atomic in the embedded store. Returns how many keys moved.
    async fn rename_prefix(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<u64>;
    async fn list_objects(&self, bucket: &BucketPath, req: ListRequest) -> Result<ListPage>;
    /// What the name `key` is: the object `key`, the marker `key/` and whether anything lies
    /// under `key/` ([`NameLookup`]), as the FUSE mount asks for every name it looks up. The
    /// default is [`lookup_name_by_parts`] (three calls, the same requests as before it existed);
    /// the embedded store answers in one read transaction. A decorator forwards it.
    async fn lookup_name(&self, bucket: &BucketPath, key: &str, query: NameQuery) -> Result<NameLookup> {
        lookup_name_by_parts(self, bucket, key, query).await
    }

    /// Subscribe to changes made through this store (by any front end of this process).
    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent>;
}

/// Multipart uploads, and deleting a bucket together with its uploads (which must be atomic
/// with an upload's creation in the embedded stores, so it lives beside them).
#[async_trait]
pub trait Multipart: Send + Sync {
    async fn create_multipart(&self, bucket: &BucketPath, key: &str, opts: PutOptions) -> Result<String>;
    async fn upload_part(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        opts: PutOptions,
    ) -> Result<PartInfo>;
    /// Copy (a range of) an existing key into a part (UploadPartCopy).
    async fn upload_part_copy(&self, bucket: &BucketPath, key: &str, copy: PartCopy<'_>) -> Result<PartInfo>;
    /// Parts must be ascending ([`Error::InvalidPartOrder`]), each uploaded with that ETag
    /// ([`Error::InvalidPart`]), all but the last ≥ 5 MiB ([`Error::EntityTooSmall`]). Parts not
    /// named are discarded. The parts' bytes are not copied.
    async fn complete_multipart(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        condition: WriteCondition,
    ) -> Result<ObjectInfo>;
    async fn abort_multipart(&self, bucket: &BucketPath, key: &str, upload_id: &str) -> Result<()>;
    async fn list_parts(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        part_number_marker: u32,
        max_parts: usize,
    ) -> Result<PartsPage>;
    async fn list_uploads(&self, bucket: &BucketPath, req: UploadsRequest<'_>) -> Result<UploadsPage>;
    /// Deletes the bucket as AWS's DeleteBucket does: its unfinished multipart uploads are
    /// aborted with it (`aws s3 rb --force` relies on it). A bucket with keys stays
    /// [`Error::BucketNotEmpty`] and keeps its uploads; a link record is deleted alone (the
    /// target's uploads are not touched).
    ///
    /// The embedded stores do it in one transaction: a concurrent `create_multipart` either
    /// commits first and is aborted with the bucket, or finds no bucket. A store without such a
    /// transaction (the remote one) uses [`abort_uploads_then_delete`].
    async fn delete_bucket_aborting_uploads(&self, bucket: &BucketPath) -> Result<()>;
}

/// The arguments of [`Multipart::upload_part_copy`] beyond the destination key.
#[derive(Debug, Clone)]
pub struct PartCopy<'a> {
    pub upload_id: &'a str,
    pub part_number: u32,
    pub src_bucket: &'a BucketPath,
    pub src_key: &'a str,
    /// Copy only this range of the source (`x-amz-copy-source-range`).
    pub src_range: Option<Range<u64>>,
}

/// A ListMultipartUploads request ([`Multipart::list_uploads`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct UploadsRequest<'a> {
    pub prefix: &'a str,
    pub key_marker: Option<&'a str>,
    pub upload_id_marker: Option<&'a str>,
    pub max_uploads: usize,
}

/// The whole store: the one seam both front ends use. Implemented by [`crate::LocalStore`],
/// [`crate::RemoteStore`], [`crate::MemStore`] (tests) and the decorators
/// [`crate::CachingStore`] (page cache) and [`deadline::DeadlineStore`]; any type with the three
/// parts is one.
pub trait ObjectStore: Namespace + Objects + Multipart + 'static {}

impl<T: Namespace + Objects + Multipart + ?Sized + 'static> ObjectStore for T {}

/// A decorator that changes only key I/O ([`Objects`]): implementing this gives it the
/// [`Namespace`] and [`Multipart`] of the store it wraps, unchanged, so it writes only the
/// calls it changes plus the [`Objects`] forwards.
pub trait PassThrough: Send + Sync {
    /// The wrapped store.
    fn wrapped(&self) -> &dyn ObjectStore;
}

#[async_trait]
impl<T: PassThrough> Namespace for T {
    async fn create_volume(&self, name: &str, owner: &str) -> Result<VolumeInfo> {
        self.wrapped().create_volume(name, owner).await
    }
    async fn delete_volume(&self, name: &str) -> Result<()> {
        self.wrapped().delete_volume(name).await
    }
    async fn volume_info(&self, name: &str) -> Result<VolumeInfo> {
        self.wrapped().volume_info(name).await
    }
    async fn list_volumes(&self) -> Result<Vec<VolumeInfo>> {
        self.wrapped().list_volumes().await
    }
    async fn create_bucket(&self, bucket: &BucketPath, owner: &str) -> Result<BucketInfo> {
        self.wrapped().create_bucket(bucket, owner).await
    }
    async fn create_link(&self, link: &BucketPath, target: &BucketPath, owner: &str) -> Result<BucketInfo> {
        self.wrapped().create_link(link, target, owner).await
    }
    async fn delete_bucket(&self, bucket: &BucketPath) -> Result<()> {
        self.wrapped().delete_bucket(bucket).await
    }
    async fn bucket_info(&self, bucket: &BucketPath) -> Result<BucketInfo> {
        self.wrapped().bucket_info(bucket).await
    }
    async fn list_buckets(&self, volume: &str) -> Result<Vec<BucketInfo>> {
        self.wrapped().list_buckets(volume).await
    }
    async fn bucket_settings(&self, bucket: &BucketPath) -> Result<BucketInfo> {
        self.wrapped().bucket_settings(bucket).await
    }
    async fn update_bucket(&self, bucket: &BucketPath, update: BucketUpdate) -> Result<BucketInfo> {
        self.wrapped().update_bucket(bucket, update).await
    }
    async fn resolve_bucket(&self, bucket: &BucketPath) -> Result<BucketPath> {
        self.wrapped().resolve_bucket(bucket).await
    }
}

#[async_trait]
impl<T: PassThrough> Multipart for T {
    async fn create_multipart(&self, bucket: &BucketPath, key: &str, opts: PutOptions) -> Result<String> {
        self.wrapped().create_multipart(bucket, key, opts).await
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
        self.wrapped()
            .upload_part(bucket, key, upload_id, part_number, body, opts)
            .await
    }
    async fn upload_part_copy(&self, bucket: &BucketPath, key: &str, copy: PartCopy<'_>) -> Result<PartInfo> {
        self.wrapped().upload_part_copy(bucket, key, copy).await
    }
    async fn complete_multipart(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        condition: WriteCondition,
    ) -> Result<ObjectInfo> {
        self.wrapped()
            .complete_multipart(bucket, key, upload_id, parts, condition)
            .await
    }
    async fn abort_multipart(&self, bucket: &BucketPath, key: &str, upload_id: &str) -> Result<()> {
        self.wrapped().abort_multipart(bucket, key, upload_id).await
    }
    async fn list_parts(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        part_number_marker: u32,
        max_parts: usize,
    ) -> Result<PartsPage> {
        self.wrapped()
            .list_parts(bucket, key, upload_id, part_number_marker, max_parts)
            .await
    }
    async fn list_uploads(&self, bucket: &BucketPath, req: UploadsRequest<'_>) -> Result<UploadsPage> {
        self.wrapped().list_uploads(bucket, req).await
    }
    async fn delete_bucket_aborting_uploads(&self, bucket: &BucketPath) -> Result<()> {
        self.wrapped().delete_bucket_aborting_uploads(bucket).await
    }
}

/// [`Multipart::delete_bucket_aborting_uploads`] for a store that cannot do it in one
/// transaction (the remote one): checks for keys, aborts upload by upload, then deletes. An
/// upload or key created in between makes it [`Error::BucketNotEmpty`], the uploads aborted so
/// far staying aborted.
pub async fn abort_uploads_then_delete<S: ObjectStore + ?Sized>(store: &S, bucket: &BucketPath) -> Result<()> {
    if store.bucket_info(bucket).await?.link_target.is_some() {
        return store.delete_bucket(bucket).await;
    }
    let any_key = ListRequest {
        max_keys: 1,
        ..Default::default()
    };
    let page = store.list_objects(bucket, any_key).await?;
    if !page.objects.is_empty() || !page.common_prefixes.is_empty() {
        return Err(Error::BucketNotEmpty(bucket.bucket.clone()));
    }
    // Bounded: each round aborts what it lists; a bucket that keeps getting new uploads
    // ends as BucketNotEmpty from `delete_bucket`.
    let all = UploadsRequest {
        max_uploads: 1000,
        ..Default::default()
    };
    for _ in 0..100 {
        let page = store.list_uploads(bucket, all).await?;
        if page.uploads.is_empty() {
            break;
        }
        for u in page.uploads {
            match store.abort_multipart(bucket, &u.key, &u.upload_id).await {
                Ok(()) | Err(Error::NoSuchUpload(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    store.delete_bucket(bucket).await
}

/// Minimum size of every part but the last (S3 and Ozone: 5 MiB).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Highest part number.
pub const MAX_PART_NUMBER: u32 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_resolution_follows_s3() {
        assert_eq!(RangeSpec::FromTo(0, 4).resolve(11).unwrap(), 0..5);
        assert_eq!(RangeSpec::FromTo(2, 1000).resolve(11).unwrap(), 2..11);
        assert!(RangeSpec::FromTo(10000, 10000).resolve(11).is_err());
        assert_eq!(RangeSpec::From(0).resolve(11).unwrap(), 0..11);
        assert_eq!(RangeSpec::Suffix(4).resolve(11).unwrap(), 7..11);
        assert_eq!(RangeSpec::Suffix(10000).resolve(11).unwrap(), 0..11);
        assert!(RangeSpec::FromTo(0, 0).resolve(0).is_err());
        assert_eq!(RangeSpec::FromTo(4, 4).resolve(11).unwrap(), 4..5);
    }
}
