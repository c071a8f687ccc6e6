//! Directories: `opendir`, `readdir` (paged listings, plus entries) and `releasedir`; `statfs`.
//!
//! Every entry a listing produces carries its true mode, owner, type and mtime, so `ls -l`
//! (readdirplus) needs no stat and never shows a symlink or a `chmod 600` file as a plain 0644
//! file. The embedded stores and `ozfs serve` (extension `ozfs-metadata`) list user metadata and
//! directory markers (`ListPage::user_meta`). Any other S3 server lists none, so each object is
//! HEADed unless the HEAD of the same version (ETag, size, Last-Modified) is cached, and each
//! directory's marker is HEADed; at most `readdir_heads` HEADs are in flight for the mount
//! (s3fs HEADs every entry one by one and caches by time only). `readdir_heads = 0` keeps the
//! listing as it is (goofys).

use super::*;
use crate::inode::handle::Prefetch;
use std::collections::HashMap;

impl Fs {
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

    /// The delimiter listing request of `dir_key` after `start_after`.
    fn page_request(dir_key: &str, start_after: Option<String>) -> ListRequest {
        ListRequest {
            prefix: dir_key.to_string(),
            delimiter: Some("/".into()),
            start_after,
            max_keys: LIST_PAGE,
        }
    }

    /// Start listing the page after `s.next_start_after` in the background, so it is on its way
    /// (over the network, for a remote store) while the kernel takes the entries of this one.
    fn prefetch_next(&self, dir_key: &str, s: &mut DirStream) {
        let start_after = s.next_start_after.clone();
        let (store, bucket) = (self.store.clone(), self.bucket.clone());
        let req = Self::page_request(dir_key, start_after.clone());
        let task = tokio::spawn(async move { store.list_objects(&bucket, req).await });
        s.prefetch = Some(Prefetch {
            start_after,
            asof: std::time::Instant::now(),
            task,
        });
    }

