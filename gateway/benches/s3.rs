//! S3 endpoint benchmark (`cargo bench -p ozfs-gateway --bench s3`), measured against this
//! machine's limits in the same run:
//!
//! * single-stream loopback TCP (a plain tokio socket copy) vs a cached 1 GiB GET;
//! * one core's MD5 speed, and a durable disk write (write + fdatasync), vs a single-part 1 GiB
//!   PUT into the embedded store (the ETag and the durability sync are the bounds);
//! * 4 KiB PUT and GET operations per second at concurrency 32;
//! * peak RSS growth of the process while a 1 GiB object is uploaded and downloaded.
//!
//! The gateway runs in-process over a `LocalStore` in a temp dir behind a `CachingStore` (as
//! `ozfs serve` does); the second GET of the object is served from the page cache.
//! Clients speak raw HTTP/1.1 over keep-alive sockets so the client costs little CPU; security
//! is off, so one precomputed SigV4 header (never verified) names the user.
//! Environment: `OZFS_BENCH_MIB` (object size in MiB, default 1024), `OZFS_BENCH_SECS` (duration
//! of the ops/s phases, default 5).

use md5::{Digest, Md5};
use ozfs::{ObjectStore, SecretStore};
use ozfs_gateway::{Gateway, GatewayConfig};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MIB: u64 = 1024 * 1024;
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000";

fn gbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Single-stream loopback TCP: write `total` bytes through one socket, read and discard them.
async fn loopback_tcp(total: u64) -> f64 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let reader = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.expect("accept");
        let mut buf = vec![0u8; MIB as usize];
        let mut n = 0u64;
        while n < total {
            let r = s.read(&mut buf).await.expect("read");
            if r == 0 {
                break;
            }
            n += r as u64;
        }
        n
    });
    let mut c = TcpStream::connect(addr).await.expect("connect");
    let buf = vec![7u8; MIB as usize];
    let t0 = Instant::now();
    let mut sent = 0;
    while sent < total {
        c.write_all(&buf).await.expect("write");
        sent += MIB;
    }
    let got = reader.await.expect("reader");
    gbps(got, t0.elapsed())
}

/// Durable sequential write: `total` bytes into a file in `dir`, then fdatasync (what a durable
/// PUT into the embedded store must at least pay).
fn disk_write_sync(dir: &std::path::Path, total: u64) -> f64 {
    use std::io::Write;
    let path = dir.join("disk-probe");
    let buf = vec![9u8; 4 * MIB as usize];
    let t0 = Instant::now();
    let mut f = std::fs::File::create(&path).expect("probe file");
    let mut n = 0;
    while n < total {
        f.write_all(&buf).expect("write");
        n += buf.len() as u64;
    }
    f.sync_data().expect("sync");
    let speed = gbps(n, t0.elapsed());
    drop(f);
    let _ = std::fs::remove_file(&path);
    speed
}

/// MD5 over `total` bytes on one core.
fn md5_speed(total: u64) -> f64 {
    let buf = vec![3u8; 16 * MIB as usize];
    let t0 = Instant::now();
    let mut h = Md5::new();
    let mut n = 0;
    while n < total {
        h.update(&buf);
        n += buf.len() as u64;
    }
    std::hint::black_box(h.finalize());
    gbps(n, t0.elapsed())
}

fn head(method: &str, path: &str, addr: SocketAddr, len: Option<u64>) -> Vec<u8> {
    let mut s = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nx-amz-date: 20260101T000000Z\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\nauthorization: {AUTH}\r\n"
    );
    if let Some(n) = len {
        s.push_str(&format!("content-length: {n}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// Read one response; returns (status, body length, body if `keep`). `buf` carries bytes read
/// past the response (keep-alive pipelining never happens here, but stay correct).
async fn response(s: &mut TcpStream, buf: &mut Vec<u8>, keep: bool) -> (u16, u64, Vec<u8>) {
    let mut tmp = vec![0u8; 65536];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut tmp).await.expect("read head");
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&tmp[..n]);
    };
    let headers = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = headers[9..12].parse().expect("status");
    let len: u64 = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().expect("length"))
        .unwrap_or(0);
    let start = head_end + 4;
    let take = ((buf.len() - start) as u64).min(len) as usize;
    let mut body = if keep {
        buf[start..start + take].to_vec()
    } else {
        Vec::new()
    };
    let leftover = buf[start + take..].to_vec();
    *buf = leftover;
    let mut got = take as u64;
    let mut chunk = vec![0u8; MIB as usize];
    while got < len {
        let want = ((len - got) as usize).min(chunk.len());
        let n = s.read(&mut chunk[..want]).await.expect("read body");
        assert!(n > 0, "short body");
        if keep {
            body.extend_from_slice(&chunk[..n]);
        }
        got += n as u64;
    }
    (status, got, body)
}

async fn put_large(addr: SocketAddr, key: &str, total: u64) -> Duration {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let chunk = vec![0x5au8; 4 * MIB as usize];
    let t0 = Instant::now();
    s.write_all(&head("PUT", &format!("/bench/{key}"), addr, Some(total)))
        .await
        .expect("head");
    let mut sent = 0;
    while sent < total {
        let n = (total - sent).min(chunk.len() as u64) as usize;
        s.write_all(&chunk[..n]).await.expect("body");
        sent += n as u64;
    }
    let mut buf = Vec::new();
    let (st, _, _) = response(&mut s, &mut buf, false).await;
    assert_eq!(st, 200);
    t0.elapsed()
}

