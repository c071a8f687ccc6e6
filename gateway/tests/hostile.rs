//! Hostile HTTP against the S3 endpoint (issue 13, item 5), sent as raw bytes over TCP to a
//! `Gateway` running in-process on 127.0.0.1:0 over the embedded store:
//! - every malformed request gets an S3 XML error (never hyper's bare status line): control
//!   characters and raw non-ASCII bytes in the request line and headers, garbage request lines,
//!   too many or too large headers, invalid UTF-8 in key names;
//! - XML bodies are bounded: DeleteObjects with more than 1000 keys is MalformedXML (as AWS),
//!   CompleteMultipartUpload with 10,001 parts is refused, an entity-expansion ("billion
//!   laughs") document and a deeply nested one are MalformedXML without blowing up memory, a
//!   body beyond the operation's size bound is EntityTooLarge before it is parsed;
//! - a connection flood beyond the bound gets `503 SlowDown` and the endpoint serves again
//!   once it is over; a stalled body ends with RequestTimeout;
//! - a structure-aware fuzzer mutates real signed requests for `OZFS_FUZZ_SECS` seconds
//!   (default 8; `scripts/fuzz-http.sh` runs longer): every request gets an answer or a clean
//!   close within a bound, no task panics, the endpoint still answers afterwards, and the
//!   resident memory does not grow beyond a fixed margin.

use http::{HeaderMap, HeaderValue, Method};
use ozfs::{LocalStore, ObjectStore, SecretStore};
use ozfs_gateway::{Gateway, GatewayConfig};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

static PANICS: AtomicUsize = AtomicUsize::new(0);

struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(max_connections: Option<usize>) -> Server {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // Count panics of the server's tasks (tokio worker threads), not of the test threads.
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name().is_some_and(|n| n.starts_with("tokio")) {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            prev(info);
        }));
    });
    let dir = tempfile::tempdir().unwrap();
    let local = Arc::new(LocalStore::open(dir.path(), "s3v").unwrap());
    let (store, secrets): (Arc<dyn ObjectStore>, Arc<dyn SecretStore>) = (local.clone(), local);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cfg = GatewayConfig::new("127.0.0.1:0".parse().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (atx, arx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        rt.block_on(async move {
            store
                .create_bucket(&ozfs::BucketPath::new("s3v", "hostile"), "tester")
                .await
                .unwrap();
            let mut gw = Gateway::bind(cfg, store, secrets)
                .await
                .unwrap()
                .with_timeouts(Duration::from_secs(2), Duration::from_secs(2));
            if let Some(n) = max_connections {
                gw = gw.with_max_connections(n);
            }
            atx.send(gw.local_addr()).unwrap();
            gw.run(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        })
    });
    let addr = arx.recv_timeout(Duration::from_secs(30)).unwrap();
    Server {
        addr,
        stop: Some(tx),
        thread: Some(thread),
        _dir: dir,
    }
}

fn signed(addr: SocketAddr, method: &str, path: &str, query: &str, extra: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::HOST, HeaderValue::from_str(&addr.to_string()).unwrap());
    for (n, v) in extra {
        headers.append(
            http::header::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let params = ozfs::sigv4::SigningParams {
        access_key: "tester",
        secret_key: "tester-secret",
        region: "us-east-1",
        service: "s3",
        time: SystemTime::now(),
    };
    let hash = ozfs::sigv4::canonical::sha256_hex(body);
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    ozfs::sigv4::sign_request(&m, path, query, &headers, &hash, &params).apply(&mut headers);
    let target = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    let mut out = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
    for (n, v) in &headers {
        out.extend_from_slice(format!("{}: ", n.as_str()).as_bytes());
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// Send, then read until the server closes or `limit` passes. Returns the raw answer and
/// whether it ended in time (a close, or a complete answer on a kept-alive connection).
fn exchange(addr: SocketAddr, raw: &[u8], limit: Duration) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    s.set_write_timeout(Some(limit)).unwrap();
    // No half-close: hyper drops a connection whose client shut its sending side.
    let _ = s.write_all(raw);
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if complete(&out) {
                    return (out, true);
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if complete(&out) {
                    return (out, true);
                }
            }
            Err(_) => return (out, true), // reset by the server: a clean refusal
        }
    }
    (out, false)
}

