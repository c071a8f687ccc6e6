//! Page identity and page loading.
//!
//! A page is the `index`-th `page_size` slice of one object version: bytes
//! `[index * page_size, min((index + 1) * page_size, size))`. Pages are keyed by
//! [`PageKey`] = (version, index); since [`ObjectInfo::version`] is unique per write, a page of a
//! replaced or deleted object can never be looked up again; it is dropped when the cache learns
//! its key changed ([`super::PageCache::retire_key`]), else it ages out of the LRU.
//!
//! [`PageSource`] is what a loader needs to fetch pages of one version: the inner store, the
//! (link-resolved or as-named) bucket and the pinned [`ObjectInfo`]. Loading reads exactly the
//! page's range with [`Objects::read_version`](crate::store::Objects::read_version) and checks its length, so a store that
//! returns fewer or more bytes than the version's size promises is reported as
//! [`Error::ObjectChanged`] instead of being cached.

use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use crate::store::{ObjectInfo, ObjectStore};
use bytes::Bytes;
use futures_util::StreamExt;
use std::ops::Range;
use std::sync::Arc;

/// Extra attempts of a page load that failed with an I/O error.
const LOAD_RETRIES: u32 = 2;

/// Key of one cached page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub version: u64,
    pub index: u64,
}

/// Byte range of page `index` of an object of `size` bytes (empty past the end).
pub fn page_range(index: u64, page_size: u64, size: u64) -> Range<u64> {
    let start = index.saturating_mul(page_size).min(size);
    let end = start.saturating_add(page_size).min(size);
    start..end
}

/// Index of the page holding byte `offset`.
pub fn page_of(offset: u64, page_size: u64) -> u64 {
    offset / page_size
}

/// Everything needed to load pages of one object version.
pub struct PageSource {
    pub inner: Arc<dyn ObjectStore>,
    pub bucket: BucketPath,
    pub info: ObjectInfo,
}

impl PageSource {
    /// Read page `index` from the inner store. A transport failure in the middle of the body
    /// ([`Error::Io`]: connection reset, stalled body) is retried a bounded number of times;
    /// domain errors (ObjectChanged, NoSuchBucket, ...) are not.
    pub async fn load(&self, index: u64, page_size: u64) -> Result<Bytes> {
        let mut attempt = 0;
        loop {
            match self.load_once(index, page_size).await {
                Err(Error::Io(e)) if attempt < LOAD_RETRIES => {
                    attempt += 1;
                    log::debug!("page {index} of {}: {e}; retry {attempt}", self.info.key);
                }
                r => return r,
            }
        }
    }

    async fn load_once(&self, index: u64, page_size: u64) -> Result<Bytes> {
        let range = page_range(index, page_size, self.info.size);
        let want = (range.end - range.start) as usize;
        if want == 0 {
            return Ok(Bytes::new());
        }
        let mut body = self.inner.read_version(&self.bucket, &self.info, range).await?;
        // A page that arrives as one chunk (the embedded store reads whole pages) is kept as is;
        // chunks (a remote store's response frames) are joined in a recycled buffer, so a cold
        // read does not fault in and zero a fresh megabyte for every page it loads.
        let mut first: Option<Bytes> = None;
        let mut buf: Option<Vec<u8>> = None;
        let mut got = 0usize;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            if chunk.is_empty() {
                continue;
            }
            got += chunk.len();
            if got > want {
                return Err(Error::ObjectChanged(self.info.key.clone()));
            }
            match (&mut buf, first.take()) {
                (Some(b), _) => b.extend_from_slice(&chunk),
                (None, None) => first = Some(chunk),
                (None, Some(f)) => {
                    let mut b = super::buffers::take(want);
                    b.extend_from_slice(&f);
                    b.extend_from_slice(&chunk);
                    buf = Some(b);
                }
            }
        }
        let page = match (first, buf) {
            (Some(f), _) => f,
            (None, Some(b)) => Bytes::from(b),
            (None, None) => Bytes::new(),
        };
        if page.len() != want {
            return Err(Error::ObjectChanged(self.info.key.clone()));
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_math() {
        assert_eq!(page_range(0, 10, 25), 0..10);
        assert_eq!(page_range(2, 10, 25), 20..25);
        assert_eq!(page_range(3, 10, 25), 25..25);
        assert_eq!(page_range(u64::MAX, 10, 25), 25..25);
        assert_eq!(page_of(19, 10), 1);
        assert_eq!(page_of(20, 10), 2);
    }
}
