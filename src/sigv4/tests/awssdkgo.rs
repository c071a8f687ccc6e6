//! End-to-end check against aws-sdk-go v1, the S3 library goofys (and older rclone) use: a Go
//! program (`awssdkgo/main.go`) signs requests and presigns URLs with it, and every one must
//! verify here. Go spells paths and queries differently from botocore (`+` handling, which
//! characters it escapes), which is what this exercises. Go and the module are fetched up front by
//! `scripts/test-deps-goofys.sh`; without them the test fails and says so.

use super::botocore::{drain, header_map, in_reads, parse_capture, split_url};
use crate::sigv4::chunked::verify_sha256;
use crate::sigv4::{parse, AuthError, PayloadMode, RequestParts, Scheme};
use http::Method;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SECRET: &str = "go-secret-456";

#[test]
fn aws_sdk_go_requests_verify() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sigv4/tests/awssdkgo");
    // `go` on PATH, else where the Go tarball installs it (scripts/test-deps-goofys.sh).
    let go = if Path::new("/usr/local/go/bin/go").is_file()
        && !std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .any(|d| Path::new(d).join("go").is_file())
    {
        "/usr/local/go/bin/go"
    } else {
        "go"
    };
    let out = match Command::new(go)
        .arg("run")
        .arg(".")
        .current_dir(&dir)
        .env("GOFLAGS", "-mod=mod")
        .output()
    {
        Err(e) => panic!("`go` cannot be run ({e}): install Go and the module with scripts/test-deps-goofys.sh"),
        Ok(o) if !o.status.success() => panic!(
            "the Go program did not build/run (module github.com/aws/aws-sdk-go not in the module \
             cache? scripts/test-deps-goofys.sh downloads it):\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Ok(o) => String::from_utf8(o.stdout).expect("utf-8"),
    };
    let (requests, presigned, _) = parse_capture(&out);
    assert_eq!(requests.len(), 8, "{out}");
    assert_eq!(presigned.len(), 2);
    for req in &requests {
        let (host, path, query) = split_url(&req.url);
        let headers = header_map(&host, &req.headers, false);
        let method = Method::from_bytes(req.method.as_bytes()).unwrap();
        let parts = RequestParts {
            method: &method,
            raw_path: &path,
            raw_query: &query,
            headers: &headers,
            virtual_host_bucket: None,
        };
        let auth = parse(&parts)
            .unwrap_or_else(|e| panic!("{} {}: {e}", req.method, req.url))
            .expect("signed");
        assert_eq!(auth.scheme(), Scheme::V4Header);
        assert_eq!(auth.access_key(), "goofys");
        let now = auth.request_time() + Duration::from_secs(1);
        let ok = auth.verify(SECRET, now).unwrap_or_else(|e| {
            panic!(
                "{} {}: {e}\ncanonical request:\n{}",
                req.method,
                req.url,
                auth.canonical_request()
            )
        });
        assert!(matches!(
            auth.verify("wrong", now),
            Err(AuthError::SignatureDoesNotMatch { .. })
        ));
        if let PayloadMode::SignedPayload(hash) = &ok.payload {
            let body = drain(verify_sha256(in_reads(&req.body, 7), hash)).expect("body hash matches");
            assert_eq!(body, req.body);
        }
    }
    for line in &presigned {
        let (method, url) = line.split_once(' ').unwrap();
        let (host, path, query) = split_url(url);
        let headers = header_map(&host, &[], false);
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let parts = RequestParts {
            method: &method,
            raw_path: &path,
            raw_query: &query,
            headers: &headers,
            virtual_host_bucket: None,
        };
        let auth = parse(&parts).unwrap().unwrap();
        assert_eq!(auth.scheme(), Scheme::V4Presigned);
        auth.verify(SECRET, auth.request_time() + Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let other = if method == Method::GET {
            Method::PUT
        } else {
            Method::GET
        };
        let wrong = RequestParts {
            method: &other,
            ..parts
        };
        assert!(parse(&wrong)
            .unwrap()
            .unwrap()
            .verify(SECRET, auth.request_time())
            .is_err());
    }
}
