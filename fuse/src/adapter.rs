//! The thin FUSE adapter: `impl fuser::Filesystem` over [`Fs`].
//!
//! Each callback parses its arguments, runs the matching `Fs` method to completion on the
//! mount's tokio runtime (`Handle::block_on` on the fuser worker thread that received the
//! request; fuser 0.18 runs several such threads, so requests are served concurrently), and
//! turns the result into a reply. No filesystem logic lives here.
//!
//! Kernel settings negotiated in `init`: 1 MiB max_write (and so 1 MiB reads), the largest
//! readahead the kernel offers, readdirplus always (so `ls -l` needs no getattr per entry),
//! parallel directory operations, atomic O_TRUNC (open gets O_TRUNC instead of a separate
//! truncate), and automatic page-cache invalidation when a file's size or mtime changes.
//! `FUSE_NO_OPENDIR_SUPPORT` is not asked for: a kernel that opens directories itself also keeps
//! their listings in its own cache (FOPEN_CACHE_DIR) until the directory's mtime changes, which
//! a change made through S3 never does, so listings would stop showing outside changes.

use crate::error::FsError;
use crate::fs::{DirEntryOut, Fs, Invalidator, OpenMode, SetAttr};
use crate::inode::{Attr, Kind};
use crate::passthrough::{IoModes, Mode};
use fuser::{
    BackingId, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    IoctlFlags, KernelConfig, LockOwner, Notifier, OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyIoctl, ReplyOpen, ReplyStatfs,
    ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Largest write (and read) request: 1 MiB.
pub const MAX_IO: u32 = 1 << 20;
/// Reported `st_blksize`, the I/O size tools such as `cp` use.
const BLKSIZE: u32 = 1 << 20;

/// fuser's [`Filesystem`] over [`Fs`].
pub struct Adapter {
    fs: Arc<Fs>,
    rt: tokio::runtime::Handle,
    attr_ttl: Duration,
    entry_ttl: Duration,
    /// `--passthrough` asked for and the kernel agreed to it in `init`.
    passthrough: bool,
    /// Open handles by kernel I/O mode (passthrough or caching), per inode.
    modes: std::sync::Mutex<IoModes<BackingId>>,
    /// Signalled when an inode's last passthrough handle is released.
    released: std::sync::Condvar,
}

/// How long a writer's open waits for the release of passthrough readers before EBUSY: the
/// kernel sends RELEASE in the background after `close`, so `cat f; echo x > f` would
/// otherwise race it.
const RELEASE_WAIT: Duration = Duration::from_secs(1);

impl Adapter {
    pub fn new(fs: Arc<Fs>, rt: tokio::runtime::Handle) -> Self {
        let attr_ttl = fs.config().stat_ttl;
        let entry_ttl = fs.config().type_ttl;
        Adapter {
            fs,
            rt,
            attr_ttl,
            entry_ttl,
            passthrough: false,
            modes: std::sync::Mutex::default(),
            released: std::sync::Condvar::new(),
        }
    }

    fn modes(&self) -> std::sync::MutexGuard<'_, IoModes<BackingId>> {
        self.modes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Count a writer's open of `ino` ([`IoModes::reserve_writer`]), waiting up to
    /// [`RELEASE_WAIT`] for passthrough readers' releases; false: they are still open.
    fn reserve_writer(&self, ino: u64) -> bool {
        let deadline = std::time::Instant::now() + RELEASE_WAIT;
        let mut modes = self.modes();
        loop {
            if modes.reserve_writer(ino).is_ok() {
                return true;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            modes = self
                .released
                .wait_timeout(modes, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn run<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.rt.block_on(f)
    }

    /// [`Adapter::run`] for one FUSE operation, counted and timed in the metrics by `name`.
    fn op<T>(
        &self,
        name: &'static str,
        f: impl std::future::Future<Output = Result<T, FsError>>,
    ) -> Result<T, FsError> {
        let started = std::time::Instant::now();
        // This session thread waits for the answer anyway: the embedded store's blocking work
        // runs on it rather than on a pool thread it would wait for.
        let r = ozfs::store::local::on_own_thread(|| self.rt.block_on(f));
        ozfs::metrics::fuse_op(name, r.is_ok(), started.elapsed());
        r
    }
}

/// Log an error once, at the edge, and convert it.
fn errno(op: &str, e: &FsError) -> Errno {
    let n = e.errno();
    if e.is_expected() {
        log::debug!("{op}: {e}");
    } else {
        log::warn!("{op} failed: {e:#} ({n})");
    }
    Errno::from_i32(n.0)
}

fn file_type(k: Kind) -> FileType {
    match k {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
        Kind::Symlink => FileType::Symlink,
    }
}

fn to_file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: a.mtime,
        mtime: a.mtime,
        ctime: a.ctime,
        crtime: a.mtime,
        kind: file_type(a.kind),
        perm: a.perm,
        nlink: if a.kind == Kind::Dir { 2 } else { 1 },
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: BLKSIZE,
        flags: 0,
    }
}

fn name_str(name: &OsStr) -> Result<&str, Errno> {
    name.to_str().ok_or(Errno::EINVAL)
}

/// Thread-group id of the thread `pid` (FUSE reports the thread's id; goofys's flush rule is
/// about processes).
fn tgid_of(pid: u32) -> u32 {
    use std::io::Read as _;
    // `Tgid:` is the fourth line of the status file, within its first few hundred bytes: one
    // read of them instead of the whole file (this runs on every open and flush).
    let mut buf = [0u8; 512];
    let n = std::fs::File::open(format!("/proc/{pid}/status"))
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    tgid_in(&buf[..n]).unwrap_or(pid)
}

/// The `Tgid:` value of (the start of) a `/proc/PID/status` file.
fn tgid_in(status: &[u8]) -> Option<u32> {
    std::str::from_utf8(status)
        .unwrap_or_else(|e| std::str::from_utf8(&status[..e.valid_up_to()]).unwrap_or_default())
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

fn time_of(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

impl Filesystem for Adapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let want = [
            InitFlags::FUSE_DO_READDIRPLUS,
            InitFlags::FUSE_PARALLEL_DIROPS,
            InitFlags::FUSE_ATOMIC_O_TRUNC,
            InitFlags::FUSE_AUTO_INVAL_DATA,
            InitFlags::FUSE_MAX_PAGES,
            InitFlags::FUSE_ASYNC_READ,
            InitFlags::FUSE_BIG_WRITES,
        ];
        for f in want {
            if config.add_capabilities(f).is_err() {
                log::debug!("kernel lacks {f:?}");
            }
        }
        if let Err(max) = config.set_max_write(MAX_IO) {
            let _ = config.set_max_write(max);
        }
        // The kernel caps readahead at what it offered; ask for 1 MiB and take the cap.
        if let Err(max) = config.set_max_readahead(MAX_IO) {
            let _ = config.set_max_readahead(max);
        }
        let _ = config.set_max_background(64);
        if self.fs.config().passthrough {
            // depth 2: the data directory may itself be on a stacked filesystem (overlayfs)
            self.passthrough =
                config.add_capabilities(InitFlags::FUSE_PASSTHROUGH).is_ok() && config.set_max_stack_depth(2).is_ok();
            if !self.passthrough {
                self.fs.passthrough_refused();
                log::warn!(
                    "--passthrough: this kernel does not offer FUSE passthrough; reads are served as without it"
                );
            }
        }
        Ok(())
    }

    fn destroy(&mut self) {
        let fs = self.fs.clone();
        self.run(async move { fs.flush_all().await });
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let name = match name_str(name) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match self.op("lookup", self.fs.lookup(parent.0, name)) {
            Ok(a) => reply.entry_with_ttls(&self.attr_ttl, &self.entry_ttl, &to_file_attr(&a), Generation(0)),
            Err(e) => reply.error(errno("lookup", &e)),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.fs.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.op("getattr", self.fs.getattr(ino.0)) {
            Ok(a) => reply.attr(&self.attr_ttl, &to_file_attr(&a)),
            Err(e) => reply.error(errno("getattr", &e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let sa = SetAttr {
            mode,
            uid,
            gid,
            size,
            mtime: mtime.map(time_of),
            fh: fh.map(|f| f.0),
        };
        match self.op("setattr", self.fs.setattr(ino.0, sa)) {
            Ok(a) => reply.attr(&self.attr_ttl, &to_file_attr(&a)),
            Err(e) => reply.error(errno("setattr", &e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.op("readlink", self.fs.readlink(ino.0)) {
            Ok(t) => reply.data(&t),
            Err(e) => reply.error(errno("readlink", &e)),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let name = match name_str(name) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match self.op(
            "mknod",
            self.fs.mknod(parent.0, name, mode & !umask, req.uid(), req.gid()),
        ) {
            Ok(a) => reply.entry_with_ttls(&self.attr_ttl, &self.entry_ttl, &to_file_attr(&a), Generation(0)),
            Err(e) => reply.error(errno("mknod", &e)),
        }
    }

    fn mkdir(&self, req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, reply: ReplyEntry) {
        let name = match name_str(name) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match self.op(
            "mkdir",
            self.fs.mkdir(parent.0, name, mode & !umask, req.uid(), req.gid()),
        ) {
            Ok(a) => reply.entry_with_ttls(&self.attr_ttl, &self.entry_ttl, &to_file_attr(&a), Generation(0)),
            Err(e) => reply.error(errno("mkdir", &e)),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = match name_str(name) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match self.op("unlink", self.fs.unlink(parent.0, name)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno("unlink", &e)),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = match name_str(name) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match self.op("rmdir", self.fs.rmdir(parent.0, name)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno("rmdir", &e)),
        }
    }

    fn symlink(&self, req: &Request, parent: INodeNo, link_name: &OsStr, target: &Path, reply: ReplyEntry) {
        let (name, target) = match (name_str(link_name), target.to_str()) {
            (Ok(n), Some(t)) => (n, t),
            _ => return reply.error(Errno::EINVAL),
        };
        match self.op("symlink", self.fs.symlink(parent.0, name, target, req.uid(), req.gid())) {
            Ok(a) => reply.entry_with_ttls(&self.attr_ttl, &self.entry_ttl, &to_file_attr(&a), Generation(0)),
            Err(e) => reply.error(errno("symlink", &e)),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let (name, newname) = match (name_str(name), name_str(newname)) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return reply.error(Errno::EINVAL),
        };
        // Exchanging two names cannot be done atomically on an object store (s3fs: EINVAL too).
        if flags.intersects(RenameFlags::RENAME_EXCHANGE | RenameFlags::RENAME_WHITEOUT) {
            return reply.error(Errno::EINVAL);
        }
        let noreplace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        match self.op(
            "rename",
            self.fs.rename(parent.0, name, newparent.0, newname, noreplace),
        ) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno("rename", &e)),
        }
    }

    fn link(&self, _req: &Request, _ino: INodeNo, _newparent: INodeNo, _newname: &OsStr, reply: ReplyEntry) {
        // Objects have one name each; s3fs answers ENOTSUP as well.
        reply.error(Errno::from_i32(libc::ENOTSUP));
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mode = OpenMode {
            write: !matches!(flags.acc_mode(), OpenAccMode::O_RDONLY),
            truncate: flags.0 & libc::O_TRUNC != 0,
        };
        // Without passthrough there is nothing to keep track of: no handle takes the mutex.
        // With it, a writer is counted before its open, so that no reader gets passthrough
        // meanwhile.
        if self.passthrough && mode.write && !self.reserve_writer(ino.0) {
            log::debug!(
                "open ino={} for writing: open read-only through passthrough (EBUSY)",
                ino.0
            );
            return reply.error(Errno::EBUSY);
        }
        let pid = req.pid();
        let o = match self.op("open", self.fs.open_by(ino.0, mode, pid, tgid_of(pid))) {
            Ok(o) => o,
            Err(e) => {
                if self.passthrough && mode.write {
                    self.modes().cancel_writer(ino.0);
                }
                return reply.error(errno("open", &e));
            }
        };
        let f = if o.keep_cache {
            FopenFlags::FOPEN_KEEP_CACHE
        } else {
            FopenFlags::empty()
        };
        let fh = FileHandle(o.fh);
        if !self.passthrough {
            return reply.opened(fh, f);
        }
        let mut modes = self.modes();
        if mode.write {
            modes.bind_writer(ino.0, o.fh);
            return reply.opened(fh, f);
        }
        let file = o.backing;
        let r = &reply;
        let d = modes.open_reader(ino.0, o.fh, file.as_ref().map(|file| move || r.open_backing(file)));
        if let Some(e) = &d.failed {
            log::warn!("passthrough of ino={}: {e}; reading it through ozfs", ino.0);
        }
        match (d.mode, d.backing) {
            (Mode::Passthrough, Some(id)) => {
                ozfs::metrics::fuse_op("open_passthrough", true, Duration::ZERO);
                // The kernel refuses (EIO) KEEP_CACHE beside passthrough: its page cache is the
                // backing file's. No flush either: no writer can have the inode open meanwhile.
                reply.opened_passthrough(fh, FopenFlags::FOPEN_NOFLUSH, id)
            }
            _ => reply.opened(fh, f),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.op("read", self.fs.read(ino.0, fh.0, offset, size)) {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(errno("read", &e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.op("write", self.fs.write(ino.0, fh.0, offset, data)) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(errno("write", &e)),
        }
    }

    fn flush(&self, req: &Request, ino: INodeNo, fh: FileHandle, _lock_owner: LockOwner, reply: ReplyEmpty) {
        let pid = req.pid();
        match self.op("flush", self.fs.flush_by(ino.0, fh.0, pid, || tgid_of(pid))) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno("flush", &e)),
        }
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        // the last passthrough handle of the inode closes its backing id (after the reply)
        let backing = self.passthrough.then(|| self.modes().release(fh.0)).flatten();
        if backing.is_some() {
            self.released.notify_all();
        }
        match self.op("release", self.fs.release(ino.0, fh.0)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno("release", &e)),
        }
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        match self.op("fsync", self.fs.fsync(ino.0, fh.0)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno("fsync", &e)),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let started = std::time::Instant::now();
        let r = self.fs.opendir(ino.0);
        ozfs::metrics::fuse_op("opendir", r.is_ok(), started.elapsed());
        match r {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(errno("opendir", &e)),
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let mut sink =
            |e: DirEntryOut<'_>| reply.add(INodeNo(e.attr.ino), e.next_offset, file_type(e.attr.kind), e.name);
        match self.op("readdir", self.fs.readdir(ino.0, fh.0, offset, false, &mut sink)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno("readdir", &e)),
        }
    }

    fn readdirplus(&self, _req: &Request, ino: INodeNo, fh: FileHandle, offset: u64, mut reply: ReplyDirectoryPlus) {
        let (attr_ttl, entry_ttl) = (self.attr_ttl, self.entry_ttl);
        let ttl = attr_ttl.min(entry_ttl);
        let mut sink = |e: DirEntryOut<'_>| {
            reply.add(
                INodeNo(e.attr.ino),
                e.next_offset,
                e.name,
                &ttl,
                &to_file_attr(&e.attr),
                Generation(0),
            )
        };
        match self.op("readdirplus", self.fs.readdir(ino.0, fh.0, offset, true, &mut sink)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno("readdirplus", &e)),
        }
    }

    fn releasedir(&self, _req: &Request, ino: INodeNo, fh: FileHandle, _flags: OpenFlags, reply: ReplyEmpty) {
        let started = std::time::Instant::now();
        let r = self.fs.releasedir(ino.0, fh.0);
        ozfs::metrics::fuse_op("releasedir", r.is_ok(), started.elapsed());
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno("releasedir", &e)),
        }
    }

    fn fsyncdir(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        // Directory changes are committed to the store before their replies.
        reply.ok();
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        // Like goofys, the mount does not enforce permissions itself (the kernel does when the
        // mount has `-o default_permissions`): every access check passes.
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let s = self.fs.statfs();
        reply.statfs(
            s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namelen, s.frsize,
        );
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        let name = match name_str(name) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match self.op("setxattr", self.fs.setxattr(ino.0, name, value, flags)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno("setxattr", &e)),
        }
    }

    /// No ioctl is supported: ENOTTY, the answer for a file that is not a terminal (Python's
    /// `open` asks TCGETS of every file it opens), without a log line.
    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: IoctlFlags,
        cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: ReplyIoctl,
    ) {
        log::debug!("ioctl {cmd:#x}: ENOTTY");
        reply.error(Errno::from_i32(libc::ENOTTY));
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let Ok(name) = name_str(name) else {
            return reply.error(Errno::from_i32(libc::ENODATA));
        };
        // Namespaces other than `user.` and `s3.` (security.selinux, system.posix_acl_access)
        // are not supported here: ENOTSUP, answered without a trip through the runtime. `ls -l`
        // asks for those two on every entry until one answers ENOTSUP, then never again for the
        // filesystem (ENODATA would cost two FUSE round trips per entry).
        if !name.starts_with("user.") && !name.starts_with("s3.") {
            return reply.error(Errno::from_i32(libc::EOPNOTSUPP));
        }
        match self.op("getxattr", self.fs.getxattr(ino.0, name)) {
            Ok(v) => xattr_reply(reply, size, &v),
            Err(e) => reply.error(errno("getxattr", &e)),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        match self.op("listxattr", self.fs.listxattr(ino.0)) {
            Ok(v) => xattr_reply(reply, size, &v),
            Err(e) => reply.error(errno("listxattr", &e)),
        }
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = match name_str(name) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match self.op("removexattr", self.fs.removexattr(ino.0, name)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno("removexattr", &e)),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let name = match name_str(name) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        let pid = req.pid();
        match self.op(
            "create",
            self.fs
                .create_by(parent.0, name, mode & !umask, req.uid(), req.gid(), pid, tgid_of(pid)),
        ) {
            Ok((a, o)) => {
                if self.passthrough {
                    let mut modes = self.modes();
                    if modes.reserve_writer(a.ino).is_ok() {
                        modes.bind_writer(a.ino, o.fh);
                    }
                }
                reply.created(
                    &self.entry_ttl,
                    &to_file_attr(&a),
                    Generation(0),
                    FileHandle(o.fh),
                    FopenFlags::empty(),
                )
            }
            Err(e) => reply.error(errno("create", &e)),
        }
    }
}

/// Answer an xattr request with ERANGE size-probe semantics.
fn xattr_reply(reply: ReplyXattr, size: u32, v: &[u8]) {
    if size == 0 {
        reply.size(v.len() as u32);
    } else if v.len() > size as usize {
        reply.error(Errno::ERANGE);
    } else {
        reply.data(v);
    }
}

/// [`Invalidator`] over fuser's [`Notifier`]: it blocks while the kernel holds the locks, so the
/// mount only calls it from [`crate::invalidate::QueuedInvalidator`]'s own thread (a write from a
/// runtime worker deadlocked a `cat` after `mv` of its directory on Ozone).
pub struct KernelInvalidator(pub Notifier);

impl Invalidator for KernelInvalidator {
    fn inval_entry(&self, parent: u64, name: &str) {
        if let Err(e) = self.0.inval_entry(INodeNo(parent), OsStr::new(name)) {
            log::debug!("inval_entry({parent}, {name:?}): {e}");
        }
    }

    fn inval_inode(&self, ino: u64) {
        if let Err(e) = self.0.inval_inode(INodeNo(ino), 0, -1) {
            log::debug!("inval_inode({ino}): {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tgid_of_a_thread_is_its_process() {
        let me = std::process::id();
        assert_eq!(tgid_of(me), me);
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let h = std::thread::spawn(move || {
            // /proc/thread-self is "PID/task/TID".
            let link = std::fs::read_link("/proc/thread-self").unwrap();
            let tid: u32 = link.file_name().unwrap().to_str().unwrap().parse().unwrap();
            tx.send(tid).unwrap();
            let _ = done_rx.recv();
        });
        let live = rx.recv().unwrap();
        assert_ne!(live, me);
        assert_eq!(tgid_of(live), me);
        drop(done_tx);
        h.join().unwrap();
    }

    #[test]
    fn tgid_in_reads_the_status_line_or_nothing() {
        let s = b"Name:\tpython3\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t26664\nNgid:\t0\n";
        assert_eq!(tgid_in(s), Some(26664));
        assert_eq!(tgid_in(b"Name:\tx\nState:\tR\n"), None);
        // A cut in the middle of a multi-byte name still finds the line before the cut.
        let mut v = "Name:\t\u{e9}\u{e9}\nTgid:\t7\n".as_bytes().to_vec();
        v.extend_from_slice(&[0xc3]);
        assert_eq!(tgid_in(&v), Some(7));
    }
}
