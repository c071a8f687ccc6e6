//! Multipart upload: CreateMultipartUpload, UploadPart, UploadPartCopy,
//! CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads.
//!
//! S3's quirk that CompleteMultipartUpload and UploadPartCopy may answer 200 with an `<Error>`
//! document is handled by [`parse_answer`]. What a PUT's parallel uploader shares with these
//! operations (reading a body in parts, sending one part) is in `parts.rs`.

use super::client::{Body, Req};
use super::error_xml::parse_answer;
use super::parts::{declared_checksum, integrity_headers, send_part, upload_ctx, PartReader};
use super::wire::{attrs_to_headers, condition_headers, copy_source, unquote};
use super::RemoteStore;
use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use crate::store::{
    ByteStream, CompletedPart, ObjectInfo, PartInfo, PartsPage, PutOptions, UploadInfo, UploadsPage, WriteCondition,
};
use crate::xml::{self, Element};
use http::{HeaderName, Method};
use std::collections::BTreeMap;
use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

/// Largest XML answer read.
const XML_LIMIT: usize = 16 * 1024 * 1024;
/// Largest part of unknown length buffered by `upload_part`.
const MAX_BUFFERED_PART: usize = 64 * 1024 * 1024;

fn time_of(el: &Element, name: &str) -> SystemTime {
    el.child_text(name)
        .and_then(crate::time::parse_iso8601)
        .unwrap_or(UNIX_EPOCH)
}

impl RemoteStore {
    pub(super) async fn create_multipart_impl(
        &self,
        bucket: &BucketPath,
        key: &str,
        opts: &PutOptions,
    ) -> Result<String> {
        let b = self.bucket_name(bucket)?;
        let mut req = Req::new(Method::POST, Some(b), Some(key)).query("uploads", "");
        for (n, v) in attrs_to_headers(&opts.attrs) {
            req = req.header(n, v);
        }
        let ctx = self.ctx(b, Some(key));
        let (_, body) = self.client.send_read(req, &ctx, XML_LIMIT).await?;
        let root = parse_answer(&body, &ctx)?;
        root.child_text("UploadId")
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or_else(|| Error::Backend {
                status: 502,
                code: "MalformedXML".into(),
                message: "CreateMultipartUpload answer has no UploadId".into(),
            })
    }

