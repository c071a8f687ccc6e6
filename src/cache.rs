//! The shared page cache: every read of object bytes, from the FUSE mount and from S3 GET, goes
//! through one bounded [`PageCache`].
//!
//! Design:
//! - Fixed-size pages (default 1 MiB) keyed by [`page::PageKey`] = (object version, page index).
//!   [`ObjectInfo::version`](crate::ObjectInfo::version) is unique per write, so an overwrite or a
//!   delete can never be answered from stale pages: the new object has a new version and the old
//!   pages are never hit again.
//! - Dead versions are dropped early: a per-version index (version -> its cached page indexes)
//!   and the key each recently read version was read under let [`PageCache::retire_key`] drop
//!   the pages of the versions a key no longer has, at the cost of those pages only (counted in
//!   [`CacheStats::invalidated`]). [`CachingStore`] calls it after its own puts, copies, deletes
//!   and renames, and for the change feed ([`CachingStore::watch_changes`]); without it, the old
//!   version's pages (in the protected segment if read twice) crowd out the new version's until
//!   LRU pushes them out. A dropped version is remembered as *dead* (bounded): a reader that
//!   pinned it still reads it, but directly from the store (`PageCache::stream`), without
//!   readahead and without caching, so in-flight loads do not bring its pages back.
//! - A byte budget with segmented-LRU eviction (`lru` crate, unbounded by count, bounded by
//!   bytes here), for scan resistance: a loaded page enters the *probation* segment; it moves to
//!   the *protected* segment (at most [`PROTECTED_SHARE`] of the budget; its overflow goes back
//!   to probation) only when a later pass reads it again, a pass being one S3 GET body or one
//!   sequential run of FUSE reads ([`readahead`] numbers them). Eviction takes probation's least
//!   recently used page first. So one large GET, or a working set larger than the cache read in
//!   turn, churns only probation and leaves the pages read more than once in place.
//!   A page larger than the whole budget is returned but not kept.
//! - Write-allocate ([`fill`]): a PUT through a [`CachingStore`] of an object of one page up to
//!   a quarter of the budget puts its pages into probation as the embedded store writes them
//!   (no read back), marked as read by no pass yet, so the first GETs after an upload are hits
//!   without promoting what is read once.
//! - Idle release: [`PageCache::release_idle`] drops the pages untouched for a given time, and
//!   [`PageCache::spawn_idle_release`] runs it periodically (`--cache-idle-release`), then asks
//!   the allocator to hand freed memory back to the OS ([`trim_heap`]), so an idle server does
//!   not keep its whole cache resident.
//! - One `std::sync::Mutex` guards the LRU, the in-flight table and the readahead detector. It is
//!   only held for map operations, never across an `.await` or any I/O.
//! - Single-flight loading: the first reader that misses a page puts a `tokio::sync::OnceCell`
//!   in the in-flight table; every concurrent reader of that page waits on the same cell, so one
//!   load serves them all. If the loading reader is cancelled, a waiter takes the load over
//!   (that is the `OnceCell` contract); if the load fails, the error goes to the loading reader
//!   and the next waiter tries again.
//! - Sequential readahead ([`readahead`]): per version, a read that continues where the last one
//!   ended grows a prefetch window (up to [`PageCache::readahead_bytes`], and never more than a
//!   quarter of the budget); the window's pages are loaded by background tokio tasks through the
//!   same single-flight path, so a reader that catches up joins the in-flight load. All readers
//!   together have at most a quarter of the budget (and at most [`MAX_PREFETCH_IN_FLIGHT`]) in
//!   prefetch loads at once. Every load (demand or readahead) reserves its page's bytes of the
//!   budget before it reads, evicting then, so the cached pages and the buffers being filled
//!   together stay within the budget.
//! - Small random reads bypass the pages ([`PageCache::stream`]): a read of less than a page
//!   that does not continue a sequential run and finds none of its pages cached reads just its
//!   range from the inner store, counted in [`CacheStats::direct_reads`] and `direct_bytes`;
//!   for a GET only on the first touch of its pages (the second loads them).
//! - [`CachingStore`] is the decorator that puts the cache in front of any
//!   [`ObjectStore`](crate::ObjectStore).

pub mod buffers;
pub mod caching_store;
pub mod fill;
pub mod page;
pub mod readahead;

pub use caching_store::CachingStore;

use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use bytes::Bytes;
use futures_util::stream;
use lru::LruCache;
use page::{page_of, page_range, PageKey, PageSource};
use readahead::Readahead;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

use crate::store::ByteStream;

/// Default page size: 1 MiB.
pub const DEFAULT_PAGE_SIZE: u64 = 1024 * 1024;
/// Default byte budget: 256 MiB.
pub const DEFAULT_BUDGET: u64 = 256 * 1024 * 1024;
/// Default largest readahead window: 16 MiB.
pub const DEFAULT_READAHEAD: u64 = 16 * 1024 * 1024;
/// Upper bound on the bytes of all prefetch loads in flight at once.
pub const MAX_PREFETCH_IN_FLIGHT: u64 = 64 * 1024 * 1024;
/// Smallest page size accepted (smaller values are raised to it).
pub const MIN_PAGE_SIZE: u64 = 4096;
/// Share of the budget the protected segment may hold (pages read by more than one pass), in
/// quarters: the rest is left to probation (new pages, readahead, one-pass scans).
pub const PROTECTED_SHARE: u64 = 3;
/// How many blocks read directly by small GETs are remembered for second-touch admission.
pub const TOUCHED_PAGES: usize = 64 * 1024;
/// The unit second-touch admission remembers (at most a page): a small GET whose range meets a
/// block that an earlier small GET read directly loads and caches its pages. Finer than a page
/// so that unrelated random ranges that happen to share a 1 MiB page (an `--endpoint` mount's
/// random reads: a 2,000-read pass over 1 GiB touched 613 pages twice, each then loaded whole)
/// stay direct, while a range read again (a Parquet footer, an index block) is cached.
pub const TOUCH_BLOCK: u64 = 64 * 1024;
/// How many versions the cache remembers the key of (the versions recently read; a version
/// whose last page leaves the cache is forgotten), so a change of that key drops their pages
/// ([`PageCache::retire_key`]). About 200 bytes each.
pub const TRACKED_OWNERS: usize = 16 * 1024;
/// How many dropped (dead) versions are remembered, so a pinned reader of one reads it without
/// caching it again.
pub const TRACKED_DEAD: usize = 16 * 1024;
/// Default time after which an untouched page is released by the idle sweep: 5 minutes.
pub const DEFAULT_IDLE_RELEASE: Duration = Duration::from_secs(300);
/// Bytes of evicted pages after which the allocator is asked to return freed memory
/// ([`trim_heap`]). Pages smaller than the allocator's mmap threshold (objects of less than a
/// page, e.g. 64 KiB) live in its heap; evicted, they leave free but resident holes there that
/// it does not return by itself, so without this a cache refilled with other pages stays
/// resident on top of the old ones (measured: 680 MiB with a 512 MiB budget).
pub const TRIM_AFTER_EVICTED: u64 = 64 * 1024 * 1024;

