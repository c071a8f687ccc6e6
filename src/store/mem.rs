//! The in-memory store: a complete [`ObjectStore`](crate::ObjectStore) + [`SecretStore`] kept in `BTreeMap`s behind
//! one mutex, with bodies collected into [`Bytes`]. It is the test double of the front ends and
//! the reference model the embedded store is checked against, so it holds whole bodies in
//! memory (nothing else may). All the store-independent rules (listing, link resolution,
//! multipart validation, write conditions, digests) come from [`crate::namespace`], the same
//! code [`crate::LocalStore`] runs.

use crate::error::{Error, NameKind, Result};
use crate::namespace::link::{self, BucketKind};
use crate::namespace::listing::{list_page, seek_btree};
use crate::namespace::multipart::{
    check_part_number, composite_checksums, page_parts, page_uploads, validate_complete,
};
use crate::namespace::name::{validate_key, validate_resource_name};
use crate::namespace::rules::{
    check_condition, check_rename_prefix, check_source_range, copy_attrs, get_range, BodyDigest,
};
use crate::namespace::BucketPath;
use crate::secrets::{check_new_secret, generate_secret, SecretStore};
use crate::store::{
    body_from_bytes, BucketInfo, BucketLayout, BucketUpdate, ByteStream, ChangeEvent, ChangeKind, CompletedPart,
    CopyOptions, GetOptions, GetResult, ListPage, ListRequest, Multipart, Namespace, ObjectAttrs, ObjectInfo, Objects,
    PartCopy, PartInfo, PartsPage, PutOptions, UploadInfo, UploadsPage, UploadsRequest, VersionPin, VolumeInfo,
    WriteCondition,
};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use md5::{Digest, Md5};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;
use tokio::sync::broadcast;

/// Versions are unique across every `MemStore` of the process.
static NEXT_VERSION: AtomicU64 = AtomicU64::new(1);

fn next_version() -> u64 {
    NEXT_VERSION.fetch_add(1, Ordering::Relaxed)
}

#[derive(Clone)]
struct MemObject {
    info: ObjectInfo,
    data: Bytes,
}

struct Upload {
    info: UploadInfo,
    attrs: ObjectAttrs,
    parts: BTreeMap<u32, (PartInfo, Bytes)>,
}

struct MemBucket {
    info: BucketInfo,
    objects: BTreeMap<Vec<u8>, MemObject>,
    /// Upload id → upload. Ids sort in creation order.
    uploads: BTreeMap<String, Upload>,
}

#[derive(Default)]
struct Inner {
    volumes: BTreeMap<String, VolumeInfo>,
    buckets: BTreeMap<BucketPath, MemBucket>,
    secrets: BTreeMap<String, String>,
}

impl Inner {
    fn resolve(&self, b: &BucketPath) -> Result<BucketPath> {
        link::resolve(b, |p| {
            Ok(self.buckets.get(p).map(|mb| match &mb.info.link_target {
                Some(t) => BucketKind::Link(t.clone()),
                None => BucketKind::Real,
            }))
        })
    }

    fn real(&mut self, b: &BucketPath) -> Result<(BucketPath, &mut MemBucket)> {
        let real = self.resolve(b)?;
        let mb = self
            .buckets
            .get_mut(&real)
            .ok_or_else(|| Error::NoSuchBucket(b.bucket.clone()))?;
        Ok((real, mb))
    }

    fn volume(&self, name: &str) -> Result<&VolumeInfo> {
        self.volumes
            .get(name)
            .ok_or_else(|| Error::NoSuchVolume(name.to_string()))
    }
}

/// The in-memory store.
pub struct MemStore {
    inner: Mutex<Inner>,
    changes: broadcast::Sender<ChangeEvent>,
    /// Pinned versions (version → pin count, bytes), readable after their key changed.
    pinned: Arc<Mutex<PinMap>>,
}

type PinMap = HashMap<u64, (usize, Bytes)>;

/// The guard inside a [`VersionPin`] of the in-memory store.
struct MemPin {
    pinned: Arc<Mutex<PinMap>>,
    version: u64,
}

