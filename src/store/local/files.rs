//! The data files of the embedded store. Object bytes live in `objects/<xx>/<id>`, where `id` is a
//! version number allocated by the store and `xx` its low byte in hex (256-way fan-out); a key
//! name never becomes part of a path, so no key can reach outside the data directory.
//!
//! Writing: a body streams through bounded channels to two blocking tasks, one hashing (MD5,
//! checksum), one writing through a 1 MiB buffer (or, for a put that carries a
//! [`PageSink`], through page buffers handed to the sink once written: write-allocate) into
//! `tmp/<id>` with streaming write-back, each window dropped from the kernel's cache once
//! written back (keeping them measured 10–20 % slower 64 MiB PUTs); the file is then fsynced,
//! its pages dropped, and renamed into `objects/`. The directory is fsynced (once for many
//! puts) by [`Files::sync_dirty_dirs`] before the metadata that references the file becomes
//! durable. A body that fails, or a put that is dropped half-way (wherever it waits, also while
//! its blocking tasks still run: see [`Gate`]), removes its files at once; anything left after a
//! crash is removed by [`Files::recover`] on the next open.
//!
//! Reading: the bytes of an object are a list of segments (one file for a plain object, one per
//! part for a multipart object), read in 1 MiB chunks by blocking tasks, [`READS_IN_FLIGHT`] at
//! once. Reads leave the file's pages in the kernel's cache (writes drop theirs, see above):
//! dropping them behind each chunk (`POSIX_FADV_DONTNEED`, as before) cost more CPU than the
//! fresh pages the kernel then allocates, and a second read of an object larger than the page
//! cache of ozfs (or evicted from it) comes from memory, as it does for MinIO and SeaweedFS
//! (docs/bench-findings.md, "Reads keep the kernel's pages").

use super::codec::Segment;
use crate::error::{Error, Result};
use crate::namespace::rules::{BodyDigest, Digests};
use crate::store::{ByteStream, PageSink};
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Size of one read or write chunk.
pub const CHUNK: usize = 1 << 20;

/// The `objects/` and `tmp/` directories of a data directory.
pub struct Files {
    objects: PathBuf,
    tmp: PathBuf,
    /// Fan-out directories that gained entries not yet made durable.
    dirty: Mutex<HashSet<u8>>,
    /// Data files pinned by readers (see [`Files::pin`]).
    pins: Mutex<Pins>,
    /// The 256 fan-out directories, held open: a data file is opened relative to its directory
    /// ([`Files::open_file`]), so opening one after the kernel dropped its caches (a cold first
    /// read) looks up one name instead of walking the whole path (measured: 0.25–1.3 ms instead
    /// of 0.8–10.8 ms for a cold open). Empty when they could not be opened (paths are used).
    fanout: Vec<File>,
}

/// Data files a reader pinned: their pin counts, and those whose removal waits for the last
/// unpin. A deferred file left behind by a crash is unreferenced and [`Files::recover`] removes it.
#[derive(Default)]
struct Pins {
    count: HashMap<u64, usize>,
    deferred: HashSet<u64>,
}

/// What recovery removed and found.
#[derive(Debug, Default, Clone, Copy)]
pub struct Recovery {
    pub removed_tmp: u64,
    pub removed_orphans: u64,
    /// Highest file id seen (referenced or not).
    pub max_id: u64,
}

enum Msg {
    Chunk(Bytes),
    End,
}

/// Tell the kernel it need not keep these pages cached.
#[allow(unsafe_code, reason = "posix_fadvise(2) through libc: std has no page-cache advice")]
fn drop_cache(f: &File, offset: u64, len: u64) {
    // SAFETY: posix_fadvise only reads its integer arguments; the fd is valid while `f` lives.
    unsafe {
        libc::posix_fadvise(
            f.as_raw_fd(),
            offset as libc::off_t,
            len as libc::off_t,
            libc::POSIX_FADV_DONTNEED,
        );
    }
}

