//! The local staging area: where a file opened for writing is changed before it is committed to
//! the store as one new object version (at close, fsync, or flush).
//!
//! Design (this is the "sparse copy fetched on demand" choice):
//! - Each written inode has one anonymous temporary file (unlinked at creation, so nothing is
//!   left behind after a crash) in the staging directory, shared by all its handles.
//! - When the file already existed, its bytes are not copied up front. The staged file records the
//!   object version it started from (`base`) and which 1 MiB chunks of it have been copied in.
//!   A read or a partial write of a chunk that is not there yet first copies that chunk from the
//!   store (through the page cache); a chunk never touched costs nothing until commit.
//!   Appending to a large file therefore writes only the new bytes locally; the commit streams
//!   the rest of the old object through once.
//! - Truncation keeps a low-water mark (`base_valid`): bytes of the old object at or beyond it
//!   are never copied again, so truncate-then-extend reads zeros as POSIX requires (the staged
//!   file is sparse there).
//! - Commit fills every missing chunk, then hands the staged file to the store's `put_file`.
//!   A store that adopts files from the staging directory (the embedded store, when the
//!   directory is on the data directory's filesystem: [`StagingBudget::adopts`]) links the file
//!   in as the object's data file — one fsync, no second copy — so the staged copy then starts
//!   afresh as a sparse copy of the new version (an empty temporary file, chunks fetched on
//!   demand). Any other store gets the file streamed into `put_object`, and the staged file,
//!   equal to the new object, stays usable for more writes.
//! - Sequential writers do not wait for a full re-read at close: once a new (or truncated) file
//!   has been written strictly sequentially past [`STREAM_AFTER`] bytes, an upload starts in
//!   the background (`put_object` fed through a bounded channel) and every further appended
//!   write is sent to it as well as to the staged file, so the store hashes and writes while the
//!   application is still writing, and close only finishes the upload. Any other change (a
//!   write elsewhere, a truncate, an attribute change, a rename) cancels that upload, which
//!   then ends with an error so the store commits nothing, and the commit falls back to
//!   uploading the staged file. Small files never start one, nor does any file when the store
//!   adopts staged files (its commit at close costs no copy, so there is nothing to overlap).
//! - Small files stay in memory: a staged copy of at most [`MEM_MAX`] bytes is a buffer, not a
//!   temporary file, and is committed with `put_object` from that buffer (the embedded store
//!   keeps objects that small inline in its database anyway, so a file would only be written,
//!   read back and dropped). It moves to a temporary file the moment it would grow past
//!   `MEM_MAX` (the MD5 of a file written sequentially so far starts from the buffer then).
//! - The area is bounded: the bytes the staged files may hold (their sizes) are reserved
//!   against [`StagingBudget`]; a write or truncate that would exceed it fails with ENOSPC.

use crate::error::{FsError, FsResult};
use bytes::Bytes;
use futures_util::StreamExt;
use ozfs::{BucketPath, ByteStream, ObjectAttrs, ObjectInfo, ObjectStore, PutOptions};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::mpsc;

/// Size of a fetch unit of an existing object.
pub const CHUNK: u64 = 1 << 20;

/// A staged copy up to this size lives in memory (see the module docs); the embedded store
/// keeps objects up to the same size inline.
pub const MEM_MAX: u64 = 64 << 10;

/// Where a staged copy's bytes are: a buffer while small, else an anonymous temporary file.
/// Both are sparse: bytes never written read as zeros.
#[derive(Debug)]
enum Backing {
    Mem(Vec<u8>),
    File(File),
}

impl Backing {
    /// A temporary file in `dir`, unlinked from the start.
    fn file_in(dir: &Path) -> std::io::Result<Backing> {
        Ok(Backing::File(tempfile::tempfile_in(dir)?))
    }

    /// Whether this is still the in-memory buffer.
    fn is_mem(&self) -> bool {
        matches!(self, Backing::Mem(_))
    }