impl Drop for MemPin {
    fn drop(&mut self) {
        let mut m = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = m.get_mut(&self.version) {
            p.0 -= 1;
            if p.0 == 0 {
                m.remove(&self.version);
            }
        }
    }
}

impl MemStore {
    /// A store holding the S3 volume `s3_volume` (owned by `admin`), nothing else.
    pub fn new(s3_volume: &str) -> MemStore {
        let mut inner = Inner::default();
        inner.volumes.insert(
            s3_volume.to_string(),
            VolumeInfo {
                name: s3_volume.to_string(),
                owner: "admin".to_string(),
                created: SystemTime::now(),
            },
        );
        MemStore {
            inner: Mutex::new(inner),
            changes: broadcast::channel(1024).0,
            pinned: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that matters
        // to a test double; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, bucket: &BucketPath, key: &str, kind: ChangeKind) {
        let _ = self.changes.send(ChangeEvent {
            bucket: bucket.clone(),
            key: key.to_string(),
            kind,
        });
    }

    async fn collect(body: ByteStream, opts: &PutOptions) -> Result<(Bytes, crate::namespace::rules::Digests)> {
        let mut body = body;
        let mut digest = BodyDigest::new(opts);
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            digest.update(&chunk)?;
            buf.extend_from_slice(&chunk);
        }
        let d = digest.finish()?;
        Ok((buf.freeze(), d))
    }

    fn upload_mut<'a>(mb: &'a mut MemBucket, key: &str, upload_id: &str) -> Result<&'a mut Upload> {
        match mb.uploads.get_mut(upload_id) {
            Some(u) if u.info.key == key => Ok(u),
            _ => Err(Error::NoSuchUpload(upload_id.to_string())),
        }
    }
}

fn slice_body(data: &Bytes, r: &Range<u64>) -> ByteStream {
    body_from_bytes(data.slice(r.start as usize..r.end as usize))
}

#[async_trait]
impl Namespace for MemStore {
    async fn create_volume(&self, name: &str, owner: &str) -> Result<VolumeInfo> {
        validate_resource_name(NameKind::Volume, name)?;
        let mut g = self.lock();
        if g.volumes.contains_key(name) {
            return Err(Error::VolumeAlreadyExists(name.to_string()));
        }
        let v = VolumeInfo {
            name: name.to_string(),
            owner: owner.to_string(),
            created: SystemTime::now(),
        };
        g.volumes.insert(name.to_string(), v.clone());
        Ok(v)
    }
    async fn delete_volume(&self, name: &str) -> Result<()> {
        let mut g = self.lock();
        g.volume(name)?;
        if g.buckets.keys().any(|b| b.volume == name) {
            return Err(Error::VolumeNotEmpty(name.to_string()));
        }
        g.volumes.remove(name);
        Ok(())
    }
    async fn volume_info(&self, name: &str) -> Result<VolumeInfo> {
        self.lock().volume(name).cloned()
    }
    async fn list_volumes(&self) -> Result<Vec<VolumeInfo>> {
        Ok(self.lock().volumes.values().cloned().collect())
    }
    async fn create_bucket(&self, bucket: &BucketPath, owner: &str) -> Result<BucketInfo> {
        self.create_record(bucket, None, owner)
    }
    async fn create_link(&self, link: &BucketPath, target: &BucketPath, owner: &str) -> Result<BucketInfo> {
        validate_resource_name(NameKind::Volume, &target.volume)?;
        validate_resource_name(NameKind::Bucket, &target.bucket)?;
        self.create_record(link, Some(target.clone()), owner)
    }
    async fn delete_bucket(&self, bucket: &BucketPath) -> Result<()> {
        let mut g = self.lock();
        g.volume(&bucket.volume)?;
        let mb = g
            .buckets
            .get(bucket)
            .ok_or_else(|| Error::NoSuchBucket(bucket.bucket.clone()))?;
        if !mb.objects.is_empty() || !mb.uploads.is_empty() {
            return Err(Error::BucketNotEmpty(bucket.bucket.clone()));
        }
        g.buckets.remove(bucket);
        Ok(())
    }
    async fn bucket_info(&self, bucket: &BucketPath) -> Result<BucketInfo> {
        let g = self.lock();
        g.volume(&bucket.volume)?;
        g.buckets
            .get(bucket)
            .map(|mb| mb.info.clone())
            .ok_or_else(|| Error::NoSuchBucket(bucket.bucket.clone()))
    }
    async fn list_buckets(&self, volume: &str) -> Result<Vec<BucketInfo>> {
        let g = self.lock();
        g.volume(volume)?;
        Ok(g.buckets
            .values()
            .filter(|mb| mb.info.volume == volume)
            .map(|mb| mb.info.clone())
            .collect())
    }
    async fn update_bucket(&self, bucket: &BucketPath, update: BucketUpdate) -> Result<BucketInfo> {
        let mut g = self.lock();
        let (_, mb) = g.real(bucket)?;
        match update {
            BucketUpdate::Acl(acl) => mb.info.acl = acl,
            BucketUpdate::Tags(tags) => mb.info.tags = tags,
            BucketUpdate::Lifecycle(l) => mb.info.lifecycle = l,
            BucketUpdate::Layout(l) => mb.info.layout = l,
        }
        Ok(mb.info.clone())
    }
    async fn resolve_bucket(&self, bucket: &BucketPath) -> Result<BucketPath> {
        self.lock().resolve(bucket)
    }
}

