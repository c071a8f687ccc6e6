//! CopyObject, and what is built from it on S3: `set_attrs` (copy onto itself with REPLACE),
//! `rename_object` (copy + delete) and `rename_prefix` (list + copy + delete per key). None of
//! these is atomic on S3; see the notes on the trait methods in `remote.rs`. CopyObject is
//! limited to 5 GiB sources on AWS (larger objects would need UploadPartCopy).

use super::client::{uri_encode, Req};
use super::multipart::parse_result;
use super::{attrs_to_headers, condition_headers, RemoteStore};
use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use crate::store::{ChangeKind, CopyOptions, ListRequest, ObjectInfo};
use http::{HeaderName, Method};

const XML_LIMIT: usize = 1024 * 1024;

/// `x-amz-copy-source` value: `/bucket/key`, key URI-encoded.
pub(super) fn copy_source(bucket: &str, key: &str) -> String {
    format!("/{}/{}", bucket, uri_encode(key, true))
}

impl RemoteStore {
    pub(super) async fn copy_object_impl(
        &self,
        src_bucket: &BucketPath,
        src_key: &str,
        dst_bucket: &BucketPath,
        dst_key: &str,
        opts: CopyOptions,
    ) -> Result<ObjectInfo> {
        let sb = self.bucket_name(src_bucket)?;
        let db = self.bucket_name(dst_bucket)?;
        if opts.source_range.is_some() {
            return Err(Error::InvalidArgument(
                "a source range is only valid for UploadPartCopy".into(),
            ));
        }
        let mut req = Req::new(Method::PUT, Some(db), Some(dst_key))
            .header(HeaderName::from_static("x-amz-copy-source"), copy_source(sb, src_key));
        match &opts.attrs {
            Some(attrs) => {
                req = req.header(HeaderName::from_static("x-amz-metadata-directive"), "REPLACE");
                req = req.header(HeaderName::from_static("x-amz-tagging-directive"), "REPLACE");
                for (n, v) in attrs_to_headers(attrs) {
                    req = req.header(n, v);
                }
            }
            None => {
                req = req.header(HeaderName::from_static("x-amz-metadata-directive"), "COPY");
            }
        }
        if let Some(tags) = &opts.tags {
            if opts.attrs.is_none() {
                let tagging = tags
                    .iter()
                    .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
                    .collect::<Vec<_>>()
                    .join("&");
                req = req.header(HeaderName::from_static("x-amz-tagging-directive"), "REPLACE");
                req = req.header(HeaderName::from_static("x-amz-tagging"), tagging);
            }
        }
        for (n, v) in condition_headers(&opts.condition) {
            req = req.header(n, v);
        }
        // a missing source is named in the error, not the destination
        let ctx = self.ctx(sb, Some(src_key));
        let (_, body) = self.client.send_read(req, &ctx, XML_LIMIT).await?;
        parse_result(&body, &ctx)?;
        self.head_object_impl(dst_bucket, dst_key).await
    }

    pub(super) async fn rename_object_impl(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<()> {
        if from == to {
            self.head_object_impl(bucket, from).await?;
            return Ok(());
        }
        self.copy_object_impl(bucket, from, bucket, to, CopyOptions::default())
            .await?;
        self.notify(bucket, to, ChangeKind::Put);
        self.delete_object_impl(bucket, from, None).await?;
        self.notify(bucket, from, ChangeKind::Delete);
        Ok(())
    }

    pub(super) async fn rename_prefix_impl(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<u64> {
        if from == to {
            return Ok(0);
        }
        // Collect first, so keys created under `to` (which may lie under `from`) are not moved again.
        let mut keys = Vec::new();
        let mut start_after = None;
        loop {
            let page = self
                .list_objects_impl(
                    bucket,
                    ListRequest {
                        prefix: from.to_string(),
                        delimiter: None,
                        start_after: start_after.clone(),
                        max_keys: 1000,
                    },
                )
                .await?;
            keys.extend(page.objects.into_iter().map(|o| o.key));
            if !page.is_truncated || page.next_start_after.is_none() {
                break;
            }
            start_after = page.next_start_after;
        }
        let mut moved = 0u64;
        for key in keys {
            let Some(suffix) = key.strip_prefix(from) else { continue };
            let dst = format!("{to}{suffix}");
            self.rename_object_impl(bucket, &key, &dst).await?;
            moved += 1;
        }
        Ok(moved)
    }
}
