//! The inode table: inode numbers, the name → inode map of each directory, the kernel's lookup
//! counts, and the cached attributes of every inode the kernel knows.
//!
//! Design:
//! - An inode is a path in the bucket: a file or symlink is the key `prefix + a/b/c`, a directory
//!   is the prefix `prefix + a/b/` (the root is the mount prefix itself, possibly empty).
//!   Keys are stored on the inode and rewritten for the whole subtree on rename.
//! - Numbers are never reused during a mount (a `u64` counter), so a stale kernel reference can
//!   never hit another file.
//! - The kernel's lookup count decides the lifetime: `lookup`, `create`, `mkdir`, `symlink` and
//!   each readdirplus entry add one, `forget` removes n; an inode with no lookups and no open
//!   handles is dropped. Unlinking only detaches the name; the inode lives until forgotten.
//! - The table is one `Mutex`: every operation on it is short and never waits on I/O.
//!
//! Open handles live in [`handle`].

pub mod handle;

use crate::staging::Staged;
use ozfs::ObjectInfo;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::sync::Mutex as AsyncMutex;

/// Inode number of the mount root.
pub const ROOT_INO: u64 = 1;

/// What an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

/// Attributes as the kernel sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub kind: Kind,
    pub size: u64,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    /// Permission bits only (`0o7777` mask).
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
}

/// One inode.
#[derive(Debug)]
pub struct Inode {
    pub ino: u64,
    pub parent: u64,
    pub name: String,
    /// Object key (file, symlink) or key prefix ending in `/` (directory; the root may be "").
    pub key: String,
    pub kind: Kind,
    /// The committed object (file, symlink) or the directory marker, as last seen.
    pub info: Option<ObjectInfo>,
    pub size: u64,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
    /// When the attributes were last read from the store (or set by a write through us).
    pub refreshed: Instant,
    /// When the inode got its current name and key (created, or renamed here): an answer about
    /// the name from before then (a listing page, a lookup) is about another file.
    pub named: Instant,
    /// Cached attributes must be re-read before they are trusted again (change feed).
    pub stale: bool,
    /// Kernel lookup count.
    pub lookups: u64,
    /// Open file or directory handles.
    pub open: u32,
    /// Local copy being written (shared by every handle of this inode).
    pub staged: Option<Arc<AsyncMutex<Staged>>>,
    /// Created through the mount and not yet committed to the store (only `staged` has it).
    pub pending: bool,
    /// The name was removed (unlink, rmdir, replaced by rename); the inode lives on until the
    /// kernel forgets it and its last handle closes, but nothing is committed for it any more.
    pub unlinked: bool,
}

impl Inode {
    /// Whether the store's answer about `key`, asked at `asof`, may still be applied to this
    /// inode: it still has that key (no rename of ours moved it since), is not being written
    /// here, and nothing refreshed it since the question was asked.
    pub fn answer_applies(&self, key: &str, asof: Instant) -> bool {
        self.key == key && self.staged.is_none() && self.refreshed <= asof
    }

    pub fn attr(&self) -> Attr {
        Attr {
            ino: self.ino,
            kind: self.kind,
            size: self.size,
            mtime: self.mtime,
            ctime: self.ctime,
            perm: self.perm,
            uid: self.uid,
            gid: self.gid,
        }
    }
}

/// Fields of a new or refreshed inode.
#[derive(Debug, Clone)]
pub struct Fresh {
    pub kind: Kind,
    pub key: String,
    pub info: Option<ObjectInfo>,
    pub size: u64,
    pub mtime: SystemTime,
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
    /// When the store request these fields came from was sent (None: not from the store, e.g.
    /// our own write). Data older than what the inode already knows is not applied.
    pub asof: Option<Instant>,
}

/// The table. See the module docs.
#[derive(Debug)]
pub struct InodeTable {
    inodes: HashMap<u64, Inode>,
    children: HashMap<(u64, String), u64>,
    by_key: HashMap<String, u64>,
    next: u64,
}

