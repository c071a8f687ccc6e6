//! Wire-level tests of the S3 endpoint: things S3 SDKs rarely produce on purpose, sent as raw
//! HTTP/1.1 over a TCP socket to a `Gateway` running in-process on 127.0.0.1:0 — signed
//! aws-chunked uploads (good and tampered), unsigned trailers, payload-hash mismatches, chunked
//! transfer encoding with `Expect: 100-continue`, short bodies, stalled clients, oversized
//! headers, malformed XML, requests for other AWS services, SigV2 headers, and the browser
//! page. Requests are signed with `ozfs::sigv4` (the same code the gateway verifies with).

use http::{HeaderMap, HeaderValue, Method};
mod common;

use common::{start_gateway, Resp, Server};
use ozfs::sigv4::{self, chunked, SigningParams};
use ozfs::store::prelude::*;
use ozfs::SecretStore;
use ozfs_gateway::GatewayConfig;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const SECRET: &str = "alice-secret-0123";

fn start(secure: bool) -> Server {
    start_with(secure, None)
}

fn start_with(secure: bool, admin_token: Option<&str>) -> Server {
    start_on(secure, admin_token, Arc::new(ozfs::MemStore::new("s3v")))
}

/// Start on a store the test prepared (buckets, links, more users' secrets).
fn start_on(secure: bool, admin_token: Option<&str>, mem: Arc<ozfs::MemStore>) -> Server {
    let mut cfg = GatewayConfig::new("127.0.0.1:0".parse().expect("addr"));
    cfg.secure = secure;
    cfg.admin_token = admin_token.map(str::to_string);
    start_gateway(
        cfg,
        mem,
        &[("alice", SECRET)],
        Some((Duration::from_secs(1), Duration::from_secs(1))),
    )
}

/// Read one response (status line, headers, Content-Length body or until close).
fn read_response(s: &mut TcpStream) -> Option<Resp> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 65536];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut tmp).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[head_end + 4..].to_vec();
    if status == 100 {
        // Interim response: the caller continues.
        return Some(Resp { status, headers, body });
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    match len {
        Some(n) => {
            while body.len() < n {
                let r = s.read(&mut tmp).ok()?;
                if r == 0 {
                    break;
                }
                body.extend_from_slice(&tmp[..r]);
            }
            body.truncate(n);
        }
        None => {
            while let Ok(r) = s.read(&mut tmp) {
                if r == 0 {
                    break;
                }
                body.extend_from_slice(&tmp[..r]);
            }
        }
    }
    Some(Resp { status, headers, body })
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s
}

fn send(addr: SocketAddr, raw: &[u8]) -> Resp {
    let mut s = connect(addr);
    s.write_all(raw).expect("write");
    read_response(&mut s).expect("response")
}

