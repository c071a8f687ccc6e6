//! CopyObject, and what is built from it on S3: `set_attrs` (copy onto itself with REPLACE),
//! `rename_object` (copy + delete) and `rename_prefix` (list + copy + delete per key). None of
//! these is atomic on S3; see the notes on the trait methods in `remote.rs`. CopyObject is
//! limited to 5 GiB sources on AWS (larger objects would need UploadPartCopy).

use super::client::Req;
use super::error_xml::parse_answer;
use super::wire::{attrs_to_headers, condition_headers, copy_source, tagging};
use super::RemoteStore;
use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use crate::store::{ChangeKind, CopyOptions, ListRequest, ObjectInfo, PutOptions};
use http::{HeaderName, Method};

const XML_LIMIT: usize = 1024 * 1024;

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
        if src_key.ends_with('/') && dst_key.ends_with('/') {
            if let Some(info) = self
                .copy_marker(src_bucket, src_key, dst_bucket, dst_key, &opts)
                .await?
            {
                return Ok(info);
            }
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
                req = req.header(HeaderName::from_static("x-amz-tagging-directive"), "REPLACE");
                req = req.header(HeaderName::from_static("x-amz-tagging"), tagging(tags));
            }
        }
        for (n, v) in condition_headers(&opts.condition) {
            req = req.header(n, v);
        }
        // a missing source is named in the error, not the destination
        let ctx = self.ctx(sb, Some(src_key));
        let (_, body) = self.client.send_read(req, &ctx, XML_LIMIT).await?;
        parse_answer(&body, &ctx)?;
        self.head_object_impl(dst_bucket, dst_key).await
    }

    /// A copy of an empty directory marker (`a/` → `b/`) is a PUT of an empty `b/` carrying
    /// the source's (or the replacing) attributes: the same object on any S3 server, and the only
    /// form a FILE_SYSTEM_OPTIMIZED Ozone bucket turns into a directory (Ozone's CopyObject of a
    /// `b/` key makes a *file* `b`, and every later PUT under `b/` fails with NOT_A_FILE). A
    /// marker that holds bytes is copied with CopyObject (`None`).
    async fn copy_marker(
        &self,
        src_bucket: &BucketPath,
        src_key: &str,
        dst_bucket: &BucketPath,
        dst_key: &str,
        opts: &CopyOptions,
    ) -> Result<Option<ObjectInfo>> {
        let src = self.head_object_impl(src_bucket, src_key).await?;
        if src.size != 0 {
            return Ok(None);
        }
        let mut attrs = opts.attrs.clone().unwrap_or_else(|| src.attrs.clone());
        if let Some(tags) = &opts.tags {
            attrs.tags = tags.clone();
        }
        // checksums describe the source's (empty) body; the PUT computes its own
        attrs.checksums.clear();
        let put = PutOptions {
            attrs,
            condition: opts.condition.clone(),
            expected_len: Some(0),
            ..PutOptions::default()
        };
        let wanted = put.attrs.user.clone();
        let body: crate::store::ByteStream = Box::pin(futures_util::stream::empty());
        self.put_object_impl(dst_bucket, dst_key, body, put).await?;
        let now = self.head_object_impl(dst_bucket, dst_key).await?;
        if now.attrs.user != wanted {
            // Ozone's FILE_SYSTEM_OPTIMIZED directories carry no user metadata: a PUT of `b/`
            // with x-amz-meta-* makes the directory and drops the metadata. Say so instead of
            // reporting attributes that were not stored.
            return Err(Error::NotSupported(format!(
                "the remote keeps no metadata on the directory {dst_key} (an Ozone FILE_SYSTEM_OPTIMIZED bucket)"
            )));
        }
        Ok(Some(now))
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
        // Copy everything first, then delete: objects before directory markers, deeper markers
        // before shallower ones. On a FILE_SYSTEM_OPTIMIZED Ozone bucket a marker is a real
        // directory, and Ozone answers 204 to a DELETE of a non-empty one without deleting it;
        // in this order every directory is empty when its DELETE comes.
        let mut moved = 0u64;
        let mut copied = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(suffix) = key.strip_prefix(from) else { continue };
            let dst = format!("{to}{suffix}");
            if key == dst {
                continue;
            }
            self.copy_object_impl(bucket, &key, bucket, &dst, CopyOptions::default())
                .await?;
            self.notify(bucket, &dst, ChangeKind::Put);
            copied.push(key);
            moved += 1;
        }
        copied.sort_by_key(|k| (k.ends_with('/'), std::cmp::Reverse(k.matches('/').count())));
        for key in copied {
            self.delete_object_impl(bucket, &key, None).await?;
            self.notify(bucket, &key, ChangeKind::Delete);
        }
        Ok(moved)
    }
}