/// Ask the allocator to return freed memory to the OS (glibc keeps freed heap memory in its
/// arenas otherwise). A no-op where there is nothing to ask.
#[allow(
    unsafe_code,
    reason = "malloc_trim(3) through libc: std has no way to ask glibc to return freed memory"
)]
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Counters of a [`PageCache`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Page lookups by readers answered from the cache.
    pub hits: u64,
    /// Page lookups by readers that were not in the cache (joined or started a load).
    pub misses: u64,
    /// Loads from the inner store (demand and readahead).
    pub loads: u64,
    /// Loads started by readahead.
    pub prefetches: u64,
    /// Small reads outside a sequential run (FUSE reads; GETs on a first touch) that read just
    /// their range from the inner store, bypassing the pages ([`PageCache::stream`]).
    pub direct_reads: u64,
    /// Bytes those direct reads read.
    pub direct_bytes: u64,
    /// Pages cached as a PUT wrote them, before any reader asked for them (write-allocate,
    /// [`fill`]).
    pub filled: u64,
    /// Pages dropped to stay within the budget.
    pub evictions: u64,
    /// Pages dropped by the idle sweep.
    pub released: u64,
    /// Pages dropped because their version stopped being current (overwritten, deleted,
    /// renamed over: [`PageCache::retire_key`], [`PageCache::invalidate_version`]).
    pub invalidated: u64,
    /// Times evictions asked the allocator to return freed memory ([`TRIM_AFTER_EVICTED`]).
    pub trims: u64,
    /// Bytes currently in the protected segment (pages read by more than one pass).
    pub protected_bytes: u64,
    /// Bytes currently cached.
    pub bytes: u64,
    /// Pages currently cached.
    pub pages: u64,
    /// The byte budget.
    pub budget: u64,
}

type Cell = Arc<OnceCell<Bytes>>;

/// Counts one prefetch load in flight until dropped (also when its task is cancelled).
struct InFlight(Arc<AtomicU64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Budget bytes held by one page load from its start until its page is inserted (or the load
/// fails or is cancelled): a load evicts for its page before it reads, not after, so the pages
/// being read (up to a quarter of the budget in readahead) are inside the budget, not on top.
struct Reservation<'a> {
    cache: &'a PageCache,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.bytes > 0 {
            let mut st = self.cache.lock();
            st.loading -= self.bytes;
        }
    }
}

/// A cached page, when it was last read and by which pass.
struct Entry {
    data: Bytes,
    used: Instant,
    run: u64,
}

struct State {
    /// Pages read by one pass so far (evicted first).
    probation: LruCache<PageKey, Entry>,
    /// Pages read again by a later pass.
    protected: LruCache<PageKey, Entry>,
    bytes: u64,
    protected_bytes: u64,
    /// Bytes reserved by loads in progress ([`Reservation`]): counted against the budget, so
    /// cached pages plus the buffers being filled stay within it.
    loading: u64,
    inflight: HashMap<PageKey, Cell>,
    readahead: Readahead,
    /// Blocks ([`TOUCH_BLOCK`]; `index` counts blocks here) a small GET recently read directly
    /// (second-touch admission, see [`PageCache::stream`]); bounded.
    touched: LruCache<PageKey, ()>,
    /// The cached page indexes of each version (both segments): dropping a version's pages
    /// costs its own pages, not a walk of the cache.
    by_version: HashMap<u64, HashSet<u64>>,
    /// The key each recently read version was read under (bounded, [`TRACKED_OWNERS`]).
    owners: LruCache<u64, Arc<KeyId>>,
    /// The reverse of `owners`: the versions recently read under each key.
    by_key: BTreeMap<Arc<KeyId>, Vec<u64>>,
    /// Versions whose pages were dropped because they stopped being current (bounded,
    /// [`TRACKED_DEAD`]): read directly, never cached again.
    dead: LruCache<u64, ()>,
}

/// A key: (bucket as the reader named it, key).
type KeyId = (BucketPath, String);

impl State {
    /// Evict least recently used pages (probation first) until the cached pages and the loads'
    /// reservations fit in `budget`; returns the evicted pages' buffers.
    fn evict_to(&mut self, budget: u64) -> Vec<Bytes> {
        let mut victims = Vec::new();
        while self.bytes + self.loading > budget {
            let victim = match self.probation.pop_lru() {
                Some(v) => v,
                None => match self.protected.pop_lru() {
                    Some((k, e)) => {
                        self.protected_bytes -= e.data.len() as u64;
                        (k, e)
                    }
                    None => break,
                },
            };
            self.unindex(&victim.0);
            self.bytes -= victim.1.data.len() as u64;
            victims.push(victim.1.data);
        }
        victims
    }

