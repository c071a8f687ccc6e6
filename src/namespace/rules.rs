//! Object-level rules shared by every store, so the embedded store and the in-memory reference
//! model cannot drift apart: write conditions, copy source ranges, prefix-rename arguments, GET
//! range / part-number resolution, the attributes a copy ends up with, and the body digest that
//! every write computes while the bytes stream through (MD5 for the ETag, `Content-MD5`, declared
//! length, flexible checksum).

use crate::error::{Error, Result};
use crate::namespace::multipart::unquote;
use crate::store::{ChecksumSpec, CopyOptions, GetOptions, ObjectAttrs, PutOptions, WriteCondition};
use md5::{Digest, Md5};
use std::collections::BTreeMap;
use std::ops::Range;

/// Check a byte range of a source against its size (copy and upload-part-copy).
pub fn check_source_range(r: &Range<u64>, size: u64) -> Result<()> {
    if r.start > r.end || r.end > size {
        return Err(Error::InvalidRange);
    }
    Ok(())
}

/// Check the `from`/`to` pair of a prefix rename.
pub fn check_rename_prefix(from: &str, to: &str) -> Result<()> {
    if from.is_empty() || to.is_empty() {
        return Err(Error::InvalidArgument("rename prefixes must not be empty".into()));
    }
    if to.starts_with(from) {
        return Err(Error::InvalidArgument(format!(
            "cannot move {from:?} into itself ({to:?})"
        )));
    }
    Ok(())
}

/// Check a write condition against the ETag of the current object (`None`: no object).
pub fn check_condition(cond: &WriteCondition, current_etag: Option<&str>) -> Result<()> {
    match (cond, current_etag) {
        (WriteCondition::None, _) => Ok(()),
        (WriteCondition::IfNoneMatch, None) => Ok(()),
        (WriteCondition::IfNoneMatch, Some(_)) => Err(Error::PreconditionFailed),
        (WriteCondition::IfMatch(want), Some(have)) if want.trim() == "*" || unquote(want) == have => Ok(()),
        (WriteCondition::IfMatch(_), _) => Err(Error::PreconditionFailed),
    }
}

/// Resolve the byte range of a GET against an object of `size` bytes made of `parts` (empty for a
/// single-part object).
pub fn get_range(opts: &GetOptions, size: u64, parts: &[u64], numbers: &[u32]) -> Result<Range<u64>> {
    match (opts.part_number, opts.range) {
        (Some(_), Some(_)) => Err(Error::InvalidArgument(
            "a range and a part number cannot be combined".into(),
        )),
        (Some(n), None) => part_range(parts, numbers, size, n),
        (None, Some(r)) => r.resolve(size),
        (None, None) => Ok(0..size),
    }
}

/// The byte range of the part uploaded as number `n`. `numbers` are the parts' upload numbers,
/// parallel to `parts` (empty: `1..=parts.len()`); a single-part object has exactly part 1. A
/// number naming no part is [`Error::InvalidPartNumber`] (AWS's 416).
pub fn part_range(parts: &[u64], numbers: &[u32], size: u64, n: u32) -> Result<Range<u64>> {
    if parts.is_empty() {
        return if n == 1 {
            Ok(0..size)
        } else {
            Err(Error::InvalidPartNumber { part: n, parts: 1 })
        };
    }
    let idx = if numbers.len() == parts.len() {
        numbers.iter().position(|&m| m == n)
    } else {
        (n as usize).checked_sub(1).filter(|&i| i < parts.len())
    };
    let Some(idx) = idx else {
        return Err(Error::InvalidPartNumber {
            part: n,
            parts: parts.len(),
        });
    };
    let start: u64 = parts[..idx].iter().sum();
    Ok(start..start + parts[idx])
}

/// The attributes of a copy: the source's (COPY) or the given ones (REPLACE), then the tags
/// replaced if asked. Checksums describe the bytes, so a whole-object copy keeps the source's and
/// a ranged copy has none.
pub fn copy_attrs(src: &ObjectAttrs, opts: &CopyOptions, whole: bool) -> ObjectAttrs {
    let mut a = opts.attrs.clone().unwrap_or_else(|| src.clone());
    if let Some(tags) = &opts.tags {
        a.tags = tags.clone();
    }
    a.checksums = if whole { src.checksums.clone() } else { BTreeMap::new() };
    a
}

/// The digest of a body, computed while it streams.
pub struct BodyDigest {
    md5: Md5,
    len: u64,
    expected_len: Option<u64>,
    content_md5: Option<[u8; 16]>,
    checksum: Option<(ChecksumSpec, ChecksumState)>,
}

/// What a finished, verified body digest gives the store to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub md5: [u8; 16],
    /// Lower-case hex MD5: the ETag of a single-part object or a part.
    pub etag: String,
    pub len: u64,
    /// Algorithm name (lower-case) → base64 value.
    pub checksums: BTreeMap<String, String>,
}

impl BodyDigest {
    pub fn new(opts: &PutOptions) -> Self {
        BodyDigest {
            md5: Md5::new(),
            len: 0,
            expected_len: opts.expected_len,
            content_md5: opts.content_md5,
            checksum: opts
                .checksum
                .as_ref()
                .and_then(|spec| ChecksumState::new(spec).map(|st| (spec.clone(), st))),
        }
    }

    /// Feed a chunk. Fails early once the body is longer than declared.
    pub fn update(&mut self, chunk: &[u8]) -> Result<()> {
        self.len += chunk.len() as u64;
        if let Some(exp) = self.expected_len {
            if self.len > exp {
                return Err(Error::IncompleteBody {
                    expected: exp,
                    got: self.len,
                });
            }
        }
        self.md5.update(chunk);
        if let Some((_, st)) = &mut self.checksum {
            st.update(chunk);
        }
        Ok(())
    }

