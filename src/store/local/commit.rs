//! Group commit: write transactions commit without durability and share one durable commit
//! (one fsync) among those that wait together ([`GroupCommit`]); a writer with no other writer
//! queued behind it makes its own commit the durable one (one commit instead of two). Object
//! puts go further: the puts queued together apply their records in one shared write
//! transaction, committed once for all of them ([`Inner::write_grouped`]).

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
    /// The write transaction shared by grouped writers ([`Inner::write_grouped`]). Held by one
    /// writer at a time; every writer (grouped or not) takes it before beginning a transaction.
    batch: Mutex<Batch>,
}

/// The group being formed: one open write transaction that queued writers apply their changes
/// to, one after the other, until one finds nobody queued behind it and commits it.
#[derive(Default)]
struct Batch {
    /// The open transaction and its database generation.
    txn: Option<(u64, WriteTransaction)>,
    /// Number of the group being formed (outcomes are published under it).
    id: u64,
    /// Writers whose changes are applied to `txn`.
    members: u64,
}

/// How a group ended, for its members.
#[derive(Clone)]
enum Outcome {
    /// Committed as commit number `seq` (durable once [`Inner::wait_durable`] says so).
    Committed(u64),
    /// Committed with immediate durability.
    Durable,
    /// The commit was attempted and failed: whether it is visible is unknown. The error itself
    /// (shared by the members), so that each of them fails with its kind (NoSpace: S3 507,
    /// ENOSPC), exactly as a put committed on its own would.
    CommitFailed(Arc<Error>),
    /// Not committed (the transaction was dropped), for this error.
    Aborted(Arc<Error>),
}

/// At most this many writers share one group (bounds the wait of the first of them).
const MAX_GROUP: u64 = 256;

