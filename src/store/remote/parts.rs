//! The pieces of a multipart upload that `put_object.rs` (the parallel uploader of large
//! PUTs) and `multipart.rs` (the [`Multipart`](crate::Multipart) operations) share: reading a
//! body in parts ([`PartReader`]), sending one part ([`send_part`]), the integrity headers of a
//! part or a single PUT ([`integrity_headers`]) and the error context of an upload. It uses
//! only `client.rs`, `error_xml.rs` and `wire.rs`, so neither operation file depends on the
//! other for these.

use super::client::{header_str, Body, Client, Req};
use super::error_xml::Context;
use super::wire::unquote;
use crate::checksum::Algorithm;
use crate::error::Result;
use crate::store::{ByteStream, PutOptions};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{HeaderName, Method};

/// Reads a body in parts of a given size, keeping what overhangs a part for the next one.
pub(super) struct PartReader {
    body: ByteStream,
    carry: Option<Bytes>,
    done: bool,
}

impl PartReader {
    pub(super) fn new(body: ByteStream) -> Self {
        PartReader {
            body,
            carry: None,
            done: false,
        }
    }

    /// Up to `n` bytes; fewer only at the end of the body.
    pub(super) async fn next_part(&mut self, n: usize) -> Result<Bytes> {
        let mut buf: Option<BytesMut> = None;
        let mut single: Option<Bytes> = None;
        let mut have = 0usize;
        loop {
            let chunk = match self.carry.take() {
                Some(c) => c,
                None if self.done => break,
                None => match self.body.next().await {
                    Some(c) => c?,
                    None => {
                        self.done = true;
                        break;
                    }
                },
            };
            if chunk.is_empty() {
                continue;
            }
            let room = n - have;
            let take = if chunk.len() > room {
                self.carry = Some(chunk.slice(room..));
                chunk.slice(..room)
            } else {
                chunk
            };
            have += take.len();
            match (&mut single, &mut buf) {
                (None, None) => single = Some(take),
                (Some(s), None) => {
                    let mut b = BytesMut::with_capacity(n);
                    b.extend_from_slice(s);
                    b.extend_from_slice(&take);
                    single = None;
                    buf = Some(b);
                }
                (_, Some(b)) => b.extend_from_slice(&take),
            }
            if have == n {
                break;
            }
        }
        Ok(match (single, buf) {
            (Some(s), _) => s,
            (None, Some(b)) => b.freeze(),
            (None, None) => Bytes::new(),
        })
    }

    /// Whether the body is known to have no more bytes.
    pub(super) async fn at_end(&mut self) -> Result<bool> {
        if self.carry.is_some() {
            return Ok(false);
        }
        if self.done {
            return Ok(true);
        }
        loop {
            match self.body.next().await {
                Some(c) => {
                    let c = c?;
                    if !c.is_empty() {
                        self.carry = Some(c);
                        return Ok(false);
                    }
                }
                None => {
                    self.done = true;
                    return Ok(true);
                }
            }
        }
    }
}

/// The error context of a request about upload `upload_id` of `key` (a 404 is NoSuchUpload).
pub(super) fn upload_ctx(bucket: &str, key: &str, upload_id: &str) -> Context {
    Context {
        bucket: bucket.to_string(),
        key: Some(key.to_string()),
        upload_id: Some(upload_id.to_string()),
    }
}

/// The flexible checksum declared in `opts` whose value is known by now: (algorithm, value). A value that arrives in an aws-chunked trailer is known only once the body
/// has been read.
pub(super) fn declared_checksum(opts: &PutOptions) -> Option<(Algorithm, String)> {
    let spec = opts.checksum.as_ref()?;
    Some((spec.algorithm, spec.expected.get()?.clone()))
}

/// The `Content-MD5` and `x-amz-checksum-<alg>` headers `opts` asks for when the request
/// starts (the remote verifies them).
pub(super) fn integrity_headers(opts: &PutOptions) -> Vec<(HeaderName, String)> {
    let mut headers = Vec::new();
    if let Some(md5) = opts.content_md5 {
        headers.push((
            HeaderName::from_static("content-md5"),
            base64::engine::general_purpose::STANDARD.encode(md5),
        ));
    }
    if let Some((alg, v)) = declared_checksum(opts) {
        headers.push((HeaderName::from_static(alg.header_name()), v));
    }
    headers
}

