//! Mounting: [`MountOptions`] (goofys's defaults), [`mount_store`], the [`MountHandle`] that
//! unmounts when dropped, and the change-feed task that keeps the kernel coherent with the other
//! front ends of the process.
//!
//! A mount runs a fuser 0.18 session with several worker threads (each reads its own cloned
//! `/dev/fuse` descriptor) on a background thread. Filesystem futures run on the caller's tokio
//! runtime when it is multi-threaded, else on a small runtime owned by the mount.

use crate::adapter::{Adapter, KernelInvalidator};
use crate::fs::{Fs, FsConfig};
use crate::invalidate::QueuedInvalidator;
use fuser::{Config, MountOption, SessionACL};
use ozfs::{BucketPath, ObjectStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Options of a mount. `Default` gives goofys's defaults.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Owner of files without `x-amz-meta-uid`/`gid` (goofys: the invoking user).
    pub uid: u32,
    pub gid: u32,
    /// `--dir-mode` (0755) and `--file-mode` (0644).
    pub dir_mode: u16,
    pub file_mode: u16,
    /// `--stat-cache-ttl` (1 min): attribute TTL, in the kernel and here.
    pub stat_cache_ttl: Duration,
    /// `--type-cache-ttl` (1 min): name TTL, in the kernel and here.
    pub type_cache_ttl: Duration,
    /// `--cheap`: one lookup request at a time.
    pub cheap: bool,
    /// `--no-implicit-dir`: only `dir/` markers are directories.
    pub no_implicit_dir: bool,
    /// `-o` options, one per element (`allow_other`, `ro`, `fsname=x`, ...).
    pub fuse_options: Vec<String>,
    /// Name shown as the mount source (default: the bucket).
    pub fsname: Option<String>,
    /// Shown as `fuse.<subtype>` in /proc/mounts.
    pub subtype: String,
    /// FUSE worker threads.
    pub threads: usize,
    /// Staging area directory (default: the system temp dir) and byte budget.
    pub staging_dir: Option<PathBuf>,
    pub staging_limit: u64,
    /// Follow the store's change feed and invalidate kernel caches on changes made through the
    /// other front ends of this process (the S3 endpoint).
    pub notify_changes: bool,
    /// `--backend-deadline` (60 s): bound on every store call made for a FUSE request (see
    /// [`ozfs::store::deadline`]); `None` or zero: unbounded.
    pub backend_deadline: Option<Duration>,
    /// `--readdir-heads` (32): see [`FsConfig::readdir_heads`].
    pub readdir_heads: usize,
    /// `--passthrough`: see [`FsConfig::passthrough`].
    pub passthrough: bool,
}

/// Default of [`MountOptions::backend_deadline`].
pub const DEFAULT_BACKEND_DEADLINE: Duration = Duration::from_secs(60);

impl Default for MountOptions {
    fn default() -> Self {
        let fs = FsConfig::default();
        MountOptions {
            uid: fs.uid,
            gid: fs.gid,
            dir_mode: fs.dir_mode,
            file_mode: fs.file_mode,
            stat_cache_ttl: fs.stat_ttl,
            type_cache_ttl: fs.type_ttl,
            cheap: false,
            no_implicit_dir: false,
            fuse_options: Vec::new(),
            fsname: None,
            subtype: "ozfs".into(),
            threads: 8,
            staging_dir: None,
            staging_limit: fs.staging_limit,
            notify_changes: true,
            backend_deadline: Some(DEFAULT_BACKEND_DEADLINE),
            readdir_heads: fs.readdir_heads,
            passthrough: false,
        }
    }
}

/// Why a mount failed.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mount point {path}: {reason}")]
    MountPoint { path: PathBuf, reason: String },
    #[error("bucket {bucket}: {source}")]
    Bucket {
        bucket: String,
        #[source]
        source: ozfs::Error,
    },
    #[error("invalid mount option {0:?}")]
    Option(String),
    #[error("staging area: {0}")]
    Staging(String),
    #[error("mounting {path} failed: {source}")]
    Mount {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("unmounting {path} failed: {source}")]
    Unmount {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tokio runtime: {0}")]
    Runtime(std::io::Error),
}

impl MountOptions {
    fn fs_config(&self, read_only: bool) -> FsConfig {
        FsConfig {
            uid: self.uid,
            gid: self.gid,
            file_mode: self.file_mode,
            dir_mode: self.dir_mode,
            stat_ttl: self.stat_cache_ttl,
            type_ttl: self.type_cache_ttl,
            cheap: self.cheap,
            no_implicit_dir: self.no_implicit_dir,
            staging_dir: self.staging_dir.clone(),
            staging_limit: self.staging_limit,
            read_only,
            readdir_heads: self.readdir_heads,
            passthrough: self.passthrough,
        }
    }
}

