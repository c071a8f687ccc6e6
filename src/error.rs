//! Domain errors of the core. No errno and no HTTP status here: each front end maps these with
//! an exhaustive `match` in its own `error.rs` (FUSE → errno, gateway → S3 code + status).

use std::fmt;
use std::sync::Arc;

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

impl Error {
    /// The same error for another party waiting on the same failure (every member of a group of
    /// writes committed together gets the group's error): the same variant and fields, so each
    /// copy maps to the same S3 code and errno as the original. A wrapped source is shared with
    /// the original, not copied; an I/O error keeps its OS error code.
    pub fn shared_copy(e: &Arc<Error>) -> Error {
        use Error as E;
        let source = || -> Box<dyn std::error::Error + Send + Sync> { Box::new(SourceOf(e.clone())) };
        match &**e {
            E::NoSuchVolume(x) => E::NoSuchVolume(x.clone()),
            E::NoSuchBucket(x) => E::NoSuchBucket(x.clone()),
            E::NoSuchKey(x) => E::NoSuchKey(x.clone()),
            E::NoSuchUpload(x) => E::NoSuchUpload(x.clone()),
            E::VolumeAlreadyExists(x) => E::VolumeAlreadyExists(x.clone()),
            E::BucketAlreadyExists { name, owner } => E::BucketAlreadyExists {
                name: name.clone(),
                owner: owner.clone(),
            },
            E::VolumeNotEmpty(x) => E::VolumeNotEmpty(x.clone()),
            E::BucketNotEmpty(x) => E::BucketNotEmpty(x.clone()),
            E::InvalidName { kind, name, rule } => E::InvalidName {
                kind: *kind,
                name: name.clone(),
                rule,
            },
            E::InvalidKey { key, rule } => E::InvalidKey { key: key.clone(), rule },
            E::KeyTooLong { key, max } => E::KeyTooLong {
                key: key.clone(),
                max: *max,
            },
            E::LinkLoop(x) => E::LinkLoop(x.clone()),
            E::NotSupportedOnLink(x) => E::NotSupportedOnLink(x.clone()),
            E::PreconditionFailed => E::PreconditionFailed,
            E::WriteConflict(x) => E::WriteConflict(x.clone()),
            E::BadDigest => E::BadDigest,
            E::ChecksumMismatch { algorithm } => E::ChecksumMismatch {
                algorithm: algorithm.clone(),
            },
            E::IncompleteBody { expected, got } => E::IncompleteBody {
                expected: *expected,
                got: *got,
            },
            E::InvalidPart(x) => E::InvalidPart(x.clone()),
            E::InvalidPartOrder => E::InvalidPartOrder,
            E::EntityTooSmall { part } => E::EntityTooSmall { part: *part },
            E::InvalidRange => E::InvalidRange,
            E::InvalidPartNumber { part, parts } => E::InvalidPartNumber {
                part: *part,
                parts: *parts,
            },
            E::InvalidArgument(x) => E::InvalidArgument(x.clone()),
            E::AccessDenied(x) => E::AccessDenied(x.clone()),
            E::NotSupported(x) => E::NotSupported(x.clone()),
            E::NoSpace => E::NoSpace,
            E::SecretAlreadyExists(x) => E::SecretAlreadyExists(x.clone()),
            E::SecretNotFound(x) => E::SecretNotFound(x.clone()),
            E::ObjectChanged(x) => E::ObjectChanged(x.clone()),
            E::Body(_) => E::Body(source()),
            E::Backend { status, code, message } => E::Backend {
                status: *status,
                code: code.clone(),
                message: message.clone(),
            },
            E::Storage { message, source: s } => E::Storage {
                message: message.clone(),
                source: s.as_ref().map(|_| source()),
            },
            E::DataDirInUse(p) => E::DataDirInUse(p.clone()),
            E::Io(io) => E::Io(match io.raw_os_error() {
                Some(code) => std::io::Error::from_raw_os_error(code),
                None => std::io::Error::new(io.kind(), source()),
            }),
        }
    }
}

/// The source of a shared error, seen from a copy of it ([`Error::shared_copy`]): its text and
/// its own sources are the original source's.
#[derive(Debug)]
struct SourceOf(Arc<Error>);

impl fmt::Display for SourceOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::error::Error::source(&*self.0) {
            Some(s) => fmt::Display::fmt(s, f),
            None => self.0.fmt(f),
        }
    }
}

impl std::error::Error for SourceOf {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0).and_then(|s| s.source())
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

    /// Every member of a failed group gets the error's kind, not its text: a full disk stays
    /// NoSpace (S3 507, ENOSPC), an I/O error keeps its OS code, a storage error its message
    /// and source chain.
    #[test]
    fn shared_copies_keep_the_kind() {
        let copy = |e: Error| Error::shared_copy(&Arc::new(e));
        assert!(matches!(copy(Error::NoSpace), Error::NoSpace));
        assert!(matches!(copy(Error::PreconditionFailed), Error::PreconditionFailed));
        assert!(matches!(
            copy(Error::BucketAlreadyExists { name: "b".into(), owner: "o".into() }),
            Error::BucketAlreadyExists { name, owner } if name == "b" && owner == "o"
        ));
        let io = copy(Error::Io(std::io::Error::from_raw_os_error(libc::EIO)));
        assert!(
            matches!(&io, Error::Io(e) if e.raw_os_error() == Some(libc::EIO)),
            "{io:?}"
        );
        let other = copy(Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "slow disk",
        )));
        assert!(matches!(&other, Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut));
        assert_eq!(chain(&other), "I/O: slow disk");
        let original = Error::storage_from("database", std::io::Error::other("disk on fire"));
        let s = copy(original);
        assert!(matches!(&s, Error::Storage { message, .. } if message == "database: disk on fire"));
        assert_eq!(s.source().unwrap().to_string(), "disk on fire");
        assert_eq!(chain(&s), "metadata store: database: disk on fire");
        assert!(copy(Error::storage("plain")).source().is_none());
        let body = copy(Error::Body(Box::new(std::io::Error::other("reset"))));
        assert_eq!(chain(&body), "request body: reset");
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
