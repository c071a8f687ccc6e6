//! Flexible checksums (`x-amz-checksum-*`): CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256, computed
//! incrementally while a body streams, rendered base64 as S3 does.
//!
//! Design: [`Algorithm`] names an algorithm (and knows its header name, its lower-case stored
//! name and its S3 XML name); [`Algorithm::hasher`] gives a streaming [`Hasher`] whose
//! [`Hasher::finish`] returns the base64 of the big-endian digest, which is the exact string S3
//! puts in `x-amz-checksum-*` headers and XML. [`composite`] computes the multipart
//! "checksum of checksums" (`<base64>-N`) from the parts' base64 checksums.
//!
//! All functions are pure and never panic on bad input: a malformed base64 value is an error
//! ([`ChecksumError`]) or `false`, never a crash.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sha1::Digest as _;

/// A checksum algorithm S3 clients may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algorithm {
    /// Every algorithm, in the order S3 documents them.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Crc32,
        Algorithm::Crc32c,
        Algorithm::Crc64Nvme,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    /// The algorithm of a checksum header name (`x-amz-checksum-crc32`, case-insensitive).
    /// `None` for any other name (including `x-amz-checksum-algorithm` and `x-amz-checksum-type`).
    pub fn from_header_name(name: &str) -> Option<Algorithm> {
        let lower = name.trim().to_ascii_lowercase();
        let rest = lower.strip_prefix("x-amz-checksum-")?;
        Algorithm::ALL.into_iter().find(|a| a.name() == rest)
    }

    /// The algorithm named by an `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm`
    /// value or a `<ChecksumAlgorithm>` XML element: `CRC32`, `crc32c`, `CRC64NVME`, `SHA1`,
    /// `SHA256` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        let lower = name.trim().to_ascii_lowercase();
        Algorithm::ALL.into_iter().find(|a| a.name() == lower)
    }

    /// The header carrying this checksum: `x-amz-checksum-crc32`, ...
    pub fn header_name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// Lower-case name, as stored in metadata: `crc32`, `crc32c`, `crc64nvme`, `sha1`, `sha256`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "crc32",
            Algorithm::Crc32c => "crc32c",
            Algorithm::Crc64Nvme => "crc64nvme",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
        }
    }

    /// Upper-case name as S3 writes it in XML (`<ChecksumAlgorithm>CRC32</ChecksumAlgorithm>`)
    /// and in `x-amz-checksum-algorithm` response headers.
    pub fn s3_name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// The XML element carrying this checksum in S3 responses (`ChecksumCRC32`, ...).
    pub fn xml_element(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "ChecksumCRC32",
            Algorithm::Crc32c => "ChecksumCRC32C",
            Algorithm::Crc64Nvme => "ChecksumCRC64NVME",
            Algorithm::Sha1 => "ChecksumSHA1",
            Algorithm::Sha256 => "ChecksumSHA256",
        }
    }

    /// Length of the binary digest in bytes (4, 4, 8, 20, 32).
    pub fn digest_len(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Crc64Nvme => 8,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }

    /// A fresh streaming hasher.
    pub fn hasher(self) -> Hasher {
        let state = match self {
            Algorithm::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            Algorithm::Crc32c => State::Crc32c(0),
            Algorithm::Crc64Nvme => State::Crc64(crc64fast_nvme::Digest::new()),
            Algorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
        };
        Hasher { state }
    }

    /// The base64 checksum of `data` in one call.
    pub fn checksum(self, data: &[u8]) -> String {
        let mut h = self.hasher();
        h.update(data);
        h.finish()
    }

    /// Whether `value` is a well-formed base64 checksum of this algorithm (right length).
    /// Use it to reject a malformed `x-amz-checksum-*` header with InvalidRequest up front.
    pub fn is_valid_encoded(self, value: &str) -> bool {
        decode(self, value).is_ok()
    }
}

impl std::fmt::Display for Algorithm {
    /// The S3 (upper-case) name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.s3_name())
    }
}

/// Why a checksum value could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    /// Not base64, or not the digest length of the algorithm.
    #[error("invalid {algorithm} checksum value {value:?}")]
    InvalidValue { algorithm: &'static str, value: String },
    /// A composite checksum needs at least one part.
    #[error("a composite checksum needs at least one part")]
    NoParts,
}

enum State {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64(crc64fast_nvme::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

/// A streaming checksum: feed the body with [`Hasher::update`] as it arrives, then
/// [`Hasher::finish`].
pub struct Hasher {
    state: State,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher").field("algorithm", &self.algorithm()).finish()
    }
}

impl Hasher {
    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> Algorithm {
        match self.state {
            State::Crc32(_) => Algorithm::Crc32,
            State::Crc32c(_) => Algorithm::Crc32c,
            State::Crc64(_) => Algorithm::Crc64Nvme,
            State::Sha1(_) => Algorithm::Sha1,
            State::Sha256(_) => Algorithm::Sha256,
        }
    }

    /// Feed more bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc32(h) => h.update(data),
            State::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            State::Crc64(h) => h.write(data),
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
        }
    }

    /// The big-endian binary digest (4, 8, 20 or 32 bytes).
    pub fn finish_raw(self) -> Vec<u8> {
        match self.state {
            State::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            State::Crc32c(c) => c.to_be_bytes().to_vec(),
            State::Crc64(h) => h.sum64().to_be_bytes().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
        }
    }

    /// The base64 of the big-endian digest, exactly as S3 returns it (`DUoRhQ==` is the CRC32 of
    /// `hello world`).
    pub fn finish(self) -> String {
        B64.encode(self.finish_raw())
    }
}

