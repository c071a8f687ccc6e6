//! Bodies in both directions, streamed: never an object whole in memory.
//!
//! * Requests: hyper's `Incoming` becomes an [`ozfs::ByteStream`] ([`incoming_stream`]), with an
//!   idle timeout per chunk so a stalled client cannot hold a request forever. The stream is
//!   then decoded according to how the payload was signed ([`decode_payload`]): aws-chunked
//!   bodies go through the sigv4 chunked decoder (chunk signatures and trailer checksums
//!   checked), a signed single-chunk payload is hashed while it streams and the last chunk is
//!   replaced by an error when the SHA-256 differs — the store only commits a body that ended
//!   cleanly, so a mismatch commits nothing.
//! * Responses: [`RespBody`] is empty, one buffer, or a `ByteStream` the store produced.
//!
//! Body errors travel inside [`ozfs::Error::Body`]; [`crate::error::body_error_to_s3`] downcasts them back.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use ozfs::sigv4::{chunked, PayloadMode};
use ozfs::{ByteStream, ChecksumSpec};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Errors produced by the gateway's own body adapters.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the client sent no data for {0:?}")]
    IdleTimeout(Duration),
    #[error("the client connection failed while sending the body: {0}")]
    Transport(#[source] hyper::Error),
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
}

fn body_err(e: BodyError) -> ozfs::Error {
    ozfs::Error::Body(Box::new(e))
}

/// Turn hyper's request body into a `ByteStream`. Trailers (HTTP/1.1 chunked trailers) are
/// skipped; a chunk that takes longer than `idle` to arrive fails the stream. The returned flag
/// turns true once the body was read to its end (the service closes connections whose body was
/// left unread).
pub fn incoming_stream(body: Incoming, idle: Duration) -> (ByteStream, Arc<AtomicBool>) {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let s = futures_util::stream::unfold(Some(body), move |state| {
        let flag = flag.clone();
        async move {
            let mut b = state?;
            loop {
                match tokio::time::timeout(idle, b.frame()).await {
                    Err(_) => return Some((Err(body_err(BodyError::IdleTimeout(idle))), None)),
                    Ok(None) => {
                        flag.store(true, Ordering::Release);
                        return None;
                    }
                    Ok(Some(Err(e))) => return Some((Err(body_err(BodyError::Transport(e))), None)),
                    Ok(Some(Ok(frame))) => match frame.into_data() {
                        Ok(d) if d.is_empty() => continue,
                        Ok(d) => {
                            ozfs::metrics::s3_received(d.len() as u64);
                            return Some((Ok(d), Some(b)));
                        }
                        Err(_trailers) => continue,
                    },
                }
            }
        }
    });
    (Box::pin(s), done)
}

/// Decode the request body according to how it was signed:
/// * `UNSIGNED-PAYLOAD` (and presigned, SigV2, anonymous): as is;
/// * a signed payload hash: SHA-256 checked at the end (XAmzContentSHA256Mismatch);
/// * aws-chunked (signed chunks, or unsigned with a trailer): decoded by the sigv4 decoder,
///   which checks chunk and trailer signatures and the decoded length; a trailer checksum fills
///   `checksum.expected` so the store verifies it.
pub fn decode_payload(
    raw: ByteStream,
    payload: &PayloadMode,
    checksum: Option<ChecksumSpec>,
    decoded_len: Option<u64>,
) -> ByteStream {
    fn wrap<S>(s: S) -> ByteStream
    where
        S: Stream<Item = Result<Bytes, chunked::BodyError>> + Send + 'static,
    {
        Box::pin(s.map(|r| r.map_err(ozfs::Error::from)))
    }
    let with_checksum = |d: chunked::AwsChunkedDecoder<ByteStream>| match &checksum {
        Some(c) => d.fill_checksum(c.algorithm, c.expected.clone()),
        None => d,
    };
    match payload {
        PayloadMode::UnsignedPayload => raw,
        PayloadMode::SignedPayload(h) => wrap(chunked::verify_sha256(raw, h)),
        PayloadMode::StreamingSigned(s) => wrap(with_checksum(chunked::AwsChunkedDecoder::signed(raw, s, decoded_len))),
        PayloadMode::StreamingUnsignedTrailer => {
            wrap(with_checksum(chunked::AwsChunkedDecoder::unsigned(raw, decoded_len)))
        }
    }
}