/// `-o` options that only mean something to mount(8) or fstab and are not passed to FUSE.
const MOUNT8_ONLY: [&str; 10] = [
    "_netdev", "nofail", "auto", "noauto", "user", "users", "nouser", "owner", "defaults", "rw",
];

/// Parsed `-o` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuseOpts {
    pub options: Vec<MountOption>,
    pub acl: SessionACL,
    pub read_only: bool,
}

/// Turn `-o` strings (each may hold several comma-separated options) into fuser options.
pub fn parse_fuse_options(opts: &[String]) -> Result<FuseOpts, MountError> {
    let mut out = FuseOpts {
        options: Vec::new(),
        acl: SessionACL::Owner,
        read_only: false,
    };
    for o in opts
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if MOUNT8_ONLY.contains(&o) || o.starts_with("x-") || o.starts_with("comment=") {
            continue;
        }
        let opt = match o {
            "allow_other" => {
                out.acl = SessionACL::All;
                continue;
            }
            "allow_root" => {
                if out.acl != SessionACL::All {
                    out.acl = SessionACL::RootAndOwner;
                }
                continue;
            }
            "ro" => {
                out.read_only = true;
                MountOption::RO
            }
            "auto_unmount" => MountOption::AutoUnmount,
            "default_permissions" => MountOption::DefaultPermissions,
            "dev" => MountOption::Dev,
            "nodev" => MountOption::NoDev,
            "suid" => MountOption::Suid,
            "nosuid" => MountOption::NoSuid,
            "exec" => MountOption::Exec,
            "noexec" => MountOption::NoExec,
            "atime" => MountOption::Atime,
            "noatime" => MountOption::NoAtime,
            "sync" => MountOption::Sync,
            "async" => MountOption::Async,
            "dirsync" => MountOption::DirSync,
            x if x.starts_with("fsname=") => MountOption::FSName(x["fsname=".len()..].into()),
            x if x.starts_with("subtype=") => MountOption::Subtype(x["subtype=".len()..].into()),
            x if x.starts_with('-') => return Err(MountError::Option(x.into())),
            x => MountOption::CUSTOM(x.into()),
        };
        if !out.options.contains(&opt) {
            out.options.push(opt);
        }
    }
    Ok(out)
}

/// A live mount. Dropping it (or [`MountHandle::unmount`]) unmounts and stops the session.
pub struct MountHandle {
    mountpoint: PathBuf,
    session: Option<fuser::BackgroundSession>,
    feed: Option<tokio::task::JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    fs: Arc<Fs>,
}

impl std::fmt::Debug for MountHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MountHandle")
            .field("mountpoint", &self.mountpoint)
            .finish_non_exhaustive()
    }
}

impl MountHandle {
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The filesystem behind the mount (for statistics).
    pub fn fs(&self) -> &Arc<Fs> {
        &self.fs
    }

    /// True while the session runs (false once something else unmounted it).
    pub fn is_mounted(&self) -> bool {
        self.session.as_ref().is_some_and(|s| !s.guard.is_finished())
    }

    /// Unmount, retrying while the mount point is busy (`tries` × 1 s, goofys retries 20 times),
    /// then wait for the session to end (pending writes are committed by then).
    pub fn unmount_with_retries(mut self, tries: u32) -> Result<(), MountError> {
        self.unmount_inner(tries, Duration::from_secs(1))
    }

    /// Unmount now (5 tries, 200 ms apart).
    pub fn unmount(mut self) -> Result<(), MountError> {
        self.unmount_inner(5, Duration::from_millis(200))
    }

    fn unmount_inner(&mut self, tries: u32, pause: Duration) -> Result<(), MountError> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let mut last = None;
        if !session.guard.is_finished() {
            for i in 0..tries.max(1) {
                match umount(&self.mountpoint) {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    Err(e) => {
                        log::debug!("unmount {} attempt {}: {e}", self.mountpoint.display(), i + 1);
                        last = Some(e);
                        std::thread::sleep(pause);
                    }
                }
            }
        }
        if let Some(e) = last {
            // Put the session back so Drop can detach it lazily.
            self.session = Some(session);
            return Err(MountError::Unmount {
                path: self.mountpoint.clone(),
                source: e,
            });
        }
        // The kernel mount is gone; the session thread sees ENODEV, commits what is left
        // (destroy) and ends. Its own unmount-on-drop then finds nothing to do.
        let r = session.join();
        if let Some(f) = self.feed.take() {
            f.abort();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        r.map_err(|e| MountError::Unmount {
            path: self.mountpoint.clone(),
            source: e,
        })
    }
}