fn render(method: &str, path_query: &str, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path_query} HTTP/1.1\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(k.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// A SigV4-signed request (header auth) with `payload_hash` and extra headers.
fn signed(
    addr: SocketAddr,
    method: &str,
    path: &str,
    query: &str,
    extra: &[(&str, String)],
    payload_hash: &str,
    secret: &str,
) -> (HeaderMap, sigv4::SigningOutput) {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_str(&addr.to_string()).expect("host"));
    for (k, v) in extra {
        h.insert(
            http::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    let params = SigningParams {
        access_key: "alice",
        secret_key: secret,
        region: "us-east-1",
        service: "s3",
        time: SystemTime::now(),
    };
    let out = sigv4::sign_request(
        &Method::from_bytes(method.as_bytes()).expect("method"),
        path,
        query,
        &h,
        payload_hash,
        &params,
    );
    out.apply(&mut h);
    (h, out)
}

fn request(addr: SocketAddr, method: &str, path: &str, query: &str, body: &[u8]) -> Resp {
    let hash = sigv4::canonical::sha256_hex(body);
    let (mut h, _) = signed(addr, method, path, query, &[], &hash, SECRET);
    h.insert("content-length", HeaderValue::from(body.len()));
    let pq = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    send(addr, &render(method, &pq, &h, body))
}

fn make_bucket(addr: SocketAddr, b: &str) {
    let r = request(addr, "PUT", &format!("/{b}"), "", b"");
    assert_eq!(r.status, 200, "{}", r.text());
}

/// A SigV4-signed request as `user` (empty body, UNSIGNED-PAYLOAD) with extra headers.
fn request_as(
    addr: SocketAddr,
    user: &str,
    secret: &str,
    method: &str,
    path: &str,
    query: &str,
    extra: &[(&str, &str)],
) -> Resp {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_str(&addr.to_string()).expect("host"));
    for (k, v) in extra {
        h.insert(
            http::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    let params = SigningParams {
        access_key: user,
        secret_key: secret,
        region: "us-east-1",
        service: "s3",
        time: SystemTime::now(),
    };
    let m = Method::from_bytes(method.as_bytes()).expect("method");
    sigv4::sign_request(&m, path, query, &h, sigv4::UNSIGNED_PAYLOAD, &params).apply(&mut h);
    h.insert("content-length", HeaderValue::from(0));
    let pq = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    send(addr, &render(method, &pq, &h, b""))
}

/// Security on: going through a link needs the permission on the real bucket too (as Ozone
/// checks the source). Before, only the link's record was checked, so the owner of a link to
/// another user's bucket could read and write it, and change its ACL (the store keeps the ACL on
/// the real bucket) — e.g. make it public-read; and a dangling link became a door into whatever
/// bucket another user later created under the target name.
#[test]
fn links_need_the_permission_on_the_real_bucket_too() {
    let mem = Arc::new(ozfs::MemStore::new("s3v"));
    let bob_secret = "bob-secret-0123456";
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
    rt.block_on(async {
        let real = ozfs::BucketPath::new("s3v", "alice-b");
        mem.create_bucket(&real, "alice").await.expect("bucket");
        mem.put_object(
            &real,
            "k",
            ozfs::body_from_bytes(&b"alice data"[..]),
            Default::default(),
        )
        .await
        .expect("put");
        mem.create_link(&ozfs::BucketPath::new("s3v", "bob-view"), &real, "bob")
            .await
            .expect("link");
        mem.create_link(
            &ozfs::BucketPath::new("s3v", "bob-later"),
            &ozfs::BucketPath::new("s3v", "later"),
            "bob",
        )
        .await
        .expect("dangling link");
        mem.get_secret("bob").await.expect("bob secret");
        mem.set_secret("bob", bob_secret).await.expect("bob secret");
    });
    let s = start_on(true, None, mem);
    let bob = |method: &str, path: &str, query: &str, extra: &[(&str, &str)]| {
        request_as(s.addr, "bob", bob_secret, method, path, query, extra)
    };
    let alice = |method: &str, path: &str, query: &str, extra: &[(&str, &str)]| {
        request_as(s.addr, "alice", SECRET, method, path, query, extra)
    };
    let anonymous_get = |path: &str| {
        send(
            s.addr,
            format!("GET {path} HTTP/1.1\r\nhost: {}\r\n\r\n", s.addr).as_bytes(),
        )
    };

    // Neither directly nor through his link may bob use alice's bucket.
    for path in ["/alice-b/k", "/bob-view/k"] {
        let r = bob("GET", path, "", &[]);
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "AccessDenied"),
            "{path}: {}",
            r.text()
        );
        let r = bob("DELETE", path, "", &[]);
        assert_eq!(r.status, 403, "{path}: {}", r.text());
    }
    let r = bob("GET", "/bob-view", "list-type=2", &[]);
    assert_eq!(r.status, 403, "{}", r.text());
    // Nor open it to everyone (or grant himself) through the link.
    for extra in [("x-amz-acl", "public-read"), ("x-amz-grant-full-control", "id=\"bob\"")] {
        let r = bob("PUT", "/bob-view", "acl", &[extra]);
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "AccessDenied"),
            "{extra:?}: {}",
            r.text()
        );
    }
    assert_eq!(anonymous_get("/alice-b/k").status, 403);
    // The link itself is bob's: he sees it, and may delete it (the bucket stays).
    assert_eq!(bob("GET", "/bob-view", "acl", &[]).status, 200);

    // Once alice grants bob READ, the link works for reading, not for writing.
    let r = alice("PUT", "/alice-b", "acl", &[("x-amz-grant-read", "id=\"bob\"")]);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = bob("GET", "/bob-view/k", "", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"alice data"[..]), "{}", r.text());
    let r = bob("DELETE", "/bob-view/k", "", &[]);
    assert_eq!(r.status, 403, "{}", r.text());

    // A dangling link is no door into a bucket another user creates later under its target.
    let r = alice("PUT", "/later", "", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(s.addr, "PUT", "/later/k", "", b"later data");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = bob("GET", "/bob-later/k", "", &[]);
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"), "{}", r.text());

    // The real owner still decides.
    let r = alice("PUT", "/alice-b", "acl", &[("x-amz-acl", "public-read")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(anonymous_get("/alice-b/k").status, 200);
    assert_eq!(bob("DELETE", "/bob-view", "", &[]).status, 204);
    assert_eq!(alice("GET", "/alice-b/k", "", &[]).status, 200);
}

#[test]
fn every_response_carries_request_ids() {
    let s = start(true);
    for r in [
        request(s.addr, "GET", "/", "", b""),
        request(s.addr, "GET", "/nosuchbucket", "", b""),
        send(s.addr, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"),
    ] {
        assert!(r.header("x-amz-request-id").is_some_and(|v| !v.is_empty()), "{r:?}");
        assert!(r.header("x-amz-id-2").is_some(), "{r:?}");
        assert_eq!(r.header("server"), Some("ozfs"));
    }
    let r = request(s.addr, "GET", "/nosuchbucket", "", b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchBucket"));
    let t = r.text();
    assert!(
        t.contains("<Resource>") && t.contains("<RequestId>") && t.contains("<Message>"),
        "{t}"
    );
}

#[test]
fn signed_aws_chunked_upload_is_verified() {
    let s = start(true);
    make_bucket(s.addr, "chunky");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let upload = |tamper: bool, key: &str| {
        let (mut h, out) = signed(
            s.addr,
            "PUT",
            &format!("/chunky/{key}"),
            "",
            &[
                ("content-encoding", "aws-chunked".into()),
                ("x-amz-decoded-content-length", data.len().to_string()),
            ],
            sigv4::STREAMING_PAYLOAD,
            SECRET,
        );
        let mut signer = chunked::ChunkSigner::new(&out);
        let mut body = Vec::new();
        for c in data.chunks(65536) {
            body.extend(signer.encode_chunk(c));
        }
        body.extend(signer.encode_chunk(b""));
        if tamper {
            // Flip one payload byte of the second chunk: its signature no longer matches.
            let pos = body.len() / 2;
            body[pos] ^= 1;
        }
        h.insert("content-length", HeaderValue::from(body.len()));
        send(s.addr, &render("PUT", &format!("/chunky/{key}"), &h, &body))
    };
    let r = upload(false, "good");
    assert_eq!(r.status, 200, "{}", r.text());
    let g = request(s.addr, "GET", "/chunky/good", "", b"");
    assert_eq!(g.body, data);
    let r = upload(true, "bad");
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "SignatureDoesNotMatch"),
        "{}",
        r.text()
    );
    assert_eq!(
        request(s.addr, "HEAD", "/chunky/bad", "", b"").status,
        404,
        "nothing committed"
    );
}

#[test]
fn signed_chunked_with_trailer_and_unsigned_trailer() {
    let s = start(true);
    make_bucket(s.addr, "trail");
    let data = b"hello trailer world".to_vec();
    let crc = "tJ7p6Q=="; // CRC32 of the data
    let (mut h, out) = signed(
        s.addr,
        "PUT",
        "/trail/signed",
        "",
        &[
            ("content-encoding", "aws-chunked".into()),
            ("x-amz-decoded-content-length", data.len().to_string()),
            ("x-amz-trailer", "x-amz-checksum-crc32".into()),
        ],
        sigv4::STREAMING_PAYLOAD_TRAILER,
        SECRET,
    );
    let mut signer = chunked::ChunkSigner::new(&out);
    let mut body = signer.encode_chunk(&data);
    body.extend(signer.encode_final_with_trailer(&[("x-amz-checksum-crc32", crc)]));
    h.insert("content-length", HeaderValue::from(body.len()));
    let r = send(s.addr, &render("PUT", "/trail/signed", &h, &body));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(request(s.addr, "GET", "/trail/signed", "", b"").body, data);

    // Unsigned chunks with a trailer (aws CLI v2 / boto3 over TLS).
    let unsigned = |body: Vec<u8>, key: &str| {
        let (mut h, _) = signed(
            s.addr,
            "PUT",
            &format!("/trail/{key}"),
            "",
            &[
                ("content-encoding", "aws-chunked".into()),
                ("x-amz-decoded-content-length", data.len().to_string()),
                ("x-amz-trailer", "x-amz-checksum-crc32".into()),
            ],
            sigv4::STREAMING_UNSIGNED_TRAILER,
            SECRET,
        );
        h.insert("content-length", HeaderValue::from(body.len()));
        send(s.addr, &render("PUT", &format!("/trail/{key}"), &h, &body))
    };
    let mut body = chunked::encode_unsigned_chunk(&data);
    body.extend(chunked::encode_unsigned_final(&[("x-amz-checksum-crc32", crc)]));
    let r = unsigned(body, "unsigned");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(request(s.addr, "GET", "/trail/unsigned", "", b"").body, data);
    // Truncated: the final chunk never comes.
    let r = unsigned(chunked::encode_unsigned_chunk(&data), "truncated");
    assert_eq!((r.status, r.code().as_str()), (400, "IncompleteBody"), "{}", r.text());
    assert_eq!(request(s.addr, "HEAD", "/trail/truncated", "", b"").status, 404);
}

#[test]
fn payload_hash_mismatch_commits_nothing() {
    let s = start(true);
    make_bucket(s.addr, "hash");
    let (mut h, _) = signed(
        s.addr,
        "PUT",
        "/hash/k",
        "",
        &[],
        &sigv4::canonical::sha256_hex(b"expected"),
        SECRET,
    );
    h.insert("content-length", HeaderValue::from(6));
    let r = send(s.addr, &render("PUT", "/hash/k", &h, b"actual"));
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "XAmzContentSHA256Mismatch"),
        "{}",
        r.text()
    );
    assert_eq!(request(s.addr, "HEAD", "/hash/k", "", b"").status, 404);
}