    pub(super) async fn fetch_page(&self, dir_key: &str, s: &mut DirStream) -> FsResult<()> {
        let prefetched = match s.prefetch.take() {
            Some(mut p) if p.start_after == s.next_start_after => match (&mut p.task).await {
                Ok(r) => Some((p.asof, r)),
                Err(_) => None, // the task failed to run: list again below
            },
            _ => None,
        };
        let mut page = match prefetched {
            Some((asof, r)) => {
                s.page_asof = Some(asof);
                r?
            }
            None => {
                s.page_asof = Some(std::time::Instant::now());
                let req = Self::page_request(dir_key, s.next_start_after.clone());
                self.store.list_objects(&self.bucket, req).await?
            }
        };
        s.done = !page.is_truncated || page.next_start_after.is_none();
        s.next_start_after = page.next_start_after.clone();
        if !s.done {
            self.prefetch_next(dir_key, s);
        }
        let (objects, mut markers) = self.listed_meta(dir_key, &mut page).await?;
        let dirs: HashSet<&str> = page
            .common_prefixes
            .iter()
            .filter_map(|p| p.strip_prefix(dir_key).and_then(|n| n.strip_suffix('/')))
            .collect();
        let mut merged: Vec<(String, Listed)> = Vec::with_capacity(objects.len() + page.common_prefixes.len());
        for o in objects {
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
            let name = name.to_string();
            merged.push((
                o.key.clone(),
                Listed {
                    name,
                    kind,
                    info: Some(o),
                    local: false,
                },
            ));
        }
        for name in dirs {
            if name.is_empty() {
                continue;
            }
            let key = format!("{dir_key}{name}/");
            let info = markers.remove(&key);
            merged.push((
                key,
                Listed {
                    name: name.to_string(),
                    kind: Kind::Dir,
                    info,
                    local: false,
                },
            ));
        }
        merged.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, l) in merged {
            if s.seen.insert(l.name.clone()) {
                s.entries.push_back(l);
            }
        }
        Ok(())
    }

    /// The objects of `page` with their user metadata, and the markers of its common prefixes
    /// by key: as listed when the listing carries them, else from HEADs (see the module docs).
    /// Takes the page's objects and markers (moved, not copied: a listing page of 1000 entries
    /// with their user metadata is the largest allocation of a readdir).
    async fn listed_meta(
        &self,
        dir_key: &str,
        page: &mut ozfs::ListPage,
    ) -> FsResult<(Vec<ObjectInfo>, HashMap<String, ObjectInfo>)> {
        if page.user_meta || self.cfg.readdir_heads == 0 {
            let markers = std::mem::take(&mut page.markers)
                .into_iter()
                .map(|m| (m.key.clone(), m))
                .collect();
            return Ok((std::mem::take(&mut page.objects), markers));
        }
        let mut objects = std::mem::take(&mut page.objects);
        let mut todo: Vec<usize> = Vec::new();
        {
            let cache = crate::sync::lock(&self.head_cache);
            for (n, o) in objects.iter_mut().enumerate() {
                match cache.get(&o.key) {
                    Some(c) if same_version(c, o) => *o = c.clone(),
                    _ => todo.push(n),
                }
            }
        }
        let dirs: Vec<&String> = page
            .common_prefixes
            .iter()
            .filter(|p| p.len() > dir_key.len() && p.starts_with(dir_key))
            .collect();
        let objs = futures_util::future::join_all(todo.iter().map(|&n| self.pooled_head(&objects[n].key)));
        let marks = futures_util::future::join_all(dirs.iter().map(|k| self.pooled_head(k)));
        let (objs, marks) = tokio::join!(objs, marks);
        {
            let mut cache = crate::sync::lock(&self.head_cache);
            if cache.len() + todo.len() > HEAD_CACHE_MAX {
                cache.clear();
            }
            for (&n, r) in todo.iter().zip(objs) {
                if let Some(info) = r? {
                    cache.insert(info.key.clone(), info.clone());
                    objects[n] = info;
                }
            }
        }
        let mut markers = HashMap::new();
        for (k, r) in dirs.into_iter().zip(marks) {
            // A server that ignores the trailing slash answers `d/` with the file `d`.
            if let Some(m) = r?.filter(|m| {
                PosixMeta::from_user(&m.attrs.user)
                    .mode
                    .is_none_or(|x| x & S_IFMT == S_IFDIR)
            }) {
                markers.insert(k.clone(), m);
            }
        }
        Ok((objects, markers))
    }

    /// HEAD `key` within the mount's bound on listing HEADs. Gone or not ours to read: `None`
    /// (the entry keeps what the listing said).
    async fn pooled_head(&self, key: &str) -> FsResult<Option<ObjectInfo>> {
        let _permit = self.head_pool.acquire().await.map_err(|_| FsError::NotFound)?;
        match self.store.head_object(&self.bucket, key).await {
            Ok(i) => Ok(Some(i)),
            Err(ozfs::Error::NoSuchKey(_) | ozfs::Error::AccessDenied(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Inode fields for a listed entry.
    pub(super) fn fresh_listed(&self, dir_key: &str, l: &Listed) -> Fresh {
        match (&l.kind, &l.info) {
            (Kind::Dir, m) => self.fresh_dir(format!("{dir_key}{}/", l.name), m.clone()),
            (_, None) => self.fresh_dir(format!("{dir_key}{}/", l.name), None),
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
        // A resume at an entry skipped just before `first` continues the stream (it had nothing
        // to hand out there); a resume before that rewinds.
        if !s.started || idx < s.skipped_from {
            *s = DirStream {
                started: true,
                ..Default::default()
            };
        }
        loop {
            while s.first < idx && !s.entries.is_empty() {
                s.entries.pop_front();
                s.first += 1;
                s.skipped_from = s.first;
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
                            .map(|(name, kind)| Listed {
                                name,
                                kind,
                                info: None,
                                local: true,
                            })
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
            let Some(l) = s.entries.front().cloned() else {
                continue; // not reached: the loop above refills or returns while it is empty
            };
            let attr = {
                let mut t = self.table();
                match t.child(ino, &l.name) {
                    Some(c) if l.local || c.pending || c.staged.is_some() || !plus => Some(c.attr()),
                    // Being created when the listing was made, gone since (unlinked or renamed
                    // before this entry was handed out): nothing to list. Made into an inode
                    // from this entry, which has no object, it would be a directory.
                    None if l.local => None,
                    _ if plus => {
                        let mut f = self.fresh_listed(&dir_key, &l);
                        f.asof = s.page_asof;
                        let id = t.upsert(ino, &l.name, f);
                        Some(t.get(id).map(|i| i.attr()).ok_or(FsError::NotFound)?)
                    }
                    _ => {
                        let f = self.fresh_listed(&dir_key, &l);
                        Some(Attr {
                            ino: pseudo_ino(&f.key),
                            kind: f.kind,
                            size: f.size,
                            mtime: f.mtime,
                            ctime: f.mtime,
                            perm: f.perm,
                            uid: f.uid,
                            gid: f.gid,
                        })
                    }
                }
            };
            let Some(attr) = attr else {
                s.entries.pop_front();
                s.first += 1;
                continue;
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
            s.skipped_from = s.first;
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
}

/// The listing shows the version a HEAD answered: same ETag, size and Last-Modified (S3 keeps
/// ETag and size on a metadata-only copy, not Last-Modified), the time to the second (a HEAD's
/// `Last-Modified` has no fraction; a listing's may have milliseconds).
fn same_version(headed: &ObjectInfo, listed: &ObjectInfo) -> bool {
    let secs = |t: SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    headed.etag == listed.etag && headed.size == listed.size && secs(headed.last_modified) == secs(listed.last_modified)
}

/// An inode number for a plain readdir entry the kernel has not looked up (high bit set so it
/// cannot collide with a real inode).
fn pseudo_ino(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish() | (1 << 63)
}
