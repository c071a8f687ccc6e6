//! File I/O: `open`, `create`, `read` (the pinned version, or the staged copy), `write`, and committing the staged copy at `flush`, `fsync` and `release`.

use super::*;
use bytes::{Bytes, BytesMut};

impl Fs {
    /// open: a read handle pins the current version; a write handle shares the staged copy.
    pub async fn open(&self, ino: u64, mode: OpenMode, tgid: u32) -> FsResult<Opened> {
        self.open_by(ino, mode, 0, tgid).await
    }

    /// [`Fs::open`] by thread `tid` (0: unknown) of thread group `tgid`.
    pub async fn open_by(&self, ino: u64, mode: OpenMode, tid: u32, tgid: u32) -> FsResult<Opened> {
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
                tid,
                info: Mutex::new(info),
                last_read_end: Default::default(),
            })));
            return Ok(Opened {
                fh,
                keep_cache: false,
                backing: None,
            });
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
                if i.answer_applies(&key, asof) {
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
        let backing = match &info {
            Some(i) if self.passthrough() && i.size > 0 => self.store.version_file(&self.bucket, i).await?,
            _ => None,
        };
        let fh = self.handles.insert(Handle::File(Arc::new(FileHandle {
            ino,
            writable: false,
            tgid,
            tid,
            info: Mutex::new(info),
            last_read_end: Default::default(),
        })));
        self.table().get_mut(ino).ok_or(FsError::NotFound)?.open += 1;
        Ok(Opened {
            fh,
            keep_cache,
            backing,
        })
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
        self.create_by(parent, name, mode, uid, gid, 0, tgid).await
    }

    /// [`Fs::create`] by thread `tid` (0: unknown) of thread group `tgid`.
    #[allow(clippy::too_many_arguments, reason = "the create request's fields and its caller")]
    pub async fn create_by(
        &self,
        parent: u64,
        name: &str,
        mode: u32,
        uid: u32,
        gid: u32,
        tid: u32,
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
            let i = t.get_mut(ino).ok_or(FsError::NotFound)?;
            i.open += 1;
            (ino, i.attr())
        };
        let fh = self.handles.insert(Handle::File(Arc::new(FileHandle {
            ino,
            writable: true,
            tgid,
            tid,
            info: Mutex::new(None),
            last_read_end: Default::default(),
        })));
        Ok((
            attr,
            Opened {
                fh,
                keep_cache: false,
                backing: None,
            },
        ))
    }

    pub(super) fn file_handle(&self, fh: u64) -> FsResult<Arc<FileHandle>> {
        match self.handles.get(fh) {
            Some(Handle::File(h)) => Ok(h),
            Some(Handle::Dir(_)) | None => Err(FsError::BadHandle),
        }
    }

    /// read: from the staged copy when the file is being written, else the pinned version.
    pub async fn read(&self, ino: u64, fh: u64, offset: u64, size: u32) -> FsResult<Bytes> {
        let h = self.file_handle(fh)?;
        let staged = self.table().get(ino).and_then(|i| i.staged.clone());
        if let Some(st) = staged {
            return st
                .lock()
                .await
                .read(self.store.as_ref(), &self.bucket, offset, size)
                .await
                .map(Bytes::from);
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
        let Some(info) = info else { return Ok(Bytes::new()) };
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

    /// Bytes `offset..offset + size` of the version `info` (fewer at its end). A range within one
    /// cached page (the usual FUSE read: 1 MiB pages, reads of at most 1 MiB aligned to them) is
    /// answered with a slice of that page, without a copy; a range across pages is joined.
    pub(super) async fn read_pinned(&self, info: &ObjectInfo, offset: u64, size: u32) -> FsResult<Bytes> {
        if offset >= info.size || size == 0 {
            return Ok(Bytes::new());
        }
        let end = (offset + size as u64).min(info.size);
        let want = (end - offset) as usize;
        let mut body = self.store.read_version(&self.bucket, info, offset..end).await?;
        let mut out: Option<BytesMut> = None;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            let got = out.as_ref().map_or(0, BytesMut::len);
            let chunk = chunk.slice(..chunk.len().min(want - got));
            match &mut out {
                None if chunk.len() == want => return Ok(chunk),
                None => {
                    let mut b = BytesMut::with_capacity(want);
                    b.extend_from_slice(&chunk);
                    out = Some(b);
                }
                Some(b) => b.extend_from_slice(&chunk),
            }
            if out.as_ref().is_some_and(|b| b.len() == want) {
                break;
            }
        }
        Ok(out.map(BytesMut::freeze).unwrap_or_default())
    }

    /// write at any offset into the staged copy.
    pub async fn write(&self, ino: u64, fh: u64, offset: u64, data: &[u8]) -> FsResult<u32> {
        let h = self
            .file_handle(fh)
            .inspect_err(|_| log::warn!("write ino={ino}: no handle {fh}"))?;
        if !h.writable {
            return Err(FsError::NotWritable);
        }
        // The table's guard must be gone before the arms: the None arm locks it again.
        let staged = self.table().get(ino).and_then(|i| i.staged.clone());
        let staged = match staged {
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

    pub(super) async fn commit_inner(&self, ino: u64) -> FsResult<()> {
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
        self.flush_by(ino, fh, 0, || tgid).await
    }

    /// [`Fs::flush`] by thread `tid` (0: unknown), whose thread group (`tgid`, a read of
    /// `/proc`) is asked for only when the closing thread is not the opening one: a thread id
    /// names one live thread, so the same id is the same process (a loop that opens and closes
    /// files on one thread never reads it).
    pub async fn flush_by(&self, ino: u64, fh: u64, tid: u32, tgid: impl FnOnce() -> u32) -> FsResult<()> {
        let h = self.file_handle(fh)?;
        let opener = h.writable && ((h.tid != 0 && h.tid == tid) || h.tgid == tgid());
        log::debug!(
            "flush ino={ino} fh={fh} tid={tid} opener={} ({}) writable={} commit={opener}",
            h.tgid,
            h.tid,
            h.writable
        );
        if opener {
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
}
