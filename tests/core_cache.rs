//! Page cache and CachingStore tests.
//!
//! The store under the cache is a small in-test `ObjectStore` (`TestStore`: objects in a map,
//! a fresh version per write, version-pinned reads that fail with ObjectChanged once the key was
//! replaced, counted `read_version` calls and an optional delay per read) so the tests can see
//! exactly how many loads reached the store.

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use ozfs::cache::CacheStats;
use ozfs::{
    body_from_bytes, collect_body, BucketInfo, BucketPath, ByteStream, CachingStore, ChangeEvent, CompletedPart,
    CopyOptions, Error, GetOptions, GetResult, Grant, ListPage, ListRequest, ObjectAttrs, ObjectInfo, ObjectStore,
    PageCache, PartInfo, PartsPage, PutOptions, RangeSpec, Result, UploadsPage, VolumeInfo, WriteCondition,
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
impl ObjectStore for TestStore {
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
    async fn set_bucket_acl(&self, _: &BucketPath, _: Vec<Grant>) -> Result<()> {
        unsupported()
    }
    async fn resolve_bucket(&self, b: &BucketPath) -> Result<BucketPath> {
        Ok(b.clone())
    }
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
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let objects = self.objects.lock().unwrap();
        match objects.get(&info.key) {
            Some((cur, data)) if cur.version == info.version => {
                let slice = data.slice(range.start as usize..range.end as usize);
                // two chunks, to exercise page assembly
                let mid = slice.len() / 2;
                let (a, b) = (slice.slice(..mid), slice.slice(mid..));
                Ok(Box::pin(futures_util::stream::iter(vec![Ok(a), Ok(b)])))
            }
            _ => Err(Error::ObjectChanged(info.key.clone())),
        }
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
    async fn upload_part_copy(
        &self,
        _: &BucketPath,
        _: &str,
        _: &str,
        _: u32,
        _: &BucketPath,
        _: &str,
        _: Option<Range<u64>>,
    ) -> Result<PartInfo> {
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
    async fn list_uploads(
        &self,
        _: &BucketPath,
        _: &str,
        _: Option<&str>,
        _: Option<&str>,
        _: usize,
    ) -> Result<UploadsPage> {
        unsupported()
    }
    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        broadcast::channel(1).1
    }
}

const PS: u64 = 4096;

fn bucket() -> BucketPath {
    BucketPath::new("s3v", "b")
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
    // cached page of the pinned version is still exactly the old bytes
    let again = collect_body(store.read_version(&bucket(), &info, 0..PS).await.unwrap(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(again, first);
    // an uncached page of the old version: ObjectChanged, not new bytes
    let r = collect_body(store.read_version(&bucket(), &info, PS..2 * PS).await.unwrap(), 1 << 20).await;
    assert!(matches!(r, Err(Error::ObjectChanged(_))), "{r:?}");
}

#[tokio::test]
async fn get_stream_ends_with_object_changed_when_replaced_mid_get() {
    let (_inner, store) = setup(1 << 20, 0);
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
    let next = r.body.next().await.unwrap();
    assert!(matches!(next, Err(Error::ObjectChanged(_))), "{next:?}");
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
    assert!(store
        .get_object(
            &bucket(),
            "k",
            GetOptions {
                range: None,
                part_number: Some(2)
            }
        )
        .await
        .is_err());
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
    // let the background loads finish
    for _ in 0..200 {
        if store.cache().contains(info.version, 6) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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
    let info = store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    for p in [20u64, 3, 15, 7, 28, 1] {
        collect_body(
            store
                .read_version(&bucket(), &info, p * PS..p * PS + 100)
                .await
                .unwrap(),
            1 << 20,
        )
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let s = stats(&store);
    assert_eq!(s.prefetches, 0, "{s:?}");
    assert_eq!(s.pages, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_readers_of_one_page_load_it_once() {
    let (inner, store) = setup(1 << 20, 0);
    let data = pattern(PS as usize, 13);
    let info = store
        .put_object(&bucket(), "k", body_from_bytes(data.clone()), PutOptions::default())
        .await
        .unwrap();
    inner.delay_ms.store(100, Ordering::SeqCst);
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..16u64 {
        let store = store.clone();
        let info = info.clone();
        tasks.push(tokio::spawn(async move {
            let r = i * 100..i * 100 + 50;
            let got = collect_body(store.read_version(&bucket(), &info, r.clone()).await?, 1 << 20).await?;
            Ok::<_, Error>((r, got))
        }));
    }
    for t in tasks {
        let (r, got) = t.await.unwrap().unwrap();
        assert_eq!(got, &data[r.start as usize..r.end as usize]);
    }
    assert_eq!(inner.reads(), 1, "16 concurrent readers of one page: one load");
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
    inner.delay_ms.store(100, Ordering::SeqCst);
    let store = Arc::new(store);
    let s1 = store.clone();
    let i1 = info.clone();
    let first = tokio::spawn(async move { collect_body(s1.read_version(&bucket(), &i1, 0..10).await?, 100).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let s2 = store.clone();
    let i2 = info.clone();
    let second = tokio::spawn(async move { collect_body(s2.read_version(&bucket(), &i2, 0..10).await?, 100).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    first.abort();
    let got = second.await.unwrap().unwrap();
    assert_eq!(got, &data[..10]);
    assert!(store.cache().contains(info.version, 0));
}
