//! Concurrency test of the embedded store: 32 tasks put, get, copy, delete and list the same few
//! keys of one bucket at once. Every body is self-describing (a header with its seed and
//! length, the rest derived from the seed), so each read can be checked to be one complete
//! version: never a mix of two writes, never truncated, and matching the ETag it came with.

use md5::{Digest, Md5};
use ozfs::*;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const TASKS: usize = 32;
const OPS_PER_TASK: usize = 40;
const KEYS: [&str; 6] = ["k0", "k1", "dir/k2", "dir/k3", "dir/sub/k4", "k5"];

fn body(seed: u64, len: usize) -> Vec<u8> {
    let len = len.max(16);
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&seed.to_le_bytes());
    v.extend_from_slice(&(len as u64).to_le_bytes());
    let mut x = seed | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    v
}

/// Check that `data` is one complete body as written by `body`, and matches `etag`.
fn verify(data: &[u8], etag: &str) {
    assert!(data.len() >= 16, "short body ({} bytes)", data.len());
    let seed = u64::from_le_bytes(data[..8].try_into().unwrap());
    let len = u64::from_le_bytes(data[8..16].try_into().unwrap()) as usize;
    assert_eq!(data.len(), len, "truncated or extended body");
    assert!(data == body(seed, len).as_slice(), "body mixes two versions");
    assert_eq!(hex::encode(Md5::digest(data)), etag, "etag of another version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_put_get_list() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::open(dir.path(), "s3v").unwrap());
    let b = BucketPath::new("s3v", "conc");
    store.create_bucket(&b, "u").await.unwrap();
    let reads = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (s, b, reads) = (store.clone(), b.clone(), reads.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(t as u64);
            for _ in 0..OPS_PER_TASK {
                let key = KEYS[rng.gen_range(0..KEYS.len())];
                match rng.gen_range(0..10) {
                    0..=3 => {
                        let len = if rng.gen_bool(0.1) {
                            rng.gen_range(1 << 20..3 << 20)
                        } else {
                            rng.gen_range(16..200_000)
                        };
                        let data = body(rng.gen(), len);
                        let info = s
                            .put_object(&b, key, body_from_bytes(data.clone()), PutOptions::default())
                            .await
                            .unwrap();
                        assert_eq!(info.size, data.len() as u64);
                    }
                    4..=6 => match s.get_object(&b, key, GetOptions::default()).await {
                        Ok(r) => {
                            let data = collect_body(r.body, 8 << 20).await.unwrap();
                            verify(&data, &r.info.etag);
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Error::NoSuchKey(_)) => {}
                        Err(e) => panic!("get {key}: {e}"),
                    },
                    7 => {
                        let page = s
                            .list_objects(
                                &b,
                                ListRequest {
                                    prefix: String::new(),
                                    delimiter: Some("/".into()),
                                    start_after: None,
                                    max_keys: 1000,
                                },
                            )
                            .await
                            .unwrap();
                        let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
                        let mut sorted = keys.clone();
                        sorted.sort();
                        assert_eq!(keys, sorted);
                        assert!(page.common_prefixes.iter().all(|p| p == "dir/"));
                    }
                    8 => {
                        let dst = KEYS[rng.gen_range(0..KEYS.len())];
                        match s.copy_object(&b, key, &b, dst, CopyOptions::default()).await {
                            Ok(_) | Err(Error::NoSuchKey(_)) => {}
                            Err(e) => panic!("copy {key} -> {dst}: {e}"),
                        }
                    }
                    _ => s.delete_object(&b, key, None).await.unwrap(),
                }
            }
        }));
    }
    let all = futures_util::future::join_all(tasks);
    for r in tokio::time::timeout(Duration::from_secs(240), all)
        .await
        .expect("bounded time")
    {
        r.unwrap();
    }
    // Final state: every key is whole; exactly one data file per object (old versions removed).
    let mut present = 0;
    for key in KEYS {
        if let Ok(r) = store.get_object(&b, key, GetOptions::default()).await {
            let data = collect_body(r.body, 8 << 20).await.unwrap();
            verify(&data, &r.info.etag);
            if r.info.size > store::local::INLINE_MAX as u64 {
                present += 1; // smaller objects live inline in the database
            }
        }
    }
    let mut files = 0;
    for sub in std::fs::read_dir(dir.path().join("objects")).unwrap() {
        files += std::fs::read_dir(sub.unwrap().path()).unwrap().count();
    }
    assert_eq!(files, present, "stray data files");
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
}
