//! PutObject, streamed: a single PUT when the length is known and small enough, otherwise a
//! multipart upload with parallel parts.
//!
//! - Known length ≤ one part: the body is buffered (at most one part) and sent signed; the
//!   request can be retried.
//! - Known length ≤ the multipart threshold: streamed once with `UNSIGNED-PAYLOAD` and that
//!   `Content-Length`; a body of another length fails with [`Error::IncompleteBody`].
//! - Otherwise (larger, or unknown length): the first part is buffered; if the body ends within
//!   it, it is one retryable PUT; if not, a multipart upload: parts of `part_size` (raised so a
//!   known length fits in 10,000 parts) are uploaded by spawned tasks, at most
//!   `part_concurrency` in flight, while the next part is read (memory ≤ (concurrency + 1) ×
//!   part size). `Content-MD5` and the declared length are checked locally before the upload is
//!   completed; any failure aborts the upload so nothing becomes visible.
//! - A flexible checksum whose expected value is known when the PUT starts is sent as
//!   `x-amz-checksum-<alg>` (the remote verifies it); a value that only arrives in a trailer is
//!   not forwarded.

use super::client::{header_str, Body, Req};
use super::parts::{declared_checksum, integrity_headers, send_part, PartReader};
use super::wire::{attrs_to_headers, condition_headers, unquote, version_of};
use super::RemoteStore;
use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use crate::store::{ByteStream, CompletedPart, ObjectInfo, PutOptions};
use bytes::Bytes;
use futures_util::StreamExt;
use http::Method;
use md5::{Digest, Md5};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::task::JoinSet;

impl RemoteStore {
    pub(super) async fn put_object_impl(
        &self,
        bucket: &BucketPath,
        key: &str,
        body: ByteStream,
        opts: PutOptions,
    ) -> Result<ObjectInfo> {
        let b = self.bucket_name(bucket)?;
        let cfg = self.config();
        let part_size = cfg.part_size;
        match opts.expected_len {
            Some(len) if len <= part_size => {
                let mut reader = PartReader::new(body);
                let data = reader.next_part(len as usize).await?;
                if data.len() as u64 != len || !reader.at_end().await? {
                    let extra = if reader.at_end().await? { 0 } else { 1 };
                    return Err(Error::IncompleteBody {
                        expected: len,
                        got: data.len() as u64 + extra,
                    });
                }
                check_md5(&data, &opts)?;
                self.put_single(b, key, Body::Bytes(data), len, &opts).await
            }
            Some(len) if len <= cfg.multipart_threshold => {
                let seen = Arc::new(AtomicU64::new(0));
                let wrong = Arc::new(AtomicBool::new(false));
                let counted = checked_body(body, len, opts.content_md5, seen.clone(), wrong.clone());
                match self.put_single(b, key, Body::Stream(counted, len), len, &opts).await {
                    Err(_) if wrong.load(Ordering::SeqCst) && seen.load(Ordering::SeqCst) == len => {
                        Err(Error::BadDigest)
                    }
                    Err(_) if wrong.load(Ordering::SeqCst) => Err(Error::IncompleteBody {
                        expected: len,
                        got: seen.load(Ordering::SeqCst),
                    }),
                    r => r,
                }
            }
            _ => {
                let mut reader = PartReader::new(body);
                let ps = match opts.expected_len {
                    Some(len) => part_size.max(len.div_ceil(crate::store::MAX_PART_NUMBER as u64)),
                    None => part_size,
                };
                let first = reader.next_part(ps as usize).await?;
                if (first.len() as u64) < ps || reader.at_end().await? {
                    let len = first.len() as u64;
                    if let Some(exp) = opts.expected_len {
                        if exp != len {
                            return Err(Error::IncompleteBody {
                                expected: exp,
                                got: len,
                            });
                        }
                    }
                    check_md5(&first, &opts)?;
                    return self.put_single(b, key, Body::Bytes(first), len, &opts).await;
                }
                self.put_multipart(bucket, key, first, reader, ps as usize, &opts).await
            }
        }
    }

