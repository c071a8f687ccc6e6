//! ozfs core: the Ozone namespace (volumes, buckets, links, keys), the [`ObjectStore`] seam that
//! both front ends (the FUSE mount and the S3 endpoint) use, its two implementations (the
//! embedded [`LocalStore`] and the remote S3 [`RemoteStore`]), the shared page cache that every
//! read goes through, and the SigV4 code and the XML reader ([`xml`]) shared by the S3 client
//! and the S3 server.
//!
//! Front ends hold an `Arc<dyn ObjectStore>`; in production it is a [`CachingStore`] wrapping a
//! `LocalStore` or a `RemoteStore`, so every read goes through one bounded [`PageCache`].

// A library reports through its return values and `log`; printing is the binary's job.
#![cfg_attr(not(test), warn(clippy::print_stdout, clippy::print_stderr))]

pub mod cache;
pub mod checksum;
pub mod config;
pub mod error;
pub mod lifecycle;
pub mod metrics;
pub mod namespace;
pub mod secrets;
pub mod sigv4;
pub mod store;
pub mod time;
pub mod xml;

pub use cache::{CachingStore, PageCache};
pub use error::{Error, Result};
pub use namespace::BucketPath;
pub use secrets::SecretStore;
pub use store::local::LocalStore;
pub use store::mem::MemStore;
pub use store::remote::RemoteStore;
pub use store::{
    body_from_bytes, collect_body, BucketInfo, BucketLayout, BucketUpdate, ByteStream, ChangeEvent, ChangeKind,
    ChecksumSpec, CompletedPart, CopyOptions, GetOptions, GetResult, Grant, ListPage, ListRequest, Multipart,
    NameLookup, NameQuery, Namespace, ObjectAttrs, ObjectInfo, ObjectStore, Objects, PartCopy, PartInfo, PartsPage,
    PassThrough, PutOptions, RangeSpec, UploadInfo, UploadsPage, UploadsRequest, VersionPin, VolumeInfo,
    WriteCondition,
};
