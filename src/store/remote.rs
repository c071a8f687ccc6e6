//! [`RemoteStore`]: an S3 client that implements [`ObjectStore`](crate::ObjectStore) against any S3 endpoint (an
//! Ozone S3 gateway, `ozfs serve`, other S3 servers).
//!
//! Design:
//! - One file per S3 operation under `remote/` (`get_object.rs`, `put_object.rs`, …), each an
//!   `impl RemoteStore` block the trait methods here call. What they share sits below them, in
//!   files that never use an operation file: the HTTP machinery (pool, signing, retries,
//!   timeouts) in `client.rs`; error mapping and the reading of every XML answer
//!   (`parse_answer`, over the core's [`crate::xml`]) in `error_xml.rs`; headers ↔ attributes,
//!   ETags and object identity in `wire.rs`; the multipart pieces a large PUT and the
//!   `Multipart` operations both use (part reader, part upload, integrity headers) in
//!   `parts.rs`; settings in `config.rs`. So the module graph has no cycle: operations →
//!   `parts` → `wire` → `client` → `error_xml`, `config`.
//! - Namespace mapping: the remote's buckets are the buckets of one volume,
//!   [`RemoteConfig::volume`] (default `s3v`). A bucket path in another volume is
//!   [`Error::NoSuchVolume`]; volume creation and bucket links are [`Error::NotSupported`]
//!   (S3 has neither).
//! - Object identity: [`ObjectInfo::version`] of a remote object is a stable hash of (bucket,
//!   key, ETag, size, Last-Modified to the second), so the page cache keys pages by content
//!   identity, and HEAD, GET and listings of the same object agree on it.
//! - Version-pinned reads (`read_version`) are ranged GETs with `If-Match: "<etag>"`; a 412 or
//!   404 means the object changed: [`Error::ObjectChanged`].
//! - Streaming: GET bodies stream from the socket; PUT streams the body with
//!   `UNSIGNED-PAYLOAD` and its exact `Content-Length` when the length is known and at most the
//!   multipart threshold; larger or unknown-length bodies go up as a multipart upload with a
//!   bounded number of parts in flight (memory ≤ (concurrency + 1) × part size).
//! - Not atomic (S3 has no such primitives, documented here and in the method docs):
//!   `rename_object` is copy + delete; `rename_prefix` is list + copy + delete per key;
//!   `set_attrs` is a CopyObject onto itself with the REPLACE directive (through a temporary
//!   key when the remote refuses or ignores that copy, as Ozone does); `delete_object` with
//!   `if_match` checks with a HEAD and then sends a DELETE with `If-Match`.
//! - Transport (`client.rs`): http or https (rustls, ring provider; system roots or a CA
//!   bundle), SigV4 with session tokens, per-request timeouts, retries with backoff and jitter
//!   for requests that are safe to repeat. Credentials come from one loader
//!   ([`credentials`]) shared by `ozfs mount` and `ozfs serve --backend`.
//! - Change feed: a local broadcast of the changes made through this `RemoteStore`; changes
//!   made by other clients of the remote are not seen.

mod bucket;
mod client;
mod config;
mod copy_object;
pub mod credentials;
mod delete_object;
mod error_xml;
mod get_object;
mod head_object;
mod list_objects;
mod multipart;
mod parts;
mod put_object;
mod wire;

pub use config::RemoteConfig;

use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use crate::store::{
    BucketInfo, BucketUpdate, ByteStream, ChangeEvent, ChangeKind, CompletedPart, CopyOptions, GetOptions, GetResult,
    ListPage, ListRequest, Multipart, Namespace, ObjectAttrs, ObjectInfo, Objects, PartCopy, PartInfo, PartsPage,
    PutOptions, UploadsPage, UploadsRequest, VolumeInfo, WriteCondition,
};
use async_trait::async_trait;
use client::Client;
use error_xml::Context;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::broadcast;

/// The remote S3 store.
pub struct RemoteStore {
    client: Arc<Client>,
    changes: broadcast::Sender<ChangeEvent>,
    /// Set once the remote refused ListObjectsV2: use V1 from then on.
    list_v1: AtomicBool,
    /// The server refused a listing with `ozfs-metadata`: list without it from now on.
    list_meta_off: AtomicBool,
    /// Set once the remote refused a CopyObject onto the same key, or answered one without
    /// applying the new metadata: `set_attrs` goes through a temporary key from then on.
    self_copy_refused: AtomicBool,
}

