//! [`DeadlineStore`]: a decorator that puts every call into an [`ObjectStore`] under a deadline,
//! so a caller that must answer in bounded time (a FUSE request: the kernel holds the calling
//! process in uninterruptible sleep until it is answered) gets an error instead of waiting on a
//! stalled backend forever.
//!
//! - Each call is bounded by the deadline; calls that carry a body (put, upload part) get one
//!   more second per MiB of declared length, `rename_prefix` (one call, many requests on a
//!   remote store) gets ten deadlines, and `lookup_name` asking one request at a time three.
//!   Every chunk of a returned body stream is bounded by the deadline too.
//! - Past the deadline the call's future is dropped (the stores are cancellation-safe: see
//!   tests/core_cancel.rs) and the caller gets [`Error::Io`] with kind `TimedOut`, which the
//!   FUSE edge reports as EIO.
//! - The retries and per-request timeouts of [`crate::RemoteStore`] stay underneath: the
//!   deadline is the bound on all of them together.

use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use crate::store::{
    BucketInfo, BucketUpdate, ByteStream, ChangeEvent, CompletedPart, CopyOptions, GetOptions, GetResult, ListPage,
    ListRequest, Multipart, NameLookup, NameQuery, Namespace, ObjectAttrs, ObjectInfo, ObjectStore, Objects, PartCopy,
    PartInfo, PartsPage, PutOptions, UploadsPage, UploadsRequest, VersionPin, VolumeInfo, WriteCondition,
};
use async_trait::async_trait;
use futures_util::{stream, StreamExt};
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Multiplier of the deadline for `rename_prefix`.
const RENAME_PREFIX_FACTOR: u32 = 10;
/// Multiplier of the deadline for a `lookup_name` asking one request at a time (up to three).
const LOOKUP_NAME_FACTOR: u32 = 3;

/// The decorator (see the module docs).
pub struct DeadlineStore {
    inner: Arc<dyn ObjectStore>,
    deadline: Duration,
}

impl DeadlineStore {
    pub fn new(inner: Arc<dyn ObjectStore>, deadline: Duration) -> Self {
        DeadlineStore { inner, deadline }
    }

    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    async fn bounded<T>(&self, what: &str, limit: Duration, f: impl Future<Output = Result<T>>) -> Result<T> {
        match tokio::time::timeout(limit, f).await {
            Ok(r) => r,
            Err(_) => Err(timed_out(what, limit)),
        }
    }

    async fn run<T>(&self, what: &str, f: impl Future<Output = Result<T>>) -> Result<T> {
        self.bounded(what, self.deadline, f).await
    }

    /// The deadline of a call carrying `len` bytes.
    fn with_body(&self, len: Option<u64>) -> Duration {
        self.deadline + Duration::from_secs(len.unwrap_or(0) >> 20)
    }

    fn stream(&self, s: ByteStream) -> ByteStream {
        let limit = self.deadline;
        Box::pin(stream::unfold(Some(s), move |state| async move {
            let mut s = state?;
            match tokio::time::timeout(limit, s.next()).await {
                Ok(Some(item)) => Some((item, Some(s))),
                Ok(None) => None,
                Err(_) => Some((Err(timed_out("reading a body", limit)), None)),
            }
        }))
    }
}

fn timed_out(what: &str, limit: Duration) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what}: the store did not answer within the backend deadline of {limit:?}"),
    ))
}

#[async_trait]
impl Namespace for DeadlineStore {
    async fn create_volume(&self, name: &str, owner: &str) -> Result<VolumeInfo> {
        self.run("create volume", self.inner.create_volume(name, owner)).await
    }
    async fn delete_volume(&self, name: &str) -> Result<()> {
        self.run("delete volume", self.inner.delete_volume(name)).await
    }
    async fn volume_info(&self, name: &str) -> Result<VolumeInfo> {
        self.run("volume info", self.inner.volume_info(name)).await
    }
    async fn list_volumes(&self) -> Result<Vec<VolumeInfo>> {
        self.run("list volumes", self.inner.list_volumes()).await
    }
    async fn create_bucket(&self, bucket: &BucketPath, owner: &str) -> Result<BucketInfo> {
        self.run("create bucket", self.inner.create_bucket(bucket, owner)).await
    }
    async fn create_link(&self, link: &BucketPath, target: &BucketPath, owner: &str) -> Result<BucketInfo> {
        self.run("create link", self.inner.create_link(link, target, owner))
            .await
    }
    async fn delete_bucket(&self, bucket: &BucketPath) -> Result<()> {
        self.run("delete bucket", self.inner.delete_bucket(bucket)).await
    }
    async fn bucket_info(&self, bucket: &BucketPath) -> Result<BucketInfo> {
        self.run("bucket info", self.inner.bucket_info(bucket)).await
    }
    async fn list_buckets(&self, volume: &str) -> Result<Vec<BucketInfo>> {
        self.run("list buckets", self.inner.list_buckets(volume)).await
    }
    async fn bucket_settings(&self, bucket: &BucketPath) -> Result<BucketInfo> {
        self.run("bucket settings", self.inner.bucket_settings(bucket)).await
    }
    async fn update_bucket(&self, bucket: &BucketPath, update: BucketUpdate) -> Result<BucketInfo> {
        self.run("update a bucket", self.inner.update_bucket(bucket, update))
            .await
    }
    async fn resolve_bucket(&self, bucket: &BucketPath) -> Result<BucketPath> {
        self.run("resolve bucket", self.inner.resolve_bucket(bucket)).await
    }
}