/// Open the file named `id` (decimal) in the directory `dir`, read-only.
#[allow(unsafe_code, reason = "openat(2) through libc: std opens by path only")]
fn open_at(dir: &File, id: u64) -> std::io::Result<File> {
    use std::os::fd::FromRawFd;
    let name = std::ffi::CString::new(id.to_string()).map_err(std::io::Error::other)?;
    // SAFETY: `name` is a valid NUL-terminated string and the directory fd is valid while `dir`
    // lives; openat only reads them.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Read exactly `len` bytes of `f` at `off` into a new (or recycled, see
/// [`crate::cache::buffers`]) buffer, without zeroing it first (the
/// memset of a zeroed 1 MiB buffer per chunk cost about half as much CPU as the copy out of the
/// kernel on large cold GETs). Fails with `UnexpectedEof` if the file ends before `len` bytes.
#[allow(
    unsafe_code,
    reason = "pread(2) into the buffer's spare capacity: std has no stable read into uninitialised memory"
)]
fn read_chunk(f: &File, off: u64, len: usize) -> std::io::Result<Bytes> {
    // an evicted page's buffer when there is one: already resident, no page faults
    let mut buf: Vec<u8> = crate::cache::buffers::take(len);
    while buf.len() < len {
        let filled = buf.len();
        let want = len - filled;
        let at = off + filled as u64;
        // SAFETY: the pointer is `want` bytes of the Vec's spare capacity (capacity >= `len`),
        // which pread only writes; the fd is valid while `f` lives.
        let n = unsafe {
            libc::pread(
                f.as_raw_fd(),
                buf.as_mut_ptr().add(filled).cast::<libc::c_void>(),
                want,
                at as libc::off_t,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        // SAFETY: pread wrote `n` (at most `want`) bytes right after the initialised ones.
        unsafe { buf.set_len(filled + n as usize) };
    }
    Ok(Bytes::from(buf))
}

/// How [`Files::adopt`] gets the digests of a file.
pub enum Hash {
    /// Read the file back and hash it.
    Compute(Box<BodyDigest>),
    /// Computed by the writer of the file as it wrote it.
    Known(Digests),
}

/// Free space (for unprivileged writers) below which [`Files::adopt`] copies instead: the room
/// a copy would have taken plus this much is left for the metadata the commit writes.
const ADOPT_HEADROOM: u64 = 4 << 20;

/// Bytes free for unprivileged writers on the filesystem of `dir`.
#[allow(unsafe_code, reason = "statvfs(3) through libc: std has no free-space call")]
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs fills the struct it is given; the path is a NUL-terminated string.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Give the open file `f` the new name `dst` (`linkat` of its `/proc/self/fd` entry, which also
/// links a file created with `O_TMPFILE`); EXDEV when `dst` is on another filesystem.
#[allow(
    unsafe_code,
    reason = "linkat(2) through libc: std cannot link an open file by descriptor"
)]
fn link_fd(f: &File, dst: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let src = std::ffi::CString::new(format!("/proc/self/fd/{}", f.as_raw_fd()))?;
    let dst = std::ffi::CString::new(dst.as_os_str().as_bytes())?;
    // SAFETY: both paths are NUL-terminated strings that live across the call; the fd is valid
    // while `f` lives.
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            src.as_ptr(),
            libc::AT_FDCWD,
            dst.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// How many chunk reads of one body run at once (the next chunks are read while the current
/// one is sent).
pub const READS_IN_FLIGHT: usize = 4;
/// The first chunks of a body, and the rest of it unless it ended within them.
pub struct Head {
    pub chunks: Vec<Bytes>,
    pub len: usize,
    pub rest: Option<ByteStream>,
}

/// Read a body until it ends or at least `limit` bytes came.
pub async fn read_head(mut body: ByteStream, limit: usize) -> Result<Head> {
    let mut chunks = Vec::new();
    let mut len = 0usize;
    while len < limit {
        match body.next().await {
            None => {
                return Ok(Head {
                    chunks,
                    len,
                    rest: None,
                })
            }
            Some(Ok(c)) => {
                len += c.len();
                chunks.push(c);
            }
            Some(Err(e)) => return Err(e),
        }
    }
    Ok(Head {
        chunks,
        len,
        rest: Some(body),
    })
}

/// Bodies up to this size are written by one blocking task, without a pipeline.
pub const SMALL_BODY: usize = 256 * 1024;
/// The writer starts write-back of each window of this size as soon as it is written, and
/// waits for the previous window before dropping it from the kernel's cache.
pub const WRITEBACK_WINDOW: u64 = 8 << 20;

/// Hash the chunks of a body as they arrive.
fn hash_loop(mut rx: tokio::sync::mpsc::Receiver<Msg>, mut digest: BodyDigest) -> Result<Digests> {
    loop {
        match rx.blocking_recv() {
            Some(Msg::Chunk(c)) => digest.update(&c)?,
            Some(Msg::End) => return digest.finish(),
            None => return Err(Error::InvalidArgument("body aborted".into())),
        }
    }
}

/// Where [`write_loop`] puts a body's bytes on their way to the file.
enum Out {
    /// A plain 1 MiB write buffer.
    Buffered(BufWriter<File>),
    /// Page buffers of a [`PageSink`]: each is written to the file, then handed to the sink.
    Paged(File, Pages),
}

/// The page being filled for a [`PageSink`].
struct Pages {
    sink: Arc<dyn PageSink>,
    version: u64,
    size: usize,
    index: u64,
    buf: Vec<u8>,
    /// Bytes of `buf` already written to the file (by a flush before the page was full).
    flushed: usize,
}

impl Pages {
    fn new(sink: Arc<dyn PageSink>, version: u64) -> Pages {
        let size = sink.page_size().max(1);
        Pages {
            sink,
            version,
            size,
            index: 0,
            buf: Vec::new(),
            flushed: 0,
        }
    }

    /// Copy `c` into the page being filled; each page that fills up goes to the file and then
    /// to the sink. A page buffer is taken only when bytes arrive for it, so the end of a body
    /// takes none.
    fn write(&mut self, file: &mut File, mut c: &[u8]) -> std::io::Result<()> {
        while !c.is_empty() {
            if self.buf.capacity() == 0 {
                self.buf = crate::cache::buffers::take(self.size);
            }
            let n = (self.size - self.buf.len()).min(c.len());
            self.buf.extend_from_slice(&c[..n]);
            c = &c[n..];
            if self.buf.len() == self.size {
                self.emit(file)?;
            }
        }
        Ok(())
    }

    /// Write what `buf` holds beyond `flushed` to `file`.
    fn flush(&mut self, file: &mut File) -> std::io::Result<()> {
        file.write_all(&self.buf[self.flushed..])?;
        self.flushed = self.buf.len();
        Ok(())
    }

    /// Write the rest of the current page, hand it to the sink and start the next.
    fn emit(&mut self, file: &mut File) -> std::io::Result<()> {
        self.flush(file)?;
        if self.buf.is_empty() {
            return Ok(());
        }
        let page = std::mem::take(&mut self.buf);
        self.flushed = 0;
        self.sink.page(self.version, self.index, Bytes::from(page));
        self.index += 1;
        Ok(())
    }
}

impl Out {
    fn write(&mut self, c: &[u8]) -> std::io::Result<()> {
        match self {
            Out::Buffered(w) => w.write_all(c),
            Out::Paged(file, p) => p.write(file, c),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Buffered(w) => w.flush(),
            Out::Paged(file, p) => p.flush(file),
        }
    }
    fn file(&self) -> &File {
        match self {
            Out::Buffered(w) => w.get_ref(),
            Out::Paged(file, _) => file,
        }
    }
    /// Write everything still held (the last, partial page goes to the sink) and return the file.
    fn finish(self) -> Result<File> {
        match self {
            Out::Buffered(w) => w.into_inner().map_err(|e| Error::from(e.into_error())),
            Out::Paged(mut file, mut p) => {
                p.emit(&mut file)?;
                Ok(file)
            }
        }
    }
}

/// Write the chunks of a body into `tmp` with streaming write-back; returns the file, not yet
/// fsynced. Removes `tmp` when the body is aborted. With `pages`, the bytes go to the file
/// through page buffers that are then handed to the sink (no second copy).
fn write_loop(
    tmp: &Path,
    mut rx: tokio::sync::mpsc::Receiver<Msg>,
    gate: &Gate,
    pages: Option<(Arc<dyn PageSink>, u64)>,
) -> Result<File> {
    let run = || -> Result<File> {
        let file = gate.run(|| Ok(fs::OpenOptions::new().write(true).create_new(true).open(tmp)?))?;
        let mut w = match pages {
            Some((sink, version)) => Out::Paged(file, Pages::new(sink, version)),
            None => Out::Buffered(BufWriter::with_capacity(CHUNK, file)),
        };
        let mut written = 0u64; // bytes handed to the writer
        let mut submitted = 0u64; // write-back started up to here
        let mut dropped = 0u64; // written back and dropped from the cache up to here
        loop {
            match rx.blocking_recv() {
                Some(Msg::Chunk(c)) => {
                    w.write(&c)?;
                    written += c.len() as u64;
                    if written - submitted >= WRITEBACK_WINDOW {
                        w.flush()?;
                        let f = w.file();
                        crate::store::writeback::start(f, submitted, written - submitted);
                        if submitted > dropped {
                            wait_writeback(f, dropped, submitted - dropped);
                            drop_cache(f, dropped, submitted - dropped);
                            dropped = submitted;
                        }
                        submitted = written;
                    }
                }
                Some(Msg::End) => break,
                None => return Err(Error::InvalidArgument("body aborted".into())),
            }
        }
        w.finish()
    };
    let r = run();
    if r.is_err() {
        let _ = fs::remove_file(tmp);
    }
    r
}

/// Make a written temporary file durable and move it under its final name: fsync it, drop its
/// pages from the kernel's cache, rename it into `objects/`. The directory entry becomes durable
/// when the caller's directory is synced ([`Files::sync_dirty_dirs`]).
fn finalize(file: File, tmp: &Path, dst: &Path, gate: &Gate) -> Result<()> {
    file.sync_data()?;
    drop_cache(&file, 0, 0);
    gate.run(|| Ok(fs::rename(tmp, dst)?))
}

/// Cancellation safety of one write. The blocking tasks of a write outlive its future when the
/// future is dropped (a client that disconnects makes hyper drop the handler wherever it waits),
/// so they create and rename the write's files only through [`Gate::run`], and the write's
/// [`Abandon`] guard, dropped with the future, closes the gate and removes whatever exists: no
/// file of an abandoned write survives it, whichever side gets the lock first.
#[derive(Clone, Default)]
struct Gate(Arc<Mutex<bool>>);

impl Gate {
    /// Run a file-creating step unless the write was abandoned.
    fn run<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let abandoned = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if *abandoned {
            return Err(Error::InvalidArgument("write abandoned".into()));
        }
        f()
    }
}

/// Closes a write's [`Gate`] and removes its temporary and data files when dropped armed.
struct Abandon {
    gate: Gate,
    files: Option<[PathBuf; 2]>,
}

impl Abandon {
    fn disarm(mut self) {
        self.files = None;
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Some(files) = self.files.take() {
            let mut abandoned = self.gate.0.lock().unwrap_or_else(|e| e.into_inner());
            *abandoned = true;
            for f in files {
                let _ = fs::remove_file(f);
            }
        }
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code, reason = "sync_file_range(2) through libc: std has no ranged writeback")]
fn wait_writeback(f: &File, offset: u64, len: u64) {
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: sync_file_range only reads its integer arguments; the fd is valid while `f` lives.
    unsafe {
        libc::sync_file_range(f.as_raw_fd(), offset as libc::off64_t, len as libc::off64_t, flags);
    }
}

#[cfg(not(target_os = "linux"))]
fn wait_writeback(_f: &File, _offset: u64, _len: u64) {}

/// Removes a committed-to-disk data file on drop unless disarmed (a put dropped between the
/// data write and the metadata commit).
pub struct FileGuard {
    path: Option<PathBuf>,
}

impl FileGuard {
    pub fn disarm(mut self) {
        self.path = None;
    }
}

impl Drop for FileGuard {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_file(p);
        }
    }
}