    /// Move the buffer into a temporary file in `dir` (nothing to do for a file).
    fn spill(&mut self, dir: &Path) -> std::io::Result<()> {
        if let Backing::Mem(v) = self {
            let f = tempfile::tempfile_in(dir)?;
            f.write_all_at(v, 0)?;
            *self = Backing::File(f);
        }
        Ok(())
    }

    /// Write `data` at `offset`; a buffer that would grow past [`MEM_MAX`] moves to a file in
    /// `dir` first.
    fn write_at(&mut self, dir: &Path, data: &[u8], offset: u64) -> std::io::Result<()> {
        let end = offset + data.len() as u64;
        if let Backing::Mem(v) = self {
            if end <= MEM_MAX {
                let (o, e) = (offset as usize, end as usize);
                if v.len() < e {
                    v.resize(e, 0);
                }
                v[o..e].copy_from_slice(data);
                return Ok(());
            }
            self.spill(dir)?;
        }
        match self {
            Backing::File(f) => f.write_all_at(data, offset),
            Backing::Mem(_) => unreachable!("spilled above"),
        }
    }

    /// Read at `offset` into `buf`; 0 past the written extent.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        match self {
            Backing::File(f) => f.read_at(buf, offset),
            Backing::Mem(v) => {
                let Some(rest) = usize::try_from(offset).ok().and_then(|o| v.get(o..)) else {
                    return Ok(0);
                };
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                Ok(n)
            }
        }
    }

    /// Set the length (a buffer only shrinks: growing it is implied by reads past its end).
    fn set_len(&mut self, dir: &Path, size: u64) -> std::io::Result<()> {
        if let Backing::Mem(v) = self {
            if size <= MEM_MAX {
                v.truncate(size as usize);
                return Ok(());
            }
            self.spill(dir)?;
        }
        match self {
            Backing::File(f) => f.set_len(size),
            Backing::Mem(_) => unreachable!("spilled above"),
        }
    }
}

/// A sequentially written new file starts uploading in the background past this size.
pub const STREAM_AFTER: u64 = 8 << 20;
/// Chunks queued between the writer and the background upload.
const STREAM_QUEUE: usize = 8;
/// A sequentially written file that the store will adopt starts write-back of each window of
/// this size as soon as it is written, so the fsync at commit has little left to do.
const WRITEBACK_WINDOW: u64 = 8 << 20;

/// The MD5 of a file written sequentially from its start, computed as it is written by a
/// blocking task beside the writer (fed through a bounded channel, so the writer never waits for
/// the hash unless it runs ahead of it), for a store that adopts the file at commit: it then
/// need not read the file back to hash it.
#[derive(Debug)]
struct SeqHash {
    tx: mpsc::Sender<Bytes>,
    task: tokio::task::JoinHandle<Option<[u8; 16]>>,
    /// Bytes `0..hashed` were sent to the task.
    hashed: u64,
    /// Writes that arrived ahead of `hashed` (the kernel may hand the pieces of one large write
    /// to several FUSE threads), by offset, until the gap before them is written.
    ahead: std::collections::BTreeMap<u64, Bytes>,
    ahead_bytes: u64,
}

/// How many bytes of early writes [`SeqHash`] holds before it gives up.
const HASH_REORDER_LIMIT: u64 = 16 << 20;

impl SeqHash {
    /// Start the hashing task (none outside a tokio runtime).
    fn start() -> Option<SeqHash> {
        let rt = tokio::runtime::Handle::try_current().ok()?;
        let (tx, mut rx) = mpsc::channel::<Bytes>(STREAM_QUEUE);
        let task = rt.spawn_blocking(move || {
            let mut d = ozfs::namespace::rules::BodyDigest::new(&PutOptions::default());
            while let Some(b) = rx.blocking_recv() {
                d.update(&b).ok()?;
            }
            d.finish().ok().map(|d| d.md5)
        });
        Some(SeqHash {
            tx,
            task,
            hashed: 0,
            ahead: Default::default(),
            ahead_bytes: 0,
        })
    }

