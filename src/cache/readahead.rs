//! Sequential-access detection for readahead.
//!
//! Per object version the detector remembers where the last read ended. A read that starts
//! within the current window plus one page of that point (before or after it) counts as
//! sequential (the kernel keeps several FUSE reads of one stream in flight and they
//! arrive out of order); each sequential read doubles the window (from one page up to the maximum), a
//! random read resets it. The detector answers which pages to prefetch: the window's pages after
//! the one just read, minus the ones an earlier answer already scheduled, never past `limit`
//! (the end of the requested range or of the object). State is kept for a bounded number of
//! versions in an LRU, so memory stays small however many files are open.
//!
//! State is kept per (version, token): an S3 GET body passes its own token, so concurrent GETs
//! of one object each keep their window instead of resetting each other's; FUSE reads share
//! token 0 per version. Each state also numbers its *pass* (run): a read from offset 0 or one
//! that does not continue the last starts a new pass. The cache promotes a page only when a
//! later pass reads it again (scan resistance, see [`crate::cache`]).

use lru::LruCache;
use std::num::NonZeroUsize;
use std::ops::Range;

/// How many versions' access state to remember.
const TRACKED_VERSIONS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Stream {
    /// Where the last read ended.
    next_offset: u64,
    /// Pages of prefetch window (0 until a second sequential read).
    window: u64,
    /// Pages up to (exclusive) this index were already scheduled.
    scheduled_to: u64,
    /// The pass this read belongs to.
    run: u64,
}

/// What [`Readahead::observe_read`] found about one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Page indexes to prefetch.
    pub prefetch: Range<u64>,
    /// The pass (run) the read belongs to.
    pub run: u64,
    /// Whether the read continues a sequential run (not the first read, not a jump).
    pub sequential: bool,
}

/// The per-version sequential detector.
pub struct Readahead {
    streams: LruCache<(u64, u64), Stream>,
    max_pages: u64,
    next_run: u64,
}

impl Readahead {
    /// `max_pages`: the largest window, in pages (0 disables readahead).
    pub fn new(max_pages: u64) -> Self {
        let cap = NonZeroUsize::new(TRACKED_VERSIONS).unwrap_or(NonZeroUsize::MIN);
        Readahead {
            streams: LruCache::new(cap),
            max_pages,
            next_run: 0,
        }
    }

    /// Record a read of `range` of `version` and return the page indexes to prefetch.
    #[cfg(test)]
    pub fn observe(&mut self, version: u64, range: Range<u64>, page_size: u64, limit: u64) -> Range<u64> {
        self.observe_run(version, 0, range, page_size, limit).0
    }

    /// Like [`Readahead::observe`] for the reader `token` (0: shared by all readers of the
    /// version); also returns the pass (run) number this read belongs to.
    #[cfg(test)]
    pub fn observe_run(
        &mut self,
        version: u64,
        token: u64,
        range: Range<u64>,
        page_size: u64,
        limit: u64,
    ) -> (Range<u64>, u64) {
        let o = self.observe_read(version, token, range, page_size, limit);
        (o.prefetch, o.run)
    }

    /// Like [`Readahead::observe_run`], also telling whether the read continues a sequential
    /// run (`false` for the first read of a reader and for a jump).
    pub fn observe_read(
        &mut self,
        version: u64,
        token: u64,
        range: Range<u64>,
        page_size: u64,
        limit: u64,
    ) -> Observed {
        let (prefetch, run, sequential) = self.observe_inner(version, token, range, page_size, limit);
        Observed {
            prefetch,
            run,
            sequential,
        }
    }

    fn observe_inner(
        &mut self,
        version: u64,
        token: u64,
        range: Range<u64>,
        page_size: u64,
        limit: u64,
    ) -> (Range<u64>, u64, bool) {
        if range.start >= range.end {
            return (0..0, 0, false);
        }
        let last_page = (range.end - 1) / page_size;
        let limit_pages = limit.div_ceil(page_size);
        let key = (version, token);
        let st = match self.streams.get_mut(&key) {
            Some(st) => {
                // A read may start up to the window (plus a page) before or after where the
                // last one ended: the kernel keeps several FUSE reads of one stream in flight
                // and the worker threads deliver them in any order.
                let slack = st.window.saturating_add(1).saturating_mul(page_size);
                let lo = st.next_offset.saturating_sub(slack);
                let hi = st.next_offset.saturating_add(slack);
                if range.start >= lo && range.start <= hi {
                    st.window = (st.window * 2).clamp(1, self.max_pages.max(1));
                    st.next_offset = st.next_offset.max(range.end);
                    if range.start == 0 {
                        self.next_run += 1;
                        st.run = self.next_run;
                    }
                } else {
                    st.window = 0;
                    st.scheduled_to = 0;
                    st.next_offset = range.end;
                    self.next_run += 1;
                    st.run = self.next_run;
                }
                *st
            }
            None => {
                self.next_run += 1;
                let st = Stream {
                    next_offset: range.end,
                    window: 0,
                    scheduled_to: 0,
                    run: self.next_run,
                };
                self.streams.put(key, st);
                st
            }
        };
        let sequential = st.window > 0;
        if self.max_pages == 0 || st.window == 0 {
            return (0..0, st.run, sequential);
        }
        let from = (last_page + 1).max(st.scheduled_to);
        let to = (last_page + 1 + st.window).min(limit_pages);
        if from >= to {
            return (0..0, st.run, sequential);
        }
        if let Some(s) = self.streams.get_mut(&key) {
            s.scheduled_to = to;
        }
        (from..to, st.run, sequential)
    }

