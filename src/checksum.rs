//! Flexible checksums (`x-amz-checksum-*`): CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256, computed
//! incrementally while a body streams, rendered base64 as S3 does.
//!
//! Design: [`Algorithm`] names an algorithm (and knows its header name, its lower-case stored
//! name and its S3 XML name); [`Algorithm::hasher`] gives a streaming [`Hasher`] whose
//! [`Hasher::finish`] returns the base64 of the big-endian digest, which is the exact string S3
//! puts in `x-amz-checksum-*` headers and XML. [`composite`] computes the multipart
//! "checksum of checksums" (`<base64>-N`, S3's `COMPOSITE` type) from the parts' base64
//! checksums; [`full_object`] computes S3's `FULL_OBJECT` type for the CRCs (the CRC of the whole
//! object, from the parts' CRCs and lengths, by [`combine`]).
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
    /// `FULL_OBJECT` checksums exist only for the CRC algorithms.
    #[error("{algorithm} checksums cannot be combined into a full-object checksum")]
    NotCombinable { algorithm: &'static str },
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
/// the `COMPOSITE` checksum type; see [`full_object`] for `FULL_OBJECT`.)
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

/// Reflected CRC parameters for [`combine`]: width in bits and the reflected polynomial. All
/// three CRCs S3 uses start from all ones and end with an all-ones xor, which makes them affine
/// in the message, so `crc(A‖B) = crc(A)·x^(8·|B|) mod P ⊕ crc(B)`.
fn crc_params(algorithm: Algorithm) -> Option<(u32, u64)> {
    match algorithm {
        Algorithm::Crc32 => Some((32, 0xEDB8_8320)),
        Algorithm::Crc32c => Some((32, 0x82F6_3B78)),
        Algorithm::Crc64Nvme => Some((64, 0x9A6C_9329_AC4B_C9B5)),
        Algorithm::Sha1 | Algorithm::Sha256 => None,
    }
}

/// `a·b mod P` for polynomials in reflected representation (bit `width-1` is x^0).
fn mul_mod(a: u64, mut b: u64, width: u32, poly: u64) -> u64 {
    let mut m = 1u64 << (width - 1);
    let mut p = 0u64;
    while m != 0 {
        if a & m != 0 {
            p ^= b;
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ poly } else { b >> 1 };
    }
    p
}

/// `x^(8·n) mod P`, by square-and-multiply over the bits of `n`.
fn x_pow_8n(mut n: u64, width: u32, poly: u64) -> u64 {
    let one = 1u64 << (width - 1);
    let mut square = 1u64 << (width - 2); // x^1
    for _ in 0..3 {
        square = mul_mod(square, square, width, poly); // x^2, x^4, x^8
    }
    let mut p = one;
    while n != 0 {
        if n & 1 != 0 {
            p = mul_mod(square, p, width, poly);
        }
        square = mul_mod(square, square, width, poly);
        n >>= 1;
    }
    p
}

fn be_to_u64(raw: &[u8]) -> u64 {
    raw.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// The CRC of `A‖B` from the CRC of `A`, the CRC of `B` and the length of `B` (big-endian binary
/// digests, as [`Hasher::finish_raw`] returns them). `None` for SHA-1/SHA-256, which do not
/// combine, or digests of the wrong length.
pub fn combine(algorithm: Algorithm, first: &[u8], second: &[u8], second_len: u64) -> Option<Vec<u8>> {
    let (width, poly) = crc_params(algorithm)?;
    let n = algorithm.digest_len();
    if first.len() != n || second.len() != n {
        return None;
    }
    let shifted = mul_mod(x_pow_8n(second_len, width, poly), be_to_u64(first), width, poly);
    let value = shifted ^ be_to_u64(second);
    Some(value.to_be_bytes()[8 - n..].to_vec())
}

/// The `FULL_OBJECT` multipart checksum (CRC algorithms only): the CRC of the whole object,
/// computed from the parts' base64 CRCs and lengths in part order, base64 without a `-N` suffix.
/// An empty list is the CRC of the empty object.
pub fn full_object<S: AsRef<str>>(algorithm: Algorithm, parts: &[(S, u64)]) -> Result<String, ChecksumError> {
    if crc_params(algorithm).is_none() {
        return Err(ChecksumError::NotCombinable {
            algorithm: algorithm.name(),
        });
    }
    let mut acc = algorithm.hasher().finish_raw();
    for (value, len) in parts {
        let raw = decode(algorithm, value.as_ref())?;
        acc = combine(algorithm, &acc, &raw, *len).ok_or_else(|| ChecksumError::InvalidValue {
            algorithm: algorithm.name(),
            value: value.as_ref().into(),
        })?;
    }
    Ok(B64.encode(acc))
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

    #[test]
    fn crc_combine_matches_whole() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 131 + i / 7) as u8).collect();
        for alg in [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme] {
            for cut in [0usize, 1, 7, 64, 1000, 4999, 5000] {
                let (a, b) = data.split_at(cut);
                let ra = alg.hasher().finish_raw_of(a);
                let rb = alg.hasher().finish_raw_of(b);
                let whole = alg.hasher().finish_raw_of(&data);
                assert_eq!(combine(alg, &ra, &rb, b.len() as u64), Some(whole), "{alg} cut {cut}");
            }
            // Three parts through full_object.
            let parts: Vec<(String, u64)> = data.chunks(1700).map(|c| (alg.checksum(c), c.len() as u64)).collect();
            assert_eq!(full_object(alg, &parts).unwrap(), alg.checksum(&data), "{alg}");
            assert_eq!(full_object::<&str>(alg, &[]).unwrap(), alg.checksum(b""));
        }
        assert_eq!(combine(Algorithm::Sha256, &[0; 32], &[0; 32], 1), None);
        assert!(matches!(
            full_object(Algorithm::Sha1, &[("2jmj7l5rSw0yVb/vlWAYkK/YBwk=", 0)]),
            Err(ChecksumError::NotCombinable { .. })
        ));
        // Python: crc32(b"hello ") and crc32(b"world") combine to crc32(b"hello world").
        assert_eq!(
            full_object(Algorithm::Crc32, &[("7YH59g==", 6), ("OncRQw==", 5)]).unwrap(),
            "DUoRhQ=="
        );
    }

    impl Hasher {
        fn finish_raw_of(mut self, data: &[u8]) -> Vec<u8> {
            self.update(data);
            self.finish_raw()
        }
    }
}
