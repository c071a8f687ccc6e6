//! Lookup: what a name is (attributes from objects and markers, implicit directories), `lookup`, `forget`, `getattr`, and [`Fs::enter`], the one inode refresh.

use super::*;

impl Fs {
    /// Inode fields for a file or symlink object.
    pub(super) fn fresh_object(&self, info: ObjectInfo) -> Fresh {
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
    pub(super) fn fresh_dir(&self, key: String, marker: Option<ObjectInfo>) -> Fresh {
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
    pub(super) fn enter(&self, parent: u64, name: &str, f: Fresh) -> FsResult<Attr> {
        let mut t = self.table();
        let ino = t.upsert(parent, name, f);
        t.add_lookup(ino, 1);
        t.get(ino).map(|i| i.attr()).ok_or(FsError::NotFound)
    }

    pub(super) fn check_name(&self, parent_key: &str, name: &str) -> FsResult<()> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(FsError::Invalid(format!("bad name {name:?}")));
        }
        if parent_key.len() + name.len() + 1 > ozfs::namespace::name::MAX_KEY_LEN {
            return Err(FsError::NameTooLong);
        }
        Ok(())
    }

    /// Key prefix of directory `ino`.
    pub(super) fn dir_key(&self, ino: u64) -> FsResult<String> {
        let t = self.table();
        let i = t.get(ino).ok_or(FsError::NotFound)?;
        if i.kind != Kind::Dir {
            return Err(FsError::NotDir);
        }
        Ok(i.key.clone())
    }

    pub(super) async fn head(&self, key: &str) -> FsResult<Option<ObjectInfo>> {
        let r = not_found_to_none(self.store.head_object(&self.bucket, key).await)?;
        self.note_head(key, r.as_ref());
        Ok(r)
    }

    /// What listings reuse for `key` follows the newest answer about it (see `dir.rs`).
    fn note_head(&self, key: &str, answer: Option<&ObjectInfo>) {
        let mut cache = crate::sync::lock(&self.head_cache);
        match answer {
            Some(i) => {
                if let Some(c) = cache.get_mut(key) {
                    *c = i.clone();
                }
            }
            None => {
                cache.remove(key);
            }
        }
    }

    /// Whether anything lies under `dir_key` other than the marker itself.
    pub(super) async fn has_children(&self, dir_key: &str) -> FsResult<bool> {
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

    /// Whether the key `dir_key` itself is listed (a marker object, not a file answered for it).
    pub(super) async fn marker_listed(&self, dir_key: &str) -> FsResult<bool> {
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

    /// Ask the store what `name` in the directory `parent_key` is, in one
    /// [`ObjectStore::lookup_name`] (one read transaction of the embedded store; the same
    /// requests as before to a remote one). A directory shadows a file of the same name (in
    /// `--cheap` mode the first answer wins: file, marker, then listing).
    pub(super) async fn resolve(&self, parent_key: &str, name: &str) -> FsResult<Option<Fresh>> {
        let file_key = format!("{parent_key}{name}");
        let dir_key = format!("{file_key}/");
        let query = NameQuery {
            implicit: !self.cfg.no_implicit_dir,
            first_found: self.cfg.cheap,
        };
        let found = self.store.lookup_name(&self.bucket, &file_key, query).await?;
        self.note_head(&file_key, found.object.as_ref());
        // In `--cheap` mode the marker was asked only when there was no file.
        if !self.cfg.cheap || found.object.is_none() {
            self.note_head(&dir_key, found.marker.as_ref());
        }
        if self.cfg.cheap {
            if let Some(i) = found.object {
                return Ok(Some(self.fresh_object(i)));
            }
            if let Some(m) = found.marker {
                return Ok(Some(self.fresh_dir(dir_key, Some(m))));
            }
            if found.under {
                return Ok(Some(self.fresh_dir(dir_key, None)));
            }
            return Ok(None);
        }
        let (file, mut marker, implicit) = (found.object, found.marker, found.under);
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
                        if i.kind == f.kind && i.answer_applies(&key, asof) {
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
                    // Not gone if the answer no longer applies: our own commit refreshed it
                    // while the HEAD was out, or our own rename moved it (the old name is
                    // gone, not the file).
                    if let Some(i) = t.get(ino).filter(|i| !i.answer_applies(&key, asof)) {
                        return Ok(i.attr());
                    }
                    t.detach(ino);
                    return Err(FsError::NotFound);
                }
            }
        }
        let t = self.table();
        Ok(t.get(ino).ok_or(FsError::NotFound)?.attr())
    }
}
