//! [`CachingStore`]: the decorator that puts a [`PageCache`] in front of any [`ObjectStore`].
//!
//! Namespace and multipart calls reach the inner store through [`PassThrough`]; of the key
//! calls ([`crate::store::Objects`]) all are delegated except the two byte-reading ones:
//! - `get_object` resolves the object with one `head_object` on the inner store, resolves the
//!   range (or part number), pins that version with `inner.pin_version` and returns a lazy body
//!   that yields slices of cached pages, loading missing pages (in parallel, with readahead) with
//!   `inner.read_version(bucket, &info, page_range)`. The body holds the [`VersionPin`] until it
//!   ends or is dropped, so an object overwritten, deleted or renamed mid-GET is still served
//!   whole as the version the head saw (what S3 does), never a mix of two versions. The first
//!   page is loaded before `get_object` returns (looking the object up again, a bounded number of
//!   times, when it changed between the head and the pin or that load), so a GET answers old or
//!   new, or a clean error. A store without pins (the remote one) keeps the old failure mode: a
//!   page load of a replaced version fails with [`Error::ObjectChanged`] and the body ends there.
//! - `put_object` can also load the new object's pages (write-allocate,
//!   [`CachingStore::with_write_fill`]).
//! - `read_version` (what the FUSE mount calls per `read` with the info it got at open) is
//!   served from pages the same way.
//!
//! Pages of replaced or deleted versions are never hit (new writes have new versions), so
//! nothing has to be invalidated for correctness; but they are dropped early, so they do not
//! crowd out the new version's pages ([`PageCache::retire_key`]):
//! - after a put, copy, attribute change or delete through this decorator, the versions the key
//!   was read at, other than the one it has now, are dropped; after a rename their pages are
//!   re-filed under the new name (the store keeps the version), and the target's old versions
//!   are dropped;
//! - [`CachingStore::watch_changes`] follows the inner store's change feed, for what reaches the
//!   store otherwise (a multipart upload's completion, a write by another front door on the
//!   same store): for a key whose versions the cache holds, one `head_object` says which
//!   version is current, and the others are dropped.
//!
//! A reader that pinned a dropped version (a GET body, a FUSE handle) still reads it: its reads
//! go directly to `inner.read_version`, which the pin keeps working.

use super::fill::{FillGuard, WriteFill};
use super::page::PageSource;
use super::PageCache;
use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use crate::store::{
    ByteStream, ChangeEvent, CopyOptions, GetOptions, GetResult, ListPage, ListRequest, NameLookup, NameQuery,
    ObjectAttrs, ObjectInfo, ObjectStore, Objects, PassThrough, PutOptions, VersionPin,
};
use async_trait::async_trait;
use futures_util::{stream, Stream, StreamExt};
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// How many times a GET looks the object up again when it changed before its first page loaded.
const GET_RETRIES: u32 = 3;

/// An [`ObjectStore`] whose reads go through a shared [`PageCache`].
pub struct CachingStore {
    inner: Arc<dyn ObjectStore>,
    cache: Arc<PageCache>,
    write_fill: bool,
}

impl CachingStore {
    pub fn new(inner: Arc<dyn ObjectStore>, cache: Arc<PageCache>) -> Self {
        CachingStore {
            inner,
            cache,
            write_fill: false,
        }
    }

    /// With `on`, `put_object` caches the new object's pages as the inner store writes them
    /// (write-allocate, [`super::fill`]; only a store that writes data files hands them over).
    pub fn with_write_fill(mut self, on: bool) -> Self {
        self.write_fill = on;
        self
    }