/// A malformed `x-amz-checksum-*` value (not base64, or the wrong length for the algorithm) is
/// InvalidRequest up front, as S3 answers; it used to be read to the end and answered BadDigest.
#[test]
fn malformed_checksum_header_is_invalid_request() {
    let s = start(true);
    make_bucket(s.addr, "sums");
    let body = b"some bytes";
    for (name, value) in [
        ("x-amz-checksum-crc32", "!!!"),
        ("x-amz-checksum-crc32", "AAAAAAAAAAA="),
        ("x-amz-checksum-sha256", "AAAAAA=="),
    ] {
        let (mut h, _) = signed(
            s.addr,
            "PUT",
            "/sums/k",
            "",
            &[(name, value.to_string())],
            &sigv4::canonical::sha256_hex(body),
            SECRET,
        );
        h.insert("content-length", HeaderValue::from(body.len()));
        let r = send(s.addr, &render("PUT", "/sums/k", &h, body));
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidRequest"),
            "{name}: {}",
            r.text()
        );
        assert!(r.text().contains(name), "{}", r.text());
    }
    assert_eq!(request(s.addr, "HEAD", "/sums/k", "", b"").status, 404);
    // A well-formed value still works.
    let crc = ozfs::checksum::Algorithm::Crc32.checksum(body);
    let (mut h, _) = signed(
        s.addr,
        "PUT",
        "/sums/k",
        "",
        &[("x-amz-checksum-crc32", crc)],
        &sigv4::canonical::sha256_hex(body),
        SECRET,
    );
    h.insert("content-length", HeaderValue::from(body.len()));
    let r = send(s.addr, &render("PUT", "/sums/k", &h, body));
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn chunked_transfer_encoding_with_expect_continue() {
    let s = start(true);
    make_bucket(s.addr, "tebkt");
    let (mut h, _) = signed(
        s.addr,
        "PUT",
        "/tebkt/k",
        "",
        &[("expect", "100-continue".into())],
        sigv4::UNSIGNED_PAYLOAD,
        SECRET,
    );
    h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
    let mut conn = connect(s.addr);
    conn.write_all(&render("PUT", "/tebkt/k", &h, b"")).expect("headers");
    let interim = read_response(&mut conn).expect("100");
    assert_eq!(interim.status, 100);
    conn.write_all(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n").expect("body");
    let r = read_response(&mut conn).expect("response");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(request(s.addr, "GET", "/tebkt/k", "", b"").body, b"hello world");
}

#[test]
fn short_and_stalled_bodies_commit_nothing() {
    let s = start(true);
    make_bucket(s.addr, "short");
    // Declares 100 bytes, sends 10, then stalls: the body idle timeout (1 s here) fails it.
    let (mut h, _) = signed(s.addr, "PUT", "/short/stall", "", &[], sigv4::UNSIGNED_PAYLOAD, SECRET);
    h.insert("content-length", HeaderValue::from(100));
    let mut conn = connect(s.addr);
    let t0 = Instant::now();
    conn.write_all(&render("PUT", "/short/stall", &h, b"0123456789"))
        .expect("write");
    let r = read_response(&mut conn).expect("response");
    assert_eq!((r.status, r.code().as_str()), (400, "RequestTimeout"), "{}", r.text());
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(request(s.addr, "HEAD", "/short/stall", "", b"").status, 404);
    // Declares 100 bytes, sends 10 and closes its sending side.
    let (mut h, _) = signed(s.addr, "PUT", "/short/eof", "", &[], sigv4::UNSIGNED_PAYLOAD, SECRET);
    h.insert("content-length", HeaderValue::from(100));
    let mut conn = connect(s.addr);
    conn.write_all(&render("PUT", "/short/eof", &h, b"0123456789"))
        .expect("write");
    conn.shutdown(std::net::Shutdown::Write).expect("shutdown");
    if let Some(r) = read_response(&mut conn) {
        assert_eq!(r.status, 400, "{}", r.text());
    }
    assert_eq!(request(s.addr, "HEAD", "/short/eof", "", b"").status, 404);
}

#[test]
fn slow_headers_are_cut_off() {
    let s = start(false);
    let mut conn = connect(s.addr);
    let t0 = Instant::now();
    conn.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
        .expect("partial headers");
    let mut buf = [0u8; 1024];
    // The server closes (possibly after a 408) once the header read timeout (1 s) passes.
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => continue,
        }
    }
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[test]
fn oversized_headers_are_refused() {
    let s = start(false);
    let big = "x".repeat(20 * 1024);
    let r = send(
        s.addr,
        format!("GET / HTTP/1.1\r\nhost: x\r\nx-amz-meta-big: {big}\r\n\r\n").as_bytes(),
    );
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "RequestHeaderSectionTooLarge"),
        "{}",
        r.text()
    );
    // Far beyond hyper's buffer: refused at the HTTP layer, never a hang or a 5xx.
    let huge = "y".repeat(2 * 1024 * 1024);
    let mut conn = connect(s.addr);
    let _ = conn.write_all(format!("GET / HTTP/1.1\r\nhost: x\r\nx-big: {huge}\r\n\r\n").as_bytes());
    if let Some(r) = read_response(&mut conn) {
        assert!((400..500).contains(&r.status), "{}", r.status);
    }
    let many: String = (0..200).map(|i| format!("x-h{i}: v\r\n")).collect();
    let mut conn = connect(s.addr);
    let _ = conn.write_all(format!("GET / HTTP/1.1\r\nhost: x\r\n{many}\r\n").as_bytes());
    if let Some(r) = read_response(&mut conn) {
        assert!((400..500).contains(&r.status), "{}", r.status);
    }
}

