//! The filesystem logic: POSIX operations over an `Arc<dyn ObjectStore>`, with no FUSE types.
//!
//! [`Fs`] maps a bucket (or a `prefix/` inside it) to a directory tree the way goofys does:
//! `/` is the directory separator, a directory exists when a `dir/` marker object exists or,
//! unless `no_implicit_dir`, when any key lies under `dir/` (implicit directory). Every method
//! is `async`, returns [`FsResult`] and is driven by the thin FUSE adapter (`adapter.rs`) or,
//! in unit tests, directly against a [`ozfs::MemStore`].
//!
//! Beyond goofys (see docs/SEMANTICS.md for the full table):
//! - writes of any kind (random, overwrite, append, truncate) go to a staged local copy
//!   ([`crate::staging`]) that becomes one new object version at close, flush or fsync;
//! - files and whole directories are renamed with `rename_object` / `rename_prefix`;
//! - mode, uid, gid, mtime and symlinks are stored the s3fs way ([`crate::posix`]);
//! - `user.*` xattrs are `x-amz-meta-*`;
//! - a change made to the same store by another front end of this process (the S3 endpoint)
//!   arrives through the store's change feed and is pushed to the kernel through an
//!   [`Invalidator`] ([`Fs::on_change`]).
//!
//! Caching: inode attributes are reused for `stat_ttl`, names for `type_ttl` (goofys's
//! `--stat-cache-ttl` / `--type-cache-ttl`, which are also the kernel TTLs). Reads never HEAD:
//! an open handle reads the version it opened through `read_version`, i.e. the page cache.

use crate::error::{FsError, FsResult};
use crate::inode::handle::{DirHandle, DirStream, FileHandle, Handle, Handles, Listed, SharedStaged};
use crate::inode::{Attr, Fresh, InodeTable, Kind, ROOT_INO};
use crate::posix::{self, PosixMeta, DIR_CONTENT_TYPE, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use crate::staging::{Staged, StagingBudget};
use futures_util::StreamExt;
use ozfs::{BucketPath, ChangeEvent, ChangeKind, ListRequest, ObjectAttrs, ObjectInfo, ObjectStore, PutOptions};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex as AsyncMutex;

/// Keys per listing page (S3's maximum).
const LIST_PAGE: usize = 1000;
/// Longest symlink target we read back.
const MAX_LINK: usize = 4096;

/// Settings of the filesystem logic (the FUSE-independent part of the mount options).
#[derive(Debug, Clone)]
pub struct FsConfig {
    /// Owner of objects that carry no `x-amz-meta-uid`/`gid`.
    pub uid: u32,
    pub gid: u32,
    /// Permission bits of files / directories without `x-amz-meta-mode`.
    pub file_mode: u16,
    pub dir_mode: u16,
    /// How long attributes are trusted (goofys `--stat-cache-ttl`).
    pub stat_ttl: Duration,
    /// How long names are trusted (goofys `--type-cache-ttl`).
    pub type_ttl: Duration,
    /// Look names up one request at a time instead of three in parallel (goofys `--cheap`).
    pub cheap: bool,
    /// Only `dir/` markers make directories (goofys `--no-implicit-dir`).
    pub no_implicit_dir: bool,
    /// Where staged files live (None: the system temp dir).
    pub staging_dir: Option<std::path::PathBuf>,
    /// Byte budget of the staging area.
    pub staging_limit: u64,
    /// Refuse every change (`-o ro`).
    pub read_only: bool,
}

impl Default for FsConfig {
    fn default() -> Self {
        // SAFETY: geteuid/getegid have no preconditions and cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        FsConfig {
            uid,
            gid,
            file_mode: 0o644,
            dir_mode: 0o755,
            stat_ttl: Duration::from_secs(60),
            type_ttl: Duration::from_secs(60),
            cheap: false,
            no_implicit_dir: false,
            staging_dir: None,
            staging_limit: 16 << 30,
            read_only: false,
        }
    }
}

/// Pushes invalidations to the kernel (the FUSE adapter implements it with fuser's Notifier).
pub trait Invalidator: Send + Sync {
    /// Forget the name `name` in directory `parent`.
    fn inval_entry(&self, parent: u64, name: &str);
    /// Drop cached attributes and data of `ino`.
    fn inval_inode(&self, ino: u64);
}

/// Which attributes a `setattr` changes.
#[derive(Debug, Clone, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub mtime: Option<SystemTime>,
    /// The handle the change came through (ftruncate).
    pub fh: Option<u64>,
}

/// How a file is opened.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenMode {
    pub write: bool,
    pub truncate: bool,
}

/// `statfs` answer (goofys's fixed values: 1 PiB free, 1e9 inodes).
#[derive(Debug, Clone, Copy)]
pub struct StatFs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
    pub frsize: u32,
}

/// One directory entry handed to the readdir sink.
#[derive(Debug, Clone)]
pub struct DirEntryOut<'a> {
    pub name: &'a str,
    pub attr: Attr,
    /// Offset the kernel passes back to continue after this entry.
    pub next_offset: u64,
}

/// Result of `open`/`create`.
#[derive(Debug, Clone, Copy)]
pub struct Opened {
    pub fh: u64,
    /// The version did not change since the last open: the kernel may keep cached pages.
    pub keep_cache: bool,
}

/// The filesystem. See the module docs.
pub struct Fs {
    store: Arc<dyn ObjectStore>,
    bucket: BucketPath,
    prefix: String,
    cfg: FsConfig,
    table: Mutex<InodeTable>,
    handles: Handles,
    budget: Arc<StagingBudget>,
    invalidator: OnceLock<Arc<dyn Invalidator>>,
    /// Keys our own operations are changing right now: the change-feed handler waits for them
    /// to finish before it looks at such a key, so it never sees the table half-way through one
    /// of our own changes (the store announces a rename before the table has followed it).
    busy: Busy,
    /// The link-resolved bucket (change events name it).
    real_bucket: OnceLock<BucketPath>,
}

impl std::fmt::Debug for Fs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fs")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Registry of keys (or key prefixes) being changed by operations of this mount.
#[derive(Default)]
struct Busy {
    keys: Mutex<Vec<(u64, String, bool)>>,
    next: std::sync::atomic::AtomicU64,
    done: tokio::sync::Notify,
}

/// Holds a key busy until dropped.
struct BusyGuard<'a> {
    busy: &'a Busy,
    id: u64,
}

impl Busy {
    fn hold(&self, key: &str, prefix: bool) -> BusyGuard<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        crate::sync::lock(&self.keys).push((id, key.to_string(), prefix));
        BusyGuard { busy: self, id }
    }

    fn is_busy(&self, key: &str) -> bool {
        crate::sync::lock(&self.keys)
            .iter()
            .any(|(_, k, prefix)| if *prefix { key.starts_with(k.as_str()) } else { key == k })
    }
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        crate::sync::lock(&self.busy.keys).retain(|(id, _, _)| *id != self.id);
        self.busy.done.notify_waiters();
    }
}

