//! Anonymous access by ACL, on the wire: raw HTTP/1.1 requests to a `Gateway` running in-process
//! on 127.0.0.1:0, with security off and on. An unsigned request is allowed exactly where the
//! bucket's or the object's ACL grants it (canned ACLs given at CreateBucket, PutObject,
//! CopyObject, CreateMultipartUpload, or set later with `?acl`); everything else is 403
//! AccessDenied as S3 XML. With security off a request signed with any key may do anything, as
//! before. In particular an unsigned `HEAD` of a private bucket is 403: goofys sends exactly
//! that probe at mount time and, on a 200, switches the whole mount to unsigned requests.
//! Also: the front page (unsigned `GET /` from a browser), the bucket page's presigned download
//! links, and `+` in `x-amz-copy-source`.

mod common;

use common::{start_gateway, Resp, Server};
use http::{HeaderMap, HeaderValue, Method};
use ozfs::sigv4::{self, SigningParams};
use ozfs_gateway::GatewayConfig;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const ALICE: &str = "alice-secret-0123";
const BOB: &str = "bob-secret-4567";

/// A gateway over a MemStore; users alice and bob have secrets (used with security on).
fn start(secure: bool) -> Server {
    let mut cfg = GatewayConfig::new("127.0.0.1:0".parse().expect("addr"));
    cfg.secure = secure;
    let mem = Arc::new(ozfs::MemStore::new("s3v"));
    start_gateway(cfg, mem, &[("alice", ALICE), ("bob", BOB)], None)
}

/// Send raw bytes on a fresh connection (`Connection: close` expected) and read the answer.
fn send(addr: SocketAddr, raw: &[u8], head: bool) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s.write_all(raw).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&buf)));
    let headtext = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = headtext.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let body = if head { Vec::new() } else { buf[end + 4..].to_vec() };
    Resp { status, headers, body }
}

fn render(method: &str, target: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// An unsigned request with extra headers.
fn anon(addr: SocketAddr, method: &str, target: &str, extra: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut h = vec![("host".to_string(), addr.to_string())];
    h.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    send(addr, &render(method, target, &h, body), method == "HEAD")
}

/// A SigV4-signed request as `user` (secret `secret`), with extra headers; `path` is sent as
/// given (already URL-encoded).
fn signed(
    addr: SocketAddr,
    (user, secret): (&str, &str),
    method: &str,
    path: &str,
    query: &str,
    extra: &[(&str, &str)],
    body: &[u8],
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
    let hash = sigv4::canonical::sha256_hex(body);
    sigv4::sign_request(&m, path, query, &h, &hash, &params).apply(&mut h);
    let hv: Vec<(String, String)> = h
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().expect("ascii").to_string()))
        .collect();
    let target = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    send(addr, &render(method, &target, &hv, body), method == "HEAD")
}

fn ok(r: &Resp, what: &str) {
    assert!((200..300).contains(&r.status), "{what}: {} {}", r.status, r.text());
}

/// 403 AccessDenied as S3 XML (HEAD: no body).
fn denied(r: &Resp, what: &str, head: bool) {
    assert_eq!(r.status, 403, "{what}: {}", r.text());
    if !head {
        assert_eq!(r.code(), "AccessDenied", "{what}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/xml"), "{what}");
    }
}

