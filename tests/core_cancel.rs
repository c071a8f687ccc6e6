//! Cancelled writes of the embedded store reclaim their bytes at once. A client that disconnects
//! makes hyper drop the handler's future wherever it is waiting — in the body, in the writer
//! thread's join, in the fsync-and-rename task, in the commit — and no data or temporary file of
//! that write may stay behind until the next start (recovery would find it, but a long-running
//! server with flaky clients would fill its disk first).

mod common;

use ozfs::*;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn count_files(dir: &Path) -> usize {
    walk(dir)
}

fn walk(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            n += walk(&p);
        } else {
            n += 1;
        }
    }
    n
}

fn body(len: usize, chunk: usize) -> ByteStream {
    common::chunked(vec![7u8; len], chunk)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_puts_and_parts_leave_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::open(dir.path(), "s3v").unwrap());
    let b = BucketPath::new("s3v", "cancel");
    store.create_volume("s3v", "t").await.ok();
    store.create_bucket(&b, "t").await.unwrap();
    let up = store.create_multipart(&b, "mp", PutOptions::default()).await.unwrap();
    let objects = dir.path().join("objects");
    let tmp = dir.path().join("tmp");
    let mut completed = 0;
    // How long one uncancelled write of each kind takes on this machine right now, so the sweep
    // below covers the whole write (and a margin past it) however fast or loaded the machine is.
    let mut full = [Duration::ZERO; 2];
    for (k, (len, chunk)) in [(3usize << 20, 256usize << 10), (100 << 10, 100 << 10)]
        .into_iter()
        .enumerate()
    {
        let t = Instant::now();
        store
            .put_object(&b, "k", body(len, chunk), PutOptions::default())
            .await
            .unwrap();
        full[k] = t.elapsed();
    }
    // Sweep the moment of cancellation from 0 to 1.5 x that duration, for a streamed (large)
    // body and for a small one that is written in one go.
    for i in 0..300u64 {
        let (len, chunk) = if i % 2 == 0 {
            (3 << 20, 256 << 10)
        } else {
            (100 << 10, 100 << 10)
        };
        let after = full[(i % 2) as usize].mul_f64(1.5 * (i / 2) as f64 / 150.0);
        let fut = async {
            if i % 4 < 2 {
                store
                    .put_object(&b, "k", body(len, chunk), PutOptions::default())
                    .await
                    .map(|_| ())
            } else {
                store
                    .upload_part(&b, "mp", &up, 1, body(len, chunk), PutOptions::default())
                    .await
                    .map(|_| ())
            }
        };
        if let Ok(r) = tokio::time::timeout(after, fut).await {
            r.unwrap();
            completed += 1;
        }
    }
    // Exactly the committed object's and the committed part's files may remain, once the
    // blocking tasks that outlived their cancelled futures have finished their cleanup: wait for
    // that (bounded), then assert.
    let referenced = usize::from(store.head_object(&b, "k").await.is_ok())
        + store.list_parts(&b, "mp", &up, 0, 1000).await.unwrap().parts.len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while (count_files(&objects), count_files(&tmp)) != (referenced, 0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (o, t) = (count_files(&objects), count_files(&tmp));
    assert_eq!(
        t, 0,
        "temporary files left behind ({completed} of 300 writes completed)"
    );
    assert_eq!(
        o, referenced,
        "unreferenced data files ({completed} of 300 writes completed)"
    );
    assert!(
        completed > 0 && completed < 300,
        "the sweep must cut some writes and finish some: {completed}"
    );
}
