//! Cost of request authentication, printed, never asserted (moved here from `#[ignore]`d unit
//! tests of src/sigv4):
//! * SigV4 header auth: parse + verify of one signed PUT, and signing it, per request;
//! * the aws-chunked body decoders on a 256 MiB body of 1 MiB chunks in 64 KiB network reads
//!   (unsigned, signed with every chunk signature verified) and the whole-body SHA-256 check,
//!   beside a copy-only baseline.
//!
//! `cargo bench -p ozfs --bench sigv4`

use bytes::Bytes;
use futures_util::{stream, Stream, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use ozfs::sigv4::canonical::sha256_hex;
use ozfs::sigv4::chunked::{
    encode_unsigned_chunk, encode_unsigned_final, verify_sha256, AwsChunkedDecoder, BodyError, ChunkSigner,
};
use ozfs::sigv4::{parse, sign_request, RequestParts, SigningKey, SigningParams, StreamingSigned, UNSIGNED_PAYLOAD};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// 2013-05-24T00:00:00Z, the time of AWS's SigV4 examples.
fn t2013() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_369_353_600)
}

fn verify_cost() {
    let params = SigningParams {
        access_key: AK,
        secret_key: SK,
        region: "us-east-1",
        service: "s3",
        time: t2013(),
    };
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("host", "127.0.0.1:9878"),
        ("content-type", "text/plain"),
        ("x-amz-meta-a", "b"),
    ] {
        h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    let out = sign_request(&Method::PUT, "/bucket/dir/key.txt", "", &h, UNSIGNED_PAYLOAD, &params);
    let mut sent = h.clone();
    out.apply(&mut sent);
    let m = Method::PUT;
    let parts = RequestParts {
        method: &m,
        raw_path: "/bucket/dir/key.txt",
        raw_query: "",
        headers: &sent,
        virtual_host_bucket: None,
    };
    let n = 20_000u32;
    let t = Instant::now();
    for _ in 0..n {
        let auth = parse(&parts).unwrap().unwrap();
        auth.verify(SK, t2013()).unwrap();
    }
    let per = t.elapsed() / n;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(sign_request(
            &Method::PUT,
            "/bucket/dir/key.txt",
            "",
            &h,
            UNSIGNED_PAYLOAD,
            &params,
        ));
    }
    println!(
        "SigV4 parse+verify: {per:?} per request; sign: {:?} per request",
        t.elapsed() / n
    );
}

/// Read a body stream to the end: its input is always ready, so polling never pends.
fn drain<S: Stream<Item = Result<Bytes, BodyError>> + Unpin>(mut s: S) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut n = 0;
    loop {
        match Pin::new(&mut s).poll_next(&mut cx) {
            Poll::Ready(Some(b)) => n += b.unwrap().len(),
            Poll::Ready(None) => return n,
            Poll::Pending => panic!("the input of this bench is always ready"),
        }
    }
}

fn chunked_throughput() {
    let total = 256usize << 20;
    let payload: Vec<u8> = (0..(1usize << 20)).map(|i| (i * 31 % 251) as u8).collect();
    let ctx = StreamingSigned {
        seed_signature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        signing_key: Some(SigningKey::derive(SK, "20130524", "us-east-1", "s3")),
        scope: "20130524/us-east-1/s3/aws4_request".into(),
        amz_date: "20130524T000000Z".into(),
        trailer: false,
    };
    let mut signer = ChunkSigner::from_parts(
        ctx.signing_key.clone().unwrap(),
        &ctx.amz_date,
        &ctx.scope,
        &ctx.seed_signature,
    );
    let (mut signed, mut unsigned) = (
        Vec::with_capacity(total + (1 << 16)),
        Vec::with_capacity(total + (1 << 16)),
    );
    for _ in 0..(total >> 20) {
        signed.extend(signer.encode_chunk(&payload));
        unsigned.extend(encode_unsigned_chunk(&payload));
    }
    signed.extend(signer.encode_chunk(b""));
    unsigned.extend(encode_unsigned_final(&[("x-amz-checksum-crc32", "AAAAAA==")]));
    let reads_of = |wire: &[u8]| {
        let b = Bytes::copy_from_slice(wire);
        let parts: Vec<Result<Bytes, std::io::Error>> = (0..b.len())
            .step_by(65536)
            .map(|i| Ok(b.slice(i..(i + 65536).min(b.len()))))
            .collect();
        stream::iter(parts)
    };
    let gbps = |t: Duration| total as f64 / t.as_secs_f64() / 1e9;

    // Baseline: the same reads, no decoding.
    let input = reads_of(&unsigned).map(|r| r.map_err(|e| BodyError::Transport(e.into())));
    let t = Instant::now();
    assert!(drain(input) > total);
    let base_t = t.elapsed();

    let input = reads_of(&unsigned);
    let t = Instant::now();
    assert_eq!(drain(AwsChunkedDecoder::unsigned(input, Some(total as u64))), total);
    let unsigned_t = t.elapsed();

    let input = reads_of(&signed);
    let t = Instant::now();
    assert_eq!(drain(AwsChunkedDecoder::signed(input, &ctx, Some(total as u64))), total);
    let signed_t = t.elapsed();

    let body: Vec<u8> = payload.iter().cycle().take(total).copied().collect();
    let hash = sha256_hex(&body);
    let input = reads_of(&body);
    let t = Instant::now();
    assert_eq!(drain(verify_sha256(input, &hash)), total);
    let sha_t = t.elapsed();
    println!(
        "baseline (copy only): {:.2} GB/s; aws-chunked unsigned: {:.2} GB/s; signed+verified: {:.2} GB/s; \
         sha256 check: {:.2} GB/s",
        gbps(base_t),
        gbps(unsigned_t),
        gbps(signed_t),
        gbps(sha_t)
    );
}

fn main() {
    verify_cost();
    chunked_throughput();
}