/// A whole response with a Content-Length body is in `b`.
fn complete(b: &[u8]) -> bool {
    let Some(end) = b.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&b[..end]).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    b.len() >= end + 4 + len
}

fn status_and_code(b: &[u8]) -> (u16, String) {
    let t = String::from_utf8_lossy(b);
    let status = t.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let code = t
        .split("<Code>")
        .nth(1)
        .and_then(|r| r.split("</Code>").next())
        .unwrap_or("")
        .to_string();
    (status, code)
}

fn expect_xml(addr: SocketAddr, what: &str, raw: &[u8], status: u16, code: &str) {
    let (out, done) = exchange(addr, raw, Duration::from_secs(20));
    assert!(done, "{what}: no answer in time");
    let (s, c) = status_and_code(&out);
    assert_eq!(
        (s, c.as_str()),
        (status, code),
        "{what}: {}",
        String::from_utf8_lossy(&out[..out.len().min(600)])
    );
    let t = String::from_utf8_lossy(&out).to_ascii_lowercase();
    assert!(t.contains("content-type: application/xml"), "{what}: not S3 XML: {t}");
    assert!(t.contains("x-amz-request-id:"), "{what}: no request id");
}

#[test]
fn malformed_requests_get_s3_xml_errors() {
    let srv = start(None);
    let a = srv.addr;
    expect_xml(
        a,
        "control character in the request line",
        b"GET /hostile/a\x01b HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
        "InvalidRequest",
    );
    expect_xml(
        a,
        "raw non-ASCII in the target",
        b"GET /hostile/k\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
        "InvalidRequest",
    );
    expect_xml(a, "garbage request line", b"BLAH\r\n\r\n", 400, "InvalidRequest");
    expect_xml(
        a,
        "control character in a header",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
        400,
        "InvalidRequest",
    );
    let many: Vec<u8> = [b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec()]
        .into_iter()
        .chain((0..300).map(|i| format!("X-{i}: a\r\n").into_bytes()))
        .chain([b"\r\n".to_vec()])
        .flatten()
        .collect();
    expect_xml(a, "300 headers", &many, 400, "RequestHeaderSectionTooLarge");
    let mut big = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 1 << 20));
    big.extend_from_slice(b"\r\n\r\n");
    expect_xml(a, "a 1 MiB header", &big, 400, "RequestHeaderSectionTooLarge");
    let mid = {
        let mut m = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: ".to_vec();
        m.extend(std::iter::repeat_n(b'a', 100_000));
        m.extend_from_slice(b"\r\n\r\n");
        m
    };
    expect_xml(a, "a 100 KB header", &mid, 400, "RequestHeaderSectionTooLarge");
    let raw = signed(a, "GET", "/hostile/%ff%fe", "", &[], b"");
    expect_xml(a, "percent-encoded invalid UTF-8 key", &raw, 400, "InvalidURI");
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a task panicked");
}

