//! FUSE passthrough bookkeeping (`--passthrough`): which open files of an inode the kernel reads
//! itself from the embedded store's data file, and what that allows for the next open.
//!
//! With passthrough, `open` of a committed one-file object hands the kernel the version's data
//! file (a backing id); the kernel then serves every read of that handle from the file, with
//! its own page cache and readahead, and never sends us a READ. The kernel's rule (Linux 6.9+,
//! `fs/fuse/iomode.c`): while an inode has a passthrough handle open, every other open of it must
//! be passthrough to the same backing file, and none may be while a caching handle is open; a
//! server that breaks it gets EIO for its opener. So, per inode:
//! - a read-only open while passthrough handles are open shares their backing file: it reads the
//!   version they opened, even if the key was overwritten since (closing them all ends that);
//! - an open for writing while passthrough handles are open is refused with EBUSY (the version
//!   file is never written; writes go to a staged copy, which the kernel cannot also read);
//! - a read-only open while caching handles (writers, reads of staged or inline files) are open
//!   is a caching handle too, served by us as without passthrough.
//!
//! Generic over the backing id type so the rules are unit-tested without a kernel.

use std::collections::HashMap;

/// How a handle was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The kernel reads the backing file itself.
    Passthrough,
    /// Reads and writes come to us (the kernel's page cache in between).
    Caching,
}

/// Why an open must be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

struct Backing<B> {
    id: B,
    handles: u32,
}

#[derive(Default)]
struct InodeIo<B> {
    caching: u32,
    backing: Option<Backing<B>>,
}

/// Open handles by mode, per inode.
pub struct IoModes<B> {
    inodes: HashMap<u64, InodeIo<B>>,
    handles: HashMap<u64, (u64, Mode)>,
}

impl<B> Default for IoModes<B> {
    fn default() -> Self {
        IoModes {
            inodes: HashMap::new(),
            handles: HashMap::new(),
        }
    }
}

/// What [`IoModes::open`] decided.
pub struct Decision<'a, B> {
    pub mode: Mode,
    /// The backing id to answer with (passthrough only).
    pub backing: Option<&'a B>,
    /// Registering the file failed (the open goes on as a caching handle).
    pub failed: Option<std::io::Error>,
}

impl<B> IoModes<B> {
    /// Before a writer's open of `ino`: count it as a caching handle, so no reader gets
    /// passthrough meanwhile. Fails with [`Busy`] while passthrough handles are open (then
    /// nothing is recorded). Follow with [`IoModes::bind_writer`] or [`IoModes::cancel_writer`].
    pub fn reserve_writer(&mut self, ino: u64) -> Result<(), Busy> {
        let io = self.inodes.entry(ino).or_insert_with(|| InodeIo {
            caching: 0,
            backing: None,
        });
        if io.backing.is_some() {
            return Err(Busy);
        }
        io.caching += 1;
        Ok(())
    }

    /// The reserved writer's open failed.
    pub fn cancel_writer(&mut self, ino: u64) {
        if let Some(io) = self.inodes.get_mut(&ino) {
            io.caching = io.caching.saturating_sub(1);
            if io.caching == 0 && io.backing.is_none() {
                self.inodes.remove(&ino);
            }
        }
    }

    /// The reserved writer's open succeeded as handle `fh`.
    pub fn bind_writer(&mut self, ino: u64, fh: u64) {
        self.handles.insert(fh, (ino, Mode::Caching));
    }

