//! Coherence: changes made to the same store by another front end (the change feed) become kernel invalidations ([`Fs::on_change`]); `mark_all_stale` and `flush_all` for the mount's life cycle.

use super::*;

impl Fs {
    /// React to a change made through the same store by another front end: refresh or drop the
    /// inode and tell the kernel to forget what it cached.
    pub async fn on_change(&self, ev: &ChangeEvent) {
        let Some(real) = self.real_bucket.get() else { return };
        if &ev.bucket != real || !ev.key.starts_with(&self.prefix) || ev.key.len() == self.prefix.len() {
            return;
        }
        // Wait (bounded) while one of our own operations is changing this key.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let done = self.busy.done.notified();
            if !self.busy.is_busy(&ev.key) || std::time::Instant::now() > deadline {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(20), done).await;
        }
        let known = {
            let t = self.table();
            t.by_key(&ev.key).map(|i| {
                (
                    i.ino,
                    i.parent,
                    i.name.clone(),
                    i.info.clone(),
                    i.staged.is_some() || i.pending,
                )
            })
        };
        let mut entries: Vec<(u64, String)> = Vec::new();
        let mut inodes: Vec<u64> = Vec::new();
        match known {
            Some((_, _, _, _, true)) => return, // being written here: our commit will win
            Some((ino, parent, name, old, false)) => {
                let asof = std::time::Instant::now();
                // What the store holds now, for a delete too: an event tells of a past change,
                // and the key may have been written again since. A delete of a file that was
                // then created again here (unlink, create, close: the new version committed)
                // can reach us after that commit; taken as "gone", it would detach the new
                // file's inode, whose next commit is then dropped as that of an unlinked file.
                let now = self.head(&ev.key).await.ok().flatten();
                match now {
                    Some(info)
                        if old
                            .as_ref()
                            .is_some_and(|o| o.version == info.version && o.attrs.user == info.attrs.user) =>
                    {
                        return; // our own write
                    }
                    // Our own rename on a store whose object identity includes the key (the
                    // remote one): same bytes and metadata under the new key. Take the new
                    // identity without telling the kernel: invalidating the inode here would
                    // wait on the page lock of a read of this very file that is waiting for us
                    // (the hang of a `cat` right after `mv` of its directory).
                    Some(info)
                        if old.as_ref().is_some_and(|o| {
                            o.key != info.key
                                && o.etag == info.etag
                                && o.size == info.size
                                && o.attrs.user == info.attrs.user
                        }) =>
                    {
                        if let Some(i) = self.table().get_mut(ino) {
                            i.info = Some(info);
                        }
                        return;
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
                        let kind_changed = t.get(ino).is_some_and(|i| i.kind != f.kind);
                        t.upsert(parent, &name, f);
                        if kind_changed {
                            entries.push((parent, name));
                        }
                        inodes.push(ino);
                    }
                    None => {
                        if ev.key.ends_with('/') {
                            // A marker went away; the directory may live on implicitly. Let
                            // the next lookup decide.
                            if let Some(i) = self.table().get_mut(ino) {
                                i.stale = true;
                            }
                        } else {
                            self.table().detach(ino);
                        }
                        entries.push((parent, name));
                        inodes.push(ino);
                    }
                }
            }
            None => {}
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
