//! Creating, removing and renaming names: `mkdir`, `mknod`, `symlink`, `unlink`, `rmdir`, `rename`.

use super::*;

impl Fs {
    pub(super) async fn ensure_absent(&self, parent: u64, pkey: &str, name: &str) -> FsResult<()> {
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
    pub(super) async fn put_empty(&self, key: &str, attrs: ObjectAttrs) -> FsResult<ObjectInfo> {
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
    pub(super) async fn entry(&self, parent: u64, name: &str) -> FsResult<(Option<u64>, Fresh)> {
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
}