    async fn put_single(&self, b: &str, key: &str, body: Body, len: u64, opts: &PutOptions) -> Result<ObjectInfo> {
        let mut req = Req::new(Method::PUT, Some(b), Some(key)).body(body);
        for (n, v) in attrs_to_headers(&opts.attrs)
            .into_iter()
            .chain(condition_headers(&opts.condition))
            .chain(integrity_headers(opts))
        {
            req = req.header(n, v);
        }
        let resp = self.client.send(req, &self.ctx(b, Some(key))).await?;
        let h = resp.headers();
        let etag = header_str(h, "etag").map(unquote).unwrap_or_default();
        let last_modified = header_str(h, "last-modified")
            .or_else(|| header_str(h, "date"))
            .and_then(crate::time::parse_http_date)
            .unwrap_or_else(SystemTime::now);
        let mut attrs = opts.attrs.clone();
        // read after the body went out: a trailer may have brought the value
        if let Some((alg, v)) = declared_checksum(opts) {
            attrs.checksums.insert(alg.name().to_string(), v);
        }
        Ok(ObjectInfo {
            key: key.to_string(),
            size: len,
            version: version_of(b, key, &etag, len, last_modified),
            etag,
            last_modified,
            owner: String::new(),
            attrs,
            parts: Vec::new(),
            part_numbers: Vec::new(),
        })
    }

    async fn put_multipart(
        &self,
        bucket: &BucketPath,
        key: &str,
        first: Bytes,
        reader: PartReader,
        part_size: usize,
        opts: &PutOptions,
    ) -> Result<ObjectInfo> {
        let upload_id = self.create_multipart_impl(bucket, key, opts).await?;
        match self
            .upload_parts(bucket, key, &upload_id, first, reader, part_size, opts)
            .await
        {
            Ok(info) => Ok(info),
            Err(e) => {
                if let Err(abort) = self.abort_multipart_impl(bucket, key, &upload_id).await {
                    log::warn!("abort of upload {upload_id} of {key} after a failed put: {abort}");
                }
                Err(e)
            }
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the arguments of one S3 request, passed through unchanged"
    )]
    async fn upload_parts(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        first: Bytes,
        mut reader: PartReader,
        part_size: usize,
        opts: &PutOptions,
    ) -> Result<ObjectInfo> {
        let b = self.bucket_name(bucket)?.to_string();
        let concurrency = self.config().part_concurrency.max(1);
        let mut tasks: JoinSet<Result<CompletedPart>> = JoinSet::new();
        let mut done: Vec<CompletedPart> = Vec::new();
        // only when there is a Content-MD5 to check: hashing every uploaded byte for nothing
        // took half the CPU of an `--endpoint` mount's sequential write
        let mut md5 = opts.content_md5.map(|_| Md5::new());
        let mut total = 0u64;
        let mut next = Some(first);
        let mut part_number = 1u32;
        loop {
            let chunk = match next.take() {
                Some(c) => c,
                None => reader.next_part(part_size).await?,
            };
            if chunk.is_empty() {
                break;
            }
            if part_number > crate::store::MAX_PART_NUMBER {
                return Err(Error::InvalidArgument(format!(
                    "body needs more than {} parts of {part_size} bytes",
                    crate::store::MAX_PART_NUMBER
                )));
            }
            if let Some(h) = md5.as_mut() {
                h.update(&chunk);
            }
            total += chunk.len() as u64;
            if let Some(exp) = opts.expected_len {
                if total > exp {
                    return Err(Error::IncompleteBody {
                        expected: exp,
                        got: total,
                    });
                }
            }
            while tasks.len() >= concurrency {
                done.push(join_next(&mut tasks).await?);
            }
            let client = Arc::clone(&self.client);
            let (bn, k, id) = (b.clone(), key.to_string(), upload_id.to_string());
            let last = chunk.len() < part_size;
            tasks.spawn(async move {
                let etag = send_part(
                    &client,
                    &bn,
                    &k,
                    &id,
                    part_number,
                    Body::UnsignedBytes(chunk),
                    Vec::new(),
                )
                .await?;
                Ok(CompletedPart { part_number, etag })
            });
            part_number += 1;
            if last {
                break;
            }
        }
        while !tasks.is_empty() {
            done.push(join_next(&mut tasks).await?);
        }
        if let Some(exp) = opts.expected_len {
            if total != exp {
                return Err(Error::IncompleteBody {
                    expected: exp,
                    got: total,
                });
            }
        }
        if let (Some(want), Some(h)) = (opts.content_md5, md5) {
            if h.finalize()[..] != want[..] {
                return Err(Error::BadDigest);
            }
        }
        done.sort_by_key(|p| p.part_number);
        let mut info = self
            .complete_multipart_impl(bucket, key, upload_id, &done, &opts.condition)
            .await?;
        if info.attrs == Default::default() {
            info.attrs = opts.attrs.clone();
        }
        Ok(info)
    }
}