impl Files {
    /// Create (if needed) `objects/00..ff` and `tmp/` under `dir`.
    pub fn open(dir: &Path) -> Result<Files> {
        let objects = dir.join("objects");
        let tmp = dir.join("tmp");
        fs::create_dir_all(&tmp)?;
        for i in 0..256u32 {
            fs::create_dir_all(objects.join(format!("{i:02x}")))?;
        }
        fsync_dir(&objects)?;
        fsync_dir(dir)?;
        let fanout = (0..256u32)
            .map(|i| File::open(objects.join(format!("{i:02x}"))))
            .collect::<std::io::Result<Vec<File>>>()
            .unwrap_or_else(|e| {
                log::debug!("fan-out directories not held open ({e}): data files are opened by path");
                Vec::new()
            });
        Ok(Files {
            objects,
            tmp,
            dirty: Mutex::new(HashSet::new()),
            pins: Mutex::new(Pins::default()),
            fanout,
        })
    }

    fn mark_dirty(&self, id: u64) {
        self.dirty
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((id & 0xff) as u8);
    }

    /// Fsync every fan-out directory that gained a data file since the last call. The store calls
    /// this before each durable metadata commit, so the directory entries of the files a commit
    /// references are durable before the commit is, and concurrent puts share the fsyncs.
    pub fn sync_dirty_dirs(&self) -> Result<()> {
        let dirs: Vec<u8> = self.dirty.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
        for (i, d) in dirs.iter().enumerate() {
            if let Err(e) = fsync_dir(&self.objects.join(format!("{d:02x}"))) {
                self.dirty
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(dirs[i..].iter().copied());
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Where the data file `id` lives.
    pub fn path(&self, id: u64) -> PathBuf {
        self.objects.join(format!("{:02x}", id & 0xff)).join(id.to_string())
    }

    fn tmp_path(&self, id: u64) -> PathBuf {
        self.tmp.join(id.to_string())
    }

    /// Stream `body` into the new data file `id`, verifying it with `digest`. When this returns
    /// Ok the file is durable under its final name; the guard removes it unless disarmed after
    /// the metadata commit.
    ///
    /// A body that ends within [`SMALL_BODY`] bytes is hashed and written by one blocking task.
    /// A larger one is pipelined: the hasher and the writer are two blocking tasks fed the same
    /// chunks, so a put runs at the speed of the slower of MD5 and the disk, not their sum; the
    /// writer starts write-back every [`WRITEBACK_WINDOW`] and drops written pages from the
    /// kernel's cache, so the final fsync is short and the page cache is not filled twice.
    pub async fn write(&self, id: u64, body: ByteStream, digest: BodyDigest) -> Result<(Digests, FileGuard)> {
        let head = read_head(body, SMALL_BODY).await?;
        self.write_head(id, head, digest, None).await
    }

    /// [`Files::write`] of a body whose head was already read by [`read_head`]; with `pages`,
    /// a body streamed to the file is also handed to that sink page by page, as version `id`.
    pub async fn write_head(
        &self,
        id: u64,
        head: Head,
        mut digest: BodyDigest,
        pages: Option<Arc<dyn PageSink>>,
    ) -> Result<(Digests, FileGuard)> {
        let tmp = self.tmp_path(id);
        let dst = self.path(id);
        let Head {
            chunks: head,
            len: head_len,
            rest,
        } = head;
        let gate = Gate::default();
        let abandon = Abandon {
            gate: gate.clone(),
            files: Some([tmp.clone(), dst.clone()]),
        };
        let Some(mut body) = rest else {
            let (t, d, g) = (tmp.clone(), dst.clone(), gate.clone());
            let r = tokio::task::spawn_blocking(move || -> Result<Digests> {
                let mut file = g.run(|| Ok(fs::OpenOptions::new().write(true).create_new(true).open(&t)?))?;
                for c in &head {
                    digest.update(c)?;
                }
                let dg = digest.finish()?;
                let mut buf = Vec::with_capacity(head_len);
                for c in &head {
                    buf.extend_from_slice(c);
                }
                file.write_all(&buf)?;
                finalize(file, &t, &d, &g)?;
                Ok(dg)
            })
            .await
            .map_err(|e| Error::storage_from("writer task failed", e))?;
            return match r {
                Ok(dg) => {
                    abandon.disarm();
                    self.mark_dirty(id);
                    Ok((dg, FileGuard { path: Some(dst) }))
                }
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    Err(e)
                }
            };
        };
        let (wtx, wrx) = tokio::sync::mpsc::channel::<Msg>(8);
        let (htx, hrx) = tokio::sync::mpsc::channel::<Msg>(8);
        let writer = {
            let (t, g) = (tmp.clone(), gate.clone());
            let pages = pages.map(|sink| (sink, id));
            tokio::task::spawn_blocking(move || write_loop(&t, wrx, &g, pages))
        };
        let hasher = tokio::task::spawn_blocking(move || hash_loop(hrx, digest));
        let mut body_err = None;
        let mut pending = head.into_iter();
        loop {
            let chunk = match pending.next() {
                Some(c) => c,
                None => match body.next().await {
                    None => break,
                    Some(Ok(c)) => c,
                    Some(Err(e)) => {
                        body_err = Some(e);
                        break;
                    }
                },
            };
            if chunk.is_empty() {
                continue;
            }
            // Either task stopping early means it failed; its error is reported below.
            if htx.send(Msg::Chunk(chunk.clone())).await.is_err() || wtx.send(Msg::Chunk(chunk)).await.is_err() {
                break;
            }
        }
        if body_err.is_none() {
            let _ = htx.send(Msg::End).await;
            let _ = wtx.send(Msg::End).await;
        }
        drop((htx, wtx));
        let joined = |e: tokio::task::JoinError| Error::storage_from("writer task failed", e);
        let hashed = hasher.await.map_err(joined)?;
        let written = writer.await.map_err(joined)?;
        let result = match (body_err, hashed, written) {
            (Some(e), _, _) => Err(e),
            (None, Err(e), _) => Err(e),
            (None, Ok(_), Err(e)) => Err(e),
            (None, Ok(dg), Ok(file)) => {
                let (t, d, g) = (tmp.clone(), dst.clone(), gate.clone());
                tokio::task::spawn_blocking(move || finalize(file, &t, &d, &g))
                    .await
                    .map_err(joined)?
                    .map(|()| dg)
            }
        };
        match result {
            Ok(dg) => {
                abandon.disarm();
                self.mark_dirty(id);
                Ok((dg, FileGuard { path: Some(dst) }))
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Make `file` itself the new data file `id`, without copying it, if it can be linked into
    /// `objects/` (a file created with `O_TMPFILE`, or linked elsewhere, on the filesystem of
    /// the data directory, exactly `len` bytes long, with room for a copy of it still free: see
    /// [`ADOPT_HEADROOM`]). Returns `Ok(None)`, having changed nothing,
    /// when it cannot: the caller copies the bytes instead. Otherwise the file is hashed (unless
    /// its digests are known) while it is fsynced (two blocking tasks), and when this returns Ok it is durable
    /// under its final name (its directory entry when [`Files::sync_dirty_dirs`] runs); the guard
    /// removes it unless disarmed after the metadata commit. The file's bytes are never changed.
    pub async fn adopt(&self, id: u64, file: Arc<File>, len: u64, hash: Hash) -> Result<Option<(Digests, FileGuard)>> {
        let dst = self.path(id);
        let gate = Gate::default();
        let abandon = Abandon {
            gate: gate.clone(),
            files: Some([dst.clone(), dst.clone()]),
        };
        let (f, d, g) = (file.clone(), dst.clone(), gate.clone());
        let objects = self.objects.clone();
        let linked = tokio::task::spawn_blocking(move || -> Result<bool> {
            if f.metadata()?.len() != len {
                return Ok(false);
            }
            // Nearly full: copy instead, so the refusal comes from the data write, cleanly, and
            // never from the metadata commit (redb refuses every later transaction after a failed
            // page write until it is reopened).
            if free_bytes(&objects).is_some_and(|free| free < len.saturating_add(ADOPT_HEADROOM)) {
                return Ok(false);
            }
            g.run(|| Ok(link_fd(&f, &d).is_ok()))
        })
        .await
        .map_err(|e| Error::storage_from("adopt task failed", e))??;
        if !linked {
            abandon.disarm();
            return Ok(None);
        }
        let f = file.clone();
        let hasher = tokio::task::spawn_blocking(move || -> Result<Digests> {
            let mut digest = match hash {
                Hash::Known(d) => return Ok(d),
                Hash::Compute(d) => *d,
            };
            let mut buf = vec![0u8; CHUNK];
            let mut off = 0u64;
            while off < len {
                let n = (len - off).min(CHUNK as u64) as usize;
                f.read_exact_at(&mut buf[..n], off)?;
                digest.update(&buf[..n])?;
                off += n as u64;
            }
            digest.finish()
        });
        let syncer = tokio::task::spawn_blocking(move || -> Result<()> {
            file.sync_data()?;
            drop_cache(&file, 0, 0);
            Ok(())
        });
        let joined = |e: tokio::task::JoinError| Error::storage_from("adopt task failed", e);
        let hashed = hasher.await.map_err(joined);
        let synced = syncer.await.map_err(joined);
        // On any error `abandon` (dropped here) unlinks the new name; the file stays the caller's.
        let dg = hashed??;
        synced??;
        abandon.disarm();
        self.mark_dirty(id);
        Ok(Some((dg, FileGuard { path: Some(dst) })))
    }

    /// Make `dst` a new data file with the bytes of `src` (a hard link; a copy where links are not
    /// supported), durably.
    pub fn clone_file(&self, src: u64, dst: u64) -> Result<FileGuard> {
        let (s, d) = (self.path(src), self.path(dst));
        if fs::hard_link(&s, &d).is_err() {
            let tmp = self.tmp_path(dst);
            fs::copy(&s, &tmp)?;
            File::open(&tmp)?.sync_data()?;
            fs::rename(&tmp, &d)?;
        }
        self.mark_dirty(dst);
        Ok(FileGuard { path: Some(d) })
    }

    /// Remove data files no longer referenced (after the commit that dropped them). A reader that
    /// already opened one keeps reading it; a pinned file is removed when its last pin drops.
    pub fn remove(&self, ids: impl IntoIterator<Item = u64>) {
        let now: Vec<u64> = {
            let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
            let (pinned, now): (Vec<u64>, Vec<u64>) = ids.into_iter().partition(|id| pins.count.contains_key(id));
            pins.deferred.extend(pinned);
            now
        };
        self.remove_now(now);
    }

    /// Remove data files at once (no pin check).
    pub fn remove_now(&self, ids: Vec<u64>) {
        for id in ids {
            if let Err(e) = fs::remove_file(self.path(id)) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    log::warn!("cannot remove data file {}: {e}", self.path(id).display());
                }
            }
        }
    }

    /// Pin the data files `ids`: until [`Files::unpin`], [`Files::remove`] defers removing them.
    /// Returns false (pinning nothing) when one of them is already gone.
    pub fn pin(&self, ids: &[u64]) -> bool {
        {
            let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
            for id in ids {
                *pins.count.entry(*id).or_insert(0) += 1;
            }
        }
        // Every removal consults the pins first, so a file present now stays until the unpin.
        if ids.iter().all(|id| self.path(*id).exists()) {
            return true;
        }
        let gone = self.unpin(ids);
        self.remove_now(gone);
        false
    }

    /// Release pins taken by [`Files::pin`]; returns the files whose removal was deferred and
    /// that nobody pins any more, for the caller to remove with [`Files::remove_now`].
    #[must_use]
    pub fn unpin(&self, ids: &[u64]) -> Vec<u64> {
        let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        let mut now = Vec::new();
        for id in ids {
            if let Some(c) = pins.count.get_mut(id) {
                *c -= 1;
                if *c == 0 {
                    pins.count.remove(id);
                    if pins.deferred.remove(id) {
                        now.push(*id);
                    }
                }
            }
        }
        now
    }

    /// Open a data file for reading (relative to its held fan-out directory), telling the
    /// kernel it will be read sequentially.
    #[allow(unsafe_code, reason = "posix_fadvise(2) through libc: std has no page-cache advice")]
    pub fn open_file(&self, id: u64) -> std::io::Result<File> {
        let f = match self.fanout.get((id & 0xff) as usize) {
            Some(dir) => open_at(dir, id)?,
            None => File::open(self.path(id))?,
        };
        // SAFETY: posix_fadvise only reads its integer arguments; the fd is valid while `f` lives.
        unsafe {
            libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL);
        }
        Ok(f)
    }

    /// Remove every temporary file and every data file whose id is not `referenced`.
    pub fn recover(&self, referenced: &HashSet<u64>) -> Result<Recovery> {
        let mut r = Recovery::default();
        for e in fs::read_dir(&self.tmp)? {
            let e = e?;
            if let Some(id) = e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) {
                r.max_id = r.max_id.max(id);
            }
            fs::remove_file(e.path())?;
            r.removed_tmp += 1;
        }
        for i in 0..256u32 {
            let sub = self.objects.join(format!("{i:02x}"));
            let mut removed = false;
            for e in fs::read_dir(&sub)? {
                let e = e?;
                let Some(id) = e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) else {
                    continue;
                };
                r.max_id = r.max_id.max(id);
                if !referenced.contains(&id) {
                    fs::remove_file(e.path())?;
                    r.removed_orphans += 1;
                    removed = true;
                }
            }
            if removed {
                fsync_dir(&sub)?;
            }
        }
        fsync_dir(&self.tmp)?;
        Ok(r)
    }
}

