//! End-to-end check against real S3 command-line clients with their own signing code: s3cmd
//! (its own SigV4 and SigV2 implementation) and rclone (aws-sdk-go, SigV4 and `--s3-v2-auth`).
//! `clients_capture.py` runs them against a small local capture server; every request they sent
//! must verify here with the client's secret and no other, and its body must pass the payload
//! check. Both clients are installed up front by `scripts/test-deps-s3.sh`; the test fails, naming
//! the missing one, without them (or without python3).

use super::botocore::{drain, header_map, in_reads, split_url, Captured};
use crate::sigv4::chunked::{verify_sha256, AwsChunkedDecoder};
use crate::sigv4::{parse, PayloadMode, RequestParts, Scheme};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use http::Method;
use std::process::Command;
use std::time::Duration;

const SCRIPT: &str = include_str!("clients_capture.py");

#[test]
fn real_clients_verify() {
    let out = match Command::new("python3").arg("-c").arg(SCRIPT).output() {
        Err(e) => panic!("python3 cannot be run ({e}); it runs the capture server of this check"),
        Ok(o) => {
            assert!(
                o.status.success(),
                "capture script failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            eprint!("{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8(o.stdout).expect("utf-8")
        }
    };
    let mut by_client: Vec<(String, Vec<Captured>)> = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("CLIENT ") {
            let name = rest.split(' ').next().unwrap_or("").to_string();
            assert!(rest.contains("exit=0"), "client run failed: {rest}");
            by_client.push((name, Vec::new()));
        } else if let Some(rest) = line.strip_prefix("MISSING ") {
            panic!("{rest}: install it with scripts/test-deps-s3.sh");
        } else if let Some(rest) = line.strip_prefix("REQ ") {
            let (method, url) = rest.split_once(' ').unwrap();
            let reqs = &mut by_client.last_mut().expect("CLIENT line first").1;
            reqs.push(Captured {
                method: method.into(),
                url: url.into(),
                headers: vec![],
                body: vec![],
            });
        } else if let Some(rest) = line.strip_prefix("H ") {
            let (k, v) = rest.split_once('\t').unwrap();
            let req = by_client.last_mut().unwrap().1.last_mut().unwrap();
            req.headers.push((k.into(), v.into()));
        } else if let Some(rest) = line.strip_prefix("BODY ") {
            by_client.last_mut().unwrap().1.last_mut().unwrap().body = B64.decode(rest.trim()).unwrap();
        }
    }
    let mut verified = 0;
    for (client, reqs) in &by_client {
        assert!(!reqs.is_empty(), "{client} sent nothing");
        let (user, secret) = if client.starts_with("s3cmd") {
            ("s3cmd-user", "s3cmd-secret-789")
        } else {
            ("rclone-user", "rclone-secret-012")
        };
        let expected_scheme = if client.contains("-v2-") {
            Scheme::V2Header
        } else {
            Scheme::V4Header
        };
        for req in reqs {
            let what = format!("{client}: {} {}", req.method, req.url);
            let (host, path, query) = split_url(&req.url);
            // The capture server saw the Host header itself; keep the one the client sent.
            let headers = header_map(
                &host,
                &req.headers
                    .iter()
                    .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
                    .cloned()
                    .collect::<Vec<_>>(),
                true,
            );
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
            assert_eq!(auth.scheme(), expected_scheme, "{what}");
            assert_eq!(auth.access_key(), user, "{what}");
            let now = auth.request_time() + Duration::from_secs(2);
            let ok = auth.verify(secret, now).unwrap_or_else(|e| {
                panic!(
                    "{what}: {e}\nstring to sign: {:?}\ncanonical request:\n{}",
                    auth.string_to_sign(),
                    auth.canonical_request()
                )
            });
            assert!(auth.verify("not-the-secret", now).is_err(), "{what}");
            match &ok.payload {
                PayloadMode::SignedPayload(hash) => {
                    drain(verify_sha256(in_reads(&req.body, 333), hash)).unwrap_or_else(|e| panic!("{what}: {e}"));
                }
                PayloadMode::UnsignedPayload => {}
                PayloadMode::StreamingSigned(s) => {
                    let len = headers
                        .get("x-amz-decoded-content-length")
                        .and_then(|v| v.to_str().ok()?.parse().ok());
                    drain(AwsChunkedDecoder::signed(in_reads(&req.body, 333), s, len))
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                }
                PayloadMode::StreamingUnsignedTrailer => {
                    let len = headers
                        .get("x-amz-decoded-content-length")
                        .and_then(|v| v.to_str().ok()?.parse().ok());
                    drain(AwsChunkedDecoder::unsigned(in_reads(&req.body, 333), len))
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                }
            }
            verified += 1;
        }
    }
    let names: Vec<&str> = by_client.iter().map(|(n, _)| n.as_str()).collect();
    for client in ["s3cmd-v4-put", "s3cmd-v2-put", "rclone-v4-copyto", "rclone-v2-copyto"] {
        assert!(names.contains(&client), "{client} did not run: {names:?}");
    }
    eprintln!("verified {verified} requests from {} client runs", by_client.len());
}
