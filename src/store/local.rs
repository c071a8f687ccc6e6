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
//! `objects` key, for renamed versions only, so a version-pinned read follows a rename; a put
//! writes no entry), `secrets`, and `meta` (counters).
//! A listing is a range scan of `objects`, so a page costs O(page) and a common prefix is
//! skipped with one seek (see [`crate::namespace::listing`]).
//!
//! Contract: a put streams into `tmp/`, is fsynced and renamed into `objects/`, then one redb
//! transaction commits the metadata; the directory is fsynced before that commit is made
//! durable, and only then is the put acknowledged. An overwrite writes a new file and removes the
//! old one after the commit, so a reader (which opens the files before returning) sees the old or
//! the new object, never a mix. A reader that loads a version piece by piece (the page cache)
//! pins it first ([`Objects::pin_version`]): the pin holds the version's segments (or its
//! inline bytes) in a map `read_version` falls back to once the record is gone, and every removal
//! of a pinned data file (overwrite, delete, rename over, abort, complete discarding parts) is
//! deferred to the drop of the last pin. A deferred file that a crash leaves behind is
//! unreferenced, so the next open removes it like any orphan. A put interrupted at any point leaves at most an unreferenced
//! file, which the next [`LocalStore::open`] removes. Multipart parts are files of their own and a
//! completed object lists them; a whole-object copy hard-links the source files. Rename and
//! prefix rename are one transaction each. Hashing happens on its own thread beside the writer,
//! outside any transaction. Object puts that queue together apply their records to one shared
//! write transaction, committed once for the group (see `commit.rs`); other transactions share
//! their fsync: each commits without durability, then waits for one durable commit that covers
//! it before it returns; a writer with nobody queued behind it commits durably itself. A file staged on the
//! data directory's filesystem can become a data file as it is (`Objects::put_file`: linked
//! into `objects/`, fsynced, no copy).
//!
//! Files: this one holds the tables, the record helpers every topic uses, [`LocalStore`] and its
//! shared `Inner`; the trait methods call per-topic code in `local/`: `open.rs` (open and
//! recovery), `commit.rs` (group commit), `pin.rs` (version pins), `namespace.rs` (volumes,
//! buckets, links), `objects.rs` (key I/O), `rename.rs`, `multipart.rs`, `secrets.rs`, and below
//! them `codec.rs` (record encoding) and `files.rs` (data files).

mod codec;
mod commit;
mod db;
mod files;
mod multipart;
mod namespace;
mod objects;
mod open;
mod pin;
mod rename;
mod secrets;

use crate::error::{Error, NameKind, Result};
use crate::namespace::link::{self, BucketKind};
use crate::namespace::listing::list_page;
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
    BucketInfo, BucketLayout, BucketUpdate, ByteStream, ChangeEvent, ChangeKind, CompletedPart, CopyOptions,
    GetOptions, GetResult, ListPage, ListRequest, Multipart, NameLookup, NameQuery, Namespace, ObjectAttrs, ObjectInfo,
    Objects, PartCopy, PartInfo, PartsPage, PutOptions, UploadInfo, UploadsPage, UploadsRequest, VersionPin,
    VolumeInfo, WriteCondition,
};
use async_trait::async_trait;
use codec::{BucketRec, ObjectRec, PartRec, Segment, UploadRec, VolumeRec};
pub use commit::CommitStats;
use commit::GroupCommit;
use files::{read_stream, FileGuard, Files, SegHandle};
use pin::PinnedVersion;
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
/// Where a renamed live object version is now (its `objects` key), so a version-pinned read still
/// finds an object that was renamed (the bytes, and so the version, stay the same). A version
/// still at the key it was put under has no entry (a reader looks at that key first), so a put
/// rewrites no page of this table.
const VERSIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("versions");

/// Objects up to this size keep their bytes in the database (one commit, no data file, no
/// extra fsyncs); larger ones live in data files.
pub const INLINE_MAX: usize = 64 * 1024;

const NEXT_VERSION: &str = "next_version";
const NEXT_BUCKET_ID: &str = "next_bucket_id";
/// Memory redb may use to cache metadata pages (its default, 1 GiB, would blow the process's
/// memory budget; object bytes are cached by the page cache above the store, not here). It is
/// part of the 100 MiB a server may use beyond its page-cache budget: 64 MiB left too little
/// for the rest when small objects (stored inline, up to [`INLINE_MAX`]) filled it
/// (docs/bench-findings.md); the kernel's page cache still holds the database file.
const METADATA_CACHE_BYTES: usize = 32 << 20;
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