    pub(super) async fn upload_part_impl(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        opts: &PutOptions,
    ) -> Result<PartInfo> {
        let b = self.bucket_name(bucket)?;
        let mut reader = PartReader::new(body);
        let (payload, size) = match opts.expected_len {
            Some(len) if len as usize <= MAX_BUFFERED_PART => {
                let data = reader.next_part(len as usize).await?;
                if data.len() as u64 != len || !reader.at_end().await? {
                    return Err(Error::IncompleteBody {
                        expected: len,
                        got: data.len() as u64,
                    });
                }
                (Body::UnsignedBytes(data), len)
            }
            Some(len) => {
                let rest: ByteStream = Box::pin(futures_util::stream::unfold(reader, |mut r| async move {
                    match r.next_part(1 << 20).await {
                        Ok(c) if c.is_empty() => None,
                        Ok(c) => Some((Ok(c), r)),
                        Err(e) => Some((Err(e), r)),
                    }
                }));
                (Body::Stream(rest, len), len)
            }
            None => {
                let data = reader.next_part(MAX_BUFFERED_PART).await?;
                if !reader.at_end().await? {
                    return Err(Error::InvalidArgument(format!(
                        "a part of unknown length larger than {MAX_BUFFERED_PART} bytes"
                    )));
                }
                let n = data.len() as u64;
                (Body::UnsignedBytes(data), n)
            }
        };
        let checksums = declared_checksum(opts)
            .map(|(alg, v)| (alg.name().to_string(), v))
            .into_iter()
            .collect();
        let etag = send_part(
            &self.client,
            b,
            key,
            upload_id,
            part_number,
            payload,
            integrity_headers(opts),
        )
        .await?;
        Ok(PartInfo {
            part_number,
            etag,
            size,
            last_modified: SystemTime::now(),
            checksums,
        })
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the arguments of one S3 request, passed through unchanged"
    )]
    pub(super) async fn upload_part_copy_impl(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        part_number: u32,
        src_bucket: &BucketPath,
        src_key: &str,
        src_range: Option<Range<u64>>,
    ) -> Result<PartInfo> {
        let b = self.bucket_name(bucket)?;
        let sb = self.bucket_name(src_bucket)?;
        let size = match &src_range {
            Some(r) if r.start < r.end => r.end - r.start,
            Some(_) => return Err(Error::InvalidRange),
            None => self.head_object_impl(src_bucket, src_key).await?.size,
        };
        let mut req = Req::new(Method::PUT, Some(b), Some(key))
            .query("partNumber", part_number.to_string())
            .query("uploadId", upload_id)
            .header(HeaderName::from_static("x-amz-copy-source"), copy_source(sb, src_key));
        if let Some(r) = &src_range {
            req = req.header(
                HeaderName::from_static("x-amz-copy-source-range"),
                format!("bytes={}-{}", r.start, r.end - 1),
            );
        }
        let ctx = upload_ctx(b, key, upload_id);
        let (_, body) = self.client.send_read(req, &ctx, XML_LIMIT).await?;
        let root = parse_answer(&body, &ctx)?;
        Ok(PartInfo {
            part_number,
            etag: root.child_text("ETag").map(unquote).unwrap_or_default(),
            size,
            last_modified: time_of(&root, "LastModified"),
            checksums: BTreeMap::new(),
        })
    }

    pub(super) async fn complete_multipart_impl(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        condition: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let b = self.bucket_name(bucket)?;
        let mut doc = String::from("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
        for p in parts {
            doc.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag></Part>",
                p.part_number,
                xml::escape(&p.etag)
            ));
        }
        doc.push_str("</CompleteMultipartUpload>");
        // Completing the same parts again makes the same object: safe to retry.
        let mut req = Req::new(Method::POST, Some(b), Some(key))
            .query("uploadId", upload_id)
            .header(http::header::CONTENT_TYPE, "application/xml")
            .body(Body::Bytes(doc.into()))
            .idempotent();
        for (n, v) in condition_headers(condition) {
            req = req.header(n, v);
        }
        let ctx = upload_ctx(b, key, upload_id);
        let (_, body) = self.client.send_read(req, &ctx, XML_LIMIT).await?;
        parse_answer(&body, &ctx)?;
        // The answer has no size or date: read them back.
        self.head_object_impl(bucket, key).await
    }

    pub(super) async fn abort_multipart_impl(&self, bucket: &BucketPath, key: &str, upload_id: &str) -> Result<()> {
        let b = self.bucket_name(bucket)?;
        let req = Req::new(Method::DELETE, Some(b), Some(key)).query("uploadId", upload_id);
        self.client.send(req, &upload_ctx(b, key, upload_id)).await.map(|_| ())
    }

    pub(super) async fn list_parts_impl(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        part_number_marker: u32,
        max_parts: usize,
    ) -> Result<PartsPage> {
        let b = self.bucket_name(bucket)?;
        let mut req = Req::new(Method::GET, Some(b), Some(key))
            .query("uploadId", upload_id)
            .query("max-parts", max_parts.clamp(1, 1000).to_string());
        if part_number_marker > 0 {
            req = req.query("part-number-marker", part_number_marker.to_string());
        }
        let ctx = upload_ctx(b, key, upload_id);
        let (_, body) = self.client.send_read(req, &ctx, XML_LIMIT).await?;
        let root = parse_answer(&body, &ctx)?;
        let parts = root
            .children_named("Part")
            .map(|p| PartInfo {
                part_number: p.child_text("PartNumber").and_then(|v| v.parse().ok()).unwrap_or(0),
                etag: p.child_text("ETag").map(unquote).unwrap_or_default(),
                size: p.child_text("Size").and_then(|v| v.parse().ok()).unwrap_or(0),
                last_modified: time_of(p, "LastModified"),
                checksums: BTreeMap::new(),
            })
            .collect();
        let is_truncated = root.child_text("IsTruncated") == Some("true");
        Ok(PartsPage {
            parts,
            is_truncated,
            next_part_number_marker: if is_truncated {
                root.child_text("NextPartNumberMarker").and_then(|v| v.parse().ok())
            } else {
                None
            },
            attrs: Default::default(),
        })
    }

    pub(super) async fn list_uploads_impl(
        &self,
        bucket: &BucketPath,
        prefix: &str,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        max_uploads: usize,
    ) -> Result<UploadsPage> {
        let b = self.bucket_name(bucket)?;
        let mut req = Req::new(Method::GET, Some(b), None)
            .query("uploads", "")
            .query("max-uploads", max_uploads.clamp(1, 1000).to_string());
        if !prefix.is_empty() {
            req = req.query("prefix", prefix);
        }
        if let Some(m) = key_marker {
            req = req.query("key-marker", m);
        }
        if let Some(m) = upload_id_marker {
            req = req.query("upload-id-marker", m);
        }
        let ctx = self.ctx(b, None);
        let (_, body) = self.client.send_read(req, &ctx, XML_LIMIT).await?;
        let root = parse_answer(&body, &ctx)?;
        let uploads = root
            .children_named("Upload")
            .map(|u| UploadInfo {
                key: u.child_text("Key").unwrap_or_default().to_string(),
                upload_id: u.child_text("UploadId").unwrap_or_default().to_string(),
                initiated: time_of(u, "Initiated"),
                owner: u
                    .child("Owner")
                    .and_then(|o| o.child_text("DisplayName").or(o.child_text("ID")))
                    .unwrap_or_default()
                    .to_string(),
                storage_class: u.child_text("StorageClass").map(str::to_string),
            })
            .collect();
        let is_truncated = root.child_text("IsTruncated") == Some("true");
        let marker = |n: &str| {
            root.child_text(n)
                .filter(|v| is_truncated && !v.is_empty())
                .map(str::to_string)
        };
        Ok(UploadsPage {
            uploads,
            is_truncated,
            next_key_marker: marker("NextKeyMarker"),
            next_upload_id_marker: marker("NextUploadIdMarker"),
        })
    }
}
