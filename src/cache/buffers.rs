//! Recycled page buffers: a small process-wide pool of the buffers of evicted pages, which the
//! embedded store's chunk reads (`store::local::files`) read into, and the page loader joins a
//! remote store's response chunks in (`cache::page`), instead of new allocations.
//!
//! Why: a cold sequential read through a full cache evicts one page for every page it loads.
//! Freed, the evicted page's 1 MiB goes back to the allocator (often unmapped), and the next
//! load's new buffer is faulted in again page by page, zeroed and charged to the memory cgroup:
//! measured, those faults were about a quarter of the server's CPU on a cold 1 GiB `cat`
//! (docs/bench-findings.md, "Cold sequential reads"). A recycled buffer is already resident.
//!
//! Bounds: at most [`POOL_BYTES`] are kept; only buffers of at least [`MIN_RECYCLED`] bytes, only
//! when no reader still holds a slice of the page (`Bytes::try_into_mut` succeeds), and only in a
//! process where something takes such buffers (one that never loads a page, e.g. a server whose
//! objects are all small, would only hold them).
//! [`PageCache::clear`](super::PageCache::clear) and the idle release empty the pool, so an idle
//! server keeps no more than the cache's own pages.

use bytes::Bytes;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Most bytes of buffers the pool keeps.
pub const POOL_BYTES: usize = 8 << 20;
/// Smaller buffers are not recycled (the allocator serves them from its heap cheaply).
pub const MIN_RECYCLED: usize = 256 << 10;

/// A bounded pool of empty buffers.
pub struct Pool {
    bufs: Mutex<Vec<Vec<u8>>>,
    max_bytes: usize,
    reused: AtomicU64,
    /// Whether anything takes buffers large enough to be recycled: until then evicted pages are
    /// not kept (a process that never takes one would only hold them).
    wanted: AtomicBool,
}

static POOL: Pool = Pool::new(POOL_BYTES);

impl Pool {
    /// A pool keeping at most `max_bytes` of buffers.
    pub const fn new(max_bytes: usize) -> Self {
        Pool {
            bufs: Mutex::new(Vec::new()),
            max_bytes,
            reused: AtomicU64::new(0),
            wanted: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.bufs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An empty buffer with room for `len` bytes: a pooled one whose capacity is `len` to
    /// `2 * len`, else a new one.
    pub fn take(&self, len: usize) -> Vec<u8> {
        if len >= MIN_RECYCLED {
            if !self.wanted.load(Ordering::Relaxed) {
                self.wanted.store(true, Ordering::Relaxed);
            }
            let mut p = self.lock();
            if let Some(i) = p.iter().rposition(|b| b.capacity() >= len && b.capacity() / 2 <= len) {
                let b = p.swap_remove(i);
                drop(p);
                self.reused.fetch_add(1, Ordering::Relaxed);
                return b;
            }
        }
        Vec::with_capacity(len)
    }

    /// Keep the buffer of `page` if nobody else holds it, the pool has room and something has
    /// taken a recyclable buffer before; else it is simply dropped. Returns whether it was kept.
    pub fn give(&self, page: Bytes) -> bool {
        if page.len() < MIN_RECYCLED || !self.wanted.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(m) = page.try_into_mut() else { return false };
        let mut v = Vec::from(m);
        v.clear();
        let mut p = self.lock();
        let held: usize = p.iter().map(Vec::capacity).sum();
        if held + v.capacity() > self.max_bytes {
            return false;
        }
        p.push(v);
        true
    }

    /// Drop every pooled buffer (returns the bytes dropped).
    pub fn drain(&self) -> usize {
        let gone: Vec<Vec<u8>> = std::mem::take(&mut *self.lock());
        gone.iter().map(Vec::capacity).sum()
    }

    /// Buffers handed out again by [`Pool::take`].
    pub fn reused(&self) -> u64 {
        self.reused.load(Ordering::Relaxed)
    }
}

/// [`Pool::take`] from the process-wide pool.
pub fn take(len: usize) -> Vec<u8> {
    POOL.take(len)
}

/// [`Pool::give`] to the process-wide pool.
pub fn give(page: Bytes) -> bool {
    POOL.give(page)
}

/// [`Pool::drain`] of the process-wide pool.
pub fn drain() -> usize {
    POOL.drain()
}

/// Buffers the process-wide pool handed out again.
pub fn reused() -> u64 {
    POOL.reused()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEN: usize = 1 << 20;

    #[test]
    fn a_unique_evicted_buffer_comes_back_without_a_copy() {
        let pool = Pool::new(4 * LEN);
        let mut v = pool.take(LEN);
        v.resize(LEN, 1);
        let ptr = v.as_ptr();
        let page = Bytes::from(v);
        let held = page.slice(0..10);
        assert!(!pool.give(page.clone()), "a page a reader still holds is not recycled");
        drop(held);
        assert!(pool.give(page), "a unique page is recycled");
        let again = pool.take(LEN);
        assert_eq!(again.as_ptr(), ptr, "the same buffer comes back");
        assert!(again.is_empty());
        assert_eq!(pool.reused(), 1);
    }

    #[test]
    fn nothing_is_kept_until_something_takes_recyclable_buffers() {
        let pool = Pool::new(4 * LEN);
        assert!(!pool.give(Bytes::from(vec![0u8; LEN])), "nobody takes: not kept");
        let _small = pool.take(1024);
        assert!(!pool.give(Bytes::from(vec![0u8; LEN])), "a small take does not count");
        let _big = pool.take(LEN);
        assert!(pool.give(Bytes::from(vec![0u8; LEN])));
    }

    #[test]
    fn the_pool_is_bounded_and_keeps_only_fitting_buffers() {
        let pool = Pool::new(4 * LEN);
        let _ = pool.take(LEN);
        assert!(!pool.give(Bytes::from(vec![0u8; 1024])), "small buffers are not kept");
        let kept = (0..6).filter(|_| pool.give(Bytes::from(vec![0u8; LEN]))).count();
        assert_eq!(kept, 4, "never more than max_bytes");
        assert_eq!(pool.drain(), 4 * LEN);
        assert!(pool.give(Bytes::from(vec![0u8; 4 * LEN])));
        assert!(
            pool.take(LEN).capacity() < 4 * LEN,
            "a buffer much larger than asked is not handed out"
        );
        assert_eq!(pool.reused(), 0);
    }
}