fn not_found_to_none(r: ozfs::Result<ObjectInfo>) -> FsResult<Option<ObjectInfo>> {
    match r {
        Ok(i) => Ok(Some(i)),
        Err(ozfs::Error::NoSuchKey(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Normalize a mount prefix: no leading `/`, one trailing `/` (or empty).
pub fn normalize_prefix(p: &str) -> String {
    let t = p.trim_matches('/');
    if t.is_empty() {
        String::new()
    } else {
        format!("{t}/")
    }
}

impl Fs {
    /// A filesystem showing `bucket`/`prefix` of `store`.
    pub fn new(store: Arc<dyn ObjectStore>, bucket: BucketPath, prefix: &str, cfg: FsConfig) -> FsResult<Self> {
        let prefix = normalize_prefix(prefix);
        // Staged files are anonymous (created unlinked), so the directory itself is shared and
        // nothing is left in it when the process ends, however it ends.
        let staging = match &cfg.staging_dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                d.clone()
            }
            None => std::env::temp_dir(),
        };
        // Fail now, not at the first write, when the directory is unusable.
        drop(tempfile::tempfile_in(&staging)?);
        let budget = Arc::new(StagingBudget::new(staging, cfg.staging_limit));
        let now = SystemTime::now();
        let root = Fresh {
            kind: Kind::Dir,
            key: prefix.clone(),
            info: None,
            size: 4096,
            mtime: now,
            perm: cfg.dir_mode,
            uid: cfg.uid,
            gid: cfg.gid,
            asof: None,
        };
        Ok(Fs {
            store,
            bucket,
            table: Mutex::new(InodeTable::new(prefix.clone(), root)),
            prefix,
            cfg,
            handles: Handles::default(),
            budget,
            invalidator: OnceLock::new(),
            busy: Busy::default(),
            real_bucket: OnceLock::new(),
        })
    }

    pub fn config(&self) -> &FsConfig {
        &self.cfg
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub fn bucket(&self) -> &BucketPath {
        &self.bucket
    }

    /// Install the kernel invalidator (once, after the session exists).
    pub fn set_invalidator(&self, inv: Arc<dyn Invalidator>) {
        let _ = self.invalidator.set(inv);
    }

    /// Check that the bucket exists and remember its link-resolved name. Call before mounting.
    pub async fn check_bucket(&self) -> FsResult<()> {
        let real = self.store.resolve_bucket(&self.bucket).await?;
        let _ = self.real_bucket.set(real);
        Ok(())
    }

    /// Bytes reserved in the staging area.
    pub fn staging_used(&self) -> u64 {
        self.budget.used()
    }

    /// Number of inodes in the table (root included).
    pub fn inode_count(&self) -> usize {
        self.table().len()
    }

    fn table(&self) -> MutexGuard<'_, InodeTable> {
        crate::sync::lock(&self.table)
    }

    fn writable(&self) -> FsResult<()> {
        if self.cfg.read_only {
            Err(FsError::ReadOnly)
        } else {
            Ok(())
        }
    }

    // ---------------------------------------------------------------- attributes from objects

    /// Inode fields for a file or symlink object.
    fn fresh_object(&self, info: ObjectInfo) -> Fresh {
        let m = PosixMeta::from_user(&info.attrs.user);
        let kind = if m.is_symlink() { Kind::Symlink } else { Kind::File };
        let perm = match (kind, m.mode) {
            (Kind::Symlink, _) => 0o777,
            (_, Some(mode)) => (mode & 0o7777) as u16,
            (_, None) => self.cfg.file_mode,
        };
        Fresh {
            kind,
            key: info.key.clone(),
            size: info.size,
            mtime: m.mtime.unwrap_or(info.last_modified),
            perm,
            uid: m.uid.unwrap_or(self.cfg.uid),
            gid: m.gid.unwrap_or(self.cfg.gid),
            info: Some(info),
            asof: None,
        }
    }

    /// Inode fields for a directory with prefix `key` and, if known, its marker.
    fn fresh_dir(&self, key: String, marker: Option<ObjectInfo>) -> Fresh {
        let m = marker
            .as_ref()
            .map(|i| PosixMeta::from_user(&i.attrs.user))
            .unwrap_or_default();
        Fresh {
            kind: Kind::Dir,
            key,
            size: 4096,
            mtime: m
                .mtime
                .or_else(|| marker.as_ref().map(|i| i.last_modified))
                .unwrap_or_else(SystemTime::now),
            perm: m.mode.map_or(self.cfg.dir_mode, |x| (x & 0o7777) as u16),
            uid: m.uid.unwrap_or(self.cfg.uid),
            gid: m.gid.unwrap_or(self.cfg.gid),
            info: marker,
            asof: None,
        }
    }

    /// The inode refresh every path that tells the kernel about an entry goes through (lookup,
    /// mkdir, mknod, symlink): insert `name` under `parent` or refresh the inode already there
    /// from `f` (what the store said), count one kernel lookup, and return the attributes.
    fn enter(&self, parent: u64, name: &str, f: Fresh) -> FsResult<Attr> {
        let mut t = self.table();
        let ino = t.upsert(parent, name, f);
        t.add_lookup(ino, 1);
        t.get(ino).map(|i| i.attr()).ok_or(FsError::NotFound)
    }

    fn check_name(&self, parent_key: &str, name: &str) -> FsResult<()> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(FsError::Invalid(format!("bad name {name:?}")));
        }
        if parent_key.len() + name.len() + 1 > ozfs::namespace::name::MAX_KEY_LEN {
            return Err(FsError::NameTooLong);
        }
        Ok(())
    }

    /// Key prefix of directory `ino`.
    fn dir_key(&self, ino: u64) -> FsResult<String> {
        let t = self.table();
        let i = t.get(ino).ok_or(FsError::NotFound)?;
        if i.kind != Kind::Dir {
            return Err(FsError::NotDir);
        }
        Ok(i.key.clone())
    }

    async fn head(&self, key: &str) -> FsResult<Option<ObjectInfo>> {
        not_found_to_none(self.store.head_object(&self.bucket, key).await)
    }

    /// Whether anything lies under `dir_key` other than the marker itself.
    async fn has_children(&self, dir_key: &str) -> FsResult<bool> {
        let page = self
            .store
            .list_objects(
                &self.bucket,
                ListRequest {
                    prefix: dir_key.to_string(),
                    delimiter: None,
                    start_after: None,
                    max_keys: 2,
                },
            )
            .await?;
        Ok(page.objects.iter().any(|o| o.key != dir_key) || !page.common_prefixes.is_empty())
    }

    /// Whether any key lies under `dir_key` (the marker included).
    async fn any_under(&self, dir_key: &str) -> FsResult<bool> {
        let page = self
            .store
            .list_objects(
                &self.bucket,
                ListRequest {
                    prefix: dir_key.to_string(),
                    delimiter: None,
                    start_after: None,
                    max_keys: 1,
                },
            )
            .await?;
        Ok(!page.objects.is_empty() || !page.common_prefixes.is_empty())
    }

    /// Whether the key `dir_key` itself is listed (a marker object, not a file answered for it).
    async fn marker_listed(&self, dir_key: &str) -> FsResult<bool> {
        let page = self
            .store
            .list_objects(
                &self.bucket,
                ListRequest {
                    prefix: dir_key.to_string(),
                    delimiter: None,
                    start_after: None,
                    max_keys: 1,
                },
            )
            .await?;
        Ok(page.objects.first().is_some_and(|o| o.key == dir_key))
    }

    /// Ask the store what `name` in the directory `parent_key` is. A directory shadows a file
    /// of the same name (in `--cheap` mode the first answer wins: file, marker, then listing).
    async fn resolve(&self, parent_key: &str, name: &str) -> FsResult<Option<Fresh>> {
        let file_key = format!("{parent_key}{name}");
        let dir_key = format!("{file_key}/");
        if self.cfg.cheap {
            if let Some(i) = self.head(&file_key).await? {
                return Ok(Some(self.fresh_object(i)));
            }
            if let Some(m) = self.head(&dir_key).await? {
                return Ok(Some(self.fresh_dir(dir_key, Some(m))));
            }
            if !self.cfg.no_implicit_dir && self.any_under(&dir_key).await? {
                return Ok(Some(self.fresh_dir(dir_key, None)));
            }
            return Ok(None);
        }
        let implicit = async {
            if self.cfg.no_implicit_dir {
                Ok(false)
            } else {
                self.any_under(&dir_key).await
            }
        };
        let (file, marker, implicit) = tokio::join!(self.head(&file_key), self.head(&dir_key), implicit);
        let (file, mut marker, implicit) = (file?, marker?, implicit?);
        // A server that ignores the trailing slash (Ozone on FILE_SYSTEM_OPTIMIZED buckets)
        // answers the HEAD of `name/` with the file `name`. Two answers that look the same (an
        // empty file and an empty marker written in the same second do too) are told apart by
        // a listing: a real marker `name/` is listed under its own prefix, the file is not.
        if let (Some(f), Some(m)) = (&file, &marker) {
            if f.etag == m.etag && f.size == m.size && f.last_modified == m.last_modified {
                let listed = if self.cfg.no_implicit_dir {
                    self.marker_listed(&dir_key).await?
                } else {
                    implicit
                };
                if !listed {
                    marker = None;
                }
            }
        }
        if marker.is_some() || implicit {
            return Ok(Some(self.fresh_dir(dir_key, marker)));
        }
        Ok(file.map(|i| self.fresh_object(i)))
    }

    // ---------------------------------------------------------------- names

    /// Look `name` up in `parent`; adds one kernel lookup reference.
    pub async fn lookup(&self, parent: u64, name: &str) -> FsResult<Attr> {
        let pkey = {
            let mut t = self.table();
            let p = t.get(parent).ok_or(FsError::NotFound)?;
            if p.kind != Kind::Dir {
                return Err(FsError::NotDir);
            }
            let pkey = p.key.clone();
            if let Some(c) = t.child(parent, name) {
                let fresh = !c.stale && c.refreshed.elapsed() < self.cfg.type_ttl;
                if c.pending || c.staged.is_some() || fresh {
                    let (ino, attr) = (c.ino, c.attr());
                    t.add_lookup(ino, 1);
                    return Ok(attr);
                }
            }
            pkey
        };
        self.check_name(&pkey, name)?;
        let asof = std::time::Instant::now();
        match self.resolve(&pkey, name).await? {
            Some(mut f) => {
                f.asof = Some(asof);
                self.enter(parent, name, f)
            }
            None => {
                let mut t = self.table();
                if let Some(c) = t.child(parent, name) {
                    if !c.pending && c.staged.is_none() {
                        let ino = c.ino;
                        t.detach(ino);
                    }
                }
                Err(FsError::NotFound)
            }
        }
    }

    /// The kernel dropped `n` references to `ino`.
    pub fn forget(&self, ino: u64, n: u64) {
        self.table().forget(ino, n);
    }

    /// Current attributes (re-read from the store when older than the stat TTL).
    pub async fn getattr(&self, ino: u64) -> FsResult<Attr> {
        let (kind, key, stale, staged, pending) = {
            let t = self.table();
            let i = t.get(ino).ok_or(FsError::NotFound)?;
            let stale = i.stale || i.refreshed.elapsed() >= self.cfg.stat_ttl;
            (i.kind, i.key.clone(), stale, i.staged.clone(), i.pending || i.unlinked)
        };
        if let Some(st) = staged {
            let st = st.lock().await;
            let mut t = self.table();
            let i = t.get_mut(ino).ok_or(FsError::NotFound)?;
            i.size = st.size();
            i.mtime = st.mtime;
            return Ok(i.attr());
        }
        if kind != Kind::Dir && stale && !pending {
            let asof = std::time::Instant::now();
            match self.head(&key).await? {
                Some(info) => {
                    let f = self.fresh_object(info);
                    let mut t = self.table();
                    if let Some(i) = t.get_mut(ino) {
                        if i.kind == f.kind && i.staged.is_none() && i.refreshed <= asof {
                            i.size = f.size;
                            i.mtime = f.mtime;
                            i.ctime = f.mtime;
                            i.perm = f.perm;
                            i.uid = f.uid;
                            i.gid = f.gid;
                            i.info = f.info;
                            i.refreshed = std::time::Instant::now();
                            i.stale = false;
                        }
                    }
                }
                None => {
                    let mut t = self.table();
                    // Unless something (our own commit) refreshed it while the HEAD was out.
                    if t.get(ino).is_some_and(|i| i.refreshed > asof || i.staged.is_some()) {
                        return Ok(t.get(ino).expect("checked").attr());
                    }
                    t.detach(ino);
                    return Err(FsError::NotFound);
                }
            }
        }
        let t = self.table();
        Ok(t.get(ino).ok_or(FsError::NotFound)?.attr())
    }

    /// chmod, chown, utimes, truncate.
    pub async fn setattr(&self, ino: u64, sa: SetAttr) -> FsResult<Attr> {
        self.writable()?;
        if let Some(size) = sa.size {
            self.truncate(ino, size).await?;
        }
        if sa.mode.is_some() || sa.uid.is_some() || sa.gid.is_some() || sa.mtime.is_some() {
            let kind = self.table().get(ino).ok_or(FsError::NotFound)?.kind;
            let type_bits = match kind {
                Kind::File => S_IFREG,
                Kind::Dir => S_IFDIR,
                Kind::Symlink => S_IFLNK,
            };
            let (cur_perm, cur_uid, cur_gid) = {
                let t = self.table();
                let i = t.get(ino).ok_or(FsError::NotFound)?;
                (i.perm, i.uid, i.gid)
            };
            let meta = PosixMeta {
                mode: Some(type_bits | sa.mode.map_or(cur_perm as u32, |m| m & 0o7777)),
                uid: Some(sa.uid.unwrap_or(cur_uid)),
                gid: Some(sa.gid.unwrap_or(cur_gid)),
                mtime: sa.mtime,
            };
            self.apply_attrs(ino, |a| {
                meta.write_to(&mut a.user);
                Ok(())
            })
            .await?;
        }
        self.getattr(ino).await
    }

    async fn truncate(&self, ino: u64, size: u64) -> FsResult<()> {
        let (kind, staged) = {
            let t = self.table();
            let i = t.get(ino).ok_or(FsError::NotFound)?;
            (i.kind, i.staged.clone())
        };
        if kind == Kind::Dir {
            return Err(FsError::IsDir);
        }
        if let Some(st) = staged {
            let mut st = st.lock().await;
            st.truncate(size)?;
            let mut t = self.table();
            if let Some(i) = t.get_mut(ino) {
                i.size = size;
                i.mtime = st.mtime;
            }
            return Ok(());
        }
        // Not open for writing: stage, truncate and commit at once (truncate(2) is durable).
        // Count as an opener meanwhile, so a concurrent release cannot drop the staged copy.
        self.table().get_mut(ino).ok_or(FsError::NotFound)?.open += 1;
        let r = async {
            let st = self.stage(ino, false).await?;
            st.lock().await.truncate(size)?;
            self.commit_inner(ino).await
        }
        .await;
        self.close_one(ino);
        r
    }

    /// Drop one opener count of `ino` (and its staged copy with the last one).
    fn close_one(&self, ino: u64) {
        if let Some(i) = self.table().get_mut(ino) {
            i.open = i.open.saturating_sub(1);
            log::debug!("close_one ino={ino} open now {}", i.open);
        }
        self.unstage_if_unused(ino);
    }

    /// Give `ino` a staged copy (shared with other writers), starting from the current object
    /// version, or empty when `truncate`.
    async fn stage(&self, ino: u64, truncate: bool) -> FsResult<SharedStaged> {
        let (existing, key, info, pending) = {
            let t = self.table();
            let i = t.get(ino).ok_or(FsError::NotFound)?;
            (i.staged.clone(), i.key.clone(), i.info.clone(), i.pending)
        };
        if let Some(st) = existing {
            if truncate {
                st.lock().await.truncate(0)?;
            }
            return Ok(st);
        }
        let base = if pending {
            None
        } else {
            // Close-to-open: writers start from the current version, not a cached one.
            match self.head(&key).await? {
                Some(i) => Some(i),
                None if info.is_none() => None,
                None => return Err(FsError::NotFound),
            }
        };
        let attrs = base.as_ref().map(|b| b.attrs.clone()).unwrap_or_default();
        let mtime = SystemTime::now();
        let st = if truncate {
            Staged::new(self.budget.clone(), None, attrs, mtime, true)?
        } else {
            let mut s = Staged::new(self.budget.clone(), base.clone(), attrs, mtime, base.is_none())?;
            if let Some(b) = &base {
                s.mtime = PosixMeta::from_user(&b.attrs.user).mtime.unwrap_or(b.last_modified);
            }
            s
        };
        let st = Arc::new(AsyncMutex::new(st));
        let mut t = self.table();
        let i = t.get_mut(ino).ok_or(FsError::NotFound)?;
        // Another opener may have staged meanwhile: share theirs.
        if let Some(other) = &i.staged {
            return Ok(other.clone());
        }
        i.staged = Some(st.clone());
        if let Some(b) = base {
            i.info = Some(b);
        }
        Ok(st)
    }

    fn unstage_if_unused(&self, ino: u64) {
        let mut t = self.table();
        if let Some(i) = t.get_mut(ino) {
            if i.open == 0 {
                i.staged = None;
                i.pending = false;
            }
        }
        t.maybe_drop(ino);
    }

    /// Change the stored attributes (user metadata) of `ino` with `f`.
    async fn apply_attrs(&self, ino: u64, f: impl FnOnce(&mut ObjectAttrs) -> FsResult<()>) -> FsResult<()> {
        let (kind, key, staged, info) = {
            let t = self.table();
            let i = t.get(ino).ok_or(FsError::NotFound)?;
            (i.kind, i.key.clone(), i.staged.clone(), i.info.clone())
        };
        let _busy = self.busy.hold(&key, false);
        if let Some(st) = staged {
            let mut st = st.lock().await;
            f(&mut st.attrs)?;
            st.mark_dirty();
            let m = PosixMeta::from_user(&st.attrs.user);
            if let Some(t) = m.mtime {
                st.mtime = t;
            }
            let mut t = self.table();
            if let Some(i) = t.get_mut(ino) {
                self.apply_meta(i, &m);
            }
            return Ok(());
        }
        let new = match kind {
            Kind::File | Kind::Symlink => {
                let base = match info {
                    Some(i) => i,
                    None => self.head(&key).await?.ok_or(FsError::NotFound)?,
                };
                let mut attrs = base.attrs.clone();
                f(&mut attrs)?;
                Some(self.store.set_attrs(&self.bucket, &key, attrs).await?)
            }
            Kind::Dir if key.is_empty() => {
                // The bucket root has no marker to hold attributes: keep them in memory only.
                let mut attrs = ObjectAttrs::default();
                f(&mut attrs)?;
                let m = PosixMeta::from_user(&attrs.user);
                let mut t = self.table();
                if let Some(i) = t.get_mut(ino) {
                    self.apply_meta(i, &m);
                }
                return Ok(());
            }
            Kind::Dir => match self.head(&key).await? {
                Some(marker) => {
                    let mut attrs = marker.attrs.clone();
                    f(&mut attrs)?;
                    Some(self.store.set_attrs(&self.bucket, &key, attrs).await?)
                }
                None => {
                    // An implicit directory gets a marker to hold its attributes.
                    let mut attrs = ObjectAttrs {
                        content_type: Some(DIR_CONTENT_TYPE.into()),
                        ..Default::default()
                    };
                    f(&mut attrs)?;
                    let opts = PutOptions {
                        attrs,
                        ..Default::default()
                    };
                    Some(
                        self.store
                            .put_object(&self.bucket, &key, ozfs::body_from_bytes(Vec::new()), opts)
                            .await?,
                    )
                }
            },
        };
        if let Some(info) = new {
            let m = PosixMeta::from_user(&info.attrs.user);
            let mut t = self.table();
            if let Some(i) = t.get_mut(ino) {
                self.apply_meta(i, &m);
                i.info = Some(info);
            }
        }
        Ok(())
    }

    fn apply_meta(&self, i: &mut crate::inode::Inode, m: &PosixMeta) {
        if let Some(mode) = m.mode {
            if i.kind != Kind::Symlink {
                i.perm = (mode & 0o7777) as u16;
            }
        }
        if let Some(u) = m.uid {
            i.uid = u;
        }
        if let Some(g) = m.gid {
            i.gid = g;
        }
        if let Some(t) = m.mtime {
            i.mtime = t;
        }
        i.ctime = SystemTime::now();
        i.refreshed = std::time::Instant::now();
    }

    /// Target of a symlink.
    pub async fn readlink(&self, ino: u64) -> FsResult<Vec<u8>> {
        let (kind, key) = {
            let t = self.table();
            let i = t.get(ino).ok_or(FsError::NotFound)?;
            (i.kind, i.key.clone())
        };
        if kind != Kind::Symlink {
            return Err(FsError::Invalid("not a symlink".into()));
        }
        let got = self.store.get_object(&self.bucket, &key, Default::default()).await?;
        Ok(ozfs::collect_body(got.body, MAX_LINK).await?)
    }

    fn new_meta(&self, mode: u32, uid: u32, gid: u32) -> ObjectAttrs {
        let mut attrs = ObjectAttrs::default();
        PosixMeta {
            mode: Some(mode),
            uid: Some(uid),
            gid: Some(gid),
            mtime: Some(SystemTime::now()),
        }
        .write_to(&mut attrs.user);
        attrs
    }

    async fn ensure_absent(&self, parent: u64, pkey: &str, name: &str) -> FsResult<()> {
        self.check_name(pkey, name)?;
        if let Some(c) = self.table().child(parent, name) {
            if c.pending {
                return Err(FsError::Exists);
            }
        }
        if self.resolve(pkey, name).await?.is_some() {
            return Err(FsError::Exists);
        }
        Ok(())
    }

    /// mkdir: writes the `name/` marker (with s3fs attributes).
    pub async fn mkdir(&self, parent: u64, name: &str, mode: u32, uid: u32, gid: u32) -> FsResult<Attr> {
        self.writable()?;
        let pkey = self.dir_key(parent)?;
        self.ensure_absent(parent, &pkey, name).await?;
        let key = format!("{pkey}{name}/");
        let _busy = self.busy.hold(&key, false);
        let mut attrs = self.new_meta(S_IFDIR | (mode & 0o7777), uid, gid);
        attrs.content_type = Some(DIR_CONTENT_TYPE.into());
        let info = self.put_empty(&key, attrs).await?;
        let f = self.fresh_dir(key, Some(info));
        self.enter(parent, name, f)
    }

    /// PUT an empty object (a directory marker or a new empty file) with these attributes.
    async fn put_empty(&self, key: &str, attrs: ObjectAttrs) -> FsResult<ObjectInfo> {
        let opts = PutOptions {
            attrs,
            ..Default::default()
        };
        Ok(self
            .store
            .put_object(&self.bucket, key, ozfs::body_from_bytes(Vec::new()), opts)
            .await?)
    }

    /// Create an empty regular file at once (mknod).
    pub async fn mknod(&self, parent: u64, name: &str, mode: u32, uid: u32, gid: u32) -> FsResult<Attr> {
        self.writable()?;
        if mode & S_IFMT != S_IFREG && mode & S_IFMT != 0 {
            return Err(FsError::NotSupported("only regular files can be created with mknod"));
        }
        let pkey = self.dir_key(parent)?;
        self.ensure_absent(parent, &pkey, name).await?;
        let key = format!("{pkey}{name}");
        let _busy = self.busy.hold(&key, false);
        let attrs = self.new_meta(S_IFREG | (mode & 0o7777), uid, gid);
        let info = self.put_empty(&key, attrs).await?;
        let f = self.fresh_object(info);
        self.enter(parent, name, f)
    }

    /// symlink: an object whose body is the target, mode `S_IFLNK|0777` (s3fs's format).
    pub async fn symlink(&self, parent: u64, name: &str, target: &str, uid: u32, gid: u32) -> FsResult<Attr> {
        self.writable()?;
        let pkey = self.dir_key(parent)?;
        self.ensure_absent(parent, &pkey, name).await?;
        let key = format!("{pkey}{name}");
        let _busy = self.busy.hold(&key, false);
        let attrs = self.new_meta(S_IFLNK | 0o777, uid, gid);
        let info = self
            .store
            .put_object(
                &self.bucket,
                &key,
                ozfs::body_from_bytes(target.as_bytes().to_vec()),
                PutOptions {
                    attrs,
                    ..Default::default()
                },
            )
            .await?;
        let f = self.fresh_object(info);
        self.enter(parent, name, f)
    }

    /// What `name` in `parent` is now: the cached inode when there is one, else the store.
    async fn entry(&self, parent: u64, name: &str) -> FsResult<(Option<u64>, Fresh)> {
        let pkey = {
            let t = self.table();
            let p = t.get(parent).ok_or(FsError::NotFound)?;
            if p.kind != Kind::Dir {
                return Err(FsError::NotDir);
            }
            if let Some(c) = t.child(parent, name) {
                if c.pending || c.staged.is_some() || (!c.stale && c.refreshed.elapsed() < self.cfg.type_ttl) {
                    let f = Fresh {
                        kind: c.kind,
                        key: c.key.clone(),
                        info: c.info.clone(),
                        size: c.size,
                        mtime: c.mtime,
                        perm: c.perm,
                        uid: c.uid,
                        gid: c.gid,
                        asof: None,
                    };
                    return Ok((Some(c.ino), f));
                }
            }
            p.key.clone()
        };
        self.check_name(&pkey, name)?;
        let f = self.resolve(&pkey, name).await?.ok_or(FsError::NotFound)?;
        let ino = self.table().child(parent, name).map(|c| c.ino);
        Ok((ino, f))
    }

    /// unlink: delete the object (a file created and not yet closed is just forgotten).
    pub async fn unlink(&self, parent: u64, name: &str) -> FsResult<()> {
        self.writable()?;
        let (ino, f) = self.entry(parent, name).await?;
        if f.kind == Kind::Dir {
            return Err(FsError::IsDir);
        }
        let _busy = self.busy.hold(&f.key, false);
        let pending = ino
            .and_then(|i| self.table().get(i).map(|x| x.pending))
            .unwrap_or(false);
        if !pending {
            self.store.delete_object(&self.bucket, &f.key, None).await?;
        }
        if let Some(ino) = ino {
            self.table().detach(ino);
        }
        Ok(())
    }

    /// rmdir: ENOTEMPTY unless nothing but the marker is under `name/`.
    pub async fn rmdir(&self, parent: u64, name: &str) -> FsResult<()> {
        self.writable()?;
        let (ino, f) = self.entry(parent, name).await?;
        if f.kind != Kind::Dir {
            return Err(FsError::NotDir);
        }
        let _busy = self.busy.hold(&f.key, false);
        if let Some(ino) = ino {
            if self.table().has_pending_children(ino) {
                return Err(FsError::NotEmpty);
            }
        }
        if self.has_children(&f.key).await? {
            return Err(FsError::NotEmpty);
        }
        self.store.delete_object(&self.bucket, &f.key, None).await?;
        if let Some(ino) = ino {
            self.table().detach(ino);
        }
        Ok(())
    }

    /// rename (files and whole directories). `noreplace`: RENAME_NOREPLACE. RENAME_EXCHANGE is
    /// refused by the adapter before this is called.
    pub async fn rename(
        &self,
        parent: u64,
        name: &str,
        new_parent: u64,
        new_name: &str,
        noreplace: bool,
    ) -> FsResult<()> {
        self.writable()?;
        let (src_ino, src) = self.entry(parent, name).await?;
        let new_pkey = self.dir_key(new_parent)?;
        self.check_name(&new_pkey, new_name)?;
        let dst = match self.entry(new_parent, new_name).await {
            Ok(d) => Some(d),
            Err(FsError::NotFound) => None,
            Err(e) => return Err(e),
        };
        if let Some((dst_ino, _)) = &dst {
            if noreplace {
                return Err(FsError::Exists);
            }
            if src_ino.is_some() && *dst_ino == src_ino {
                return Ok(());
            }
        }
        // Writers keep their staged copy across the rename; fetch what they still need from the
        // old key first, and hold the copy so no commit races the key change.
        let staged = src_ino.and_then(|i| self.table().get(i).and_then(|x| x.staged.clone()));
        let _guard = match &staged {
            Some(st) => {
                let mut g = st.lock().await;
                g.materialize(self.store.as_ref(), &self.bucket).await?;
                Some(g)
            }
            None => None,
        };
        let pending = src_ino
            .and_then(|i| self.table().get(i).map(|x| x.pending))
            .unwrap_or(false);
        let is_dir = src.kind == Kind::Dir;
        let dst_key = if is_dir {
            format!("{new_pkey}{new_name}/")
        } else {
            format!("{new_pkey}{new_name}")
        };
        let _busy_src = self.busy.hold(&src.key, is_dir);
        let _busy_dst = self.busy.hold(&dst_key, is_dir);
        match src.kind {
            Kind::File | Kind::Symlink => {
                let new_key = format!("{new_pkey}{new_name}");
                if let Some((_, d)) = &dst {
                    if d.kind == Kind::Dir {
                        return Err(FsError::IsDir);
                    }
                }
                if pending {
                    if dst.is_some() {
                        self.store.delete_object(&self.bucket, &new_key, None).await?;
                    }
                } else {
                    self.store.rename_object(&self.bucket, &src.key, &new_key).await?;
                }
                let mut t = self.table();
                match src_ino {
                    Some(ino) => t.rename(ino, new_parent, new_name, new_key),
                    None => {
                        if let Some(d) = t.child(new_parent, new_name).map(|c| c.ino) {
                            t.detach(d);
                        }
                    }
                }
            }
            Kind::Dir => {
                let new_key = format!("{new_pkey}{new_name}/");
                if let Some((_, d)) = &dst {
                    if d.kind != Kind::Dir {
                        return Err(FsError::NotDir);
                    }
                    if self.has_children(&d.key).await? {
                        return Err(FsError::NotEmpty);
                    }
                    self.store.delete_object(&self.bucket, &d.key, None).await?;
                }
                self.store.rename_prefix(&self.bucket, &src.key, &new_key).await?;
                let mut t = self.table();
                match src_ino {
                    Some(ino) => t.rename(ino, new_parent, new_name, new_key),
                    None => {
                        if let Some(d) = t.child(new_parent, new_name).map(|c| c.ino) {
                            t.detach(d);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- files

    /// open: a read handle pins the current version; a write handle shares the staged copy.
    pub async fn open(&self, ino: u64, mode: OpenMode, tgid: u32) -> FsResult<Opened> {
        log::debug!("open ino={ino} {mode:?} tgid={tgid}");
        let (kind, key, cached, fresh, staged) = {
            let t = self.table();
            let i = t.get(ino).ok_or(FsError::NotFound)?;
            let fresh = !i.stale && i.refreshed.elapsed() < self.cfg.stat_ttl;
            (i.kind, i.key.clone(), i.info.clone(), fresh, i.staged.is_some())
        };
        match kind {
            Kind::Dir => return Err(FsError::IsDir),
            Kind::Symlink if mode.write => return Err(FsError::Perm("symlinks are rewritten with ln -sf")),
            Kind::File | Kind::Symlink => {}
        }
        if mode.write || mode.truncate {
            self.writable()?;
            // Count the opener before staging: a release of another handle racing with this
            // open must not see zero openers and drop the staged copy this handle will use.
            self.table().get_mut(ino).ok_or(FsError::NotFound)?.open += 1;
            if let Err(e) = self.stage(ino, mode.truncate).await {
                self.close_one(ino);
                return Err(e);
            }
            let info = self.table().get(ino).and_then(|i| i.info.clone());
            let fh = self.handles.insert(Handle::File(Arc::new(FileHandle {
                ino,
                writable: true,
                tgid,
                info: Mutex::new(info),
                last_read_end: Default::default(),
            })));
            return Ok(Opened { fh, keep_cache: false });
        }
        let (info, keep_cache) = if staged {
            // Reads go to the staged copy while it exists, then follow the inode (see read).
            (None, false)
        } else if fresh && cached.is_some() {
            (cached, true)
        } else {
            let asof = std::time::Instant::now();
            let mut now = self.head(&key).await?.ok_or(FsError::NotFound)?;
            let f = self.fresh_object(now.clone());
            let mut t = self.table();
            if let Some(i) = t.get_mut(ino) {
                if i.staged.is_none() && i.refreshed <= asof {
                    i.size = f.size;
                    i.mtime = f.mtime;
                    i.info = Some(now.clone());
                    i.refreshed = std::time::Instant::now();
                    i.stale = false;
                } else if let Some(newer) = i.info.clone() {
                    // Our own commit landed while the HEAD was out: read that.
                    now = newer;
                }
            }
            let keep = cached.as_ref().is_some_and(|c| c.version == now.version);
            (Some(now), keep)
        };
        let fh = self.handles.insert(Handle::File(Arc::new(FileHandle {
            ino,
            writable: false,
            tgid,
            info: Mutex::new(info),
            last_read_end: Default::default(),
        })));
        self.table().get_mut(ino).ok_or(FsError::NotFound)?.open += 1;
        Ok(Opened { fh, keep_cache })
    }

    /// create + open: a new file that exists locally until its first commit.
    pub async fn create(
        &self,
        parent: u64,
        name: &str,
        mode: u32,
        uid: u32,
        gid: u32,
        tgid: u32,
    ) -> FsResult<(Attr, Opened)> {
        self.writable()?;
        let pkey = self.dir_key(parent)?;
        self.check_name(&pkey, name)?;
        let key = format!("{pkey}{name}");
        let attrs = self.new_meta(S_IFREG | (mode & 0o7777), uid, gid);
        let now = SystemTime::now();
        let st = Arc::new(AsyncMutex::new(Staged::new(
            self.budget.clone(),
            None,
            attrs,
            now,
            true,
        )?));
        let f = Fresh {
            kind: Kind::File,
            key,
            info: None,
            size: 0,
            mtime: now,
            perm: (mode & 0o7777) as u16,
            uid,
            gid,
            asof: None,
        };
        let (ino, attr) = {
            let mut t = self.table();
            let ino = t.insert_pending(parent, name, f, st);
            t.add_lookup(ino, 1);
            let i = t.get_mut(ino).expect("just inserted");
            i.open += 1;
            (ino, i.attr())
        };
        let fh = self.handles.insert(Handle::File(Arc::new(FileHandle {
            ino,
            writable: true,
            tgid,
            info: Mutex::new(None),
            last_read_end: Default::default(),
        })));
        Ok((attr, Opened { fh, keep_cache: false }))
    }

    fn file_handle(&self, fh: u64) -> FsResult<Arc<FileHandle>> {
        match self.handles.get(fh) {
            Some(Handle::File(h)) => Ok(h),
            Some(Handle::Dir(_)) | None => Err(FsError::BadHandle),
        }
    }

    /// read: from the staged copy when the file is being written, else the pinned version.
    pub async fn read(&self, ino: u64, fh: u64, offset: u64, size: u32) -> FsResult<Vec<u8>> {
        let h = self.file_handle(fh)?;
        let staged = self.table().get(ino).and_then(|i| i.staged.clone());
        if let Some(st) = staged {
            return st
                .lock()
                .await
                .read(self.store.as_ref(), &self.bucket, offset, size)
                .await;
        }
        let mut info = crate::sync::lock(&h.info).clone();
        if info.is_none() {
            // Opened while the file was being written: read what was committed since.
            info = self.table().get(ino).and_then(|i| i.info.clone());
            *crate::sync::lock(&h.info) = info.clone();
        }
        log::debug!(
            "read ino={ino} fh={fh} off={offset} size={size} pinned={:?}",
            info.as_ref().map(|i| (i.size, i.version))
        );
        let Some(info) = info else { return Ok(Vec::new()) };
        match self.read_pinned(&info, offset, size).await {
            Err(FsError::Store(ozfs::Error::ObjectChanged(_))) => {
                // The version this handle opened is gone: the key was renamed (same bytes
                // under a new key) or overwritten. Go on reading what the name holds now, as a
                // reader of a local file sees another process's in-place rewrite. A deleted
                // object cannot be read any more: ESTALE.
                let key = self.table().get(ino).map(|i| i.key.clone()).ok_or(FsError::NotFound)?;
                let Some(now) = self.head(&key).await? else {
                    return Err(FsError::Store(ozfs::Error::ObjectChanged(key)));
                };
                *crate::sync::lock(&h.info) = Some(now.clone());
                self.read_pinned(&now, offset, size).await
            }
            r => r,
        }
    }

    async fn read_pinned(&self, info: &ObjectInfo, offset: u64, size: u32) -> FsResult<Vec<u8>> {
        if offset >= info.size || size == 0 {
            return Ok(Vec::new());
        }
        let end = (offset + size as u64).min(info.size);
        let mut body = self.store.read_version(&self.bucket, info, offset..end).await?;
        let mut out = Vec::with_capacity((end - offset) as usize);
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            let room = (end - offset) as usize - out.len();
            out.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if out.len() as u64 == end - offset {
                break;
            }
        }
        Ok(out)
    }

    /// write at any offset into the staged copy.
    pub async fn write(&self, ino: u64, fh: u64, offset: u64, data: &[u8]) -> FsResult<u32> {
        let h = self
            .file_handle(fh)
            .inspect_err(|_| log::warn!("write ino={ino}: no handle {fh}"))?;
        if !h.writable {
            return Err(FsError::NotWritable);
        }
        let staged = match self.table().get(ino).and_then(|i| i.staged.clone()) {
            Some(s) => s,
            None => {
                log::warn!(
                    "write ino={ino} fh={fh}: no staged copy (open={:?})",
                    self.table().get(ino).map(|i| i.open)
                );
                return Err(FsError::BadHandle);
            }
        };
        let key = self.table().get(ino).map(|i| i.key.clone()).ok_or(FsError::NotFound)?;
        let mut st = staged.lock().await;
        let n = st.write(&self.store, &self.bucket, &key, offset, data).await?;
        let (size, mtime) = (st.size(), st.mtime);
        drop(st);
        if let Some(i) = self.table().get_mut(ino) {
            i.size = size;
            i.mtime = mtime;
        }
        h.last_read_end.store(offset + n as u64, Ordering::Relaxed);
        Ok(n)
    }

    /// Commit the staged copy of `ino` (if dirty) as a new object version.
    pub async fn commit(&self, ino: u64) -> FsResult<()> {
        self.commit_inner(ino).await
    }

    async fn commit_inner(&self, ino: u64) -> FsResult<()> {
        let Some(staged) = self.table().get(ino).and_then(|i| i.staged.clone()) else {
            return Ok(());
        };
        let mut st = staged.lock().await;
        // Read the key under the staged lock: rename takes the same lock before moving keys.
        let (key, unlinked) = {
            let t = self.table();
            let i = t.get(ino).ok_or(FsError::NotFound)?;
            (i.key.clone(), i.unlinked)
        };
        if unlinked {
            return Ok(());
        }
        let _busy = self.busy.hold(&key, false);
        log::debug!("commit ino={ino} key={key} dirty={} size={}", st.is_dirty(), st.size());
        if let Some(info) = st.commit(self.store.as_ref(), &self.bucket, &key).await? {
            let f = self.fresh_object(info);
            let mut t = self.table();
            if let Some(i) = t.get_mut(ino) {
                i.pending = false;
                i.size = f.size;
                i.mtime = f.mtime;
                i.perm = f.perm;
                i.uid = f.uid;
                i.gid = f.gid;
                i.info = f.info;
                i.refreshed = std::time::Instant::now();
                i.stale = false;
            }
        }
        Ok(())
    }

    /// flush (every close of a descriptor): commits, unless the closing process is not the one
    /// that opened the file (a forked child closing an inherited descriptor, goofys's rule).
    pub async fn flush(&self, ino: u64, fh: u64, tgid: u32) -> FsResult<()> {
        let h = self.file_handle(fh)?;
        log::debug!(
            "flush ino={ino} fh={fh} tgid={tgid} opener={} writable={}",
            h.tgid,
            h.writable
        );
        if h.writable && h.tgid == tgid {
            self.commit(ino).await?;
        }
        Ok(())
    }

    /// fsync: commit; durable when the store's put is (the embedded store fsyncs before it
    /// acknowledges).
    pub async fn fsync(&self, ino: u64, fh: u64) -> FsResult<()> {
        let h = self.file_handle(fh)?;
        if h.writable {
            self.commit(ino).await?;
        }
        Ok(())
    }

    /// release (last close of a handle): commit what is left, drop the handle.
    pub async fn release(&self, ino: u64, fh: u64) -> FsResult<()> {
        let h = match self.handles.remove(fh) {
            Some(Handle::File(h)) => h,
            Some(Handle::Dir(_)) | None => return Err(FsError::BadHandle),
        };
        log::debug!("release ino={ino} fh={fh}");
        let r = if h.writable { self.commit(ino).await } else { Ok(()) };
        self.close_one(ino);
        r
    }

    // ---------------------------------------------------------------- directories

    pub fn opendir(&self, ino: u64) -> FsResult<u64> {
        {
            let mut t = self.table();
            let i = t.get_mut(ino).ok_or(FsError::NotFound)?;
            if i.kind != Kind::Dir {
                return Err(FsError::NotDir);
            }
            i.open += 1;
        }
        Ok(self.handles.insert(Handle::Dir(Arc::new(DirHandle {
            ino,
            stream: AsyncMutex::new(DirStream::default()),
        }))))
    }

    pub fn releasedir(&self, ino: u64, fh: u64) -> FsResult<()> {
        self.handles.remove(fh);
        let mut t = self.table();
        if let Some(i) = t.get_mut(ino) {
            i.open = i.open.saturating_sub(1);
        }
        t.maybe_drop(ino);
        Ok(())
    }

    async fn fetch_page(&self, dir_key: &str, s: &mut DirStream) -> FsResult<()> {
        s.page_asof = Some(std::time::Instant::now());
        let page = self
            .store
            .list_objects(
                &self.bucket,
                ListRequest {
                    prefix: dir_key.to_string(),
                    delimiter: Some("/".into()),
                    start_after: s.next_start_after.clone(),
                    max_keys: LIST_PAGE,
                },
            )
            .await?;
        let dirs: HashSet<&str> = page
            .common_prefixes
            .iter()
            .filter_map(|p| p.strip_prefix(dir_key).and_then(|n| n.strip_suffix('/')))
            .collect();
        let mut merged: Vec<(String, Listed)> = Vec::with_capacity(page.objects.len() + page.common_prefixes.len());
        for o in &page.objects {
            let Some(name) = o.key.strip_prefix(dir_key) else {
                continue;
            };
            if name.is_empty() || name.contains('/') || dirs.contains(name) {
                continue;
            }
            let kind = if PosixMeta::from_user(&o.attrs.user).is_symlink() {
                Kind::Symlink
            } else {
                Kind::File
            };
            merged.push((
                o.key.clone(),
                Listed {
                    name: name.to_string(),
                    kind,
                    info: Some(o.clone()),
                },
            ));
        }
        for name in dirs {
            if name.is_empty() {
                continue;
            }
            merged.push((
                format!("{dir_key}{name}/"),
                Listed {
                    name: name.to_string(),
                    kind: Kind::Dir,
                    info: None,
                },
            ));
        }
        merged.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, l) in merged {
            if s.seen.insert(l.name.clone()) {
                s.entries.push_back(l);
            }
        }
        s.done = !page.is_truncated || page.next_start_after.is_none();
        s.next_start_after = page.next_start_after;
        Ok(())
    }

    /// Inode fields for a listed entry.
    fn fresh_listed(&self, dir_key: &str, l: &Listed) -> Fresh {
        match (&l.kind, &l.info) {
            (Kind::Dir, _) | (_, None) => self.fresh_dir(format!("{dir_key}{}/", l.name), None),
            (_, Some(info)) => self.fresh_object(info.clone()),
        }
    }

    /// readdir / readdirplus. `sink` gets each entry and returns true when the kernel's buffer
    /// is full (that entry was not taken). With `plus`, every entry taken counts as a lookup.
    pub async fn readdir(
        &self,
        ino: u64,
        fh: u64,
        offset: u64,
        plus: bool,
        sink: &mut dyn FnMut(DirEntryOut<'_>) -> bool,
    ) -> FsResult<()> {
        let dh = match self.handles.get(fh) {
            Some(Handle::Dir(d)) if d.ino == ino => d,
            _ => return Err(FsError::BadHandle),
        };
        let (dir_key, self_attr, parent_attr) = {
            let t = self.table();
            let i = t.get(ino).ok_or(FsError::NotFound)?;
            let p = t.get(i.parent).map(|p| p.attr()).unwrap_or_else(|| i.attr());
            (i.key.clone(), i.attr(), p)
        };
        if offset == 0
            && sink(DirEntryOut {
                name: ".",
                attr: self_attr,
                next_offset: 1,
            })
        {
            return Ok(());
        }
        if offset <= 1
            && sink(DirEntryOut {
                name: "..",
                attr: parent_attr,
                next_offset: 2,
            })
        {
            return Ok(());
        }
        let idx = offset.saturating_sub(2);
        let mut s = dh.stream.lock().await;
        if !s.started || idx < s.first {
            *s = DirStream {
                started: true,
                ..Default::default()
            };
        }
        loop {
            while s.first < idx && !s.entries.is_empty() {
                s.entries.pop_front();
                s.first += 1;
            }
            if s.entries.is_empty() {
                if !s.done {
                    self.fetch_page(&dir_key, &mut s).await?;
                    continue;
                }
                if !s.pending_added {
                    s.pending_added = true;
                    let pending: Vec<Listed> = {
                        let t = self.table();
                        t.pending_children(ino)
                            .into_iter()
                            .map(|(name, kind)| Listed { name, kind, info: None })
                            .collect()
                    };
                    for l in pending {
                        if s.seen.insert(l.name.clone()) {
                            s.entries.push_back(l);
                        }
                    }
                    if !s.entries.is_empty() {
                        continue;
                    }
                }
                return Ok(());
            }
            if s.first < idx {
                continue;
            }
            let l = s.entries.front().expect("not empty").clone();
            let attr = {
                let mut t = self.table();
                match t.child(ino, &l.name) {
                    Some(c) if c.pending || c.staged.is_some() || !plus => c.attr(),
                    _ if plus => {
                        let mut f = self.fresh_listed(&dir_key, &l);
                        f.asof = s.page_asof;
                        let id = t.upsert(ino, &l.name, f);
                        t.get(id).expect("just inserted").attr()
                    }
                    _ => {
                        let f = self.fresh_listed(&dir_key, &l);
                        Attr {
                            ino: pseudo_ino(&f.key),
                            kind: f.kind,
                            size: f.size,
                            mtime: f.mtime,
                            ctime: f.mtime,
                            perm: f.perm,
                            uid: f.uid,
                            gid: f.gid,
                        }
                    }
                }
            };
            let next_offset = s.first + 3;
            if sink(DirEntryOut {
                name: &l.name,
                attr,
                next_offset,
            }) {
                return Ok(());
            }
            if plus {
                self.table().add_lookup(attr.ino, 1);
            }
            s.entries.pop_front();
            s.first += 1;
        }
    }

    pub fn statfs(&self) -> StatFs {
        const BSIZE: u64 = 4096;
        let blocks = (1u64 << 50) / BSIZE;
        StatFs {
            blocks,
            bfree: blocks,
            bavail: blocks,
            files: 1_000_000_000,
            ffree: 1_000_000_000,
            bsize: BSIZE as u32,
            namelen: 255,
            frsize: BSIZE as u32,
        }
    }

    // ---------------------------------------------------------------- xattrs

    /// Attributes of the object behind `ino` (staged ones for a file being written).
    async fn object_attrs(&self, ino: u64) -> FsResult<Option<(ObjectAttrs, Option<ObjectInfo>)>> {
        let (kind, key, staged, info, fresh) = {
            let t = self.table();
            let i = t.get(ino).ok_or(FsError::NotFound)?;
            let fresh = !i.stale && i.refreshed.elapsed() < self.cfg.stat_ttl;
            (i.kind, i.key.clone(), i.staged.clone(), i.info.clone(), fresh)
        };
        if let Some(st) = staged {
            let st = st.lock().await;
            return Ok(Some((st.attrs.clone(), st.base().cloned())));
        }
        if kind == Kind::Dir && key.is_empty() {
            return Ok(None);
        }
        let info = match info {
            Some(i) if fresh => Some(i),
            _ => self.head(&key).await?,
        };
        Ok(info.map(|i| (i.attrs.clone(), Some(i))))
    }

    /// getxattr: `user.*` from user metadata, `s3.etag` and `s3.storage-class` read-only.
    pub async fn getxattr(&self, ino: u64, name: &str) -> FsResult<Vec<u8>> {
        if !name.starts_with("user.") && name != "s3.etag" && name != "s3.storage-class" {
            return Err(FsError::NoData);
        }
        let Some((attrs, info)) = self.object_attrs(ino).await? else {
            return Err(FsError::NoData);
        };
        match name {
            "s3.etag" => info
                .map(|i| format!("\"{}\"", i.etag).into_bytes())
                .ok_or(FsError::NoData),
            "s3.storage-class" => Ok(attrs.storage_class.unwrap_or_else(|| "STANDARD".into()).into_bytes()),
            _ => {
                let meta = user_meta_name(name)?;
                attrs
                    .user
                    .get(&meta)
                    .map(|v| posix::decode_xattr(v))
                    .ok_or(FsError::NoData)
            }
        }
    }

    /// listxattr: NUL-separated names.
    pub async fn listxattr(&self, ino: u64) -> FsResult<Vec<u8>> {
        let Some((attrs, info)) = self.object_attrs(ino).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        if info.is_some() {
            out.extend_from_slice(b"s3.etag\0s3.storage-class\0");
        }
        for k in attrs.user.keys() {
            if !posix::RESERVED.contains(&k.as_str()) {
                out.extend_from_slice(b"user.");
                out.extend_from_slice(k.as_bytes());
                out.push(0);
            }
        }
        Ok(out)
    }

    /// setxattr with XATTR_CREATE (1) / XATTR_REPLACE (2) honoured.
    pub async fn setxattr(&self, ino: u64, name: &str, value: &[u8], flags: i32) -> FsResult<()> {
        self.writable()?;
        if name.starts_with("s3.") {
            return Err(FsError::Perm("s3.* attributes are read-only"));
        }
        let meta = user_meta_name(name)?;
        let encoded = posix::encode_xattr(value);
        self.apply_attrs(ino, move |a| {
            let exists = a.user.contains_key(&meta);
            if flags & libc::XATTR_CREATE != 0 && exists {
                return Err(FsError::Exists);
            }
            if flags & libc::XATTR_REPLACE != 0 && !exists {
                return Err(FsError::NoData);
            }
            a.user.insert(meta, encoded);
            Ok(())
        })
        .await
    }

    pub async fn removexattr(&self, ino: u64, name: &str) -> FsResult<()> {
        self.writable()?;
        if name.starts_with("s3.") {
            return Err(FsError::Perm("s3.* attributes are read-only"));
        }
        let meta = user_meta_name(name).map_err(|_| FsError::NoData)?;
        self.apply_attrs(ino, move |a| a.user.remove(&meta).map(|_| ()).ok_or(FsError::NoData))
            .await
    }

    // ---------------------------------------------------------------- coherence

    /// React to a change made through the same store by another front end: refresh or drop the
    /// inode and tell the kernel to forget what it cached.
    pub async fn on_change(&self, ev: &ChangeEvent) {
        let Some(real) = self.real_bucket.get() else { return };
        if &ev.bucket != real || !ev.key.starts_with(&self.prefix) || ev.key.len() == self.prefix.len() {
            return;
        }
        // Wait (bounded) while one of our own operations is changing this key.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let done = self.busy.done.notified();
            if !self.busy.is_busy(&ev.key) || std::time::Instant::now() > deadline {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(20), done).await;
        }
        let known = {
            let t = self.table();
            t.by_key(&ev.key).map(|i| {
                (
                    i.ino,
                    i.parent,
                    i.name.clone(),
                    i.info.clone(),
                    i.staged.is_some() || i.pending,
                )
            })
        };
        let mut entries: Vec<(u64, String)> = Vec::new();
        let mut inodes: Vec<u64> = Vec::new();
        match known {
            Some((_, _, _, _, true)) => return, // being written here: our commit will win
            Some((ino, parent, name, old, false)) => {
                let asof = std::time::Instant::now();
                let now = match ev.kind {
                    ChangeKind::Put => self.head(&ev.key).await.ok().flatten(),
                    ChangeKind::Delete => None,
                };
                match now {
                    Some(info)
                        if old
                            .as_ref()
                            .is_some_and(|o| o.version == info.version && o.attrs.user == info.attrs.user) =>
                    {
                        return; // our own write
                    }
                    // Our own rename on a store whose object identity includes the key (the
                    // remote one): same bytes and metadata under the new key. Take the new
                    // identity without telling the kernel: invalidating the inode here would
                    // wait on the page lock of a read of this very file that is waiting for us
                    // (the hang of a `cat` right after `mv` of its directory).
                    Some(info)
                        if old.as_ref().is_some_and(|o| {
                            o.key != info.key
                                && o.etag == info.etag
                                && o.size == info.size
                                && o.attrs.user == info.attrs.user
                        }) =>
                    {
                        if let Some(i) = self.table().get_mut(ino) {
                            i.info = Some(info);
                        }
                        return;
                    }
                    Some(info) => {
                        let is_dir = ev.key.ends_with('/');
                        let mut f = if is_dir {
                            self.fresh_dir(ev.key.clone(), Some(info))
                        } else {
                            self.fresh_object(info)
                        };
                        f.asof = Some(asof);
                        let mut t = self.table();
                        let kind_changed = t.get(ino).is_some_and(|i| i.kind != f.kind);
                        t.upsert(parent, &name, f);
                        if kind_changed {
                            entries.push((parent, name));
                        }
                        inodes.push(ino);
                    }
                    None => {
                        if ev.key.ends_with('/') {
                            // A marker went away; the directory may live on implicitly. Let
                            // the next lookup decide.
                            if let Some(i) = self.table().get_mut(ino) {
                                i.stale = true;
                            }
                        } else {
                            self.table().detach(ino);
                        }
                        entries.push((parent, name));
                        inodes.push(ino);
                    }
                }
            }
            None => {}
        }
        // Implicit ancestors may have appeared or vanished with this key: make the next lookup
        // of each known ancestor ask the store again.
        {
            let rel = &ev.key[self.prefix.len()..];
            let mut t = self.table();
            let mut dir_key = self.prefix.clone();
            let mut parent = ROOT_INO;
            for comp in rel
                .trim_end_matches('/')
                .split('/')
                .collect::<Vec<_>>()
                .iter()
                .rev()
                .skip(1)
                .rev()
            {
                dir_key.push_str(comp);
                dir_key.push('/');
                let Some(d) = t.by_key(&dir_key).map(|d| d.ino) else {
                    break;
                };
                if let Some(i) = t.get_mut(d) {
                    if i.info.is_none() {
                        i.stale = true;
                        entries.push((parent, comp.to_string()));
                    }
                }
                parent = d;
            }
        }
        // No lock of ours is held here: a FUSE request waiting for one may hold the very inode
        // lock the invalidation needs.
        if let Some(inv) = self.invalidator.get() {
            for ino in inodes {
                inv.inval_inode(ino);
            }
            for (parent, name) in entries {
                inv.inval_entry(parent, &name);
            }
        }
    }

    /// Forget that any cached attribute or name is current (missed change events).
    pub fn mark_all_stale(&self) {
        self.table().mark_all_stale();
    }

    /// Commit every staged file (unmount).
    pub async fn flush_all(&self) {
        let inos: Vec<u64> = self.table().under(&self.prefix);
        for ino in inos {
            if let Err(e) = self.commit(ino).await {
                log::error!("committing inode {ino} at unmount: {e:#}");
            }
        }
    }
}

/// `user.NAME` → metadata name (lower case: S3 metadata names are case-insensitive).
fn user_meta_name(name: &str) -> FsResult<String> {
    let Some(rest) = name.strip_prefix("user.") else {
        return Err(FsError::NotSupported("only user.* extended attributes are stored"));
    };
    let meta = rest.to_ascii_lowercase();
    if meta.is_empty() || posix::RESERVED.contains(&meta.as_str()) {
        return Err(FsError::Perm("reserved attribute name"));
    }
    if !meta.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(FsError::Invalid("attribute names must be printable ASCII".into()));
    }
    Ok(meta)
}

/// An inode number for a plain readdir entry the kernel has not looked up (high bit set so it
/// cannot collide with a real inode).
fn pseudo_ino(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish() | (1 << 63)
}

#[cfg(test)]
mod tests;