impl InodeTable {
    /// A table holding only the root directory, whose key is `root_key`.
    pub fn new(root_key: String, root: Fresh) -> Self {
        let now = Instant::now();
        let mut inodes = HashMap::new();
        let mut by_key = HashMap::new();
        by_key.insert(root_key.clone(), ROOT_INO);
        inodes.insert(
            ROOT_INO,
            Inode {
                ino: ROOT_INO,
                parent: ROOT_INO,
                name: String::new(),
                key: root_key,
                kind: Kind::Dir,
                info: None,
                size: root.size,
                mtime: root.mtime,
                ctime: root.mtime,
                perm: root.perm,
                uid: root.uid,
                gid: root.gid,
                refreshed: now,
                named: now,
                stale: false,
                // The root is never forgotten.
                lookups: 1,
                open: 0,
                staged: None,
                pending: false,
                unlinked: false,
            },
        );
        InodeTable {
            inodes,
            children: HashMap::new(),
            by_key,
            next: ROOT_INO + 1,
        }
    }

    pub fn get(&self, ino: u64) -> Option<&Inode> {
        self.inodes.get(&ino)
    }

    pub fn get_mut(&mut self, ino: u64) -> Option<&mut Inode> {
        self.inodes.get_mut(&ino)
    }

    /// The inode currently named `name` in `parent`.
    pub fn child(&self, parent: u64, name: &str) -> Option<&Inode> {
        self.children
            .get(&(parent, name.to_string()))
            .and_then(|i| self.inodes.get(i))
    }

    /// The inode whose key (file) or prefix (directory) is `key`.
    pub fn by_key(&self, key: &str) -> Option<&Inode> {
        self.by_key.get(key).and_then(|i| self.inodes.get(i))
    }

    /// Number of inodes (root included).
    pub fn len(&self) -> usize {
        self.inodes.len()
    }

    /// Never true: the root is always there.
    pub fn is_empty(&self) -> bool {
        self.inodes.is_empty()
    }

    /// Names currently attached under `parent` that only exist locally (created, not committed).
    pub fn has_pending_children(&self, parent: u64) -> bool {
        self.inodes
            .values()
            .any(|i| i.parent == parent && i.pending && !i.unlinked)
    }

    /// Names and kinds of the local-only (uncommitted) children of `parent`.
    pub fn pending_children(&self, parent: u64) -> Vec<(String, Kind)> {
        self.inodes
            .values()
            .filter(|i| i.parent == parent && i.pending && !i.unlinked)
            .map(|i| (i.name.clone(), i.kind))
            .collect()
    }

    /// Insert `name` under `parent`, or refresh the inode already there. An existing inode of
    /// another kind is detached (its name now belongs to the new one). The lookup count is not
    /// changed; the caller adds one when the kernel is told about the inode.
    pub fn upsert(&mut self, parent: u64, name: &str, f: Fresh) -> u64 {
        let now = Instant::now();
        if let Some(&ino) = self.children.get(&(parent, name.to_string())) {
            if f.asof
                .is_some_and(|a| self.inodes.get(&ino).is_some_and(|i| i.named > a))
            {
                // Renamed onto this name since the answer was asked for: the answer is about
                // the file (or directory) the rename replaced, of whatever kind.
                return ino;
            }
            let same_kind = self.inodes.get(&ino).is_some_and(|i| i.kind == f.kind);
            if same_kind {
                let inode = self.inodes.get_mut(&ino).expect("child maps to a live inode");
                if f.asof.is_some_and(|a| inode.refreshed > a) {
                    // Something newer (our own commit, a later answer) arrived while this
                    // answer was on its way: keep the newer attributes.
                    return ino;
                }
                // A file being written locally keeps its local size and times.
                if inode.staged.is_none() {
                    inode.size = f.size;
                    inode.mtime = f.mtime;
                    inode.ctime = f.mtime;
                    inode.info = f.info;
                    inode.perm = f.perm;
                    inode.uid = f.uid;
                    inode.gid = f.gid;
                    inode.pending = false;
                }
                inode.refreshed = now;
                inode.stale = false;
                return ino;
            }
            self.detach(ino);
        }
        let ino = self.next;
        self.next += 1;
        self.by_key.insert(f.key.clone(), ino);
        self.children.insert((parent, name.to_string()), ino);
        self.inodes.insert(
            ino,
            Inode {
                ino,
                parent,
                name: name.to_string(),
                key: f.key,
                kind: f.kind,
                info: f.info,
                size: f.size,
                mtime: f.mtime,
                ctime: f.mtime,
                perm: f.perm,
                uid: f.uid,
                gid: f.gid,
                refreshed: now,
                named: now,
                stale: false,
                lookups: 0,
                open: 0,
                staged: None,
                pending: false,
                unlinked: false,
            },
        );
        ino
    }

