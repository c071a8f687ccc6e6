//! Security with `--secure` (issue 13, item 7): two users with real secrets (`ozfs s3
//! getsecret`). Bob can neither read, list, write, delete nor change the ACL of Alice's bucket —
//! directly, through a link he owns that points at it (whose own record — its ACL, the link
//! itself — is his), with presigned URLs, or through the admin
//! API (his S3 signature is no admin token; a wrong token is refused). The data directory the
//! server creates is 0700 and `server.info` (the admin token) 0600. Finally neither the server's
//! debug log nor any response body contains a secret, the admin token or a signature the test
//! sent.

use crate::common::*;
use http::Method;
use std::cell::RefCell;
use std::os::unix::fs::PermissionsExt;
use std::time::SystemTime;

/// Method, path, query, extra headers, body.
type Attempt<'a> = (&'a str, String, &'a str, Vec<(&'a str, &'a str)>, &'a [u8]);

fn secret_of(data: &std::path::Path, user: &str) -> String {
    let out = cli(data, &["s3", "getsecret", "-u", user]);
    out.lines()
        .find_map(|l| l.strip_prefix("awsSecret="))
        .unwrap_or_else(|| panic!("no secret in {out:?}"))
        .to_string()
}

fn signature_of(raw: &[u8]) -> String {
    let t = String::from_utf8_lossy(raw);
    t.split("Signature=")
        .nth(1)
        .map(|s| s.split(|c: char| !c.is_ascii_hexdigit()).next().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn users_are_isolated_and_nothing_secret_leaks() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data"); // created by the server
    let log = root.path().join("serve.log");
    let debug = std::path::Path::new("debug");
    let serve = Serve::start_env(&data, None, &["--secure"], Some(&log), &[("RUST_LOG", debug)]);
    // Private files.
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data directory mode");
    assert_eq!(mode(&data.join("server.info")), 0o600, "server.info (admin token) mode");
    let info = std::fs::read_to_string(data.join("server.info")).unwrap();
    let token = info.lines().find_map(|l| l.strip_prefix("token=")).unwrap().to_string();

    let (alice_secret, bob_secret) = (secret_of(&data, "alice"), secret_of(&data, "bob"));
    let alice = serve.client("alice", &alice_secret);
    let bob = serve.client("bob", &bob_secret);
    let sent_signatures: RefCell<Vec<String>> = RefCell::new(Vec::new());
    let bodies: RefCell<Vec<String>> = RefCell::new(Vec::new());
    let send = |c: &S3, method: &str, path: &str, query: &str, extra: &[(&str, &str)], body: &[u8]| {
        let raw = c.signed(method, path, query, extra, body);
        sent_signatures.borrow_mut().push(signature_of(&raw));
        let r = c.send_raw(&raw).unwrap();
        bodies.borrow_mut().push(r.text());
        r
    };
    assert!(send(&alice, "PUT", "/alice-b", "", &[], b"").ok());
    assert!(send(&alice, "PUT", "/alice-b/secret.txt", "", &[], b"alice only").ok());
    assert!(send(&bob, "PUT", "/bob-b", "", &[], b"").ok());
    let acl = b"<AccessControlPolicy><Owner><ID>bob</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>bob</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>";
    let del = b"<Delete><Object><Key>secret.txt</Key></Object></Delete>";
    let del_md5 = {
        use base64::Engine as _;
        use md5::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(del))
    };

    // Bob against Alice's bucket, directly and through a link he owns.
    cli(
        &data,
        &["sh", "bucket", "link", "-u", "bob", "/s3v/alice-b", "/s3v/bob-link"],
    );
    for b in ["alice-b", "bob-link"] {
        let attempts: Vec<Attempt> = vec![
            ("GET", format!("/{b}/secret.txt"), "", vec![], b""),
            ("HEAD", format!("/{b}/secret.txt"), "", vec![], b""),
            ("GET", format!("/{b}"), "list-type=2", vec![], b""),
            ("GET", format!("/{b}"), "", vec![], b""),
            ("PUT", format!("/{b}/secret.txt"), "", vec![], b"bob was here"),
            ("PUT", format!("/{b}/new.txt"), "", vec![], b"bob was here"),
            (
                "PUT",
                format!("/{b}/copy.txt"),
                "",
                vec![("x-amz-copy-source", "/alice-b/secret.txt")],
                b"",
            ),
            (
                "PUT",
                "/bob-b/stolen.txt".to_string(),
                "",
                vec![("x-amz-copy-source", format!("/{b}/secret.txt").leak())],
                b"",
            ),
            ("DELETE", format!("/{b}/secret.txt"), "", vec![], b""),
            (
                "POST",
                format!("/{b}"),
                "delete=",
                vec![("content-md5", del_md5.as_str())],
                del,
            ),
            ("POST", format!("/{b}/mp"), "uploads=", vec![], b""),
            ("GET", format!("/{b}"), "acl=", vec![], b""),
            ("PUT", format!("/{b}"), "acl=", vec![], acl),
            ("PUT", format!("/{b}"), "acl=", vec![("x-amz-acl", "public-read")], b""),
            ("DELETE", format!("/{b}"), "", vec![], b""),
        ];
        for (m, path, q, h, body) in attempts {
            // Bob's link is his own bucket record: reading its ACL shows his grant on the link
            // (nothing of Alice's), and deleting it removes only the link.
            if b == "bob-link"
                && ((m == "GET" && q == "acl=") || (m == "DELETE" && q.is_empty() && path == "/bob-link"))
            {
                continue;
            }
            let r = send(&bob, m, &path, q, &h, body);
            assert_eq!(r.status, 403, "bob {m} {path}?{q}: {} {}", r.status, r.text());
            if m != "HEAD" {
                assert_eq!(r.code().as_deref(), Some("AccessDenied"), "bob {m} {path}?{q}");
            }
        }
    }
    // Presigned URLs made with Bob's key open nothing of Alice's.
    for m in [Method::GET, Method::PUT, Method::DELETE] {
        let params = ozfs::sigv4::SigningParams {
            access_key: "bob",
            secret_key: &bob_secret,
            region: "us-east-1",
            service: "s3",
            time: SystemTime::now(),
        };
        let q = ozfs::sigv4::presign::presign(&m, &serve.addr, "/alice-b/secret.txt", "", 600, &params);
        sent_signatures
            .borrow_mut()
            .push(q.split("X-Amz-Signature=").nth(1).unwrap().to_string());
        let raw = format!(
            "{m} /alice-b/secret.txt?{q} HTTP/1.1\r\nhost: {}\r\ncontent-length: 3\r\nconnection: close\r\n\r\nbob",
            serve.addr
        );
        let r = bob.send_raw(raw.as_bytes()).unwrap();
        bodies.borrow_mut().push(r.text());
        assert_eq!(
            (r.status, r.code().as_deref()),
            (403, Some("AccessDenied")),
            "presigned {m}: {}",
            r.text()
        );
    }
    // A forged signature (Bob's key, a made-up secret) is refused without echoing it.
    let forged = serve.client("bob", "not-bobs-secret");
    let r = send(&forged, "GET", "/bob-b", "", &[], b"");
    assert_eq!((r.status, r.code().as_deref()), (403, Some("SignatureDoesNotMatch")));
    // The admin API: an S3 signature is no token; a wrong token is refused.
    let r = send(&bob, "GET", "/_ozfs/admin/ping", "", &[], b"");
    assert!(
        r.status == 403 || r.status == 404,
        "admin ping with an S3 signature: {}",
        r.status
    );
    let r = send(
        &bob,
        "GET",
        "/_ozfs/admin/ping",
        "",
        &[("x-ozfs-admin-token", "guess")],
        b"",
    );
    assert_eq!(r.status, 403, "admin ping with a wrong token: {}", r.text());
    // Nothing of Alice's changed.
    let r = send(&alice, "GET", "/alice-b/secret.txt", "", &[], b"");
    assert_eq!(r.text(), "alice only");
    let r = send(&alice, "GET", "/alice-b", "list-type=2", &[], b"");
    assert!(r.text().contains("<KeyCount>1</KeyCount>"), "{}", r.text());
    assert!(!send(&alice, "GET", "/bob-b", "list-type=2", &[], b"")
        .text()
        .contains("stolen"));
    let (sent_signatures, bodies) = (sent_signatures.into_inner(), bodies.into_inner());

    // No secret, token or signature in the log or in any answer.
    drop(serve);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logged.is_empty(),
        "the server logged nothing (RUST_LOG=debug expected)"
    );
    let mut needles = vec![
        ("alice's secret", alice_secret.clone()),
        ("bob's secret", bob_secret.clone()),
        ("the admin token", token.clone()),
    ];
    needles.extend(
        sent_signatures
            .iter()
            .filter(|s| s.len() >= 32)
            .map(|s| ("a signature", s.clone())),
    );
    for (what, n) in &needles {
        assert!(!logged.contains(n.as_str()), "{what} appears in the server log");
        for b in &bodies {
            assert!(!b.contains(n.as_str()), "{what} appears in a response: {b}");
        }
    }
    eprintln!(
        "secure: {} requests, {} log lines and {} answers free of {} secrets/signatures",
        bodies.len(),
        logged.lines().count(),
        bodies.len(),
        needles.len()
    );
}