    /// Forget a version (its object was replaced or deleted).
    pub fn forget(&mut self, version: u64) {
        let keys: Vec<(u64, u64)> = self
            .streams
            .iter()
            .filter(|(k, _)| k.0 == version)
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.streams.pop(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = 100;

    #[test]
    fn first_read_prefetches_nothing() {
        let mut r = Readahead::new(8);
        assert_eq!(r.observe(1, 0..50, P, 10_000), 0..0);
    }

    #[test]
    fn sequential_reads_grow_the_window_and_never_reschedule() {
        let mut r = Readahead::new(8);
        r.observe(1, 0..100, P, 10_000);
        assert_eq!(r.observe(1, 100..200, P, 10_000), 2..3);
        assert_eq!(r.observe(1, 200..300, P, 10_000), 3..5);
        assert_eq!(r.observe(1, 300..400, P, 10_000), 5..8);
        assert_eq!(r.observe(1, 400..500, P, 10_000), 8..13);
        // capped at 8 pages ahead of the read
        assert_eq!(r.observe(1, 500..600, P, 10_000), 13..14);
    }

    #[test]
    fn reads_out_of_order_within_the_window_stay_sequential() {
        let mut r = Readahead::new(8);
        r.observe(1, 0..100, P, 10_000);
        r.observe(1, 100..200, P, 10_000);
        r.observe(1, 200..300, P, 10_000);
        // four reads in flight, delivered 5, 3, 6, 4: none resets the window or the pass
        let (_, run) = r.observe_run(1, 0, 500..600, P, 10_000);
        for range in [300..400, 600..700, 400..500] {
            let o = r.observe_read(1, 0, range.clone(), P, 10_000);
            assert!(o.sequential, "{range:?} continues the stream");
            assert_eq!(o.run, run, "{range:?} is the same pass");
        }
        // and the window kept growing: the next read schedules past everything scheduled
        assert_eq!(r.observe(1, 700..800, P, 10_000), 15..16);
        // further behind than the window is a jump
        assert!(!r.observe_read(1, 0, 2000..2100, P, 10_000).sequential);
    }

    #[test]
    fn window_stops_at_limit() {
        let mut r = Readahead::new(8);
        r.observe(1, 0..100, P, 250);
        assert_eq!(r.observe(1, 100..200, P, 250), 2..3);
        assert_eq!(r.observe(1, 200..250, P, 250), 0..0);
    }

    #[test]
    fn random_read_resets() {
        let mut r = Readahead::new(8);
        r.observe(1, 0..100, P, 10_000);
        r.observe(1, 100..200, P, 10_000);
        assert_eq!(r.observe(1, 5000..5100, P, 10_000), 0..0);
        assert_eq!(r.observe(1, 5100..5200, P, 10_000), 52..53);
    }

    #[test]
    fn disabled_does_nothing() {
        let mut r = Readahead::new(0);
        r.observe(1, 0..100, P, 10_000);
        assert_eq!(r.observe(1, 100..200, P, 10_000), 0..0);
    }

    #[test]
    fn passes_are_numbered() {
        let mut r = Readahead::new(8);
        let (_, a) = r.observe_run(1, 0, 0..100, P, 10_000);
        let (_, b) = r.observe_run(1, 0, 100..200, P, 10_000);
        assert_eq!(a, b, "a continuation is the same pass");
        let (_, c) = r.observe_run(1, 0, 0..100, P, 10_000);
        assert_ne!(b, c, "a read from offset 0 starts a new pass");
        let (_, d) = r.observe_run(1, 0, 5000..5100, P, 10_000);
        assert_ne!(c, d, "a jump starts a new pass");
    }

    #[test]
    fn only_continuing_reads_are_sequential() {
        let mut r = Readahead::new(0);
        assert!(!r.observe_read(1, 0, 0..100, P, 10_000).sequential, "a first read");
        assert!(r.observe_read(1, 0, 100..200, P, 10_000).sequential, "a continuation");
        assert!(!r.observe_read(1, 0, 5000..5100, P, 10_000).sequential, "a jump");
        assert!(
            r.observe_read(1, 0, 5100..5200, P, 10_000).sequential,
            "its continuation"
        );
    }

    #[test]
    fn tokens_keep_their_own_window() {
        let mut r = Readahead::new(8);
        r.observe_run(1, 7, 0..100, P, 10_000);
        r.observe_run(1, 8, 5000..5100, P, 10_000);
        assert_eq!(r.observe_run(1, 7, 100..200, P, 10_000).0, 2..3);
        assert_eq!(r.observe_run(1, 8, 5100..5200, P, 10_000).0, 52..53);
    }

    #[test]
    fn versions_are_independent() {
        let mut r = Readahead::new(8);
        r.observe(1, 0..100, P, 10_000);
        r.observe(2, 700..800, P, 10_000);
        assert_eq!(r.observe(1, 100..200, P, 10_000), 2..3);
    }
}
