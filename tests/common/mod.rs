//! Helpers shared by the core test binaries (`tests/*.rs`, each its own crate, so every one that
//! uses them says `mod common;`): waiting for a condition with a deadline instead of sleeping,
//! the re-executed child process of the crash and disk-full tests, an ETag-style MD5, and a
//! body streamed in chunks.

#![allow(
    dead_code,
    reason = "each test binary that includes this module uses a different subset"
)]

use bytes::Bytes;
use md5::{Digest, Md5};
use ozfs::ByteStream;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod wait;
#[allow(unused_imports, reason = "not every binary that includes this file waits")]
pub use wait::wait_until;

/// [`wait_until`] for async tests: polls without blocking the runtime.
pub async fn wait_until_async(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A two-worker runtime, as the stores run under in the binaries.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A test that re-executes its own binary as a child process (`exe <test name> --exact`) marks
/// the child by setting `var` to a data directory. In that child this runs `child` on the
/// directory and returns true (the test body then returns: it *was* the child); in the parent
/// it returns false.
pub fn run_as_child<F: Future<Output = ()>>(var: &str, child: impl FnOnce(PathBuf) -> F) -> bool {
    match std::env::var_os(var) {
        Some(dir) => {
            runtime().block_on(child(PathBuf::from(dir)));
            true
        }
        None => false,
    }
}

/// Lowercase hex MD5 of `d` (a single-part ETag).
pub fn md5hex(d: &[u8]) -> String {
    hex::encode(Md5::digest(d))
}

/// `data` as a body stream of `chunk`-byte pieces (the last one shorter).
pub fn chunked(data: Vec<u8>, chunk: usize) -> ByteStream {
    let data = Bytes::from(data);
    let chunks: Vec<ozfs::Result<Bytes>> = (0..data.len().div_ceil(chunk))
        .map(|i| Ok(data.slice(i * chunk..((i + 1) * chunk).min(data.len()))))
        .collect();
    Box::pin(futures_util::stream::iter(chunks))
}