#[test]
fn xml_bodies_are_bounded() {
    let srv = start(None);
    let a = srv.addr;
    let delete = |body: String| {
        use base64::Engine as _;
        use md5::Digest as _;
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body.as_bytes()));
        signed(
            a,
            "POST",
            "/hostile",
            "delete=",
            &[("content-md5", &md5)],
            body.as_bytes(),
        )
    };
    let keys: String = (0..1001).map(|i| format!("<Object><Key>k{i}</Key></Object>")).collect();
    expect_xml(
        a,
        "DeleteObjects of 1001 keys",
        &delete(format!("<Delete>{keys}</Delete>")),
        400,
        "MalformedXML",
    );
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY e "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><Delete><Object><Key>&e;</Key></Object></Delete>"#;
    expect_xml(a, "entity expansion", &delete(laughs.to_string()), 400, "MalformedXML");
    let deep = format!(
        "<Delete>{}{}</Delete>",
        "<Object>".repeat(50_000),
        "</Object>".repeat(50_000)
    );
    expect_xml(a, "50,000 nested elements", &delete(deep), 400, "MalformedXML");
    let huge = format!("<Delete><Object><Key>{}</Key></Object></Delete>", "k".repeat(3 << 20));
    expect_xml(a, "a 3 MiB DeleteObjects body", &delete(huge), 400, "EntityTooLarge");
    // CompleteMultipartUpload with 10,001 parts.
    let (out, _) = exchange(
        a,
        &signed(a, "POST", "/hostile/mp", "uploads=", &[], b""),
        Duration::from_secs(20),
    );
    let t = String::from_utf8_lossy(&out);
    let id = t
        .split("<UploadId>")
        .nth(1)
        .and_then(|r| r.split("</UploadId>").next())
        .unwrap()
        .to_string();
    let parts: String = (1..=10_001)
        .map(|i| format!("<Part><PartNumber>{i}</PartNumber><ETag>\"0123456789abcdef0123456789abcdef\"</ETag></Part>"))
        .collect();
    let body = format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>");
    let q = format!("uploadId={id}");
    let (out, done) = exchange(
        a,
        &signed(a, "POST", "/hostile/mp", &q, &[], body.as_bytes()),
        Duration::from_secs(20),
    );
    assert!(done);
    let (s, c) = status_and_code(&out);
    assert_eq!(s, 400, "{}", String::from_utf8_lossy(&out));
    assert!(
        ["MalformedXML", "InvalidArgument", "InvalidPart"].contains(&c.as_str()),
        "10,001 parts: {c}"
    );
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a task panicked");
}

