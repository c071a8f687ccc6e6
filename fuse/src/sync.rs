//! Lock poisoning, one policy for the whole FUSE layer: recover the guard and go on.
//!
//! A std `Mutex` is poisoned when a thread panicked while holding it. Every state the FUSE
//! layer keeps under a std lock (the inode table, the handle map, the busy keys, a handle's
//! pinned version, the invalidation queue) is changed in steps that each leave it valid, so the
//! data behind a poisoned lock is still usable; refusing it would turn one failed request into
//! a mount where every later request fails (or panics in turn). The core's cache follows the
//! same policy. Use [`lock`] rather than `Mutex::lock` in this crate.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Lock `m`, recovering the guard if a panicking thread poisoned it.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_still_gives_its_data() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let r = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(r.is_err());
        assert!(m.is_poisoned());
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 2);
    }
}
