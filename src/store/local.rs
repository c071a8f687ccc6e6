//! The embedded store, ozfs's default: metadata in redb (an ACID B-tree with ordered keys),
//! object bytes in files under the data directory.
//!
//! Layout of a data directory:
//! ```text
//! meta.redb          redb database (locked by the process that has it open)
//! objects/xx/<id>    data files, named by a version number, never by a key name
//! tmp/<id>           data files being written
//! ```
//! Tables: `volumes` (name → record), `buckets` (`vol/bucket` → record; a real bucket has a
//! numeric id naming its key space, a link a target), `objects` (bucket id, 8 bytes big-endian,
//! followed by the key → object record listing its data files), `uploads` (bucket id, key, NUL,
//! upload id → upload record), `parts` (upload id and part number → part record and its data
//! file), `inline` (version → bytes of an object of at most [`INLINE_MAX`] bytes, committed in
//! the same transaction as its record: one commit, no data file), `versions` (version → its
//! `objects` key, so a version-pinned read follows a rename), `secrets`, and `meta` (counters).
//! A listing is a range scan of `objects`, so a page costs O(page) and a common prefix is
//! skipped with one seek (see [`crate::namespace::listing`]).
//!
//! Contract: a put streams into `tmp/`, is fsynced and renamed into `objects/`, then one redb
//! transaction commits the metadata; the directory is fsynced before that commit is made
//! durable, and only then is the put acknowledged. An overwrite writes a new file and removes the
//! old one after the commit, so a reader (which opens the files before returning) sees the old or
//! the new object, never a mix. A reader that loads a version piece by piece (the page cache)
//! pins it first ([`ObjectStore::pin_version`]): the pin holds the version's segments (or its
//! inline bytes) in a map `read_version` falls back to once the record is gone, and every removal
//! of a pinned data file (overwrite, delete, rename over, abort, complete discarding parts) is
//! deferred to the drop of the last pin. A deferred file that a crash leaves behind is
//! unreferenced, so the next open removes it like any orphan. A put interrupted at any point leaves at most an unreferenced
//! file, which the next [`LocalStore::open`] removes. Multipart parts are files of their own and a
//! completed object lists them; a whole-object copy hard-links the source files. Rename and
//! prefix rename are one transaction each. Hashing happens on its own thread beside the writer,
//! outside any transaction. Concurrent transactions share their fsync (see [`GroupCommit`]): each
//! commits without durability, then waits for one durable commit that covers it before it
//! returns.

mod codec;
mod files;

use crate::error::{Error, NameKind, Result};
use crate::namespace::link::{self, BucketKind};
use crate::namespace::listing::list_page;
use crate::namespace::multipart::{
    check_part_number, composite_checksums, page_parts, page_uploads, validate_complete,
};
use crate::namespace::name::{validate_key, validate_resource_name};
use crate::namespace::rules::{check_condition, copy_attrs, get_range, BodyDigest};
use crate::namespace::BucketPath;
use crate::secrets::SecretStore;
use crate::store::mem::{check_new_secret, check_rename_prefix, check_source_range, generate_secret};
use crate::store::{
    BucketInfo, BucketLayout, BucketUpdate, ByteStream, ChangeEvent, ChangeKind, CompletedPart, CopyOptions,
    GetOptions, GetResult, ListPage, ListRequest, Multipart, Namespace, ObjectAttrs, ObjectInfo, Objects, PartCopy,
    PartInfo, PartsPage, PutOptions, UploadInfo, UploadsPage, UploadsRequest, VersionPin, VolumeInfo, WriteCondition,
};
use async_trait::async_trait;
use codec::{BucketRec, ObjectRec, PartRec, Segment, UploadRec, VolumeRec};
use files::{read_stream, FileGuard, Files, SegHandle};
use redb::{Database, Durability, ReadableTable, TableDefinition, WriteTransaction};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::{Bound, Range};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::broadcast;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const VOLUMES: TableDefinition<&str, &[u8]> = TableDefinition::new("volumes");
const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");
const UPLOADS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("uploads");
const PARTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("parts");
const SECRETS: TableDefinition<&str, &str> = TableDefinition::new("secrets");
/// The bytes of small objects, by version.
const INLINE: TableDefinition<u64, &[u8]> = TableDefinition::new("inline");
/// Where each live object version is (its `objects` key), so a version-pinned read still finds
/// an object that was renamed (the bytes, and so the version, stay the same).
const VERSIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("versions");

/// Objects up to this size keep their bytes in the database (one commit, no data file, no
/// extra fsyncs); larger ones live in data files.
pub const INLINE_MAX: usize = 64 * 1024;

const NEXT_VERSION: &str = "next_version";
const NEXT_BUCKET_ID: &str = "next_bucket_id";
/// Memory redb may use to cache metadata pages (its default, 1 GiB, would blow the process's
/// memory budget; object bytes are cached by the page cache above the store, not here).
const METADATA_CACHE_BYTES: usize = 64 << 20;
/// How many data files a GET opens before returning (the rest open when reached).
const EAGER_OPEN: usize = 64;

/// Map any redb error to a core error (I/O errors keep their kind, so ENOSPC is NoSpace).
fn db<E: Into<redb::Error>>(e: E) -> Error {
    match e.into() {
        redb::Error::Io(io) => Error::from(io),
        other => Error::storage_from("database", other),
    }
}

fn bucket_key(p: &BucketPath) -> String {
    format!("{}/{}", p.volume, p.bucket)
}

fn obj_key(id: u64, key: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + key.len());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(key.as_bytes());
    v
}

fn upload_key(id: u64, key: &str, upload_id: &str) -> Vec<u8> {
    let mut v = obj_key(id, key);
    v.push(0);
    v.extend_from_slice(upload_id.as_bytes());
    v
}

fn part_key(upload_id: &str, n: u32) -> Vec<u8> {
    let mut v = upload_id.as_bytes().to_vec();
    v.extend_from_slice(&n.to_be_bytes());
    v
}

fn get_bucket(t: &impl ReadableTable<&'static str, &'static [u8]>, p: &BucketPath) -> Result<Option<BucketRec>> {
    match t.get(bucket_key(p).as_str()).map_err(db)? {
        Some(v) => Ok(Some(BucketRec::decode(v.value())?)),
        None => Ok(None),
    }
}

/// Follow links to the real bucket and return it with its record.
fn resolve_in(t: &impl ReadableTable<&'static str, &'static [u8]>, p: &BucketPath) -> Result<(BucketPath, BucketRec)> {
    let real = link::resolve(p, |q| {
        Ok(get_bucket(t, q)?.map(|r| match r.link_target {
            Some(target) => BucketKind::Link(target),
            None => BucketKind::Real,
        }))
    })?;
    let rec = get_bucket(t, &real)?.ok_or_else(|| Error::NoSuchBucket(p.bucket.clone()))?;
    Ok((real, rec))
}

fn get_object_rec(t: &impl ReadableTable<&'static [u8], &'static [u8]>, k: &[u8]) -> Result<Option<ObjectRec>> {
    match t.get(k).map_err(db)? {
        Some(v) => Ok(Some(ObjectRec::decode(v.value())?)),
        None => Ok(None),
    }
}

fn object_info(key: &str, r: &ObjectRec) -> ObjectInfo {
    ObjectInfo {
        key: key.to_string(),
        size: r.size,
        etag: r.etag.clone(),
        last_modified: r.last_modified,
        version: r.version,
        owner: r.owner.clone(),
        attrs: r.attrs.clone(),
        parts: if r.multipart {
            r.segments.iter().map(|s| s.size).collect()
        } else {
            Vec::new()
        },
        part_numbers: if r.multipart {
            r.part_numbers.clone()
        } else {
            Vec::new()
        },
    }
}

fn bucket_info(p: &BucketPath, r: &BucketRec) -> BucketInfo {
    BucketInfo {
        volume: p.volume.clone(),
        name: p.bucket.clone(),
        owner: r.owner.clone(),
        created: r.created,
        link_target: r.link_target.clone(),
        acl: r.acl.clone(),
        tags: r.tags.clone(),
        lifecycle: r.lifecycle.clone(),
        layout: r.layout,
    }
}

/// Drop what an object record being replaced or deleted owns inside the transaction (its inline
/// bytes); returns its data files, to remove after the commit.
fn release(txn: &WriteTransaction, old: &ObjectRec) -> Result<Vec<u64>> {
    if old.inline {
        txn.open_table(INLINE).map_err(db)?.remove(old.version).map_err(db)?;
    }
    txn.open_table(VERSIONS).map_err(db)?.remove(old.version).map_err(db)?;
    Ok(old.segments.iter().map(|s| s.file).collect())
}

/// Record that object `version` lives at `objects` key `k`.
fn index_version(txn: &WriteTransaction, version: u64, k: &[u8]) -> Result<()> {
    txn.open_table(VERSIONS).map_err(db)?.insert(version, k).map_err(db)?;
    Ok(())
}

