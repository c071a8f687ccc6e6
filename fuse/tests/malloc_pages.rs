//! The allocator tunables of the `ozfs` binary (`limit_malloc_arenas`): a page of the page cache
//! gets a mapping of its own from glibc, which goes back to the OS as soon as the page is freed
//! (evicted and let go by its readers). A page taken from the heap instead leaves a hole there
//! when it is evicted, free for malloc but still resident (docs/bench-findings.md, "Peak RSS per
//! workload").
//! One test in its own binary: the counters read are process-wide.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

/// Bytes glibc holds in mappings of their own (allocations at or above its mmap threshold).
#[allow(unsafe_code, reason = "mallinfo2(3) through libc: std has no allocator statistics")]
fn mapped_bytes() -> usize {
    // SAFETY: mallinfo2 takes no arguments and only reads the allocator's counters.
    unsafe { libc::mallinfo2() }.hblkhd
}

#[test]
fn a_cache_page_is_mapped_on_its_own_and_returned_when_freed() {
    ozfs_fuse::command::limit_malloc_arenas();
    let page = ozfs::cache::DEFAULT_PAGE_SIZE as usize;
    assert!(ozfs_fuse::command::MMAP_THRESHOLD <= page);
    let before = mapped_bytes();
    // a page-sized buffer, as the embedded store allocates for each chunk it reads
    // (src/store/local/files.rs, read_chunk)
    let buf = bytes::BytesMut::zeroed(page);
    let during = mapped_bytes();
    assert!(
        during >= before + page,
        "a {page}-byte page did not get its own mapping: {before} -> {during} mapped bytes"
    );
    drop(buf.freeze());
    let after = mapped_bytes();
    assert!(
        after + page <= during,
        "the freed page was not unmapped: {during} -> {after} mapped bytes"
    );
}
