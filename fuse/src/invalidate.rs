//! Kernel cache invalidation off every request path.
//!
//! The kernel answers a `FUSE_NOTIFY_INVAL_ENTRY` only after taking the parent directory's inode
//! lock, and a `FUSE_NOTIFY_INVAL_INODE` only after taking the inode's page locks. A thread that
//! writes such a notification to `/dev/fuse` therefore waits for every FUSE request in flight that
//! holds those locks (a `create`, `rename` or `lookup` in that directory). If that thread were a
//! request thread, or a tokio worker the request needs to make progress (its futures, the store's
//! group commit, a task in the worker's LIFO slot), the two would wait on each other forever.
//!
//! [`QueuedInvalidator`] makes that impossible by construction: callers (the change-feed task)
//! only push onto an unbounded queue, which never blocks; one dedicated thread, which serves no
//! request and drives no future, pops the queue in order and does the blocking writes. The
//! kernel can make that thread wait as long as it holds a lock, and nothing else waits for it.

use crate::fs::Invalidator;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};

enum Inval {
    Entry(u64, String),
    Inode(u64),
}

/// An [`Invalidator`] whose calls return at once; a dedicated thread delivers them, in order,
/// to the wrapped (possibly blocking) invalidator. The thread ends when this value is dropped.
pub struct QueuedInvalidator {
    tx: Mutex<Sender<Inval>>,
}

impl QueuedInvalidator {
    pub fn new(inner: Arc<dyn Invalidator>) -> std::io::Result<Self> {
        let (tx, rx) = channel::<Inval>();
        std::thread::Builder::new().name("ozfs-inval".into()).spawn(move || {
            for msg in rx {
                match msg {
                    Inval::Entry(parent, name) => inner.inval_entry(parent, &name),
                    Inval::Inode(ino) => inner.inval_inode(ino),
                }
            }
        })?;
        Ok(QueuedInvalidator { tx: Mutex::new(tx) })
    }

    fn push(&self, m: Inval) {
        // A send fails only when the thread is gone (the session ended): nothing to invalidate.
        let _ = crate::sync::lock(&self.tx).send(m);
    }
}

impl Invalidator for QueuedInvalidator {
    fn inval_entry(&self, parent: u64, name: &str) {
        self.push(Inval::Entry(parent, name.to_string()));
    }

    fn inval_inode(&self, ino: u64) {
        self.push(Inval::Inode(ino));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;
    use std::time::Duration;

    /// Stands for a kernel that holds the directory lock: every call blocks until released.
    struct BlockedKernel {
        gate: Mutex<std::sync::mpsc::Receiver<()>>,
        seen: Sender<String>,
    }

    impl Invalidator for BlockedKernel {
        fn inval_entry(&self, parent: u64, name: &str) {
            let _ = self.gate.lock().unwrap().recv();
            let _ = self.seen.send(format!("entry {parent} {name}"));
        }
        fn inval_inode(&self, ino: u64) {
            let _ = self.gate.lock().unwrap().recv();
            let _ = self.seen.send(format!("inode {ino}"));
        }
    }

    #[test]
    fn callers_never_wait_for_a_blocked_kernel_and_order_is_kept() {
        let (open, gate) = sync_channel::<()>(0);
        let (seen_tx, seen) = channel();
        let q = Arc::new(
            QueuedInvalidator::new(Arc::new(BlockedKernel {
                gate: Mutex::new(gate),
                seen: seen_tx,
            }))
            .unwrap(),
        );
        // 10,000 invalidations while the "kernel" lets none through: the caller must finish.
        let (done_tx, done) = channel();
        let q2 = q.clone();
        std::thread::spawn(move || {
            for i in 0..5_000u64 {
                q2.inval_inode(i);
                q2.inval_entry(1, &format!("n{i}"));
            }
            let _ = done_tx.send(());
        });
        // Watchdog: a caller blocked on the kernel fails the test instead of hanging it.
        done.recv_timeout(Duration::from_secs(60))
            .expect("an invalidation call blocked while the kernel held its lock");
        assert!(
            seen.try_recv().is_err(),
            "nothing may be delivered while the kernel blocks"
        );
        // The kernel lets go: everything is delivered, in order.
        for i in 0..5_000u64 {
            open.send(()).unwrap();
            assert_eq!(seen.recv().unwrap(), format!("inode {i}"));
            open.send(()).unwrap();
            assert_eq!(seen.recv().unwrap(), format!("entry 1 n{i}"));
        }
    }
}
