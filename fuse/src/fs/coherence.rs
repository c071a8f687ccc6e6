//! Coherence: changes made to the same store by another front end (the change feed) become kernel invalidations ([`Fs::on_change`]); `mark_all_stale` and `flush_all` for the mount's life cycle.

use super::*;

/// How many times [`Fs::on_change`] looks at one event whose inode our own operations changed
/// meanwhile, before it just marks the inode stale.
const CHANGE_TRIES: u32 = 5;

/// What one look at a change event came to.
enum Applied {
    /// Nothing (more) to do, not even for the key's ancestors.
    Skip,
    /// Applied (or nothing known about the key): go on with the ancestors and invalidations.
    Done,
    /// The inode changed while the store was asked (how): look again.
    Outdated(u64, &'static str),
}

impl Fs {
    /// React to a change made through the same store by another front end: refresh or drop the
    /// inode and tell the kernel to forget what it cached.
    ///
    /// The store is asked what the key holds now, and that answer is applied to the inode that
    /// had the key when the question was asked. Our own operations may change that inode while
    /// the question is out (a rename moves it to another key or another file onto its key, a
    /// commit gives it a newer version): the answer is then about a name the inode no longer
    /// has, or older than what it holds. Applied anyway, it detached a file just renamed
    /// (its later commits were dropped as those of an unlinked file) or gave the file renamed
    /// onto the key the replaced object's size and bytes. So the answer is applied only while
    /// the inode still has the key, was not refreshed since, and no operation of ours is
    /// changing the key; otherwise the event is looked at again from the start.
    pub async fn on_change(&self, ev: &ChangeEvent) {
        let Some(real) = self.real_bucket.get() else { return };
        if &ev.bucket != real || !ev.key.starts_with(&self.prefix) || ev.key.len() == self.prefix.len() {
            return;
        }
        let mut entries: Vec<(u64, String)> = Vec::new();
        let mut inodes: Vec<u64> = Vec::new();
        let mut tries = 0;
        loop {
            tries += 1;
            match self.apply_change(ev, &mut entries, &mut inodes).await {
                Applied::Skip => return,
                Applied::Done => break,
                Applied::Outdated(ino, _) if tries >= CHANGE_TRIES => {
                    // Our own operations keep changing the inode: trust nothing cached about it.
                    log::debug!("change of {}: inode {ino} kept changing; marked stale", ev.key);
                    if let Some(i) = self.table().get_mut(ino) {
                        i.stale = true;
                    }
                    inodes.push(ino);
                    break;
                }
                Applied::Outdated(ino, why) => {
                    log::debug!(
                        "change of {}: inode {ino} changed while the store was asked ({why}); again",
                        ev.key
                    );
                }
            }
        }
        // Implicit ancestors may have appeared or vanished with this key: make the next lookup
        // of each known ancestor ask the store again.
        {
            let rel = &ev.key[self.prefix.len()..];
            let mut t = self.table();
            let mut dir_key = self.prefix.clone();
            let mut parent = ROOT_INO;
            for comp in rel
                .trim_end_matches('/')
                .split('/')
                .collect::<Vec<_>>()
                .iter()
                .rev()
                .skip(1)
                .rev()
            {
                dir_key.push_str(comp);
                dir_key.push('/');
                let Some(d) = t.by_key(&dir_key).map(|d| d.ino) else {
                    break;
                };
                if let Some(i) = t.get_mut(d) {
                    if i.info.is_none() {
                        i.stale = true;
                        entries.push((parent, comp.to_string()));
                    }
                }
                parent = d;
            }
        }
        // No lock of ours is held here: a FUSE request waiting for one may hold the very inode
        // lock the invalidation needs.
        if let Some(inv) = self.invalidator.get() {
            for ino in inodes {
                inv.inval_inode(ino);
            }
            for (parent, name) in entries {
                inv.inval_entry(parent, &name);
            }
        }
    }

    /// Wait (bounded) while one of our own operations is changing `key`.
    async fn wait_not_busy(&self, key: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let done = self.busy.done.notified();
            if !self.busy.is_busy(key) || std::time::Instant::now() > deadline {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(20), done).await;
        }
    }