    /// Take the write of `data` at `offset`; false once the hash cannot cover the file (a write
    /// over bytes already hashed, too much out of order, or the task gone).
    async fn feed(&mut self, offset: u64, data: &[u8]) -> bool {
        if offset < self.hashed {
            return false;
        }
        if offset > self.hashed {
            self.ahead_bytes += data.len() as u64;
            let replaced = self.ahead.insert(offset, Bytes::copy_from_slice(data));
            return replaced.is_none() && self.ahead_bytes <= HASH_REORDER_LIMIT;
        }
        if self.tx.send(Bytes::copy_from_slice(data)).await.is_err() {
            return false;
        }
        self.hashed += data.len() as u64;
        while let Some(e) = self.ahead.first_entry() {
            if *e.key() > self.hashed {
                break;
            }
            if *e.key() < self.hashed {
                return false;
            }
            let b = e.remove();
            self.ahead_bytes -= b.len() as u64;
            self.hashed += b.len() as u64;
            if self.tx.send(b).await.is_err() {
                return false;
            }
        }
        true
    }

    /// The MD5 of everything fed (dropping a `SeqHash` instead just ends its task).
    async fn finish(self, size: u64) -> Option<[u8; 16]> {
        if self.hashed != size || !self.ahead.is_empty() {
            return None;
        }
        drop(self.tx);
        self.task.await.ok().flatten()
    }
}

/// A background upload fed by sequential writes.
#[derive(Debug)]
struct Upload {
    tx: Option<mpsc::Sender<Bytes>>,
    /// Set just before `tx` is dropped on purpose: the body then ends normally. A body that ends
    /// without it (cancelled upload, dropped staged file) ends with an error instead.
    complete: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<ozfs::Result<ObjectInfo>>,
    key: String,
    attrs: ObjectAttrs,
    sent: u64,
}

impl Upload {
    fn cancel(mut self) {
        self.tx.take();
        // The body stream now yields an error; the put fails and commits nothing.
    }
}

/// Counts one background upload task as running until dropped (when the task ends).
#[derive(Debug)]
struct UploadRunning(Arc<AtomicU64>);

impl UploadRunning {
    fn new(count: &Arc<AtomicU64>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        UploadRunning(Arc::clone(count))
    }
}

impl Drop for UploadRunning {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether a background upload may start, runs, or is ruled out for this staged file.
#[derive(Debug)]
enum Streaming {
    /// New or truncated file written sequentially so far.
    Candidate,
    Running(Box<Upload>),
    Off,
}

/// The body of a background upload: the channel's chunks, then the end (or an error when the
/// channel closed without `complete`).
fn channel_body(rx: mpsc::Receiver<Bytes>, complete: Arc<AtomicBool>) -> ByteStream {
    Box::pin(futures_util::stream::unfold(
        (rx, complete, false),
        |(mut rx, complete, failed)| async move {
            if failed {
                return None;
            }
            match rx.recv().await {
                Some(b) => Some((Ok(b), (rx, complete, false))),
                None if complete.load(Ordering::Acquire) => None,
                None => Some((
                    Err(ozfs::Error::Body(
                        "upload cancelled: the file was changed out of sequence".into(),
                    )),
                    (rx, complete, true),
                )),
            }
        },
    ))
}

/// Fill `buf` from `offset` of `b`; false if the backing ends first or fails.
fn read_exact(b: &Backing, buf: &mut [u8], offset: u64) -> bool {
    let mut done = 0;
    while done < buf.len() {
        match b.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) | Err(_) => return false,
            Ok(n) => done += n,
        }
    }
    true
}

/// Byte budget of the staging area, shared by all staged files of a mount.
#[derive(Debug)]
pub struct StagingBudget {
    dir: PathBuf,
    limit: u64,
    used: AtomicU64,
    /// Background upload tasks not finished yet (also cancelled ones still failing their put).
    uploads: Arc<AtomicU64>,
    /// The store keeps committed staged files as they are (see [`StagingBudget::adopts`]).
    adopts: bool,
}