#[async_trait]
impl Objects for MemStore {
    async fn put_object(
        &self,
        bucket: &BucketPath,
        key: &str,
        body: ByteStream,
        opts: PutOptions,
    ) -> Result<ObjectInfo> {
        validate_key(key)?;
        self.lock().resolve(bucket)?;
        let (data, d) = Self::collect(body, &opts).await?;
        let mut g = self.lock();
        let (real, mb) = g.real(bucket)?;
        let cur = mb.objects.get(key.as_bytes()).map(|o| o.info.etag.as_str());
        check_condition(&opts.condition, cur)?;
        let mut attrs = opts.attrs;
        attrs.checksums = d.checksums;
        let info = ObjectInfo {
            key: key.to_string(),
            size: d.len,
            etag: d.etag,
            last_modified: SystemTime::now(),
            version: next_version(),
            owner: opts.owner.clone().unwrap_or_else(|| mb.info.owner.clone()),
            attrs,
            parts: Vec::new(),
            part_numbers: Vec::new(),
        };
        mb.objects.insert(
            key.as_bytes().to_vec(),
            MemObject {
                info: info.clone(),
                data,
            },
        );
        drop(g);
        self.emit(&real, key, ChangeKind::Put);
        Ok(info)
    }
    async fn get_object(&self, bucket: &BucketPath, key: &str, opts: GetOptions) -> Result<GetResult> {
        let mut g = self.lock();
        let (_, mb) = g.real(bucket)?;
        let o = mb
            .objects
            .get(key.as_bytes())
            .cloned()
            .ok_or_else(|| Error::NoSuchKey(key.to_string()))?;
        drop(g);
        let range = get_range(&opts, o.info.size, &o.info.parts, &o.info.part_numbers)?;
        let body = slice_body(&o.data, &range);
        Ok(GetResult {
            info: o.info,
            range,
            body,
        })
    }
    async fn read_version(&self, bucket: &BucketPath, info: &ObjectInfo, range: Range<u64>) -> Result<ByteStream> {
        let mut g = self.lock();
        let (_, mb) = g.real(bucket)?;
        let o = match mb.objects.get(info.key.as_bytes()) {
            Some(o) if o.info.version == info.version => o.clone(),
            // Renamed since? A rename keeps the bytes and so the version.
            _ => match mb.objects.values().find(|o| o.info.version == info.version) {
                Some(o) => o.clone(),
                None => {
                    drop(g);
                    // Overwritten or deleted: a pin may still hold its bytes.
                    let m = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
                    let data = match m.get(&info.version) {
                        Some((_, data)) => data.clone(),
                        None => return Err(Error::ObjectChanged(info.key.clone())),
                    };
                    drop(m);
                    check_source_range(&range, data.len() as u64)?;
                    return Ok(slice_body(&data, &range));
                }
            },
        };
        drop(g);
        check_source_range(&range, o.info.size)?;
        Ok(slice_body(&o.data, &range))
    }
    async fn pin_version(&self, bucket: &BucketPath, info: &ObjectInfo) -> Result<VersionPin> {
        let mut g = self.lock();
        let (_, mb) = g.real(bucket)?;
        let live = match mb.objects.get(info.key.as_bytes()) {
            Some(o) if o.info.version == info.version => Some(o.data.clone()),
            _ => mb
                .objects
                .values()
                .find(|o| o.info.version == info.version)
                .map(|o| o.data.clone()),
        };
        // Lock order: the store, then the pins (read_version never holds both).
        let mut m = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
        match (m.get_mut(&info.version), live) {
            (Some(p), _) => p.0 += 1,
            (None, Some(data)) => {
                m.insert(info.version, (1, data));
            }
            (None, None) => return Err(Error::ObjectChanged(info.key.clone())),
        }
        Ok(VersionPin::new(MemPin {
            pinned: self.pinned.clone(),
            version: info.version,
        }))
    }
    async fn head_object(&self, bucket: &BucketPath, key: &str) -> Result<ObjectInfo> {
        let mut g = self.lock();
        let (_, mb) = g.real(bucket)?;
        mb.objects
            .get(key.as_bytes())
            .map(|o| o.info.clone())
            .ok_or_else(|| Error::NoSuchKey(key.to_string()))
    }
    async fn delete_object(&self, bucket: &BucketPath, key: &str, if_match: Option<&str>) -> Result<()> {
        let mut g = self.lock();
        let (real, mb) = g.real(bucket)?;
        if let Some(want) = if_match {
            let cur = mb.objects.get(key.as_bytes()).map(|o| o.info.etag.as_str());
            check_condition(&WriteCondition::IfMatch(want.to_string()), cur)?;
        }
        let existed = mb.objects.remove(key.as_bytes()).is_some();
        drop(g);
        if existed {
            self.emit(&real, key, ChangeKind::Delete);
        }
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
        validate_key(dst_key)?;
        let mut g = self.lock();
        let (_, smb) = g.real(src_bucket)?;
        let src = smb
            .objects
            .get(src_key.as_bytes())
            .cloned()
            .ok_or_else(|| Error::NoSuchKey(src_key.to_string()))?;
        let (data, etag, parts, whole) = match &opts.source_range {
            Some(r) => {
                check_source_range(r, src.info.size)?;
                let data = src.data.slice(r.start as usize..r.end as usize);
                let etag = hex::encode(Md5::digest(&data));
                (
                    data,
                    etag,
                    Vec::new(),
                    r.start == 0 && r.end == src.info.size && src.info.parts.is_empty(),
                )
            }
            None => (src.data.clone(), src.info.etag.clone(), src.info.parts.clone(), true),
        };
        let (real, dmb) = g.real(dst_bucket)?;
        let cur = dmb.objects.get(dst_key.as_bytes()).map(|o| o.info.etag.as_str());
        check_condition(&opts.condition, cur)?;
        let info = ObjectInfo {
            key: dst_key.to_string(),
            size: data.len() as u64,
            etag,
            last_modified: SystemTime::now(),
            version: next_version(),
            owner: opts.owner.clone().unwrap_or_else(|| dmb.info.owner.clone()),
            attrs: copy_attrs(&src.info.attrs, &opts, whole),
            part_numbers: if parts.is_empty() {
                Vec::new()
            } else {
                src.info.part_numbers.clone()
            },
            parts,
        };
        dmb.objects.insert(
            dst_key.as_bytes().to_vec(),
            MemObject {
                info: info.clone(),
                data,
            },
        );
        drop(g);
        self.emit(&real, dst_key, ChangeKind::Put);
        Ok(info)
    }
    async fn set_attrs(&self, bucket: &BucketPath, key: &str, attrs: ObjectAttrs) -> Result<ObjectInfo> {
        let mut g = self.lock();
        let (real, mb) = g.real(bucket)?;
        let o = mb
            .objects
            .get_mut(key.as_bytes())
            .ok_or_else(|| Error::NoSuchKey(key.to_string()))?;
        let checksums = std::mem::take(&mut o.info.attrs.checksums);
        o.info.attrs = attrs;
        o.info.attrs.checksums = checksums;
        o.info.last_modified = SystemTime::now();
        let info = o.info.clone();
        drop(g);
        self.emit(&real, key, ChangeKind::Put);
        Ok(info)
    }
    async fn rename_object(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<()> {
        validate_key(to)?;
        let mut g = self.lock();
        let (real, mb) = g.real(bucket)?;
        if !mb.objects.contains_key(from.as_bytes()) {
            return Err(Error::NoSuchKey(from.to_string()));
        }
        if from == to {
            return Ok(());
        }
        let mut o = mb
            .objects
            .remove(from.as_bytes())
            .ok_or_else(|| Error::NoSuchKey(from.to_string()))?;
        o.info.key = to.to_string();
        mb.objects.insert(to.as_bytes().to_vec(), o);
        drop(g);
        self.emit(&real, from, ChangeKind::Delete);
        self.emit(&real, to, ChangeKind::Put);
        Ok(())
    }
    async fn rename_prefix(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<u64> {
        check_rename_prefix(from, to)?;
        let mut g = self.lock();
        let (real, mb) = g.real(bucket)?;
        let moving: Vec<Vec<u8>> = mb
            .objects
            .range::<[u8], _>((std::ops::Bound::Included(from.as_bytes()), std::ops::Bound::Unbounded))
            .map(|(k, _)| k.clone())
            .take_while(|k| k.starts_with(from.as_bytes()))
            .collect();
        let mut renames = Vec::with_capacity(moving.len());
        for k in &moving {
            let old = String::from_utf8_lossy(k).into_owned();
            let new = format!("{to}{}", &old[from.len()..]);
            validate_key(&new)?;
            renames.push((old, new));
        }
        let mut taken = Vec::with_capacity(renames.len());
        for (old, _) in &renames {
            if let Some(o) = mb.objects.remove(old.as_bytes()) {
                taken.push(o);
            }
        }
        for ((_, new), mut o) in renames.iter().zip(taken) {
            o.info.key = new.clone();
            mb.objects.insert(new.as_bytes().to_vec(), o);
        }
        drop(g);
        for (old, new) in &renames {
            self.emit(&real, old, ChangeKind::Delete);
            self.emit(&real, new, ChangeKind::Put);
        }
        Ok(renames.len() as u64)
    }
    async fn list_objects(&self, bucket: &BucketPath, req: ListRequest) -> Result<ListPage> {
        let mut g = self.lock();
        let (_, mb) = g.real(bucket)?;
        let l = list_page(
            &req.prefix,
            req.delimiter.as_deref(),
            req.start_after.as_deref(),
            req.max_keys,
            seek_btree(&mb.objects),
        )?;
        Ok(ListPage {
            objects: l.objects.into_iter().map(|(_, o)| o.info).collect(),
            common_prefixes: l.common_prefixes,
            is_truncated: l.is_truncated,
            next_start_after: l.next_start_after,
            markers: l.markers.into_iter().map(|(_, o)| o.info).collect(),
            user_meta: true,
        })
    }
    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.changes.subscribe()
    }
}

#[async_trait]
impl Multipart for MemStore {
    async fn delete_bucket_aborting_uploads(&self, bucket: &BucketPath) -> Result<()> {
        let mut g = self.lock();
        g.volume(&bucket.volume)?;
        let mb = g
            .buckets
            .get(bucket)
            .ok_or_else(|| Error::NoSuchBucket(bucket.bucket.clone()))?;
        if !mb.objects.is_empty() {
            return Err(Error::BucketNotEmpty(bucket.bucket.clone()));
        }
        // Under the one lock: the uploads go with the bucket.
        g.buckets.remove(bucket);
        Ok(())
    }
    async fn create_multipart(&self, bucket: &BucketPath, key: &str, opts: PutOptions) -> Result<String> {
        validate_key(key)?;
        let mut g = self.lock();
        let (_, mb) = g.real(bucket)?;
        let id = format!("{:016x}{:08x}", next_version(), rand::random::<u32>());
        let info = UploadInfo {
            key: key.to_string(),
            upload_id: id.clone(),
            initiated: SystemTime::now(),
            owner: opts.owner.clone().unwrap_or_else(|| mb.info.owner.clone()),
            storage_class: opts.attrs.storage_class.clone(),
        };
        mb.uploads.insert(
            id.clone(),
            Upload {
                info,
                attrs: opts.attrs,
                parts: BTreeMap::new(),
            },
        );
        Ok(id)
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
        check_part_number(part_number)?;
        {
            let mut g = self.lock();
            let (_, mb) = g.real(bucket)?;
            Self::upload_mut(mb, key, upload_id)?;
        }
        let (data, d) = Self::collect(body, &opts).await?;
        let part = PartInfo {
            part_number,
            etag: d.etag,
            size: d.len,
            last_modified: SystemTime::now(),
            checksums: d.checksums,
        };
        let mut g = self.lock();
        let (_, mb) = g.real(bucket)?;
        Self::upload_mut(mb, key, upload_id)?
            .parts
            .insert(part_number, (part.clone(), data));
        Ok(part)
    }
    async fn upload_part_copy(&self, bucket: &BucketPath, key: &str, copy: PartCopy<'_>) -> Result<PartInfo> {
        let PartCopy {
            upload_id,
            part_number,
            src_bucket,
            src_key,
            src_range,
        } = copy;
        check_part_number(part_number)?;
        let mut g = self.lock();
        {
            let (_, mb) = g.real(bucket)?;
            Self::upload_mut(mb, key, upload_id)?;
        }
        let (_, smb) = g.real(src_bucket)?;
        let src = smb
            .objects
            .get(src_key.as_bytes())
            .map(|o| o.data.clone())
            .ok_or_else(|| Error::NoSuchKey(src_key.to_string()))?;
        let r = src_range.unwrap_or(0..src.len() as u64);
        check_source_range(&r, src.len() as u64)?;
        let data = src.slice(r.start as usize..r.end as usize);
        let (_, mb) = g.real(bucket)?;
        let up = Self::upload_mut(mb, key, upload_id)?;
        let part = PartInfo {
            part_number,
            etag: hex::encode(Md5::digest(&data)),
            size: data.len() as u64,
            last_modified: SystemTime::now(),
            checksums: BTreeMap::new(),
        };
        up.parts.insert(part_number, (part.clone(), data));
        Ok(part)
    }
    async fn complete_multipart(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        condition: WriteCondition,
    ) -> Result<ObjectInfo> {
        let mut g = self.lock();
        let (real, mb) = g.real(bucket)?;
        let up = Self::upload_mut(mb, key, upload_id)?;
        let etag = validate_complete(parts, |n| up.parts.get(&n).map(|(p, _)| (p.etag.clone(), p.size)))?;
        let cur = mb.objects.get(key.as_bytes()).map(|o| o.info.etag.as_str());
        check_condition(&condition, cur)?;
        let up = mb
            .uploads
            .remove(upload_id)
            .ok_or_else(|| Error::NoSuchUpload(upload_id.to_string()))?;
        let mut buf = BytesMut::new();
        let mut sizes = Vec::with_capacity(parts.len());
        let mut numbers = Vec::with_capacity(parts.len());
        let mut sums = Vec::with_capacity(parts.len());
        for p in parts {
            if let Some((info, data)) = up.parts.get(&p.part_number) {
                buf.extend_from_slice(data);
                sizes.push(info.size);
                numbers.push(p.part_number);
                sums.push(&info.checksums);
            }
        }
        let checksums = composite_checksums(&sums);
        let mut attrs = up.attrs;
        attrs.checksums = checksums;
        let info = ObjectInfo {
            key: key.to_string(),
            size: buf.len() as u64,
            etag,
            last_modified: SystemTime::now(),
            version: next_version(),
            owner: up.info.owner.clone(),
            attrs,
            parts: sizes,
            part_numbers: numbers,
        };
        mb.objects.insert(
            key.as_bytes().to_vec(),
            MemObject {
                info: info.clone(),
                data: buf.freeze(),
            },
        );
        drop(g);
        self.emit(&real, key, ChangeKind::Put);
        Ok(info)
    }
    async fn abort_multipart(&self, bucket: &BucketPath, key: &str, upload_id: &str) -> Result<()> {
        let mut g = self.lock();
        let (_, mb) = g.real(bucket)?;
        Self::upload_mut(mb, key, upload_id)?;
        mb.uploads.remove(upload_id);
        Ok(())
    }
    async fn list_parts(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        part_number_marker: u32,
        max_parts: usize,
    ) -> Result<PartsPage> {
        let mut g = self.lock();
        let (_, mb) = g.real(bucket)?;
        let up = Self::upload_mut(mb, key, upload_id)?;
        let (parts, is_truncated, next_part_number_marker) =
            page_parts(up.parts.values().map(|(p, _)| p.clone()), part_number_marker, max_parts);
        Ok(PartsPage {
            parts,
            is_truncated,
            next_part_number_marker,
            attrs: up.attrs.clone(),
        })
    }
    async fn list_uploads(&self, bucket: &BucketPath, req: UploadsRequest<'_>) -> Result<UploadsPage> {
        let UploadsRequest {
            prefix,
            key_marker,
            upload_id_marker,
            max_uploads,
        } = req;
        let mut g = self.lock();
        let (_, mb) = g.real(bucket)?;
        let mut all: Vec<UploadInfo> = mb.uploads.values().map(|u| u.info.clone()).collect();
        all.sort_by(|a, b| (a.key.as_bytes(), &a.upload_id).cmp(&(b.key.as_bytes(), &b.upload_id)));
        Ok(page_uploads(all, prefix, key_marker, upload_id_marker, max_uploads))
    }
}

impl MemStore {
    fn create_record(&self, bucket: &BucketPath, target: Option<BucketPath>, owner: &str) -> Result<BucketInfo> {
        validate_resource_name(NameKind::Bucket, &bucket.bucket)?;
        let mut g = self.lock();
        g.volume(&bucket.volume)?;
        if let Some(existing) = g.buckets.get(bucket) {
            return Err(Error::BucketAlreadyExists {
                name: bucket.bucket.clone(),
                owner: existing.info.owner.clone(),
            });
        }
        let info = BucketInfo {
            volume: bucket.volume.clone(),
            name: bucket.bucket.clone(),
            owner: owner.to_string(),
            created: SystemTime::now(),
            link_target: target,
            acl: Vec::new(),
            tags: BTreeMap::new(),
            lifecycle: None,
            layout: BucketLayout::default(),
        };
        g.buckets.insert(
            bucket.clone(),
            MemBucket {
                info: info.clone(),
                objects: BTreeMap::new(),
                uploads: BTreeMap::new(),
            },
        );
        Ok(info)
    }
}

#[async_trait]
impl SecretStore for MemStore {
    async fn lookup_secret(&self, access_key: &str) -> Result<Option<String>> {
        Ok(self.lock().secrets.get(access_key).cloned())
    }

    async fn get_secret(&self, user: &str) -> Result<String> {
        let mut g = self.lock();
        if g.secrets.contains_key(user) {
            return Err(Error::SecretAlreadyExists(user.to_string()));
        }
        let s = generate_secret();
        g.secrets.insert(user.to_string(), s.clone());
        Ok(s)
    }

    async fn revoke_secret(&self, user: &str) -> Result<()> {
        let removed = self.lock().secrets.remove(user);
        match removed {
            Some(_) => Ok(()),
            None => Err(Error::SecretNotFound(user.to_string())),
        }
    }

    async fn set_secret(&self, user: &str, secret: &str) -> Result<()> {
        check_new_secret(secret)?;
        let mut g = self.lock();
        match g.secrets.get_mut(user) {
            Some(s) => {
                *s = secret.to_string();
                Ok(())
            }
            None => Err(Error::SecretNotFound(user.to_string())),
        }
    }
}
