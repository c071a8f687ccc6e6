//! Open file and directory handles.
//!
//! A file handle remembers the object version it opened (close-to-open consistency: every read
//! of the handle is a page-cache lookup of that version, never a HEAD), whether it may write,
//! and the opener's thread-group id (goofys's rule: a `flush` from another process, e.g. a
//! forked child closing an inherited descriptor, does not commit). Writes go to the inode's
//! shared staged copy.
//!
//! A directory handle holds the listing stream: one page of the delimiter listing at a time (and
//! the request of the next one, sent ahead), so a directory of any size is streamed with bounded
//! memory.

use crate::inode::Kind;
use crate::staging::Staged;
use ozfs::ObjectInfo;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Mutex as AsyncMutex;

/// An open file.
#[derive(Debug)]
pub struct FileHandle {
    pub ino: u64,
    pub writable: bool,
    /// Thread-group id of the opener.
    pub tgid: u32,
    /// Thread id of the opener (FUSE's `pid`; 0: unknown). A close from this thread is the
    /// opener's without reading the closer's thread group.
    pub tid: u32,
    /// The version this handle reads when nothing is staged.
    pub info: Mutex<Option<ObjectInfo>>,
    /// End offset of the previous read (sequential-read detection for read-ahead).
    pub last_read_end: AtomicU64,
}

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
    pub kind: Kind,
    /// The object (files and symlinks) or the directory's marker, with its user metadata (as
    /// the listing returned it, or as a HEAD did; `None`: a directory without marker, or not
    /// known).
    pub info: Option<ObjectInfo>,
    /// Not from the store's listing: a name of the inode table being created here (pending,
    /// not committed when the listing was made). Listed with what the table holds for the name
    /// when the entry is handed out — the file may have been committed, or unlinked, since —
    /// and never made into an inode from this entry (it has no object to say what it is).
    pub local: bool,
}

/// Listing state of an open directory.
#[derive(Debug, Default)]
pub struct DirStream {
    /// Entries not yet consumed; `entries[0]` has listing index `first`.
    pub entries: VecDeque<Listed>,
    pub first: u64,
    /// Index of the first of the entries skipped (not handed out) just before `first`, or
    /// `first` itself: a readdir resuming anywhere from here on continues the stream.
    pub skipped_from: u64,
    /// Where the next page starts (None before the first page).
    pub next_start_after: Option<String>,
    pub started: bool,
    pub done: bool,
    /// Local-only children (created, not yet committed) were appended after the listing.
    pub pending_added: bool,
    /// When the current page was requested (its attributes are at least that old).
    pub page_asof: Option<std::time::Instant>,
    /// Names of the entries produced so far that may collide with a later entry of the other
    /// kind (`x` and `x/`): only the first one is shown.
    pub seen: std::collections::HashSet<String>,
    /// The next page, already requested.
    pub prefetch: Option<Prefetch>,
}

/// A listing page requested ahead of need; the request is abandoned when this is dropped (the
/// directory closed or rewound first).
#[derive(Debug)]
pub struct Prefetch {
    /// The `start_after` it was requested with.
    pub start_after: Option<String>,
    /// When it was requested (its entries are at least that old).
    pub asof: std::time::Instant,
    pub task: tokio::task::JoinHandle<ozfs::Result<ozfs::ListPage>>,
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An open directory.
#[derive(Debug)]
pub struct DirHandle {
    pub ino: u64,
    pub stream: AsyncMutex<DirStream>,
}

/// Either kind of handle.
#[derive(Debug, Clone)]
pub enum Handle {
    File(Arc<FileHandle>),
    Dir(Arc<DirHandle>),
}

/// All open handles of a mount.
#[derive(Debug, Default)]
pub struct Handles {
    next: AtomicU64,
    map: Mutex<HashMap<u64, Handle>>,
}

impl Handles {
    pub fn insert(&self, h: Handle) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        crate::sync::lock(&self.map).insert(fh, h);
        fh
    }

    pub fn get(&self, fh: u64) -> Option<Handle> {
        crate::sync::lock(&self.map).get(&fh).cloned()
    }

    pub fn remove(&self, fh: u64) -> Option<Handle> {
        crate::sync::lock(&self.map).remove(&fh)
    }

    /// Staged copies that still have uncommitted data (for flushing at unmount).
    pub fn count(&self) -> usize {
        crate::sync::lock(&self.map).len()
    }
}

/// Helper kept beside the handle types: the staged copy type shared by handles.
pub type SharedStaged = Arc<AsyncMutex<Staged>>;