async fn join_next(tasks: &mut JoinSet<Result<CompletedPart>>) -> Result<CompletedPart> {
    match tasks.join_next().await {
        Some(Ok(r)) => r,
        Some(Err(e)) => Err(Error::Io(std::io::Error::other(format!(
            "part upload task failed: {e}"
        )))),
        None => Err(Error::Io(std::io::Error::other("no part upload in flight"))),
    }
}

/// Refuse an in-memory body whose MD5 differs from the declared `Content-MD5` before anything
/// is sent (not every S3 server checks the header).
fn check_md5(data: &[u8], opts: &PutOptions) -> Result<()> {
    match opts.content_md5 {
        Some(want) if Md5::digest(data)[..] != want[..] => Err(Error::BadDigest),
        _ => Ok(()),
    }
}

/// Pass `body` through, failing it (so the remote never commits it) as soon as it is longer than
/// `len`, or at its end when it is shorter or its MD5 differs from `md5`.
fn checked_body(
    body: ByteStream,
    len: u64,
    md5: Option<[u8; 16]>,
    seen: Arc<AtomicU64>,
    wrong: Arc<AtomicBool>,
) -> ByteStream {
    let state = (body, false, Md5::new());
    let s = futures_util::stream::unfold(state, move |(mut body, finished, mut hasher)| {
        let seen = seen.clone();
        let wrong = wrong.clone();
        async move {
            if finished {
                return None;
            }
            match body.next().await {
                Some(Ok(c)) => {
                    let n = seen.fetch_add(c.len() as u64, Ordering::SeqCst) + c.len() as u64;
                    if n > len {
                        wrong.store(true, Ordering::SeqCst);
                        let err = Error::IncompleteBody { expected: len, got: n };
                        return Some((Err(err), (body, true, hasher)));
                    }
                    if let Some(want) = md5 {
                        hasher.update(&c);
                        // verify before the last bytes go out: once the declared length is
                        // sent, the HTTP layer never looks at the end of the stream again
                        if n == len && hasher.finalize_reset()[..] != want[..] {
                            wrong.store(true, Ordering::SeqCst);
                            return Some((Err(Error::BadDigest), (body, true, Md5::new())));
                        }
                    }
                    Some((Ok(c), (body, false, hasher)))
                }
                Some(Err(e)) => Some((Err(e), (body, true, hasher))),
                None => {
                    let n = seen.load(Ordering::SeqCst);
                    if n != len {
                        wrong.store(true, Ordering::SeqCst);
                        let err = Error::IncompleteBody { expected: len, got: n };
                        return Some((Err(err), (body, true, hasher)));
                    }
                    None
                }
            }
        }
    });
    Box::pin(s)
}

#[cfg(test)]
mod tests {
    use super::super::parts::tests::body;
    use super::*;

    #[tokio::test]
    async fn length_check_fails_long_and_short_bodies() {
        let ok = checked_body(body(&[b"ab", b"c"]), 3, None, Default::default(), Default::default());
        assert_eq!(crate::store::collect_body(ok, 10).await.unwrap(), b"abc");
        let long = checked_body(body(&[b"ab", b"cd"]), 3, None, Default::default(), Default::default());
        assert!(matches!(
            crate::store::collect_body(long, 10).await,
            Err(Error::IncompleteBody { .. })
        ));
        let short = checked_body(body(&[b"ab"]), 3, None, Default::default(), Default::default());
        assert!(matches!(
            crate::store::collect_body(short, 10).await,
            Err(Error::IncompleteBody { .. })
        ));
        let md5: [u8; 16] = Md5::digest(b"abc").into();
        let good = checked_body(
            body(&[b"ab", b"c"]),
            3,
            Some(md5),
            Default::default(),
            Default::default(),
        );
        assert_eq!(crate::store::collect_body(good, 10).await.unwrap(), b"abc");
        let bad = checked_body(
            body(&[b"ab", b"d"]),
            3,
            Some(md5),
            Default::default(),
            Default::default(),
        );
        assert!(matches!(
            crate::store::collect_body(bad, 10).await,
            Err(Error::BadDigest)
        ));
    }
}