/// The ACL scenarios, identical with security on and off (`owner` signs as the bucket owner).
fn acl_scenarios(s: &Server, owner: (&str, &str)) {
    let a = s.addr;
    // A private bucket with a private object.
    ok(&signed(a, owner, "PUT", "/private", "", &[], b""), "create private");
    ok(&signed(a, owner, "PUT", "/private/obj", "", &[], b"secret"), "put obj");
    denied(
        &anon(a, "HEAD", "/private", &[], b""),
        "unsigned HEAD private bucket",
        true,
    );
    denied(&anon(a, "GET", "/private", &[], b""), "unsigned ListObjects", false);
    denied(
        &anon(a, "GET", "/private?list-type=2", &[], b""),
        "unsigned ListObjectsV2",
        false,
    );
    denied(
        &anon(a, "GET", "/private/obj", &[], b""),
        "unsigned GET private object",
        false,
    );
    denied(
        &anon(a, "HEAD", "/private/obj", &[], b""),
        "unsigned HEAD private object",
        true,
    );
    denied(
        &anon(a, "GET", "/private/missing", &[], b""),
        "unsigned GET missing key",
        false,
    );
    denied(&anon(a, "PUT", "/private/new", &[], b"x"), "unsigned PutObject", false);
    denied(
        &anon(a, "DELETE", "/private/obj", &[], b""),
        "unsigned DeleteObject",
        false,
    );
    denied(
        &anon(a, "GET", "/private?acl", &[], b""),
        "unsigned GetBucketAcl",
        false,
    );
    denied(
        &anon(a, "GET", "/private/obj?acl", &[], b""),
        "unsigned GetObjectAcl",
        false,
    );
    denied(&anon(a, "PUT", "/anonbucket", &[], b""), "unsigned CreateBucket", false);
    denied(&anon(a, "DELETE", "/private", &[], b""), "unsigned DeleteBucket", false);
    denied(&anon(a, "GET", "/", &[], b""), "unsigned ListBuckets", false);
    let r = signed(a, owner, "GET", "/private/obj", "", &[], b"");
    assert_eq!(r.body, b"secret", "signed GET");

    // A public-read object in the private bucket: readable unsigned, the others stay private.
    let pr = [("x-amz-acl", "public-read")];
    ok(
        &signed(a, owner, "PUT", "/private/pub", "", &pr, b"public"),
        "put public-read obj",
    );
    assert_eq!(
        anon(a, "GET", "/private/pub", &[], b"").body,
        b"public",
        "unsigned GET public-read object"
    );
    ok(
        &anon(a, "HEAD", "/private/pub", &[], b""),
        "unsigned HEAD public-read object",
    );
    denied(
        &anon(a, "GET", "/private/obj", &[], b""),
        "neighbour stays private",
        false,
    );
    denied(&anon(a, "HEAD", "/private", &[], b""), "bucket stays private", true);
    let r = signed(a, owner, "GET", "/private/pub", "acl", &[], b"");
    ok(&r, "GetObjectAcl");
    let t = r.text();
    assert!(
        t.contains("<AccessControlPolicy") && t.contains("http://acs.amazonaws.com/groups/global/AllUsers"),
        "{t}"
    );
    assert!(
        t.contains("<Permission>READ</Permission>") && t.contains("FULL_CONTROL"),
        "{t}"
    );
    // PutObjectAcl private takes the grant away; an XML policy gives it back.
    ok(
        &signed(a, owner, "PUT", "/private/pub", "acl", &[("x-amz-acl", "private")], b""),
        "PutObjectAcl private",
    );
    denied(
        &anon(a, "GET", "/private/pub", &[], b""),
        "after PutObjectAcl private",
        false,
    );
    let policy = br#"<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>"#;
    ok(
        &signed(a, owner, "PUT", "/private/pub", "acl", &[], policy),
        "PutObjectAcl XML",
    );
    assert_eq!(
        anon(a, "GET", "/private/pub", &[], b"").body,
        b"public",
        "after PutObjectAcl XML"
    );
    // The object grant is READ only: no overwrite, no delete, no ACL change.
    denied(
        &anon(a, "PUT", "/private/pub", &[], b"defaced"),
        "unsigned overwrite",
        false,
    );
    denied(
        &anon(a, "DELETE", "/private/pub", &[], b""),
        "unsigned delete of public-read object",
        false,
    );
    denied(
        &anon(a, "PUT", "/private/pub?acl", &[("x-amz-acl", "public-read-write")], b""),
        "unsigned PutObjectAcl",
        false,
    );
    let r = signed(a, owner, "GET", "/private/nosuch", "acl", &[], b"");
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "NoSuchKey"),
        "GetObjectAcl of a missing key"
    );

    // CopyObject: the copy gets the request's ACL, never the source's.
    let src = [("x-amz-copy-source", "/private/pub")];
    ok(
        &signed(a, owner, "PUT", "/private/copy-private", "", &src, b""),
        "copy without ACL",
    );
    denied(
        &anon(a, "GET", "/private/copy-private", &[], b""),
        "copy of a public object is private",
        false,
    );
    let src_pr = [("x-amz-copy-source", "/private/obj"), ("x-amz-acl", "public-read")];
    ok(
        &signed(a, owner, "PUT", "/private/copy-public", "", &src_pr, b""),
        "copy with public-read",
    );
    assert_eq!(
        anon(a, "GET", "/private/copy-public", &[], b"").body,
        b"secret",
        "copy with public-read"
    );

    // CreateMultipartUpload's ACL is the completed object's.
    let r = signed(a, owner, "POST", "/private/mpu", "uploads", &pr, b"");
    ok(&r, "CreateMultipartUpload");
    let t = r.text();
    let id = t
        .split("<UploadId>")
        .nth(1)
        .and_then(|x| x.split('<').next())
        .expect("upload id")
        .to_string();
    let r = signed(
        a,
        owner,
        "PUT",
        "/private/mpu",
        &format!("partNumber=1&uploadId={id}"),
        &[],
        b"part-one",
    );
    ok(&r, "UploadPart");
    let etag = r.header("etag").expect("etag").to_string();
    let done = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    );
    ok(
        &signed(
            a,
            owner,
            "POST",
            "/private/mpu",
            &format!("uploadId={id}"),
            &[],
            done.as_bytes(),
        ),
        "Complete",
    );
    assert_eq!(
        anon(a, "GET", "/private/mpu", &[], b"").body,
        b"part-one",
        "multipart public-read"
    );

    // A public-read bucket: unsigned HEAD, listings and object reads; no writes.
    ok(
        &signed(a, owner, "PUT", "/public", "", &pr, b""),
        "create public-read bucket",
    );
    ok(
        &signed(a, owner, "PUT", "/public/dir/k", "", &[], b"in public"),
        "put into public bucket",
    );
    ok(
        &anon(a, "HEAD", "/public", &[], b""),
        "unsigned HEAD public-read bucket",
    );
    let r = anon(a, "GET", "/public", &[], b"");
    assert!(
        r.status == 200 && r.text().contains("<Key>dir/k</Key>"),
        "unsigned ListObjects: {}",
        r.text()
    );
    let r = anon(a, "GET", "/public?list-type=2&prefix=dir%2F", &[], b"");
    assert!(
        r.status == 200 && r.text().contains("<Key>dir/k</Key>"),
        "unsigned ListObjectsV2: {}",
        r.text()
    );
    assert_eq!(
        anon(a, "GET", "/public/dir/k", &[], b"").body,
        b"in public",
        "unsigned GET in public bucket"
    );
    ok(
        &anon(a, "HEAD", "/public/dir/k", &[], b""),
        "unsigned HEAD in public bucket",
    );
    let r = anon(a, "GET", "/public/missing", &[], b"");
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "NoSuchKey"),
        "a reader of the bucket learns a key is missing"
    );
    denied(
        &anon(a, "PUT", "/public/new", &[], b"x"),
        "unsigned PUT into public-read bucket",
        false,
    );
    denied(
        &anon(a, "DELETE", "/public/dir/k", &[], b""),
        "unsigned DELETE in public-read bucket",
        false,
    );
    denied(
        &anon(a, "PUT", "/public?acl", &[("x-amz-acl", "public-read-write")], b""),
        "unsigned PutBucketAcl",
        false,
    );
    let r = signed(a, owner, "GET", "/public", "acl", &[], b"");
    assert!(
        r.text().contains("global/AllUsers</URI>"),
        "CreateBucket recorded the ACL: {}",
        r.text()
    );

    // public-read-write: unsigned writes too; the writer is recorded as `anonymous`.
    ok(
        &signed(
            a,
            owner,
            "PUT",
            "/public",
            "acl",
            &[("x-amz-acl", "public-read-write")],
            b"",
        ),
        "PutBucketAcl",
    );
    ok(
        &anon(a, "PUT", "/public/drop", &[], b"dropped"),
        "unsigned PUT into public-read-write bucket",
    );
    let r = signed(a, owner, "GET", "/public/drop", "acl", &[], b"");
    assert!(
        r.text().contains("<DisplayName>anonymous</DisplayName>"),
        "{}",
        r.text()
    );
    ok(
        &anon(a, "DELETE", "/public/drop", &[], b""),
        "unsigned DELETE in public-read-write bucket",
    );
    denied(
        &anon(a, "DELETE", "/public", &[], b""),
        "unsigned DeleteBucket of a public bucket",
        false,
    );

    // Bad ACL requests, as AWS answers them.
    let both = [("x-amz-acl", "public-read"), ("x-amz-grant-read", "id=\"bob\"")];
    let r = signed(a, owner, "PUT", "/private/x", "", &both, b"");
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "InvalidRequest"),
        "canned + grant headers"
    );
    let r = signed(a, owner, "PUT", "/badacl", "", &[("x-amz-acl", "world-writable")], b"");
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "InvalidArgument"),
        "unknown canned ACL"
    );
    let r = signed(a, owner, "HEAD", "/badacl", "", &[], b"");
    assert_eq!(r.status, 404, "a refused CreateBucket creates nothing");
    // An empty `x-amz-acl` (the Go SDK sends one for goofys's CreateBucket) is no ACL header.
    ok(
        &signed(a, owner, "PUT", "/emptyacl", "", &[("x-amz-acl", "")], b""),
        "empty x-amz-acl",
    );
    denied(
        &anon(a, "HEAD", "/emptyacl", &[], b""),
        "bucket with empty x-amz-acl is private",
        true,
    );
}

