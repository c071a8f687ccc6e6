//! Unsigned requests with security off: they may read objects (the browser page's download
//! links) and the browser page itself, and nothing else. In particular an unsigned `HEAD` of a
//! bucket is 403: goofys sends exactly that probe at mount time and, on a 200, switches the
//! whole mount to unsigned requests, after which every write fails.

use ozfs::{body_from_bytes, BucketPath, ObjectStore, PutOptions, SecretStore};
use ozfs_gateway::{Gateway, GatewayConfig};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// Start a security-off gateway over a MemStore holding `bucket1/obj`; returns its address and
/// a sender that stops it.
fn start() -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mem = Arc::new(ozfs::MemStore::new("s3v"));
    let (store, secrets): (Arc<dyn ObjectStore>, Arc<dyn SecretStore>) = (mem.clone(), mem);
    let cfg = GatewayConfig::new("127.0.0.1:0".parse().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (atx, arx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        rt.block_on(async move {
            let b = BucketPath::new("s3v", "bucket1");
            store.create_bucket(&b, "owner").await.unwrap();
            store
                .put_object(&b, "obj", body_from_bytes(&b"content"[..]), PutOptions::default())
                .await
                .unwrap();
            let gw = Gateway::bind(cfg, store, secrets).await.unwrap();
            atx.send(gw.local_addr()).unwrap();
            gw.run(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        })
    });
    let addr = arx.recv_timeout(Duration::from_secs(30)).unwrap();
    (addr, tx, thread)
}

/// Send one unsigned request; return the status code.
fn status(addr: SocketAddr, method: &str, target: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let head = String::from_utf8_lossy(&resp);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"))
}

#[test]
fn unsigned_requests_read_objects_only() {
    let (addr, stop, thread) = start();
    // goofys's anonymous-bucket probe must not succeed.
    assert_eq!(status(addr, "HEAD", "/bucket1"), 403, "unsigned HEAD bucket");
    assert_eq!(status(addr, "GET", "/bucket1"), 403, "unsigned ListObjects");
    assert_eq!(status(addr, "GET", "/"), 403, "unsigned ListBuckets");
    assert_eq!(status(addr, "PUT", "/bucket2"), 403, "unsigned CreateBucket");
    assert_eq!(status(addr, "PUT", "/bucket1/new"), 403, "unsigned PutObject");
    assert_eq!(status(addr, "DELETE", "/bucket1/obj"), 403, "unsigned DeleteObject");
    // What a browser needs.
    assert_eq!(status(addr, "GET", "/bucket1/obj"), 200, "unsigned GetObject");
    assert_eq!(status(addr, "HEAD", "/bucket1/obj"), 200, "unsigned HeadObject");
    assert_eq!(status(addr, "GET", "/bucket1?browser=true"), 200, "browser page");
    let _ = stop.send(());
    thread.join().unwrap();
}
