//! Write-allocate: the pages of an object being PUT enter the cache as the store writes them,
//! so the first GETs after an upload are served from memory like the later ones.
//!
//! Measured (docs/bench-findings.md, "Write-allocate"): on two cores, the first GET of a large
//! object loads its pages while other GETs and the client share the CPU, and those first GETs
//! made the p99 of a GET workload three to four times its p50. Loading the pages back after
//! the PUT (a background read of the new data file) fixed the p99 but cost a tenth of the PUT
//! throughput, since the writer drops the file's pages from the kernel's cache and the read went
//! to the disk. Here the embedded store writes the body to its data file through page buffers
//! and hands each buffer to a [`WriteFill`] ([`PageSink`]) once written: no read, no extra copy.
//!
//! The policy, chosen so that uploads cannot push out what readers use:
//! - only objects of at least one page (smaller ones are read directly on their first GET,
//!   `PageCache::stream`) and at most a quarter of the budget (the largest readahead window
//!   has the same bound); a body of unknown length that passes that bound has its pages
//!   dropped and is not followed further;
//! - the pages enter the probation segment marked `WRITTEN`: the first reader adopts them as
//!   read by its own pass, so an object written and then read once stays in probation like one
//!   read once, and only a second pass promotes it; a page never read leaves first;
//! - the pages are inserted before the put commits, under the version it will commit (no reader
//!   can ask for it before then); a put that fails has them dropped.
//!
//! A store that does not write data files (the remote one) never hands pages, so a
//! [`CachingStore`](super::CachingStore) in front of it caches nothing on write.

use super::page::PageKey;
use super::{PageCache, Reservation};
use crate::namespace::BucketPath;
use crate::store::PageSink;
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// The pass of a page cached by a write: no reader's. The first reader adopts it as its own
/// pass's page instead of promoting it.
pub(super) const WRITTEN: u64 = u64::MAX;

impl PageCache {
    /// Whether an object of `size` bytes is cached as it is written (see the module docs).
    pub fn fills_on_write(&self, size: u64) -> bool {
        size >= self.page_size && size <= self.budget / 4
    }
}

/// The [`PageSink`] of one put: caches the pages the store hands it, within the policy.
#[derive(Debug)]
pub struct WriteFill {
    cache: Arc<PageCache>,
    state: Mutex<FillState>,
}

#[derive(Debug, Default)]
struct FillState {
    /// The version the store writes (known from its first page).
    version: Option<u64>,
    bytes: u64,
    /// Past the size bound: pages dropped, later ones ignored.
    stopped: bool,
}

impl WriteFill {
    /// A sink for a put of `expected_len` bytes (when known), or `None` when such an object is
    /// not cached on write.
    pub fn new(cache: &Arc<PageCache>, expected_len: Option<u64>) -> Option<Arc<WriteFill>> {
        if expected_len.is_some_and(|n| !cache.fills_on_write(n)) {
            return None;
        }
        Some(Arc::new(WriteFill {
            cache: Arc::clone(cache),
            state: Mutex::new(FillState::default()),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FillState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The put committed `version` under (`bucket`, `key`): its pages are kept, filed under the
    /// key so an overwrite or delete drops them; a body smaller than a page drops its one page.
    pub fn committed(&self, bucket: &BucketPath, key: &str, version: u64) {
        let st = self.lock();
        if st.stopped || st.version != Some(version) {
            return;
        }
        let small = st.bytes < self.cache.page_size;
        drop(st);
        if small {
            self.cache.drop_pages(version, false);
        } else {
            self.cache.lock().note_owner(version, bucket, key);
        }
    }

    /// The put failed or was given up: the pages of the version it did not commit are dropped,
    /// and so are any the store's writer still hands over (it may outlive a dropped put).
    pub fn failed(&self) {
        let version = {
            let mut st = self.lock();
            st.stopped = true;
            st.version
        };
        if let Some(v) = version {
            self.cache.drop_pages(v, false);
        }
    }
}

impl PageSink for WriteFill {
    fn page_size(&self) -> usize {
        self.cache.page_size as usize
    }

    fn page(&self, version: u64, index: u64, bytes: Bytes) {
        let mut st = self.lock();
        if st.stopped {
            return;
        }
        st.version = Some(version);
        st.bytes += bytes.len() as u64;
        if st.bytes > self.cache.budget / 4 {
            st.stopped = true;
            drop(st);
            self.cache.drop_pages(version, false);
            return;
        }
        self.cache.filled.fetch_add(1, Ordering::Relaxed);
        let unreserved = Reservation {
            cache: &self.cache,
            bytes: 0,
        };
        // under the sink's lock, so that a `failed` racing with this insert drops the page too
        self.cache
            .insert(PageKey { version, index }, bytes, WRITTEN, unreserved);
        drop(st);
    }
}

/// Ends a put's [`WriteFill`] when the put ends: `failed` unless [`FillGuard::committed`] was
/// called, so a put whose future is dropped half-way (a client that went away) leaves no pages.
pub struct FillGuard(Option<Arc<WriteFill>>);

impl FillGuard {
    pub fn new(fill: Option<Arc<WriteFill>>) -> FillGuard {
        FillGuard(fill)
    }

    /// The sink to hand the store, if any.
    pub fn sink(&self) -> Option<Arc<dyn PageSink>> {
        self.0.as_ref().map(|f| Arc::clone(f) as Arc<dyn PageSink>)
    }

    /// The put committed `version` under (`bucket`, `key`): see [`WriteFill::committed`].
    pub fn committed(mut self, bucket: &BucketPath, key: &str, version: u64) {
        if let Some(f) = self.0.take() {
            f.committed(bucket, key, version);
        }
    }
}

impl Drop for FillGuard {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f.failed();
        }
    }
}