/// `x-amz-decoded-content-length`, when sent and numeric.
pub fn decoded_length(h: &http::HeaderMap) -> Option<u64> {
    h.get("x-amz-decoded-content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Fail the stream once more than `limit` bytes went through.
pub fn limit(body: ByteStream, limit: usize) -> ByteStream {
    let mut seen = 0usize;
    Box::pin(body.map(move |c| {
        let c = c?;
        seen += c.len();
        if seen > limit {
            Err(body_err(BodyError::TooLarge(limit)))
        } else {
            Ok(c)
        }
    }))
}

/// Read a small request body (XML) into memory, at most `max` bytes (more fails with
/// [`BodyError::TooLarge`] inside [`ozfs::Error::Body`]).
pub async fn read_small(body: ByteStream, max: usize) -> Result<Vec<u8>, ozfs::Error> {
    let mut body = limit(body, max);
    let mut out = Vec::new();
    while let Some(c) = body.next().await {
        out.extend_from_slice(&c?);
    }
    Ok(out)
}

/// A response body.
pub enum RespBody {
    Empty,
    Full(Option<Bytes>),
    Stream(ByteStream),
}

impl RespBody {
    pub fn full(b: impl Into<Bytes>) -> Self {
        RespBody::Full(Some(b.into()))
    }
}

impl hyper::body::Body for RespBody {
    type Data = Bytes;
    type Error = ozfs::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            RespBody::Empty => Poll::Ready(None),
            RespBody::Full(b) => Poll::Ready(b.take().map(|b| {
                ozfs::metrics::s3_sent(b.len() as u64);
                Ok(Frame::data(b))
            })),
            RespBody::Stream(s) => match Pin::new(s).poll_next(cx) {
                Poll::Ready(Some(Ok(b))) => {
                    ozfs::metrics::s3_sent(b.len() as u64);
                    Poll::Ready(Some(Ok(Frame::data(b))))
                }
                Poll::Ready(Some(Err(e))) => {
                    log::warn!("response body failed mid-stream: {e:#}");
                    Poll::Ready(Some(Err(e)))
                }
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RespBody::Empty => true,
            RespBody::Full(b) => b.is_none(),
            RespBody::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RespBody::Empty => SizeHint::with_exact(0),
            RespBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            RespBody::Full(None) => SizeHint::with_exact(0),
            RespBody::Stream(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{S3Error, S3ErrorCode};
    use ozfs::body_from_bytes;

    async fn drain(mut s: ByteStream) -> Result<Vec<u8>, ozfs::Error> {
        let mut v = Vec::new();
        while let Some(c) = s.next().await {
            v.extend_from_slice(&c?);
        }
        Ok(v)
    }

    #[tokio::test]
    async fn sha256_verified() {
        use sha2::{Digest, Sha256};
        let good = PayloadMode::SignedPayload(hex::encode(Sha256::digest(b"hello")));
        let out = drain(decode_payload(body_from_bytes("hello"), &good, None, None)).await;
        assert_eq!(out.unwrap(), b"hello");
        let bad = PayloadMode::SignedPayload(hex::encode(Sha256::digest(b"other")));
        let e = drain(decode_payload(body_from_bytes("hello"), &bad, None, None))
            .await
            .unwrap_err();
        let s3: S3Error = e.into();
        assert_eq!(s3.code, S3ErrorCode::XAmzContentSHA256Mismatch);
    }

    #[tokio::test]
    async fn unsigned_trailer_fills_checksum() {
        let mut body = chunked::encode_unsigned_chunk(b"hello");
        body.extend(chunked::encode_unsigned_final(&[("x-amz-checksum-crc32", "NhCmhg==")]));
        let spec = ChecksumSpec {
            algorithm: ozfs::checksum::Algorithm::Crc32,
            expected: Arc::new(std::sync::OnceLock::new()),
        };
        let out = decode_payload(
            body_from_bytes(body),
            &PayloadMode::StreamingUnsignedTrailer,
            Some(spec.clone()),
            Some(5),
        );
        assert_eq!(drain(out).await.unwrap(), b"hello");
        assert_eq!(spec.expected.get().map(String::as_str), Some("NhCmhg=="));
    }

    #[tokio::test]
    async fn truncated_chunked_body_is_incomplete() {
        let body = chunked::encode_unsigned_chunk(b"hello");
        let out = decode_payload(
            body_from_bytes(body),
            &PayloadMode::StreamingUnsignedTrailer,
            None,
            Some(5),
        );
        let e: S3Error = drain(out).await.unwrap_err().into();
        assert_eq!(e.code, S3ErrorCode::IncompleteBody);
    }

    #[tokio::test]
    async fn limit_enforced() {
        let e = S3Error::from(read_small(body_from_bytes(vec![0u8; 100]), 10).await.unwrap_err());
        assert_eq!(e.code, S3ErrorCode::EntityTooLarge);
        assert_eq!(read_small(body_from_bytes(vec![1u8; 10]), 10).await.unwrap().len(), 10);
    }
}