#[test]
fn connection_flood_is_bounded_and_slow_bodies_time_out() {
    let srv = start(Some(32));
    let a = srv.addr;
    // 32 idle connections hold every slot (each sends half a request line).
    let held: Vec<TcpStream> = (0..32)
        .map(|_| {
            let mut s = TcpStream::connect(a).unwrap();
            s.write_all(b"GET / HT").unwrap();
            s
        })
        .collect();
    // Wait (bounded) until the server accepted them all, then one more is refused with XML.
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        let (out, _) = exchange(a, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_secs(5));
        let (s, c) = status_and_code(&out);
        if s == 503 {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "the 33rd connection was never refused: {s} {c}"
        );
    };
    assert_eq!(refused, "SlowDown");
    drop(held);
    // The slots come back: a normal request is served again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (out, _) = exchange(a, &signed(a, "GET", "/hostile", "", &[], b""), Duration::from_secs(5));
        if status_and_code(&out).0 == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "not served again after the flood");
    }
    // A body that stalls: the request ends (RequestTimeout) instead of holding the slot.
    let mut raw = signed(
        a,
        "PUT",
        "/hostile/slow",
        "",
        &[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")],
        b"",
    );
    let cut = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    raw.truncate(cut);
    let raw = String::from_utf8(raw)
        .unwrap()
        .replace("content-length: 0", "content-length: 1000")
        + "\r\n\r\n0123456789";
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let (st, code) = status_and_code(&out);
    assert_eq!(
        (st, code.as_str()),
        (400, "RequestTimeout"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a task panicked");
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One structure-aware mutation of a real request.
fn mutate(rng: &mut StdRng, req: &[u8]) -> Vec<u8> {
    let head_end = req
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(req.len());
    let (head, body) = req.split_at(head_end);
    let mut lines: Vec<Vec<u8>> = head.split(|&b| b == b'\n').map(|l| l.to_vec()).collect();
    let mut body = body.to_vec();
    let evil: &[&[u8]] = &[
        b"\x00",
        b"\x01",
        b"\x7f",
        b"\xff",
        b"\xc3\x28",
        b"%00",
        b"%ff",
        b"%",
        b"../",
        b"\r",
        b"\n",
        b" ",
        b"?",
        b"&",
        b"=",
        b"<",
        b"]]>",
        b"&amp;",
        b"\"",
        b"*",
        b"99999999999999999999",
        b"-1",
        b"chunked",
        b"aws-chunked",
    ];
    for _ in 0..rng.gen_range(1..4) {
        match rng.gen_range(0..9) {
            0 if !lines.is_empty() => {
                // Flip bytes anywhere in one line.
                let i = rng.gen_range(0..lines.len());
                if !lines[i].is_empty() {
                    let j = rng.gen_range(0..lines[i].len());
                    lines[i][j] ^= 1 << rng.gen_range(0..8);
                }
            }
            1 if !lines.is_empty() => {
                // Insert a hostile token into a line.
                let i = rng.gen_range(0..lines.len());
                let j = rng.gen_range(0..=lines[i].len());
                let t = evil[rng.gen_range(0..evil.len())];
                lines[i].splice(j..j, t.iter().copied());
            }
            2 if lines.len() > 2 => {
                // Drop a header.
                let i = rng.gen_range(1..lines.len() - 1);
                lines.remove(i);
            }
            3 if lines.len() > 2 => {
                // Duplicate a header.
                let i = rng.gen_range(1..lines.len() - 1);
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            4 => {
                // A lying or hostile length / encoding header.
                let h = match rng.gen_range(0..4) {
                    0 => format!("content-length: {}\r", rng.gen_range(0..10_000_000u64)),
                    1 => "transfer-encoding: chunked\r".to_string(),
                    2 => "x-amz-decoded-content-length: 18446744073709551615\r".to_string(),
                    _ => format!(
                        "x-amz-meta-{}: {}\r",
                        rng.gen::<u16>(),
                        "v".repeat(rng.gen_range(0..5000))
                    ),
                };
                let at = rng.gen_range(1..lines.len().max(2));
                lines.insert(at.min(lines.len()), h.into_bytes());
            }
            5 if !body.is_empty() => {
                let j = rng.gen_range(0..body.len());
                body.truncate(j);
            }
            6 if !body.is_empty() => {
                let j = rng.gen_range(0..body.len());
                body[j] = rng.gen();
            }
            7 => {
                // Grow the body with junk or XML nesting.
                if rng.gen_bool(0.5) {
                    body.extend((0..rng.gen_range(1..100_000)).map(|_| rng.gen::<u8>()));
                } else {
                    let n = rng.gen_range(1..5000);
                    body = format!("{}{}", "<a>".repeat(n), "</a>".repeat(n)).into_bytes();
                }
            }
            _ => {
                // Cut the request anywhere.
                let mut whole: Vec<u8> = lines.join(&b'\n');
                whole.extend_from_slice(&body);
                let j = rng.gen_range(0..whole.len().max(1));
                whole.truncate(j);
                return whole;
            }
        }
    }
    let mut whole: Vec<u8> = lines.join(&b'\n');
    whole.extend_from_slice(&body);
    whole
}

fn seeds(a: SocketAddr) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    use md5::Digest as _;
    let del = b"<Delete><Object><Key>k1</Key></Object><Object><Key>k2</Key></Object></Delete>";
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(del));
    let done = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"d41d8cd98f00b204e9800998ecf8427e\"</ETag></Part></CompleteMultipartUpload>";
    let acl = b"<AccessControlPolicy><Owner><ID>tester</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>tester</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>";
    vec![
        signed(
            a,
            "PUT",
            "/hostile/k1",
            "",
            &[("content-type", "text/plain"), ("x-amz-meta-a", "b")],
            b"hello world",
        ),
        signed(a, "GET", "/hostile/k1", "", &[("range", "bytes=0-4")], b""),
        signed(a, "HEAD", "/hostile/k1", "", &[], b""),
        signed(
            a,
            "GET",
            "/hostile",
            "list-type=2&prefix=k&delimiter=%2F&max-keys=5",
            &[],
            b"",
        ),
        signed(a, "POST", "/hostile", "delete=", &[("content-md5", &md5)], del),
        signed(
            a,
            "PUT",
            "/hostile/k2",
            "",
            &[("x-amz-copy-source", "/hostile/k1")],
            b"",
        ),
        signed(a, "POST", "/hostile/mp", "uploadId=abc", &[], done),
        signed(a, "PUT", "/hostile", "acl=", &[], acl),
        signed(
            a,
            "PUT",
            "/hostile/k3",
            "tagging=",
            &[],
            b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>",
        ),
        signed(a, "GET", "/", "", &[], b""),
    ]
}

#[test]
fn fuzzed_signed_requests_never_panic_hang_or_grow_memory() {
    let secs: u64 = std::env::var("OZFS_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let seed: u64 = std::env::var("OZFS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("fuzz: {secs} s, seed {seed} (OZFS_FUZZ_SEED to replay)");
    let srv = start(None);
    let a = srv.addr;
    let mut rng = StdRng::seed_from_u64(seed);
    let base = seeds(a);
    // Every seed request is answered (sanity of the corpus).
    for r in &base {
        let (out, done) = exchange(a, r, Duration::from_secs(20));
        assert!(done && out.starts_with(b"HTTP/1.1 "), "seed request not answered");
    }
    let one = |rng: &mut StdRng, until: Instant, max: u64| {
        let mut n = 0u64;
        while Instant::now() < until && n < max {
            let pick = rng.gen_range(0..base.len());
            let r = mutate(rng, &base[pick]);
            // The bound: the 2 s header and body timeouts plus margin.
            let (out, done) = exchange(a, &r, Duration::from_secs(30));
            assert!(
                done,
                "no answer and no close within 30 s for {:?}",
                String::from_utf8_lossy(&r[..r.len().min(400)])
            );
            if !out.is_empty() {
                // A request line mutated to HTTP/1.0 is answered in HTTP/1.0.
                assert!(
                    out.starts_with(b"HTTP/1.1 ") || out.starts_with(b"HTTP/1.0 "),
                    "not HTTP: {:?}",
                    String::from_utf8_lossy(&out[..out.len().min(200)])
                );
                let (status, code) = status_and_code(&out);
                if status >= 400 && !r.starts_with(b"HEAD") {
                    let t = String::from_utf8_lossy(&out).to_ascii_lowercase();
                    assert!(
                        t.contains("x-amz-request-id") && (t.contains("<code>") || t.contains("content-length: 0")),
                        "error without S3 XML ({status} {code}): {t}"
                    );
                }
            }
            n += 1;
        }
        n
    };
    // 16 clients at once (a cut request waits for the server's 2 s timeout).
    let run = |rng: &mut StdRng, until: Instant, max: u64| {
        let seeds: Vec<u64> = (0..16).map(|_| rng.gen()).collect();
        std::thread::scope(|sc| {
            let hs: Vec<_> = seeds
                .into_iter()
                .map(|sd| sc.spawn(move || one(&mut StdRng::seed_from_u64(sd), until, max / 16 + 1)))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        })
    };
    // Warm up (allocator pools, caches), then measure.
    let warm = run(
        &mut rng,
        Instant::now() + Duration::from_secs(secs.min(30) / 4 + 1),
        50_000,
    );
    let before = rss_kib();
    let n = run(&mut rng, Instant::now() + Duration::from_secs(secs), u64::MAX);
    let after = rss_kib();
    let (out, done) = exchange(a, &signed(a, "GET", "/hostile", "", &[], b""), Duration::from_secs(20));
    assert!(
        done && status_and_code(&out).0 == 200,
        "the endpoint does not answer after the fuzzing"
    );
    eprintln!("fuzz: {warm} warm-up + {n} mutated requests, RSS {before} KiB -> {after} KiB, 0 panics");
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a task panicked");
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} KiB to {after} KiB over {n} requests"
    );
}
