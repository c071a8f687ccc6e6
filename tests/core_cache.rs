//! Page cache and CachingStore tests.
//!
//! The store under the cache is a small in-test `ObjectStore` (`TestStore`: objects in a map,
//! a fresh version per write, version-pinned reads that fail with ObjectChanged once the key was
//! replaced, counted `read_version` calls and an optional delay per read) so the tests can see
//! exactly how many loads reached the store.

mod common;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use ozfs::cache::CacheStats;
use ozfs::{
    body_from_bytes, collect_body, BucketInfo, BucketPath, ByteStream, CachingStore, ChangeEvent, CompletedPart,
    CopyOptions, Error, GetOptions, GetResult, ListPage, ListRequest, Multipart, Namespace, ObjectAttrs, ObjectInfo,
    ObjectStore, Objects, PageCache, PartInfo, PartsPage, PutOptions, RangeSpec, Result, UploadsPage, VersionPin,
    VolumeInfo, WriteCondition,
};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::broadcast;

#[derive(Default)]
struct TestStore {
    objects: Mutex<HashMap<String, (ObjectInfo, Bytes)>>,
    next_version: AtomicU64,
    reads: AtomicU64,
    read_ranges: Mutex<Vec<Range<u64>>>,
    delay_ms: AtomicU64,
    /// Pinned versions: version → (pin count, bytes).
    pinned: Arc<Mutex<HashMap<u64, (usize, Bytes)>>>,
}

/// A pin of the test store: keeps a version's bytes readable until dropped.
struct TestPin {
    pinned: Arc<Mutex<HashMap<u64, (usize, Bytes)>>>,
    version: u64,
}

impl Drop for TestPin {
    fn drop(&mut self) {
        let mut m = self.pinned.lock().unwrap();
        if let Some(p) = m.get_mut(&self.version) {
            p.0 -= 1;
            if p.0 == 0 {
                m.remove(&self.version);
            }
        }
    }
}

impl TestStore {
    fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }
}

fn unsupported<T>() -> Result<T> {
    Err(Error::NotSupported("not part of the cache test store".into()))
}

#[async_trait]
impl Namespace for TestStore {
    async fn create_volume(&self, _: &str, _: &str) -> Result<VolumeInfo> {
        unsupported()
    }
    async fn delete_volume(&self, _: &str) -> Result<()> {
        unsupported()
    }
    async fn volume_info(&self, _: &str) -> Result<VolumeInfo> {
        unsupported()
    }
    async fn list_volumes(&self) -> Result<Vec<VolumeInfo>> {
        unsupported()
    }
    async fn create_bucket(&self, _: &BucketPath, _: &str) -> Result<BucketInfo> {
        unsupported()
    }
    async fn create_link(&self, _: &BucketPath, _: &BucketPath, _: &str) -> Result<BucketInfo> {
        unsupported()
    }
    async fn delete_bucket(&self, _: &BucketPath) -> Result<()> {
        unsupported()
    }
    async fn bucket_info(&self, _: &BucketPath) -> Result<BucketInfo> {
        unsupported()
    }
    async fn list_buckets(&self, _: &str) -> Result<Vec<BucketInfo>> {
        unsupported()
    }
    async fn update_bucket(&self, _: &BucketPath, _: ozfs::BucketUpdate) -> Result<BucketInfo> {
        unsupported()
    }
    async fn resolve_bucket(&self, b: &BucketPath) -> Result<BucketPath> {
        Ok(b.clone())
    }
}

#[async_trait]
impl Objects for TestStore {
    async fn put_object(&self, _: &BucketPath, key: &str, body: ByteStream, _: PutOptions) -> Result<ObjectInfo> {
        let data = Bytes::from(collect_body(body, 1 << 30).await?);
        let info = ObjectInfo {
            key: key.to_string(),
            size: data.len() as u64,
            etag: format!("{:x}", data.len()),
            last_modified: SystemTime::now(),
            version: self.next_version.fetch_add(1, Ordering::SeqCst) + 1,
            owner: "tester".into(),
            attrs: ObjectAttrs::default(),
            parts: vec![],
            part_numbers: vec![],
        };
        self.objects
            .lock()
            .unwrap()
            .insert(key.to_string(), (info.clone(), data));
        Ok(info)
    }
    async fn get_object(&self, _: &BucketPath, _: &str, _: GetOptions) -> Result<GetResult> {
        unsupported()
    }
    async fn read_version(&self, _: &BucketPath, info: &ObjectInfo, range: Range<u64>) -> Result<ByteStream> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.read_ranges.lock().unwrap().push(range.clone());
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            // Not synchronisation: the slow backend read that a test injects.
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let objects = self.objects.lock().unwrap();
        let pinned = self.pinned.lock().unwrap();
        let data = match objects.get(&info.key) {
            Some((cur, data)) if cur.version == info.version => Some(data.clone()),
            _ => pinned.get(&info.version).map(|(_, d)| d.clone()),
        };
        match data {
            Some(data) => {
                let slice = data.slice(range.start as usize..range.end as usize);
                // two chunks, to exercise page assembly
                let mid = slice.len() / 2;
                let (a, b) = (slice.slice(..mid), slice.slice(mid..));
                Ok(Box::pin(futures_util::stream::iter(vec![Ok(a), Ok(b)])))
            }
            None => Err(Error::ObjectChanged(info.key.clone())),
        }
    }
    async fn pin_version(&self, _: &BucketPath, info: &ObjectInfo) -> Result<VersionPin> {
        let objects = self.objects.lock().unwrap();
        let mut pinned = self.pinned.lock().unwrap();
        match (pinned.get_mut(&info.version), objects.get(&info.key)) {
            (Some(p), _) => p.0 += 1,
            (None, Some((cur, data))) if cur.version == info.version => {
                pinned.insert(info.version, (1, data.clone()));
            }
            (None, _) => return Err(Error::ObjectChanged(info.key.clone())),
        }
        Ok(VersionPin::new(TestPin {
            pinned: self.pinned.clone(),
            version: info.version,
        }))
    }
    async fn head_object(&self, _: &BucketPath, key: &str) -> Result<ObjectInfo> {
        self.objects
            .lock()
            .unwrap()
            .get(key)
            .map(|(i, _)| i.clone())
            .ok_or_else(|| Error::NoSuchKey(key.into()))
    }
    async fn delete_object(&self, _: &BucketPath, key: &str, _: Option<&str>) -> Result<()> {
        self.objects.lock().unwrap().remove(key);
        Ok(())
    }
    async fn copy_object(
        &self,
        _: &BucketPath,
        _: &str,
        _: &BucketPath,
        _: &str,
        _: CopyOptions,
    ) -> Result<ObjectInfo> {
        unsupported()
    }
    async fn set_attrs(&self, _: &BucketPath, _: &str, _: ObjectAttrs) -> Result<ObjectInfo> {
        unsupported()
    }
    async fn rename_object(&self, _: &BucketPath, _: &str, _: &str) -> Result<()> {
        unsupported()
    }
    async fn rename_prefix(&self, _: &BucketPath, _: &str, _: &str) -> Result<u64> {
        unsupported()
    }
    async fn list_objects(&self, _: &BucketPath, _: ListRequest) -> Result<ListPage> {
        unsupported()
    }
    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        broadcast::channel(1).1
    }
}

#[async_trait]
impl Multipart for TestStore {
    async fn delete_bucket_aborting_uploads(&self, _: &BucketPath) -> Result<()> {
        unsupported()
    }
    async fn create_multipart(&self, _: &BucketPath, _: &str, _: PutOptions) -> Result<String> {
        unsupported()
    }
    async fn upload_part(
        &self,
        _: &BucketPath,
        _: &str,
        _: &str,
        _: u32,
        _: ByteStream,
        _: PutOptions,
    ) -> Result<PartInfo> {
        unsupported()
    }
    async fn upload_part_copy(&self, _: &BucketPath, _: &str, _: ozfs::PartCopy<'_>) -> Result<PartInfo> {
        unsupported()
    }
    async fn complete_multipart(
        &self,
        _: &BucketPath,
        _: &str,
        _: &str,
        _: &[CompletedPart],
        _: WriteCondition,
    ) -> Result<ObjectInfo> {
        unsupported()
    }
    async fn abort_multipart(&self, _: &BucketPath, _: &str, _: &str) -> Result<()> {
        unsupported()
    }
    async fn list_parts(&self, _: &BucketPath, _: &str, _: &str, _: u32, _: usize) -> Result<PartsPage> {
        unsupported()
    }
    async fn list_uploads(&self, _: &BucketPath, _: ozfs::UploadsRequest<'_>) -> Result<UploadsPage> {
        unsupported()
    }
}