    /// Whether the answer to a question about `key` asked at `asof` of inode `ino` may still be
    /// applied to it (see [`Fs::on_change`]); called with the table locked. Err: why not.
    fn unchanged_since(
        &self,
        t: &InodeTable,
        ino: u64,
        key: &str,
        asof: std::time::Instant,
    ) -> Result<(), &'static str> {
        let Some(i) = t.get(ino) else { return Err("gone") };
        if i.unlinked {
            Err("unlinked")
        } else if i.key != key {
            Err("renamed")
        } else if i.staged.is_some() || i.pending {
            Err("being written")
        } else if i.refreshed > asof {
            Err("refreshed")
        } else if self.busy.is_busy(key) {
            Err("busy")
        } else {
            Ok(())
        }
    }

    /// One look at the change `ev` (see [`Fs::on_change`]): the kernel invalidations it calls
    /// for are added to `entries` and `inodes`.
    async fn apply_change(&self, ev: &ChangeEvent, entries: &mut Vec<(u64, String)>, inodes: &mut Vec<u64>) -> Applied {
        self.wait_not_busy(&ev.key).await;
        let known = {
            let t = self.table();
            t.by_key(&ev.key)
                .map(|i| (i.ino, i.info.clone(), i.staged.is_some() || i.pending))
        };
        let (ino, old) = match known {
            None => return Applied::Done,
            Some((_, _, true)) => return Applied::Skip, // being written here: our commit will win
            Some((ino, old, false)) => (ino, old),
        };
        let asof = std::time::Instant::now();
        // What the store holds now, for a delete too: an event tells of a past change, and the
        // key may have been written again since. A delete of a file that was then created
        // again here (unlink, create, close: the new version committed) can reach us after
        // that commit; taken as "gone", it would detach the new file's inode, whose next
        // commit is then dropped as that of an unlinked file.
        let now = self.head(&ev.key).await.ok().flatten();
        match now {
            Some(info)
                if old
                    .as_ref()
                    .is_some_and(|o| o.version == info.version && o.attrs.user == info.attrs.user) =>
            {
                Applied::Skip // our own write
            }
            // Our own rename on a store whose object identity includes the key (the remote
            // one): same bytes and metadata under the new key. Take the new identity without
            // telling the kernel: invalidating the inode here would wait on the page lock of a
            // read of this very file that is waiting for us (the hang of a `cat` right after
            // `mv` of its directory).
            Some(info)
                if old.as_ref().is_some_and(|o| {
                    o.key != info.key && o.etag == info.etag && o.size == info.size && o.attrs.user == info.attrs.user
                }) =>
            {
                let mut t = self.table();
                if let Err(why) = self.unchanged_since(&t, ino, &ev.key, asof) {
                    return Applied::Outdated(ino, why);
                }
                if let Some(i) = t.get_mut(ino) {
                    i.info = Some(info);
                }
                Applied::Skip
            }
            Some(info) => {
                let is_dir = ev.key.ends_with('/');
                let mut f = if is_dir {
                    self.fresh_dir(ev.key.clone(), Some(info))
                } else {
                    self.fresh_object(info)
                };
                f.asof = Some(asof);
                let mut t = self.table();
                if let Err(why) = self.unchanged_since(&t, ino, &ev.key, asof) {
                    return Applied::Outdated(ino, why);
                }
                let Some((parent, name, kind)) = t.get(ino).map(|i| (i.parent, i.name.clone(), i.kind)) else {
                    return Applied::Outdated(ino, "gone");
                };
                let new_kind = f.kind;
                t.upsert(parent, &name, f);
                if kind != new_kind {
                    entries.push((parent, name));
                }
                inodes.push(ino);
                Applied::Done
            }
            None => {
                let mut t = self.table();
                if let Err(why) = self.unchanged_since(&t, ino, &ev.key, asof) {
                    return Applied::Outdated(ino, why);
                }
                let Some((parent, name)) = t.get(ino).map(|i| (i.parent, i.name.clone())) else {
                    return Applied::Outdated(ino, "gone");
                };
                if ev.key.ends_with('/') {
                    // A marker went away; the directory may live on implicitly. Let the next
                    // lookup decide.
                    if let Some(i) = t.get_mut(ino) {
                        i.stale = true;
                    }
                } else {
                    t.detach(ino);
                }
                entries.push((parent, name));
                inodes.push(ino);
                Applied::Done
            }
        }
    }

    /// Forget that any cached attribute or name is current (missed change events).
    pub fn mark_all_stale(&self) {
        self.table().mark_all_stale();
    }

    /// Commit every staged file (unmount).
    pub async fn flush_all(&self) {
        let inos: Vec<u64> = self.table().under(&self.prefix);
        for ino in inos {
            if let Err(e) = self.commit(ino).await {
                log::error!("committing inode {ino} at unmount: {e:#}");
            }
        }
    }
}
