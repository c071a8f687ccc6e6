//! The Ozone namespace model: volumes hold buckets, buckets hold keys; the S3 endpoint shows the
//! buckets of one volume (`s3v` by default); a bucket may be a link to a bucket in another volume.
//! This module holds the addressing type and the name rules; the records themselves live in the
//! stores.

pub mod link;
pub mod listing;
pub mod multipart;
pub mod name;
pub mod rules;

use std::fmt;

/// Default name of the volume whose buckets the S3 endpoint shows.
pub const DEFAULT_S3_VOLUME: &str = "s3v";

/// `/volume/bucket`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketPath {
    pub volume: String,
    pub bucket: String,
}

impl BucketPath {
    pub fn new(volume: impl Into<String>, bucket: impl Into<String>) -> Self {
        BucketPath {
            volume: volume.into(),
            bucket: bucket.into(),
        }
    }

    /// Parse `/vol/bucket` or `vol/bucket`.
    pub fn parse(s: &str) -> crate::Result<Self> {
        let t = s.trim_matches('/');
        match t.split_once('/') {
            Some((v, b)) if !v.is_empty() && !b.is_empty() && !b.contains('/') => Ok(BucketPath::new(v, b)),
            _ => Err(crate::Error::InvalidArgument(format!(
                "{s:?} is not of the form /volume/bucket"
            ))),
        }
    }
}

impl fmt::Display for BucketPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/{}", self.volume, self.bucket)
    }
}