    /// Decide how a read-only handle `fh` of inode `ino` is opened and record it. `file`
    /// registers the version's data file with the kernel if this is the inode's first
    /// passthrough handle (`None`: there is no such file, or passthrough is off).
    pub fn open_reader(
        &mut self,
        ino: u64,
        fh: u64,
        file: Option<impl FnOnce() -> std::io::Result<B>>,
    ) -> Decision<'_, B> {
        let io = self.inodes.entry(ino).or_insert_with(|| InodeIo {
            caching: 0,
            backing: None,
        });
        let mut failed = None;
        let mode = match &mut io.backing {
            Some(b) => {
                b.handles += 1;
                Mode::Passthrough
            }
            None if io.caching == 0 => match file.map(|register| register()) {
                Some(Ok(id)) => {
                    io.backing = Some(Backing { id, handles: 1 });
                    Mode::Passthrough
                }
                Some(Err(e)) => {
                    failed = Some(e);
                    Mode::Caching
                }
                None => Mode::Caching,
            },
            None => Mode::Caching,
        };
        if mode == Mode::Caching {
            io.caching += 1;
        }
        self.handles.insert(fh, (ino, mode));
        let io = &self.inodes[&ino];
        let backing = match mode {
            Mode::Passthrough => io.backing.as_ref().map(|b| &b.id),
            Mode::Caching => None,
        };
        Decision { mode, backing, failed }
    }

    /// Forget handle `fh`; returns the backing id its inode no longer needs (the last
    /// passthrough handle closed), for the caller to close.
    pub fn release(&mut self, fh: u64) -> Option<B> {
        let (ino, mode) = self.handles.remove(&fh)?;
        let io = self.inodes.get_mut(&ino)?;
        let mut gone = None;
        match mode {
            Mode::Caching => io.caching = io.caching.saturating_sub(1),
            Mode::Passthrough => {
                if let Some(b) = &mut io.backing {
                    b.handles -= 1;
                    if b.handles == 0 {
                        gone = io.backing.take().map(|b| b.id);
                    }
                }
            }
        }
        if io.caching == 0 && io.backing.is_none() {
            self.inodes.remove(&ino);
        }
        gone
    }

    /// Passthrough handles open now (all inodes).
    pub fn passthrough_handles(&self) -> usize {
        self.handles.values().filter(|(_, m)| *m == Mode::Passthrough).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(id: u32) -> Option<impl FnOnce() -> std::io::Result<u32>> {
        Some(move || Ok(id))
    }

    #[test]
    fn readers_share_one_backing_file_until_the_last_closes() {
        let mut m = IoModes::<u32>::default();
        let d = m.open_reader(1, 10, reg(7));
        assert_eq!((d.mode, d.backing.copied()), (Mode::Passthrough, Some(7)));
        // a second reader shares it, even when it would have registered another file
        let d = m.open_reader(1, 11, reg(8));
        assert_eq!((d.mode, d.backing.copied()), (Mode::Passthrough, Some(7)));
        assert_eq!(m.passthrough_handles(), 2);
        assert_eq!(m.release(10), None, "still in use");
        assert_eq!(m.release(11), Some(7), "the last one hands the id back");
        assert!(m.inodes.is_empty() && m.handles.is_empty());
    }

    #[test]
    fn a_writer_is_refused_while_passthrough_readers_are_open() {
        let mut m = IoModes::<u32>::default();
        m.open_reader(1, 10, reg(7));
        assert_eq!(m.reserve_writer(1), Err(Busy));
        // another inode is not affected
        assert_eq!(m.reserve_writer(2), Ok(()));
        m.bind_writer(2, 12);
        assert_eq!(m.release(10), Some(7));
        assert_eq!(m.reserve_writer(1), Ok(()));
        // a writer whose open failed leaves nothing behind
        m.cancel_writer(1);
        assert_eq!(m.release(12), None);
        assert!(m.inodes.is_empty() && m.handles.is_empty());
    }

    #[test]
    fn a_reader_opened_beside_a_caching_handle_is_caching_too() {
        let mut m = IoModes::<u32>::default();
        m.reserve_writer(1).unwrap();
        // a reader while the writer opens (not yet bound) is caching already
        let d = m.open_reader(1, 11, reg(7));
        assert_eq!((d.mode, d.backing.is_none()), (Mode::Caching, true));
        m.bind_writer(1, 10);
        m.release(10);
        m.release(11);
        // once they are closed, the next reader gets passthrough
        assert_eq!(m.open_reader(1, 12, reg(7)).mode, Mode::Passthrough);
    }

    #[test]
    fn a_failed_registration_falls_back_to_caching() {
        let mut m = IoModes::<u32>::default();
        let d = m.open_reader(1, 10, Some(|| Err(std::io::Error::from_raw_os_error(libc::EPERM))));
        assert_eq!(d.mode, Mode::Caching);
        assert_eq!(d.failed.map(|e| e.raw_os_error()), Some(Some(libc::EPERM)));
        assert_eq!(m.release(10), None);
        assert!(m.inodes.is_empty());
    }
}