#[test]
fn malformed_xml_and_bad_requests() {
    let s = start(true);
    make_bucket(s.addr, "xml");
    let r = request(s.addr, "POST", "/xml", "delete", b"<Delete><Object><Key>a</Key>");
    assert_eq!((r.status, r.code().as_str()), (400, "MalformedXML"));
    let r = request(s.addr, "POST", "/xml", "delete", b"not xml at all");
    assert_eq!((r.status, r.code().as_str()), (400, "MalformedXML"));
    let r = request(s.addr, "POST", "/xml/k", "uploads", b"");
    let upload_id = r
        .text()
        .split("<UploadId>")
        .nth(1)
        .and_then(|x| x.split("</UploadId>").next())
        .expect("upload id")
        .to_string();
    let r = request(s.addr, "POST", "/xml/k", &format!("uploadId={upload_id}"), b"");
    assert_eq!((r.status, r.code().as_str()), (400, "MalformedXML"), "empty complete");
    let r = request(s.addr, "POST", "/xml/k", &format!("uploadId={upload_id}"), b"<Complete");
    assert_eq!((r.status, r.code().as_str()), (400, "MalformedXML"));
    let r = request(
        s.addr,
        "PUT",
        "/xml/k",
        "tagging",
        b"<Tagging><TagSet><Tag><Key>a</Key>",
    );
    assert_eq!((r.status, r.code().as_str()), (400, "MalformedXML"));
    let r = request(s.addr, "GET", "/Bad_Bucket", "", b"");
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidBucketName"));
    let r = request(s.addr, "GET", "/xml", "max-keys=abc", b"");
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
    let r = request(s.addr, "GET", "/xml/k", "partNumber=-1", b"");
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
    let long_key = "k".repeat(1100);
    let r = request(s.addr, "PUT", &format!("/xml/{long_key}"), "", b"x");
    assert_eq!((r.status, r.code().as_str()), (400, "KeyTooLongError"));
    let r = request(s.addr, "GET", "/xml/%FF%FE", "", b"");
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidURI"));
}

