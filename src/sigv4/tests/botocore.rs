//! End-to-end check against a real client: botocore signs requests (SigV4 and SigV2 headers,
//! aws-chunked bodies with trailers) and generates presigned URLs (SigV4 and SigV2); our
//! verifier must accept every one of them with the same secret, refuse them with another, and
//! decode the bodies to what botocore sent. The Python side is `botocore_capture.py`; it sends
//! nothing over the network.

use crate::checksum::Algorithm;
use crate::sigv4::chunked::{verify_sha256, AwsChunkedDecoder, BodyError};
use crate::sigv4::{parse, AuthError, PayloadMode, RequestParts, Scheme};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::{stream, Stream};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use std::pin::Pin;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

const SCRIPT: &str = include_str!("botocore_capture.py");

pub(super) struct Captured {
    pub(super) method: String,
    pub(super) url: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

/// Parse the capture format shared with `awssdkgo/main.go`: requests, presigned URLs (with the
/// method first when written as `PRESIGN <method> <url>`) and the secret.
pub(super) fn parse_capture(output: &str) -> (Vec<Captured>, Vec<String>, String) {
    let mut requests: Vec<Captured> = Vec::new();
    let mut presigned: Vec<String> = Vec::new();
    let mut secret = String::new();
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("REQ ") {
            let (method, url) = rest.split_once(' ').unwrap();
            requests.push(Captured {
                method: method.into(),
                url: url.into(),
                headers: vec![],
                body: vec![],
            });
        } else if let Some(rest) = line.strip_prefix("H ") {
            let (k, v) = rest.split_once('\t').unwrap();
            requests.last_mut().unwrap().headers.push((k.into(), v.into()));
        } else if let Some(rest) = line.strip_prefix("BODY ") {
            requests.last_mut().unwrap().body = B64.decode(rest.trim()).unwrap();
        } else if let Some(rest) = line.strip_prefix("PRESIGN ") {
            presigned.push(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("SECRET ") {
            secret = rest.to_string();
        }
    }
    (requests, presigned, secret)
}

/// Run the capture script (python3 and boto3 are installed by `scripts/test-deps-s3.sh`).
fn run_botocore() -> String {
    match Command::new("python3").arg("-c").arg("import boto3, botocore").output() {
        Err(e) => panic!("python3 cannot be run ({e}); it runs botocore for this check (scripts/test-deps-s3.sh)"),
        Ok(o) if !o.status.success() => panic!(
            "boto3 is not importable by python3 (install it with `pip install boto3`): {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Ok(_) => {}
    }
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "capture script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `scheme://authority/path?query` → (authority, path, query).
pub(super) fn split_url(url: &str) -> (String, String, String) {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let (authority, path_query) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    (authority.to_string(), path.to_string(), query.to_string())
}

/// The headers as they are on the wire. `latin1`: the values were Python `str`s, which
/// `http.client` writes as Latin-1 bytes; otherwise (Go) they are the UTF-8 bytes.
pub(super) fn header_map(host: &str, headers: &[(String, String)], latin1: bool) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(http::header::HOST, HeaderValue::from_str(host).unwrap());
    for (k, v) in headers {
        let bytes: Vec<u8> = if latin1 {
            v.chars()
                .map(|c| u8::try_from(u32::from(c)).expect("Latin-1 header value"))
                .collect()
        } else {
            v.as_bytes().to_vec()
        };
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_bytes(&bytes).unwrap(),
        );
    }
    h
}

pub(super) fn drain<S: Stream<Item = Result<Bytes, BodyError>> + Unpin>(mut s: S) -> Result<Vec<u8>, BodyError> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    loop {
        match Pin::new(&mut s).poll_next(&mut cx) {
            Poll::Ready(Some(Ok(b))) => out.extend_from_slice(&b),
            Poll::Ready(Some(Err(e))) => return Err(e),
            Poll::Ready(None) => return Ok(out),
            Poll::Pending => panic!("in-memory input is always ready"),
        }
    }
}

pub(super) fn in_reads(body: &[u8], size: usize) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    let parts: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(size.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(parts)
}

#[test]
fn botocore_requests_verify() {
    let output = run_botocore();
    let (requests, presigned, secret) = parse_capture(&output);
    assert!(requests.len() >= 15, "captured {} requests", requests.len());
    assert_eq!(presigned.len(), 4);

    let (mut v4, mut v2, mut trailers, mut sha_checked) = (0, 0, 0, 0);
    for req in &requests {
        let (host, path, query) = split_url(&req.url);
        let headers = header_map(&host, &req.headers, true);
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
        assert_eq!(auth.access_key(), "testuser/scm@EXAMPLE.COM");
        let now = auth.request_time() + Duration::from_secs(30);
        let ok = auth.verify(&secret, now).unwrap_or_else(|e| {
            panic!(
                "{} {}: {e}\nstring to sign: {:?}",
                req.method,
                req.url,
                auth.string_to_sign()
            )
        });
        assert!(matches!(
            auth.verify("another-secret", now),
            Err(AuthError::SignatureDoesNotMatch { .. })
        ));
        match auth.scheme() {
            Scheme::V4Header => v4 += 1,
            Scheme::V2Header => v2 += 1,
            other => panic!("unexpected scheme {other:?}"),
        }
        // A request for another key with the same headers does not verify.
        let other_path = format!("{path}x");
        let moved = RequestParts {
            raw_path: &other_path,
            ..parts
        };
        assert!(parse(&moved).unwrap().unwrap().verify(&secret, now).is_err());

        // The body, as the gateway would read it.
        let body = match &ok.payload {
            PayloadMode::SignedPayload(hash) => {
                sha_checked += 1;
                let body = drain(verify_sha256(in_reads(&req.body, 100), hash)).expect("sha256 matches");
                let mut tampered = req.body.clone();
                tampered.push(b'!');
                assert!(drain(verify_sha256(in_reads(&tampered, 100), hash)).is_err());
                body
            }
            PayloadMode::UnsignedPayload => req.body.clone(),
            PayloadMode::StreamingUnsignedTrailer => {
                trailers += 1;
                let decoded_len: u64 = headers["x-amz-decoded-content-length"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                let trailer = headers["x-amz-trailer"].to_str().unwrap();
                let algorithm = Algorithm::from_header_name(trailer).expect("checksum trailer");
                let expected = Arc::new(OnceLock::new());
                let dec = AwsChunkedDecoder::unsigned(in_reads(&req.body, 1000), Some(decoded_len))
                    .fill_checksum(algorithm, expected.clone());
                let body = drain(dec).expect("botocore's aws-chunked body decodes");
                assert_eq!(body.len() as u64, decoded_len);
                assert_eq!(expected.get(), Some(&algorithm.checksum(&body)), "{algorithm} trailer");
                body
            }
            PayloadMode::StreamingSigned(_) => panic!("botocore does not send signed chunks"),
        };
        // Checksum headers botocore computed agree with ours.
        for alg in Algorithm::ALL {
            if let Some(v) = headers.get(alg.header_name()) {
                assert_eq!(
                    v.to_str().unwrap(),
                    alg.checksum(&body),
                    "{alg} of {} {}",
                    req.method,
                    req.url
                );
            }
        }
    }
    assert!(
        v4 >= 8 && v2 >= 7 && trailers == 3 && sha_checked >= 4,
        "{v4} {v2} {trailers} {sha_checked}"
    );

    for url in &presigned {
        let (host, path, query) = split_url(url);
        let headers = header_map(&host, &[], true);
        let method = if url.contains("Expires=600") || url.contains("Expires=1") {
            Method::PUT
        } else {
            Method::GET
        };
        // Try both methods: exactly the one it was signed for verifies.
        let results: Vec<bool> = [Method::GET, Method::PUT]
            .iter()
            .map(|m| {
                let parts = RequestParts {
                    method: m,
                    raw_path: &path,
                    raw_query: &query,
                    headers: &headers,
                    virtual_host_bucket: None,
                };
                let auth = parse(&parts).unwrap().unwrap();
                assert_eq!(auth.access_key(), "testuser/scm@EXAMPLE.COM");
                let now = match auth.scheme() {
                    Scheme::V4Presigned => auth.request_time() + Duration::from_secs(5),
                    Scheme::V2Presigned => auth.request_time() - Duration::from_secs(300),
                    other => panic!("unexpected scheme {other:?}"),
                };
                auth.verify(&secret, now).is_ok()
            })
            .collect();
        assert_eq!(results.iter().filter(|r| **r).count(), 1, "{url} ({method})");
    }
}