/// Where the bytes of an object being read are.
pub(crate) enum Source {
    Inline(bytes::Bytes),
    Files(Vec<Arc<SegHandle>>),
}

/// A lazy body for `range` of an object whose bytes are at `src`.
fn body_of(files: &Arc<Files>, src: Source, range: Range<u64>, key: &str) -> ByteStream {
    match src {
        Source::Inline(b) => crate::store::body_from_bytes(b.slice(range.start as usize..range.end as usize)),
        Source::Files(handles) => read_stream(files.clone(), handles, range, key.to_string()),
    }
}

/// Record that versions below `next` are used.
fn bump_version(txn: &WriteTransaction, next: u64) -> Result<()> {
    let mut meta = txn.open_table(META).map_err(db)?;
    let cur = meta.get(NEXT_VERSION).map_err(db)?.map(|v| v.value()).unwrap_or(0);
    if next > cur {
        meta.insert(NEXT_VERSION, next).map_err(db)?;
    }
    Ok(())
}

fn read_inline(txn: &redb::ReadTransaction, version: u64) -> Result<bytes::Bytes> {
    let t = txn.open_table(INLINE).map_err(db)?;
    let v = t
        .get(version)
        .map_err(db)?
        .ok_or_else(|| Error::storage(format!("inline bytes of version {version} are missing")))?;
    Ok(bytes::Bytes::copy_from_slice(v.value()))
}

fn part_info(n: u32, p: &PartRec) -> PartInfo {
    PartInfo {
        part_number: n,
        etag: p.etag.clone(),
        size: p.size,
        last_modified: p.last_modified,
        checksums: p.checksums.clone(),
    }
}

/// All parts of an upload, ascending.
fn parts_of(t: &impl ReadableTable<&'static [u8], &'static [u8]>, upload_id: &str) -> Result<Vec<(u32, PartRec)>> {
    let lo = part_key(upload_id, 0);
    let hi = part_key(upload_id, u32::MAX);
    let mut out = Vec::new();
    for e in t.range::<&[u8]>(lo.as_slice()..=hi.as_slice()).map_err(db)? {
        let (k, v) = e.map_err(db)?;
        let kb = k.value();
        let n = kb
            .get(kb.len().saturating_sub(4)..)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| Error::storage("malformed part key"))?;
        out.push((n, PartRec::decode(v.value())?));
    }
    Ok(out)
}

struct Inner {
    db: Database,
    files: Arc<Files>,
    next_version: AtomicU64,
    changes: broadcast::Sender<ChangeEvent>,
    dir: PathBuf,
    sync: GroupCommit,
    /// Versions pinned by readers ([`ObjectStore::pin_version`]), by version.
    pinned: Arc<Mutex<HashMap<u64, PinnedVersion>>>,
}

/// What a pinned version's bytes are, kept so `read_version` finds it after its record is gone.
struct PinnedVersion {
    /// How many [`LocalPin`]s hold it.
    count: usize,
    /// The bytes of an inline object (its `inline` entry goes with its record).
    inline: Option<bytes::Bytes>,
    /// The data files of a file-backed object (their removal is deferred while pinned).
    segments: Vec<Segment>,
}

/// The guard inside a [`VersionPin`] of the embedded store. Dropping the last pin of a version
/// forgets it and removes the data files an overwrite or delete left to it.
struct LocalPin {
    pinned: Arc<Mutex<HashMap<u64, PinnedVersion>>>,
    files: Arc<Files>,
    version: u64,
    ids: Vec<u64>,
}

impl Drop for LocalPin {
    fn drop(&mut self) {
        {
            let mut m = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(p) = m.get_mut(&self.version) {
                p.count -= 1;
                if p.count == 0 {
                    m.remove(&self.version);
                }
            }
        }
        let gone = self.files.unpin(&self.ids);
        if gone.is_empty() {
            return;
        }
        // Unlinking large files blocks: off the executor when there is one.
        let files = self.files.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(h) => drop(h.spawn_blocking(move || files.remove_now(gone))),
            Err(_) => files.remove_now(gone),
        }
    }
}

/// Group commit. Each write transaction commits without durability (no fsync, serialized by
/// redb but short), then waits until a durable commit covers it. The first waiter that finds no
/// durable commit in flight makes one (a tiny transaction with immediate durability, which
/// persists every commit made before it); the others wait for it, so concurrent writers share one
/// fsync. A writer returns — and removes data files its transaction released — only once durable.
#[derive(Default)]
struct GroupCommit {
    state: std::sync::Mutex<SyncState>,
    cv: std::sync::Condvar,
}

#[derive(Default)]
struct SyncState {
    /// Commits made (counted after `commit` returned).
    committed: u64,
    /// Commits known durable.
    durable: u64,
    syncing: bool,
    /// The last durable commit failed (its message), for the commits it should have covered.
    failed: Option<(u64, String)>,
}

impl Inner {
    fn alloc(&self) -> u64 {
        self.next_version.fetch_add(1, Ordering::Relaxed)
    }