const PS: u64 = 4096;

fn bucket() -> BucketPath {
    BucketPath::new("s3v", "bkt")
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn setup(budget: u64, readahead: u64) -> (Arc<TestStore>, CachingStore) {
    let inner = Arc::new(TestStore::default());
    let cache = Arc::new(PageCache::with_readahead(budget, PS, readahead));
    let store = CachingStore::new(inner.clone() as Arc<dyn ObjectStore>, cache);
    (inner, store)
}

async fn get(store: &CachingStore, key: &str, range: Option<RangeSpec>) -> Result<Vec<u8>> {
    let r = store
        .get_object(
            &bucket(),
            key,
            GetOptions {
                range,
                part_number: None,
            },
        )
        .await?;
    collect_body(r.body, 1 << 30).await
}

fn stats(store: &CachingStore) -> CacheStats {
    store.cache().stats()
}

#[tokio::test]
async fn hits_and_misses_are_counted() {
    let (inner, store) = setup(1 << 20, 0);
    let data = pattern(3 * PS as usize + 100, 1);
    store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();

    assert_eq!(get(&store, "k", None).await.unwrap(), data);
    let s = stats(&store);
    assert_eq!((s.hits, s.misses, s.loads), (0, 4, 4));
    assert_eq!(inner.reads(), 4);
    assert_eq!(s.bytes, data.len() as u64);
    assert_eq!(s.pages, 4);

    assert_eq!(get(&store, "k", None).await.unwrap(), data);
    let s = stats(&store);
    assert_eq!((s.hits, s.misses, s.loads), (4, 4, 4));
    assert_eq!(inner.reads(), 4, "second GET must be served from the cache");

    // a range inside page 1 is a hit on exactly one page
    let got = get(&store, "k", Some(RangeSpec::FromTo(PS + 10, PS + 19)))
        .await
        .unwrap();
    assert_eq!(got, &data[PS as usize + 10..PS as usize + 20]);
    assert_eq!(stats(&store).hits, 5);
    // pages are loaded by their own range only
    let ranges = inner.read_ranges.lock().unwrap().clone();
    assert!(ranges.contains(&(0..PS)));
    assert!(ranges.contains(&(3 * PS..3 * PS + 100)));
}

#[tokio::test]
async fn eviction_keeps_the_budget() {
    let budget = 3 * PS;
    let (inner, store) = setup(budget, 0);
    let data = pattern(8 * PS as usize, 2);
    store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    assert_eq!(get(&store, "k", None).await.unwrap(), data);
    let s = stats(&store);
    assert!(s.bytes <= budget, "{s:?}");
    assert_eq!(s.pages, 3);
    assert_eq!(s.evictions, 5);
    // the least recently used pages went: page 0 must be reloaded, page 7 is still there
    let before = inner.reads();
    get(&store, "k", Some(RangeSpec::FromTo(7 * PS, 7 * PS + 1)))
        .await
        .unwrap();
    assert_eq!(inner.reads(), before);
    get(&store, "k", Some(RangeSpec::FromTo(0, 1))).await.unwrap();
    assert_eq!(inner.reads(), before + 1);
    assert!(stats(&store).bytes <= budget);
}

#[tokio::test]
async fn a_page_larger_than_the_budget_is_served_but_not_kept() {
    let (_inner, store) = setup(PS / 2, 0);
    let data = pattern(PS as usize, 3);
    store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    assert_eq!(get(&store, "k", None).await.unwrap(), data);
    assert_eq!(stats(&store).bytes, 0);
}

#[tokio::test]
async fn overwrite_is_never_served_stale() {
    let (_inner, store) = setup(1 << 20, 0);
    let old = pattern(2 * PS as usize, 4);
    let new = pattern(2 * PS as usize, 5);
    store
        .put_object(&bucket(), "k", body_from_bytes(old.clone()), PutOptions::default())
        .await
        .unwrap();
    assert_eq!(get(&store, "k", None).await.unwrap(), old);
    store
        .put_object(&bucket(), "k", body_from_bytes(new.clone()), PutOptions::default())
        .await
        .unwrap();
    assert_eq!(get(&store, "k", None).await.unwrap(), new);
    // a shorter overwrite too
    store
        .put_object(&bucket(), "k", body_from_bytes(&b"tiny"[..]), PutOptions::default())
        .await
        .unwrap();
    assert_eq!(get(&store, "k", None).await.unwrap(), b"tiny");
    // and a delete
    store.delete_object(&bucket(), "k", None).await.unwrap();
    assert!(matches!(get(&store, "k", None).await, Err(Error::NoSuchKey(_))));
}

#[tokio::test]
async fn read_version_of_a_replaced_object_fails_instead_of_mixing() {
    let (_inner, store) = setup(1 << 20, 0);
    let old = pattern(3 * PS as usize, 6);
    let info = store
        .put_object(&bucket(), "k", body_from_bytes(old.clone()), PutOptions::default())
        .await
        .unwrap();
    // page 0 cached while the version is current
    let first = collect_body(store.read_version(&bucket(), &info, 0..PS).await.unwrap(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(first, &old[..PS as usize]);
    store
        .put_object(
            &bucket(),
            "k",
            body_from_bytes(pattern(3 * PS as usize, 7)),
            PutOptions::default(),
        )
        .await
        .unwrap();
    // the overwrite dropped the old version's cached page; read unpinned, the old version is
    // ObjectChanged, not new bytes (a pinned reader reads it: see
    // a_pinned_reader_of_a_dropped_version_reads_it_without_caching_it)
    assert!(!store.cache().contains(info.version, 0));
    for range in [0..PS, PS..2 * PS] {
        let r = collect_body(store.read_version(&bucket(), &info, range).await.unwrap(), 1 << 20).await;
        assert!(matches!(r, Err(Error::ObjectChanged(_))), "{r:?}");
    }
}

/// A GET whose key is overwritten (or deleted) after its first chunk streamed still streams the
/// whole old object (S3's behaviour): `get_object` pins the version it serves, so the page loads
/// that come later read it although the key moved on.
#[tokio::test]
async fn get_stream_serves_the_old_object_when_replaced_mid_get() {
    let (inner, store) = setup(1 << 20, 0);
    let data = pattern(4 * PS as usize, 8);
    store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    let mut r = store.get_object(&bucket(), "k", GetOptions::default()).await.unwrap();
    let first = r.body.next().await.unwrap().unwrap();
    assert_eq!(first, &data[..PS as usize]);
    store
        .put_object(
            &bucket(),
            "k",
            body_from_bytes(pattern(4 * PS as usize, 9)),
            PutOptions::default(),
        )
        .await
        .unwrap();
    let mut got = first.to_vec();
    got.extend(collect_body(r.body, 1 << 20).await.unwrap());
    assert_eq!(got, data);
    // the pin went with the body
    assert!(inner.pinned.lock().unwrap().is_empty());

    let mut r = store.get_object(&bucket(), "k", GetOptions::default()).await.unwrap();
    let cur = pattern(4 * PS as usize, 9);
    let first = r.body.next().await.unwrap().unwrap();
    store.delete_object(&bucket(), "k", None).await.unwrap();
    let mut got = first.to_vec();
    got.extend(collect_body(r.body, 1 << 20).await.unwrap());
    assert_eq!(got, cur);
}

#[tokio::test]
async fn ranges_and_part_numbers_resolve_like_s3() {
    let (_inner, store) = setup(1 << 20, 0);
    let data = pattern(10_000, 10);
    store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    assert_eq!(
        get(&store, "k", Some(RangeSpec::Suffix(10))).await.unwrap(),
        &data[9990..]
    );
    assert_eq!(
        get(&store, "k", Some(RangeSpec::From(4090))).await.unwrap(),
        &data[4090..]
    );
    assert!(matches!(
        get(&store, "k", Some(RangeSpec::From(10_000))).await,
        Err(Error::InvalidRange)
    ));
    let r = store
        .get_object(
            &bucket(),
            "k",
            GetOptions {
                range: None,
                part_number: Some(1),
            },
        )
        .await
        .unwrap();
    assert_eq!(r.range, 0..10_000);
    assert!(matches!(
        store
            .get_object(
                &bucket(),
                "k",
                GetOptions {
                    range: None,
                    part_number: Some(2)
                }
            )
            .await,
        Err(Error::InvalidPartNumber { .. })
    ));
    // empty object
    store
        .put_object(&bucket(), "e", body_from_bytes(Vec::new()), PutOptions::default())
        .await
        .unwrap();
    assert_eq!(get(&store, "e", None).await.unwrap(), b"");
}

#[tokio::test]
async fn readahead_triggers_on_sequential_reads() {
    let (inner, store) = setup(1 << 20, 8 * PS);
    let data = pattern(32 * PS as usize, 11);
    let info = store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    // FUSE-like sequential reads of a quarter page each
    let step = PS / 4;
    for i in 0..12u64 {
        let r = i * step..(i + 1) * step;
        let got = collect_body(store.read_version(&bucket(), &info, r.clone()).await.unwrap(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(got, &data[r.start as usize..r.end as usize]);
    }
    common::wait_until_async("the background loads up to page 6", Duration::from_secs(10), || {
        store.cache().contains(info.version, 6)
    })
    .await;
    let s = stats(&store);
    assert!(s.prefetches >= 3, "{s:?}");
    assert!(store.cache().contains(info.version, 3), "next pages prefetched: {s:?}");
    assert!(store.cache().contains(info.version, 6), "window grew: {s:?}");
    // never more than 8 pages ahead of the reader (it is in page 2)
    assert!(!store.cache().contains(info.version, 12), "{s:?}");
    // reading on hits the prefetched pages: no new demand load of page 3
    let hits = stats(&store).hits;
    collect_body(
        store.read_version(&bucket(), &info, 3 * PS..3 * PS + 10).await.unwrap(),
        1 << 20,
    )
    .await
    .unwrap();
    assert_eq!(stats(&store).hits, hits + 1);
    let page3_loads = inner
        .read_ranges
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.start == 3 * PS)
        .count();
    assert_eq!(page3_loads, 1);
}

#[tokio::test]
async fn random_reads_do_not_prefetch() {
    let (_inner, store) = setup(1 << 20, 8 * PS);
    let data = pattern(32 * PS as usize, 12);
    store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    // ranged GETs at random places, twice each (the second touch loads the page)
    for p in [20u64, 3, 15, 7, 28, 1] {
        for _ in 0..2 {
            get(&store, "k", Some(RangeSpec::FromTo(p * PS, p * PS + 99)))
                .await
                .unwrap();
        }
    }
    // No wait needed for "no prefetch": a prefetch is counted when the read decides it, before
    // its load is spawned, so every prefetch these reads started is in the count already.
    let s = stats(&store);
    assert_eq!(s.prefetches, 0, "{s:?}");
    assert_eq!(s.pages, 6);
}

#[tokio::test]
async fn a_small_random_read_version_reads_only_its_range() {
    let (inner, store) = setup(1 << 20, 8 * PS);
    let data = pattern(32 * PS as usize, 21);
    let info = store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    // FUSE-like random reads of a few hundred bytes, one straddling two pages
    let ranges = [
        20 * PS + 8..20 * PS + 108,
        3 * PS..3 * PS + 512,
        16 * PS - 50..16 * PS + 50,
    ];
    for r in ranges.clone() {
        let got = collect_body(store.read_version(&bucket(), &info, r.clone()).await.unwrap(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(got, &data[r.start as usize..r.end as usize]);
    }
    assert_eq!(
        *inner.read_ranges.lock().unwrap(),
        ranges,
        "each read asked the store for its range only"
    );
    let s = stats(&store);
    assert_eq!(
        (s.loads, s.prefetches, s.pages, s.bytes),
        (0, 0, 0, 0),
        "nothing cached: {s:?}"
    );
    assert_eq!((s.direct_reads, s.direct_bytes), (3, 100 + 512 + 100), "{s:?}");
}

#[tokio::test]
async fn a_small_get_reads_its_range_then_loads_the_page_on_a_second_touch() {
    let (inner, store) = setup(1 << 20, 0);
    let data = pattern(8 * PS as usize, 24);
    store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    let small = |a: u64, b: u64| get(&store, "k", Some(RangeSpec::FromTo(a, b)));
    let p5 = 5 * PS as usize;
    // first touch of page 5: only the range is read, nothing cached
    assert_eq!(small(5 * PS + 7, 5 * PS + 16).await.unwrap(), &data[p5 + 7..p5 + 17]);
    assert_eq!(inner.read_ranges.lock().unwrap().clone(), vec![5 * PS + 7..5 * PS + 17]);
    let s = stats(&store);
    assert_eq!(
        (s.direct_reads, s.direct_bytes, s.loads, s.pages),
        (1, 10, 0, 0),
        "{s:?}"
    );
    // second touch (another range of page 5): the page is loaded and cached
    assert_eq!(
        small(5 * PS + 100, 5 * PS + 199).await.unwrap(),
        &data[p5 + 100..p5 + 200]
    );
    assert_eq!(inner.read_ranges.lock().unwrap().last(), Some(&(5 * PS..6 * PS)));
    let s = stats(&store);
    assert_eq!((s.direct_reads, s.loads, s.pages), (1, 1, 1), "{s:?}");
    // third: a hit, no store read
    small(5 * PS, 5 * PS + 9).await.unwrap();
    assert_eq!(inner.reads(), 2);
    assert_eq!(stats(&store).hits, 1);
    // a GET of a whole page or more is never direct
    get(&store, "k", Some(RangeSpec::FromTo(0, PS - 1))).await.unwrap();
    let s = stats(&store);
    assert_eq!((s.direct_reads, s.loads), (1, 2), "{s:?}");
}

#[tokio::test]
async fn a_small_read_of_a_cached_page_is_a_hit() {
    let (inner, store) = setup(1 << 20, 0);
    let data = pattern(4 * PS as usize, 22);
    let info = store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    // a GET caches page 2; a random FUSE read inside it is answered from it
    get(&store, "k", Some(RangeSpec::FromTo(2 * PS, 3 * PS - 1)))
        .await
        .unwrap();
    let reads = inner.reads();
    let r = 2 * PS + 100..2 * PS + 200;
    let got = collect_body(store.read_version(&bucket(), &info, r.clone()).await.unwrap(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(got, &data[r.start as usize..r.end as usize]);
    assert_eq!(inner.reads(), reads, "no store read");
    let s = stats(&store);
    assert_eq!((s.hits, s.direct_reads), (1, 0), "{s:?}");
}

#[tokio::test]
async fn a_sequential_read_version_pass_loads_whole_pages_with_readahead() {
    let (inner, store) = setup(1 << 20, 4 * PS);
    let data = pattern(16 * PS as usize, 23);
    let info = store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    // FUSE-like sequential small reads from the start
    let step = PS / 4;
    let mut got = Vec::new();
    for i in 0..(16 * PS / step) {
        let r = i * step..(i + 1) * step;
        got.extend(
            collect_body(store.read_version(&bucket(), &info, r).await.unwrap(), 1 << 20)
                .await
                .unwrap(),
        );
    }
    assert_eq!(got, data);
    let s = stats(&store);
    assert_eq!(s.direct_reads, 1, "only the first read, before the run is known: {s:?}");
    assert_eq!(s.direct_bytes, step);
    assert!(s.prefetches >= 8, "readahead loaded pages ahead: {s:?}");
    assert_eq!(s.loads, 16, "every page loaded once, whole: {s:?}");
    let ranges = inner.read_ranges.lock().unwrap().clone();
    let pages = ranges
        .iter()
        .filter(|r| r.end - r.start == PS && r.start % PS == 0)
        .count();
    assert_eq!(pages, 16, "whole-page loads: {ranges:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_readers_of_one_page_load_it_once() {
    let (inner, store) = setup(1 << 20, 0);
    let data = pattern(PS as usize, 13);
    let info = store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    // a first small GET reads its range directly; the ones after it (second touch) load the page
    get(&store, "k", Some(RangeSpec::FromTo(0, 9))).await.unwrap();
    assert_eq!(inner.reads(), 1);
    inner.delay_ms.store(100, Ordering::SeqCst);
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..16u64 {
        let store = store.clone();
        let info = info.clone();
        let _ = &info;
        tasks.push(tokio::spawn(async move {
            let r = i * 100..i * 100 + 50;
            let got = get(&store, "k", Some(RangeSpec::FromTo(r.start, r.end - 1))).await?;
            Ok::<_, Error>((r, got))
        }));
    }
    for t in tasks {
        let (r, got) = t.await.unwrap().unwrap();
        assert_eq!(got, &data[r.start as usize..r.end as usize]);
    }
    assert_eq!(inner.reads(), 2, "16 concurrent readers of one page: one load");
    let s = stats(&store);
    assert_eq!(s.loads, 1);
    assert_eq!(s.misses, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_loader_hands_the_load_over() {
    let (inner, store) = setup(1 << 20, 0);
    let data = pattern(PS as usize, 14);
    let info = store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    // The first loader's backend read stalls (longer than the test lasts) until it is aborted.
    inner.delay_ms.store(60_000, Ordering::SeqCst);
    let store = Arc::new(store);
    let s1 = store.clone();
    let i1 = info.clone();
    // whole-page reads (a small random read_version would bypass the pages)
    let first = tokio::spawn(async move { collect_body(s1.read_version(&bucket(), &i1, 0..PS).await?, 1 << 20).await });
    common::wait_until_async("the first reader's load to start", Duration::from_secs(10), || {
        inner.reads() == 1
    })
    .await;
    let s2 = store.clone();
    let i2 = info.clone();
    let second =
        tokio::spawn(async move { collect_body(s2.read_version(&bucket(), &i2, 0..PS).await?, 1 << 20).await });
    common::wait_until_async("the second reader to join the load", Duration::from_secs(10), || {
        stats(&store).misses == 2
    })
    .await;
    inner.delay_ms.store(0, Ordering::SeqCst);
    first.abort();
    let got = second.await.unwrap().unwrap();
    assert_eq!(got, data);
    assert!(store.cache().contains(info.version, 0));
    assert_eq!(
        inner.reads(),
        2,
        "the second reader took the aborted load over and read the page"
    );
}

/// A GET of a one-page object whose key is overwritten or deleted after `get_object` answered
/// (the gateway has sent the 200 and its headers) still streams the whole old object: the body
/// never breaks off.
#[tokio::test]
async fn a_one_page_get_survives_an_overwrite_or_delete_after_it_answered() {
    let (_inner, store) = setup(1 << 20, 0);
    let old = pattern(PS as usize / 2, 1);
    store
        .put_object(&bucket(), "k", body_from_bytes(old.clone()), PutOptions::default())
        .await
        .unwrap();
    let r = store.get_object(&bucket(), "k", GetOptions::default()).await.unwrap();
    store
        .put_object(
            &bucket(),
            "k",
            body_from_bytes(pattern(PS as usize / 2, 2)),
            PutOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(collect_body(r.body, 1 << 24).await.unwrap(), old);

    let r = store.get_object(&bucket(), "k", GetOptions::default()).await.unwrap();
    let cur = pattern(PS as usize / 2, 2);
    store.delete_object(&bucket(), "k", None).await.unwrap();
    assert_eq!(collect_body(r.body, 1 << 24).await.unwrap(), cur);
}

/// The same over the real LocalStore, the store `ozfs serve` puts under the cache.
#[tokio::test]
async fn localstore_one_page_get_survives_an_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let local = Arc::new(ozfs::LocalStore::open(dir.path(), "s3v").unwrap());
    local.create_volume("s3v", "tester").await.ok();
    local.create_bucket(&bucket(), "tester").await.unwrap();
    let store = CachingStore::new(local.clone(), Arc::new(PageCache::new(1 << 24, 1 << 20)));
    let old = pattern(300 * 1024, 1);
    store
        .put_object(&bucket(), "k", body_from_bytes(old.clone()), PutOptions::default())
        .await
        .unwrap();
    let r = store.get_object(&bucket(), "k", GetOptions::default()).await.unwrap();
    store
        .put_object(
            &bucket(),
            "k",
            body_from_bytes(pattern(300 * 1024, 2)),
            PutOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(collect_body(r.body, 1 << 24).await.unwrap(), old);
}

/// How the store is changed while a GET streams.
#[derive(Clone, Copy, Debug)]
enum Change {
    Overwrite,
    Delete,
}

/// GET a 5 MiB object through a cache of 1 MiB pages and a 2 MiB budget (so most pages are
/// loaded after the change), change the key after the response and its first chunk, and
/// check the body is the whole old object.
async fn multi_page_get_survives(store: &CachingStore, change: Change, seed: u8) {
    let old = pattern(5 << 20, seed);
    store
        .put_object(&bucket(), "big", body_from_bytes(old.clone()), PutOptions::default())
        .await
        .unwrap();
    let mut r = store.get_object(&bucket(), "big", GetOptions::default()).await.unwrap();
    assert_eq!(r.info.size, old.len() as u64);
    let first = r.body.next().await.unwrap().unwrap();
    match change {
        Change::Overwrite => {
            store
                .put_object(
                    &bucket(),
                    "big",
                    body_from_bytes(pattern(5 << 20, seed.wrapping_add(1))),
                    PutOptions::default(),
                )
                .await
                .unwrap();
        }
        Change::Delete => store.delete_object(&bucket(), "big", None).await.unwrap(),
    }
    let mut got = first.to_vec();
    got.extend(collect_body(r.body, 1 << 24).await.unwrap());
    assert_eq!(got.len(), old.len(), "{change:?}: body ended short");
    assert!(got == old, "{change:?}: body is not the old object");
}

fn small_cache() -> Arc<PageCache> {
    Arc::new(PageCache::with_readahead(2 << 20, 1 << 20, 1 << 20))
}

async fn local_cached(dir: &std::path::Path) -> (Arc<ozfs::LocalStore>, CachingStore) {
    let local = Arc::new(ozfs::LocalStore::open(dir, "s3v").unwrap());
    local.create_volume("s3v", "tester").await.ok();
    local.create_bucket(&bucket(), "tester").await.unwrap();
    let store = CachingStore::new(local.clone(), small_cache());
    (local, store)
}

/// Multi-page objects overwritten or deleted mid-GET are served whole (old bytes) over the
/// LocalStore.
#[tokio::test]
async fn localstore_multi_page_get_survives_overwrite_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let (_local, store) = local_cached(dir.path()).await;
    multi_page_get_survives(&store, Change::Overwrite, 11).await;
    multi_page_get_survives(&store, Change::Delete, 21).await;
}

/// The same over the MemStore.
#[tokio::test]
async fn memstore_multi_page_get_survives_overwrite_and_delete() {
    let mem = Arc::new(ozfs::MemStore::new("s3v"));
    mem.create_bucket(&bucket(), "tester").await.unwrap();
    let store = CachingStore::new(mem as Arc<dyn ObjectStore>, small_cache());
    multi_page_get_survives(&store, Change::Overwrite, 31).await;
    multi_page_get_survives(&store, Change::Delete, 41).await;
}

/// Data files under `objects/` of a LocalStore data directory.
fn data_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("objects"))
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum()
}

/// Wait (bounded) until the data directory holds `n` data files.
async fn wait_data_files(dir: &std::path::Path, n: usize) {
    common::wait_until_async(&format!("{n} data files"), Duration::from_secs(10), || {
        data_files(dir) == n
    })
    .await;
}

/// The old data file of an overwritten (or deleted) object stays while a GET pins it, and is
/// removed once the GET's body is dropped, whether it was read to the end or not.
#[tokio::test]
async fn localstore_pinned_files_are_removed_when_the_pin_drops() {
    let dir = tempfile::tempdir().unwrap();
    let (local, store) = local_cached(dir.path()).await;
    let old = pattern(5 << 20, 51);
    store
        .put_object(&bucket(), "big", body_from_bytes(old.clone()), PutOptions::default())
        .await
        .unwrap();
    assert_eq!(data_files(dir.path()), 1);

    // Overwrite, body read to the end.
    let mut r = store.get_object(&bucket(), "big", GetOptions::default()).await.unwrap();
    let first = r.body.next().await.unwrap().unwrap();
    store
        .put_object(
            &bucket(),
            "big",
            body_from_bytes(pattern(5 << 20, 52)),
            PutOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(data_files(dir.path()), 2, "the pinned old file was removed");
    let mut got = first.to_vec();
    got.extend(collect_body(r.body, 1 << 24).await.unwrap());
    assert!(got == old);
    wait_data_files(dir.path(), 1).await;

    // Delete, body dropped half-way.
    let info = local.head_object(&bucket(), "big").await.unwrap();
    let mut r = store.get_object(&bucket(), "big", GetOptions::default()).await.unwrap();
    r.body.next().await.unwrap().unwrap();
    store.delete_object(&bucket(), "big", None).await.unwrap();
    assert_eq!(data_files(dir.path()), 1);
    // read_version of the deleted version still works while pinned
    let tail = collect_body(
        local
            .read_version(&bucket(), &info, (4 << 20)..(5 << 20))
            .await
            .unwrap(),
        1 << 24,
    )
    .await
    .unwrap();
    assert!(tail == pattern(5 << 20, 52)[4 << 20..]);
    drop(r);
    wait_data_files(dir.path(), 0).await;
    let gone = local.read_version(&bucket(), &info, 0..1).await.err();
    assert!(matches!(gone, Some(Error::ObjectChanged(_))), "{gone:?}");
}

/// Two pins of one version: the file stays until both are gone; an inline (small) object is
/// held by its pin too.
#[tokio::test]
async fn localstore_pins_count_and_hold_inline_objects() {
    let dir = tempfile::tempdir().unwrap();
    let (local, _store) = local_cached(dir.path()).await;
    let big = local
        .put_object(
            &bucket(),
            "big",
            body_from_bytes(pattern(2 << 20, 61)),
            PutOptions::default(),
        )
        .await
        .unwrap();
    let small_data = pattern(1000, 62);
    let small = local
        .put_object(
            &bucket(),
            "small",
            body_from_bytes(small_data.clone()),
            PutOptions::default(),
        )
        .await
        .unwrap();
    let p1 = local.pin_version(&bucket(), &big).await.unwrap();
    let p2 = local.pin_version(&bucket(), &big).await.unwrap();
    let ps = local.pin_version(&bucket(), &small).await.unwrap();
    local.delete_object(&bucket(), "big", None).await.unwrap();
    local.delete_object(&bucket(), "small", None).await.unwrap();
    // Dropped on a thread without a runtime, a pin removes whatever it frees before `drop`
    // returns (with a runtime the unlink runs later on a blocking thread), so "the file is
    // still there" is checked after every removal this drop could make.
    std::thread::spawn(move || drop(p1)).join().unwrap();
    assert_eq!(data_files(dir.path()), 1);
    let b = collect_body(
        local.read_version(&bucket(), &big, 0..(2 << 20)).await.unwrap(),
        1 << 24,
    )
    .await
    .unwrap();
    assert!(b == pattern(2 << 20, 61));
    let s = collect_body(local.read_version(&bucket(), &small, 0..1000).await.unwrap(), 1 << 24)
        .await
        .unwrap();
    assert_eq!(s, small_data);
    drop(p2);
    drop(ps);
    wait_data_files(dir.path(), 0).await;
    assert!(matches!(
        local.read_version(&bucket(), &small, 0..1).await,
        Err(Error::ObjectChanged(_))
    ));
    // pinning a version that is already gone fails cleanly
    assert!(matches!(
        local.pin_version(&bucket(), &big).await,
        Err(Error::ObjectChanged(_))
    ));
}

/// A GET of one part (`partNumber`) of a multipart object on the LocalStore (one data file per
/// part) that is deleted mid-GET still serves the whole part; the part files go with the pin.
#[tokio::test]
async fn localstore_part_number_get_survives_a_delete() {
    let dir = tempfile::tempdir().unwrap();
    let (_local, store) = local_cached(dir.path()).await;
    let p1 = pattern(5 << 20, 71);
    let p2 = pattern(300_000, 72);
    let id = store
        .create_multipart(&bucket(), "mp", PutOptions::default())
        .await
        .unwrap();
    let mut parts = Vec::new();
    for (n, p) in [(1u32, &p1), (2, &p2)] {
        let i = store
            .upload_part(
                &bucket(),
                "mp",
                &id,
                n,
                body_from_bytes(p.clone()),
                PutOptions::default(),
            )
            .await
            .unwrap();
        parts.push(CompletedPart {
            part_number: n,
            etag: i.etag,
        });
    }
    store
        .complete_multipart(&bucket(), "mp", &id, &parts, WriteCondition::None)
        .await
        .unwrap();
    assert_eq!(data_files(dir.path()), 2);
    let mut r = store
        .get_object(
            &bucket(),
            "mp",
            GetOptions {
                range: None,
                part_number: Some(1),
            },
        )
        .await
        .unwrap();
    let first = r.body.next().await.unwrap().unwrap();
    store.delete_object(&bucket(), "mp", None).await.unwrap();
    assert_eq!(data_files(dir.path()), 2);
    let mut got = first.to_vec();
    got.extend(collect_body(r.body, 1 << 24).await.unwrap());
    assert!(got == p1, "part 1 not served whole");
    wait_data_files(dir.path(), 0).await;
}

// ---------------------------------------------------------------- over the real MemStore

async fn mem_setup(budget: u64, page: u64) -> (Arc<ozfs::MemStore>, CachingStore) {
    let mem = Arc::new(ozfs::MemStore::new("s3v"));
    mem.create_bucket(&bucket(), "tester").await.unwrap();
    let cache = Arc::new(PageCache::with_readahead(budget, page, 4 * page));
    (mem.clone(), CachingStore::new(mem as Arc<dyn ObjectStore>, cache))
}

#[tokio::test]
async fn memstore_overwrites_and_deletes_are_never_served_stale() {
    let (_mem, store) = mem_setup(1 << 20, PS).await;
    for round in 0..20u8 {
        let len = 1000 + (round as usize * 977) % (5 * PS as usize);
        let data = pattern(len, round);
        store
            .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
            .await
            .unwrap();
        assert_eq!(get(&store, "k", None).await.unwrap(), data, "round {round}");
        let mid = len as u64 / 2;
        assert_eq!(
            get(&store, "k", Some(RangeSpec::From(mid))).await.unwrap(),
            &data[mid as usize..],
            "round {round}"
        );
    }
    store.delete_object(&bucket(), "k", None).await.unwrap();
    assert!(matches!(get(&store, "k", None).await, Err(Error::NoSuchKey(_))));
    assert!(stats(&store).hits > 0);
}

#[tokio::test]
async fn memstore_multipart_part_numbers_through_the_cache() {
    let (_mem, store) = mem_setup(64 << 20, 1 << 20).await;
    let p1 = pattern(5 * 1024 * 1024, 1);
    let p2 = pattern(300_000, 2);
    let id = store
        .create_multipart(&bucket(), "mp", PutOptions::default())
        .await
        .unwrap();
    let i1 = store
        .upload_part(
            &bucket(),
            "mp",
            &id,
            1,
            body_from_bytes(p1.clone()),
            PutOptions::default(),
        )
        .await
        .unwrap();
    let i2 = store
        .upload_part(
            &bucket(),
            "mp",
            &id,
            2,
            body_from_bytes(p2.clone()),
            PutOptions::default(),
        )
        .await
        .unwrap();
    let parts = [
        CompletedPart {
            part_number: 1,
            etag: i1.etag,
        },
        CompletedPart {
            part_number: 2,
            etag: i2.etag,
        },
    ];
    store
        .complete_multipart(&bucket(), "mp", &id, &parts, WriteCondition::None)
        .await
        .unwrap();
    let r = store
        .get_object(
            &bucket(),
            "mp",
            GetOptions {
                range: None,
                part_number: Some(2),
            },
        )
        .await
        .unwrap();
    assert_eq!(r.range, p1.len() as u64..(p1.len() + p2.len()) as u64);
    assert!(collect_body(r.body, 1 << 30).await.unwrap() == p2);
}

#[tokio::test]
async fn memstore_random_ranges_match_the_bytes() {
    let (_mem, store) = mem_setup(8 * PS, PS).await;
    let data = pattern(40 * PS as usize + 123, 77);
    let info = store
        .put_object(&bucket(), "r", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..300 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let a = x % data.len() as u64;
        let b = (a + 1 + (x >> 32) % (3 * PS)).min(data.len() as u64);
        let got = collect_body(store.read_version(&bucket(), &info, a..b).await.unwrap(), 1 << 30)
            .await
            .unwrap();
        assert_eq!(got, &data[a as usize..b as usize], "{a}..{b}");
    }
    let s = stats(&store);
    assert!(s.bytes <= 8 * PS, "{s:?}");
    assert!(s.evictions > 0, "{s:?}");
}

#[derive(Debug, Clone)]
enum Op {
    Put { key: u8, len: usize, seed: u8 },
    Delete { key: u8 },
    Read { key: u8, start: usize, len: usize },
    ReadPinned { key: u8, start: usize, len: usize },
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (0u8..3, 0usize..(6 * PS as usize), any::<u8>()).prop_map(|(key, len, seed)| Op::Put { key, len, seed }),
        (0u8..3).prop_map(|key| Op::Delete { key }),
        (0u8..3, 0usize..(6 * PS as usize), 1usize..(3 * PS as usize)).prop_map(|(key, start, len)| Op::Read {
            key,
            start,
            len
        }),
        (0u8..3, 0usize..(6 * PS as usize), 1usize..(3 * PS as usize)).prop_map(|(key, start, len)| Op::ReadPinned {
            key,
            start,
            len
        }),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]
    /// Whatever the interleaving of writes, deletes and reads, a read through the cache returns
    /// exactly the current bytes (GET), or exactly the pinned version's bytes or ObjectChanged
    /// (read_version with the info of an older write) — never a stale or mixed answer.
    #[test]
    fn cache_reads_match_a_model(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let (_mem, store) = mem_setup(6 * PS, PS).await;
            let mut model: HashMap<u8, (Vec<u8>, ObjectInfo)> = HashMap::new();
            let mut pinned: HashMap<u8, (Vec<u8>, ObjectInfo)> = HashMap::new();
            for op in ops {
                match op {
                    Op::Put { key, len, seed } => {
                        let data = pattern(len, seed);
                        let info = store
                            .put_object(&bucket(), &format!("k{key}"), body_from_bytes(data.clone()), PutOptions::default())
                            .await
                            .unwrap();
                        if let Some(old) = model.insert(key, (data, info)) {
                            pinned.insert(key, old);
                        }
                    }
                    Op::Delete { key } => {
                        store.delete_object(&bucket(), &format!("k{key}"), None).await.unwrap();
                        if let Some(old) = model.remove(&key) {
                            pinned.insert(key, old);
                        }
                    }
                    Op::Read { key, start, len } => {
                        let r = get(&store, &format!("k{key}"), Some(RangeSpec::FromTo(start as u64, (start + len - 1) as u64))).await;
                        match model.get(&key) {
                            None => proptest::prop_assert!(matches!(r, Err(Error::NoSuchKey(_)))),
                            Some((data, _)) if start >= data.len() => proptest::prop_assert!(matches!(r, Err(Error::InvalidRange))),
                            Some((data, _)) => {
                                let end = (start + len).min(data.len());
                                proptest::prop_assert_eq!(r.unwrap(), &data[start..end]);
                            }
                        }
                    }
                    Op::ReadPinned { key, start, len } => {
                        let Some((data, info)) = pinned.get(&key).or(model.get(&key)) else { continue };
                        if start >= data.len() {
                            continue;
                        }
                        let end = (start + len).min(data.len());
                        let r = match store.read_version(&bucket(), info, start as u64..end as u64).await {
                            Ok(body) => collect_body(body, 1 << 30).await,
                            Err(e) => Err(e),
                        };
                        match r {
                            Ok(got) => proptest::prop_assert_eq!(got, &data[start..end]),
                            Err(Error::ObjectChanged(_)) => {
                                let current = model.get(&key).map(|(_, i)| i.version);
                                proptest::prop_assert_ne!(current, Some(info.version));
                            }
                            Err(e) => proptest::prop_assert!(false, "unexpected {e:?}"),
                        }
                    }
                }
            }
            let s = stats(&store);
            proptest::prop_assert!(s.bytes <= 6 * PS, "{:?}", s);
            Ok(())
        })?;
    }
}

/// Scan resistance: pages read by two GETs are protected; one large GET of another object that
/// is bigger than the whole cache churns only the probation segment and leaves them cached.
#[tokio::test]
async fn a_large_scan_does_not_evict_pages_read_twice() {
    let budget = 8 * PS;
    let (inner, store) = setup(budget, 0);
    let hot = pattern(2 * PS as usize, 3);
    let scan = pattern(20 * PS as usize, 4);
    for (k, d) in [("hot", &hot), ("scan", &scan)] {
        store
            .put_object(&bucket(), k, body_from_bytes(d.clone()), PutOptions::default())
            .await
            .unwrap();
    }
    assert_eq!(get(&store, "hot", None).await.unwrap(), hot);
    assert_eq!(stats(&store).protected_bytes, 0, "one pass protects nothing");
    assert_eq!(get(&store, "hot", None).await.unwrap(), hot);
    assert_eq!(stats(&store).protected_bytes, 2 * PS, "{:?}", stats(&store));
    assert_eq!(get(&store, "scan", None).await.unwrap(), scan);
    let s = stats(&store);
    assert!(s.bytes <= budget, "{s:?}");
    let before = inner.reads();
    assert_eq!(get(&store, "hot", None).await.unwrap(), hot);
    assert_eq!(inner.reads(), before, "the scan evicted the pages read twice: {s:?}");
}

/// The protected segment keeps to its share, so new pages always have room.
#[tokio::test]
async fn the_protected_segment_is_bounded() {
    let budget = 8 * PS;
    let (_inner, store) = setup(budget, 0);
    let data = pattern(8 * PS as usize, 5);
    store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(get(&store, "k", None).await.unwrap(), data);
    }
    let s = stats(&store);
    assert!(s.protected_bytes <= budget / 4 * ozfs::cache::PROTECTED_SHARE, "{s:?}");
    assert!(s.bytes <= budget, "{s:?}");
}

/// An idle cache gives its pages back: the background sweep drops the pages untouched for the
/// idle time, and the cache's byte counter (what `ozfs_cache_bytes` reports) falls to zero.
#[tokio::test]
async fn idle_pages_are_released_by_the_sweep() {
    let (inner, store) = setup(64 * PS, 0);
    let data = pattern(10 * PS as usize, 6);
    store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    assert_eq!(get(&store, "k", None).await.unwrap(), data);
    assert_eq!(stats(&store).bytes, 10 * PS);
    // Nothing is released before the idle time (a long one here).
    assert_eq!(store.cache().release_idle(Duration::from_secs(3600)), 0);
    assert_eq!(stats(&store).bytes, 10 * PS);

    let sweep = store
        .cache()
        .spawn_idle_release(Duration::from_millis(50))
        .expect("sweep task");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while stats(&store).bytes > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "not released: {:?}",
            stats(&store)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = stats(&store);
    assert_eq!((s.pages, s.released), (0, 10), "{s:?}");
    sweep.abort();
    // Released pages are loaded again on the next read.
    let before = inner.reads();
    assert_eq!(get(&store, "k", None).await.unwrap(), data);
    assert_eq!(inner.reads(), before + 10);
}

#[test]
fn an_idle_release_of_zero_runs_nothing() {
    let cache = Arc::new(PageCache::new(1 << 20, PS));
    assert!(cache.spawn_idle_release(Duration::ZERO).is_none());
}

// ---------------------------------------------------------------- dead versions dropped early

/// A LocalStore under a cache of 1 MiB pages with room for `budget` bytes, no readahead.
async fn local_with_cache(dir: &std::path::Path, budget: u64) -> (Arc<ozfs::LocalStore>, CachingStore) {
    let local = Arc::new(ozfs::LocalStore::open(dir, "s3v").unwrap());
    local.create_volume("s3v", "tester").await.ok();
    local.create_bucket(&bucket(), "tester").await.unwrap();
    let cache = Arc::new(PageCache::with_readahead(budget, 1 << 20, 0));
    (local.clone(), CachingStore::new(local, cache))
}

async fn put(store: &dyn ObjectStore, key: &str, data: &[u8]) -> ObjectInfo {
    store
        .put_object(&bucket(), key, body_from_bytes(data.to_vec()), PutOptions::default())
        .await
        .unwrap()
}

/// How many of the `pages` pages of `version` are cached.
fn cached_pages(store: &CachingStore, version: u64, pages: u64) -> u64 {
    (0..pages).filter(|i| store.cache().contains(version, *i)).count() as u64
}

/// An overwrite and a delete through the decorator drop the replaced version's pages (also the
/// protected ones) at once; the new version is served and cached.
#[tokio::test]
async fn an_overwrite_or_delete_drops_the_old_versions_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (_local, store) = local_with_cache(dir.path(), 16 << 20).await;
    let old = pattern(4 << 20, 1);
    let v1 = put(&store, "k", &old).await.version;
    for _ in 0..2 {
        assert_eq!(get(&store, "k", None).await.unwrap(), old);
    }
    let s = stats(&store);
    assert_eq!((cached_pages(&store, v1, 4), s.protected_bytes), (4, 4 << 20), "{s:?}");
    let new = pattern(4 << 20, 2);
    let v2 = put(&store, "k", &new).await.version;
    let s = stats(&store);
    assert_eq!(cached_pages(&store, v1, 4), 0, "{s:?}");
    assert_eq!(
        (s.invalidated, s.bytes, s.protected_bytes, s.pages),
        (4, 0, 0, 0),
        "{s:?}"
    );
    assert_eq!(get(&store, "k", None).await.unwrap(), new);
    assert_eq!(cached_pages(&store, v2, 4), 4);
    store.delete_object(&bucket(), "k", None).await.unwrap();
    let s = stats(&store);
    assert_eq!(
        (cached_pages(&store, v2, 4), s.invalidated, s.bytes),
        (0, 8, 0),
        "{s:?}"
    );
    // the per-version index and the pages agree throughout
    assert!(store.cache().index_consistent());
}

/// The cache scenario of the benchmark in small: two passes of the old version fill the
/// protected segment; after the re-put, two passes of the new one are served from the cache
/// the second time (the dead pages no longer crowd it out).
#[tokio::test]
async fn after_a_reput_the_new_version_is_cached_in_full() {
    let dir = tempfile::tempdir().unwrap();
    // room for 5 pages; the object has 4
    let (_local, store) = local_with_cache(dir.path(), 5 << 20).await;
    put(&store, "k", &pattern(4 << 20, 3)).await;
    for _ in 0..2 {
        get(&store, "k", None).await.unwrap();
    }
    let new = pattern(4 << 20, 4);
    put(&store, "k", &new).await;
    assert_eq!(get(&store, "k", None).await.unwrap(), new);
    let loads = stats(&store).loads;
    assert_eq!(get(&store, "k", None).await.unwrap(), new);
    let s = stats(&store);
    assert_eq!(s.loads, loads, "the second GET of the new version loaded pages: {s:?}");
    assert_eq!((s.invalidated, s.evictions), (4, 0), "{s:?}");
}

/// A GET body that pinned the old version still reads the old bytes after an overwrite, but
/// nothing of the dead version is cached again (its loads do not re-insert pages).
#[tokio::test]
async fn a_pinned_reader_of_a_dropped_version_reads_it_without_caching_it() {
    let dir = tempfile::tempdir().unwrap();
    let (local, store) = local_with_cache(dir.path(), 16 << 20).await;
    let old = pattern(6 << 20, 5);
    let info = put(&store, "k", &old).await;
    let mut r = store.get_object(&bucket(), "k", GetOptions::default()).await.unwrap();
    let first = r.body.next().await.unwrap().unwrap();
    assert_eq!(cached_pages(&store, info.version, 6), 1);
    // a FUSE-like reader: pinned at open, reading with the info it got then
    let pin = store.pin_version(&bucket(), &info).await.unwrap();
    let new = pattern(6 << 20, 6);
    put(&store, "k", &new).await;
    assert!(store.cache().is_dead(info.version));
    let mut got = first.to_vec();
    got.extend(collect_body(r.body, 1 << 24).await.unwrap());
    assert!(got == old, "the GET body is not the old object");
    let body = store
        .read_version(&bucket(), &info, (1 << 20)..(3 << 20))
        .await
        .unwrap();
    assert!(collect_body(body, 1 << 24).await.unwrap() == old[(1 << 20)..(3 << 20)]);
    drop(pin);
    let s = stats(&store);
    assert_eq!(cached_pages(&store, info.version, 6), 0, "{s:?}");
    assert!(s.direct_reads >= 5, "the dead version is read directly: {s:?}");
    assert_eq!(get(&store, "k", None).await.unwrap(), new);
    let _ = local;
}

/// Poll the cache until `pred` holds (10 s at most).
async fn wait_cache(store: &CachingStore, what: &str, pred: impl Fn(&CacheStats) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = stats(store);
        if pred(&s) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {s:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Writes that do not go through the decorator's key calls (one made on the store directly, by
/// another front door; a multipart completion) reach the cache through the change feed.
#[tokio::test]
async fn the_change_feed_drops_versions_replaced_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let (local, store) = local_with_cache(dir.path(), 16 << 20).await;
    let task = store.watch_changes().expect("a runtime");
    let v1 = put(&store, "k", &pattern(3 << 20, 7)).await.version;
    get(&store, "k", None).await.unwrap();
    assert_eq!(cached_pages(&store, v1, 3), 3);
    // another front door writes on the store under the cache
    let new = pattern(3 << 20, 8);
    let v2 = put(local.as_ref(), "k", &new).await.version;
    wait_cache(&store, "the feed dropped the old pages", |s| s.invalidated == 3).await;
    assert_eq!(cached_pages(&store, v1, 3), 0);
    assert!(store.cache().is_dead(v1));
    assert_eq!(get(&store, "k", None).await.unwrap(), new);
    assert_eq!(cached_pages(&store, v2, 3), 3);
    // a multipart upload completed through the decorator (passed through to the store)
    let id = store
        .create_multipart(&bucket(), "k", PutOptions::default())
        .await
        .unwrap();
    let part = pattern(2 << 20, 9);
    let p = store
        .upload_part(
            &bucket(),
            "k",
            &id,
            1,
            body_from_bytes(part.clone()),
            PutOptions::default(),
        )
        .await
        .unwrap();
    store
        .complete_multipart(
            &bucket(),
            "k",
            &id,
            &[CompletedPart {
                part_number: 1,
                etag: p.etag,
            }],
            WriteCondition::None,
        )
        .await
        .unwrap();
    wait_cache(&store, "the feed dropped the pages of v2", |s| s.invalidated == 6).await;
    assert_eq!(cached_pages(&store, v2, 3), 0);
    assert_eq!(get(&store, "k", None).await.unwrap(), part);
    // a delete on the store directly: dropped, not marked dead (it could be a rename source)
    let v3 = store.head_object(&bucket(), "k").await.unwrap().version;
    local.delete_object(&bucket(), "k", None).await.unwrap();
    wait_cache(&store, "the feed dropped the deleted pages", |s| s.invalidated == 8).await;
    assert!(!store.cache().is_dead(v3));
    assert!(store.cache().index_consistent());
    task.abort();
}

/// A rename keeps the version: its pages stay cached under the new name (a GET of it is all
/// hits), and a later overwrite of the new name drops them.
#[tokio::test]
async fn a_rename_keeps_the_pages_and_an_overwrite_of_the_target_drops_them() {
    let dir = tempfile::tempdir().unwrap();
    let (_local, store) = local_with_cache(dir.path(), 16 << 20).await;
    let _task = store.watch_changes();
    let data = pattern(3 << 20, 10);
    let v = put(&store, "a", &data).await.version;
    get(&store, "a", None).await.unwrap();
    store.rename_object(&bucket(), "a", "b").await.unwrap();
    let loads = stats(&store).loads;
    assert_eq!(get(&store, "b", None).await.unwrap(), data);
    let s = stats(&store);
    assert_eq!((s.loads, cached_pages(&store, v, 3)), (loads, 3), "{s:?}");
    assert!(!store.cache().is_dead(v));
    put(&store, "b", &pattern(1 << 20, 11)).await;
    assert_eq!(cached_pages(&store, v, 3), 0);
}

// ---------------------------------------------------------------- write-allocate

/// With write-allocate on, a PUT of an object between a page and a quarter of the budget leaves
/// its pages cached as the store wrote them (nothing read back); the first GET is all hits and
/// leaves the pages in probation (read once), the second pass promotes them.
#[tokio::test]
async fn a_put_caches_its_pages_and_the_first_get_reads_them_without_promoting() {
    let dir = tempfile::tempdir().unwrap();
    let (_local, store) = local_with_cache(dir.path(), 16 << 20).await;
    let store = store.with_write_fill(true);
    let data = pattern((3 << 20) + 100, 21);
    let v = put(&store, "k", &data).await.version;
    let s = stats(&store);
    assert_eq!(
        (s.filled, s.pages, s.bytes, s.loads),
        (4, 4, data.len() as u64, 0),
        "{s:?}"
    );
    assert_eq!(get(&store, "k", None).await.unwrap(), data);
    let s = stats(&store);
    assert_eq!(
        (s.loads, s.hits, s.misses),
        (0, 4, 0),
        "the first GET is all hits: {s:?}"
    );
    assert!(
        (0..4).all(|i| !store.cache().is_protected(v, i)),
        "read once: still probation"
    );
    assert_eq!(get(&store, "k", None).await.unwrap(), data);
    assert!(
        (0..4).all(|i| store.cache().is_protected(v, i)),
        "a second pass promotes"
    );
    assert!(store.cache().index_consistent());
}

/// Objects smaller than a page or larger than a quarter of the budget (declared, or found out
/// while the body streams) are not cached on write, nor is anything when write-allocate is
/// off; a put that fails leaves nothing cached.
#[tokio::test]
async fn a_put_caches_nothing_outside_the_policy_or_when_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (_local, store) = local_with_cache(dir.path(), 16 << 20).await;
    let store = store.with_write_fill(true);
    assert!(!store.cache().fills_on_write((1 << 20) - 1));
    assert!(store.cache().fills_on_write(1 << 20));
    assert!(store.cache().fills_on_write(4 << 20));
    assert!(!store.cache().fills_on_write((4 << 20) + 1));
    put(&store, "small", &pattern(100 << 10, 1)).await;
    // no declared length: found out at the fifth page
    put(&store, "large", &pattern((4 << 20) + 1, 2)).await;
    let declared = pattern(5 << 20, 3);
    let opts = PutOptions {
        expected_len: Some(declared.len() as u64),
        ..Default::default()
    };
    store
        .put_object(&bucket(), "declared", body_from_bytes(declared), opts)
        .await
        .unwrap();
    let before = stats(&store);
    assert_eq!((before.pages, before.bytes), (0, 0), "{before:?}");
    // a wrong Content-MD5 fails the put after the whole body was written
    let opts = PutOptions {
        content_md5: Some([0; 16]),
        ..Default::default()
    };
    let r = store
        .put_object(&bucket(), "bad", body_from_bytes(pattern(2 << 20, 4)), opts)
        .await;
    assert!(matches!(r, Err(Error::BadDigest)), "{r:?}");
    let s = stats(&store);
    assert_eq!(
        (s.filled - before.filled, s.pages, s.bytes),
        (2, 0, 0),
        "handed, then dropped: {s:?}"
    );
    let (_local2, plain) = local_with_cache(dir.path().join("b").as_path(), 16 << 20).await;
    put(&plain, "k", &pattern(2 << 20, 3)).await;
    let s = stats(&plain);
    assert_eq!((s.filled, s.pages), (0, 0), "{s:?}");
}

/// An overwrite: the replaced version's written pages are dropped with it, and only the current
/// version stays cached.
#[tokio::test]
async fn an_overwrite_drops_the_pages_its_put_cached() {
    let dir = tempfile::tempdir().unwrap();
    let (_local, store) = local_with_cache(dir.path(), 16 << 20).await;
    let store = store.with_write_fill(true);
    let v1 = put(&store, "k", &pattern(4 << 20, 5)).await.version;
    assert_eq!(cached_pages(&store, v1, 4), 4);
    let new = pattern(3 << 20, 6);
    let v2 = put(&store, "k", &new).await.version;
    assert_eq!((cached_pages(&store, v1, 4), cached_pages(&store, v2, 3)), (0, 3));
    assert_eq!(get(&store, "k", None).await.unwrap(), new);
    assert_eq!(stats(&store).loads, 0);
    assert!(store.cache().index_consistent());
}

/// The embedded store's side of the contract: the body goes to the sink in whole pages, in
/// order, under the version the put commits, whatever the chunk sizes of the body (chunks
/// across page boundaries, write-back windows in the middle of a page); the file holds the same
/// bytes.
#[tokio::test]
async fn the_embedded_store_hands_the_body_page_by_page_as_it_writes_it() {
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<(u64, u64, Bytes)>>);
    impl ozfs::store::PageSink for Recorder {
        fn page_size(&self) -> usize {
            1 << 20
        }
        fn page(&self, version: u64, index: u64, bytes: Bytes) {
            self.0.lock().unwrap().push((version, index, bytes));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let local = Arc::new(ozfs::LocalStore::open(dir.path(), "s3v").unwrap());
    local.create_bucket(&bucket(), "tester").await.unwrap();
    let data = pattern((17 << 20) + 123, 7);
    let chunks: Vec<Result<Bytes>> = data.chunks(100_003).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let rec = Arc::new(Recorder::default());
    let opts = PutOptions {
        pages: Some(rec.clone() as Arc<dyn ozfs::store::PageSink>),
        ..Default::default()
    };
    let info = local
        .put_object(&bucket(), "k", Box::pin(futures_util::stream::iter(chunks)), opts)
        .await
        .unwrap();
    let pages = std::mem::take(&mut *rec.0.lock().unwrap());
    assert_eq!(pages.len(), 18);
    let mut joined = Vec::new();
    for (i, (v, index, bytes)) in pages.iter().enumerate() {
        assert_eq!((*v, *index), (info.version, i as u64));
        assert_eq!(bytes.len(), if i < 17 { 1 << 20 } else { 123 });
        joined.extend_from_slice(bytes);
    }
    assert!(joined == data, "the pages are the body");
    let r = local.get_object(&bucket(), "k", GetOptions::default()).await.unwrap();
    assert!(
        collect_body(r.body, 1 << 30).await.unwrap() == data,
        "the file is the body"
    );
}

/// A put given up half-way (its future dropped: a client that went away) leaves none of the
/// pages its writer already handed to the cache.
#[tokio::test]
async fn a_put_dropped_half_way_leaves_no_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (_local, store) = local_with_cache(dir.path(), 16 << 20).await;
    let store = Arc::new(store.with_write_fill(true));
    let head: Vec<Result<Bytes>> = pattern(2 << 20, 8)
        .chunks(64 << 10)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    // two pages' worth, then a body that never ends
    let body = futures_util::stream::iter(head).chain(futures_util::stream::pending());
    let s2 = Arc::clone(&store);
    let task = tokio::spawn(async move {
        let opts = PutOptions {
            expected_len: Some(3 << 20),
            ..Default::default()
        };
        s2.put_object(&bucket(), "k", Box::pin(body), opts).await
    });
    wait_cache(&store, "two pages handed over", |s| s.filled == 2 && s.pages == 2).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    wait_cache(&store, "the given-up put's pages dropped", |s| {
        s.pages == 0 && s.bytes == 0
    })
    .await;
    assert!(store.head_object(&bucket(), "k").await.is_err());
    assert!(store.cache().index_consistent());
}
