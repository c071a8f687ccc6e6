//! Waiting for a condition with a deadline instead of sleeping: shared by the core test binaries
//! (through `tests/common/mod.rs`) and the end-to-end ones (through `tests/e2e/support.rs`).

use std::time::{Duration, Instant};

/// Poll `cond` until it holds; fail the test, naming `what`, if it does not within `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