    /// Run `f` in one write transaction; returns once the commit is durable (group commit).
    fn write<T>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T>) -> Result<T> {
        let (out, durable) = self.write_staged(f)?;
        durable?;
        Ok(out)
    }

    /// [`Inner::write`] telling apart "not committed" (the outer error) from "committed, but the
    /// durable commit failed" (the inner one). In the second case the commit is visible in this
    /// process, so the data files it references must stay; if it never becomes durable, the next
    /// open removes them as unreferenced.
    fn write_staged<T>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T>) -> Result<(T, Result<()>)> {
        let started = std::time::Instant::now();
        let mut txn = self.db.begin_write().map_err(db)?;
        txn.set_durability(Durability::None);
        let out = f(&txn)?;
        txn.commit().map_err(db)?;
        let seq = {
            let mut st = self.sync.state.lock().unwrap_or_else(|e| e.into_inner());
            st.committed += 1;
            st.committed
        };
        let durable = self.wait_durable(seq);
        crate::metrics::store_commit(started.elapsed());
        Ok((out, durable))
    }

    /// Wait until commit number `seq` is durable, making a durable commit if none is in flight.
    fn wait_durable(&self, seq: u64) -> Result<()> {
        let mut st = self.sync.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if st.durable >= seq {
                return Ok(());
            }
            if let Some((upto, msg)) = &st.failed {
                if *upto >= seq {
                    return Err(Error::storage(format!("durable commit failed: {msg}")));
                }
            }
            if !st.syncing {
                st.syncing = true;
                let target = st.committed;
                drop(st);
                let r = self.durable_commit(target);
                st = self.sync.state.lock().unwrap_or_else(|e| e.into_inner());
                st.syncing = false;
                self.sync.cv.notify_all();
                match r {
                    Ok(()) => st.durable = st.durable.max(target),
                    Err(e) => {
                        st.failed = Some((target, e.to_string()));
                        return Err(e);
                    }
                }
            } else {
                st = self.sync.cv.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    /// A durable commit: persists every commit made before it.
    fn durable_commit(&self, target: u64) -> Result<()> {
        // Directory entries of new data files first, then the metadata that references them.
        self.files.sync_dirty_dirs()?;
        let mut txn = self.db.begin_write().map_err(db)?;
        txn.set_durability(Durability::Immediate);
        txn.open_table(META)
            .map_err(db)?
            .insert("durable_seq", target)
            .map_err(db)?;
        txn.commit().map_err(db)
    }

    fn read(&self) -> Result<redb::ReadTransaction> {
        self.db.begin_read().map_err(db)
    }

    fn resolve(&self, p: &BucketPath) -> Result<(BucketPath, BucketRec)> {
        let txn = self.read()?;
        let buckets = txn.open_table(BUCKETS).map_err(db)?;
        resolve_in(&buckets, p)
    }

    fn emit(&self, bucket: &BucketPath, key: &str, kind: ChangeKind) {
        let _ = self.changes.send(ChangeEvent {
            bucket: bucket.clone(),
            key: key.to_string(),
            kind,
        });
    }

    fn volume_exists(&self, txn: &redb::ReadTransaction, name: &str) -> Result<()> {
        let vols = txn.open_table(VOLUMES).map_err(db)?;
        if vols.get(name).map_err(db)?.is_none() {
            return Err(Error::NoSuchVolume(name.to_string()));
        }
        Ok(())
    }

    /// Look up an object and open its data files (those covering `range`, up to [`EAGER_OPEN`]),
    /// retrying when an overwrite removed a file between the lookup and the open.
    fn open_object(
        &self,
        bucket: &BucketPath,
        key: &str,
        want_version: Option<u64>,
        range_of: &dyn Fn(&ObjectInfo) -> Result<Range<u64>>,
    ) -> Result<(ObjectInfo, Source, Range<u64>)> {
        for _ in 0..8 {
            let txn = self.read()?;
            let (_, b) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, bucket)?;
            let objs = txn.open_table(OBJECTS).map_err(db)?;
            let mut rec = get_object_rec(&objs, &obj_key(b.id, key))?;
            let mut found_key = key.to_string();
            if let Some(v) = want_version {
                if rec.as_ref().map(|r| r.version) != Some(v) {
                    // Renamed since? Follow the version to its current key in this bucket.
                    rec = None;
                    let versions = txn.open_table(VERSIONS).map_err(db)?;
                    if let Some(k) = versions.get(v).map_err(db)? {
                        let k = k.value();
                        if k.len() >= 8 && k[..8] == b.id.to_be_bytes() {
                            if let Some(r) = get_object_rec(&objs, k)?.filter(|r| r.version == v) {
                                found_key = String::from_utf8_lossy(&k[8..]).into_owned();
                                rec = Some(r);
                            }
                        }
                    }
                }
            }
            drop(objs);
            let rec = match (rec, want_version) {
                (Some(r), _) => r,
                (None, Some(_)) => return Err(Error::ObjectChanged(key.to_string())),
                (None, None) => return Err(Error::NoSuchKey(key.to_string())),
            };
            let info = object_info(&found_key, &rec);
            let range = range_of(&info)?;
            if rec.inline {
                let data = read_inline(&txn, rec.version)?;
                return Ok((info, Source::Inline(data), range));
            }
            drop(txn);
            let mut handles = Vec::with_capacity(rec.segments.len());
            let mut start = 0u64;
            let mut opened = 0usize;
            let mut gone = false;
            for s in &rec.segments {
                let end = start + s.size;
                let overlaps = start < range.end && end > range.start;
                let file = if overlaps && opened < EAGER_OPEN {
                    opened += 1;
                    match self.files.open_file(s.file) {
                        Ok(f) => Some(f),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            gone = true;
                            break;
                        }
                        Err(e) => return Err(e.into()),
                    }
                } else {
                    None
                };
                handles.push(SegHandle::new(*s, file));
                start = end;
            }
            if !gone {
                return Ok((info, Source::Files(handles), range));
            }
            if want_version.is_some() {
                return Err(Error::ObjectChanged(key.to_string()));
            }
        }
        Err(Error::ObjectChanged(key.to_string()))
    }

    /// Pin `version` (found at `key` of `bucket`, or already pinned): its bytes stay readable by
    /// [`Inner::pinned_source`] until the returned guard drops.
    fn pin_version(&self, bucket: &BucketPath, key: &str, version: u64) -> Result<LocalPin> {
        let held = self
            .pinned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&version)
            .map(|p| (p.inline.clone(), p.segments.clone()));
        let (inline, segments) = match held {
            Some(h) => h,
            None => match self.open_object(bucket, key, Some(version), &|_| Ok(0..0))? {
                (_, Source::Inline(b), _) => (Some(b), Vec::new()),
                (_, Source::Files(h), _) => (None, h.iter().map(|s| s.seg).collect()),
            },
        };
        let ids: Vec<u64> = segments.iter().map(|s| s.file).collect();
        if !self.files.pin(&ids) {
            return Err(Error::ObjectChanged(key.to_string()));
        }
        self.pinned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(version)
            .or_insert_with(|| PinnedVersion {
                count: 0,
                inline,
                segments,
            })
            .count += 1;
        Ok(LocalPin {
            pinned: self.pinned.clone(),
            files: self.files.clone(),
            version,
            ids,
        })
    }

    /// The bytes of a pinned version, if it is pinned.
    fn pinned_source(&self, version: u64) -> Option<Source> {
        let m = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
        let p = m.get(&version)?;
        Some(match &p.inline {
            Some(b) => Source::Inline(b.clone()),
            None => Source::Files(p.segments.iter().map(|s| SegHandle::new(*s, None)).collect()),
        })
    }

    /// Commit an object record at `key` of `bucket`, checking `cond` against the current one
    /// atomically. Data files in `guards` are kept on success and removed on failure; the
    /// replaced object's files are removed after the commit.
    /// `inline` holds the bytes of an inline record.
    fn commit_object(
        &self,
        bucket: &BucketPath,
        key: &str,
        mut rec: ObjectRec,
        cond: &WriteCondition,
        guards: Vec<FileGuard>,
        inline: Option<&[u8]>,
    ) -> Result<(BucketPath, ObjectInfo)> {
        let ((real, old_files, info), durable) = self.write_staged(|txn| {
            let (real, b) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, bucket)?;
            let mut objs = txn.open_table(OBJECTS).map_err(db)?;
            let k = obj_key(b.id, key);
            let cur = get_object_rec(&objs, &k)?;
            check_condition(cond, cur.as_ref().map(|c| c.etag.as_str()))?;
            if rec.owner.is_empty() {
                rec.owner = b.owner.clone();
            }
            rec.inline = inline.is_some();
            objs.insert(k.as_slice(), rec.encode().as_slice()).map_err(db)?;
            drop(objs);
            let old_files = match &cur {
                Some(c) => release(txn, c)?,
                None => Vec::new(),
            };
            if let Some(data) = inline {
                txn.open_table(INLINE)
                    .map_err(db)?
                    .insert(rec.version, data)
                    .map_err(db)?;
            }
            index_version(txn, rec.version, &k)?;
            bump_version(txn, rec.version + 1)?;
            Ok((real, old_files, object_info(key, &rec)))
        })?;
        for g in guards {
            g.disarm();
        }
        durable?;
        self.files.remove(old_files);
        Ok((real, info))
    }

    /// Commit a part record, replacing (and removing the file of) an earlier upload of that part.
    fn commit_part(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        n: u32,
        rec: PartRec,
        guard: FileGuard,
    ) -> Result<PartInfo> {
        let (old, durable) = self.write_staged(|txn| {
            let (_, b) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, bucket)?;
            let uploads = txn.open_table(UPLOADS).map_err(db)?;
            if uploads
                .get(upload_key(b.id, key, upload_id).as_slice())
                .map_err(db)?
                .is_none()
            {
                return Err(Error::NoSuchUpload(upload_id.to_string()));
            }
            drop(uploads);
            let mut parts = txn.open_table(PARTS).map_err(db)?;
            let old = parts
                .insert(part_key(upload_id, n).as_slice(), rec.encode().as_slice())
                .map_err(db)?
                .map(|v| PartRec::decode(v.value()))
                .transpose()?;
            drop(parts);
            bump_version(txn, rec.file + 1)?;
            Ok(old)
        })?;
        guard.disarm();
        durable?;
        if let Some(old) = old {
            self.files.remove([old.file]);
        }
        Ok(part_info(n, &rec))
    }

    fn check_upload(&self, bucket: &BucketPath, key: &str, upload_id: &str) -> Result<()> {
        let txn = self.read()?;
        let (_, b) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, bucket)?;
        let uploads = txn.open_table(UPLOADS).map_err(db)?;
        if uploads
            .get(upload_key(b.id, key, upload_id).as_slice())
            .map_err(db)?
            .is_none()
        {
            return Err(Error::NoSuchUpload(upload_id.to_string()));
        }
        Ok(())
    }

    fn create_record(&self, bucket: &BucketPath, target: Option<BucketPath>, owner: &str) -> Result<BucketInfo> {
        validate_resource_name(NameKind::Bucket, &bucket.bucket)?;
        self.write(|txn| {
            let vols = txn.open_table(VOLUMES).map_err(db)?;
            if vols.get(bucket.volume.as_str()).map_err(db)?.is_none() {
                return Err(Error::NoSuchVolume(bucket.volume.clone()));
            }
            drop(vols);
            let mut buckets = txn.open_table(BUCKETS).map_err(db)?;
            if let Some(existing) = get_bucket(&buckets, bucket)? {
                return Err(Error::BucketAlreadyExists {
                    name: bucket.bucket.clone(),
                    owner: existing.owner,
                });
            }
            let id = if target.is_some() {
                0
            } else {
                let mut meta = txn.open_table(META).map_err(db)?;
                let id = meta.get(NEXT_BUCKET_ID).map_err(db)?.map(|v| v.value()).unwrap_or(1);
                meta.insert(NEXT_BUCKET_ID, id + 1).map_err(db)?;
                id
            };
            let rec = BucketRec {
                id,
                owner: owner.to_string(),
                created: SystemTime::now(),
                link_target: target,
                acl: Vec::new(),
                tags: BTreeMap::new(),
                lifecycle: None,
                layout: BucketLayout::default(),
            };
            buckets
                .insert(bucket_key(bucket).as_str(), rec.encode().as_slice())
                .map_err(db)?;
            Ok(bucket_info(bucket, &rec))
        })
    }
}

/// The embedded store. Cheap to clone (shares one open database).
#[derive(Clone)]
pub struct LocalStore {
    inner: Arc<Inner>,
}

