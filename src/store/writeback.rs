//! Early write-back of a file being written: ask the kernel to start writing a range of dirty
//! pages now (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, no wait), so the final fsync of a large
//! file finds little left to write. Used by the embedded store's data-file writer and by the
//! mount's staging files that the store adopts as data files.

use std::fs::File;

/// Start write-back of `len` bytes at `offset` of `f` (no wait; errors are ignored: this is
/// only advice, the fsync that follows is what makes the data durable).
#[cfg(target_os = "linux")]
#[allow(unsafe_code, reason = "sync_file_range(2) through libc: std has no ranged writeback")]
pub fn start(f: &File, offset: u64, len: u64) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: sync_file_range only reads its integer arguments; the fd is valid while `f` lives.
    unsafe {
        libc::sync_file_range(
            f.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// Start write-back (nothing to ask outside Linux).
#[cfg(not(target_os = "linux"))]
pub fn start(_f: &File, _offset: u64, _len: u64) {}
