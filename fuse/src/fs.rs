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
//!
//! Files by topic (each adds an `impl Fs` block): `lookup` (what a name is, `lookup`, `getattr`,
//! and `Fs::enter`, the one inode refresh), `attrs` (`setattr`, staging a file for writing),
//! `names` (`mkdir`, `mknod`, `symlink`, `unlink`, `rmdir`, `rename`), `file` (file I/O and
//! commits), `dir` (`readdir`, `statfs`), `xattr` (`user.*` xattrs), `coherence` (the change feed
//! and the mount's life cycle). This file holds the types, the configuration and `Fs::new`.

use crate::error::{FsError, FsResult};
use crate::inode::handle::{DirHandle, DirStream, FileHandle, Handle, Handles, Listed, SharedStaged};
use crate::inode::{Attr, Fresh, InodeTable, Kind, ROOT_INO};
use crate::posix::{self, PosixMeta, DIR_CONTENT_TYPE, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use crate::staging::{Staged, StagingBudget};
use futures_util::StreamExt;
use ozfs::{BucketPath, ChangeEvent, ListRequest, NameQuery, ObjectAttrs, ObjectInfo, ObjectStore, PutOptions};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex as AsyncMutex;

/// Keys per listing page (S3's maximum).
const LIST_PAGE: usize = 1000;
/// Longest symlink target we read back.
const MAX_LINK: usize = 4096;
/// Default of [`FsConfig::readdir_heads`].
pub const DEFAULT_READDIR_HEADS: usize = 32;
/// Most object versions whose HEAD answer is kept for listings ([`Fs::head_cache`]).
const HEAD_CACHE_MAX: usize = 200_000;

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
    /// `--readdir-heads`: HEADs in flight (for the whole mount) when a listing does not carry
    /// the entries' metadata (any S3 server but ozfs): each listed object (unless its version's
    /// attributes are cached) and each directory marker is HEADed so mode, owner and type are
    /// right at once. 0: trust the listing (goofys's behaviour: defaults until a stat).
    pub readdir_heads: usize,
    /// `--passthrough`: a read-only open of a committed one-file object hands the kernel the
    /// store's data file, which it then reads itself (see [`crate::passthrough`]).
    pub passthrough: bool,
}

impl Default for FsConfig {
    fn default() -> Self {
        #[allow(unsafe_code, reason = "geteuid/getegid through libc: std has no uid query")]
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
            readdir_heads: DEFAULT_READDIR_HEADS,
            passthrough: false,
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
#[derive(Debug)]
pub struct Opened {
    pub fh: u64,
    /// The version did not change since the last open: the kernel may keep cached pages.
    pub keep_cache: bool,
    /// With `--passthrough`, for a read-only open of a one-file object: its data file, for the
    /// kernel to read itself.
    pub backing: Option<std::fs::File>,
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
    /// Bounds the HEADs that listings without metadata make ([`FsConfig::readdir_heads`]).
    head_pool: Arc<tokio::sync::Semaphore>,
    /// What a HEAD answered for an object version a listing showed, by key: reused while the
    /// listing shows the same ETag, size and Last-Modified (see `dir.rs`).
    head_cache: Mutex<std::collections::HashMap<String, ObjectInfo>>,
    /// `--passthrough` was asked for but the kernel did not agree to it at `init`: opens need no
    /// backing file ([`Fs::passthrough_refused`]).
    no_passthrough: std::sync::atomic::AtomicBool,
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
        let adopts = store.adopts_files_from(&staging);
        let budget = Arc::new(StagingBudget::new(staging, cfg.staging_limit).with_adoption(adopts));
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
            handles: Handles::default(),
            budget,
            invalidator: OnceLock::new(),
            busy: Busy::default(),
            real_bucket: OnceLock::new(),
            head_pool: Arc::new(tokio::sync::Semaphore::new(cfg.readdir_heads.max(1))),
            head_cache: Mutex::new(std::collections::HashMap::new()),
            no_passthrough: std::sync::atomic::AtomicBool::new(false),
            cfg,
        })
    }

    /// The kernel did not agree to passthrough (`init`): read-only opens stop opening the
    /// version's data file for it.
    pub fn passthrough_refused(&self) {
        self.no_passthrough.store(true, Ordering::Relaxed);
    }

    /// Whether read-only opens hand the kernel a backing file ([`FsConfig::passthrough`], agreed
    /// by the kernel).
    fn passthrough(&self) -> bool {
        self.cfg.passthrough && !self.no_passthrough.load(Ordering::Relaxed)
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

    /// Background uploads of sequentially written files still running (see
    /// [`StagingBudget::uploads_running`]).
    pub fn uploads_running(&self) -> u64 {
        self.budget.uploads_running()
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
}

mod attrs;
mod coherence;
mod dir;
mod file;
mod lookup;
mod names;
mod xattr;

#[cfg(test)]
mod tests;
