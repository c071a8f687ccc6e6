//! Tests of the aws-chunked decoder: AWS's published chunked-upload example, trailers (signed and
//! unsigned), every error, and a proptest over arbitrary payloads and network read splits.

use super::*;
use crate::sigv4::tests::{t2013, SK};
use crate::sigv4::{sign_request, SigningParams, STREAMING_PAYLOAD_TRAILER};
use futures_util::stream;
use proptest::prelude::*;
use std::sync::Mutex;
use std::task::Waker;

type In = Result<Bytes, std::io::Error>;

/// Drive a stream whose input is always ready (no runtime needed).
fn drain<S: Stream<Item = Result<Bytes, BodyError>> + Unpin>(mut s: S) -> (Vec<u8>, Option<BodyError>, usize) {
    let mut cx = Context::from_waker(Waker::noop());
    let (mut out, mut items) = (Vec::new(), 0);
    loop {
        match Pin::new(&mut s).poll_next(&mut cx) {
            Poll::Ready(Some(Ok(b))) => {
                out.extend_from_slice(&b);
                items += 1;
            }
            Poll::Ready(Some(Err(e))) => {
                // After an error the stream ends.
                assert!(matches!(Pin::new(&mut s).poll_next(&mut cx), Poll::Ready(None)));
                return (out, Some(e), items);
            }
            Poll::Ready(None) => return (out, None, items),
            Poll::Pending => panic!("input streams in these tests are always ready"),
        }
    }
}

/// Split `wire` at the given cut points into network reads.
fn reads(wire: &[u8], cuts: &[usize]) -> stream::Iter<std::vec::IntoIter<In>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    cuts.sort_unstable();
    let mut parts = Vec::new();
    let mut last = 0;
    for c in cuts.into_iter().chain([wire.len()]) {
        parts.push(Ok(Bytes::copy_from_slice(&wire[last..c])));
        last = c;
    }
    stream::iter(parts)
}

fn aws_ctx(trailer: bool) -> StreamingSigned {
    StreamingSigned {
        seed_signature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        signing_key: Some(SigningKey::derive(SK, "20130524", "us-east-1", "s3")),
        scope: "20130524/us-east-1/s3/aws4_request".into(),
        amz_date: "20130524T000000Z".into(),
        trailer,
    }
}

