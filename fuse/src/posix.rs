//! POSIX attributes stored on objects the way s3fs stores them, so that s3fs (and anything else
//! that follows its convention) reads back what ozfs wrote, and ozfs reads what s3fs wrote:
//!
//! - `x-amz-meta-mode`: the full `st_mode` in decimal (`33188` = `S_IFREG|0644`);
//! - `x-amz-meta-uid`, `x-amz-meta-gid`: decimal ids;
//! - `x-amz-meta-mtime`: seconds since the epoch in decimal (s3fs writes integers, rclone writes
//!   a fraction; both are read);
//! - a symbolic link is an object whose body is the target and whose mode is `S_IFLNK|0777`;
//! - a directory marker `dir/` carries `S_IFDIR|perm` and Content-Type `application/x-directory`.
//!
//! Objects without these headers (written by goofys or any S3 tool) get the mount's defaults
//! (`--file-mode`, `--dir-mode`, `--uid`, `--gid`) and their Last-Modified time.
//!
//! User extended attributes `user.NAME` live beside them as `x-amz-meta-NAME`; the names above
//! are reserved for POSIX attributes and are not listed as xattrs.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Metadata names (without `x-amz-meta-`) that hold POSIX attributes.
pub const META_MODE: &str = "mode";
pub const META_UID: &str = "uid";
pub const META_GID: &str = "gid";
pub const META_MTIME: &str = "mtime";
pub const META_CTIME: &str = "ctime";
pub const META_ATIME: &str = "atime";
/// Every name reserved for POSIX attributes.
pub const RESERVED: [&str; 6] = [META_MODE, META_UID, META_GID, META_MTIME, META_CTIME, META_ATIME];

/// Content-Type of a directory marker (what s3fs writes).
pub const DIR_CONTENT_TYPE: &str = "application/x-directory";

pub const S_IFMT: u32 = libc::S_IFMT;
pub const S_IFREG: u32 = libc::S_IFREG;
pub const S_IFDIR: u32 = libc::S_IFDIR;
pub const S_IFLNK: u32 = libc::S_IFLNK;

/// The POSIX attributes found in an object's user metadata (each one optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PosixMeta {
    /// Full `st_mode` (type bits included).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub mtime: Option<SystemTime>,
}

impl PosixMeta {
    /// Read the attributes from user metadata; malformed values are ignored.
    pub fn from_user(user: &BTreeMap<String, String>) -> Self {
        let num = |k: &str| user.get(k).and_then(|v| v.trim().parse::<u32>().ok());
        PosixMeta {
            mode: num(META_MODE),
            uid: num(META_UID),
            gid: num(META_GID),
            mtime: user.get(META_MTIME).and_then(|v| parse_time(v)),
        }
    }

    /// Write the attributes that are set into user metadata (others are left untouched).
    pub fn write_to(&self, user: &mut BTreeMap<String, String>) {
        if let Some(m) = self.mode {
            user.insert(META_MODE.into(), m.to_string());
        }
        if let Some(u) = self.uid {
            user.insert(META_UID.into(), u.to_string());
        }
        if let Some(g) = self.gid {
            user.insert(META_GID.into(), g.to_string());
        }
        if let Some(t) = self.mtime {
            user.insert(META_MTIME.into(), format_time(t));
        }
    }

    /// True when the mode says "symbolic link".
    pub fn is_symlink(&self) -> bool {
        self.mode.is_some_and(|m| m & S_IFMT == S_IFLNK)
    }
}

/// Parse decimal seconds (`1700000000` or `1700000000.25`).
pub fn parse_time(v: &str) -> Option<SystemTime> {
    let v = v.trim();
    let (secs, frac) = match v.split_once('.') {
        Some((s, f)) => (s, f),
        None => (v, ""),
    };
    let secs: u64 = secs.parse().ok()?;
    let mut nanos: u32 = 0;
    if !frac.is_empty() {
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = digits.parse().ok()?;
    }
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// Format as whole decimal seconds (s3fs's format; s3fs does not parse fractions).
pub fn format_time(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string()
}

/// Encode an xattr value for a metadata header: printable ASCII other than `%` is kept, every
/// other byte becomes `%XX`. [`decode_xattr`] reverses it, so any byte string round-trips, and a
/// plain text value written by another tool reads back unchanged.
pub fn encode_xattr(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decode a metadata value written by [`encode_xattr`] (a `%` not followed by two hex digits is
/// kept as it is).
pub fn decode_xattr(value: &str) -> Vec<u8> {
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_what_s3fs_writes() {
        let mut user = BTreeMap::new();
        user.insert("mode".to_string(), "33152".to_string());
        user.insert("uid".to_string(), "1000".to_string());
        user.insert("gid".to_string(), "100".to_string());
        user.insert("mtime".to_string(), "1700000000".to_string());
        let m = PosixMeta::from_user(&user);
        assert_eq!(m.mode, Some(0o100600));
        assert_eq!(m.uid, Some(1000));
        assert_eq!(m.gid, Some(100));
        assert_eq!(m.mtime, Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
        assert!(!m.is_symlink());
        let link = PosixMeta {
            mode: Some(41471),
            ..Default::default()
        };
        assert!(link.is_symlink());
        assert_eq!(41471, S_IFLNK | 0o777);
    }

    #[test]
    fn fractional_mtime_from_rclone() {
        assert_eq!(
            parse_time("1700000000.5"),
            Some(UNIX_EPOCH + Duration::new(1_700_000_000, 500_000_000))
        );
        assert_eq!(parse_time("x"), None);
        assert_eq!(parse_time("1.x"), None);
    }

    proptest! {
        #[test]
        fn xattr_values_round_trip(v in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(decode_xattr(&encode_xattr(&v)), v);
        }

        #[test]
        fn meta_round_trips(mode in any::<u32>(), uid in any::<u32>(), secs in 0u64..4_000_000_000) {
            let m = PosixMeta { mode: Some(mode), uid: Some(uid), gid: None,
                mtime: Some(UNIX_EPOCH + Duration::from_secs(secs)) };
            let mut user = BTreeMap::new();
            m.write_to(&mut user);
            prop_assert_eq!(PosixMeta::from_user(&user), m);
        }
    }
}
