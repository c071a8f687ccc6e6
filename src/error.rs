//! Domain errors of the core. No errno and no HTTP status here: each front end maps these with
//! an exhaustive `match` in its own `error.rs` (FUSE → errno, gateway → S3 code + status).

use std::fmt;

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which kind of resource a name belongs to (used in name-rule errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Volume,
    Bucket,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Volume => "volume",
            NameKind::Bucket => "bucket",
        })
    }
}

/// Everything that can go wrong in the core, as domain conditions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("volume {0} not found")]
    NoSuchVolume(String),
    #[error("bucket {0} not found")]
    NoSuchBucket(String),
    #[error("key {0} not found")]
    NoSuchKey(String),
    #[error("multipart upload {0} not found")]
    NoSuchUpload(String),
    #[error("volume {0} already exists")]
    VolumeAlreadyExists(String),
    /// `owner` is the owner of the existing bucket, so the S3 edge can tell
    /// BucketAlreadyOwnedByYou from BucketAlreadyExists.
    #[error("bucket {name} already exists")]
    BucketAlreadyExists { name: String, owner: String },
    #[error("volume {0} is not empty")]
    VolumeNotEmpty(String),
    #[error("bucket {0} is not empty")]
    BucketNotEmpty(String),
    #[error("invalid {kind} name {name:?}: {rule}")]
    InvalidName {
        kind: NameKind,
        name: String,
        rule: &'static str,
    },
    #[error("invalid key name {key:?}: {rule}")]
    InvalidKey { key: String, rule: &'static str },
    /// A key longer than the store allows (S3 KeyTooLongError, ENAMETOOLONG).
    #[error("invalid key name {key:?}: must be at most {max} bytes long")]
    KeyTooLong { key: String, max: usize },
    #[error("bucket link loop detected at {0}")]
    LinkLoop(String),
    #[error("operation not supported on bucket link {0}")]
    NotSupportedOnLink(String),
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("conflicting concurrent write to {0}")]
    WriteConflict(String),
    #[error("Content-MD5 does not match the body")]
    BadDigest,
    #[error("{algorithm} checksum does not match the body")]
    ChecksumMismatch { algorithm: String },
    #[error("body length {got} does not match expected length {expected}")]
    IncompleteBody { expected: u64, got: u64 },
    #[error("invalid part: {0}")]
    InvalidPart(String),
    #[error("part numbers are not in ascending order")]
    InvalidPartOrder,
    #[error("part {part} is smaller than the minimum part size")]
    EntityTooSmall { part: u32 },
    #[error("requested range is not satisfiable")]
    InvalidRange,
    /// GET/HEAD `partNumber` naming no part of the object (AWS: 416 InvalidPartNumber).
    #[error("part {part} does not exist (the object has {parts} part(s))")]
    InvalidPartNumber { part: u32, parts: usize },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("not supported: {0}")]
    NotSupported(String),
    #[error("no space left on device")]
    NoSpace,
    #[error("an S3 secret for {0} already exists")]
    SecretAlreadyExists(String),
    #[error("no S3 secret for {0}")]
    SecretNotFound(String),
    /// The object was replaced or deleted while a version-pinned read was in progress.
    #[error("object {0} changed while it was being read")]
    ObjectChanged(String),
    /// The request body failed (client went away, a chunk signature or trailer was wrong, ...).
    /// The front end that produced the body can downcast the source to its own error type.
    #[error("request body: {0}")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A remote S3 backend answered with an error we do not map to a domain variant.
    #[error("backend returned {status} {code}: {message}")]
    Backend { status: u16, code: String, message: String },
    /// The embedded metadata database failed. `source` is the error it wraps, if any (a
    /// database or task error), kept for the chain a log prints.
    #[error("metadata store: {message}")]
    Storage {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Another process has the embedded store's data directory open (its database is locked):
    /// the one condition a command may wait out or explain, so it is a variant of its own.
    #[error("metadata store: another ozfs process holds the data directory {}", .0.display())]
    DataDirInUse(std::path::PathBuf),
    #[error("I/O: {0}")]
    Io(#[source] std::io::Error),
}

impl Error {
    /// A [`Error::Storage`] of our own (a record that does not decode, a missing file).
    pub fn storage(message: impl Into<String>) -> Error {
        Error::Storage {
            message: message.into(),
            source: None,
        }
    }

    /// A [`Error::Storage`] that wraps `source` (its text is part of the message too, so a
    /// front end that prints only the top error still says what failed).
    pub fn storage_from(context: &str, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Storage {
            message: format!("{context}: {source}"),
            source: Some(Box::new(source)),
        }
    }
}

/// An error and its sources on one line, each source's text added unless the text before
/// already contains it (hyper's own message is often just "connection error"; the cause is in
/// the chain).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        if e.raw_os_error() == Some(libc::ENOSPC) || e.kind() == std::io::ErrorKind::StorageFull {
            Error::NoSpace
        } else {
            Error::Io(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn storage_keeps_the_error_it_wraps() {
        let io = std::io::Error::other("disk on fire");
        let e = Error::storage_from("database", io);
        assert_eq!(e.to_string(), "metadata store: database: disk on fire");
        let source = e.source().expect("the wrapped error is the source");
        assert_eq!(source.to_string(), "disk on fire");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        assert!(Error::storage("record is truncated").source().is_none());
    }

    #[test]
    fn chain_names_each_source_once() {
        let e = Error::storage_from("database", std::io::Error::other("disk on fire"));
        // the source's text is already in the message: not repeated
        assert_eq!(chain(&e), "metadata store: database: disk on fire");
        let e = Error::Body(Box::new(Error::Io(std::io::Error::other("reset"))));
        assert_eq!(chain(&e), "request body: I/O: reset");
        let e = Error::Io(std::io::Error::other("x"));
        assert_eq!(chain(&e), "I/O: x");
    }
}
