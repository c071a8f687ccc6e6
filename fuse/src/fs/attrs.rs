//! Attributes and the staging life cycle: `setattr` (mode, owner, times, truncate), staging a file for writing and dropping the staged copy, `readlink`.

use super::*;

impl Fs {
    /// chmod, chown, utimes, truncate.
    pub async fn setattr(&self, ino: u64, sa: SetAttr) -> FsResult<Attr> {
        self.writable()?;
        if let Some(size) = sa.size {
            self.truncate(ino, size).await?;
        }
        if sa.mode.is_some() || sa.uid.is_some() || sa.gid.is_some() || sa.mtime.is_some() {
            let kind = self.table().get(ino).ok_or(FsError::NotFound)?.kind;
            let type_bits = match kind {
                Kind::File => S_IFREG,
                Kind::Dir => S_IFDIR,
                Kind::Symlink => S_IFLNK,
            };
            let (cur_perm, cur_uid, cur_gid) = {
                let t = self.table();
                let i = t.get(ino).ok_or(FsError::NotFound)?;
                (i.perm, i.uid, i.gid)
            };
            let meta = PosixMeta {
                mode: Some(type_bits | sa.mode.map_or(cur_perm as u32, |m| m & 0o7777)),
                uid: Some(sa.uid.unwrap_or(cur_uid)),
                gid: Some(sa.gid.unwrap_or(cur_gid)),
                mtime: sa.mtime,
            };
            self.apply_attrs(ino, |a| {
                meta.write_to(&mut a.user);
                Ok(())
            })
            .await?;
        }
        self.getattr(ino).await
    }

    pub(super) async fn truncate(&self, ino: u64, size: u64) -> FsResult<()> {
        let (kind, staged) = {
            let t = self.table();
            let i = t.get(ino).ok_or(FsError::NotFound)?;
            (i.kind, i.staged.clone())
        };
        if kind == Kind::Dir {
            return Err(FsError::IsDir);
        }
        if let Some(st) = staged {
            let mut st = st.lock().await;
            st.truncate(size)?;
            let mut t = self.table();
            if let Some(i) = t.get_mut(ino) {
                i.size = size;
                i.mtime = st.mtime;
            }
            return Ok(());
        }
        // Not open for writing: stage, truncate and commit at once (truncate(2) is durable).
        // Count as an opener meanwhile, so a concurrent release cannot drop the staged copy.
        self.table().get_mut(ino).ok_or(FsError::NotFound)?.open += 1;
        let r = async {
            let st = self.stage(ino, false).await?;
            st.lock().await.truncate(size)?;
            self.commit_inner(ino).await
        }
        .await;
        self.close_one(ino);
        r
    }

    /// Drop one opener count of `ino` (and its staged copy with the last one).
    pub(super) fn close_one(&self, ino: u64) {
        if let Some(i) = self.table().get_mut(ino) {
            i.open = i.open.saturating_sub(1);
            log::debug!("close_one ino={ino} open now {}", i.open);
        }
        self.unstage_if_unused(ino);
    }

    /// Give `ino` a staged copy (shared with other writers), starting from the current object
    /// version, or empty when `truncate`.
    pub(super) async fn stage(&self, ino: u64, truncate: bool) -> FsResult<SharedStaged> {
        let (existing, key, info, pending) = {
            let t = self.table();
            let i = t.get(ino).ok_or(FsError::NotFound)?;
            (i.staged.clone(), i.key.clone(), i.info.clone(), i.pending)
        };
        if let Some(st) = existing {
            if truncate {
                st.lock().await.truncate(0)?;
            }
            return Ok(st);
        }
        let base = if pending {
            None
        } else {
            // Close-to-open: writers start from the current version, not a cached one.
            match self.head(&key).await? {
                Some(i) => Some(i),
                None if info.is_none() => None,
                None => return Err(FsError::NotFound),
            }
        };
        let attrs = base.as_ref().map(|b| b.attrs.clone()).unwrap_or_default();
        let mtime = SystemTime::now();
        let st = if truncate {
            Staged::new(self.budget.clone(), None, attrs, mtime, true)?
        } else {
            let mut s = Staged::new(self.budget.clone(), base.clone(), attrs, mtime, base.is_none())?;
            if let Some(b) = &base {
                s.mtime = PosixMeta::from_user(&b.attrs.user).mtime.unwrap_or(b.last_modified);
            }
            s
        };
        let st = Arc::new(AsyncMutex::new(st));
        let mut t = self.table();
        let i = t.get_mut(ino).ok_or(FsError::NotFound)?;
        // Another opener may have staged meanwhile: share theirs.
        if let Some(other) = &i.staged {
            return Ok(other.clone());
        }
        i.staged = Some(st.clone());
        if let Some(b) = base {
            i.info = Some(b);
        }
        Ok(st)
    }

    pub(super) fn unstage_if_unused(&self, ino: u64) {
        let mut t = self.table();
        if let Some(i) = t.get_mut(ino) {
            if i.open == 0 {
                i.staged = None;
                i.pending = false;
            }
        }
        t.maybe_drop(ino);
    }