/// Record that versions below `next` are used. The stored mark moves in steps of
/// [`VERSION_RESERVE`], so most commits leave the `meta` table (one page write per commit) alone;
/// the versions a restart skips are never used, which is all the mark promises.
fn bump_version(txn: &WriteTransaction, next: u64) -> Result<()> {
    let mut meta = txn.open_table(META).map_err(db)?;
    let cur = meta.get(NEXT_VERSION).map_err(db)?.map(|v| v.value()).unwrap_or(0);
    if next > cur {
        meta.insert(NEXT_VERSION, next.saturating_add(VERSION_RESERVE))
            .map_err(db)?;
    }
    Ok(())
}

/// How far past the highest used version the stored mark of [`bump_version`] is set.
const VERSION_RESERVE: u64 = 4096;

fn read_inline(txn: &redb::ReadTransaction, version: u64) -> Result<bytes::Bytes> {
    let t = txn.open_table(INLINE).map_err(db)?;
    let v = t
        .get(version)
        .map_err(db)?
        .ok_or_else(|| Error::storage(format!("inline bytes of version {version} are missing")))?;
    Ok(bytes::Bytes::copy_from_slice(v.value()))
}

struct Inner {
    db: db::Db,
    files: Arc<Files>,
    next_version: AtomicU64,
    changes: broadcast::Sender<ChangeEvent>,
    dir: PathBuf,
    sync: GroupCommit,
    /// Versions pinned by readers ([`Objects::pin_version`](crate::store::Objects::pin_version)), by version.
    pinned: Arc<Mutex<HashMap<u64, PinnedVersion>>>,
    /// Read transactions begun so far ([`LocalStore::read_transactions`]).
    reads: AtomicU64,
}

impl Inner {
    fn alloc(&self) -> u64 {
        self.next_version.fetch_add(1, Ordering::Relaxed)
    }

    fn read(&self) -> Result<redb::ReadTransaction> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.retry_refused(|d| d.begin_read().map_err(|e| Box::new(e.into())))
            .map(|(_, t)| t)
    }

    /// A write transaction and the database generation it belongs to (for [`db::Db::fail`]).
    fn begin_write(&self) -> Result<(u64, WriteTransaction)> {
        self.retry_refused(|d| d.begin_write().map_err(|e| Box::new(e.into())))
    }

    /// Run `op` on the current database; if the database refuses it because of an earlier I/O
    /// error, once more on the reopened database.
    fn retry_refused<T>(&self, op: impl Fn(&Database) -> std::result::Result<T, Box<redb::Error>>) -> Result<(u64, T)> {
        let (generation, d) = self.db.get()?;
        match op(&d) {
            Ok(t) => Ok((generation, t)),
            Err(e) => {
                let refused = matches!(*e, redb::Error::PreviousIo);
                let err = self.db.fail(generation, *e);
                if !refused {
                    return Err(err);
                }
                drop(d);
                let (generation, d) = self.db.get()?;
                op(&d)
                    .map(|t| (generation, t))
                    .map_err(|e| self.db.fail(generation, *e))
            }
        }
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
}