/// A signed request with a body and extra headers (the payload hash signed).
fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    query: &str,
    extra: &[(&str, String)],
    body: &[u8],
) -> Resp {
    let hash = sigv4::canonical::sha256_hex(body);
    let (mut h, _) = signed(addr, method, path, query, extra, &hash, SECRET);
    h.insert("content-length", HeaderValue::from(body.len()));
    let pq = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    send(addr, &render(method, &pq, &h, body))
}

fn content_md5(body: &[u8]) -> (&'static str, String) {
    use base64::Engine;
    use md5::{Digest, Md5};
    (
        "content-md5",
        base64::engine::general_purpose::STANDARD.encode(Md5::digest(body)),
    )
}

/// Bucket tagging and lifecycle over the wire: S3 requires Content-MD5 (or a flexible checksum)
/// on both PUTs and checks it; the status codes and error codes of every outcome.
#[test]
fn bucket_tagging_and_lifecycle_on_the_wire() {
    let s = start(true);
    make_bucket(s.addr, "cfg");
    // Tagging.
    let r = request(s.addr, "GET", "/cfg", "tagging", b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchTagSet"));
    let tags = b"<Tagging><TagSet><Tag><Key>b</Key><Value>2</Value></Tag><Tag><Key>a</Key><Value>1</Value></Tag></TagSet></Tagging>";
    let r = request(s.addr, "PUT", "/cfg", "tagging", tags);
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidRequest"), "no Content-MD5");
    let r = request_with(
        s.addr,
        "PUT",
        "/cfg",
        "tagging",
        &[("content-md5", content_md5(b"other").1)],
        tags,
    );
    assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"));
    let crc = ozfs::checksum::Algorithm::Crc32.checksum(b"other");
    let r = request_with(s.addr, "PUT", "/cfg", "tagging", &[("x-amz-checksum-crc32", crc)], tags);
    assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"), "wrong crc32");
    let crc = ozfs::checksum::Algorithm::Crc32.checksum(tags);
    let r = request_with(s.addr, "PUT", "/cfg", "tagging", &[("x-amz-checksum-crc32", crc)], tags);
    assert_eq!(r.status, 204, "{}", r.text());
    let r = request(s.addr, "GET", "/cfg", "tagging", b"");
    assert_eq!(r.status, 200);
    let t = r.text();
    assert!(
        t.find("<Key>a</Key>").unwrap() < t.find("<Key>b</Key>").unwrap(),
        "sorted: {t}"
    );
    let dup = b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>";
    let r = request_with(s.addr, "PUT", "/cfg", "tagging", &[content_md5(dup)], dup);
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidTag"));
    let bad = b"<Tagging><TagSet><Tag><Key>a</Key>";
    let r = request_with(s.addr, "PUT", "/cfg", "tagging", &[content_md5(bad)], bad);
    assert_eq!((r.status, r.code().as_str()), (400, "MalformedXML"));
    assert_eq!(request(s.addr, "DELETE", "/cfg", "tagging", b"").status, 204);
    assert_eq!(request(s.addr, "DELETE", "/cfg", "tagging", b"").status, 204, "again");
    assert_eq!(request(s.addr, "GET", "/cfg", "tagging", b"").status, 404);
    let r = request(s.addr, "GET", "/missing-bucket", "tagging", b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchBucket"));

    // Lifecycle.
    let r = request(s.addr, "GET", "/cfg", "lifecycle", b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchLifecycleConfiguration"));
    let doc = b"<LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Rule><Filter><Prefix>logs/</Prefix></Filter>\
                <Status>Enabled</Status><Expiration><Days>7</Days></Expiration></Rule></LifecycleConfiguration>";
    let r = request(s.addr, "PUT", "/cfg", "lifecycle", doc);
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidRequest"), "no Content-MD5");
    let r = request_with(s.addr, "PUT", "/cfg", "lifecycle", &[content_md5(doc)], doc);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(s.addr, "GET", "/cfg", "lifecycle", b"");
    assert_eq!(r.status, 200);
    let t = r.text();
    assert!(
        t.contains("<ID>rule-1</ID>") && t.contains("<Prefix>logs/</Prefix>") && t.contains("<Days>7</Days>"),
        "{t}"
    );
    for (bad, code) in [
        (&b"<LifecycleConfiguration><Rule>"[..], "MalformedXML"),
        (b"<LifecycleConfiguration><Rule><Filter/><Status>On</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>", "MalformedXML"),
        (b"<LifecycleConfiguration><Rule><Filter/><Status>Enabled</Status><Expiration><Days>0</Days></Expiration></Rule></LifecycleConfiguration>", "InvalidArgument"),
        (b"<LifecycleConfiguration><Rule><Filter/><Status>Enabled</Status><Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration></Rule></LifecycleConfiguration>", "InvalidArgument"),
    ] {
        let r = request_with(s.addr, "PUT", "/cfg", "lifecycle", &[content_md5(bad)], bad);
        assert_eq!((r.status, r.code().as_str()), (400, code), "{}", String::from_utf8_lossy(bad));
    }
    assert!(
        request(s.addr, "GET", "/cfg", "lifecycle", b"")
            .text()
            .contains("<Days>7</Days>"),
        "refused PUTs changed nothing"
    );
    assert_eq!(request(s.addr, "DELETE", "/cfg", "lifecycle", b"").status, 204);
    assert_eq!(request(s.addr, "DELETE", "/cfg", "lifecycle", b"").status, 204, "again");
    assert_eq!(request(s.addr, "GET", "/cfg", "lifecycle", b"").status, 404);
}

/// GetBucketLocation as AWS answers it for us-east-1: an empty `LocationConstraint` element.
#[test]
fn bucket_location_on_the_wire() {
    let s = start(true);
    make_bucket(s.addr, "where");
    let r = request(s.addr, "GET", "/where", "location", b"");
    assert_eq!(r.status, 200);
    let t = r.text();
    let body = t.split("?>").last().unwrap_or(&t).trim();
    assert!(
        body == "<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></LocationConstraint>"
            || body == "<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>",
        "{t}"
    );
}

/// GetObjectAttributes: AWS's XML shape, unquoted ETag, Last-Modified, and the errors.
#[test]
fn get_object_attributes_on_the_wire() {
    let s = start(true);
    make_bucket(s.addr, "attrs");
    assert_eq!(request(s.addr, "PUT", "/attrs/k", "", b"hello").status, 200);
    let r = request_with(
        s.addr,
        "GET",
        "/attrs/k",
        "attributes",
        &[(
            "x-amz-object-attributes",
            "ETag,ObjectSize,StorageClass,ObjectParts".into(),
        )],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("last-modified").is_some());
    let t = r.text();
    assert!(t.contains("<GetObjectAttributesResponse"), "{t}");
    assert!(t.contains("<ETag>5d41402abc4b2a76b9719d911017c592</ETag>"), "{t}");
    assert!(
        t.contains("<ObjectSize>5</ObjectSize>") && t.contains("<StorageClass>STANDARD</StorageClass>"),
        "{t}"
    );
    assert!(!t.contains("ObjectParts"), "a plain object has no parts: {t}");
    let r = request(s.addr, "GET", "/attrs/k", "attributes", b"");
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "InvalidArgument"),
        "header missing"
    );
    let r = request_with(
        s.addr,
        "GET",
        "/attrs/k",
        "attributes",
        &[("x-amz-object-attributes", "Bogus".into())],
        b"",
    );
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
    let r = request_with(
        s.addr,
        "GET",
        "/attrs/none",
        "attributes",
        &[("x-amz-object-attributes", "ETag".into())],
        b"",
    );
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchKey"));
}

#[test]
fn other_services_and_unknown_subresources() {
    let s = start(true);
    make_bucket(s.addr, "subs");
    let body = b"Action=ListUsers&Version=2010-05-08";
    let (mut h, _) = signed(
        s.addr,
        "POST",
        "/",
        "",
        &[("content-type", "application/x-www-form-urlencoded".into())],
        &sigv4::canonical::sha256_hex(body),
        SECRET,
    );
    h.insert("content-length", HeaderValue::from(body.len()));
    let t0 = Instant::now();
    let r = send(s.addr, &render("POST", "/", &h, body));
    assert_eq!((r.status, r.code().as_str()), (501, "NotImplemented"));
    assert!(t0.elapsed() < Duration::from_secs(1));
    let r = request(s.addr, "GET", "/", "Action=GetCallerIdentity", b"");
    assert_eq!(r.status, 501);
    for (m, p, q) in [
        ("DELETE", "/subs", "cors"),
        ("GET", "/subs", "policy"),
        ("PUT", "/subs", "replication"),
        ("GET", "/subs", "website"),
        ("PUT", "/subs/k", "retention"),
        ("GET", "/subs/k", "torrent"),
    ] {
        let r = request(s.addr, m, p, q, b"");
        assert_eq!((r.status, r.code().as_str()), (501, "NotImplemented"), "{m} {p}?{q}");
    }
    assert_eq!(
        request(s.addr, "HEAD", "/subs", "", b"").status,
        200,
        "bucket survived DELETE ?cors"
    );
}

#[test]
fn sigv2_header_auth() {
    let s = start(true);
    make_bucket(s.addr, "vtwo");
    let v2 = |secret: &str| {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_str(&s.addr.to_string()).expect("host"));
        h.insert(
            "date",
            HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now())).expect("date"),
        );
        let auth = sigv4::v2::authorization("alice", secret, "GET", &h, "/vtwo", "", None);
        h.insert("authorization", HeaderValue::from_str(&auth).expect("auth"));
        send(s.addr, &render("GET", "/vtwo", &h, b""))
    };
    assert_eq!(v2(SECRET).status, 200);
    let r = v2("wrong-secret");
    assert_eq!((r.status, r.code().as_str()), (403, "SignatureDoesNotMatch"));
}