    /// Bytes seen so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// End of body: verify length, `Content-MD5` and the declared checksum.
    pub fn finish(self) -> Result<Digests> {
        if let Some(exp) = self.expected_len {
            if self.len != exp {
                return Err(Error::IncompleteBody {
                    expected: exp,
                    got: self.len,
                });
            }
        }
        let md5: [u8; 16] = self.md5.finalize().into();
        if let Some(want) = self.content_md5 {
            if want != md5 {
                return Err(Error::BadDigest);
            }
        }
        let mut checksums = BTreeMap::new();
        if let Some((spec, st)) = self.checksum {
            let (name, value) = st.finish();
            if let Some(expected) = spec.expected.get() {
                if expected.trim() != value {
                    return Err(Error::ChecksumMismatch { algorithm: name });
                }
            }
            checksums.insert(name, value);
        }
        Ok(Digests {
            md5,
            etag: hex::encode(md5),
            len: self.len,
            checksums,
        })
    }
}

/// The flexible-checksum computation of one body (a [`crate::checksum::Hasher`]).
pub struct ChecksumState {
    hasher: crate::checksum::Hasher,
}

impl ChecksumState {
    fn new(spec: &ChecksumSpec) -> Option<Self> {
        Some(ChecksumState {
            hasher: spec.algorithm.hasher(),
        })
    }

    fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
    }

    /// (lower-case algorithm name, base64 value).
    fn finish(self) -> (String, String) {
        let name = self.hasher.algorithm().name().to_string();
        (name, self.hasher.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RangeSpec;

    #[test]
    fn conditions() {
        assert!(check_condition(&WriteCondition::IfNoneMatch, None).is_ok());
        assert!(check_condition(&WriteCondition::IfNoneMatch, Some("x")).is_err());
        assert!(check_condition(&WriteCondition::IfMatch("\"x\"".into()), Some("x")).is_ok());
        assert!(check_condition(&WriteCondition::IfMatch("x".into()), None).is_err());
        assert!(check_condition(&WriteCondition::IfMatch("y".into()), Some("x")).is_err());
    }

    #[test]
    fn ranges_and_parts() {
        let parts = [5u64, 5, 2];
        let o = |n| GetOptions {
            range: None,
            part_number: Some(n),
        };
        assert_eq!(get_range(&o(2), 12, &parts, &[]).unwrap(), 5..10);
        assert_eq!(get_range(&o(3), 12, &parts, &[]).unwrap(), 10..12);
        let bad = |r| matches!(r, Err(Error::InvalidPartNumber { .. }));
        assert!(bad(get_range(&o(4), 12, &parts, &[])));
        assert!(bad(get_range(&o(0), 12, &parts, &[])));
        assert_eq!(get_range(&o(1), 7, &[], &[]).unwrap(), 0..7);
        assert!(bad(get_range(&o(2), 7, &[], &[])));
        // Parts keep the numbers they were uploaded as: completed from {1, 3, 7}.
        let numbers = [1u32, 3, 7];
        assert_eq!(get_range(&o(1), 12, &parts, &numbers).unwrap(), 0..5);
        assert_eq!(get_range(&o(3), 12, &parts, &numbers).unwrap(), 5..10);
        assert_eq!(get_range(&o(7), 12, &parts, &numbers).unwrap(), 10..12);
        assert!(bad(get_range(&o(2), 12, &parts, &numbers)));
        let r = GetOptions {
            range: Some(RangeSpec::From(3)),
            part_number: None,
        };
        assert_eq!(get_range(&r, 7, &[], &[]).unwrap(), 3..7);
    }

    #[test]
    fn digest_checks() {
        let mut d = BodyDigest::new(&PutOptions {
            expected_len: Some(3),
            ..Default::default()
        });
        d.update(b"ab").unwrap();
        assert!(matches!(d.finish(), Err(Error::IncompleteBody { expected: 3, got: 2 })));
        let mut d = BodyDigest::new(&PutOptions {
            content_md5: Some([0; 16]),
            ..Default::default()
        });
        d.update(b"a").unwrap();
        assert!(matches!(d.finish(), Err(Error::BadDigest)));
        let mut d = BodyDigest::new(&PutOptions::default());
        d.update(b"a").unwrap();
        assert_eq!(d.finish().unwrap().etag, "0cc175b9c0f1b6a831c399e269772661");
    }

    #[test]
    fn checksums_computed_and_verified() {
        use crate::checksum::Algorithm;
        let spec = |expected: Option<&str>| {
            let cell = std::sync::Arc::new(std::sync::OnceLock::new());
            if let Some(e) = expected {
                cell.set(e.to_string()).unwrap();
            }
            PutOptions {
                checksum: Some(ChecksumSpec {
                    algorithm: Algorithm::Crc32,
                    expected: cell,
                }),
                ..Default::default()
            }
        };
        let mut d = BodyDigest::new(&spec(None));
        d.update(b"hello world").unwrap();
        assert_eq!(
            d.finish().unwrap().checksums.get("crc32").map(String::as_str),
            Some("DUoRhQ==")
        );
        let mut d = BodyDigest::new(&spec(Some("DUoRhQ==")));
        d.update(b"hello world").unwrap();
        assert!(d.finish().is_ok());
        let mut d = BodyDigest::new(&spec(Some("AAAAAA==")));
        d.update(b"hello world").unwrap();
        assert!(matches!(d.finish(), Err(Error::ChecksumMismatch { .. })));
    }
}