#[test]
fn security_off_unsigned_requests_follow_the_acls() {
    let s = start(false);
    // With security off any key signs (its signature is not checked).
    acl_scenarios(&s, ("anykey", "not-checked"));
    // authenticated-read: any signed request, no unsigned one.
    let a = s.addr;
    ok(
        &signed(
            a,
            ("anykey", "x"),
            "PUT",
            "/private/auth",
            "",
            &[("x-amz-acl", "authenticated-read")],
            b"a",
        ),
        "put",
    );
    ok(
        &signed(a, ("someone", "y"), "GET", "/private/auth", "", &[], b""),
        "signed read",
    );
    denied(
        &anon(a, "GET", "/private/auth", &[], b""),
        "unsigned authenticated-read",
        false,
    );
}

#[test]
fn security_on_unsigned_requests_follow_the_acls() {
    let s = start(true);
    acl_scenarios(&s, ("alice", ALICE));
    let a = s.addr;
    // Another user: the object grants decide there too.
    denied(
        &signed(a, ("bob", BOB), "GET", "/private/obj", "", &[], b""),
        "bob on alice's private object",
        false,
    );
    assert_eq!(
        signed(a, ("bob", BOB), "GET", "/private/pub", "", &[], b"").body,
        b"public",
        "bob on a public-read object"
    );
    ok(
        &signed(
            a,
            ("alice", ALICE),
            "PUT",
            "/private/auth",
            "",
            &[("x-amz-acl", "authenticated-read")],
            b"a",
        ),
        "put",
    );
    ok(
        &signed(a, ("bob", BOB), "GET", "/private/auth", "", &[], b""),
        "bob reads authenticated-read",
    );
    denied(
        &anon(a, "GET", "/private/auth", &[], b""),
        "unsigned authenticated-read",
        false,
    );
    ok(
        &signed(
            a,
            ("alice", ALICE),
            "PUT",
            "/private/forbob",
            "",
            &[("x-amz-grant-read", "id=\"bob\"")],
            b"b",
        ),
        "put",
    );
    ok(
        &signed(a, ("bob", BOB), "GET", "/private/forbob", "", &[], b""),
        "bob reads his grant",
    );
    denied(
        &anon(a, "GET", "/private/forbob", &[], b""),
        "unsigned on bob's grant",
        false,
    );
    // Security on: no front page, the bucket page of a private bucket is the HTML 403.
    let html = [("accept", "text/html,application/xhtml+xml")];
    denied(&anon(a, "GET", "/", &html, b""), "front page with security on", false);
    assert_eq!(anon(a, "GET", "/private?browser=true", &html, b"").status, 403);
    assert_eq!(anon(a, "GET", "/public?browser=true", &html, b"").status, 200);
}