impl Drop for MountHandle {
    fn drop(&mut self) {
        if self.session.is_some() {
            if let Err(e) = self.unmount_inner(5, Duration::from_millis(200)) {
                log::warn!("{e}; detaching lazily");
                lazy_umount(&self.mountpoint);
                let _ = self.unmount_inner(1, Duration::from_millis(0));
            }
        }
        if let Some(f) = self.feed.take() {
            f.abort();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Kernel readahead window of a mount (KiB): FUSE mounts start at 128 KiB, which caps every
/// read request at 128 KiB; 1 MiB lets sequential reads arrive as 1 MiB requests.
const READAHEAD_KB: u32 = 1024;

/// Raise the readahead window of the mount at `mountpoint` through its backing device's sysfs
/// entry (found in /proc/self/mountinfo, so no FUSE request is needed). Best effort: without
/// the rights to write sysfs the kernel default stays.
fn raise_readahead(mountpoint: &Path, kb: u32) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let want = mountpoint.to_string_lossy();
    // Field 3 is major:minor, field 5 the mount point (with spaces etc. octal-escaped).
    let dev = info.lines().rev().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let mp = f
            .get(4)?
            .replace("\\040", " ")
            .replace("\\011", "\t")
            .replace("\\134", "\\");
        (mp == want).then(|| f.get(2).map(|d| d.to_string())).flatten()
    });
    if let Some(dev) = dev {
        let path = format!("/sys/class/bdi/{dev}/read_ahead_kb");
        if let Err(e) = std::fs::write(&path, kb.to_string()) {
            log::debug!("readahead of {}: {path}: {e}", mountpoint.display());
        }
    }
}

fn cstr(p: &Path) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other)
}

/// umount(2); as non-root, `fusermount3 -u`.
fn umount(p: &Path) -> std::io::Result<()> {
    let c = cstr(p)?;
    #[allow(unsafe_code, reason = "umount(2) through libc")]
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    if unsafe { libc::umount(c.as_ptr()) } == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EPERM) {
        let st = std::process::Command::new("fusermount3").arg("-u").arg(p).status()?;
        if st.success() {
            return Ok(());
        }
        return Err(std::io::Error::other(format!("fusermount3 -u exited with {st}")));
    }
    Err(e)
}

fn lazy_umount(p: &Path) {
    if let Ok(c) = cstr(p) {
        #[allow(unsafe_code, reason = "umount2(2) with MNT_DETACH through libc")]
        // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            let _ = std::process::Command::new("fusermount3").arg("-uz").arg(p).status();
        }
    }
}

