//! End-to-end check against a real goofys: `goofys_capture.py` mounts goofys on a local capture
//! server that refuses SigV4, so goofys falls back to its own SigV2 signer (as it does against
//! gateways without SigV4), and runs file operations on the mount (create, read, mkdir, rename
//! = copy + delete, delete). Every request goofys sent, its first SigV4 attempt included, must
//! verify here. goofys is taken from `$OZFS_GOOFYS` or `PATH` (`scripts/install-goofys.sh`
//! installs it); without it, or without FUSE, the test is skipped with a message.

use super::botocore::{header_map, split_url, Captured};
use crate::sigv4::{parse, RequestParts, Scheme};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use http::Method;
use std::process::Command;
use std::time::Duration;

const SCRIPT: &str = include_str!("goofys_capture.py");
const SECRET: &str = "goofys-secret-345";

fn find_goofys() -> Option<String> {
    if let Ok(p) = std::env::var("OZFS_GOOFYS") {
        return Some(p);
    }
    let path = std::env::var("PATH").ok()?;
    path.split(':')
        .map(|d| format!("{d}/goofys"))
        .find(|p| std::path::Path::new(p).is_file())
}

#[test]
fn goofys_sigv2_fallback_verifies() {
    let Some(goofys) = find_goofys() else {
        eprintln!("SKIPPED goofys check: no goofys in $OZFS_GOOFYS or PATH (scripts/install-goofys.sh builds it)");
        return;
    };
    let out = match Command::new("python3").arg("-c").arg(SCRIPT).arg(&goofys).output() {
        Err(e) => {
            eprintln!("SKIPPED goofys check: python3 cannot be run ({e})");
            return;
        }
        Ok(o) => {
            assert!(
                o.status.success(),
                "capture script failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            String::from_utf8(o.stdout).expect("utf-8")
        }
    };
    if let Some(why) = out.lines().find_map(|l| l.strip_prefix("SKIP ")) {
        eprintln!("SKIPPED goofys check: {why}");
        return;
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
        let what = format!("{} {}", req.method, req.url);
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
        assert_eq!(auth.access_key(), "goofys-user");
        let now = auth.request_time() + Duration::from_secs(1);
        auth.verify(SECRET, now)
            .unwrap_or_else(|e| panic!("{what}: {e}\nstring to sign: {:?}", auth.string_to_sign()));
        assert!(auth.verify("other-secret", now).is_err());
        match auth.scheme() {
            Scheme::V4Header => v4 += 1,
            Scheme::V2Header => v2 += 1,
            other => panic!("{what}: unexpected {other:?}"),
        }
        if headers.contains_key("x-amz-copy-source") {
            copies += 1;
        }
    }
    assert!(v4 >= 1 && v2 >= 10 && copies >= 1, "v4 {v4}, v2 {v2}, copies {copies}");
    eprintln!("goofys: {v4} SigV4 and {v2} SigV2 requests verified ({copies} copies)");
}