impl StagingBudget {
    pub fn new(dir: PathBuf, limit: u64) -> Self {
        StagingBudget {
            dir,
            limit,
            used: AtomicU64::new(0),
            uploads: Arc::default(),
            adopts: false,
        }
    }

    /// Background upload tasks still running: a cancelled upload's put fails some time after
    /// the cancel, and only then is it certain that it committed nothing.
    pub fn uploads_running(&self) -> u64 {
        self.uploads.load(Ordering::Acquire)
    }

    /// Record whether the store adopts files of this directory at commit
    /// ([`ozfs::Objects::adopts_files_from`]).
    pub fn with_adoption(mut self, adopts: bool) -> Self {
        self.adopts = adopts;
        self
    }

    /// Whether a committed staged file may have become the store's data file, so it must not
    /// be written again.
    pub fn adopts(&self) -> bool {
        self.adopts
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes currently reserved.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn reserve(&self, n: u64) -> FsResult<()> {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            let next = cur.checked_add(n).ok_or(FsError::StagingFull)?;
            if next > self.limit {
                return Err(FsError::StagingFull);
            }
            match self
                .used
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    ozfs::metrics::staging(i64::try_from(n).unwrap_or(i64::MAX));
                    return Ok(());
                }
                Err(c) => cur = c,
            }
        }
    }

    fn release(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
        ozfs::metrics::staging(-i64::try_from(n).unwrap_or(i64::MAX));
    }
}

/// A file being changed locally. See the module docs.
#[derive(Debug)]
pub struct Staged {
    file: Backing,
    budget: Arc<StagingBudget>,
    /// Reserved bytes (= `size` at all times).
    reserved: u64,
    /// The object version the unchanged bytes come from.
    base: Option<ObjectInfo>,
    /// Bytes of `base` below this offset are still part of the file.
    base_valid: u64,
    /// Chunks of `base` already copied into `file`.
    present: Vec<bool>,
    size: u64,
    /// Changed since the last commit (or never committed).
    dirty: bool,
    /// Attributes to write at commit (user metadata holds mode/uid/gid/mtime/xattrs).
    pub attrs: ObjectAttrs,
    /// Modification time to report and to write as `x-amz-meta-mtime`.
    pub mtime: SystemTime,
    /// End of the data while every write so far was sequential from 0 (new files only).
    seq_end: Option<u64>,
    streaming: Streaming,
    /// MD5 of bytes `0..seq_end` while every write was sequential (adopting stores only).
    seq_hash: Option<SeqHash>,
    /// Write-back started up to here (adopting stores only).
    written_back: u64,
    /// A sequential-write MD5 was wanted but the copy is still in memory: it starts (from the
    /// buffer) if the copy moves to a file while still written sequentially from 0.
    hash_wanted: bool,
}

impl Staged {
    /// A staged copy of `base` (None: a new, empty file). `dirty` says whether it must be
    /// committed even if nothing is written (a new file, or an open with O_TRUNC).
    pub fn new(
        budget: Arc<StagingBudget>,
        base: Option<ObjectInfo>,
        attrs: ObjectAttrs,
        mtime: SystemTime,
        dirty: bool,
    ) -> FsResult<Self> {
        let stream = !budget.adopts;
        let size = base.as_ref().map_or(0, |b| b.size);
        let file = match size <= MEM_MAX {
            true => Backing::Mem(Vec::new()),
            false => Backing::file_in(budget.dir())?,
        };
        // A buffer is hashed at commit by the store; a file only if it outgrows the buffer.
        let hash_wanted = size == 0 && dirty && budget.adopts;
        let seq_hash = match hash_wanted && !file.is_mem() {
            true => SeqHash::start(),
            false => None,
        };
        budget.reserve(size)?;
        let chunks = size.div_ceil(CHUNK) as usize;
        Ok(Staged {
            file,
            budget,
            reserved: size,
            base_valid: size,
            present: vec![false; chunks],
            base,
            size,
            dirty,
            seq_end: if size == 0 && dirty { Some(0) } else { None },
            streaming: if size == 0 && dirty && stream {
                Streaming::Candidate
            } else {
                Streaming::Off
            },
            attrs,
            mtime,
            seq_hash,
            written_back: 0,
            hash_wanted,
        })
    }