/// One segment of an object being read: its file, opened eagerly (so a concurrent overwrite
/// cannot take it away) or on first use.
pub struct SegHandle {
    pub seg: Segment,
    file: Mutex<Option<Arc<File>>>,
}

impl SegHandle {
    pub fn new(seg: Segment, file: Option<File>) -> Arc<SegHandle> {
        Arc::new(SegHandle {
            seg,
            file: Mutex::new(file.map(Arc::new)),
        })
    }

    fn file(&self, files: &Files, key: &str) -> Result<Arc<File>> {
        let mut g = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = &*g {
            return Ok(f.clone());
        }
        let f = match files.open_file(self.seg.file) {
            Ok(f) => Arc::new(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::ObjectChanged(key.to_string())),
            Err(e) => return Err(e.into()),
        };
        *g = Some(f.clone());
        Ok(f)
    }
}

/// The chunks to read for `range` of an object made of `segs`: (segment index, offset in its
/// file, length), each at most [`CHUNK`] and within one segment.
fn plan(segs: Vec<u64>, range: Range<u64>) -> impl Iterator<Item = (usize, u64, usize)> {
    let mut seg_start = 0u64;
    let mut idx = 0usize;
    let mut pos = range.start;
    std::iter::from_fn(move || {
        while idx < segs.len() && pos >= seg_start + segs[idx] {
            seg_start += segs[idx];
            idx += 1;
        }
        if pos >= range.end || idx >= segs.len() {
            return None;
        }
        let off = pos - seg_start;
        let len = (segs[idx] - off).min(range.end - pos).min(CHUNK as u64);
        pos += len;
        Some((idx, off, len as usize))
    })
}