/// Commit counters of the embedded store ([`LocalStore::commit_stats`](super::LocalStore::commit_stats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Writes committed through a group ([`Inner::write_grouped`]: object puts).
    pub grouped_writes: u64,
    /// Groups committed (one redb commit each); `grouped_writes / groups` is the mean group size.
    pub groups: u64,
    /// Durable commits made only to persist earlier non-durable ones.
    pub durable_only_commits: u64,
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
    /// The last durable commit failed (its error), for the commits it should have covered.
    failed: Option<(u64, Arc<Error>)>,
    /// Writers waiting for [`GroupCommit::batch`].
    queued: u64,
    /// Outcomes of closed groups not yet read by all their members: group → (outcome, readers left).
    outcomes: HashMap<u64, (Outcome, u64)>,
    stats: CommitStats,
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
        // A group left open by writers before this one is committed first (redb has one write
        // transaction at a time); held until this transaction commits.
        let mut batch = self.lock_batch();
        if batch.txn.is_some() {
            self.close_batch(&mut batch);
        }
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
            drop(batch);
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
        drop(batch);
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

    /// Run a write in the group being formed: `check` reads and validates (it must change
    /// nothing: its error fails this writer only), then `apply` makes the changes (its error
    /// drops the whole group's transaction: it is for storage errors). Writers queued for the
    /// group's transaction apply theirs one after the other; the one that finds nobody queued
    /// behind it commits the transaction — durably unless a durable commit is in flight — for
    /// all of them, so concurrent puts share one redb commit and one fsync. Returns like
    /// [`Inner::write_staged`].
    pub(super) fn write_grouped<P, T>(
        &self,
        check: impl FnOnce(&WriteTransaction) -> Result<P>,
        apply: impl FnOnce(&WriteTransaction, P) -> Result<T>,
    ) -> Result<(T, Result<()>)> {
        let started = std::time::Instant::now();
        self.lock_sync().queued += 1;
        let mut batch = self.lock_batch();
        self.lock_sync().queued -= 1;
        if batch.txn.is_none() {
            match self.begin_write() {
                Ok(t) => batch.txn = Some(t),
                Err(e) => {
                    self.leave_batch(&mut batch);
                    return Err(e);
                }
            }
        }
        let (_, txn) = batch.txn.as_ref().expect("opened above");
        let p = match check(txn) {
            Ok(p) => p,
            Err(e) => {
                self.leave_batch(&mut batch);
                return Err(e);
            }
        };
        // A panic while applying must not leave half-made changes for the next writer to commit.
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| apply(txn, p)));
        let applied = match applied {
            Ok(r) => r,
            Err(panic) => {
                let members = batch.members;
                let e = Error::storage("a writer of the group panicked while applying its changes");
                self.end_batch(&mut batch, members, Outcome::Aborted(Arc::new(e)));
                drop(batch);
                std::panic::resume_unwind(panic);
            }
        };
        let out = match applied {
            Ok(out) => out,
            Err(e) => {
                // Changes half made: nobody's changes in this transaction may commit.
                let members = batch.members;
                let e = Arc::new(e);
                self.end_batch(&mut batch, members, Outcome::Aborted(e.clone()));
                return Err(Error::shared_copy(&e));
            }
        };
        batch.members += 1;
        let id = batch.id;
        self.leave_batch(&mut batch);
        drop(batch);
        let outcome = {
            let mut st = self.lock_sync();
            loop {
                if let Some((o, left)) = st.outcomes.get_mut(&id) {
                    let o = o.clone();
                    *left -= 1;
                    if *left == 0 {
                        st.outcomes.remove(&id);
                    }
                    break o;
                }
                st = self.sync.cv.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        };
        let durable = match outcome {
            Outcome::Durable => Ok(()),
            Outcome::Committed(seq) => self.wait_durable(seq),
            Outcome::CommitFailed(e) => Err(Error::shared_copy(&e)),
            // The transaction was dropped uncommitted: the caller removes its data files.
            Outcome::Aborted(e) => return Err(Error::shared_copy(&e)),
        };
        crate::metrics::store_commit(started.elapsed());
        Ok((out, durable))
    }

    /// Leave the group's transaction to the next queued writer, or, with nobody queued (or the
    /// group full), commit it (drop it if nobody's changes are in it).
    fn leave_batch(&self, batch: &mut Batch) {
        if batch.txn.is_none() {
            return;
        }
        let queued = self.lock_sync().queued;
        if queued > 0 && batch.members < MAX_GROUP {
            return;
        }
        if batch.members == 0 {
            batch.txn = None;
        } else {
            self.close_batch(batch);
        }
    }

    /// Commit the group's transaction and publish the outcome to its members.
    fn close_batch(&self, batch: &mut Batch) {
        let Some((generation, mut txn)) = batch.txn.take() else {
            return;
        };
        let members = batch.members;
        if members == 0 {
            return;
        }
        // No durable commit in flight: this commit is the durable one.
        let own_sync = {
            let mut st = self.lock_sync();
            let alone = !st.syncing;
            if alone {
                st.syncing = true;
            }
            alone
        };
        let outcome = if own_sync {
            // Directory entries of new data files first, then the metadata that references them.
            let r = match self.files.sync_dirty_dirs() {
                Err(e) => Outcome::Aborted(Arc::new(e)),
                Ok(()) => {
                    txn.set_durability(Durability::Immediate);
                    match txn.commit() {
                        Ok(()) => Outcome::Durable,
                        Err(e) => Outcome::CommitFailed(Arc::new(self.db.fail(generation, e))),
                    }
                }
            };
            let mut st = self.lock_sync();
            st.syncing = false;
            if matches!(r, Outcome::Durable) {
                st.committed += 1;
                st.durable = st.committed;
            }
            r
        } else {
            txn.set_durability(Durability::None);
            match txn.commit() {
                Ok(()) => {
                    let mut st = self.lock_sync();
                    st.committed += 1;
                    Outcome::Committed(st.committed)
                }
                Err(e) => Outcome::CommitFailed(Arc::new(self.db.fail(generation, e))),
            }
        };
        self.end_batch(batch, members, outcome);
    }

    /// Publish `outcome` to the `members` of the current group and start the next group.
    fn end_batch(&self, batch: &mut Batch, members: u64, outcome: Outcome) {
        batch.txn = None;
        let id = batch.id;
        batch.id += 1;
        batch.members = 0;
        let mut st = self.lock_sync();
        if matches!(outcome, Outcome::Durable | Outcome::Committed(_)) {
            st.stats.groups += 1;
            st.stats.grouped_writes += members;
            crate::metrics::store_group(members);
        }
        if members > 0 {
            st.outcomes.insert(id, (outcome, members));
        }
        self.sync.cv.notify_all();
    }

    fn lock_batch(&self) -> std::sync::MutexGuard<'_, Batch> {
        self.sync.batch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counters of commits so far.
    pub(super) fn commit_stats(&self) -> CommitStats {
        self.lock_sync().stats
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
            if let Some((upto, e)) = &st.failed {
                if *upto >= seq {
                    return Err(Error::shared_copy(e));
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
                        let e = Arc::new(e);
                        st.failed = Some((target, e.clone()));
                        return Err(Error::shared_copy(&e));
                    }
                }
            } else {
                st = self.sync.cv.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    /// A durable commit: persists every commit made before it.
    pub(super) fn durable_commit(&self, target: u64) -> Result<()> {
        self.lock_sync().stats.durable_only_commits += 1;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{body_from_bytes, collect_body};
    use std::time::{Duration, Instant};

    fn body(k: usize, len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + k * 7) as u8).collect()
    }

    /// Poll `cond` (bounded) until it holds.
    fn until(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Puts queued together for the group's transaction commit once, in one group; the one whose
    /// condition fails fails alone, and the others are committed and readable after a reopen.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_puts_share_one_commit_and_a_failing_one_fails_alone() {
        let d = tempfile::tempdir().unwrap();
        let b = BucketPath::new("s3v", "grp");
        let n = 8usize;
        {
            let s = LocalStore::open(d.path(), "s3v").unwrap();
            s.create_bucket(&b, "u").await.unwrap();
            s.put_object(&b, "taken", body_from_bytes(b"first".to_vec()), PutOptions::default())
                .await
                .unwrap();
            let before = s.commit_stats();
            // Hold the group's transaction so that every put queues for it.
            let held = s.inner.lock_batch();
            let mut tasks = Vec::new();
            for k in 0..n {
                let (s, b) = (s.clone(), b.clone());
                tasks.push(tokio::spawn(async move {
                    // One put (the last) must fail: the key exists and it asks that it does not.
                    let (key, opts) = if k == n - 1 {
                        let o = PutOptions {
                            condition: WriteCondition::IfNoneMatch,
                            ..Default::default()
                        };
                        ("taken".to_string(), o)
                    } else {
                        (format!("k{k}"), PutOptions::default())
                    };
                    // Inline and data-file objects alike.
                    let len = if k % 2 == 0 { 4096 } else { INLINE_MAX + 10 };
                    s.put_object(&b, &key, body_from_bytes(body(k, len)), opts).await
                }));
            }
            until("every put to queue", || s.inner.lock_sync().queued == n as u64);
            drop(held);
            for (k, t) in tasks.into_iter().enumerate() {
                let r = t.await.unwrap();
                if k == n - 1 {
                    assert!(matches!(r, Err(Error::PreconditionFailed)), "{:?}", r.map(|i| i.key));
                } else {
                    r.unwrap();
                }
            }
            let after = s.commit_stats();
            assert_eq!(after.groups - before.groups, 1, "{before:?} {after:?}");
            assert_eq!(after.grouped_writes - before.grouped_writes, n as u64 - 1);
        }
        let s = LocalStore::open(d.path(), "s3v").unwrap();
        for k in 0..n - 1 {
            let len = if k % 2 == 0 { 4096 } else { INLINE_MAX + 10 };
            let r = s.get_object(&b, &format!("k{k}"), GetOptions::default()).await.unwrap();
            assert_eq!(collect_body(r.body, 1 << 20).await.unwrap(), body(k, len), "k{k}");
        }
        let r = s.get_object(&b, "taken", GetOptions::default()).await.unwrap();
        assert_eq!(collect_body(r.body, 1 << 20).await.unwrap(), b"first");
    }

    /// Many concurrent puts (some overwriting each other) all go through groups and every
    /// acknowledged one is there after a reopen; no data file is left unreferenced.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_puts_are_all_there_after_reopen() {
        let d = tempfile::tempdir().unwrap();
        let b = BucketPath::new("s3v", "many");
        let n = 48usize;
        {
            let s = LocalStore::open(d.path(), "s3v").unwrap();
            s.create_bucket(&b, "u").await.unwrap();
            let before = s.commit_stats();
            let mut tasks = Vec::new();
            for k in 0..n {
                let (s, b) = (s.clone(), b.clone());
                tasks.push(tokio::spawn(async move {
                    let len = if k % 3 == 0 { INLINE_MAX + 1 } else { 4096 };
                    // Keys k0..k39 once; k40..k47 all write "same".
                    let key = if k < 40 { format!("k{k}") } else { "same".to_string() };
                    s.put_object(&b, &key, body_from_bytes(body(k, len)), PutOptions::default())
                        .await
                        .map(|i| i.etag)
                }));
            }
            for t in tasks {
                t.await.unwrap().unwrap();
            }
            let after = s.commit_stats();
            assert_eq!(after.grouped_writes - before.grouped_writes, n as u64);
            assert!(after.groups - before.groups <= n as u64);
        }
        let s = LocalStore::open(d.path(), "s3v").unwrap();
        for k in 0..40 {
            let len = if k % 3 == 0 { INLINE_MAX + 1 } else { 4096 };
            let r = s.get_object(&b, &format!("k{k}"), GetOptions::default()).await.unwrap();
            assert_eq!(collect_body(r.body, 1 << 20).await.unwrap(), body(k, len), "k{k}");
        }
        let r = s.get_object(&b, "same", GetOptions::default()).await.unwrap();
        let got = collect_body(r.body, 1 << 20).await.unwrap();
        assert!(
            (40..n).any(|k| got == body(k, if k % 3 == 0 { INLINE_MAX + 1 } else { 4096 })),
            "\"same\" holds none of the bodies written to it"
        );
        // Data files: one per live data-file object (k0, k3, … below 40, and maybe "same").
        let files = walk(&d.path().join("objects"));
        let live = (0..40).filter(|k| k % 3 == 0).count() + usize::from(got.len() > INLINE_MAX);
        assert_eq!(files, live);
    }

    fn walk(p: &Path) -> usize {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.map(|e| {
                    let e = e.unwrap();
                    if e.file_type().unwrap().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
            })
            .unwrap_or(0)
    }
}