    /// Whether the staged copy is still an in-memory buffer (tests and metrics).
    pub fn in_memory(&self) -> bool {
        self.file.is_mem()
    }

    /// Write `data` at `offset` into the backing. When that moves a buffer to a file, a wanted
    /// sequential MD5 starts from the buffer's bytes (while the file is still sequential from 0).
    async fn put_bytes(&mut self, data: &[u8], offset: u64) -> FsResult<()> {
        let spills = offset + data.len() as u64 > MEM_MAX;
        if let (Backing::Mem(v), true, true) = (&self.file, spills, self.hash_wanted) {
            // The MD5 of the bytes so far (unwritten bytes below `size` are zeros).
            let mut head = v.clone();
            head.resize(self.size as usize, 0);
            self.seq_hash = SeqHash::start();
            if let Some(h) = &mut self.seq_hash {
                if !h.feed(0, &head).await {
                    self.seq_hash = None;
                }
            }
        }
        self.file.write_at(self.budget.dir(), data, offset)?;
        if !self.file.is_mem() {
            self.hash_wanted = false;
        }
        Ok(())
    }
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Mark as needing a commit (attribute changes of a file that is open for writing).
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// The object version the staged copy started from (or was last committed as).
    pub fn base(&self) -> Option<&ObjectInfo> {
        self.base.as_ref()
    }

    fn resize_reservation(&mut self, new_size: u64) -> FsResult<()> {
        if new_size > self.reserved {
            self.budget.reserve(new_size - self.reserved)?;
        } else {
            self.budget.release(self.reserved - new_size);
        }
        self.reserved = new_size;
        Ok(())
    }