#[test]
fn front_page_lists_buckets_for_a_browser_with_security_off() {
    let s = start(false);
    let a = s.addr;
    let html = [("accept", "text/html,application/xhtml+xml,*/*;q=0.8")];
    let r = anon(a, "GET", "/", &html, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("No buckets yet"), "{}", r.text());
    ok(&signed(a, ("k1", "x"), "PUT", "/first", "", &[], b""), "create");
    ok(&signed(a, ("k2", "x"), "PUT", "/second", "", &[], b""), "create");
    let r = anon(a, "GET", "/", &html, b"");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/html")));
    let t = r.text();
    assert!(
        t.contains("href=\"/first?browser=true\"") && t.contains("href=\"/second?browser=true\""),
        "{t}"
    );
    assert!(t.contains(">k1<") && t.contains(">k2<"), "owners: {t}");
    // Not a browser: the S3 answer.
    denied(
        &anon(a, "GET", "/", &[("accept", "*/*")], b""),
        "unsigned ListBuckets",
        false,
    );
    denied(&anon(a, "GET", "/", &[], b""), "unsigned ListBuckets", false);
    // Signed: ListBuckets XML even from a browser-like Accept.
    let r = signed(a, ("k1", "x"), "GET", "/", "", &html, b"");
    assert!(
        r.text().contains("<ListAllMyBucketsResult") && r.text().contains("<Name>second</Name>"),
        "{}",
        r.text()
    );
}