/// Create `dir` (parents as usual) private to this user (0700): it holds every object and the
/// S3 secrets. An existing directory that others may enter is tightened to 0700, with a warning.
fn make_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(dir)?.permissions().mode();
            if mode & 0o077 != 0 {
                log::warn!(
                    "data directory {} was accessible to other users (mode {:o}); made it private (0700)",
                    dir.display(),
                    mode & 0o777
                );
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

impl LocalStore {
    /// Open (creating if needed) the data directory `dir`, with `s3_volume` as the volume the S3
    /// endpoint shows (created if missing). Recovers from an interrupted run: removes every
    /// temporary file and every data file no record references. Fails with [`Error::Storage`]
    /// when another process holds the directory.
    pub fn open(dir: &Path, s3_volume: &str) -> Result<LocalStore> {
        validate_resource_name(NameKind::Volume, s3_volume)?;
        make_private_dir(dir)?;
        let database = match Database::builder()
            .set_cache_size(METADATA_CACHE_BYTES)
            .create(dir.join("meta.redb"))
        {
            Ok(d) => d,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(Error::storage(format!(
                    "another ozfs process holds the data directory {}",
                    dir.display()
                )))
            }
            Err(e) => return Err(db(e)),
        };
        let files = Arc::new(Files::open(dir)?);
        // Create the tables and the S3 volume.
        let mut txn = database.begin_write().map_err(db)?;
        txn.set_durability(Durability::Immediate);
        {
            txn.open_table(META).map_err(db)?;
            txn.open_table(BUCKETS).map_err(db)?;
            txn.open_table(OBJECTS).map_err(db)?;
            txn.open_table(UPLOADS).map_err(db)?;
            txn.open_table(PARTS).map_err(db)?;
            txn.open_table(SECRETS).map_err(db)?;
            txn.open_table(INLINE).map_err(db)?;
            txn.open_table(VERSIONS).map_err(db)?;
            let mut vols = txn.open_table(VOLUMES).map_err(db)?;
            if vols.get(s3_volume).map_err(db)?.is_none() {
                let rec = VolumeRec {
                    owner: "admin".into(),
                    created: SystemTime::now(),
                };
                vols.insert(s3_volume, rec.encode().as_slice()).map_err(db)?;
            }
        }
        txn.commit().map_err(db)?;
        // Every data file a record references (and every inline body).
        let mut referenced = HashSet::new();
        let mut inline_refs = HashSet::new();
        let mut versions: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut max_ref = 0u64;
        let stored_next;
        {
            let txn = database.begin_read().map_err(db)?;
            for e in txn.open_table(OBJECTS).map_err(db)?.iter().map_err(db)? {
                let (k, v) = e.map_err(db)?;
                let r = ObjectRec::decode(v.value())?;
                versions.push((r.version, k.value().to_vec()));
                max_ref = max_ref.max(r.version);
                if r.inline {
                    inline_refs.insert(r.version);
                }
                for s in r.segments {
                    max_ref = max_ref.max(s.file);
                    referenced.insert(s.file);
                }
            }
            for e in txn.open_table(PARTS).map_err(db)?.iter().map_err(db)? {
                let (_, v) = e.map_err(db)?;
                let r = PartRec::decode(v.value())?;
                max_ref = max_ref.max(r.file);
                referenced.insert(r.file);
            }
            stored_next = txn
                .open_table(META)
                .map_err(db)?
                .get(NEXT_VERSION)
                .map_err(db)?
                .map(|v| v.value())
                .unwrap_or(1);
        }
        // Inline bodies no record references (none should exist: they are released in the
        // transaction that drops their record) are removed too.
        let mut txn = database.begin_write().map_err(db)?;
        txn.set_durability(Durability::Immediate);
        let stray_inline = {
            let mut t = txn.open_table(INLINE).map_err(db)?;
            let mut stray = Vec::new();
            for e in t.iter().map_err(db)? {
                let (k, _) = e.map_err(db)?;
                if !inline_refs.contains(&k.value()) {
                    stray.push(k.value());
                }
            }
            for v in &stray {
                t.remove(*v).map_err(db)?;
            }
            stray.len()
        };
        {
            // The version index must list exactly the live objects; rebuild it if it does not
            // (a data directory written before the index existed).
            let mut t = txn.open_table(VERSIONS).map_err(db)?;
            let consistent = redb::ReadableTableMetadata::len(&t).map_err(db)? == versions.len() as u64
                && versions.iter().try_fold(true, |ok, (v, k)| -> Result<bool> {
                    Ok(ok && t.get(*v).map_err(db)?.is_some_and(|g| g.value() == k.as_slice()))
                })?;
            if !consistent {
                t.retain(|_, _| false).map_err(db)?;
                for (v, k) in &versions {
                    t.insert(*v, k.as_slice()).map_err(db)?;
                }
            }
        }
        txn.commit().map_err(db)?;
        if stray_inline > 0 {
            log::warn!(
                "recovery of {}: removed {stray_inline} unreferenced inline bodies",
                dir.display()
            );
        }
        let rec = files.recover(&referenced)?;
        if rec.removed_tmp + rec.removed_orphans > 0 {
            log::info!(
                "recovery of {}: removed {} temporary and {} unreferenced data files",
                dir.display(),
                rec.removed_tmp,
                rec.removed_orphans
            );
        }
        let next = stored_next.max(max_ref + 1).max(rec.max_id + 1).max(1);
        Ok(LocalStore {
            inner: Arc::new(Inner {
                db: database,
                files,
                next_version: AtomicU64::new(next),
                changes: broadcast::channel(1024).0,
                dir: dir.to_path_buf(),
                sync: GroupCommit::default(),
                pinned: Arc::default(),
            }),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Run blocking work (redb, file system) off the async executor.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&Inner) -> Result<T> + Send + 'static) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| Error::storage_from("store task failed", e))?
    }

    /// Stream `range` of `src_key` into a new data file; returns the file's digests and guard.
    async fn copy_range_to_file(
        &self,
        src_bucket: &BucketPath,
        src_key: &str,
        range: Option<Range<u64>>,
    ) -> Result<(u64, crate::namespace::rules::Digests, FileGuard, ObjectInfo, Range<u64>)> {
        let (sb, sk) = (src_bucket.clone(), src_key.to_string());
        let (info, src, r) = self
            .run(move |i| {
                i.open_object(&sb, &sk, None, &|info: &ObjectInfo| {
                    let r = range.clone().unwrap_or(0..info.size);
                    check_source_range(&r, info.size)?;
                    Ok(r)
                })
            })
            .await?;
        let body = body_of(&self.inner.files, src, r.clone(), src_key);
        let id = self.inner.alloc();
        let (d, guard) = self
            .inner
            .files
            .write(id, body, BodyDigest::new(&PutOptions::default()))
            .await?;
        Ok((id, d, guard, info, r))
    }
}

#[async_trait]
impl Namespace for LocalStore {
    async fn create_volume(&self, name: &str, owner: &str) -> Result<VolumeInfo> {
        validate_resource_name(NameKind::Volume, name)?;
        let (name, owner) = (name.to_string(), owner.to_string());
        self.run(move |i| {
            i.write(|txn| {
                let mut vols = txn.open_table(VOLUMES).map_err(db)?;
                if vols.get(name.as_str()).map_err(db)?.is_some() {
                    return Err(Error::VolumeAlreadyExists(name.clone()));
                }
                let rec = VolumeRec {
                    owner: owner.clone(),
                    created: SystemTime::now(),
                };
                vols.insert(name.as_str(), rec.encode().as_slice()).map_err(db)?;
                Ok(VolumeInfo {
                    name: name.clone(),
                    owner: rec.owner,
                    created: rec.created,
                })
            })
        })
        .await
    }
    async fn delete_volume(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.run(move |i| {
            i.write(|txn| {
                let mut vols = txn.open_table(VOLUMES).map_err(db)?;
                if vols.get(name.as_str()).map_err(db)?.is_none() {
                    return Err(Error::NoSuchVolume(name.clone()));
                }
                let buckets = txn.open_table(BUCKETS).map_err(db)?;
                let (lo, hi) = (format!("{name}/"), format!("{name}0"));
                if buckets
                    .range::<&str>(lo.as_str()..hi.as_str())
                    .map_err(db)?
                    .next()
                    .is_some()
                {
                    return Err(Error::VolumeNotEmpty(name.clone()));
                }
                vols.remove(name.as_str()).map_err(db)?;
                Ok(())
            })
        })
        .await
    }
    async fn volume_info(&self, name: &str) -> Result<VolumeInfo> {
        let name = name.to_string();
        self.run(move |i| {
            let txn = i.read()?;
            let vols = txn.open_table(VOLUMES).map_err(db)?;
            let v = vols.get(name.as_str()).map_err(db)?;
            let rec = VolumeRec::decode(v.ok_or_else(|| Error::NoSuchVolume(name.clone()))?.value())?;
            Ok(VolumeInfo {
                name: name.clone(),
                owner: rec.owner,
                created: rec.created,
            })
        })
        .await
    }
    async fn list_volumes(&self) -> Result<Vec<VolumeInfo>> {
        self.run(|i| {
            let txn = i.read()?;
            let vols = txn.open_table(VOLUMES).map_err(db)?;
            let mut out = Vec::new();
            for e in vols.iter().map_err(db)? {
                let (k, v) = e.map_err(db)?;
                let rec = VolumeRec::decode(v.value())?;
                out.push(VolumeInfo {
                    name: k.value().to_string(),
                    owner: rec.owner,
                    created: rec.created,
                });
            }
            Ok(out)
        })
        .await
    }
    async fn create_bucket(&self, bucket: &BucketPath, owner: &str) -> Result<BucketInfo> {
        let (b, o) = (bucket.clone(), owner.to_string());
        self.run(move |i| i.create_record(&b, None, &o)).await
    }
    async fn create_link(&self, link: &BucketPath, target: &BucketPath, owner: &str) -> Result<BucketInfo> {
        validate_resource_name(NameKind::Volume, &target.volume)?;
        validate_resource_name(NameKind::Bucket, &target.bucket)?;
        let (l, t, o) = (link.clone(), target.clone(), owner.to_string());
        self.run(move |i| i.create_record(&l, Some(t), &o)).await
    }
    async fn delete_bucket(&self, bucket: &BucketPath) -> Result<()> {
        let b = bucket.clone();
        self.run(move |i| {
            i.write(|txn| {
                let vols = txn.open_table(VOLUMES).map_err(db)?;
                if vols.get(b.volume.as_str()).map_err(db)?.is_none() {
                    return Err(Error::NoSuchVolume(b.volume.clone()));
                }
                drop(vols);
                let mut buckets = txn.open_table(BUCKETS).map_err(db)?;
                let rec = get_bucket(&buckets, &b)?.ok_or_else(|| Error::NoSuchBucket(b.bucket.clone()))?;
                if rec.link_target.is_none() {
                    let lo = rec.id.to_be_bytes();
                    let hi = (rec.id + 1).to_be_bytes();
                    let objs = txn.open_table(OBJECTS).map_err(db)?;
                    let uploads = txn.open_table(UPLOADS).map_err(db)?;
                    let has_obj = objs.range::<&[u8]>(&lo[..]..&hi[..]).map_err(db)?.next().is_some();
                    let has_up = uploads.range::<&[u8]>(&lo[..]..&hi[..]).map_err(db)?.next().is_some();
                    if has_obj || has_up {
                        return Err(Error::BucketNotEmpty(b.bucket.clone()));
                    }
                }
                buckets.remove(bucket_key(&b).as_str()).map_err(db)?;
                Ok(())
            })
        })
        .await
    }
    async fn bucket_info(&self, bucket: &BucketPath) -> Result<BucketInfo> {
        let b = bucket.clone();
        self.run(move |i| {
            let txn = i.read()?;
            i.volume_exists(&txn, &b.volume)?;
            let buckets = txn.open_table(BUCKETS).map_err(db)?;
            let rec = get_bucket(&buckets, &b)?.ok_or_else(|| Error::NoSuchBucket(b.bucket.clone()))?;
            Ok(bucket_info(&b, &rec))
        })
        .await
    }
    async fn list_buckets(&self, volume: &str) -> Result<Vec<BucketInfo>> {
        let v = volume.to_string();
        self.run(move |i| {
            let txn = i.read()?;
            i.volume_exists(&txn, &v)?;
            let buckets = txn.open_table(BUCKETS).map_err(db)?;
            let (lo, hi) = (format!("{v}/"), format!("{v}0"));
            let mut out = Vec::new();
            for e in buckets.range::<&str>(lo.as_str()..hi.as_str()).map_err(db)? {
                let (k, val) = e.map_err(db)?;
                let name = k.value()[lo.len()..].to_string();
                out.push(bucket_info(
                    &BucketPath::new(v.clone(), name),
                    &BucketRec::decode(val.value())?,
                ));
            }
            Ok(out)
        })
        .await
    }
    async fn update_bucket(&self, bucket: &BucketPath, update: BucketUpdate) -> Result<BucketInfo> {
        let b = bucket.clone();
        self.run(move |i| {
            i.write(|txn| {
                let mut buckets = txn.open_table(BUCKETS).map_err(db)?;
                let (real, mut rec) = resolve_in(&buckets, &b)?;
                match update {
                    BucketUpdate::Acl(acl) => rec.acl = acl,
                    BucketUpdate::Tags(tags) => rec.tags = tags,
                    BucketUpdate::Lifecycle(l) => rec.lifecycle = l,
                    BucketUpdate::Layout(l) => rec.layout = l,
                }
                buckets
                    .insert(bucket_key(&real).as_str(), rec.encode().as_slice())
                    .map_err(db)?;
                Ok(bucket_info(&real, &rec))
            })
        })
        .await
    }
    async fn resolve_bucket(&self, bucket: &BucketPath) -> Result<BucketPath> {
        let b = bucket.clone();
        self.run(move |i| i.resolve(&b).map(|(p, _)| p)).await
    }
}

#[async_trait]
impl Objects for LocalStore {
    async fn put_object(
        &self,
        bucket: &BucketPath,
        key: &str,
        body: ByteStream,
        opts: PutOptions,
    ) -> Result<ObjectInfo> {
        validate_key(key)?;
        let b = bucket.clone();
        self.run(move |i| i.resolve(&b)).await?;
        let id = self.inner.alloc();
        let head = files::read_head(body, INLINE_MAX + 1).await?;
        let (b, k) = (bucket.clone(), key.to_string());
        let (real, info) = if head.rest.is_none() && head.len <= INLINE_MAX {
            // Small: the bytes go into the same transaction as the record.
            self.run(move |i| {
                let mut data = Vec::with_capacity(head.len);
                let mut digest = BodyDigest::new(&opts);
                for c in &head.chunks {
                    digest.update(c)?;
                    data.extend_from_slice(c);
                }
                let d = digest.finish()?;
                let mut attrs = opts.attrs;
                attrs.checksums = d.checksums;
                let rec = ObjectRec {
                    size: d.len,
                    etag: d.etag,
                    last_modified: SystemTime::now(),
                    version: id,
                    owner: opts.owner.clone().unwrap_or_default(),
                    attrs,
                    multipart: false,
                    segments: Vec::new(),
                    inline: true,
                    part_numbers: Vec::new(),
                };
                i.commit_object(&b, &k, rec, &opts.condition, Vec::new(), Some(&data))
            })
            .await?
        } else {
            let (d, guard) = self.inner.files.write_head(id, head, BodyDigest::new(&opts)).await?;
            let mut attrs = opts.attrs;
            attrs.checksums = d.checksums;
            let rec = ObjectRec {
                size: d.len,
                etag: d.etag,
                last_modified: SystemTime::now(),
                version: id,
                owner: opts.owner.clone().unwrap_or_default(),
                attrs,
                multipart: false,
                segments: vec![Segment { file: id, size: d.len }],
                inline: false,
                part_numbers: Vec::new(),
            };
            let cond = opts.condition;
            self.run(move |i| i.commit_object(&b, &k, rec, &cond, vec![guard], None))
                .await?
        };
        self.inner.emit(&real, key, ChangeKind::Put);
        Ok(info)
    }
    async fn get_object(&self, bucket: &BucketPath, key: &str, opts: GetOptions) -> Result<GetResult> {
        let (b, k) = (bucket.clone(), key.to_string());
        let (info, src, range) = self
            .run(move |i| {
                i.open_object(&b, &k, None, &|info: &ObjectInfo| {
                    get_range(&opts, info.size, &info.parts, &info.part_numbers)
                })
            })
            .await?;
        let body = body_of(&self.inner.files, src, range.clone(), key);
        Ok(GetResult { info, range, body })
    }
    async fn read_version(&self, bucket: &BucketPath, info: &ObjectInfo, range: Range<u64>) -> Result<ByteStream> {
        let (b, k, v) = (bucket.clone(), info.key.clone(), info.version);
        let r = range.clone();
        let found = self
            .run(move |i| {
                i.open_object(&b, &k, Some(v), &|info: &ObjectInfo| {
                    check_source_range(&r, info.size)?;
                    Ok(r.clone())
                })
            })
            .await;
        match found {
            Ok((_, src, range)) => Ok(body_of(&self.inner.files, src, range, &info.key)),
            // Gone from the metadata (overwritten, deleted): a pin may still hold its bytes.
            Err(Error::ObjectChanged(k)) => match self.inner.pinned_source(v) {
                Some(src) => {
                    check_source_range(&range, info.size)?;
                    Ok(body_of(&self.inner.files, src, range, &info.key))
                }
                None => Err(Error::ObjectChanged(k)),
            },
            Err(e) => Err(e),
        }
    }
    async fn pin_version(&self, bucket: &BucketPath, info: &ObjectInfo) -> Result<VersionPin> {
        let (b, k, v) = (bucket.clone(), info.key.clone(), info.version);
        let pin = self.run(move |i| i.pin_version(&b, &k, v)).await?;
        Ok(VersionPin::new(pin))
    }
    async fn head_object(&self, bucket: &BucketPath, key: &str) -> Result<ObjectInfo> {
        let (b, k) = (bucket.clone(), key.to_string());
        self.run(move |i| {
            let txn = i.read()?;
            let (_, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
            let objs = txn.open_table(OBJECTS).map_err(db)?;
            let o = get_object_rec(&objs, &obj_key(rec.id, &k))?.ok_or_else(|| Error::NoSuchKey(k.clone()))?;
            Ok(object_info(&k, &o))
        })
        .await
    }
    async fn delete_object(&self, bucket: &BucketPath, key: &str, if_match: Option<&str>) -> Result<()> {
        let (b, k, im) = (bucket.clone(), key.to_string(), if_match.map(str::to_string));
        let (real, old) = self
            .run(move |i| {
                let (real, old, files) = i.write(|txn| {
                    let (real, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
                    let mut objs = txn.open_table(OBJECTS).map_err(db)?;
                    let ok = obj_key(rec.id, &k);
                    let cur = get_object_rec(&objs, &ok)?;
                    if let Some(want) = im {
                        check_condition(&WriteCondition::IfMatch(want), cur.as_ref().map(|c| c.etag.as_str()))?;
                    }
                    let mut files = Vec::new();
                    if let Some(c) = &cur {
                        objs.remove(ok.as_slice()).map_err(db)?;
                        drop(objs);
                        files = release(txn, c)?;
                    }
                    Ok((real, cur, files))
                })?;
                i.files.remove(files);
                Ok((real, old))
            })
            .await?;
        if old.is_some() {
            self.inner.emit(&real, key, ChangeKind::Delete);
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
        let db_ = dst_bucket.clone();
        self.run(move |i| i.resolve(&db_)).await?;
        let rec = if let Some(range) = opts.source_range.clone() {
            let (id, d, guard, src, r) = self.copy_range_to_file(src_bucket, src_key, Some(range)).await?;
            let whole = r.start == 0 && r.end == src.size && src.parts.is_empty();
            (
                ObjectRec {
                    size: d.len,
                    etag: d.etag,
                    last_modified: SystemTime::now(),
                    version: id,
                    owner: opts.owner.clone().unwrap_or_default(),
                    attrs: copy_attrs(&src.attrs, &opts, whole),
                    multipart: false,
                    segments: vec![Segment { file: id, size: d.len }],
                    inline: false,
                    part_numbers: Vec::new(),
                },
                vec![guard],
                None,
            )
        } else {
            // Whole copy: hard-link the source's files under new ids.
            let (sb, sk) = (src_bucket.clone(), src_key.to_string());
            let opts2 = opts.clone();
            self.run(move |i| {
                for _ in 0..8 {
                    let txn = i.read()?;
                    let (_, b) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &sb)?;
                    let objs = txn.open_table(OBJECTS).map_err(db)?;
                    let src =
                        get_object_rec(&objs, &obj_key(b.id, &sk))?.ok_or_else(|| Error::NoSuchKey(sk.clone()))?;
                    drop(objs);
                    let inline = if src.inline {
                        Some(read_inline(&txn, src.version)?.to_vec())
                    } else {
                        None
                    };
                    drop(txn);
                    let mut guards = Vec::new();
                    let mut segments = Vec::new();
                    let mut vanished = false;
                    for s in &src.segments {
                        let id = i.alloc();
                        match i.files.clone_file(s.file, id) {
                            Ok(g) => guards.push(g),
                            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                                vanished = true;
                                break;
                            }
                            Err(e) => return Err(e),
                        }
                        segments.push(Segment { file: id, size: s.size });
                    }
                    if vanished {
                        continue; // the source was replaced meanwhile: copy the new one
                    }
                    let rec = ObjectRec {
                        size: src.size,
                        etag: src.etag.clone(),
                        last_modified: SystemTime::now(),
                        version: i.alloc(),
                        owner: opts2.owner.clone().unwrap_or_default(),
                        attrs: copy_attrs(&src.attrs, &opts2, true),
                        multipart: src.multipart,
                        segments,
                        inline: src.inline,
                        part_numbers: src.part_numbers.clone(),
                    };
                    return Ok((rec, guards, inline));
                }
                Err(Error::ObjectChanged(sk.clone()))
            })
            .await?
        };
        let (b, k, cond) = (dst_bucket.clone(), dst_key.to_string(), opts.condition);
        let (real, info) = self
            .run(move |i| i.commit_object(&b, &k, rec.0, &cond, rec.1, rec.2.as_deref()))
            .await?;
        self.inner.emit(&real, dst_key, ChangeKind::Put);
        Ok(info)
    }
    async fn set_attrs(&self, bucket: &BucketPath, key: &str, attrs: ObjectAttrs) -> Result<ObjectInfo> {
        let (b, k) = (bucket.clone(), key.to_string());
        let (real, info) = self
            .run(move |i| {
                i.write(|txn| {
                    let (real, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
                    let mut objs = txn.open_table(OBJECTS).map_err(db)?;
                    let ok = obj_key(rec.id, &k);
                    let mut o = get_object_rec(&objs, &ok)?.ok_or_else(|| Error::NoSuchKey(k.clone()))?;
                    let checksums = std::mem::take(&mut o.attrs.checksums);
                    o.attrs = attrs;
                    o.attrs.checksums = checksums;
                    o.last_modified = SystemTime::now();
                    objs.insert(ok.as_slice(), o.encode().as_slice()).map_err(db)?;
                    Ok((real, object_info(&k, &o)))
                })
            })
            .await?;
        self.inner.emit(&real, key, ChangeKind::Put);
        Ok(info)
    }
    async fn rename_object(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<()> {
        validate_key(to)?;
        let (b, f, t) = (bucket.clone(), from.to_string(), to.to_string());
        let moved = self
            .run(move |i| {
                let (real, old) = i.write(|txn| {
                    let (real, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
                    let mut objs = txn.open_table(OBJECTS).map_err(db)?;
                    let fk = obj_key(rec.id, &f);
                    let o = get_object_rec(&objs, &fk)?.ok_or_else(|| Error::NoSuchKey(f.clone()))?;
                    if f == t {
                        return Ok((None, Vec::new()));
                    }
                    objs.remove(fk.as_slice()).map_err(db)?;
                    let tk = obj_key(rec.id, &t);
                    index_version(txn, o.version, &tk)?;
                    let old = objs
                        .insert(tk.as_slice(), o.encode().as_slice())
                        .map_err(db)?
                        .map(|v| ObjectRec::decode(v.value()))
                        .transpose()?;
                    drop(objs);
                    let files = match &old {
                        Some(o) => release(txn, o)?,
                        None => Vec::new(),
                    };
                    Ok((Some(real), files))
                })?;
                i.files.remove(old);
                Ok(real)
            })
            .await?;
        if let Some(real) = moved {
            self.inner.emit(&real, from, ChangeKind::Delete);
            self.inner.emit(&real, to, ChangeKind::Put);
        }
        Ok(())
    }
    async fn rename_prefix(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<u64> {
        check_rename_prefix(from, to)?;
        let (b, f, t) = (bucket.clone(), from.to_string(), to.to_string());
        let (real, renames) = self
            .run(move |i| {
                let (real, renames, replaced) = i.write(|txn| {
                    let (real, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
                    let mut objs = txn.open_table(OBJECTS).map_err(db)?;
                    let lo = obj_key(rec.id, &f);
                    let mut moving: Vec<(String, String, Vec<u8>)> = Vec::new();
                    for e in objs
                        .range::<&[u8]>((Bound::Included(lo.as_slice()), Bound::Unbounded))
                        .map_err(db)?
                    {
                        let (k, v) = e.map_err(db)?;
                        if !k.value().starts_with(&lo) {
                            break;
                        }
                        let old = String::from_utf8_lossy(&k.value()[8..]).into_owned();
                        let new = format!("{t}{}", &old[f.len()..]);
                        validate_key(&new)?;
                        moving.push((old, new, v.value().to_vec()));
                    }
                    for (old, _, _) in &moving {
                        objs.remove(obj_key(rec.id, old).as_slice()).map_err(db)?;
                    }
                    let mut replaced = Vec::new();
                    let mut moved_versions = Vec::with_capacity(moving.len());
                    for (_, new, v) in &moving {
                        let nk = obj_key(rec.id, new);
                        moved_versions.push((ObjectRec::decode(v)?.version, nk.clone()));
                        if let Some(prev) = objs.insert(nk.as_slice(), v.as_slice()).map_err(db)? {
                            replaced.push(ObjectRec::decode(prev.value())?);
                        }
                    }
                    drop(objs);
                    let mut files = Vec::new();
                    for o in &replaced {
                        files.extend(release(txn, o)?);
                    }
                    for (v, nk) in &moved_versions {
                        index_version(txn, *v, nk)?;
                    }
                    let renames: Vec<(String, String)> = moving.into_iter().map(|(o, n, _)| (o, n)).collect();
                    Ok((real, renames, files))
                })?;
                i.files.remove(replaced);
                Ok((real, renames))
            })
            .await?;
        for (old, new) in &renames {
            self.inner.emit(&real, old, ChangeKind::Delete);
            self.inner.emit(&real, new, ChangeKind::Put);
        }
        Ok(renames.len() as u64)
    }
    async fn list_objects(&self, bucket: &BucketPath, req: ListRequest) -> Result<ListPage> {
        let b = bucket.clone();
        self.run(move |i| {
            let txn = i.read()?;
            let (_, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
            let objs = txn.open_table(OBJECTS).map_err(db)?;
            let idb = rec.id.to_be_bytes();
            let seek = |bound: Bound<&[u8]>| -> Result<Option<(String, ObjectRec)>> {
                let mut k;
                let lo = match bound {
                    Bound::Included(x) => {
                        k = idb.to_vec();
                        k.extend_from_slice(x);
                        Bound::Included(k.as_slice())
                    }
                    Bound::Excluded(x) => {
                        k = idb.to_vec();
                        k.extend_from_slice(x);
                        Bound::Excluded(k.as_slice())
                    }
                    Bound::Unbounded => {
                        k = idb.to_vec();
                        Bound::Included(k.as_slice())
                    }
                };
                let mut it = objs.range::<&[u8]>((lo, Bound::Unbounded)).map_err(db)?;
                match it.next() {
                    Some(e) => {
                        let (kk, v) = e.map_err(db)?;
                        if !kk.value().starts_with(&idb) {
                            return Ok(None);
                        }
                        let key = String::from_utf8_lossy(&kk.value()[8..]).into_owned();
                        Ok(Some((key, ObjectRec::decode(v.value())?)))
                    }
                    None => Ok(None),
                }
            };
            let l = list_page(
                &req.prefix,
                req.delimiter.as_deref(),
                req.start_after.as_deref(),
                req.max_keys,
                seek,
            )?;
            Ok(ListPage {
                objects: l.objects.iter().map(|(k, o)| object_info(k, o)).collect(),
                common_prefixes: l.common_prefixes,
                is_truncated: l.is_truncated,
                next_start_after: l.next_start_after,
            })
        })
        .await
    }
    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.inner.changes.subscribe()
    }
}

#[async_trait]
impl Multipart for LocalStore {
    async fn delete_bucket_aborting_uploads(&self, bucket: &BucketPath) -> Result<()> {
        let b = bucket.clone();
        self.run(move |i| {
            // One write transaction: the key check, the aborts and the bucket's removal commit
            // together, so a concurrent create_multipart is either aborted here or finds no bucket.
            let files = i.write(|txn| {
                let vols = txn.open_table(VOLUMES).map_err(db)?;
                if vols.get(b.volume.as_str()).map_err(db)?.is_none() {
                    return Err(Error::NoSuchVolume(b.volume.clone()));
                }
                drop(vols);
                let mut buckets = txn.open_table(BUCKETS).map_err(db)?;
                let rec = get_bucket(&buckets, &b)?.ok_or_else(|| Error::NoSuchBucket(b.bucket.clone()))?;
                let mut files = Vec::new();
                if rec.link_target.is_none() {
                    let lo = rec.id.to_be_bytes();
                    let hi = (rec.id + 1).to_be_bytes();
                    let objs = txn.open_table(OBJECTS).map_err(db)?;
                    if objs.range::<&[u8]>(&lo[..]..&hi[..]).map_err(db)?.next().is_some() {
                        return Err(Error::BucketNotEmpty(b.bucket.clone()));
                    }
                    let mut uploads = txn.open_table(UPLOADS).map_err(db)?;
                    let mut keys = Vec::new();
                    for e in uploads.range::<&[u8]>(&lo[..]..&hi[..]).map_err(db)? {
                        keys.push(e.map_err(db)?.0.value().to_vec());
                    }
                    let mut parts = txn.open_table(PARTS).map_err(db)?;
                    for k in keys {
                        uploads.remove(k.as_slice()).map_err(db)?;
                        // upload_key: bucket id, key, 0, upload id (keys hold no NUL).
                        let at = k.iter().rposition(|&c| c == 0).map_or(k.len(), |p| p + 1);
                        let upload_id = String::from_utf8_lossy(&k[at..]).into_owned();
                        for (n, p) in parts_of(&parts, &upload_id)? {
                            parts.remove(part_key(&upload_id, n).as_slice()).map_err(db)?;
                            files.push(p.file);
                        }
                    }
                }
                buckets.remove(bucket_key(&b).as_str()).map_err(db)?;
                Ok(files)
            })?;
            i.files.remove(files);
            Ok(())
        })
        .await
    }
    async fn create_multipart(&self, bucket: &BucketPath, key: &str, opts: PutOptions) -> Result<String> {
        validate_key(key)?;
        let (b, k) = (bucket.clone(), key.to_string());
        let v = self.inner.alloc();
        let id = format!("{v:016x}{:08x}", rand::random::<u32>());
        let upload_id = id.clone();
        self.run(move |i| {
            i.write(|txn| {
                let (_, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
                let up = UploadRec {
                    initiated: SystemTime::now(),
                    owner: opts.owner.clone().unwrap_or_else(|| rec.owner.clone()),
                    attrs: opts.attrs,
                };
                let mut uploads = txn.open_table(UPLOADS).map_err(db)?;
                uploads
                    .insert(upload_key(rec.id, &k, &upload_id).as_slice(), up.encode().as_slice())
                    .map_err(db)?;
                drop(uploads);
                bump_version(txn, v + 1)
            })
        })
        .await?;
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
        let (b, k, u) = (bucket.clone(), key.to_string(), upload_id.to_string());
        self.run(move |i| i.check_upload(&b, &k, &u)).await?;
        let id = self.inner.alloc();
        let (d, guard) = self.inner.files.write(id, body, BodyDigest::new(&opts)).await?;
        let rec = PartRec {
            etag: d.etag,
            size: d.len,
            last_modified: SystemTime::now(),
            checksums: d.checksums,
            file: id,
        };
        let (b, k, u) = (bucket.clone(), key.to_string(), upload_id.to_string());
        self.run(move |i| i.commit_part(&b, &k, &u, part_number, rec, guard))
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
        check_part_number(part_number)?;
        let (b, k, u) = (bucket.clone(), key.to_string(), upload_id.to_string());
        self.run(move |i| i.check_upload(&b, &k, &u)).await?;
        let (id, d, guard, _, _) = self.copy_range_to_file(src_bucket, src_key, src_range).await?;
        let rec = PartRec {
            etag: d.etag,
            size: d.len,
            last_modified: SystemTime::now(),
            checksums: BTreeMap::new(),
            file: id,
        };
        let (b, k, u) = (bucket.clone(), key.to_string(), upload_id.to_string());
        self.run(move |i| i.commit_part(&b, &k, &u, part_number, rec, guard))
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
        let (b, k, u, named) = (bucket.clone(), key.to_string(), upload_id.to_string(), parts.to_vec());
        let version = self.inner.alloc();
        let (real, info) = self
            .run(move |i| {
                let (real, info, drop_files) = i.write(|txn| {
                    let (real, brec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
                    let mut uploads = txn.open_table(UPLOADS).map_err(db)?;
                    let uk = upload_key(brec.id, &k, &u);
                    let up = match uploads.get(uk.as_slice()).map_err(db)? {
                        Some(v) => UploadRec::decode(v.value())?,
                        None => return Err(Error::NoSuchUpload(u.clone())),
                    };
                    let mut parts = txn.open_table(PARTS).map_err(db)?;
                    let all: BTreeMap<u32, PartRec> = parts_of(&parts, &u)?.into_iter().collect();
                    let etag = validate_complete(&named, |n| all.get(&n).map(|p| (p.etag.clone(), p.size)))?;
                    let mut objs = txn.open_table(OBJECTS).map_err(db)?;
                    let ok = obj_key(brec.id, &k);
                    let cur = get_object_rec(&objs, &ok)?;
                    check_condition(&condition, cur.as_ref().map(|c| c.etag.as_str()))?;
                    let (segments, part_numbers): (Vec<Segment>, Vec<u32>) = named
                        .iter()
                        .filter_map(|p| all.get(&p.part_number).map(|r| (r, p.part_number)))
                        .map(|(p, n)| {
                            (
                                Segment {
                                    file: p.file,
                                    size: p.size,
                                },
                                n,
                            )
                        })
                        .unzip();
                    let used: HashSet<u64> = segments.iter().map(|s| s.file).collect();
                    let sums: Vec<&BTreeMap<String, String>> = named
                        .iter()
                        .filter_map(|p| all.get(&p.part_number))
                        .map(|p| &p.checksums)
                        .collect();
                    let mut attrs = up.attrs;
                    attrs.checksums = composite_checksums(&sums);
                    let rec = ObjectRec {
                        size: segments.iter().map(|s| s.size).sum(),
                        etag,
                        last_modified: SystemTime::now(),
                        version,
                        owner: up.owner.clone(),
                        attrs,
                        multipart: true,
                        segments,
                        inline: false,
                        part_numbers,
                    };
                    objs.insert(ok.as_slice(), rec.encode().as_slice()).map_err(db)?;
                    uploads.remove(uk.as_slice()).map_err(db)?;
                    index_version(txn, version, &ok)?;
                    for n in all.keys() {
                        parts.remove(part_key(&u, *n).as_slice()).map_err(db)?;
                    }
                    drop((objs, uploads, parts));
                    bump_version(txn, version + 1)?;
                    let mut drop_files: Vec<u64> = all.values().map(|p| p.file).filter(|f| !used.contains(f)).collect();
                    if let Some(c) = cur {
                        drop_files.extend(release(txn, &c)?);
                    }
                    Ok((real, object_info(&k, &rec), drop_files))
                })?;
                i.files.remove(drop_files);
                Ok((real, info))
            })
            .await?;
        self.inner.emit(&real, key, ChangeKind::Put);
        Ok(info)
    }
    async fn abort_multipart(&self, bucket: &BucketPath, key: &str, upload_id: &str) -> Result<()> {
        let (b, k, u) = (bucket.clone(), key.to_string(), upload_id.to_string());
        self.run(move |i| {
            let files = i.write(|txn| {
                let (_, brec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
                let mut uploads = txn.open_table(UPLOADS).map_err(db)?;
                if uploads
                    .remove(upload_key(brec.id, &k, &u).as_slice())
                    .map_err(db)?
                    .is_none()
                {
                    return Err(Error::NoSuchUpload(u.clone()));
                }
                let mut parts = txn.open_table(PARTS).map_err(db)?;
                let all = parts_of(&parts, &u)?;
                for (n, _) in &all {
                    parts.remove(part_key(&u, *n).as_slice()).map_err(db)?;
                }
                Ok(all.into_iter().map(|(_, p)| p.file).collect::<Vec<_>>())
            })?;
            i.files.remove(files);
            Ok(())
        })
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
        let (b, k, u) = (bucket.clone(), key.to_string(), upload_id.to_string());
        self.run(move |i| {
            let txn = i.read()?;
            let (_, brec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
            let uploads = txn.open_table(UPLOADS).map_err(db)?;
            let up = match uploads.get(upload_key(brec.id, &k, &u).as_slice()).map_err(db)? {
                Some(v) => UploadRec::decode(v.value())?,
                None => return Err(Error::NoSuchUpload(u.clone())),
            };
            let parts = txn.open_table(PARTS).map_err(db)?;
            let all = parts_of(&parts, &u)?;
            let (parts, is_truncated, next_part_number_marker) =
                page_parts(all.iter().map(|(n, p)| part_info(*n, p)), part_number_marker, max_parts);
            Ok(PartsPage {
                parts,
                is_truncated,
                next_part_number_marker,
                attrs: up.attrs,
            })
        })
        .await
    }
    async fn list_uploads(&self, bucket: &BucketPath, req: UploadsRequest<'_>) -> Result<UploadsPage> {
        let UploadsRequest {
            prefix,
            key_marker,
            upload_id_marker,
            max_uploads,
        } = req;
        let (b, p) = (bucket.clone(), prefix.to_string());
        let (km, um) = (key_marker.map(str::to_string), upload_id_marker.map(str::to_string));
        self.run(move |i| {
            let txn = i.read()?;
            let (_, brec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
            let uploads = txn.open_table(UPLOADS).map_err(db)?;
            let lo = obj_key(brec.id, &p);
            let mut all = Vec::new();
            for e in uploads
                .range::<&[u8]>((Bound::Included(lo.as_slice()), Bound::Unbounded))
                .map_err(db)?
            {
                let (kk, v) = e.map_err(db)?;
                let kb = kk.value();
                if !kb.starts_with(&lo) {
                    break;
                }
                let rest = &kb[8..];
                let Some(nul) = rest.iter().position(|&c| c == 0) else {
                    return Err(Error::storage("malformed upload key"));
                };
                let rec = UploadRec::decode(v.value())?;
                all.push(UploadInfo {
                    key: String::from_utf8_lossy(&rest[..nul]).into_owned(),
                    upload_id: String::from_utf8_lossy(&rest[nul + 1..]).into_owned(),
                    initiated: rec.initiated,
                    owner: rec.owner,
                    storage_class: rec.attrs.storage_class,
                });
            }
            Ok(page_uploads(all, &p, km.as_deref(), um.as_deref(), max_uploads))
        })
        .await
    }
}

#[async_trait]
impl SecretStore for LocalStore {
    async fn lookup_secret(&self, access_key: &str) -> Result<Option<String>> {
        let a = access_key.to_string();
        self.run(move |i| {
            let txn = i.read()?;
            let t = txn.open_table(SECRETS).map_err(db)?;
            Ok(t.get(a.as_str()).map_err(db)?.map(|v| v.value().to_string()))
        })
        .await
    }

    async fn get_secret(&self, user: &str) -> Result<String> {
        let u = user.to_string();
        self.run(move |i| {
            i.write(|txn| {
                let mut t = txn.open_table(SECRETS).map_err(db)?;
                if t.get(u.as_str()).map_err(db)?.is_some() {
                    return Err(Error::SecretAlreadyExists(u.clone()));
                }
                let s = generate_secret();
                t.insert(u.as_str(), s.as_str()).map_err(db)?;
                Ok(s)
            })
        })
        .await
    }

    async fn revoke_secret(&self, user: &str) -> Result<()> {
        let u = user.to_string();
        self.run(move |i| {
            i.write(|txn| {
                let mut t = txn.open_table(SECRETS).map_err(db)?;
                if t.remove(u.as_str()).map_err(db)?.is_none() {
                    return Err(Error::SecretNotFound(u.clone()));
                }
                Ok(())
            })
        })
        .await
    }

    async fn set_secret(&self, user: &str, secret: &str) -> Result<()> {
        check_new_secret(secret)?;
        let (u, s) = (user.to_string(), secret.to_string());
        self.run(move |i| {
            i.write(|txn| {
                let mut t = txn.open_table(SECRETS).map_err(db)?;
                if t.get(u.as_str()).map_err(db)?.is_none() {
                    return Err(Error::SecretNotFound(u.clone()));
                }
                t.insert(u.as_str(), s.as_str()).map_err(db)?;
                Ok(())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_open_names_the_lock() {
        let d = tempfile::tempdir().unwrap();
        let _s = LocalStore::open(d.path(), "s3v").unwrap();
        match LocalStore::open(d.path(), "s3v") {
            Err(Error::Storage { message: m, .. }) => {
                assert!(m.contains("another ozfs process holds the data directory"), "{m}")
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("second open succeeded"),
        }
    }

    #[tokio::test]
    async fn inline_bodies_are_released_with_their_records() {
        let d = tempfile::tempdir().unwrap();
        let s = LocalStore::open(d.path(), "s3v").unwrap();
        let b = BucketPath::new("s3v", "inl");
        s.create_bucket(&b, "u").await.unwrap();
        let put = |k: &'static str, v: &'static [u8]| {
            let s = s.clone();
            let b = b.clone();
            async move {
                s.put_object(&b, k, crate::store::body_from_bytes(v), PutOptions::default())
                    .await
                    .unwrap()
            }
        };
        put("a", b"1").await;
        put("a", b"2").await; // overwrite
        put("b", b"3").await;
        s.rename_object(&b, "b", "a").await.unwrap(); // replaces a
        s.copy_object(&b, "a", &b, "c", CopyOptions::default()).await.unwrap();
        put("d/x", b"4").await;
        put("e/x", b"5").await;
        s.rename_prefix(&b, "d/", "e/").await.unwrap(); // replaces e/x
        s.delete_object(&b, "c", None).await.unwrap();
        let inline_entries = {
            let txn = s.inner.db.begin_read().unwrap();
            let t = txn.open_table(INLINE).unwrap();
            redb::ReadableTableMetadata::len(&t).unwrap()
        };
        // Live objects: a, e/x.
        assert_eq!(inline_entries, 2);
        let indexed = {
            let txn = s.inner.db.begin_read().unwrap();
            let t = txn.open_table(VERSIONS).unwrap();
            redb::ReadableTableMetadata::len(&t).unwrap()
        };
        assert_eq!(indexed, 2);
        let r = s.get_object(&b, "a", GetOptions::default()).await.unwrap();
        assert_eq!(crate::store::collect_body(r.body, 10).await.unwrap(), b"3");
    }

    #[test]
    fn key_encodings_sort_by_bucket_then_key() {
        assert!(obj_key(1, "zzz") < obj_key(2, ""));
        assert!(upload_key(1, "a", "x") < upload_key(1, "a0", "x"));
        assert!(upload_key(1, "a", "x") < upload_key(1, "ab", "x"));
        assert!(part_key("u", 2) < part_key("u", 10));
    }
}
