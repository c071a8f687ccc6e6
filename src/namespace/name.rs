//! Ozone's name rules for volumes and buckets (strict mode, which Ozone applies to every S3 and
//! OBJECT_STORE bucket) and the key-name rules of the embedded store. Each violation names the
//! rule it broke.

use crate::error::{Error, NameKind, Result};

/// Check a volume or bucket name: 3–63 characters of `a-z 0-9 - .`; no upper case; must not
/// start or end with `.` or `-`; no `..`, `.-` or `-.`; not IPv4-like (all digits and dots).
pub fn validate_resource_name(kind: NameKind, name: &str) -> Result<()> {
    let err = |rule: &'static str| {
        Err(Error::InvalidName {
            kind,
            name: name.to_string(),
            rule,
        })
    };
    if name.len() < 3 {
        return err("must be at least 3 characters long");
    }
    if name.len() > 63 {
        return err("must be at most 63 characters long");
    }
    if name.bytes().any(|c| c.is_ascii_uppercase()) {
        return err("must not contain upper-case characters");
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
    {
        return err("may contain only a-z, 0-9, '-' and '.'");
    }
    if name.starts_with(['.', '-']) || name.ends_with(['.', '-']) {
        return err("must not start or end with '.' or '-'");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return err("must not contain '..', '.-' or '-.'");
    }
    if name.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return err("must not look like an IP address");
    }
    Ok(())
}

/// Maximum key length in bytes (S3's limit).
pub const MAX_KEY_LEN: usize = 1024;

/// Check a key name: non-empty, at most 1024 bytes, no NUL byte, and not `.snapshot` or under it
/// (reserved by Ozone). Keys are otherwise opaque: `a//b`, `/x`, `a+b` are kept as they are.
pub fn validate_key(key: &str) -> Result<()> {
    let err = |rule: &'static str| {
        Err(Error::InvalidKey {
            key: key.to_string(),
            rule,
        })
    };
    if key.is_empty() {
        return err("must not be empty");
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::KeyTooLong {
            key: key.to_string(),
            max: MAX_KEY_LEN,
        });
    }
    if key.contains('\0') {
        return err("must not contain a NUL byte");
    }
    if key == ".snapshot" || key.starts_with(".snapshot/") {
        return err("'.snapshot' is reserved");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str) -> Option<&'static str> {
        match validate_resource_name(NameKind::Bucket, name) {
            Ok(()) => None,
            Err(Error::InvalidName { rule, .. }) => Some(rule),
            Err(e) => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn accepts_valid_names() {
        for n in ["abc", "my-bucket.v2", "s3v", "a1b", "conf", &"a".repeat(63)] {
            assert_eq!(rule(n), None, "{n}");
        }
    }

    #[test]
    fn rejects_each_rule() {
        assert_eq!(rule("ab"), Some("must be at least 3 characters long"));
        assert_eq!(rule(&"a".repeat(64)), Some("must be at most 63 characters long"));
        assert_eq!(rule("Abc"), Some("must not contain upper-case characters"));
        assert_eq!(rule("a_bc"), Some("may contain only a-z, 0-9, '-' and '.'"));
        assert_eq!(rule("-abc"), Some("must not start or end with '.' or '-'"));
        assert_eq!(rule("abc."), Some("must not start or end with '.' or '-'"));
        assert_eq!(rule("a..b"), Some("must not contain '..', '.-' or '-.'"));
        assert_eq!(rule("a.-b"), Some("must not contain '..', '.-' or '-.'"));
        assert_eq!(rule("192.168.1.1"), Some("must not look like an IP address"));
    }

    #[test]
    fn keys() {
        assert!(validate_key("a//b").is_ok());
        assert!(validate_key("/x").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key(".snapshot/x").is_err());
        assert!(validate_key(&"k".repeat(1024)).is_ok());
        assert!(matches!(
            validate_key(&"k".repeat(1025)),
            Err(Error::KeyTooLong { max: MAX_KEY_LEN, .. })
        ));
        assert!(matches!(validate_key("a\0b"), Err(Error::InvalidKey { .. })));
    }
}