impl RemoteStore {
    /// A store talking to `cfg.endpoint`. Nothing is sent until the first call.
    pub fn new(cfg: RemoteConfig) -> Result<Self> {
        if cfg.part_size < crate::store::MIN_PART_SIZE {
            return Err(Error::InvalidArgument(format!(
                "part size {} is below the S3 minimum of {}",
                cfg.part_size,
                crate::store::MIN_PART_SIZE
            )));
        }
        Ok(RemoteStore {
            client: Arc::new(Client::new(cfg)?),
            changes: broadcast::channel(1024).0,
            list_v1: AtomicBool::new(false),
            list_meta_off: AtomicBool::new(false),
            self_copy_refused: AtomicBool::new(false),
        })
    }

    pub fn config(&self) -> &RemoteConfig {
        self.client.config()
    }

    /// The remote bucket name of `b` (which must be in the configured volume).
    fn bucket_name<'b>(&self, b: &'b BucketPath) -> Result<&'b str> {
        if b.volume != self.config().volume {
            return Err(Error::NoSuchVolume(b.volume.clone()));
        }
        Ok(&b.bucket)
    }

    fn ctx(&self, bucket: &str, key: Option<&str>) -> Context {
        Context {
            bucket: bucket.to_string(),
            key: key.map(str::to_string),
            upload_id: None,
        }
    }

    fn notify(&self, bucket: &BucketPath, key: &str, kind: ChangeKind) {
        let _ = self.changes.send(ChangeEvent {
            bucket: bucket.clone(),
            key: key.to_string(),
            kind,
        });
    }

    /// `set_attrs` for a remote that refuses a copy onto itself: copy to a temporary sibling
    /// key, copy back with the new attributes, delete the temporary key. The object is never
    /// missing; a crash in between leaves the temporary key behind (its name says what it is).
    async fn set_attrs_via_temp(&self, bucket: &BucketPath, key: &str, opts: CopyOptions) -> Result<ObjectInfo> {
        let tmp = format!("{key}.ozfs-set-attrs-{:016x}", rand::random::<u64>());
        self.copy_object_impl(bucket, key, bucket, &tmp, CopyOptions::default())
            .await?;
        let res = self.copy_object_impl(bucket, &tmp, bucket, key, opts).await;
        let cleanup = self.delete_object_impl(bucket, &tmp, None).await;
        let info = res?;
        cleanup?;
        Ok(info)
    }

    fn no_links(&self, what: &str) -> Error {
        Error::NotSupported(format!(
            "{what} is not supported on a remote S3 endpoint: it only has the buckets of volume {}",
            self.config().volume
        ))
    }
}

/// Whether the user metadata read back from the remote is `wanted`: names compared without
/// case (S3 lower-cases them), values without surrounding blanks (HTTP header values).
fn same_user_meta(
    got: &std::collections::BTreeMap<String, String>,
    wanted: &std::collections::BTreeMap<String, String>,
) -> bool {
    let norm = |m: &std::collections::BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    norm(got) == norm(wanted)
}

#[async_trait]
impl Namespace for RemoteStore {
    async fn create_volume(&self, _name: &str, _owner: &str) -> Result<VolumeInfo> {
        Err(self.no_links("creating a volume"))
    }
    async fn delete_volume(&self, _name: &str) -> Result<()> {
        Err(self.no_links("deleting a volume"))
    }
    async fn volume_info(&self, name: &str) -> Result<VolumeInfo> {
        self.volume_info_impl(name).await
    }
    async fn list_volumes(&self) -> Result<Vec<VolumeInfo>> {
        Ok(vec![self.volume_info_impl(&self.config().volume.clone()).await?])
    }
    async fn create_bucket(&self, bucket: &BucketPath, owner: &str) -> Result<BucketInfo> {
        self.create_bucket_impl(bucket, owner).await
    }
    async fn create_link(&self, _link: &BucketPath, _target: &BucketPath, _owner: &str) -> Result<BucketInfo> {
        Err(self.no_links("a bucket link"))
    }
    async fn delete_bucket(&self, bucket: &BucketPath) -> Result<()> {
        self.delete_bucket_impl(bucket).await
    }
    async fn bucket_info(&self, bucket: &BucketPath) -> Result<BucketInfo> {
        self.bucket_info_impl(bucket).await
    }
    async fn list_buckets(&self, volume: &str) -> Result<Vec<BucketInfo>> {
        self.list_buckets_impl(volume).await
    }
    async fn bucket_settings(&self, bucket: &BucketPath) -> Result<BucketInfo> {
        self.bucket_settings_impl(bucket).await
    }
    async fn update_bucket(&self, bucket: &BucketPath, update: BucketUpdate) -> Result<BucketInfo> {
        self.update_bucket_impl(bucket, update).await
    }
    async fn resolve_bucket(&self, bucket: &BucketPath) -> Result<BucketPath> {
        self.head_bucket(bucket).await?;
        Ok(bucket.clone())
    }
}