    /// Add kernel lookups.
    pub fn add_lookup(&mut self, ino: u64, n: u64) {
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.lookups += n;
        }
    }

    /// The kernel dropped `n` references.
    pub fn forget(&mut self, ino: u64, n: u64) {
        if ino == ROOT_INO {
            return;
        }
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.lookups = i.lookups.saturating_sub(n);
        }
        self.maybe_drop(ino);
    }

    /// Drop the inode if nothing refers to it any more.
    pub fn maybe_drop(&mut self, ino: u64) {
        let drop = self.inodes.get(&ino).is_some_and(|i| i.lookups == 0 && i.open == 0);
        if drop && ino != ROOT_INO {
            self.detach(ino);
            self.inodes.remove(&ino);
        }
    }

    /// Remove the name of `ino` (its parent entry and key index); the inode itself stays until
    /// forgotten. Marks it unlinked.
    pub fn detach(&mut self, ino: u64) {
        let Some(i) = self.inodes.get_mut(&ino) else { return };
        i.unlinked = true;
        let (parent, name, key) = (i.parent, i.name.clone(), i.key.clone());
        if self.children.get(&(parent, name.clone())) == Some(&ino) {
            self.children.remove(&(parent, name));
        }
        if self.by_key.get(&key) == Some(&ino) {
            self.by_key.remove(&key);
        }
        self.maybe_drop_if_unreferenced(ino);
    }

    fn maybe_drop_if_unreferenced(&mut self, ino: u64) {
        let drop = self.inodes.get(&ino).is_some_and(|i| i.lookups == 0 && i.open == 0);
        if drop && ino != ROOT_INO {
            self.inodes.remove(&ino);
        }
    }

    /// Move `ino` to `new_parent`/`new_name` with key `new_key`; a directory's descendants get
    /// their keys rewritten. Whatever was at the destination is detached.
    pub fn rename(&mut self, ino: u64, new_parent: u64, new_name: &str, new_key: String) {
        if let Some(&old) = self.children.get(&(new_parent, new_name.to_string())) {
            if old != ino {
                self.detach(old);
            }
        }
        let Some(i) = self.inodes.get(&ino) else { return };
        let (parent, name, old_key, kind) = (i.parent, i.name.clone(), i.key.clone(), i.kind);
        if self.children.get(&(parent, name.clone())) == Some(&ino) {
            self.children.remove(&(parent, name));
        }
        if self.by_key.get(&old_key) == Some(&ino) {
            self.by_key.remove(&old_key);
        }
        self.children.insert((new_parent, new_name.to_string()), ino);
        self.by_key.insert(new_key.clone(), ino);
        let now = Instant::now();
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.unlinked = false;
            i.parent = new_parent;
            i.name = new_name.to_string();
            i.key = new_key.clone();
            i.named = now;
        }
        if kind == Kind::Dir {
            let moved: Vec<u64> = self
                .inodes
                .values()
                .filter(|i| i.ino != ino && !i.unlinked && i.key.starts_with(&old_key))
                .map(|i| i.ino)
                .collect();
            for m in moved {
                let Some(i) = self.inodes.get_mut(&m) else { continue };
                let k = format!("{new_key}{}", &i.key[old_key.len()..]);
                i.named = now;
                let prev = std::mem::replace(&mut i.key, k.clone());
                if self.by_key.get(&prev) == Some(&m) {
                    self.by_key.remove(&prev);
                }
                self.by_key.insert(k, m);
            }
        }
    }

    /// Allocate a local-only file (created through the mount, not yet in the store).
    pub fn insert_pending(&mut self, parent: u64, name: &str, f: Fresh, staged: Arc<AsyncMutex<Staged>>) -> u64 {
        let ino = self.upsert(parent, name, f);
        if let Some(i) = self.inodes.get_mut(&ino) {
            i.pending = true;
            i.staged = Some(staged);
        }
        ino
    }

    /// Mark every inode's cached attributes as needing a re-read.
    pub fn mark_all_stale(&mut self) {
        for i in self.inodes.values_mut() {
            i.stale = true;
        }
    }

    /// Every live inode whose key lies under `prefix` (directories included), for invalidation.
    pub fn under(&self, prefix: &str) -> Vec<u64> {
        self.inodes
            .values()
            .filter(|i| !i.unlinked && i.key.starts_with(prefix))
            .map(|i| i.ino)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(kind: Kind, key: &str) -> Fresh {
        Fresh {
            kind,
            key: key.to_string(),
            info: None,
            size: 0,
            mtime: SystemTime::UNIX_EPOCH,
            perm: 0o644,
            uid: 0,
            gid: 0,
            asof: None,
        }
    }

    #[test]
    fn lookup_counts_decide_lifetime() {
        let mut t = InodeTable::new(String::new(), fresh(Kind::Dir, ""));
        let a = t.upsert(ROOT_INO, "a", fresh(Kind::File, "a"));
        t.add_lookup(a, 2);
        assert_eq!(
            t.upsert(ROOT_INO, "a", fresh(Kind::File, "a")),
            a,
            "same inode on refresh"
        );
        t.forget(a, 1);
        assert!(t.get(a).is_some());
        t.forget(a, 1);
        assert!(t.get(a).is_none());
        assert!(t.child(ROOT_INO, "a").is_none());
    }

    #[test]
    fn kind_change_gets_a_new_inode() {
        let mut t = InodeTable::new(String::new(), fresh(Kind::Dir, ""));
        let a = t.upsert(ROOT_INO, "a", fresh(Kind::File, "a"));
        t.add_lookup(a, 1);
        let d = t.upsert(ROOT_INO, "a", fresh(Kind::Dir, "a/"));
        assert_ne!(a, d);
        assert!(t.get(a).unwrap().unlinked);
        assert_eq!(t.child(ROOT_INO, "a").unwrap().ino, d);
    }

    #[test]
    fn rename_rewrites_subtree_keys() {
        let mut t = InodeTable::new("p/".into(), fresh(Kind::Dir, "p/"));
        let d = t.upsert(ROOT_INO, "d", fresh(Kind::Dir, "p/d/"));
        let f = t.upsert(d, "f", fresh(Kind::File, "p/d/f"));
        t.add_lookup(d, 1);
        t.add_lookup(f, 1);
        t.rename(d, ROOT_INO, "e", "p/e/".into());
        assert_eq!(t.get(f).unwrap().key, "p/e/f");
        assert_eq!(t.by_key("p/e/f").unwrap().ino, f);
        assert!(t.by_key("p/d/f").is_none());
        assert_eq!(t.child(ROOT_INO, "e").unwrap().ino, d);
        assert!(t.child(ROOT_INO, "d").is_none());
    }
}
