//! Multipart upload: CreateMultipartUpload, UploadPart, UploadPartCopy,
//! CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads.
//!
//! Note S3's quirk handled here: CompleteMultipartUpload (and the copy operations) may answer
//! 200 with an `<Error>` document in the body; that is an error.

use super::client::{header_str, Body, Client, Req};
use super::error_xml::{self, Context};
use super::put_object::PartReader;
use super::{attrs_to_headers, condition_headers, parse_iso8601, unquote, xml, RemoteStore};
use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use crate::store::{
    ByteStream, CompletedPart, ObjectInfo, PartInfo, PartsPage, PutOptions, UploadInfo, UploadsPage, WriteCondition,
};
use base64::Engine;
use http::{HeaderName, Method};
use std::collections::BTreeMap;
use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

/// Largest XML answer read.
const XML_LIMIT: usize = 16 * 1024 * 1024;
/// Largest part of unknown length buffered by `upload_part`.
const MAX_BUFFERED_PART: usize = 64 * 1024 * 1024;

/// Parse an XML answer that may be an `<Error>` document despite a 200 status.
pub(super) fn parse_result(body: &[u8], ctx: &Context) -> Result<xml::Element> {
    let root = xml::parse(body)?;
    if root.name == "Error" {
        return Err(error_xml::error_in_success(body, ctx));
    }
    Ok(root)
}

/// Upload one in-memory part (used by the parallel uploader of `put_object`).
pub(super) async fn send_part(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    part_number: u32,
    data: bytes::Bytes,
) -> Result<CompletedPart> {
    let req = Req::new(Method::PUT, Some(bucket), Some(key))
        .query("partNumber", part_number.to_string())
        .query("uploadId", upload_id)
        .body(Body::UnsignedBytes(data));
    let ctx = Context {
        bucket: bucket.to_string(),
        key: Some(key.to_string()),
        upload_id: Some(upload_id.to_string()),
    };
    let resp = client.send(req, &ctx).await?;
    let etag = header_str(resp.headers(), "etag").map(unquote).unwrap_or_default();
    Ok(CompletedPart { part_number, etag })
}

fn upload_ctx(bucket: &str, key: &str, upload_id: &str) -> Context {
    Context {
        bucket: bucket.to_string(),
        key: Some(key.to_string()),
        upload_id: Some(upload_id.to_string()),
    }
}

fn time_of(el: &xml::Element, name: &str) -> SystemTime {
    el.text_of(name).and_then(parse_iso8601).unwrap_or(UNIX_EPOCH)
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
        let root = parse_result(&body, &ctx)?;
        root.text_of("UploadId")
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
        let mut req = Req::new(Method::PUT, Some(b), Some(key))
            .query("partNumber", part_number.to_string())
            .query("uploadId", upload_id)
            .body(payload);
        if let Some(md5) = opts.content_md5 {
            req = req.header(
                HeaderName::from_static("content-md5"),
                base64::engine::general_purpose::STANDARD.encode(md5),
            );
        }
        let mut checksums = BTreeMap::new();
        if let Some(spec) = &opts.checksum {
            if let Some(v) = spec.expected.get() {
                let alg = super::put_object::algorithm_name(spec.algorithm);
                if let Ok(n) = HeaderName::from_bytes(format!("x-amz-checksum-{alg}").as_bytes()) {
                    req = req.header(n, v.clone());
                    checksums.insert(alg.to_string(), v.clone());
                }
            }
        }
        let resp = self.client.send(req, &upload_ctx(b, key, upload_id)).await?;
        Ok(PartInfo {
            part_number,
            etag: header_str(resp.headers(), "etag").map(unquote).unwrap_or_default(),
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
            .header(
                HeaderName::from_static("x-amz-copy-source"),
                super::copy_object::copy_source(sb, src_key),
            );
        if let Some(r) = &src_range {
            req = req.header(
                HeaderName::from_static("x-amz-copy-source-range"),
                format!("bytes={}-{}", r.start, r.end - 1),
            );
        }
        let ctx = upload_ctx(b, key, upload_id);
        let (_, body) = self.client.send_read(req, &ctx, XML_LIMIT).await?;
        let root = parse_result(&body, &ctx)?;
        Ok(PartInfo {
            part_number,
            etag: root.text_of("ETag").map(unquote).unwrap_or_default(),
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
        parse_result(&body, &ctx)?;
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
        let root = parse_result(&body, &ctx)?;
        let parts = root
            .children("Part")
            .map(|p| PartInfo {
                part_number: p.text_of("PartNumber").and_then(|v| v.parse().ok()).unwrap_or(0),
                etag: p.text_of("ETag").map(unquote).unwrap_or_default(),
                size: p.text_of("Size").and_then(|v| v.parse().ok()).unwrap_or(0),
                last_modified: time_of(p, "LastModified"),
                checksums: BTreeMap::new(),
            })
            .collect();
        let is_truncated = root.text_of("IsTruncated") == Some("true");
        Ok(PartsPage {
            parts,
            is_truncated,
            next_part_number_marker: if is_truncated {
                root.text_of("NextPartNumberMarker").and_then(|v| v.parse().ok())
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
        let root = parse_result(&body, &ctx)?;
        let uploads = root
            .children("Upload")
            .map(|u| UploadInfo {
                key: u.text_of("Key").unwrap_or_default().to_string(),
                upload_id: u.text_of("UploadId").unwrap_or_default().to_string(),
                initiated: time_of(u, "Initiated"),
                owner: u
                    .child("Owner")
                    .and_then(|o| o.text_of("DisplayName").or(o.text_of("ID")))
                    .unwrap_or_default()
                    .to_string(),
                storage_class: u.text_of("StorageClass").map(str::to_string),
            })
            .collect();
        let is_truncated = root.text_of("IsTruncated") == Some("true");
        let marker = |n: &str| {
            root.text_of(n)
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