    /// The page cache (for stats and for sharing with another decorator).
    pub fn cache(&self) -> &Arc<PageCache> {
        &self.cache
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// Follow the inner store's change feed on the current tokio runtime: for each changed key
    /// whose versions the cache holds, drop those that are no longer current (one `head_object`
    /// says which is). Catches what does not go through this decorator's own key calls (a
    /// completed multipart upload, a write made on the inner store directly). The task ends
    /// when the store or the cache is gone; `None` without a runtime.
    pub fn watch_changes(&self) -> Option<tokio::task::JoinHandle<()>> {
        let rt = tokio::runtime::Handle::try_current().ok()?;
        let mut rx = self.inner.subscribe();
        let inner = Arc::downgrade(&self.inner);
        let cache = Arc::downgrade(&self.cache);
        Some(rt.spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        let (Some(inner), Some(cache)) = (inner.upgrade(), cache.upgrade()) else {
                            return;
                        };
                        retire_changed(inner.as_ref(), &cache, &ev).await;
                    }
                    // Missed changes only leave dead pages to age out of the LRU.
                    Err(RecvError::Lagged(n)) => log::debug!("page cache: change feed lagged by {n} events"),
                    Err(RecvError::Closed) => return,
                }
            }
        }))
    }

    /// Run the rename `op` of `from` to `to` (`prefix`: every key under `from`), keeping the
    /// cached versions' pages: they are filed under the new names before the rename (so the
    /// change feed's delete of the old name finds nothing to drop) and back if it fails; after
    /// it, the versions the new names had before are dropped.
    async fn renamed<T>(
        &self,
        bucket: &BucketPath,
        from: &str,
        to: &str,
        prefix: bool,
        op: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let moving = self.cache.versions_under(bucket, from, prefix);
        let moved: Vec<(String, Vec<u64>)> = moving
            .iter()
            .map(|(k, vs)| (format!("{to}{}", &k[from.len()..]), vs.clone()))
            .collect();
        self.cache.refile(bucket, &moved);
        match op.await {
            Ok(r) => {
                for (k, vs) in &moved {
                    self.cache.retire_key(bucket, k, vs, true);
                }
                Ok(r)
            }
            Err(e) => {
                self.cache.refile(bucket, &moving);
                Err(e)
            }
        }
    }

    fn cached_stream(
        &self,
        bucket: &BucketPath,
        info: ObjectInfo,
        range: Range<u64>,
        limit: u64,
        own_pass: bool,
    ) -> ByteStream {
        if range.start >= range.end {
            return Box::pin(stream::empty());
        }
        let src = Arc::new(PageSource {
            inner: Arc::clone(&self.inner),
            bucket: bucket.clone(),
            info,
        });
        self.cache.stream(src, range, limit, own_pass)
    }
}

/// Drop the cached versions of `ev`'s key that are no longer current.
async fn retire_changed(inner: &dyn ObjectStore, cache: &PageCache, ev: &ChangeEvent) {
    if cache.key_versions(&ev.bucket, &ev.key).is_empty() {
        return;
    }
    let current = match inner.head_object(&ev.bucket, &ev.key).await {
        Ok(info) => Some(info.version),
        Err(Error::NoSuchKey(_) | Error::NoSuchBucket(_)) => None,
        Err(e) => {
            log::debug!("page cache: head of changed key {} failed: {e}", ev.key);
            return;
        }
    };
    // A deleted key's version may live on under another key (the source of a rename): its
    // pages are dropped but it is not marked dead. A put's replaced versions are dead.
    let keep: Vec<u64> = current.into_iter().collect();
    cache.retire_key(&ev.bucket, &ev.key, &keep, ev.kind == crate::store::ChangeKind::Put);
}

/// A body that holds a [`VersionPin`] until it ends (or fails, or is dropped).
struct PinnedBody {
    body: ByteStream,
    pin: Option<VersionPin>,
}

impl Stream for PinnedBody {
    type Item = Result<bytes::Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let r = self.body.poll_next_unpin(cx);
        if matches!(r, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.pin = None;
        }
        r
    }
}

/// Whether the part layout of `info` is unknown although it is a multipart object (a remote
/// object: HEAD gives only `…-N` in the ETag, not the part sizes).
fn parts_unknown(info: &ObjectInfo) -> bool {
    info.parts.is_empty()
        && info
            .etag
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse::<u32>().ok())
            .is_some_and(|n| n > 1)
}

impl PassThrough for CachingStore {
    fn wrapped(&self) -> &dyn ObjectStore {
        self.inner.as_ref()
    }
}