/// A lazy body reading `range` of the object made of `segs`.
pub fn read_stream(files: Arc<Files>, segs: Vec<Arc<SegHandle>>, range: Range<u64>, key: String) -> ByteStream {
    let sizes: Vec<u64> = segs.iter().map(|s| s.seg.size).collect();
    let segs = Arc::new(segs);
    let key = Arc::new(key);
    let s = futures_util::stream::iter(plan(sizes, range))
        .map(move |(idx, off, len)| {
            let files = files.clone();
            let segs = segs.clone();
            let key = key.clone();
            async move {
                tokio::task::spawn_blocking(move || -> Result<Bytes> {
                    let f = segs[idx].file(&files, &key)?;
                    let buf = read_chunk(&f, off, len).map_err(|e| {
                        if e.kind() == std::io::ErrorKind::UnexpectedEof {
                            Error::storage(format!("data file {} is shorter than its record", segs[idx].seg.file))
                        } else {
                            e.into()
                        }
                    })?;
                    Ok(buf)
                })
                .await
                .map_err(|e| Error::storage_from("reader task failed", e))?
            }
        })
        .buffered(READS_IN_FLIGHT);
    Box::pin(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files_open_relative_to_the_held_fanout_directories() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path()).unwrap();
        assert_eq!(files.fanout.len(), 256, "every fan-out directory is held open");
        fs::write(files.path(0x1_2a), b"bytes of 298").unwrap();
        let f = files.open_file(0x1_2a).unwrap();
        assert_eq!(&read_chunk(&f, 0, 12).unwrap()[..], b"bytes of 298");
        // a missing file is NotFound, as with a path (readers map it to ObjectChanged)
        let e = files.open_file(0x2_2a).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        // the name is looked up in the held directory: a file renamed into it after open is found
        fs::write(dir.path().join("moved"), b"m").unwrap();
        fs::rename(dir.path().join("moved"), files.path(0x3_2a)).unwrap();
        assert_eq!(&read_chunk(&files.open_file(0x3_2a).unwrap(), 0, 1).unwrap()[..], b"m");
    }

    #[test]
    fn read_chunk_reads_exactly_or_fails_at_eof() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&p, &data).unwrap();
        let f = File::open(&p).unwrap();
        assert_eq!(&read_chunk(&f, 0, 3000).unwrap()[..], &data[..]);
        assert_eq!(&read_chunk(&f, 1000, 1500).unwrap()[..], &data[1000..2500]);
        assert_eq!(read_chunk(&f, 0, 0).unwrap().len(), 0);
        let e = read_chunk(&f, 2000, 1001).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn plan_splits_at_segments_and_chunks() {
        let c = CHUNK as u64;
        let p: Vec<_> = plan(vec![5, 5, 2], 3..11).collect();
        assert_eq!(p, vec![(0, 3, 2), (1, 0, 5), (2, 0, 1)]);
        let p: Vec<_> = plan(vec![3 * c], c / 2..3 * c).collect();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0], (0, c / 2, CHUNK));
        assert_eq!(p[2], (0, 2 * c + c / 2, CHUNK / 2));
        assert_eq!(plan(vec![0], 0..0).count(), 0);
        assert_eq!(plan(vec![0, 4], 0..4).collect::<Vec<_>>(), vec![(1, 0, 4)]);
    }
}
