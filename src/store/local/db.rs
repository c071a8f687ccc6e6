//! The metadata database handle, reopened after an I/O error. redb marks its file failed at the
//! first I/O error of a commit (ENOSPC on a full disk, EIO) and then refuses every later
//! transaction with `PreviousIo` until the database is closed and opened again; opening it
//! again recovers it to its last durable commit. Without this, one commit that hit a full disk
//! would fail every later request — deletes that would free space included — until a restart.
//!
//! [`Db::get`] hands out the current database; a caller whose transaction failed with an I/O
//! error marks that generation failed ([`Db::fail`]), and the next [`Db::get`] closes it and
//! opens the file again (waiting, bounded, for in-flight transactions of the failed generation
//! to let go of the file). Nothing acknowledged is lost: a writer is acknowledged only after a
//! durable commit, and reopening keeps every durable commit.

use super::{db, METADATA_CACHE_BYTES};
use crate::error::{Error, Result};
use redb::Database;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a reopen waits for the failed generation's last transactions to release the file.
const REOPEN_WAIT: Duration = Duration::from_secs(10);

pub(super) struct Db {
    path: PathBuf,
    slot: RwLock<Slot>,
    /// `generation + 1` of a generation that failed (0: none). An atomic, so marking a failure
    /// never waits for a reopen in progress (which waits for the failed generation's users).
    failed: AtomicU64,
}

struct Slot {
    generation: u64,
    /// `None` while a reopen has not succeeded yet.
    db: Option<Arc<Database>>,
}

impl Db {
    pub(super) fn new(path: PathBuf, database: Database) -> Db {
        Db {
            path,
            slot: RwLock::new(Slot {
                generation: 0,
                db: Some(Arc::new(database)),
            }),
            failed: AtomicU64::new(0),
        }
    }

    /// The current database and its generation (for [`Db::fail`]); reopens it first if the
    /// current generation failed.
    pub(super) fn get(&self) -> Result<(u64, Arc<Database>)> {
        {
            let slot = self.slot.read().unwrap_or_else(|e| e.into_inner());
            if let Some(d) = &slot.db {
                if self.failed.load(Ordering::Acquire) != slot.generation + 1 {
                    return Ok((slot.generation, d.clone()));
                }
            }
        }
        self.reopen()
    }

    /// Map a redb error of generation `generation` to a core error, marking the generation failed
    /// when the error leaves the database refusing transactions (an I/O error, or `PreviousIo`).
    pub(super) fn fail<E: Into<redb::Error>>(&self, generation: u64, e: E) -> Error {
        let e = e.into();
        if matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo) {
            self.failed.store(generation + 1, Ordering::Release);
        }
        db(e)
    }

    fn reopen(&self) -> Result<(u64, Arc<Database>)> {
        let mut slot = self.slot.write().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = &slot.db {
            if self.failed.load(Ordering::Acquire) != slot.generation + 1 {
                // Another caller reopened it meanwhile.
                return Ok((slot.generation, d.clone()));
            }
        }
        // Close our handle; the file closes when the failed generation's last user lets go.
        slot.db = None;
        let deadline = Instant::now() + REOPEN_WAIT;
        loop {
            match Database::builder()
                .set_cache_size(METADATA_CACHE_BYTES)
                .create(&self.path)
            {
                Ok(d) => {
                    let d = Arc::new(d);
                    slot.generation += 1;
                    slot.db = Some(d.clone());
                    log::warn!(
                        "reopened the metadata database {} after an I/O error (recovered to its last durable commit)",
                        self.path.display()
                    );
                    return Ok((slot.generation, d));
                }
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(Error::storage(format!(
                        "the metadata database {} failed and could not be reopened: {e}",
                        self.path.display()
                    )))
                }
            }
        }
    }
}