/// Only the byte reads are changed; the other key calls go to the inner store as they are.
#[async_trait]
impl Objects for CachingStore {
    async fn put_object(
        &self,
        bucket: &BucketPath,
        key: &str,
        body: ByteStream,
        mut opts: PutOptions,
    ) -> Result<ObjectInfo> {
        // dropped without `committed` (an error, or this future dropped): the pages go
        let fill = FillGuard::new(match (self.write_fill, &opts.pages) {
            (true, None) => WriteFill::new(&self.cache, opts.expected_len),
            _ => None,
        });
        if let Some(sink) = fill.sink() {
            opts.pages = Some(sink);
        }
        let info = self.inner.put_object(bucket, key, body, opts).await?;
        self.cache.retire_key(bucket, key, &[info.version], true);
        fill.committed(bucket, key, info.version);
        Ok(info)
    }
    // The new object is a new version: the cache, keyed by version, cannot serve the old bytes
    // for it, exactly as after `put_object`; the old version's pages are dropped.
    async fn put_file(
        &self,
        bucket: &BucketPath,
        key: &str,
        file: std::fs::File,
        len: u64,
        md5: Option<[u8; 16]>,
        opts: PutOptions,
    ) -> Result<ObjectInfo> {
        let info = self.inner.put_file(bucket, key, file, len, md5, opts).await?;
        self.cache.retire_key(bucket, key, &[info.version], true);
        Ok(info)
    }
    fn adopts_files_from(&self, dir: &std::path::Path) -> bool {
        self.inner.adopts_files_from(dir)
    }
    async fn get_object(&self, bucket: &BucketPath, key: &str, opts: GetOptions) -> Result<GetResult> {
        let mut attempt = 0;
        loop {
            let info = self.inner.head_object(bucket, key).await?;
            if opts.part_number.is_some() && parts_unknown(&info) {
                // Only the inner store knows where the part lies: read it uncached.
                return self.inner.get_object(bucket, key, opts).await;
            }
            let range = crate::namespace::rules::get_range(&opts, info.size, &info.parts, &info.part_numbers)?;
            // Pin the version before the first page load, so pages loaded later (in parallel,
            // or by readahead) still read it after an overwrite or delete commits. A range within
            // one page needs no pin: that page is loaded whole below, before answering.
            let page = self.cache.page_size().max(1);
            let one_page = range.end.saturating_sub(range.start - range.start % page) <= page;
            let pinned = if one_page {
                Ok(VersionPin::none())
            } else {
                self.inner.pin_version(bucket, &info).await
            };
            let pin = match pinned {
                Ok(p) => p,
                Err(Error::ObjectChanged(_)) if attempt < GET_RETRIES => {
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let body = self.cached_stream(bucket, info.clone(), range.clone(), range.end, true);
            let mut body: ByteStream = Box::pin(PinnedBody { body, pin: Some(pin) });
            // Load the first page before answering: an object replaced or deleted between the
            // head and that load is looked up again (a clean NoSuchKey or the new version)
            // instead of a response whose body fails before its first byte; and an object of one
            // page is then served whole from the bytes already held, whatever happens next.
            match body.next().await {
                None => return Ok(GetResult { info, range, body }),
                Some(Ok(first)) => {
                    let body: ByteStream = Box::pin(stream::once(async move { Ok(first) }).chain(body));
                    return Ok(GetResult { info, range, body });
                }
                Some(Err(Error::ObjectChanged(_))) if attempt < GET_RETRIES => attempt += 1,
                Some(Err(e)) => return Err(e),
            }
        }
    }
    async fn read_version(&self, bucket: &BucketPath, info: &ObjectInfo, range: Range<u64>) -> Result<ByteStream> {
        if range.start > range.end || range.end > info.size {
            return Err(Error::InvalidRange);
        }
        Ok(self.cached_stream(bucket, info.clone(), range, info.size, false))
    }
    async fn pin_version(&self, bucket: &BucketPath, info: &ObjectInfo) -> Result<VersionPin> {
        self.inner.pin_version(bucket, info).await
    }
    async fn version_file(&self, bucket: &BucketPath, info: &ObjectInfo) -> Result<Option<std::fs::File>> {
        self.inner.version_file(bucket, info).await
    }
    async fn head_object(&self, bucket: &BucketPath, key: &str) -> Result<ObjectInfo> {
        self.inner.head_object(bucket, key).await
    }
    async fn delete_object(&self, bucket: &BucketPath, key: &str, if_match: Option<&str>) -> Result<()> {
        self.inner.delete_object(bucket, key, if_match).await?;
        self.cache.retire_key(bucket, key, &[], true);
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
        let info = self
            .inner
            .copy_object(src_bucket, src_key, dst_bucket, dst_key, opts)
            .await?;
        self.cache.retire_key(dst_bucket, dst_key, &[info.version], true);
        Ok(info)
    }
    async fn set_attrs(&self, bucket: &BucketPath, key: &str, attrs: ObjectAttrs) -> Result<ObjectInfo> {
        let info = self.inner.set_attrs(bucket, key, attrs).await?;
        self.cache.retire_key(bucket, key, &[info.version], true);
        Ok(info)
    }
    async fn rename_object(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<()> {
        self.renamed(bucket, from, to, false, self.inner.rename_object(bucket, from, to))
            .await
    }
    async fn rename_prefix(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<u64> {
        self.renamed(bucket, from, to, true, self.inner.rename_prefix(bucket, from, to))
            .await
    }
    async fn list_objects(&self, bucket: &BucketPath, req: ListRequest) -> Result<ListPage> {
        self.inner.list_objects(bucket, req).await
    }
    async fn lookup_name(&self, bucket: &BucketPath, key: &str, query: NameQuery) -> Result<NameLookup> {
        self.inner.lookup_name(bucket, key, query).await
    }
    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.inner.subscribe()
    }
}