    /// Change the stored attributes (user metadata) of `ino` with `f`.
    pub(super) async fn apply_attrs(&self, ino: u64, f: impl FnOnce(&mut ObjectAttrs) -> FsResult<()>) -> FsResult<()> {
        let (kind, key, staged) = {
            let t = self.table();
            let i = t.get(ino).ok_or(FsError::NotFound)?;
            (i.kind, i.key.clone(), i.staged.clone())
        };
        let _busy = self.busy.hold(&key, false);
        if let Some(st) = staged {
            let mut st = st.lock().await;
            f(&mut st.attrs)?;
            st.mark_dirty();
            let m = PosixMeta::from_user(&st.attrs.user);
            if let Some(t) = m.mtime {
                st.mtime = t;
            }
            let mut t = self.table();
            if let Some(i) = t.get_mut(ino) {
                self.apply_meta(i, &m);
            }
            return Ok(());
        }
        let new = match kind {
            Kind::File | Kind::Symlink => {
                // Always the stored attributes, never the inode's copy: one from a listing may
                // lack Content-Type and the other headers, which the new version would drop.
                let base = self.head(&key).await?.ok_or(FsError::NotFound)?;
                let mut attrs = base.attrs.clone();
                f(&mut attrs)?;
                Some(self.store.set_attrs(&self.bucket, &key, attrs).await?)
            }
            Kind::Dir if key.is_empty() => {
                // The bucket root has no marker to hold attributes: keep them in memory only.
                let mut attrs = ObjectAttrs::default();
                f(&mut attrs)?;
                let m = PosixMeta::from_user(&attrs.user);
                let mut t = self.table();
                if let Some(i) = t.get_mut(ino) {
                    self.apply_meta(i, &m);
                }
                return Ok(());
            }
            Kind::Dir => match self.head(&key).await? {
                Some(marker) => {
                    let mut attrs = marker.attrs.clone();
                    f(&mut attrs)?;
                    Some(self.store.set_attrs(&self.bucket, &key, attrs).await?)
                }
                None => {
                    // An implicit directory gets a marker to hold its attributes.
                    let mut attrs = ObjectAttrs {
                        content_type: Some(DIR_CONTENT_TYPE.into()),
                        ..Default::default()
                    };
                    f(&mut attrs)?;
                    let opts = PutOptions {
                        attrs,
                        ..Default::default()
                    };
                    Some(
                        self.store
                            .put_object(&self.bucket, &key, ozfs::body_from_bytes(Vec::new()), opts)
                            .await?,
                    )
                }
            },
        };
        if let Some(info) = new {
            let m = PosixMeta::from_user(&info.attrs.user);
            let mut t = self.table();
            if let Some(i) = t.get_mut(ino) {
                self.apply_meta(i, &m);
                i.info = Some(info);
            }
        }
        Ok(())
    }

    pub(super) fn apply_meta(&self, i: &mut crate::inode::Inode, m: &PosixMeta) {
        if let Some(mode) = m.mode {
            if i.kind != Kind::Symlink {
                i.perm = (mode & 0o7777) as u16;
            }
        }
        if let Some(u) = m.uid {
            i.uid = u;
        }
        if let Some(g) = m.gid {
            i.gid = g;
        }
        if let Some(t) = m.mtime {
            i.mtime = t;
        }
        i.ctime = SystemTime::now();
        i.refreshed = std::time::Instant::now();
    }

    /// Target of a symlink.
    pub async fn readlink(&self, ino: u64) -> FsResult<Vec<u8>> {
        let (kind, key, info) = {
            let t = self.table();
            let i = t.get(ino).ok_or(FsError::NotFound)?;
            let fresh = !i.stale && i.refreshed.elapsed() < self.cfg.stat_ttl;
            (i.kind, i.key.clone(), i.info.clone().filter(|_| fresh))
        };
        if kind != Kind::Symlink {
            return Err(FsError::Invalid("not a symlink".into()));
        }
        // The version the inode knows (from the listing, say) is read as it is: no HEAD.
        if let Some(info) = info {
            match self.read_pinned(&info, 0, MAX_LINK as u32).await {
                Ok(b) => return Ok(b.into()),
                Err(FsError::Store(ozfs::Error::ObjectChanged(_) | ozfs::Error::NoSuchKey(_))) => {}
                Err(e) => return Err(e),
            }
        }
        let got = self.store.get_object(&self.bucket, &key, Default::default()).await?;
        Ok(ozfs::collect_body(got.body, MAX_LINK).await?)
    }

    pub(super) fn new_meta(&self, mode: u32, uid: u32, gid: u32) -> ObjectAttrs {
        let mut attrs = ObjectAttrs::default();
        PosixMeta {
            mode: Some(mode),
            uid: Some(uid),
            gid: Some(gid),
            mtime: Some(SystemTime::now()),
        }
        .write_to(&mut attrs.user);
        attrs
    }
}