#[async_trait]
impl Objects for RemoteStore {
    async fn put_object(
        &self,
        bucket: &BucketPath,
        key: &str,
        body: ByteStream,
        opts: PutOptions,
    ) -> Result<ObjectInfo> {
        let info = self.put_object_impl(bucket, key, body, opts).await?;
        self.notify(bucket, key, ChangeKind::Put);
        Ok(info)
    }
    async fn get_object(&self, bucket: &BucketPath, key: &str, opts: GetOptions) -> Result<GetResult> {
        self.get_object_impl(bucket, key, opts).await
    }
    async fn read_version(&self, bucket: &BucketPath, info: &ObjectInfo, range: Range<u64>) -> Result<ByteStream> {
        self.read_version_impl(bucket, info, range).await
    }
    async fn head_object(&self, bucket: &BucketPath, key: &str) -> Result<ObjectInfo> {
        self.head_object_impl(bucket, key).await
    }
    async fn delete_object(&self, bucket: &BucketPath, key: &str, if_match: Option<&str>) -> Result<()> {
        self.delete_object_impl(bucket, key, if_match).await?;
        self.notify(bucket, key, ChangeKind::Delete);
        Ok(())
    }
    async fn copy_object(
        &self,
        src_bucket: &BucketPath,
        src_key: &str,
        dst_bucket: &BucketPath,
        dst_key: &str,
        opts: CopyOptions,
    ) -> Result<ObjectInfo> {
        // A copy onto itself that replaces the attributes (how S3 clients change metadata) is
        // `set_attrs`, which knows the remotes that refuse or ignore such a copy (Ozone).
        if src_bucket == dst_bucket
            && src_key == dst_key
            && matches!(opts.condition, WriteCondition::None)
            && opts.source_range.is_none()
        {
            if let Some(mut attrs) = opts.attrs.clone() {
                if let Some(tags) = &opts.tags {
                    attrs.tags = tags.clone();
                }
                return self.set_attrs(dst_bucket, dst_key, attrs).await;
            }
        }
        let info = self
            .copy_object_impl(src_bucket, src_key, dst_bucket, dst_key, opts)
            .await?;
        self.notify(dst_bucket, dst_key, ChangeKind::Put);
        Ok(info)
    }
    /// A CopyObject of the key onto itself with the REPLACE directive. The remote gives the
    /// result a new Last-Modified (and so a new cache identity) although the bytes are the same;
    /// for an object made by multipart upload the copy also gets a new (single-part) ETag, so a
    /// reader pinned to the old info gets [`Error::ObjectChanged`] afterwards.
    async fn set_attrs(&self, bucket: &BucketPath, key: &str, attrs: ObjectAttrs) -> Result<ObjectInfo> {
        let wanted = attrs.user.clone();
        let opts = CopyOptions {
            attrs: Some(attrs),
            ..CopyOptions::default()
        };
        // A directory marker is rewritten with a PUT (see `copy_marker`), never copied onto itself.
        let direct = if self.self_copy_refused.load(Ordering::Relaxed) && !key.ends_with('/') {
            None
        } else {
            match self.copy_object_impl(bucket, key, bucket, key, opts.clone()).await {
                Err(Error::Backend { status: 400, code, .. }) if code == "InvalidRequest" => {
                    // Ozone refuses a CopyObject of a key onto itself even with the REPLACE
                    // directive: learn it and go through a temporary key from now on.
                    log::debug!("{key}: the remote refuses a copy onto itself; using a temporary key");
                    self.self_copy_refused.store(true, Ordering::Relaxed);
                    None
                }
                Ok(info) if !key.ends_with('/') && !same_user_meta(&info.attrs.user, &wanted) => {
                    // Ozone answers 200 to a copy onto itself that carries x-amz-storage-class
                    // and changes nothing (not even with REPLACE): the metadata read back is
                    // the old one. Learn it, and go through a temporary key from now on.
                    log::debug!("{key}: the remote ignored a copy onto itself; using a temporary key");
                    self.self_copy_refused.store(true, Ordering::Relaxed);
                    None
                }
                r => Some(r?),
            }
        };
        let info = match direct {
            Some(info) => info,
            None => {
                let info = self.set_attrs_via_temp(bucket, key, opts).await?;
                if !same_user_meta(&info.attrs.user, &wanted) {
                    return Err(Error::NotSupported(format!(
                        "the remote did not keep the new metadata of {key} (copied back through a temporary key)"
                    )));
                }
                info
            }
        };
        self.notify(bucket, key, ChangeKind::Put);
        Ok(info)
    }
    /// Copy + delete: not atomic on S3 (a crash between the two leaves both keys).
    async fn rename_object(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<()> {
        self.rename_object_impl(bucket, from, to).await
    }
    /// List + copy + delete of every key: not atomic on S3 (a failure midway leaves some keys
    /// moved and some not; running it again finishes the move).
    async fn rename_prefix(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<u64> {
        self.rename_prefix_impl(bucket, from, to).await
    }
    async fn list_objects(&self, bucket: &BucketPath, req: ListRequest) -> Result<ListPage> {
        self.list_objects_impl(bucket, req).await
    }
    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.changes.subscribe()
    }
}

#[async_trait]
impl Multipart for RemoteStore {
    async fn delete_bucket_aborting_uploads(&self, bucket: &BucketPath) -> Result<()> {
        crate::store::abort_uploads_then_delete(self, bucket).await
    }
    async fn create_multipart(&self, bucket: &BucketPath, key: &str, opts: PutOptions) -> Result<String> {
        self.create_multipart_impl(bucket, key, &opts).await
    }
    async fn upload_part(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        opts: PutOptions,
    ) -> Result<PartInfo> {
        self.upload_part_impl(bucket, key, upload_id, part_number, body, &opts)
            .await
    }
    async fn upload_part_copy(&self, bucket: &BucketPath, key: &str, copy: PartCopy<'_>) -> Result<PartInfo> {
        let PartCopy {
            upload_id,
            part_number,
            src_bucket,
            src_key,
            src_range,
        } = copy;
        self.upload_part_copy_impl(bucket, key, upload_id, part_number, src_bucket, src_key, src_range)
            .await
    }
    async fn complete_multipart(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        condition: WriteCondition,
    ) -> Result<ObjectInfo> {
        let info = self
            .complete_multipart_impl(bucket, key, upload_id, parts, &condition)
            .await?;
        self.notify(bucket, key, ChangeKind::Put);
        Ok(info)
    }
    async fn abort_multipart(&self, bucket: &BucketPath, key: &str, upload_id: &str) -> Result<()> {
        self.abort_multipart_impl(bucket, key, upload_id).await
    }
    async fn list_parts(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        part_number_marker: u32,
        max_parts: usize,
    ) -> Result<PartsPage> {
        self.list_parts_impl(bucket, key, upload_id, part_number_marker, max_parts)
            .await
    }
    async fn list_uploads(&self, bucket: &BucketPath, req: UploadsRequest<'_>) -> Result<UploadsPage> {
        let UploadsRequest {
            prefix,
            key_marker,
            upload_id_marker,
            max_uploads,
        } = req;
        self.list_uploads_impl(bucket, prefix, key_marker, upload_id_marker, max_uploads)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_endpoints_need_a_readable_ca_bundle_when_one_is_named() {
        let mut cfg = RemoteConfig::new("https://127.0.0.1:1", "a", "b");
        cfg.ca_bundle = Some("/nonexistent/ca.pem".into());
        match RemoteStore::new(cfg.clone()) {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("/nonexistent/ca.pem"), "{m}"),
            Err(e) => panic!("{e:?}"),
            Ok(_) => panic!("a missing CA bundle was accepted"),
        }
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        cfg.ca_bundle = Some(empty);
        assert!(matches!(RemoteStore::new(cfg), Err(Error::InvalidArgument(m)) if m.contains("no PEM certificate")));
        assert!(matches!(
            RemoteStore::new(RemoteConfig::new("ftp://h", "a", "b")),
            Err(Error::InvalidArgument(_))
        ));
    }
}