/// Decode a base64 checksum of `algorithm`, checking its length.
pub fn decode(algorithm: Algorithm, value: &str) -> Result<Vec<u8>, ChecksumError> {
    let invalid = || ChecksumError::InvalidValue {
        algorithm: algorithm.name(),
        value: value.to_string(),
    };
    let raw = B64.decode(value.trim()).map_err(|_| invalid())?;
    if raw.len() == algorithm.digest_len() {
        Ok(raw)
    } else {
        Err(invalid())
    }
}

/// The multipart ("composite") checksum S3 returns for CompleteMultipartUpload: the checksum of
/// the concatenated binary part checksums, in base64, followed by `-N` where N is the number of
/// parts. `part_checksums` are the parts' base64 checksums in part-number order. (This is
/// the `COMPOSITE` checksum type; S3's `FULL_OBJECT` CRC type is not computed here.)
pub fn composite<S: AsRef<str>>(algorithm: Algorithm, part_checksums: &[S]) -> Result<String, ChecksumError> {
    if part_checksums.is_empty() {
        return Err(ChecksumError::NoParts);
    }
    let mut h = algorithm.hasher();
    for part in part_checksums {
        h.update(&decode(algorithm, part.as_ref())?);
    }
    Ok(format!("{}-{}", h.finish(), part_checksums.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed independently with Python's zlib.crc32 / hashlib and bitwise
    // reference implementations of CRC-32C (poly 0x82F63B78) and CRC-64/NVME
    // (poly 0x9a6c9329ac4bc9b5, reflected, init/xorout all ones), then base64 of big-endian bytes.
    const HELLO: &[(Algorithm, &str)] = &[
        (Algorithm::Crc32, "DUoRhQ=="),
        (Algorithm::Crc32c, "yZRlqg=="),
        (Algorithm::Crc64Nvme, "jSnVw/bqjr4="),
        (Algorithm::Sha1, "Kq5sNclPz7QV2+lfQIuc6R7oRu0="),
        (Algorithm::Sha256, "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="),
    ];
    const CHECK: &[(Algorithm, &str)] = &[
        (Algorithm::Crc32, "y/Q5Jg=="),
        (Algorithm::Crc32c, "4waSgw=="),
        (Algorithm::Crc64Nvme, "rosUhgp5mIg="),
        (Algorithm::Sha1, "98O8HYCOBHMq32eZZczDTKeuNEE="),
        (Algorithm::Sha256, "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU="),
    ];
    const EMPTY: &[(Algorithm, &str)] = &[
        (Algorithm::Crc32, "AAAAAA=="),
        (Algorithm::Crc32c, "AAAAAA=="),
        (Algorithm::Crc64Nvme, "AAAAAAAAAAA="),
        (Algorithm::Sha1, "2jmj7l5rSw0yVb/vlWAYkK/YBwk="),
        (Algorithm::Sha256, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
    ];

    #[test]
    fn known_answers() {
        for (data, table) in [(&b"hello world"[..], HELLO), (b"123456789", CHECK), (b"", EMPTY)] {
            for (alg, expected) in table {
                assert_eq!(alg.checksum(data), *expected, "{alg} of {data:?}");
            }
        }
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for alg in Algorithm::ALL {
            let mut h = alg.hasher();
            for piece in data.chunks(333) {
                h.update(piece);
            }
            assert_eq!(h.finish(), alg.checksum(&data), "{alg}");
        }
    }

    #[test]
    fn names_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_header_name(alg.header_name()), Some(alg));
            assert_eq!(
                Algorithm::from_header_name(&alg.header_name().to_uppercase()),
                Some(alg)
            );
            assert_eq!(Algorithm::from_name(alg.s3_name()), Some(alg));
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
            assert_eq!(alg.hasher().algorithm(), alg);
            assert_eq!(alg.hasher().finish_raw().len(), alg.digest_len());
        }
        assert_eq!(Algorithm::from_name("CRC32"), Some(Algorithm::Crc32));
        assert_eq!(Algorithm::from_name("Crc64NVMe"), Some(Algorithm::Crc64Nvme));
        assert_eq!(Algorithm::from_header_name("x-amz-checksum-algorithm"), None);
        assert_eq!(Algorithm::from_header_name("x-amz-checksum-type"), None);
        assert_eq!(Algorithm::from_header_name("content-md5"), None);
        assert_eq!(Algorithm::from_name("md5"), None);
    }

    #[test]
    fn validation() {
        assert!(Algorithm::Crc32.is_valid_encoded("DUoRhQ=="));
        assert!(!Algorithm::Crc32.is_valid_encoded("jSnVw/bqjr4="));
        assert!(!Algorithm::Sha256.is_valid_encoded("not base64!"));
        assert!(!Algorithm::Crc32c.is_valid_encoded(""));
    }

    #[test]
    fn composite_known_answers() {
        // Python: crc32 of b"hello " and b"world", then crc32 of their concatenated
        // big-endian digests.
        assert_eq!(
            composite(Algorithm::Crc32, &["7YH59g==", "OncRQw=="]).unwrap(),
            "1Fu2mQ==-2"
        );
        assert_eq!(Algorithm::Crc32.checksum(b"hello "), "7YH59g==");
        assert_eq!(Algorithm::Crc32.checksum(b"world"), "OncRQw==");
        let parts = [
            Algorithm::Sha256.checksum(b"hello "),
            Algorithm::Sha256.checksum(b"world"),
        ];
        assert_eq!(
            composite(Algorithm::Sha256, &parts).unwrap(),
            "Zhie15keHg/OBlOZxcoF/BXCgYZaeimRvdZnwUZqkaQ=-2"
        );
        assert_eq!(composite::<&str>(Algorithm::Crc32, &[]), Err(ChecksumError::NoParts));
        assert!(composite(Algorithm::Crc32, &["bogus"]).is_err());
    }
}
