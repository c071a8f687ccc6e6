//! Group commit: write transactions commit without durability and share one durable commit
//! (one fsync) among those that wait together ([`GroupCommit`]); a writer with no other writer
//! queued behind it makes its own commit the durable one (one commit instead of two).

use super::*;

/// Group commit. Each write transaction commits without durability (no fsync, serialized by
/// redb but short), then waits until a durable commit covers it. The first waiter that finds no
/// durable commit in flight makes one (a tiny transaction with immediate durability, which
/// persists every commit made before it); the others wait for it, so concurrent writers share one
/// fsync. A writer returns — and removes data files its transaction released — only once durable.
///
/// A writer that finds, when it commits, no other writer queued for the write lock and no durable
/// commit in flight commits its own transaction with immediate durability instead (it is the
/// durable commit: it persists itself and every commit before it). A sequential writer thus makes
/// one redb commit per write rather than a non-durable one plus a durable one, which halves the
/// pages written per small PUT; writers that queue behind each other keep sharing one fsync.
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
    /// Write transactions begun or waiting to begin and not yet committed (or abandoned).
    active: u64,
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
        self.lock_sync().active += 1;
        // Counted in `active` until committed or abandoned, whatever returns first.
        let mut entry = Active(self, true);
        let (generation, mut txn) = self.begin_write()?;
        let out = f(&txn)?;
        // Alone and no durable commit in flight: this commit is the durable one.
        let own_sync = {
            let mut st = self.lock_sync();
            let alone = st.active == 1 && !st.syncing;
            if alone {
                st.syncing = true;
            }
            alone
        };
        if !own_sync {
            txn.set_durability(Durability::None);
            txn.commit().map_err(|e| self.db.fail(generation, e))?;
            let seq = {
                let mut st = self.lock_sync();
                entry.leave(&mut st);
                st.committed += 1;
                st.committed
            };
            let durable = self.wait_durable(seq);
            crate::metrics::store_commit(started.elapsed());
            return Ok((out, durable));
        }
        // Directory entries of new data files first, then the metadata that references them.
        // The error says whether the commit was attempted.
        let r = match self.files.sync_dirty_dirs() {
            Err(e) => Err((e, false)),
            Ok(()) => {
                txn.set_durability(Durability::Immediate);
                txn.commit().map_err(|e| (self.db.fail(generation, e), true))
            }
        };
        let mut st = self.lock_sync();
        st.syncing = false;
        entry.leave(&mut st);
        self.sync.cv.notify_all();
        let durable = match r {
            Ok(()) => {
                st.committed += 1;
                st.durable = st.committed;
                Ok(())
            }
            // The transaction was dropped uncommitted: the caller removes its data files.
            Err((e, false)) => return Err(e),
            // The commit failed: whether it is visible is unknown, so its data files stay (if
            // unreferenced, the next open removes them); earlier commits waiting for durability
            // make their own durable commit.
            Err((e, true)) => Err(e),
        };
        drop(st);
        crate::metrics::store_commit(started.elapsed());
        Ok((out, durable))
    }

    fn lock_sync(&self) -> std::sync::MutexGuard<'_, SyncState> {
        self.sync.state.lock().unwrap_or_else(|e| e.into_inner())
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
        self.lock_sync().active += 1;
        let _entry = Active(self, true);
        let (generation, mut txn) = self.begin_write()?;
        txn.set_durability(Durability::Immediate);
        txn.open_table(META)
            .map_err(|e| self.db.fail(generation, e))?
            .insert("durable_seq", target)
            .map_err(|e| self.db.fail(generation, e))?;
        txn.commit().map_err(|e| self.db.fail(generation, e))
    }
}

/// A writer counted in [`SyncState::active`]; leaves the count when dropped unless it left
/// already (so a writer whose closure or `begin_write` fails does not stay counted).
struct Active<'a>(&'a Inner, bool);

impl Active<'_> {
    fn leave(&mut self, st: &mut SyncState) {
        if std::mem::take(&mut self.1) {
            st.active -= 1;
        }
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        if self.1 {
            let mut st = self.0.lock_sync();
            self.leave(&mut st);
        }
    }
}