#[test]
fn browser_page_is_self_contained_and_pages() {
    let s = start(false);
    let put = |key: &str| {
        let r = request(s.addr, "PUT", &format!("/browse/{key}"), "", b"content");
        assert_eq!(r.status, 200, "{}", r.text());
    };
    make_bucket(s.addr, "browse");
    for i in 0..230 {
        put(&format!("many/file-{i:03}.txt"));
    }
    put("docs/readme%20first.md");
    put("top.bin");
    let get = |pq: &str| send(s.addr, format!("GET {pq} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes());
    let r = get("/browse?browser=true");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/html")));
    let t = r.text();
    assert!(
        t.contains("docs/") && t.contains("many/") && t.contains("top.bin"),
        "{t}"
    );
    // Security off: download links are presigned (an unsigned GET of a private object is 403).
    assert!(
        t.contains("href=\"/browse/top.bin?X-Amz-Algorithm=AWS4-HMAC-SHA256&amp;"),
        "download link: {t}"
    );
    assert!(
        !t.contains("<script src") && !t.contains("<link ") && !t.contains("https://"),
        "external resources"
    );
    let r = get("/browse?browser=true&prefix=many%2F");
    let t = r.text();
    assert!(t.contains("file-000.txt") && !t.contains("file-229.txt"), "first page");
    assert!(t.contains("Next page"), "paging link");
    let next = t
        .split("href=\"")
        .filter_map(|x| x.split('"').next())
        .find(|h| h.contains("continuation-token"))
        .expect("next link")
        .replace("&amp;", "&");
    let t2 = get(&next).text();
    assert!(
        t2.contains("file-229.txt") && !t2.contains("file-000.txt"),
        "second page"
    );
    assert!(t2.contains("&amp;prefix=many%2F\">many</a>"), "breadcrumbs");
    let docs = get("/browse?browser=true&prefix=docs%2F").text();
    let link = docs
        .split("href=\"")
        .filter_map(|x| x.split('"').next())
        .find(|h| h.starts_with("/browse/docs/readme%20first.md?"))
        .expect("readme link")
        .replace("&amp;", "&");
    assert_eq!(get(&link).body, b"content", "the page's presigned download link");
    assert_eq!(
        get("/browse/docs/readme%20first.md").status,
        403,
        "unsigned download of a private object"
    );
    assert_eq!(get("/nosuch?browser=true").status, 404);
}

#[test]
fn admin_paths_route_to_the_admin_api_only_with_a_token() {
    let s = start(false);
    let r = send(s.addr, b"GET /_ozfs/admin/ping HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(r.status, 404);
    assert!(!r.text().contains("<Error>"), "not an S3 answer: {}", r.text());
    drop(s);
    let s = start_with(false, Some("tok"));
    let r = send(
        s.addr,
        b"GET /_ozfs/admin/ping HTTP/1.1\r\nhost: x\r\nx-ozfs-admin-token: tok\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("x-amz-request-id").is_some());
    let r = send(
        s.addr,
        b"GET /_ozfs/admin/ping HTTP/1.1\r\nhost: x\r\nx-ozfs-admin-token: wrong\r\n\r\n",
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        !r.text().contains("<Code>"),
        "answered by the admin API, not S3: {}",
        r.text()
    );
}