    fn pages(&self) -> usize {
        self.probation.len() + self.protected.len()
    }
    fn contains(&self, key: &PageKey) -> bool {
        self.probation.contains(key) || self.protected.contains(key)
    }
    fn remove(&mut self, key: &PageKey) -> Option<Entry> {
        let e = self.take(key)?;
        self.unindex(key);
        Some(e)
    }
    /// Remove a page from its segment without touching the per-version index.
    fn take(&mut self, key: &PageKey) -> Option<Entry> {
        if let Some(e) = self.protected.pop(key) {
            self.protected_bytes -= e.data.len() as u64;
            self.bytes -= e.data.len() as u64;
            return Some(e);
        }
        let e = self.probation.pop(key)?;
        self.bytes -= e.data.len() as u64;
        Some(e)
    }
    fn index(&mut self, key: PageKey) {
        self.by_version.entry(key.version).or_default().insert(key.index);
    }
    fn unindex(&mut self, key: &PageKey) {
        if let Some(set) = self.by_version.get_mut(&key.version) {
            set.remove(&key.index);
            if set.is_empty() {
                // its last page left: forget its key too (a later read registers it again)
                self.by_version.remove(&key.version);
                self.forget_owner(key.version);
            }
        }
    }
    /// Remember that `version` is read under (`bucket`, `key`).
    fn note_owner(&mut self, version: u64, bucket: &BucketPath, key: &str) {
        if self
            .owners
            .get(&version)
            .is_some_and(|id| id.0 == *bucket && id.1 == key)
        {
            return;
        }
        self.forget_owner(version);
        let id = Arc::new((bucket.clone(), key.to_string()));
        self.by_key.entry(Arc::clone(&id)).or_default().push(version);
        self.owners.put(version, id);
        while self.owners.len() > TRACKED_OWNERS {
            let Some((v, id)) = self.owners.pop_lru() else { break };
            self.unlink(v, &id);
        }
    }
    fn forget_owner(&mut self, version: u64) {
        if let Some(id) = self.owners.pop(&version) {
            self.unlink(version, &id);
        }
    }
    fn unlink(&mut self, version: u64, id: &KeyId) {
        if let Some(vs) = self.by_key.get_mut(id) {
            vs.retain(|v| *v != version);
            if vs.is_empty() {
                self.by_key.remove(id);
            }
        }
    }
    /// Drop every page of `version` (and, with `dead`, remember it as dead); returns the pages'
    /// data.
    fn drop_version(&mut self, version: u64, dead: bool) -> Vec<Bytes> {
        let mut out = Vec::new();
        if let Some(set) = self.by_version.remove(&version) {
            for index in set {
                if let Some(e) = self.take(&PageKey { version, index }) {
                    out.push(e.data);
                }
            }
        }
        self.forget_owner(version);
        self.readahead.forget(version);
        if dead {
            self.dead.put(version, ());
            while self.dead.len() > TRACKED_DEAD {
                self.dead.pop_lru();
            }
        }
        out
    }
}

/// The bounded page cache. Share it as `Arc<PageCache>`.
pub struct PageCache {
    page_size: u64,
    budget: u64,
    readahead_bytes: u64,
    /// Prefetch loads allowed in flight at once (pages).
    prefetch_cap: u64,
    prefetch_in_flight: Arc<AtomicU64>,
    /// Source of the tokens that give each GET body its own readahead state.
    tokens: AtomicU64,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
    loads: AtomicU64,
    prefetches: AtomicU64,
    direct_reads: AtomicU64,
    direct_bytes: AtomicU64,
    evictions: AtomicU64,
    released: AtomicU64,
    invalidated: AtomicU64,
    /// Bytes evicted since the last trim ([`TRIM_AFTER_EVICTED`]).
    evicted_since_trim: AtomicU64,
    trims: AtomicU64,
    /// Pages cached by writes ([`fill`]).
    filled: AtomicU64,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("page_size", &self.page_size)
            .field("budget", &self.budget)
            .field("readahead_bytes", &self.readahead_bytes)
            .finish_non_exhaustive()
    }
}

impl Default for PageCache {
    fn default() -> Self {
        PageCache::new(DEFAULT_BUDGET, DEFAULT_PAGE_SIZE)
    }
}

enum Lookup {
    Hit(Bytes),
    Wait(Cell),
}

impl PageCache {
    /// A cache of at most `budget_bytes` of pages of `page_size` bytes (raised to
    /// [`MIN_PAGE_SIZE`]), with the default readahead window.
    pub fn new(budget_bytes: u64, page_size: u64) -> Self {
        PageCache::with_readahead(budget_bytes, page_size, DEFAULT_READAHEAD)
    }