    /// Copy chunk `c` of the base object into the staged file if it is not there yet.
    async fn fetch_chunk(&mut self, store: &dyn ObjectStore, bucket: &BucketPath, c: usize) -> FsResult<()> {
        if c >= self.present.len() || self.present[c] {
            return Ok(());
        }
        let start = c as u64 * CHUNK;
        let end = ((c as u64 + 1) * CHUNK).min(self.base_valid);
        if start < end {
            let base = self.base.as_ref().expect("chunks exist only with a base");
            let mut body = store.read_version(bucket, base, start..end).await?;
            let mut off = start;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                let take = (chunk.len() as u64).min(end - off) as usize;
                self.file.write_at(&self.budget.dir, &chunk[..take], off)?;
                off += take as u64;
            }
            if off != end {
                return Err(FsError::Store(ozfs::Error::ObjectChanged(base.key.clone())));
            }
        }
        self.present[c] = true;
        Ok(())
    }

    async fn fetch_range(
        &mut self,
        store: &dyn ObjectStore,
        bucket: &BucketPath,
        start: u64,
        end: u64,
    ) -> FsResult<()> {
        let limit = end.min(self.base_valid);
        if start >= limit {
            return Ok(());
        }
        let first = (start / CHUNK) as usize;
        let last = limit.div_ceil(CHUNK) as usize;
        for c in first..last {
            self.fetch_chunk(store, bucket, c).await?;
        }
        Ok(())
    }

    /// Read up to `len` bytes at `offset`.
    pub async fn read(
        &mut self,
        store: &dyn ObjectStore,
        bucket: &BucketPath,
        offset: u64,
        len: u32,
    ) -> FsResult<Vec<u8>> {
        if offset >= self.size {
            return Ok(Vec::new());
        }
        let end = (offset + len as u64).min(self.size);
        self.fetch_range(store, bucket, offset, end).await?;
        let mut buf = vec![0u8; (end - offset) as usize];
        let mut done = 0;
        while done < buf.len() {
            let n = self.file.read_at(&mut buf[done..], offset + done as u64)?;
            if n == 0 {
                // Past the end of the sparse file's written extent: zeros.
                break;
            }
            done += n;
        }
        Ok(buf)
    }

    /// Write `data` at `offset`.
    pub async fn write(
        &mut self,
        store: &Arc<dyn ObjectStore>,
        bucket: &BucketPath,
        key: &str,
        offset: u64,
        data: &[u8],
    ) -> FsResult<u32> {
        let end = offset + data.len() as u64;
        let store_ref: &dyn ObjectStore = store.as_ref();
        let store_arc = store;
        let store = store_ref;
        // Chunks of the base that the write only partly covers must be copied in first; chunks
        // it covers whole are simply overwritten.
        let first = (offset / CHUNK) as usize;
        if !offset.is_multiple_of(CHUNK) || end - offset < CHUNK {
            self.fetch_range(store, bucket, offset, offset + 1).await?;
        }
        let last = ((end - 1) / CHUNK) as usize;
        if last != first && !end.is_multiple_of(CHUNK) {
            self.fetch_range(store, bucket, end - 1, end).await?;
        }
        for c in first..=last {
            if c < self.present.len() {
                let cs = c as u64 * CHUNK;
                if offset <= cs && end >= cs + CHUNK {
                    self.present[c] = true;
                }
            }
        }
        if end > self.size {
            self.resize_reservation(end)?;
        }
        self.put_bytes(data, offset).await?;
        if end > self.size {
            self.size = end;
        }
        self.dirty = true;
        self.mtime = SystemTime::now();
        self.seq_end = match self.seq_end {
            Some(e) if e == offset => Some(end),
            _ => None,
        };
        self.feed_hash(end, data).await;
        self.feed_upload(store_arc, bucket, key, offset, data).await;
        Ok(data.len() as u32)
    }

    /// Keep the MD5 of a sequentially written file going with this write (that ended at `end`),
    /// and start write-back of each full window hashed; drop the MD5 once it cannot cover the
    /// file (see [`SeqHash::feed`]).
    async fn feed_hash(&mut self, end: u64, data: &[u8]) {
        let Some(h) = &mut self.seq_hash else { return };
        let offset = end - data.len() as u64;
        if !h.feed(offset, data).await {
            self.seq_hash = None;
            return;
        }
        let end = h.hashed;
        if end.saturating_sub(self.written_back) >= WRITEBACK_WINDOW {
            if let Backing::File(f) = &self.file {
                ozfs::store::writeback::start(f, self.written_back, end - self.written_back);
            }
            self.written_back = end;
        }
    }

    /// Keep the background upload going with this write, start it, or cancel it.
    async fn feed_upload(
        &mut self,
        store: &Arc<dyn ObjectStore>,
        bucket: &BucketPath,
        key: &str,
        offset: u64,
        data: &[u8],
    ) {
        match std::mem::replace(&mut self.streaming, Streaming::Off) {
            Streaming::Off => {}
            Streaming::Candidate => {
                if self.seq_end.is_none() {
                    return;
                }
                if self.size < STREAM_AFTER {
                    self.streaming = Streaming::Candidate;
                    return;
                }
                // Start: queue what is already staged, then go on with every append.
                let (tx, rx) = mpsc::channel::<Bytes>(STREAM_QUEUE);
                let complete = Arc::new(AtomicBool::new(false));
                let mut attrs = self.attrs.clone();
                // Last-Modified (the commit) stands for the mtime of a streamed file.
                attrs.user.remove(crate::posix::META_MTIME);
                let opts = PutOptions {
                    attrs,
                    ..Default::default()
                };
                let (store2, bucket2, key2) = (store.clone(), bucket.clone(), key.to_string());
                let body = channel_body(rx, complete.clone());
                let running = UploadRunning::new(&self.budget.uploads);
                let task = tokio::spawn(async move {
                    let _running = running;
                    store2.put_object(&bucket2, &key2, body, opts).await
                });
                let mut up = Upload {
                    tx: Some(tx),
                    complete,
                    task,
                    key: key.to_string(),
                    attrs: self.attrs.clone(),
                    sent: 0,
                };
                let size = self.size;
                let mut off = 0;
                while off < size {
                    let n = (size - off).min(CHUNK) as usize;
                    let mut buf = vec![0u8; n];
                    if !read_exact(&self.file, &mut buf, off) {
                        up.cancel();
                        return;
                    }
                    let sent = match &up.tx {
                        Some(tx) => tx.send(Bytes::from(buf)).await.is_ok(),
                        None => false,
                    };
                    if !sent {
                        up.cancel();
                        return;
                    }
                    off += n as u64;
                }
                up.sent = size;
                self.streaming = Streaming::Running(Box::new(up));
            }
            Streaming::Running(mut up) => {
                let end = offset + data.len() as u64;
                if offset != up.sent || end != self.size || up.key != key {
                    up.cancel();
                    return;
                }
                let ok = match &up.tx {
                    Some(tx) => tx.send(Bytes::copy_from_slice(data)).await.is_ok(),
                    None => false,
                };
                if !ok {
                    up.cancel();
                    return;
                }
                up.sent = end;
                self.streaming = Streaming::Running(up);
            }
        }
    }

    /// Cancel a background upload (the file changed in a way it cannot follow).
    fn stop_upload(&mut self) {
        if let Streaming::Running(up) = std::mem::replace(&mut self.streaming, Streaming::Off) {
            up.cancel();
        }
        self.streaming = Streaming::Off;
        self.seq_end = None;
        self.seq_hash = None;
        self.hash_wanted = false;
    }

    /// Finish the background upload if it holds exactly the staged file under `key` with the
    /// current attributes.
    async fn finish_upload(&mut self, key: &str) -> Option<ObjectInfo> {
        let Streaming::Running(mut up) = std::mem::replace(&mut self.streaming, Streaming::Off) else {
            return None;
        };
        if up.sent != self.size || up.key != key || up.attrs != self.attrs || self.seq_end != Some(self.size) {
            up.cancel();
            return None;
        }
        up.complete.store(true, Ordering::Release);
        up.tx.take();
        match (&mut up.task).await {
            Ok(Ok(info)) if info.size == self.size => Some(info),
            Ok(Ok(_)) | Ok(Err(_)) | Err(_) => None,
        }
    }

    /// Set the size (truncate or extend with zeros).
    pub fn truncate(&mut self, size: u64) -> FsResult<()> {
        self.resize_reservation(size)?;
        self.stop_upload();
        if size < self.base_valid {
            self.base_valid = size;
        }
        self.file.set_len(&self.budget.dir, size)?;
        self.size = size;
        self.dirty = true;
        self.mtime = SystemTime::now();
        Ok(())
    }

    /// Copy every chunk of the base in, so the staged copy no longer depends on the old object
    /// (before the key is renamed away under it).
    pub async fn materialize(&mut self, store: &dyn ObjectStore, bucket: &BucketPath) -> FsResult<()> {
        self.stop_upload();
        let size = self.size;
        self.fetch_range(store, bucket, 0, size).await
    }

    /// Make the staged bytes the new version of `key`: fill missing chunks, then stream the file
    /// into `put_object`. Returns the new object's info. A clean staged file is not re-uploaded.
    pub async fn commit(
        &mut self,
        store: &dyn ObjectStore,
        bucket: &BucketPath,
        key: &str,
    ) -> FsResult<Option<ObjectInfo>> {
        if !self.dirty {
            return Ok(None);
        }
        let size = self.size;
        if let Some(info) = self.finish_upload(key).await {
            self.present = vec![true; size.div_ceil(CHUNK) as usize];
            self.base_valid = size;
            self.base = Some(info.clone());
            self.attrs = info.attrs.clone();
            self.dirty = false;
            return Ok(Some(info));
        }
        self.fetch_range(store, bucket, 0, size).await?;
        let mut attrs = self.attrs.clone();
        crate::posix::PosixMeta {
            mtime: Some(self.mtime),
            ..Default::default()
        }
        .write_to(&mut attrs.user);
        let opts = PutOptions {
            attrs,
            expected_len: Some(size),
            ..Default::default()
        };
        let chunks = size.div_ceil(CHUNK) as usize;
        let info = match &self.file {
            Backing::Mem(v) => {
                // Small: the buffer is the body (the store hashes it); it stays the staged copy.
                let mut body = v.clone();
                body.resize(size as usize, 0);
                let info = store.put_object(bucket, key, ozfs::body_from_bytes(body), opts).await?;
                self.present = vec![true; chunks];
                info
            }
            Backing::File(f) => {
                // Where the staged copy goes on if the store keeps this file (made before the
                // commit, so nothing can fail between the commit and the switch): a buffer when
                // the new version is small enough to be fetched into one.
                let fresh = match (self.budget.adopts(), size <= MEM_MAX) {
                    (true, true) => Some(Backing::Mem(Vec::new())),
                    (true, false) => Some(Backing::file_in(self.budget.dir())?),
                    (false, _) => None,
                };
                // The MD5 kept while the file was written sequentially from 0, if it covers all.
                let md5 = match self.seq_hash.take() {
                    Some(h) => h.finish(size).await,
                    None => None,
                };
                let info = store.put_file(bucket, key, f.try_clone()?, size, md5, opts).await?;
                self.switch_after_commit(fresh, chunks);
                info
            }
        };
        self.base_valid = size;
        self.base = Some(info.clone());
        self.attrs = info.attrs.clone();
        self.dirty = false;
        if size == 0 && self.budget.adopts() {
            // Committed empty (`dd` closes a duplicate descriptor before writing): what is
            // written next is again a whole file from its start.
            match self.file.is_mem() {
                true => self.hash_wanted = true,
                false => self.seq_hash = SeqHash::start(),
            }
        }
        Ok(Some(info))
    }

    /// After a committed file: go on from `fresh` (an empty sparse copy of the new version, its
    /// chunks fetched when touched) if the store may have kept the file, else from the file.
    fn switch_after_commit(&mut self, fresh: Option<Backing>, chunks: usize) {
        if let Some(fresh) = fresh {
            // The file may now be the object's data file: never write it again. Go on from an
            // empty sparse copy of the new version (chunks are fetched when touched).
            self.file = fresh;
            self.written_back = 0;
            self.present = vec![false; chunks];
        } else {
            self.present = vec![true; chunks];
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        self.stop_upload();
        self.budget.release(self.reserved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest as _;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn seq_hash_takes_writes_out_of_order_and_refuses_overwrites() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        let want: [u8; 16] = md5::Md5::digest(&data).into();
        // Pieces of one write handed out of order, as several FUSE threads may.
        let mut h = SeqHash::start().unwrap();
        for (off, len) in [(100_000, 100_000), (0, 100_000), (250_000, 50_000), (200_000, 50_000)] {
            assert!(h.feed(off, &data[off as usize..(off + len) as usize]).await);
        }
        assert_eq!(h.finish(data.len() as u64).await, Some(want));
        // A gap left open: no hash.
        let mut h = SeqHash::start().unwrap();
        assert!(h.feed(0, &data[..10]).await);
        assert!(h.feed(20, &data[20..30]).await);
        assert_eq!(h.finish(30).await, None);
        // A write over hashed bytes, or over an early write: no hash.
        let mut h = SeqHash::start().unwrap();
        assert!(h.feed(0, &data[..10]).await);
        assert!(!h.feed(5, &data[5..15]).await);
        let mut h = SeqHash::start().unwrap();
        assert!(h.feed(10, &data[10..20]).await);
        assert!(h.feed(15, &data[15..25]).await);
        assert!(!h.feed(0, &data[..10]).await);
    }
}