/// The body of AWS's "Transferring Payload in Multiple Chunks" example: 65536 + 1024 bytes of
/// 'a', chunk signatures as published (and recomputed with Python hmac/hashlib).
fn aws_example_body() -> Vec<u8> {
    let mut wire = Vec::new();
    for (len, sig) in [
        (
            65536usize,
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        ),
        (1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"),
    ] {
        wire.extend_from_slice(format!("{len:x};chunk-signature={sig}\r\n").as_bytes());
        wire.extend(std::iter::repeat_n(b'a', len));
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(
        b"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n",
    );
    wire
}

#[test]
fn aws_example_chunked_upload() {
    let wire = aws_example_body();
    assert_eq!(wire.len(), 66824, "the example's Content-Length");
    let ctx = aws_ctx(false);
    // The published signatures, from our signer.
    let mut signer = ChunkSigner::from_parts(
        ctx.signing_key.clone().unwrap(),
        &ctx.amz_date,
        &ctx.scope,
        &ctx.seed_signature,
    );
    assert_eq!(
        signer.sign_chunk(&[b'a'; 65536]),
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
    );
    for cuts in [
        vec![],
        vec![1, 5, 90, 65_600, 65_700, 66_700, 66_800],
        (0..66824).step_by(7).collect(),
    ] {
        let (out, err, _) = drain(AwsChunkedDecoder::signed(reads(&wire, &cuts), &ctx, Some(66560)));
        assert!(err.is_none(), "{err:?}");
        assert_eq!(out.len(), 66560);
        assert!(out.iter().all(|&b| b == b'a'));
    }
    // Security off: no key, same framing.
    let unverified = StreamingSigned {
        signing_key: None,
        ..ctx.clone()
    };
    let (out, err, _) = drain(AwsChunkedDecoder::signed(reads(&wire, &[]), &unverified, Some(66560)));
    assert!(err.is_none());
    assert_eq!(out.len(), 66560);

    // One flipped data byte: the chunk signature no longer matches.
    let mut bad = wire.clone();
    bad[200] = b'b';
    let (_, err, _) = drain(AwsChunkedDecoder::signed(reads(&bad, &[]), &ctx, Some(66560)));
    assert!(
        matches!(err, Some(BodyError::ChunkSignatureMismatch { chunk: 1 })),
        "{err:?}"
    );
    // ...but is not noticed without a key.
    let (_, err, _) = drain(AwsChunkedDecoder::signed(reads(&bad, &[]), &unverified, Some(66560)));
    assert!(err.is_none());
    // A wrong seed breaks the chain at chunk 1; a wrong final signature at chunk 3.
    let wrong_seed = StreamingSigned {
        seed_signature: "00".repeat(32),
        ..ctx.clone()
    };
    let (_, err, _) = drain(AwsChunkedDecoder::signed(reads(&wire, &[]), &wrong_seed, None));
    assert!(matches!(err, Some(BodyError::ChunkSignatureMismatch { chunk: 1 })));
    let bad_final = String::from_utf8(wire.clone()).unwrap().replace("b6c6ea8a", "b6c6ea8b");
    let (_, err, _) = drain(AwsChunkedDecoder::signed(reads(bad_final.as_bytes(), &[]), &ctx, None));
    assert!(matches!(err, Some(BodyError::ChunkSignatureMismatch { chunk: 3 })));
}

#[test]
fn errors() {
    let ctx = aws_ctx(false);
    let wire = aws_example_body();
    type IsExpected = fn(&BodyError) -> bool;
    let incomplete: IsExpected = |e| matches!(e, BodyError::Truncated | BodyError::LengthMismatch { .. });
    let framing: IsExpected = |e| matches!(e, BodyError::Framing(_));
    let cases: Vec<(Vec<u8>, Option<u64>, IsExpected)> = vec![
        (wire[..wire.len() - 4].to_vec(), Some(66560), incomplete), // cut inside the final chunk header
        (wire[..1000].to_vec(), Some(66560), incomplete),           // cut inside data
        (wire.clone(), Some(66561), incomplete),                    // declared length too long
        (wire.clone(), Some(1000), incomplete),                     // declared length too short
        (b"zz;chunk-signature=00\r\n".to_vec(), None, framing),
        (Vec::new(), None, incomplete),
        ([&b"400"[..], &[b' '; 9000]].concat(), None, framing),
        (b"1;chunk-signature=00\r\naXY".to_vec(), None, framing),
        (b"1\r\na\r\n".to_vec(), None, |e| {
            matches!(e, BodyError::MissingChunkSignature { .. })
        }), // no chunk-signature
    ];
    for (body, len, is_expected) in cases {
        let (_, err, _) = drain(AwsChunkedDecoder::signed(reads(&body, &[3]), &ctx, len));
        let err =
            err.unwrap_or_else(|| panic!("{:?} should fail", String::from_utf8_lossy(&body[..body.len().min(40)])));
        assert!(is_expected(&err), "{err}");
    }
    // Trailer in the non-trailer signed variant.
    let mut w = wire.clone();
    w.truncate(w.len() - 2);
    w.extend_from_slice(b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n");
    let (_, err, _) = drain(AwsChunkedDecoder::signed(reads(&w, &[]), &ctx, None));
    assert!(matches!(err, Some(BodyError::Framing(_))), "{err:?}");
    // Transport errors pass through.
    let failing = stream::iter(vec![
        Ok(Bytes::from_static(b"5\r\nab")),
        Err(std::io::Error::other("reset")),
    ]);
    let (out, err, _) = drain(AwsChunkedDecoder::unsigned(failing, None));
    assert_eq!(out, b"ab");
    assert!(matches!(err, Some(BodyError::Transport(_))));
    // Errors travel in crate::Error::Body and downcast back.
    let e: crate::Error = BodyError::Truncated.into();
    let crate::Error::Body(inner) = e else { panic!() };
    assert!(matches!(inner.downcast_ref::<BodyError>(), Some(BodyError::Truncated)));
}

/// boto3 / aws CLI v2 default: STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer.
#[test]
fn unsigned_with_trailer() {
    let payload = b"hello world";
    let crc = Algorithm::Crc32.checksum(payload);
    let mut wire = encode_unsigned_chunk(&payload[..6]);
    wire.extend(encode_unsigned_chunk(&payload[6..]));
    wire.extend(encode_unsigned_final(&[("x-amz-checksum-crc32", &crc)]));
    assert_eq!(
        String::from_utf8_lossy(&wire),
        "6\r\nhello \r\n5\r\nworld\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"
    );
    let expected = Arc::new(OnceLock::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let expected2 = expected.clone();
    let dec = AwsChunkedDecoder::unsigned(reads(&wire, &[2, 9, 30]), Some(11))
        .fill_checksum(Algorithm::Crc32, expected.clone())
        .on_trailer(move |n, v| seen2.lock().unwrap().push((n.to_string(), v.to_string())));
    // The trailer value is available before the stream reports its end.
    let mut dec = dec;
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    loop {
        match Pin::new(&mut dec).poll_next(&mut cx) {
            Poll::Ready(Some(Ok(b))) => out.extend_from_slice(&b),
            Poll::Ready(None) => {
                break;
            }
            other => panic!("{other:?}"),
        }
        if out.len() == 11 {
            // All data seen; the next poll parses the trailer and ends.
            assert!(expected2.get().is_none());
        }
    }
    assert_eq!(out, payload);
    assert_eq!(expected.get().map(String::as_str), Some("DUoRhQ=="));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![("x-amz-checksum-crc32".to_string(), crc.clone())]
    );
    assert_eq!(dec.trailers(), &[("x-amz-checksum-crc32".to_string(), crc.clone())]);

    // Missing final CRLF is tolerated; an empty body is "0\r\n\r\n".
    let (out, err, _) = drain(AwsChunkedDecoder::unsigned(
        reads(&wire[..wire.len() - 2], &[]),
        Some(11),
    ));
    assert_eq!((out.as_slice(), err.is_none()), (&payload[..], true));
    let (out, err, items) = drain(AwsChunkedDecoder::unsigned(reads(b"0\r\n\r\n", &[1]), Some(0)));
    assert!(out.is_empty() && err.is_none() && items == 0);
}

/// STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, produced by our signer, decoded and verified.
#[test]
fn signed_with_trailer() {
    let params = SigningParams {
        access_key: "AK",
        secret_key: SK,
        region: "us-east-1",
        service: "s3",
        time: t2013(),
    };
    let mut h = http::HeaderMap::new();
    h.insert("host", http::HeaderValue::from_static("localhost"));
    let out = sign_request(&http::Method::PUT, "/b/k", "", &h, STREAMING_PAYLOAD_TRAILER, &params);
    let ctx = StreamingSigned {
        seed_signature: out.signature.clone(),
        signing_key: Some(out.signing_key.clone()),
        scope: out.scope.clone(),
        amz_date: out.amz_date.clone(),
        trailer: true,
    };
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let crc = Algorithm::Crc32c.checksum(&payload);
    let mut signer = ChunkSigner::new(&out);
    let mut wire = Vec::new();
    for c in payload.chunks(65536) {
        wire.extend(signer.encode_chunk(c));
    }
    wire.extend(signer.encode_final_with_trailer(&[("x-amz-checksum-crc32c", &crc)]));
    let expected = Arc::new(OnceLock::new());
    let dec = AwsChunkedDecoder::signed(reads(&wire, &[10, 70_000, 199_999]), &ctx, Some(200_000))
        .fill_checksum(Algorithm::Crc32c, expected.clone());
    let (got, err, _) = drain(dec);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, payload);
    assert_eq!(expected.get(), Some(&crc));

    // A changed trailer value breaks the trailer signature.
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle).unwrap();
    let at = find(&wire, format!("x-amz-checksum-crc32c:{crc}").as_bytes()) + "x-amz-checksum-crc32c:".len();
    let mut forged = wire.clone();
    forged[at..at + 8].copy_from_slice(b"AAAAAA==");
    let (_, err, _) = drain(AwsChunkedDecoder::signed(reads(&forged, &[]), &ctx, None));
    assert!(matches!(err, Some(BodyError::TrailerSignatureMismatch)), "{err:?}");
    // A missing trailer signature is refused.
    let cut = find(&wire, b"x-amz-trailer-signature");
    let mut no_sig = wire[..cut].to_vec();
    no_sig.extend_from_slice(b"\r\n");
    let (_, err, _) = drain(AwsChunkedDecoder::signed(reads(&no_sig, &[]), &ctx, None));
    assert!(matches!(err, Some(BodyError::MissingTrailerSignature)), "{err:?}");
}

#[test]
fn sha256_verification() {
    let body = b"Welcome to Amazon S3.";
    let good = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
    let (out, err, _) = drain(verify_sha256(reads(body, &[4, 9]), good));
    assert_eq!((out.as_slice(), err.is_none()), (&body[..], true));
    let (_, err, _) = drain(verify_sha256(reads(b"Welcome to Amazon S4.", &[4]), good));
    let err = err.unwrap();
    assert!(matches!(err, BodyError::ContentSha256Mismatch { .. }), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Arbitrary payloads, chunked arbitrarily, split into arbitrary network reads, decode to
    /// the original in every mode, and yield no more than the input's pieces plus the chunks.
    #[test]
    fn decodes_any_split(
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        chunk in 1usize..700,
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
        mode in 0u8..3,
    ) {
        let crc = Algorithm::Crc32.checksum(&payload);
        let ctx = aws_ctx(mode == 2);
        let mut signer = ChunkSigner::from_parts(
            ctx.signing_key.clone().unwrap(), &ctx.amz_date, &ctx.scope, &ctx.seed_signature);
        let mut wire = Vec::new();
        for c in payload.chunks(chunk) {
            wire.extend(if mode == 0 { encode_unsigned_chunk(c) } else { signer.encode_chunk(c) });
        }
        match mode {
            0 => wire.extend(encode_unsigned_final(&[("x-amz-checksum-crc32", &crc)])),
            1 => wire.extend(signer.encode_chunk(b"")),
            _ => wire.extend(signer.encode_final_with_trailer(&[("x-amz-checksum-crc32", &crc)])),
        }
        let input = reads(&wire, &cuts);
        let expected = Arc::new(OnceLock::new());
        let (out, err, _) = if mode == 0 {
            drain(AwsChunkedDecoder::unsigned(input, Some(payload.len() as u64))
                .fill_checksum(Algorithm::Crc32, expected.clone()))
        } else {
            drain(AwsChunkedDecoder::signed(input, &ctx, Some(payload.len() as u64))
                .fill_checksum(Algorithm::Crc32, expected.clone()))
        };
        prop_assert!(err.is_none(), "{:?}", err);
        prop_assert_eq!(out, payload);
        prop_assert_eq!(expected.get().cloned(), if mode == 1 { None } else { Some(crc) });
    }

    /// Truncating a valid body anywhere before its final chunk is an error, never a short
    /// success.
    #[test]
    fn truncation_is_detected(
        payload in proptest::collection::vec(any::<u8>(), 1..2000),
        chunk in 1usize..500,
        cut in any::<usize>(),
    ) {
        let ctx = aws_ctx(false);
        let mut signer = ChunkSigner::from_parts(
            ctx.signing_key.clone().unwrap(), &ctx.amz_date, &ctx.scope, &ctx.seed_signature);
        let mut wire = Vec::new();
        for c in payload.chunks(chunk) {
            wire.extend(signer.encode_chunk(c));
        }
        let body_end = wire.len();
        wire.extend(signer.encode_chunk(b""));
        let cut = cut % (body_end + 60).min(wire.len() - 2);
        let (_, err, _) = drain(AwsChunkedDecoder::signed(reads(&wire[..cut], &[cut / 2]), &ctx, None));
        prop_assert!(err.is_some());
    }
}