    /// Like [`PageCache::new`] with the largest readahead window in bytes (0 disables readahead).
    /// The window is also limited to a quarter of the budget, so prefetching cannot push out
    /// most of what is cached.
    pub fn with_readahead(budget_bytes: u64, page_size: u64, readahead_bytes: u64) -> Self {
        let page_size = page_size.max(MIN_PAGE_SIZE);
        let readahead_bytes = readahead_bytes.min(budget_bytes / 4);
        let max_pages = readahead_bytes / page_size;
        PageCache {
            page_size,
            budget: budget_bytes,
            readahead_bytes: max_pages * page_size,
            prefetch_cap: (budget_bytes / 4).min(MAX_PREFETCH_IN_FLIGHT) / page_size,
            prefetch_in_flight: Arc::new(AtomicU64::new(0)),
            tokens: AtomicU64::new(0),
            state: Mutex::new(State {
                probation: LruCache::unbounded(),
                protected: LruCache::unbounded(),
                bytes: 0,
                protected_bytes: 0,
                loading: 0,
                inflight: HashMap::new(),
                readahead: Readahead::new(max_pages),
                touched: LruCache::unbounded(),
                by_version: HashMap::new(),
                owners: LruCache::unbounded(),
                by_key: BTreeMap::new(),
                dead: LruCache::unbounded(),
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            loads: AtomicU64::new(0),
            prefetches: AtomicU64::new(0),
            direct_reads: AtomicU64::new(0),
            direct_bytes: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            released: AtomicU64::new(0),
            invalidated: AtomicU64::new(0),
            evicted_since_trim: AtomicU64::new(0),
            trims: AtomicU64::new(0),
            filled: AtomicU64::new(0),
        }
    }

    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// The effective largest readahead window in bytes (a whole number of pages).
    pub fn readahead_bytes(&self) -> u64 {
        self.readahead_bytes
    }

    pub fn stats(&self) -> CacheStats {
        let (bytes, pages, protected_bytes) = {
            let st = self.lock();
            (st.bytes, st.pages() as u64, st.protected_bytes)
        };
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            loads: self.loads.load(Ordering::Relaxed),
            prefetches: self.prefetches.load(Ordering::Relaxed),
            direct_reads: self.direct_reads.load(Ordering::Relaxed),
            direct_bytes: self.direct_bytes.load(Ordering::Relaxed),
            filled: self.filled.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            released: self.released.load(Ordering::Relaxed),
            invalidated: self.invalidated.load(Ordering::Relaxed),
            trims: self.trims.load(Ordering::Relaxed),
            protected_bytes,
            bytes,
            pages,
            budget: self.budget,
        }
    }

    /// Drop every cached page (counters are kept).
    pub fn clear(&self) {
        {
            let mut st = self.lock();
            st.probation.clear();
            st.protected.clear();
            st.by_version.clear();
            st.bytes = 0;
            st.protected_bytes = 0;
        }
        buffers::drain();
        trim_heap();
    }

    /// Drop the pages not read for `idle` or longer; returns the bytes dropped. The allocator
    /// is then asked to give the memory back ([`trim_heap`]). Pages a reader still holds are
    /// freed when that reader lets them go.
    pub fn release_idle(&self, idle: Duration) -> u64 {
        let Some(cutoff) = Instant::now().checked_sub(idle) else {
            return 0;
        };
        let freed = {
            let mut st = self.lock();
            let old: Vec<PageKey> = st
                .probation
                .iter()
                .chain(st.protected.iter())
                .filter(|(_, e)| e.used <= cutoff)
                .map(|(k, _)| *k)
                .collect();
            let mut freed = 0;
            for k in &old {
                if let Some(e) = st.remove(k) {
                    freed += e.data.len() as u64;
                }
            }
            self.released.fetch_add(old.len() as u64, Ordering::Relaxed);
            freed
        };
        if freed > 0 {
            buffers::drain();
            trim_heap();
        }
        freed
    }

    /// Run [`PageCache::release_idle`] in the background on the current tokio runtime, every
    /// quarter of `idle` (between 10 ms and 30 s), for as long as the cache exists. `idle` of
    /// zero, or no runtime, runs nothing (returns `None`).
    pub fn spawn_idle_release(self: &Arc<Self>, idle: Duration) -> Option<tokio::task::JoinHandle<()>> {
        if idle.is_zero() {
            return None;
        }
        let rt = tokio::runtime::Handle::try_current().ok()?;
        let weak = Arc::downgrade(self);
        let period = (idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(30));
        Some(rt.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(cache) = weak.upgrade() else { return };
                let freed = cache.release_idle(idle);
                if freed > 0 {
                    log::debug!("page cache: released {freed} idle bytes");
                }
            }
        }))
    }

    /// Drop the cached pages of one version, which stopped being current, and remember it as
    /// dead (its readers read it directly from then on, `PageCache::stream`); returns the
    /// pages dropped. Costs the version's own pages (the per-version index), not a walk of the
    /// cache. Correctness never depends on it: it frees the room early.
    pub fn invalidate_version(&self, version: u64) -> u64 {
        self.drop_pages(version, true)
    }

    /// Drop the pages of `version`, remembering it as dead with `dead` (else a later read may
    /// cache it again, e.g. a write-allocated version whose put failed); returns the pages
    /// dropped.
    fn drop_pages(&self, version: u64, dead: bool) -> u64 {
        let dropped = self.lock().drop_version(version, dead);
        self.finish_drop(dropped)
    }

    /// Drop the pages of the versions recently read under (`bucket`, `key`), except `keep` (the
    /// version the key has now, if any): the key was overwritten (`keep` = the new version) or
    /// deleted (empty). With `dead`, the dropped versions are remembered as dead (a pinned
    /// reader of one reads it directly, nothing of it is cached again); without, a later read
    /// caches them again (for when the version may still live under another key: the source
    /// of a rename seen on the change feed). Returns the pages dropped.
    pub fn retire_key(&self, bucket: &BucketPath, key: &str, keep: &[u64], dead: bool) -> u64 {
        let dropped = {
            let mut st = self.lock();
            let id: KeyId = (bucket.clone(), key.to_string());
            let Some(versions) = st.by_key.get(&id) else {
                return 0;
            };
            let gone: Vec<u64> = versions.iter().copied().filter(|v| !keep.contains(v)).collect();
            let mut dropped = Vec::new();
            for v in gone {
                dropped.extend(st.drop_version(v, dead));
            }
            dropped
        };
        self.finish_drop(dropped)
    }

    /// The versions recently read under (`bucket`, `key`) (what [`PageCache::retire_key`] would
    /// consider).
    pub fn key_versions(&self, bucket: &BucketPath, key: &str) -> Vec<u64> {
        let st = self.lock();
        st.by_key
            .get(&(bucket.clone(), key.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// The keys recently read in `bucket` that are `from` (or, with `prefix`, start with it),
    /// with their versions: what a rename of `from` moves.
    pub fn versions_under(&self, bucket: &BucketPath, from: &str, prefix: bool) -> Vec<(String, Vec<u64>)> {
        let st = self.lock();
        let lo: KeyId = (bucket.clone(), from.to_string());
        st.by_key
            .range::<KeyId, _>(lo..)
            .take_while(|(id, _)| id.0 == *bucket && if prefix { id.1.starts_with(from) } else { id.1 == from })
            .map(|(id, vs)| (id.1.clone(), vs.clone()))
            .collect()
    }

    /// File `versions` under `key` (each entry) in `bucket`, no longer dead: a rename moved
    /// them there (a rename keeps the version where the store can).
    pub fn refile(&self, bucket: &BucketPath, entries: &[(String, Vec<u64>)]) {
        let mut st = self.lock();
        for (key, versions) in entries {
            for v in versions {
                st.dead.pop(v);
                st.note_owner(*v, bucket, key);
            }
        }
    }

    /// Whether `version` was dropped as no longer current (and is read directly).
    pub fn is_dead(&self, version: u64) -> bool {
        self.lock().dead.contains(&version)
    }

    /// Count dropped pages and hand their buffers back (outside the lock).
    fn finish_drop(&self, dropped: Vec<Bytes>) -> u64 {
        let n = dropped.len() as u64;
        if n == 0 {
            return 0;
        }
        self.invalidated.fetch_add(n, Ordering::Relaxed);
        let bytes = dropped.iter().map(|d| d.len() as u64).sum();
        for d in dropped {
            buffers::give(d);
        }
        self.note_evicted(bytes);
        n
    }

    /// Whether the per-version index lists exactly the cached pages (tests).
    #[doc(hidden)]
    pub fn index_consistent(&self) -> bool {
        let st = self.lock();
        let mut want: HashMap<u64, HashSet<u64>> = HashMap::new();
        for (k, _) in st.probation.iter().chain(st.protected.iter()) {
            want.entry(k.version).or_default().insert(k.index);
        }
        let owners_ok = st
            .owners
            .iter()
            .all(|(v, id)| st.by_key.get(id).is_some_and(|vs| vs.contains(v)))
            && st.by_key.values().map(Vec::len).sum::<usize>() == st.owners.len();
        want == st.by_version && owners_ok
    }

    /// Whether page (version, index) is cached (does not touch the LRU order).
    pub fn contains(&self, version: u64, index: u64) -> bool {
        self.lock().contains(&PageKey { version, index })
    }

    /// Whether page (version, index) is in the protected segment (read by more than one pass).
    pub fn is_protected(&self, version: u64, index: u64) -> bool {
        self.lock().protected.contains(&PageKey { version, index })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Look `key` up for pass `run`: a hit by a later pass than the one that loaded or last
    /// read the page promotes it to the protected segment.
    fn lookup(&self, key: PageKey, run: u64) -> Lookup {
        let now = Instant::now();
        let mut st = self.lock();
        if let Some(e) = st.protected.get_mut(&key) {
            e.used = now;
            return Lookup::Hit(e.data.clone());
        }
        let promote = match st.probation.get_mut(&key) {
            // the same pass again, or the first reader of a page loaded after a write
            Some(e) if e.run == run || e.run == fill::WRITTEN => {
                e.used = now;
                e.run = run;
                return Lookup::Hit(e.data.clone());
            }
            Some(_) => true,
            None => false,
        };
        if promote {
            if let Some(mut e) = st.probation.pop(&key) {
                e.used = now;
                e.run = run;
                let data = e.data.clone();
                st.protected_bytes += data.len() as u64;
                st.protected.put(key, e);
                let cap = self.budget / 4 * PROTECTED_SHARE;
                while st.protected_bytes > cap {
                    let Some((k, e)) = st.protected.pop_lru() else { break };
                    st.protected_bytes -= e.data.len() as u64;
                    st.probation.put(k, e);
                }
                return Lookup::Hit(data);
            }
        }
        Lookup::Wait(st.inflight.entry(key).or_default().clone())
    }

    /// Reserve `bytes` of the budget for a load about to read a page, evicting for it now.
    fn reserve(&self, bytes: u64) -> Reservation<'_> {
        let victims = {
            let mut st = self.lock();
            st.loading += bytes;
            st.evict_to(self.budget)
        };
        self.hand_back(victims);
        Reservation { cache: self, bytes }
    }

    /// Count evicted pages and hand their buffers to the pool (outside the lock: the next loads
    /// read into them instead of new ones).
    fn hand_back(&self, victims: Vec<Bytes>) {
        if victims.is_empty() {
            return;
        }
        self.evictions.fetch_add(victims.len() as u64, Ordering::Relaxed);
        let evicted = victims.iter().map(|d| d.len() as u64).sum();
        for d in victims {
            buffers::give(d);
        }
        self.note_evicted(evicted);
    }

    fn insert(&self, key: PageKey, page: Bytes, run: u64, mut held: Reservation<'_>) {
        let len = page.len() as u64;
        let mut st = self.lock();
        // the reservation ends here, under the same lock that adds the page
        st.loading -= held.bytes;
        held.bytes = 0;
        if len > self.budget {
            return;
        }
        if st.dead.contains(&key.version) {
            // loaded for a reader of a version dropped meanwhile: not kept
            return;
        }
        st.take(&key); // a reload of a cached page: the index already lists it
        st.index(key);
        st.probation.put(
            key,
            Entry {
                data: page,
                used: Instant::now(),
                run,
            },
        );
        st.bytes += len;
        let victims = st.evict_to(self.budget);
        drop(st);
        self.hand_back(victims);
    }

    /// Count `bytes` evicted; once [`TRIM_AFTER_EVICTED`] were, ask the allocator to return
    /// freed memory (on the runtime's blocking pool when there is one: a trim walks the heap).
    fn note_evicted(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let total = self.evicted_since_trim.fetch_add(bytes, Ordering::Relaxed) + bytes;
        // one of the callers that crossed the mark trims; the others find the count reset
        if total < TRIM_AFTER_EVICTED || self.evicted_since_trim.swap(0, Ordering::Relaxed) < TRIM_AFTER_EVICTED {
            return;
        }
        self.trims.fetch_add(1, Ordering::Relaxed);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(trim_heap)),
            Err(_) => trim_heap(),
        }
    }

    fn finish_inflight(&self, key: PageKey, cell: &Cell) {
        let mut st = self.lock();
        if st.inflight.get(&key).is_some_and(|c| Arc::ptr_eq(c, cell)) {
            st.inflight.remove(&key);
        }
    }

    /// Load through `cell` (single flight); the loader inserts into the LRU.
    async fn load_through(&self, cell: &Cell, src: &PageSource, key: PageKey, run: u64) -> Result<Bytes> {
        let res = cell
            .get_or_try_init(|| async {
                self.loads.fetch_add(1, Ordering::Relaxed);
                let held = self.reserve(self.page_size);
                let page = src.load(key.index, self.page_size).await?;
                self.insert(key, page.clone(), run, held);
                self.finish_inflight(key, cell);
                Ok::<Bytes, Error>(page)
            })
            .await;
        match res {
            Ok(b) => Ok(b.clone()),
            Err(e) => {
                self.finish_inflight(key, cell);
                Err(e)
            }
        }
    }

    /// Page `index` of `src`'s version for pass `run`, from the cache or loaded once.
    pub(crate) async fn page(&self, src: &PageSource, index: u64, run: u64) -> Result<Bytes> {
        let key = PageKey {
            version: src.info.version,
            index,
        };
        match self.lookup(key, run) {
            Lookup::Hit(b) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Ok(b)
            }
            Lookup::Wait(cell) => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                self.load_through(&cell, src, key, run).await
            }
        }
    }

    /// Note a read of `range` by reader `token` and start background loads of the readahead
    /// window; returns the pass the read belongs to and whether the read continues a
    /// sequential run, or `None` when the version is dead (dropped as no longer current: read
    /// it directly, no readahead).
    fn readahead(
        self: &Arc<Self>,
        src: &Arc<PageSource>,
        token: u64,
        range: Range<u64>,
        limit: u64,
    ) -> Option<(u64, bool)> {
        let version = src.info.version;
        let (todo, run, sequential): (Vec<(PageKey, Cell)>, u64, bool) = {
            let mut st = self.lock();
            if st.dead.contains(&version) {
                return None;
            }
            st.note_owner(version, &src.bucket, &src.info.key);
            let o = st.readahead.observe_read(version, token, range, self.page_size, limit);
            let (pages, run) = (o.prefetch, o.run);
            let mut todo = Vec::new();
            for index in pages {
                let key = PageKey { version, index };
                if st.contains(&key) || st.inflight.contains_key(&key) {
                    continue;
                }
                if self.prefetch_in_flight.load(Ordering::Relaxed) + todo.len() as u64 >= self.prefetch_cap {
                    break;
                }
                let cell: Cell = Arc::default();
                st.inflight.insert(key, cell.clone());
                todo.push((key, cell));
            }
            (todo, run, o.sequential)
        };
        if todo.is_empty() {
            return Some((run, sequential));
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            for (key, cell) in &todo {
                self.finish_inflight(*key, cell);
            }
            return Some((run, sequential));
        };
        for (key, cell) in todo {
            self.prefetches.fetch_add(1, Ordering::Relaxed);
            self.prefetch_in_flight.fetch_add(1, Ordering::Relaxed);
            let guard = InFlight(Arc::clone(&self.prefetch_in_flight));
            let cache = Arc::clone(self);
            let src = Arc::clone(src);
            rt.spawn(async move {
                let _guard = guard;
                if let Err(e) = cache.load_through(&cell, &src, key, run).await {
                    log::debug!("readahead of {} page {} failed: {e}", src.info.key, key.index);
                }
            });
        }
        Some((run, sequential))
    }

    /// Whether a small read of `range` of `version` outside a sequential run reads its range
    /// directly: not when any of its pages is cached or being loaded; for a GET (`own_pass`)
    /// also not when a small GET already read a [`TOUCH_BLOCK`] of its range directly (second
    /// touch: the pages are loaded and cached this time), else its blocks are remembered.
    fn admit_direct(&self, version: u64, range: &Range<u64>, own_pass: bool) -> bool {
        let (first, last) = (
            page_of(range.start, self.page_size),
            page_of(range.end - 1, self.page_size),
        );
        let mut st = self.lock();
        let keys = (first..=last).map(|index| PageKey { version, index });
        if keys
            .clone()
            .any(|key| st.contains(&key) || st.inflight.contains_key(&key))
        {
            return false;
        }
        if !own_pass {
            return true;
        }
        let block = TOUCH_BLOCK.min(self.page_size);
        let blocks = (range.start / block..=(range.end - 1) / block).map(|index| PageKey { version, index });
        let mut again = false;
        for key in blocks.clone() {
            again |= st.touched.pop(&key).is_some();
        }
        if !again {
            for key in blocks {
                st.touched.put(key, ());
            }
            while st.touched.len() > TOUCHED_PAGES {
                st.touched.pop_lru();
            }
        }
        !again
    }

    /// Read exactly `range` of `src`'s version from the inner store, without going through
    /// (or filling) the pages.
    async fn read_direct(&self, src: &PageSource, range: Range<u64>) -> Result<Bytes> {
        let want = (range.end - range.start) as usize;
        self.direct_reads.fetch_add(1, Ordering::Relaxed);
        self.direct_bytes.fetch_add(want as u64, Ordering::Relaxed);
        let mut body = src.inner.read_version(&src.bucket, &src.info, range).await?;
        let mut out = bytes::BytesMut::with_capacity(want);
        while let Some(chunk) = futures_util::StreamExt::next(&mut body).await {
            out.extend_from_slice(&chunk?);
            if out.len() > want {
                break;
            }
        }
        if out.len() != want {
            return Err(Error::ObjectChanged(src.info.key.clone()));
        }
        Ok(out.freeze())
    }

    /// A lazy stream of `range` of `src`'s version, one page slice per item, with readahead up to
    /// `limit` (the end of what the caller will want). `own_pass`: the stream is one reader's
    /// whole pass (an S3 GET body), with readahead state of its own; otherwise (FUSE reads) the
    /// readers of a version share it.
    ///
    /// A read of less than a page that does not continue a sequential run (a random FUSE read,
    /// a file's first read, any GET of less than a page) and finds none of its pages cached or
    /// being loaded reads just its range from the inner store, as one item, and caches nothing:
    /// loading whole pages for it would read up to a page per few KiB asked (measured: 1 MiB
    /// per random 4 KiB read). For FUSE that is always so (the kernel's page cache keeps what a
    /// FUSE read returned); a small GET does it only on the first touch of its pages: a later
    /// small GET of one of their [`TOUCH_BLOCK`]s loads and caches the pages (second-touch
    /// admission, remembered for the last [`TOUCHED_PAGES`] blocks), so small ranges read again
    /// and again are cached.
    /// Sequential reads, and reads of pages already cached, take the page path.
    ///
    /// A dead version (dropped by [`PageCache::retire_key`] while a reader still held it, e.g.
    /// a GET body or a FUSE handle that pinned it) is read directly, chunk by chunk, without
    /// readahead and without caching.
    pub(crate) fn stream(
        self: &Arc<Self>,
        src: Arc<PageSource>,
        range: Range<u64>,
        limit: u64,
        own_pass: bool,
    ) -> ByteStream {
        let token = if own_pass {
            self.tokens.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            0
        };
        let cache = Arc::clone(self);
        Box::pin(stream::try_unfold(range.start, move |offset| {
            let cache = Arc::clone(&cache);
            let src = Arc::clone(&src);
            let end = range.end;
            async move {
                if offset >= end {
                    return Ok(None);
                }
                let ps = cache.page_size;
                let index = page_of(offset, ps);
                let prange = page_range(index, ps, src.info.size);
                let chunk_end = end.min(prange.end);
                if chunk_end <= offset {
                    return Err(Error::InvalidRange);
                }
                let Some((run, sequential)) = cache.readahead(&src, token, offset..chunk_end, limit) else {
                    // a reader (pinned) of a version dropped as no longer current: read its
                    // bytes directly, without caching them again
                    let bytes = cache.read_direct(&src, offset..chunk_end).await?;
                    return Ok(Some((bytes, chunk_end)));
                };
                if !sequential
                    && offset == range.start
                    && end - offset < ps
                    && cache.admit_direct(src.info.version, &(offset..end), own_pass)
                {
                    let bytes = cache.read_direct(&src, offset..end).await?;
                    return Ok(Some((bytes, end)));
                }
                let page = cache.page(&src, index, run).await?;
                let from = (offset - prange.start) as usize;
                let to = (chunk_end - prange.start) as usize;
                if to > page.len() {
                    return Err(Error::ObjectChanged(src.info.key.clone()));
                }
                Ok(Some((page.slice(from..to), chunk_end)))
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(len: u64) -> Bytes {
        Bytes::from(vec![7u8; len as usize])
    }

    #[test]
    fn second_touch_admission_counts_blocks_not_pages() {
        const MIB: u64 = 1024 * 1024;
        let cache = PageCache::with_readahead(64 * MIB, MIB, 0);
        let at = |off: u64| off..off + 4096;
        // random 4 KiB GETs in different 64 KiB blocks of one page all stay direct
        for block in 0..MIB / TOUCH_BLOCK {
            assert!(
                cache.admit_direct(9, &at(block * TOUCH_BLOCK + 100), true),
                "block {block}"
            );
        }
        // a range meeting a block read before is the second touch: its page is loaded
        assert!(!cache.admit_direct(9, &at(3 * TOUCH_BLOCK + 2000), true));
        // that block was forgotten by the second touch; another version's blocks are its own
        assert!(cache.admit_direct(9, &at(3 * TOUCH_BLOCK), true));
        assert!(cache.admit_direct(10, &at(100), true));
        // FUSE reads (not own_pass) are always direct and remember nothing
        assert!(cache.admit_direct(11, &at(0), false));
        assert!(cache.admit_direct(11, &at(0), true));
    }

    #[test]
    fn evictions_trim_the_heap_once_per_trim_after_evicted_bytes() {
        const MIB: u64 = 1024 * 1024;
        // a budget of one page: every insert after the first evicts the page before it
        let cache = PageCache::with_readahead(MIB, MIB, 0);
        let per_trim = TRIM_AFTER_EVICTED / MIB;
        for i in 0..=per_trim {
            assert_eq!(cache.stats().trims, 0, "trimmed after {i} evictions");
            cache.insert(PageKey { version: 1, index: i }, page(MIB), 1, cache.reserve(0));
        }
        let st = cache.stats();
        assert_eq!(st.evictions, per_trim);
        assert_eq!(st.trims, 1, "{per_trim} MiB evicted: one trim");
        assert_eq!(st.bytes, MIB, "the budget still holds the last page");
        // the count starts again after a trim
        for i in 0..per_trim - 1 {
            cache.insert(PageKey { version: 2, index: i }, page(MIB), 1, cache.reserve(0));
        }
        assert_eq!(cache.stats().trims, 1);
        cache.insert(PageKey { version: 3, index: 0 }, page(MIB), 1, cache.reserve(0));
        assert_eq!(cache.stats().trims, 2);
    }

    /// One step of the index consistency property.
    #[derive(Debug, Clone)]
    enum Op {
        Insert { version: u64, index: u64, len: u64 },
        Read { version: u64, index: u64, run: u64 },
        Invalidate(u64),
        Retire { key: u8, keep: Option<u64>, dead: bool },
        Release,
        Rename { from: u8, to: u8 },
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0..6u64, 0..6u64, 1..3u64).prop_map(|(version, index, len)| Op::Insert { version, index, len }),
            3 => (0..6u64, 0..6u64, 0..3u64).prop_map(|(version, index, run)| Op::Read { version, index, run }),
            1 => (0..6u64).prop_map(Op::Invalidate),
            1 => (0..3u8, proptest::option::of(0..6u64), any::<bool>())
                .prop_map(|(key, keep, dead)| Op::Retire { key, keep, dead }),
            1 => Just(Op::Release),
            1 => (0..3u8, 0..3u8).prop_map(|(from, to)| Op::Rename { from, to }),
        ]
    }

    fn key_of(version: u64) -> String {
        format!("k{}", version % 3)
    }

    proptest::proptest! {
        /// Under random inserts (with evictions: the budget holds 6 units), reads (with
        /// promotions and the protected segment's overflow), drops, idle release and renames,
        /// the per-version index lists exactly the cached pages, the key index agrees with the
        /// owners, and a dropped version has no page left.
        #[test]
        fn the_version_index_matches_the_pages(ops in proptest::collection::vec(op(), 1..200)) {
            const U: u64 = 4096;
            let cache = PageCache::with_readahead(6 * U, U, 0);
            let b = BucketPath::new("v", "b");
            for op in ops {
                match op {
                    Op::Insert { version, index, len } => {
                        cache.lock().note_owner(version, &b, &key_of(version));
                        cache.insert(PageKey { version, index }, page(len * U), 1, cache.reserve(0));
                    }
                    Op::Read { version, index, run } => {
                        let _ = cache.lookup(PageKey { version, index }, run);
                        cache.lock().inflight.clear();
                    }
                    Op::Invalidate(v) => {
                        cache.invalidate_version(v);
                        proptest::prop_assert!((0..6).all(|i| !cache.contains(v, i)));
                        // a dead version's pages are not kept again
                        cache.insert(PageKey { version: v, index: 0 }, page(U), 1, cache.reserve(0));
                        proptest::prop_assert!(!cache.contains(v, 0));
                    }
                    Op::Retire { key, keep, dead } => {
                        let k = format!("k{key}");
                        let had = cache.key_versions(&b, &k);
                        let keep: Vec<u64> = keep.into_iter().collect();
                        cache.retire_key(&b, &k, &keep, dead);
                        for v in had.into_iter().filter(|v| !keep.contains(v)) {
                            proptest::prop_assert!((0..6).all(|i| !cache.contains(v, i)));
                            proptest::prop_assert!(!dead || cache.is_dead(v));
                        }
                    }
                    Op::Release => {
                        cache.release_idle(Duration::ZERO);
                    }
                    Op::Rename { from, to } => {
                        let moving = cache.versions_under(&b, &format!("k{from}"), false);
                        let moved: Vec<(String, Vec<u64>)> =
                            moving.into_iter().map(|(_, vs)| (format!("k{to}"), vs)).collect();
                        cache.refile(&b, &moved);
                    }
                }
                proptest::prop_assert!(cache.index_consistent());
                let st = cache.stats();
                proptest::prop_assert!(st.bytes <= 6 * U);
            }
        }
    }

    #[test]
    fn loads_in_progress_are_inside_the_budget() {
        const MIB: u64 = 1024 * 1024;
        let cache = PageCache::with_readahead(4 * MIB, MIB, 0);
        for i in 0..4 {
            cache.insert(PageKey { version: 1, index: i }, page(MIB), 1, cache.reserve(MIB));
        }
        assert_eq!(cache.stats().bytes, 4 * MIB, "full: no eviction yet");
        // two loads start: each evicts the least recently used page before it reads
        let a = cache.reserve(MIB);
        let b = cache.reserve(MIB);
        let st = cache.stats();
        assert_eq!((st.bytes, st.evictions), (2 * MIB, 2), "cached pages + loads <= budget");
        assert!(!cache.contains(1, 0) && !cache.contains(1, 1) && cache.contains(1, 3));
        // one completes: its page takes its reservation's place, nothing more is evicted
        cache.insert(PageKey { version: 2, index: 0 }, page(MIB), 1, a);
        let st = cache.stats();
        assert_eq!((st.bytes, st.evictions), (3 * MIB, 2));
        // the other fails or is cancelled: its reservation goes back to the budget
        drop(b);
        assert_eq!(cache.lock().loading, 0);
        cache.insert(PageKey { version: 2, index: 1 }, page(MIB), 1, cache.reserve(MIB));
        let st = cache.stats();
        assert_eq!(
            (st.bytes, st.evictions),
            (4 * MIB, 2),
            "room was left by the dropped load"
        );
    }

    #[test]
    fn small_evictions_add_up_to_a_trim() {
        // pages smaller than the allocator's mmap threshold are the ones a trim is for
        let small = 64 * 1024;
        let cache = PageCache::with_readahead(small, 4096, 0);
        let per_trim = TRIM_AFTER_EVICTED / small;
        for i in 0..per_trim {
            cache.insert(PageKey { version: 1, index: i }, page(small), 1, cache.reserve(0));
        }
        assert_eq!(cache.stats().trims, 0, "{} evictions of {small} bytes", per_trim - 1);
        cache.insert(
            PageKey {
                version: 1,
                index: per_trim,
            },
            page(small),
            1,
            cache.reserve(0),
        );
        assert_eq!(cache.stats().trims, 1);
    }
}
