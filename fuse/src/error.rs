//! Errors of the filesystem layer and their mapping to errno.
//!
//! [`FsError`] holds the POSIX-level conditions the filesystem logic in [`crate::fs`] detects
//! itself (not a directory, directory not empty, ...) plus the core's [`ozfs::Error`] as it came
//! out of the store. The FUSE edge turns it into an errno with [`FsError::errno`]; both matches are
//! exhaustive (no `_ =>` arm) so that a new core variant is a compile error here, not a silent EIO.

use std::fmt;

/// Result alias of the filesystem layer.
pub type FsResult<T> = Result<T, FsError>;

/// What can go wrong in a filesystem operation.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("no such file or directory")]
    NotFound,
    #[error("file exists")]
    Exists,
    #[error("not a directory")]
    NotDir,
    #[error("is a directory")]
    IsDir,
    #[error("directory not empty")]
    NotEmpty,
    #[error("operation not supported: {0}")]
    NotSupported(&'static str),
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("file name too long")]
    NameTooLong,
    /// getxattr/removexattr of an attribute that is not there.
    #[error("no such attribute")]
    NoData,
    /// The caller's buffer is too small (xattr size probes).
    #[error("result does not fit the buffer")]
    Range,
    #[error("operation not permitted: {0}")]
    Perm(&'static str),
    /// The bounded staging area is full.
    #[error("staging area full")]
    StagingFull,
    /// A file handle the kernel passed does not exist (kernel/filesystem disagreement).
    #[error("bad file handle")]
    BadHandle,
    /// A write to a handle opened read-only.
    #[error("file not open for writing")]
    NotWritable,
    #[error("read-only file system")]
    ReadOnly,
    #[error(transparent)]
    Store(#[from] ozfs::Error),
    #[error("staging file: {0}")]
    Io(#[from] std::io::Error),
}

/// An errno value (positive), as libc defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.0))
    }
}

impl FsError {
    /// The errno the kernel gets for this error.
    pub fn errno(&self) -> Errno {
        Errno(match self {
            FsError::NotFound => libc::ENOENT,
            FsError::Exists => libc::EEXIST,
            FsError::NotDir => libc::ENOTDIR,
            FsError::IsDir => libc::EISDIR,
            FsError::NotEmpty => libc::ENOTEMPTY,
            FsError::NotSupported(_) => libc::ENOTSUP,
            FsError::Invalid(_) => libc::EINVAL,
            FsError::NameTooLong => libc::ENAMETOOLONG,
            FsError::NoData => libc::ENODATA,
            FsError::Range => libc::ERANGE,
            FsError::Perm(_) => libc::EPERM,
            // The staging area is local disk space; running out of it is ENOSPC to the writer.
            FsError::StagingFull => libc::ENOSPC,
            FsError::BadHandle => libc::EBADF,
            FsError::NotWritable => libc::EBADF,
            FsError::ReadOnly => libc::EROFS,
            FsError::Store(e) => return store_errno(e),
            FsError::Io(e) => e.raw_os_error().unwrap_or(libc::EIO),
        })
    }

    /// True for errors that are an ordinary answer (ENOENT on lookup, ENODATA on getxattr) and
    /// should not be logged as failures.
    pub fn is_expected(&self) -> bool {
        matches!(
            self,
            FsError::NotFound
                | FsError::NoData
                | FsError::Range
                | FsError::Exists
                | FsError::NotEmpty
                | FsError::NotDir
                | FsError::IsDir
        )
    }
}

/// Map a core error to errno. Exhaustive on purpose.
pub fn store_errno(e: &ozfs::Error) -> Errno {
    use ozfs::Error as E;
    Errno(match e {
        E::NoSuchKey(_) => libc::ENOENT,
        // The bucket went away under the mount (deleted through S3, or a dangling link): every
        // path in it is gone, which is what ENOENT says; ENODEV would make tools report a broken
        // device instead of a missing file.
        E::NoSuchBucket(_) | E::NoSuchVolume(_) => libc::ENOENT,
        // Multipart uploads are never driven by the filesystem; an upload vanishing is an I/O
        // failure of our own write.
        E::NoSuchUpload(_) => libc::EIO,
        E::VolumeAlreadyExists(_) | E::BucketAlreadyExists { .. } => libc::EEXIST,
        E::VolumeNotEmpty(_) | E::BucketNotEmpty(_) => libc::ENOTEMPTY,
        // A key name the store refuses (too long, reserved): the name is the problem.
        E::InvalidName { .. } => libc::EINVAL,
        E::KeyTooLong { .. } => libc::ENAMETOOLONG,
        E::InvalidKey { .. } => libc::EINVAL,
        E::LinkLoop(_) => libc::ELOOP,
        E::NotSupportedOnLink(_) => libc::ENOTSUP,
        // A conditional write lost (create with O_EXCL racing another writer): the file exists.
        E::PreconditionFailed => libc::EEXIST,
        // Two writers committed the same key at once; the loser retries from userspace.
        E::WriteConflict(_) => libc::EAGAIN,
        // Integrity failures of our own upload: the data did not arrive intact.
        E::BadDigest | E::ChecksumMismatch { .. } | E::IncompleteBody { .. } => libc::EIO,
        E::InvalidPart(_) | E::InvalidPartOrder | E::EntityTooSmall { .. } => libc::EIO,
        // A read past the end is answered before it reaches the store; if it still happens the
        // object shrank under us, which the reader sees as an I/O error.
        E::InvalidRange | E::InvalidPartNumber { .. } => libc::EIO,
        E::InvalidArgument(_) => libc::EINVAL,
        E::AccessDenied(_) => libc::EACCES,
        E::NotSupported(_) => libc::ENOTSUP,
        E::NoSpace => libc::ENOSPC,
        // Secrets are not a filesystem concern; reaching them from here is a bug, report EIO.
        E::SecretAlreadyExists(_) | E::SecretNotFound(_) => libc::EIO,
        // The version an open handle was reading was replaced or deleted: the handle is stale
        // (what NFS reports for the same situation). Reopening gets the new version.
        E::ObjectChanged(_) => libc::ESTALE,
        E::Body(_) => libc::EIO,
        E::Backend { status, .. } => match status {
            403 => libc::EACCES,
            404 => libc::ENOENT,
            // Throttling or an unavailable backend: transient, so EAGAIN rather than EIO.
            429 | 503 => libc::EAGAIN,
            _ => libc::EIO,
        },
        E::Storage { .. } | E::DataDirInUse(_) => libc::EIO,
        E::Io(io) => io.raw_os_error().unwrap_or(libc::EIO),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_errors_map_to_posix_errno() {
        assert_eq!(FsError::NotEmpty.errno(), Errno(libc::ENOTEMPTY));
        assert_eq!(FsError::NotSupported("link").errno(), Errno(libc::ENOTSUP));
        assert_eq!(
            FsError::Store(ozfs::Error::NoSuchKey("k".into())).errno(),
            Errno(libc::ENOENT)
        );
        assert_eq!(FsError::Store(ozfs::Error::NoSpace).errno(), Errno(libc::ENOSPC));
        assert_eq!(
            FsError::Store(ozfs::Error::Backend {
                status: 403,
                code: "AccessDenied".into(),
                message: String::new()
            })
            .errno(),
            Errno(libc::EACCES)
        );
        assert_eq!(
            FsError::Store(ozfs::Error::KeyTooLong {
                key: "k".into(),
                max: 1024
            })
            .errno(),
            Errno(libc::ENAMETOOLONG)
        );
    }
}