#[test]
fn bucket_page_with_security_off_presigns_its_links_and_writes_with_its_header() {
    let s = start(false);
    let a = s.addr;
    ok(&signed(a, ("k", "x"), "PUT", "/bkt", "", &[], b""), "create");
    ok(
        &signed(a, ("k", "x"), "PUT", "/bkt/dir/file%20one.txt", "", &[], b"one"),
        "put",
    );
    let r = anon(a, "GET", "/bkt?browser=true&prefix=dir%2F", &[], b"");
    assert_eq!(r.status, 200, "the page of a private bucket with security off");
    let t = r.text();
    let link = t
        .split("href=\"")
        .filter_map(|x| x.split('"').next())
        .find(|h| h.starts_with("/bkt/dir/file%20one.txt?"))
        .unwrap_or_else(|| panic!("presigned link in {t}"))
        .replace("&amp;", "&");
    assert!(
        link.contains("X-Amz-Signature=") && link.contains("X-Amz-Expires=43200"),
        "{link}"
    );
    assert_eq!(
        anon(a, "GET", &link, &[], b"").body,
        b"one",
        "the presigned link downloads"
    );
    denied(
        &anon(a, "GET", "/bkt/dir/file%20one.txt", &[], b""),
        "the bare path does not",
        false,
    );
    // The page's writes: its header makes them the page's; without it, an anonymous write.
    let w = [("x-ozfs-browser", "1"), ("content-type", "text/plain")];
    assert_eq!(anon(a, "POST", "/bkt/dir/up.txt?browser=upload", &w, b"up").status, 201);
    assert_eq!(
        anon(a, "POST", "/bkt/dir/up2.txt?browser=upload", &[], b"up").status,
        403
    );
    let cross = [("x-ozfs-browser", "1"), ("origin", "http://evil.example")];
    assert_eq!(
        anon(a, "POST", "/bkt/dir/up3.txt?browser=upload", &cross, b"up").status,
        403
    );
    let r = signed(a, ("k", "x"), "GET", "/bkt/dir/up.txt", "", &[], b"");
    assert_eq!(r.body, b"up");
}

#[test]
fn plus_in_copy_source_is_a_space() {
    let s = start(false);
    let a = s.addr;
    let k = ("k", "x");
    ok(&signed(a, k, "PUT", "/bkt", "", &[], b""), "create");
    ok(
        &signed(a, k, "PUT", "/bkt/dir%201/f", "", &[], b"spaced"),
        "put 'dir 1/f'",
    );
    ok(&signed(a, k, "PUT", "/bkt/a%2Bb", "", &[], b"plus"), "put 'a+b'");
    // goofys (url.QueryEscape): space as '+'.
    ok(
        &signed(
            a,
            k,
            "PUT",
            "/bkt/copy1",
            "",
            &[("x-amz-copy-source", "bkt/dir+1/f")],
            b"",
        ),
        "copy 'dir+1/f'",
    );
    assert_eq!(signed(a, k, "GET", "/bkt/copy1", "", &[], b"").body, b"spaced");
    // botocore: '+' as %2B.
    ok(
        &signed(
            a,
            k,
            "PUT",
            "/bkt/copy2",
            "",
            &[("x-amz-copy-source", "/bkt/a%2Bb")],
            b"",
        ),
        "copy 'a%2Bb'",
    );
    assert_eq!(signed(a, k, "GET", "/bkt/copy2", "", &[], b"").body, b"plus");
    let r = signed(a, k, "PUT", "/bkt/copy3", "", &[("x-amz-copy-source", "/bkt/a+b")], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchKey"), "'a+b' names 'a b'");
}