thread_local! {
    /// Set while [`on_own_thread`] runs on this thread.
    static OWN_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` — typically `Handle::block_on` of a future that uses the embedded store — with the
/// store's blocking work (database reads and commits) done on the calling thread instead of
/// being handed to the runtime's blocking pool and waited for: the caller is a thread of its
/// own (a FUSE session thread), not a runtime worker, and would only sleep until the pool
/// thread answered. Saves two thread wake-ups per store call. Tasks `f` spawns onto the
/// runtime are not affected.
pub fn on_own_thread<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            OWN_THREAD.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(OWN_THREAD.with(|c| c.replace(true)));
    f()
}

/// The embedded store. Cheap to clone (shares one open database).
#[derive(Clone)]
pub struct LocalStore {
    inner: Arc<Inner>,
}

impl LocalStore {
    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Counters of the metadata commits made so far (how many puts shared each commit).
    pub fn commit_stats(&self) -> CommitStats {
        self.inner.commit_stats()
    }

    /// How many metadata read transactions were begun so far (one per key read, listing or
    /// name lookup): what tests count to pin the cost of an operation.
    pub fn read_transactions(&self) -> u64 {
        self.inner.reads.load(Ordering::Relaxed)
    }

    /// Run blocking work (redb, file system) off the async executor — or right here on a thread
    /// that [`on_own_thread`] marked (it is no runtime worker and waits for the result anyway).
    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&Inner) -> Result<T> + Send + 'static) -> Result<T> {
        if OWN_THREAD.with(std::cell::Cell::get) {
            return f(&self.inner);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_work_runs_on_a_marked_thread_and_on_the_pool_otherwise() {
        let d = tempfile::tempdir().unwrap();
        let s = LocalStore::open(d.path(), "s3v").unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let here = std::thread::current().id();
        let where_run = || {
            let s = s.clone();
            async move { s.run(|_| Ok(std::thread::current().id())).await.unwrap() }
        };
        assert_ne!(rt.block_on(where_run()), here, "unmarked: a pool thread");
        assert_eq!(on_own_thread(|| rt.block_on(where_run())), here, "marked: this thread");
        assert_ne!(rt.block_on(where_run()), here, "the mark ends with on_own_thread");
        // Tasks spawned from a marked thread run on the runtime's threads as before.
        let spawned = on_own_thread(|| rt.block_on(async { tokio::spawn(where_run()).await.unwrap() }));
        assert_ne!(spawned, here);
        // And the store works through a marked thread.
        let b = BucketPath::new("s3v", "own");
        on_own_thread(|| {
            rt.block_on(async {
                s.create_bucket(&b, "u").await.unwrap();
                s.put_object(&b, "k", crate::store::body_from_bytes(&b"v"[..]), PutOptions::default())
                    .await
                    .unwrap();
                assert_eq!(s.head_object(&b, "k").await.unwrap().size, 1);
            })
        });
    }

    #[test]
    fn second_open_names_the_lock() {
        let d = tempfile::tempdir().unwrap();
        let _s = LocalStore::open(d.path(), "s3v").unwrap();
        match LocalStore::open(d.path(), "s3v") {
            Err(e @ Error::DataDirInUse(_)) => {
                assert!(matches!(&e, Error::DataDirInUse(p) if p == d.path()), "{e:?}");
                assert!(
                    e.to_string().contains("another ozfs process holds the data directory"),
                    "{e}"
                )
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
            let txn = s.inner.read().unwrap();
            let t = txn.open_table(INLINE).unwrap();
            redb::ReadableTableMetadata::len(&t).unwrap()
        };
        // Live objects: a, e/x.
        assert_eq!(inline_entries, 2);
        let indexed = {
            let txn = s.inner.read().unwrap();
            let t = txn.open_table(VERSIONS).unwrap();
            redb::ReadableTableMetadata::len(&t).unwrap()
        };
        assert_eq!(indexed, 2);
        let r = s.get_object(&b, "a", GetOptions::default()).await.unwrap();
        assert_eq!(crate::store::collect_body(r.body, 10).await.unwrap(), b"3");
    }

    #[tokio::test]
    async fn open_removes_stray_inline_bodies_and_keeps_referenced_ones() {
        let d = tempfile::tempdir().unwrap();
        let b = BucketPath::new("s3v", "rec");
        let inline_len = |s: &LocalStore| {
            let txn = s.inner.read().unwrap();
            redb::ReadableTableMetadata::len(&txn.open_table(INLINE).unwrap()).unwrap()
        };
        {
            let s = LocalStore::open(d.path(), "s3v").unwrap();
            s.create_bucket(&b, "u").await.unwrap();
            for k in ["a", "b"] {
                let body = crate::store::body_from_bytes(&b"small"[..]);
                s.put_object(&b, k, body, PutOptions::default()).await.unwrap();
            }
        }
        // A consistent store (as many bodies as references) opens with every body kept.
        let s = LocalStore::open(d.path(), "s3v").unwrap();
        assert_eq!(inline_len(&s), 2);
        // A body no record references (an interrupted release) is found and removed.
        {
            let txn = s.inner.db.get().unwrap().1.begin_write().unwrap();
            txn.open_table(INLINE)
                .unwrap()
                .insert(u64::MAX - 1, &b"stray"[..])
                .unwrap();
            txn.commit().unwrap();
        }
        assert_eq!(inline_len(&s), 3);
        drop(s);
        let s = LocalStore::open(d.path(), "s3v").unwrap();
        assert_eq!(inline_len(&s), 2, "the stray body is removed at open");
        for k in ["a", "b"] {
            let r = s.get_object(&b, k, GetOptions::default()).await.unwrap();
            assert_eq!(crate::store::collect_body(r.body, 10).await.unwrap(), b"small");
        }
    }

    #[tokio::test]
    async fn version_file_is_the_data_file_of_one_file_objects_only() {
        use std::io::{Read, Seek};
        let d = tempfile::tempdir().unwrap();
        let s = LocalStore::open(d.path(), "s3v").unwrap();
        let b = BucketPath::new("s3v", "vfile");
        s.create_bucket(&b, "u").await.unwrap();
        let big: Vec<u8> = (0..(INLINE_MAX as u32 + 5000)).map(|i| (i % 251) as u8).collect();
        let put = |k: &'static str, v: Vec<u8>| {
            let (s, b) = (s.clone(), b.clone());
            async move {
                let body = crate::store::body_from_bytes(v);
                s.put_object(&b, k, body, PutOptions::default()).await.unwrap()
            }
        };
        let info = put("big", big.clone()).await;
        let mut f = s
            .version_file(&b, &info)
            .await
            .unwrap()
            .expect("a one-file object has its file");
        let mut got = Vec::new();
        f.read_to_end(&mut got).unwrap();
        assert!(got == big, "the file holds exactly the object's bytes");
        // an inline object has no file of its own
        let small = put("small", b"tiny".to_vec()).await;
        assert!(s.version_file(&b, &small).await.unwrap().is_none());
        // a replaced version has none any more (an open file keeps its bytes)
        put("big", vec![1u8; INLINE_MAX + 1]).await;
        assert!(s.version_file(&b, &info).await.unwrap().is_none());
        let mut again = Vec::new();
        f.rewind().unwrap();
        f.read_to_end(&mut again).unwrap();
        assert!(again == big);
    }

    /// Entries of the version index (version → `objects` key).
    fn indexed_versions(s: &LocalStore) -> Vec<(u64, Vec<u8>)> {
        let txn = s.inner.read().unwrap();
        let t = txn.open_table(VERSIONS).unwrap();
        t.iter()
            .unwrap()
            .map(|e| {
                let (v, k) = e.unwrap();
                (v.value(), k.value().to_vec())
            })
            .collect()
    }

    /// A put (inline or data file, single or multipart) writes no version-index entry: its
    /// version is at its key. A rename adds one, so a reader that pinned the version before the
    /// rename still reads it; an overwrite or delete drops it, and a reopen keeps exactly the
    /// entries of live renamed versions.
    #[tokio::test]
    async fn only_renamed_versions_are_indexed() {
        let d = tempfile::tempdir().unwrap();
        let b = BucketPath::new("s3v", "idx");
        let (moved, kept) = {
            let s = LocalStore::open(d.path(), "s3v").unwrap();
            s.create_bucket(&b, "u").await.unwrap();
            let put = |k: &'static str, v: Vec<u8>| {
                let (s, b) = (s.clone(), b.clone());
                async move {
                    s.put_object(&b, k, crate::store::body_from_bytes(v), PutOptions::default())
                        .await
                        .unwrap()
                }
            };
            let small = put("a", b"small".to_vec()).await;
            put("big", vec![7u8; INLINE_MAX + 1]).await;
            put("b", b"other".to_vec()).await;
            s.copy_object(&b, "b", &b, "c", CopyOptions::default()).await.unwrap();
            assert_eq!(indexed_versions(&s), Vec::new(), "puts and copies index nothing");
            // A reader pins the version of "a", then "a" is renamed: the index finds it.
            let _pin = s.pin_version(&b, &small).await.unwrap();
            s.rename_object(&b, "a", "moved/a").await.unwrap();
            let bid = s.inner.resolve(&b).unwrap().1.id;
            assert_eq!(indexed_versions(&s), vec![(small.version, obj_key(bid, "moved/a"))]);
            let got = s.read_version(&b, &small, 0..small.size).await.unwrap();
            assert_eq!(crate::store::collect_body(got, 100).await.unwrap(), b"small");
            // A renamed version that is then overwritten leaves the index.
            s.rename_object(&b, "b", "b2").await.unwrap();
            assert_eq!(indexed_versions(&s).len(), 2);
            put("b2", b"new".to_vec()).await;
            assert_eq!(indexed_versions(&s).len(), 1);
            (small.version, obj_key(bid, "moved/a"))
        };
        // Reopened: the live renamed version keeps its entry and reads through it.
        let s = LocalStore::open(d.path(), "s3v").unwrap();
        assert_eq!(indexed_versions(&s), vec![(moved, kept)]);
        let info = s.head_object(&b, "moved/a").await.unwrap();
        assert_eq!(info.version, moved);
        let got = s.read_version(&b, &info, 0..info.size).await.unwrap();
        assert_eq!(crate::store::collect_body(got, 100).await.unwrap(), b"small");
    }

    #[test]
    fn key_encodings_sort_by_bucket_then_key() {
        assert!(obj_key(1, "zzz") < obj_key(2, ""));
        assert!(upload_key(1, "a", "x") < upload_key(1, "a0", "x"));
        assert!(upload_key(1, "a", "x") < upload_key(1, "ab", "x"));
        assert!(part_key("u", 2) < part_key("u", 10));
    }
}
