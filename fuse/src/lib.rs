//! ozfs-fuse: the FUSE filesystem of ozfs (goofys's command line and bucket layout, with the
//! POSIX that goofys drops) and the `ozfs` binary.
//!
//! Layers, top to bottom:
//! - [`command`]: `ozfs mount` (goofys flags, fstab helper form, backgrounding, signals);
//! - [`mount`]: [`mount_store`], [`MountOptions`], [`MountHandle`] (unmount on drop), the
//!   change-feed task that invalidates kernel caches;
//! - `invalidate`: kernel invalidations from a dedicated thread, never from a request path;
//! - `adapter`: the thin `fuser::Filesystem` implementation;
//! - [`fs`]: the filesystem logic over `Arc<dyn ObjectStore>`, testable without a kernel;
//! - [`inode`], [`staging`], [`posix`]: inode table and handles, the local staging area for
//!   writes, s3fs-compatible POSIX metadata;
//! - [`error`]: errno mapping.
//!
//! Public entry points used by the binary: [`run_mount_command`] and [`mount_store`].

mod adapter;
pub mod args;
pub mod backend;
pub mod command;
pub mod error;
pub mod fs;
pub mod inode;
mod invalidate;
pub mod logging;
pub mod mount;
pub mod passthrough;
pub mod posix;
pub mod staging;
mod sync;
pub mod usage;

pub use command::run_mount_command;
pub use error::{FsError, FsResult};
pub use mount::{mount_store, MountError, MountHandle, MountOptions};
