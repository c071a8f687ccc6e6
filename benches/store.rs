//! Throughput of the embedded store (`LocalStore`), printed as a markdown table:
//! 1 GiB sequential put and get, 4 KiB puts at concurrency 32, 4 KiB gets at concurrency 32,
//! and listing a 10,000-key bucket (flat pages of 1000, and one delimiter page). The single-core
//! MD5 speed is printed beside it, since a put computes the ETag.
//!
//! `cargo bench -p ozfs --bench store` (set `OZFS_BENCH_DIR` to measure another file system;
//! `OZFS_BENCH_GIB` to change the size of the sequential test).

use bytes::Bytes;
use md5::{Digest, Md5};
use ozfs::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;

fn gbps(bytes: u64, d: Duration) -> String {
    format!("{:.2} GB/s", bytes as f64 / d.as_secs_f64() / 1e9)
}

fn body_of(chunk: Bytes, n: usize) -> ByteStream {
    Box::pin(futures_util::stream::iter((0..n).map(move |_| Ok(chunk.clone()))))
}

async fn bench(rows: &mut Vec<(String, String, String)>) {
    let base = std::env::var_os("OZFS_BENCH_DIR").map(std::path::PathBuf::from);
    let dir = match &base {
        Some(b) => tempfile::tempdir_in(b).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let gib: usize = std::env::var("OZFS_BENCH_GIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let store = Arc::new(LocalStore::open(dir.path(), "s3v").unwrap());
    let b = BucketPath::new("s3v", "bench");
    store.create_bucket(&b, "bench").await.unwrap();

    // Reference: MD5 of one core.
    let buf: Vec<u8> = (0..64 * MIB).map(|i| (i * 31) as u8).collect();
    let t = Instant::now();
    let mut h = Md5::new();
    for _ in 0..4 {
        h.update(&buf);
    }
    std::hint::black_box(h.finalize());
    rows.push((
        "MD5, one core (reference)".into(),
        gbps(256 * MIB as u64, t.elapsed()),
        "256 MiB".into(),
    ));

    // Sequential put and get.
    let chunk = Bytes::from(buf[..MIB].to_vec());
    let n = gib * 1024;
    let total = (n * MIB) as u64;
    let t = Instant::now();
    store
        .put_object(&b, "big", body_of(chunk.clone(), n), PutOptions::default())
        .await
        .unwrap();
    rows.push((
        format!("sequential put {gib} GiB"),
        gbps(total, t.elapsed()),
        "1 MiB chunks, fsync before ack".into(),
    ));
    let t = Instant::now();
    let r = store.get_object(&b, "big", GetOptions::default()).await.unwrap();
    let mut body = r.body;
    let mut got = 0u64;
    use futures_util::StreamExt;
    while let Some(c) = body.next().await {
        got += c.unwrap().len() as u64;
    }
    assert_eq!(got, total);
    rows.push((
        format!("sequential get {gib} GiB"),
        gbps(total, t.elapsed()),
        "kernel cache dropped after write".into(),
    ));
    store.delete_object(&b, "big", None).await.unwrap();

    // Small puts at concurrency 32.
    let small = Bytes::from(vec![7u8; 4096]);
    let per_task = 64;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..32 {
        let (s, b, small) = (store.clone(), b.clone(), small.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..per_task {
                s.put_object(
                    &b,
                    &format!("small/{w:02}/{i:04}"),
                    body_of(small.clone(), 1),
                    PutOptions::default(),
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let d = t.elapsed();
    let ops = (32 * per_task) as f64;
    rows.push((
        "4 KiB puts, concurrency 32".into(),
        format!("{:.0} ops/s", ops / d.as_secs_f64()),
        format!("{} puts, each durable (inline in the database)", 32 * per_task),
    ));
    // 128 KiB puts: above the inline limit, so each is a data file (fsync of file + directory).
    let mid = Bytes::from(vec![9u8; 128 * 1024]);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..32 {
        let (s, b, mid) = (store.clone(), b.clone(), mid.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..per_task / 2 {
                s.put_object(
                    &b,
                    &format!("mid/{w:02}/{i:04}"),
                    body_of(mid.clone(), 1),
                    PutOptions::default(),
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    rows.push((
        "128 KiB puts, concurrency 32".into(),
        format!("{:.0} ops/s", ops / 2.0 / t.elapsed().as_secs_f64()),
        format!("{} puts, data files", 32 * per_task / 2),
    ));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..32 {
        let (s, b) = (store.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..per_task {
                let r = s
                    .get_object(&b, &format!("small/{w:02}/{i:04}"), GetOptions::default())
                    .await
                    .unwrap();
                collect_body(r.body, 1 << 20).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    rows.push((
        "4 KiB gets, concurrency 32".into(),
        format!("{:.0} ops/s", ops / t.elapsed().as_secs_f64()),
        format!("{} gets", 32 * per_task),
    ));

    // Listing 10,000 keys (created by copies of one object: hard links, no data written).
    store
        .put_object(&b, "seed", body_of(small.clone(), 1), PutOptions::default())
        .await
        .unwrap();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..32 {
        let (s, b) = (store.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < 10_000 {
                s.copy_object(&b, "seed", &b, &format!("dir/{i:05}"), CopyOptions::default())
                    .await
                    .unwrap();
                i += 32;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    rows.push((
        "server-side copies, concurrency 32".into(),
        format!("{:.0} ops/s", 10_000.0 / t.elapsed().as_secs_f64()),
        "10,000 copies (hard links)".into(),
    ));
    let t = Instant::now();
    let mut start = None;
    let mut n = 0;
    loop {
        let p = store
            .list_objects(
                &b,
                ListRequest {
                    prefix: "dir/".into(),
                    delimiter: Some("/".into()),
                    start_after: start,
                    max_keys: 1000,
                },
            )
            .await
            .unwrap();
        n += p.objects.len();
        if !p.is_truncated {
            break;
        }
        start = p.next_start_after;
    }
    assert_eq!(n, 10_000);
    let d = t.elapsed();
    rows.push((
        "list 10,000 keys (10 pages of 1000)".into(),
        format!("{:.1} ms", d.as_secs_f64() * 1e3),
        format!("{:.0} keys/s", 10_000.0 / d.as_secs_f64()),
    ));
    let t = Instant::now();
    let p = store
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
    assert_eq!(p.common_prefixes, ["dir/", "mid/", "small/"]);
    rows.push((
        "delimiter listing of the bucket root".into(),
        format!("{:.2} ms", t.elapsed().as_secs_f64() * 1e3),
        "13,072 keys under 3 prefixes: one seek each".into(),
    ));
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run either way.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    rt.block_on(bench(&mut rows));
    println!("| embedded store (LocalStore) | result | notes |");
    println!("|---|---|---|");
    for (a, b, c) in rows {
        println!("| {a} | {b} | {c} |");
    }
}
