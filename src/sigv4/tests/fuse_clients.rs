//! End-to-end checks against real FUSE S3 clients with their own signers, run by
//! `fuse_capture.py` on a local capture server while file operations run on the mount (create,
//! read, mkdir, rename = copy + delete, chmod, delete); every request they sent must verify here
//! with their secret and no other.
//! - goofys: the server refuses SigV4, so goofys falls back to its own SigV2 signer (as it does
//!   against gateways without SigV4); its first SigV4 attempt must verify too. goofys is taken
//!   from `$OZFS_GOOFYS` or `PATH` (`scripts/test-deps-goofys.sh` builds and installs it).
//! - s3fs, with `-o sigv4` and with `-o sigv2` (`scripts/test-deps-fuse.sh` installs it).
//!
//! Without the client, FUSE or python3, a check fails and says which is missing.

use super::botocore::{drain, header_map, in_reads, split_url, Captured};
use crate::sigv4::chunked::verify_sha256;
use crate::sigv4::{parse, PayloadMode, RequestParts, Scheme};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use http::Method;
use std::process::Command;
use std::time::Duration;

const SCRIPT: &str = include_str!("fuse_capture.py");

/// goofys: `$OZFS_GOOFYS`, else `goofys` on `PATH`; the test fails when there is none.
fn find_goofys() -> String {
    if let Ok(p) = std::env::var("OZFS_GOOFYS") {
        return p;
    }
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| format!("{d}/goofys"))
        .find(|p| std::path::Path::new(p).is_file())
        .unwrap_or_else(|| {
            panic!("no goofys in $OZFS_GOOFYS or PATH: scripts/test-deps-goofys.sh builds and installs it")
        })
}

/// Run `fuse_capture.py args`, verify every captured request, and return how many used SigV4,
/// SigV2, and carried `x-amz-copy-source`.
fn capture_and_verify(args: &[&str], user: &str, secret: &str) -> (usize, usize, usize) {
    let out = match Command::new("python3").arg("-c").arg(SCRIPT).args(args).output() {
        Err(e) => panic!("{args:?}: python3 cannot be run ({e}); it runs the capture server"),
        Ok(o) => {
            assert!(
                o.status.success(),
                "capture script failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            String::from_utf8(o.stdout).expect("utf-8")
        }
    };
    if let Some(why) = out
        .lines()
        .find_map(|l| l.strip_prefix("MISSING ").or_else(|| l.strip_prefix("NOMOUNT ")))
    {
        panic!("{args:?}: {why}");
    }
    assert!(out.lines().any(|l| l == "MOUNT ok"), "{out}");
    let mut reqs: Vec<Captured> = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("REQ ") {
            let (method, url) = rest.split_once(' ').unwrap();
            reqs.push(Captured {
                method: method.into(),
                url: url.into(),
                headers: vec![],
                body: vec![],
            });
        } else if let Some(rest) = line.strip_prefix("H ") {
            let (k, v) = rest.split_once('\t').unwrap();
            reqs.last_mut().unwrap().headers.push((k.into(), v.into()));
        } else if let Some(rest) = line.strip_prefix("BODY ") {
            reqs.last_mut().unwrap().body = B64.decode(rest.trim()).unwrap();
        }
    }
    let (mut v4, mut v2, mut copies) = (0, 0, 0);
    for req in &reqs {
        let what = format!("{args:?}: {} {}", req.method, req.url);
        let (host, path, query) = split_url(&req.url);
        let others: Vec<(String, String)> = req
            .headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
            .cloned()
            .collect();
        let headers = header_map(&host, &others, true);
        let method = Method::from_bytes(req.method.as_bytes()).unwrap();
        let parts = RequestParts {
            method: &method,
            raw_path: &path,
            raw_query: &query,
            headers: &headers,
            virtual_host_bucket: None,
        };
        let auth = parse(&parts)
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .unwrap_or_else(|| panic!("{what}: unsigned"));
        assert_eq!(auth.access_key(), user);
        let now = auth.request_time() + Duration::from_secs(1);
        let ok = auth.verify(secret, now).unwrap_or_else(|e| {
            panic!(
                "{what}: {e}\nstring to sign: {:?}\ncanonical request:\n{}",
                auth.string_to_sign(),
                auth.canonical_request()
            )
        });
        assert!(auth.verify("other-secret", now).is_err());
        if let PayloadMode::SignedPayload(hash) = &ok.payload {
            drain(verify_sha256(in_reads(&req.body, 100), hash)).unwrap_or_else(|e| panic!("{what}: {e}"));
        }
        match auth.scheme() {
            Scheme::V4Header => v4 += 1,
            Scheme::V2Header => v2 += 1,
            other => panic!("{what}: unexpected {other:?}"),
        }
        if headers.contains_key("x-amz-copy-source") {
            copies += 1;
        }
    }
    eprintln!("{args:?}: {v4} SigV4 and {v2} SigV2 requests verified ({copies} copies)");
    (v4, v2, copies)
}

#[test]
fn goofys_sigv2_fallback_verifies() {
    let goofys = find_goofys();
    let (v4, v2, copies) = capture_and_verify(&["goofys", &goofys], "goofys-user", "goofys-secret-345");
    assert!(v4 >= 1 && v2 >= 10 && copies >= 1, "v4 {v4}, v2 {v2}, copies {copies}");
}

#[test]
fn s3fs_verifies() {
    for (mode, v4_expected) in [("sigv4", true), ("sigv2", false)] {
        let (v4, v2, _) = capture_and_verify(&["s3fs", mode], "s3fs-user", "s3fs-secret-678");
        if v4_expected {
            assert!(v4 >= 10 && v2 == 0, "{mode}: v4 {v4}, v2 {v2}");
        } else {
            assert!(v2 >= 10 && v4 == 0, "{mode}: v4 {v4}, v2 {v2}");
        }
    }
}
