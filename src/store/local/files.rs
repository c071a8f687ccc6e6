//! The data files of the embedded store. Object bytes live in `objects/<xx>/<id>`, where `id` is a
//! version number allocated by the store and `xx` its low byte in hex (256-way fan-out); a key
//! name never becomes part of a path, so no key can reach outside the data directory.
//!
//! Writing: a body streams through a bounded channel to one blocking writer thread that hashes
//! (MD5, checksum) and writes through a 1 MiB buffer into `tmp/<id>`, fsyncs the file, renames it
//! into `objects/`, and fsyncs that directory. Only then may the caller commit metadata that
//! references the file. A body that fails, or a put that is dropped half-way, removes its
//! temporary file; anything left after a crash is removed by [`Files::recover`] on the next open.
//!
//! Reading: the bytes of an object are a list of segments (one file for a plain object, one per
//! part for a multipart object), read in 1 MiB chunks by blocking tasks, two in flight. Pages are
//! dropped from the kernel's cache after each chunk (`POSIX_FADV_DONTNEED`), since the page cache
//! of ozfs above the store keeps what is worth keeping.

use super::codec::Segment;
use crate::error::{Error, Result};
use crate::namespace::rules::{BodyDigest, Digests};
use crate::store::ByteStream;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::collections::HashSet;
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

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

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
        Ok(Files { objects, tmp })
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
    pub async fn write(&self, id: u64, mut body: ByteStream, mut digest: BodyDigest) -> Result<(Digests, FileGuard)> {
        let tmp = self.tmp_path(id);
        let dst = self.path(id);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(8);
        let writer = {
            let dst = dst.clone();
            tokio::task::spawn_blocking(move || -> Result<Digests> {
                let run = || -> Result<Digests> {
                    let file = fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
                    let mut w = BufWriter::with_capacity(CHUNK, file);
                    loop {
                        match rx.blocking_recv() {
                            Some(Msg::Chunk(c)) => {
                                digest.update(&c)?;
                                w.write_all(&c)?;
                            }
                            Some(Msg::End) => break,
                            // The sender went away without End: the body failed or the put was
                            // dropped. The caller reports its own error.
                            None => return Err(Error::InvalidArgument("body aborted".into())),
                        }
                    }
                    let d = digest.finish()?;
                    let file = w.into_inner().map_err(|e| Error::from(e.into_error()))?;
                    file.sync_data()?;
                    drop_cache(&file, 0, 0);
                    fs::rename(&tmp, &dst)?;
                    if let Some(parent) = dst.parent() {
                        fsync_dir(parent)?;
                    }
                    Ok(d)
                };
                let r = run();
                if r.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
                r
            })
        };
        let mut body_err = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(c) if c.is_empty() => {}
                Ok(c) => {
                    if tx.send(Msg::Chunk(c)).await.is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Err(e) => {
                    body_err = Some(e);
                    break;
                }
            }
        }
        if body_err.is_none() {
            let _ = tx.send(Msg::End).await;
        }
        drop(tx);
        let res = writer
            .await
            .map_err(|e| Error::Storage(format!("writer task failed: {e}")))?;
        if let Some(e) = body_err {
            return Err(e);
        }
        let d = res?;
        Ok((d, FileGuard { path: Some(dst) }))
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
        if let Some(parent) = d.parent() {
            fsync_dir(parent)?;
        }
        Ok(FileGuard { path: Some(d) })
    }

    /// Remove data files no longer referenced (after the commit that dropped them). A reader that
    /// already opened one keeps reading it.
    pub fn remove(&self, ids: impl IntoIterator<Item = u64>) {
        for id in ids {
            if let Err(e) = fs::remove_file(self.path(id)) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    log::warn!("cannot remove data file {}: {e}", self.path(id).display());
                }
            }
        }
    }

    pub fn open_file(&self, id: u64) -> std::io::Result<File> {
        File::open(self.path(id))
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
                    let mut buf = BytesMut::zeroed(len);
                    f.read_exact_at(&mut buf, off).map_err(|e| {
                        if e.kind() == std::io::ErrorKind::UnexpectedEof {
                            Error::Storage(format!("data file {} is shorter than its record", segs[idx].seg.file))
                        } else {
                            e.into()
                        }
                    })?;
                    drop_cache(&f, off, len as u64);
                    Ok(buf.freeze())
                })
                .await
                .map_err(|e| Error::Storage(format!("reader task failed: {e}")))?
            }
        })
        .buffered(2);
    Box::pin(s)
}

#[cfg(test)]
mod tests {
    use super::*;

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