#[async_trait]
impl Objects for DeadlineStore {
    async fn put_object(
        &self,
        bucket: &BucketPath,
        key: &str,
        body: ByteStream,
        opts: PutOptions,
    ) -> Result<ObjectInfo> {
        let limit = self.with_body(opts.expected_len);
        self.bounded("put object", limit, self.inner.put_object(bucket, key, body, opts))
            .await
    }
    async fn put_file(
        &self,
        bucket: &BucketPath,
        key: &str,
        file: std::fs::File,
        len: u64,
        md5: Option<[u8; 16]>,
        opts: PutOptions,
    ) -> Result<ObjectInfo> {
        let limit = self.with_body(Some(len));
        self.bounded(
            "put object",
            limit,
            self.inner.put_file(bucket, key, file, len, md5, opts),
        )
        .await
    }
    fn adopts_files_from(&self, dir: &std::path::Path) -> bool {
        self.inner.adopts_files_from(dir)
    }
    async fn get_object(&self, bucket: &BucketPath, key: &str, opts: GetOptions) -> Result<GetResult> {
        let r = self.run("get object", self.inner.get_object(bucket, key, opts)).await?;
        Ok(GetResult {
            body: self.stream(r.body),
            ..r
        })
    }
    async fn read_version(&self, bucket: &BucketPath, info: &ObjectInfo, range: Range<u64>) -> Result<ByteStream> {
        let s = self
            .run("read object", self.inner.read_version(bucket, info, range))
            .await?;
        Ok(self.stream(s))
    }
    async fn pin_version(&self, bucket: &BucketPath, info: &ObjectInfo) -> Result<VersionPin> {
        self.run("pin version", self.inner.pin_version(bucket, info)).await
    }
    async fn version_file(&self, bucket: &BucketPath, info: &ObjectInfo) -> Result<Option<std::fs::File>> {
        self.run("version file", self.inner.version_file(bucket, info)).await
    }
    async fn head_object(&self, bucket: &BucketPath, key: &str) -> Result<ObjectInfo> {
        self.run("head object", self.inner.head_object(bucket, key)).await
    }
    async fn delete_object(&self, bucket: &BucketPath, key: &str, if_match: Option<&str>) -> Result<()> {
        self.run("delete object", self.inner.delete_object(bucket, key, if_match))
            .await
    }
    async fn copy_object(
        &self,
        src_bucket: &BucketPath,
        src_key: &str,
        dst_bucket: &BucketPath,
        dst_key: &str,
        opts: CopyOptions,
    ) -> Result<ObjectInfo> {
        self.run(
            "copy object",
            self.inner.copy_object(src_bucket, src_key, dst_bucket, dst_key, opts),
        )
        .await
    }
    async fn set_attrs(&self, bucket: &BucketPath, key: &str, attrs: ObjectAttrs) -> Result<ObjectInfo> {
        self.run("set attributes", self.inner.set_attrs(bucket, key, attrs))
            .await
    }
    async fn rename_object(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<()> {
        self.run("rename object", self.inner.rename_object(bucket, from, to))
            .await
    }
    async fn rename_prefix(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<u64> {
        let limit = self.deadline * RENAME_PREFIX_FACTOR;
        self.bounded("rename directory", limit, self.inner.rename_prefix(bucket, from, to))
            .await
    }
    async fn list_objects(&self, bucket: &BucketPath, req: ListRequest) -> Result<ListPage> {
        self.run("list objects", self.inner.list_objects(bucket, req)).await
    }
    /// One deadline, as for the three concurrent calls it replaces; with
    /// [`NameQuery::first_found`] a remote store sends them one at a time: three deadlines, as
    /// when they were separate calls.
    async fn lookup_name(&self, bucket: &BucketPath, key: &str, query: NameQuery) -> Result<NameLookup> {
        let limit = if query.first_found {
            self.deadline * LOOKUP_NAME_FACTOR
        } else {
            self.deadline
        };
        self.bounded("look up name", limit, self.inner.lookup_name(bucket, key, query))
            .await
    }
    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.inner.subscribe()
    }
}

#[async_trait]
impl Multipart for DeadlineStore {
    async fn delete_bucket_aborting_uploads(&self, bucket: &BucketPath) -> Result<()> {
        self.run("delete bucket", self.inner.delete_bucket_aborting_uploads(bucket))
            .await
    }
    async fn create_multipart(&self, bucket: &BucketPath, key: &str, opts: PutOptions) -> Result<String> {
        self.run(
            "create multipart upload",
            self.inner.create_multipart(bucket, key, opts),
        )
        .await
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
        let limit = self.with_body(opts.expected_len);
        self.bounded(
            "upload part",
            limit,
            self.inner.upload_part(bucket, key, upload_id, part_number, body, opts),
        )
        .await
    }
    async fn upload_part_copy(&self, bucket: &BucketPath, key: &str, copy: PartCopy<'_>) -> Result<PartInfo> {
        self.run("upload part copy", self.inner.upload_part_copy(bucket, key, copy))
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
        self.run(
            "complete multipart upload",
            self.inner.complete_multipart(bucket, key, upload_id, parts, condition),
        )
        .await
    }
    async fn abort_multipart(&self, bucket: &BucketPath, key: &str, upload_id: &str) -> Result<()> {
        self.run(
            "abort multipart upload",
            self.inner.abort_multipart(bucket, key, upload_id),
        )
        .await
    }
    async fn list_parts(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        part_number_marker: u32,
        max_parts: usize,
    ) -> Result<PartsPage> {
        self.run(
            "list parts",
            self.inner
                .list_parts(bucket, key, upload_id, part_number_marker, max_parts),
        )
        .await
    }
    async fn list_uploads(&self, bucket: &BucketPath, req: UploadsRequest<'_>) -> Result<UploadsPage> {
        self.run("list uploads", self.inner.list_uploads(bucket, req)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PassThrough;
    use crate::MemStore;

    /// A store whose every call waits forever (a stalled backend).
    struct Stalled(MemStore);

    impl PassThrough for Stalled {
        fn wrapped(&self) -> &dyn ObjectStore {
            &self.0
        }
    }

    #[async_trait]
    impl Objects for Stalled {
        async fn put_object(&self, b: &BucketPath, k: &str, body: ByteStream, o: PutOptions) -> Result<ObjectInfo> {
            self.0.put_object(b, k, body, o).await
        }
        async fn get_object(&self, b: &BucketPath, k: &str, o: GetOptions) -> Result<GetResult> {
            // headers come, then the body stalls
            let r = self.0.get_object(b, k, o).await?;
            Ok(GetResult {
                body: Box::pin(stream::pending()),
                ..r
            })
        }
        async fn read_version(&self, b: &BucketPath, i: &ObjectInfo, r: Range<u64>) -> Result<ByteStream> {
            self.0.read_version(b, i, r).await
        }
        async fn head_object(&self, _b: &BucketPath, _k: &str) -> Result<ObjectInfo> {
            std::future::pending().await
        }
        async fn delete_object(&self, b: &BucketPath, k: &str, m: Option<&str>) -> Result<()> {
            self.0.delete_object(b, k, m).await
        }
        async fn copy_object(
            &self,
            sb: &BucketPath,
            sk: &str,
            db: &BucketPath,
            dk: &str,
            o: CopyOptions,
        ) -> Result<ObjectInfo> {
            self.0.copy_object(sb, sk, db, dk, o).await
        }
        async fn set_attrs(&self, b: &BucketPath, k: &str, a: ObjectAttrs) -> Result<ObjectInfo> {
            self.0.set_attrs(b, k, a).await
        }
        async fn rename_object(&self, b: &BucketPath, f: &str, t: &str) -> Result<()> {
            self.0.rename_object(b, f, t).await
        }
        async fn rename_prefix(&self, b: &BucketPath, f: &str, t: &str) -> Result<u64> {
            self.0.rename_prefix(b, f, t).await
        }
        async fn list_objects(&self, _b: &BucketPath, _r: ListRequest) -> Result<ListPage> {
            std::future::pending().await
        }
        fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
            self.0.subscribe()
        }
    }

    fn is_timeout(e: &Error) -> bool {
        matches!(e, Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
    }

    #[tokio::test]
    async fn stalled_calls_and_bodies_fail_after_the_deadline() {
        let mem = MemStore::new("s3v");
        let b = BucketPath::new("s3v", "bkt");
        mem.create_bucket(&b, "o").await.unwrap();
        let body: ByteStream = Box::pin(stream::iter([Ok(bytes::Bytes::from_static(b"hello"))]));
        mem.put_object(&b, "k", body, PutOptions::default()).await.unwrap();
        let store = DeadlineStore::new(Arc::new(Stalled(mem)), Duration::from_millis(200));
        // calls that never answer
        assert!(is_timeout(&store.head_object(&b, "k").await.unwrap_err()));
        assert!(is_timeout(
            &store.list_objects(&b, ListRequest::default()).await.unwrap_err()
        ));
        for first_found in [false, true] {
            let q = NameQuery {
                implicit: true,
                first_found,
            };
            assert!(is_timeout(&store.lookup_name(&b, "k", q).await.unwrap_err()));
        }
        // a body that stalls after the headers
        let r = store.get_object(&b, "k", GetOptions::default()).await.unwrap();
        let chunks: Vec<_> = r.body.collect().await;
        assert_eq!(chunks.len(), 1);
        assert!(is_timeout(chunks[0].as_ref().unwrap_err()));
        // calls that answer pass through unchanged
        assert_eq!(store.bucket_info(&b).await.unwrap().name, "bkt");
    }
}