/// Mount `bucket`/`prefix` of an already-open store at `mountpoint` inside this process (for
/// `ozfs serve --mount` and tests); unmounts when the handle is dropped or `unmount()`ed.
///
/// Checks the mount point (an existing directory) and the bucket (it must exist) first and
/// fails with a [`MountError`] naming the problem. Blocks until the kernel has answered the
/// FUSE handshake, so the mount is usable when this returns. May be called from inside a tokio
/// runtime (a multi-threaded one is reused) or outside any.
pub fn mount_store(
    store: Arc<dyn ObjectStore>,
    bucket: BucketPath,
    prefix: String,
    mountpoint: &Path,
    opts: MountOptions,
) -> Result<MountHandle, MountError> {
    let meta = std::fs::metadata(mountpoint).map_err(|e| MountError::MountPoint {
        path: mountpoint.to_path_buf(),
        reason: e.to_string(),
    })?;
    if !meta.is_dir() {
        return Err(MountError::MountPoint {
            path: mountpoint.to_path_buf(),
            reason: "not a directory".into(),
        });
    }
    let fuse = parse_fuse_options(&opts.fuse_options)?;
    // A FUSE request holds its caller in uninterruptible sleep: bound every store call.
    let store: Arc<dyn ObjectStore> = match opts.backend_deadline {
        Some(d) if !d.is_zero() => Arc::new(ozfs::store::deadline::DeadlineStore::new(store, d)),
        _ => store,
    };
    let (handle, runtime) = match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => (h, None),
        _ => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("ozfs-fuse-rt")
                .enable_all()
                .build()
                .map_err(MountError::Runtime)?;
            (rt.handle().clone(), Some(rt))
        }
    };
    let fs = Fs::new(store.clone(), bucket.clone(), &prefix, opts.fs_config(fuse.read_only))
        .map_err(|e| MountError::Staging(e.to_string()))?;
    let fs = Arc::new(fs);
    // Run the bucket check on a plain thread: block_on must not run on a runtime thread.
    let check = {
        let (fs, handle) = (fs.clone(), handle.clone());
        std::thread::scope(|s| s.spawn(move || handle.block_on(fs.check_bucket())).join())
    };
    match check {
        Ok(Ok(())) => {}
        Ok(Err(crate::error::FsError::Store(source))) => {
            return Err(MountError::Bucket {
                bucket: bucket.to_string(),
                source,
            })
        }
        Ok(Err(e)) => {
            return Err(MountError::Bucket {
                bucket: bucket.to_string(),
                source: ozfs::Error::InvalidArgument(e.to_string()),
            })
        }
        Err(_) => {
            return Err(MountError::Runtime(std::io::Error::other("bucket check panicked")));
        }
    }

    let mut options = fuse.options.clone();
    if !options.iter().any(|o| matches!(o, MountOption::FSName(_))) {
        let name = opts.fsname.clone().unwrap_or_else(|| match prefix.trim_matches('/') {
            "" => bucket.bucket.clone(),
            p => format!("{}:{p}", bucket.bucket),
        });
        options.push(MountOption::FSName(name));
    }
    // fuser's direct mount(2) path drops `Subtype`; the kernel takes `subtype=` as a plain
    // option (and fusermount3 understands it too), which makes /proc/mounts say fuse.<subtype>.
    let subtype = options
        .iter()
        .find_map(|o| match o {
            MountOption::Subtype(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| opts.subtype.clone());
    options.retain(|o| !matches!(o, MountOption::Subtype(_)));
    options.push(MountOption::CUSTOM(format!("subtype={subtype}")));
    let mut config = Config::default();
    config.mount_options = options;
    config.acl = fuse.acl;
    config.n_threads = Some(opts.threads.max(1));
    config.clone_fd = true;

    let feed_rx = opts.notify_changes.then(|| store.subscribe());
    let adapter = Adapter::new(fs.clone(), handle.clone());
    let session = fuser::Session::new(adapter, mountpoint, &config).map_err(|e| MountError::Mount {
        path: mountpoint.to_path_buf(),
        source: e,
    })?;
    // Invalidations go through a queue to their own thread: the kernel may block a notification
    // while a request holds the directory lock, and no request may ever wait for that.
    let invalidator =
        QueuedInvalidator::new(Arc::new(KernelInvalidator(session.notifier()))).map_err(|e| MountError::Mount {
            path: mountpoint.to_path_buf(),
            source: e,
        })?;
    fs.set_invalidator(Arc::new(invalidator));
    let session = session.spawn().map_err(|e| MountError::Mount {
        path: mountpoint.to_path_buf(),
        source: e,
    })?;
    let feed = feed_rx.map(|mut rx| {
        let fs = fs.clone();
        handle.spawn(async move {
            let mut last_warn: Option<std::time::Instant> = None;
            loop {
                match rx.recv().await {
                    Ok(ev) => fs.on_change(&ev).await,
                    Err(RecvError::Lagged(n)) => {
                        // Some changes were missed: trust nothing cached in here any more.
                        fs.mark_all_stale();
                        let now = std::time::Instant::now();
                        if last_warn.is_none_or(|t: std::time::Instant| now.duration_since(t) > Duration::from_secs(10)) {
                            log::warn!(
                                "change feed lagged by {n} events; cached attributes re-read, kernel caches expire with the TTLs"
                            );
                            last_warn = Some(now);
                        }
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    });
    let mountpoint = mountpoint.canonicalize().unwrap_or_else(|_| mountpoint.to_path_buf());
    raise_readahead(&mountpoint, READAHEAD_KB);
    Ok(MountHandle {
        mountpoint,
        session: Some(session),
        feed,
        runtime,
        fs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuse_options_are_parsed_like_goofys_passes_them() {
        let o = parse_fuse_options(&["allow_other,ro".into(), "_netdev,noatime,fsname=b".into()]).unwrap();
        assert_eq!(o.acl, SessionACL::All);
        assert!(o.read_only);
        assert_eq!(
            o.options,
            vec![MountOption::RO, MountOption::NoAtime, MountOption::FSName("b".into())]
        );
        assert!(parse_fuse_options(&["--uid=1".into()]).is_err());
    }
}
