//! Group commit: write transactions commit without durability and share one durable commit
//! (one fsync) among those that wait together ([`GroupCommit`]).

use super::*;

/// Group commit. Each write transaction commits without durability (no fsync, serialized by
/// redb but short), then waits until a durable commit covers it. The first waiter that finds no
/// durable commit in flight makes one (a tiny transaction with immediate durability, which
/// persists every commit made before it); the others wait for it, so concurrent writers share one
/// fsync. A writer returns — and removes data files its transaction released — only once durable.
#[derive(Default)]
pub(super) struct GroupCommit {
    state: Mutex<SyncState>,
    cv: std::sync::Condvar,
}

#[derive(Default)]
pub(super) struct SyncState {
    /// Commits made (counted after `commit` returned).
    committed: u64,
    /// Commits known durable.
    durable: u64,
    syncing: bool,
    /// The last durable commit failed (its message), for the commits it should have covered.
    failed: Option<(u64, String)>,
}

impl Inner {
    /// Run `f` in one write transaction; returns once the commit is durable (group commit).
    pub(super) fn write<T>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T>) -> Result<T> {
        let (out, durable) = self.write_staged(f)?;
        durable?;
        Ok(out)
    }

    /// [`Inner::write`] telling apart "not committed" (the outer error) from "committed, but the
    /// durable commit failed" (the inner one). In the second case the commit is visible in this
    /// process, so the data files it references must stay; if it never becomes durable, the next
    /// open removes them as unreferenced.
    pub(super) fn write_staged<T>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T>) -> Result<(T, Result<()>)> {
        let started = std::time::Instant::now();
        let mut txn = self.db.begin_write().map_err(db)?;
        txn.set_durability(Durability::None);
        let out = f(&txn)?;
        txn.commit().map_err(db)?;
        let seq = {
            let mut st = self.sync.state.lock().unwrap_or_else(|e| e.into_inner());
            st.committed += 1;
            st.committed
        };
        let durable = self.wait_durable(seq);
        crate::metrics::store_commit(started.elapsed());
        Ok((out, durable))
    }

    /// Wait until commit number `seq` is durable, making a durable commit if none is in flight.
    pub(super) fn wait_durable(&self, seq: u64) -> Result<()> {
        let mut st = self.sync.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if st.durable >= seq {
                return Ok(());
            }
            if let Some((upto, msg)) = &st.failed {
                if *upto >= seq {
                    return Err(Error::storage(format!("durable commit failed: {msg}")));
                }
            }
            if !st.syncing {
                st.syncing = true;
                let target = st.committed;
                drop(st);
                let r = self.durable_commit(target);
                st = self.sync.state.lock().unwrap_or_else(|e| e.into_inner());
                st.syncing = false;
                self.sync.cv.notify_all();
                match r {
                    Ok(()) => st.durable = st.durable.max(target),
                    Err(e) => {
                        st.failed = Some((target, e.to_string()));
                        return Err(e);
                    }
                }
            } else {
                st = self.sync.cv.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    /// A durable commit: persists every commit made before it.
    pub(super) fn durable_commit(&self, target: u64) -> Result<()> {
        // Directory entries of new data files first, then the metadata that references them.
        self.files.sync_dirty_dirs()?;
        let mut txn = self.db.begin_write().map_err(db)?;
        txn.set_durability(Durability::Immediate);
        txn.open_table(META)
            .map_err(db)?
            .insert("durable_seq", target)
            .map_err(db)?;
        txn.commit().map_err(db)
    }
}