/// UploadPart: send `body` as part `part_number` of upload `upload_id` with `headers`; the
/// part's ETag (unquoted). A free function over the [`Client`] so the parallel uploader can
/// run it in spawned tasks.
pub(super) async fn send_part(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    part_number: u32,
    body: Body,
    headers: Vec<(HeaderName, String)>,
) -> Result<String> {
    let mut req = Req::new(Method::PUT, Some(bucket), Some(key))
        .query("partNumber", part_number.to_string())
        .query("uploadId", upload_id)
        .body(body);
    for (n, v) in headers {
        req = req.header(n, v);
    }
    let resp = client.send(req, &upload_ctx(bucket, key, upload_id)).await?;
    Ok(header_str(resp.headers(), "etag").map(unquote).unwrap_or_default())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use futures_util::stream;

    /// A body delivered in these chunks (also used by `put_object.rs`'s tests).
    pub(in crate::store::remote) fn body(chunks: &[&[u8]]) -> ByteStream {
        let v: Vec<Result<Bytes>> = chunks.iter().map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        Box::pin(stream::iter(v))
    }

    #[tokio::test]
    async fn part_reader_splits_and_carries() {
        let mut r = PartReader::new(body(&[b"abc", b"", b"defgh", b"ij"]));
        assert_eq!(&r.next_part(4).await.unwrap()[..], b"abcd");
        assert_eq!(&r.next_part(4).await.unwrap()[..], b"efgh");
        assert!(!r.at_end().await.unwrap());
        assert_eq!(&r.next_part(4).await.unwrap()[..], b"ij");
        assert!(r.at_end().await.unwrap());
        assert_eq!(&r.next_part(4).await.unwrap()[..], b"");
    }

    #[test]
    fn integrity_headers_carry_md5_and_a_known_checksum() {
        assert!(integrity_headers(&PutOptions::default()).is_empty());
        let opts = PutOptions {
            content_md5: Some([0u8; 16]),
            ..PutOptions::default()
        };
        let md5 = (
            HeaderName::from_static("content-md5"),
            "AAAAAAAAAAAAAAAAAAAAAA==".to_string(),
        );
        assert_eq!(integrity_headers(&opts), vec![md5.clone()]);
        let spec = crate::store::ChecksumSpec {
            algorithm: Algorithm::Crc32c,
            expected: Default::default(),
        };
        let opts = PutOptions {
            checksum: Some(spec.clone()),
            ..opts
        };
        // a checksum that arrives in a trailer is not known when the request starts
        assert_eq!(integrity_headers(&opts), vec![md5.clone()]);
        assert_eq!(declared_checksum(&opts), None);
        spec.expected.set("AAAAAA==".into()).unwrap();
        let sum = (HeaderName::from_static("x-amz-checksum-crc32c"), "AAAAAA==".to_string());
        assert_eq!(integrity_headers(&opts), vec![md5, sum]);
        assert_eq!(
            declared_checksum(&opts),
            Some((Algorithm::Crc32c, "AAAAAA==".to_string()))
        );
    }

    proptest::proptest! {
        #[test]
        fn part_reader_preserves_bytes(chunks in proptest::collection::vec(proptest::collection::vec(0u8..255, 0..20), 0..10), n in 1usize..16) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let all: Vec<u8> = chunks.concat();
            let refs: Vec<&[u8]> = chunks.iter().map(|c| c.as_slice()).collect();
            let mut r = PartReader::new(body(&refs));
            let mut out = Vec::new();
            rt.block_on(async {
                loop {
                    let p = r.next_part(n).await.unwrap();
                    if p.is_empty() { break; }
                    proptest::prop_assert!(p.len() <= n);
                    out.extend_from_slice(&p);
                }
                Ok(())
            })?;
            proptest::prop_assert_eq!(out, all);
        }
    }
}
