//! The shared page cache.
pub struct PageCache;
pub struct CachingStore;
