//! Throughput of the page cache path (`CachingStore`), printed, never asserted:
//! * a 512 MiB object read three times through the cache over `MemStore` (the first read fills
//!   the cache, the next two are served from it);
//! * a 512 MiB object of the embedded store read directly, then cold and warm through the cache.
//!
//! `cargo bench -p ozfs --bench cache` (moved here from `#[ignore]`d tests of tests/core_cache.rs).

use bytes::Bytes;
use futures_util::StreamExt;
use ozfs::store::prelude::*;
use ozfs::*;
use std::sync::Arc;
use std::time::Instant;

const SIZE: usize = 512 << 20;

fn bucket() -> BucketPath {
    BucketPath::new("s3v", "bkt")
}

/// GET `big` to the end: (bytes, seconds).
async fn drain(s: &dyn ObjectStore) -> (usize, f64) {
    let t = Instant::now();
    let r = s.get_object(&bucket(), "big", GetOptions::default()).await.unwrap();
    let mut body = r.body;
    let mut n = 0usize;
    while let Some(c) = body.next().await {
        n += c.unwrap().len();
    }
    (n, t.elapsed().as_secs_f64())
}

async fn cached_get_throughput() {
    let mem = Arc::new(MemStore::new("s3v"));
    mem.create_bucket(&bucket(), "tester").await.unwrap();
    let page = 1u64 << 20;
    let store = CachingStore::new(
        mem as Arc<dyn ObjectStore>,
        Arc::new(PageCache::with_readahead(1 << 30, page, 4 * page)),
    );
    store
        .put_object(
            &bucket(),
            "big",
            body_from_bytes(vec![7u8; SIZE]),
            PutOptions::default(),
        )
        .await
        .unwrap();
    for round in 0..3 {
        let (n, secs) = drain(&store).await;
        assert_eq!(n, SIZE);
        println!(
            "MemStore through the cache, round {round}: {} MiB in {secs:.3} s = {:.2} GB/s; {:?}",
            SIZE >> 20,
            n as f64 / secs / 1e9,
            store.cache().stats()
        );
    }
}

async fn localstore_through_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let local = Arc::new(LocalStore::open(dir.path(), "s3v").unwrap());
    local.create_bucket(&bucket(), "tester").await.unwrap();
    let data = Bytes::from(
        (0..SIZE)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(3))
            .collect::<Vec<u8>>(),
    );
    let chunk = 1 << 20;
    let chunks: Vec<Result<Bytes>> = (0..SIZE.div_ceil(chunk))
        .map(|i| Ok(data.slice(i * chunk..((i + 1) * chunk).min(SIZE))))
        .collect();
    let body: ByteStream = Box::pin(futures_util::stream::iter(chunks));
    local
        .put_object(&bucket(), "big", body, PutOptions::default())
        .await
        .unwrap();
    let (n, secs) = drain(local.as_ref()).await;
    println!("direct LocalStore: {:.2} GB/s", n as f64 / secs / 1e9);
    let cs = CachingStore::new(local.clone(), Arc::new(PageCache::new(1 << 30, 1 << 20)));
    let (n, secs) = drain(&cs).await;
    println!(
        "LocalStore cold through the cache: {:.2} GB/s; {:?}",
        n as f64 / secs / 1e9,
        cs.cache().stats()
    );
    let (n, secs) = drain(&cs).await;
    println!("LocalStore warm through the cache: {:.2} GB/s", n as f64 / secs / 1e9);
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        cached_get_throughput().await;
        localstore_through_the_cache().await;
    });
}