async fn get_large(addr: SocketAddr, key: &str) -> (u64, Duration) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let t0 = Instant::now();
    s.write_all(&head("GET", &format!("/bench/{key}"), addr, None))
        .await
        .expect("head");
    let mut buf = Vec::new();
    let (st, n, _) = response(&mut s, &mut buf, false).await;
    assert_eq!(st, 200);
    (n, t0.elapsed())
}

/// `conc` keep-alive clients doing 4 KiB PUTs (or GETs) for `secs`; returns ops/s.
async fn small_ops(addr: SocketAddr, put: bool, conc: usize, secs: u64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..conc {
        let (stop, ops) = (stop.clone(), ops.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            s.set_nodelay(true).expect("nodelay");
            let body = vec![b'x'; 4096];
            let mut buf = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // PUTs cycle over 64 keys per client; GETs read the first one (always written).
                let key = format!("/bench/small/{t}/{}", if put { i % 64 } else { 0 });
                if put {
                    let mut req = head("PUT", &key, addr, Some(4096));
                    req.extend_from_slice(&body);
                    s.write_all(&req).await.expect("put");
                } else {
                    s.write_all(&head("GET", &key, addr, None)).await.expect("get");
                }
                let (st, _, _) = response(&mut s, &mut buf, false).await;
                assert_eq!(st, 200);
                ops.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("task");
    }
    ops.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    let mib: u64 = std::env::var("OZFS_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let secs: u64 = std::env::var("OZFS_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let size = mib * MIB;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let tcp = loopback_tcp(4 * size).await;
        let md5 = md5_speed(size);
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = disk_write_sync(dir.path(), size);
        println!(
            "machine: loopback TCP single stream {tcp:.2} GB/s, MD5 one core {md5:.2} GB/s, disk write+fdatasync {disk:.2} GB/s"
        );

        let local = Arc::new(ozfs::LocalStore::open(dir.path(), "s3v").expect("LocalStore"));
        // As `ozfs serve` runs it: the embedded store behind the shared page cache, with a
        // budget that holds the test object.
        let cache = Arc::new(ozfs::PageCache::new(size * 3 / 2, ozfs::cache::DEFAULT_PAGE_SIZE));
        let cached: Arc<dyn ObjectStore> = Arc::new(ozfs::CachingStore::new(local.clone(), cache));
        let (store, secrets): (Arc<dyn ObjectStore>, Arc<dyn SecretStore>) = (cached, local.clone());
        let gw = Gateway::bind(GatewayConfig::new("127.0.0.1:0".parse().expect("addr")), store, secrets)
            .await
            .expect("bind");
        let addr = gw.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(gw.run(async {
            let _ = rx.await;
        }));
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(&head("PUT", "/bench", addr, Some(0))).await.expect("mb");
        let (st, _, _) = response(&mut s, &mut Vec::new(), false).await;
        assert!(st == 200 || st == 409, "create bucket: {st}");

        // Peak RSS while a large object goes up and comes back.
        let base = rss_kib();
        let peak = Arc::new(AtomicU64::new(base));
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = {
            let (peak, sampling) = (peak.clone(), sampling.clone());
            std::thread::spawn(move || {
                while sampling.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let put_t = put_large(addr, "big", size).await;
        let put = gbps(size, put_t);
        let put_peak = peak.load(Ordering::Relaxed).saturating_sub(base) / 1024;
        // First GET warms the page cache; the second is the cached figure.
        let _ = get_large(addr, "big").await;
        let (n, get_t) = get_large(addr, "big").await;
        assert_eq!(n, size);
        let get = gbps(n, get_t);
        sampling.store(false, Ordering::Relaxed);
        let _ = sampler.join();
        let peak_growth = peak.load(Ordering::Relaxed).saturating_sub(base) / 1024;

        println!(
            "GET cached {mib} MiB: {get:.2} GB/s = {:.2} x loopback TCP (target >= 0.7)",
            get / tcp
        );
        println!(
            "PUT single part {mib} MiB: {put:.2} GB/s = {:.2} x MD5 (target >= 0.8), {:.2} x disk write+fdatasync",
            put / md5,
            put / disk
        );
        println!(
            "peak RSS growth: {put_peak} MiB during the {mib} MiB PUT, {peak_growth} MiB once the GETs filled the page cache (budget {} MiB; base {} MiB)",
            size * 3 / 2 / MIB,
            base / 1024
        );

        // The same object through a second endpoint on the bare LocalStore (no page cache; the
        // kernel's page cache holds the file after one read): splits gateway from cache cost.
        let direct = Gateway::bind(
            GatewayConfig::new("127.0.0.1:0".parse().expect("addr")),
            local.clone() as Arc<dyn ObjectStore>,
            local.clone() as Arc<dyn SecretStore>,
        )
        .await
        .expect("bind direct");
        let daddr = direct.local_addr();
        let (dtx, drx) = tokio::sync::oneshot::channel::<()>();
        let dserver = tokio::spawn(direct.run(async {
            let _ = drx.await;
        }));
        let _ = get_large(daddr, "big").await;
        let (n, dt) = get_large(daddr, "big").await;
        let dget = gbps(n, dt);
        println!(
            "GET {mib} MiB from LocalStore without the page cache (kernel-cached file): {dget:.2} GB/s = {:.2} x loopback TCP",
            dget / tcp
        );
        let _ = dtx.send(());
        let _ = dserver.await;

        let put_ops = small_ops(addr, true, 32, secs).await;
        let get_ops = small_ops(addr, false, 32, secs).await;
        println!("4 KiB PUT at concurrency 32: {put_ops:.0} ops/s");
        println!("4 KiB GET at concurrency 32: {get_ops:.0} ops/s");
        let _ = tx.send(());
        let _ = server.await;
    });
}
