//! SigV4 canonicalisation for S3 and the signing-key chain.
//!
//! - Canonical URI: the path is percent-decoded and re-encoded once (S3 does not double-encode):
//!   every byte except `A-Z a-z 0-9 - _ . ~` and `/` becomes `%XX` (upper-case hex). So a client
//!   that sent `/a%20b` or `/a b` signs `/a%20b`; an empty path is `/`.
//! - Canonical query: every `name=value` pair is decoded (`+` as a space, like S3 and
//!   aws-sdk-go) and re-encoded (`/` encoded too), sorted by encoded name then encoded value; a
//!   parameter without `=` has an empty value.
//! - Canonical headers: lower-case name, `:`, the values (comma-joined when repeated), each
//!   trimmed with inner whitespace runs collapsed to one space (as botocore does), `\n`.
//! - Signing key: `HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")`.

use hmac::{Hmac, Mac};
use http::HeaderMap;
use percent_encoding::percent_decode;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Compare two byte strings in time that depends only on their lengths, not on where they
/// differ. The project's one constant-time comparison: signatures (SigV4, SigV2, chunk and
/// trailer signatures) and the admin API's token (`gateway/src/admin.rs`) all use it.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// AWS `UriEncode`: every byte but `A-Z a-z 0-9 - _ . ~` (and `/` unless `encode_slash`) as `%XX`.
pub fn uri_encode(input: &[u8], encode_slash: bool) -> String {
    let mut out = String::with_capacity(input.len() + 8);
    for &b in input {
        if is_unreserved(b) || (b == b'/' && !encode_slash) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
            out.push(char::from(b"0123456789ABCDEF"[(b & 15) as usize]));
        }
    }
    out
}

/// Encode an object path for a request line (client side): `uri_encode(path, false)`. The
/// result is also its own canonical URI, so what is sent is what is signed.
pub fn encode_path(decoded_path: &str) -> String {
    uri_encode(decoded_path.as_bytes(), false)
}

/// The canonical URI of a raw (as received, still percent-encoded) request path.
pub fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".to_string();
    }
    let decoded: Vec<u8> = percent_decode(raw_path.as_bytes()).collect();
    uri_encode(&decoded, false)
}

/// Split a raw query string into decoded `(name, value)` pairs, in order. `+` means a space
/// (form encoding: aws-sdk-go, and so goofys and rclone, send spaces as `+`; botocore sends
/// `%20` and a literal plus as `%2B`). Empty segments are skipped.
pub fn query_pairs(raw_query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    query_pairs_with(raw_query, true)
}

/// [`query_pairs`], choosing whether `+` is a space or a literal plus.
pub fn query_pairs_with(raw_query: &str, plus_as_space: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let decode = |s: &str| -> Vec<u8> {
        if plus_as_space && s.contains('+') {
            percent_decode(s.replace('+', " ").as_bytes()).collect()
        } else {
            percent_decode(s.as_bytes()).collect()
        }
    };
    raw_query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|seg| {
            let (n, v) = seg.split_once('=').unwrap_or((seg, ""));
            (decode(n), decode(v))
        })
        .collect()
}

/// The canonical query string of a raw query string (`+` read as a space). Parameters whose
/// decoded name is in `exclude` (e.g. `X-Amz-Signature` for presigned URLs) are left out.
pub fn canonical_query(raw_query: &str, exclude: &[&str]) -> String {
    canonical_query_with(raw_query, exclude, true)
}

/// [`canonical_query`], choosing whether `+` is a space or a literal plus.
pub fn canonical_query_with(raw_query: &str, exclude: &[&str], plus_as_space: bool) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs_with(raw_query, plus_as_space)
        .into_iter()
        .filter(|(n, _)| !exclude.iter().any(|e| e.as_bytes() == n.as_slice()))
        .map(|(n, v)| (uri_encode(&n, true), uri_encode(&v, true)))
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(n);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The text of a header value as clients signed it: UTF-8 when the bytes are valid UTF-8 (Go,
/// Java and Rust clients send UTF-8), otherwise Latin-1 (Python's `http.client`, so botocore,
/// writes a `str` header value as Latin-1 bytes after signing its UTF-8 form).
pub fn header_text(v: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(v) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => std::borrow::Cow::Owned(v.iter().map(|&b| b as char).collect()),
    }
}

/// One canonical header value: all values of the header, each trimmed with inner whitespace
/// runs collapsed to one space, joined with `,`.
pub fn canonical_header_value<'a>(values: impl Iterator<Item = &'a [u8]>) -> String {
    let mut out = String::new();
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let text = header_text(v);
        let mut first = true;
        for word in text.split_ascii_whitespace() {
            if !first {
                out.push(' ');
            }
            out.push_str(word);
            first = false;
        }
    }
    out
}

/// The canonical headers block (each line ends with `\n`) for `signed` (lower-case names, in
/// the order given, which is the order of `SignedHeaders`). A signed header absent from the
/// request canonicalises with an empty value (and the signature will then not match).
pub fn canonical_headers(headers: &HeaderMap, signed: &[String]) -> String {
    let mut out = String::new();
    for name in signed {
        out.push_str(name);
        out.push(':');
        out.push_str(&canonical_header_value(
            headers.get_all(name.as_str()).iter().map(|v| v.as_bytes()),
        ));
        out.push('\n');
    }
    out
}

/// The canonical request:
/// `method\nuri\nquery\nheaders\n\nsigned_headers\npayload_hash` (`headers` already ends with
/// `\n`, as [`canonical_headers`] returns it).
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    format!("{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}")
}

/// `AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(canonical request)>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{}\n{amz_date}\n{scope}\n{}",
        super::ALGORITHM,
        sha256_hex(canonical_request.as_bytes())
    )
}

/// A derived SigV4 signing key (valid for one date/region/service).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey([u8; 32]);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// Derive the key: `HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")`.
    pub fn derive(secret: &str, date: &str, region: &str, service: &str) -> SigningKey {
        let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        let k_region = hmac_sha256(&k_date, region.as_bytes());
        let k_service = hmac_sha256(&k_region, service.as_bytes());
        SigningKey(hmac_sha256(&k_service, b"aws4_request"))
    }

    /// Derive the key of a credential scope.
    pub fn for_scope(secret: &str, scope: &super::CredentialScope) -> SigningKey {
        SigningKey::derive(secret, &scope.date, &scope.region, &scope.service)
    }

    /// The lower-case hex signature of `string_to_sign`.
    pub fn sign(&self, string_to_sign: &str) -> String {
        hex::encode(hmac_sha256(&self.0, string_to_sign.as_bytes()))
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_encoding() {
        assert_eq!(uri_encode(b"a b/c~d_e.f-g", false), "a%20b/c~d_e.f-g");
        assert_eq!(uri_encode(b"a/b", true), "a%2Fb");
        assert_eq!(uri_encode("é*+=".as_bytes(), true), "%C3%A9%2A%2B%3D");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/bucket/a%20b"), "/bucket/a%20b");
        assert_eq!(canonical_uri("/bucket/a b"), "/bucket/a%20b");
        assert_eq!(canonical_uri("/bucket/a%2ab"), "/bucket/a%2Ab");
        assert_eq!(canonical_uri("/bucket/a+b!"), "/bucket/a%2Bb%21");
        assert_eq!(canonical_uri("/b/%zz"), "/b/%25zz");
    }

    #[test]
    fn query_canonicalisation() {
        assert_eq!(canonical_query("", &[]), "");
        assert_eq!(canonical_query("uploads", &[]), "uploads=");
        assert_eq!(
            canonical_query("prefix=a%2Fb&delimiter=/&max-keys=2", &[]),
            "delimiter=%2F&max-keys=2&prefix=a%2Fb"
        );
        assert_eq!(canonical_query("b=2&a=2&a=1", &[]), "a=1&a=2&b=2");
        assert_eq!(canonical_query("X-Amz-Signature=abc&x=1", &["X-Amz-Signature"]), "x=1");
        assert_eq!(canonical_query("k=a%20b&&", &[]), "k=a%20b");
        assert_eq!(canonical_query("prefix=a+b%2Bc", &[]), "prefix=a%20b%2Bc");
        assert_eq!(canonical_query_with("prefix=a+b%2Bc", &[], false), "prefix=a%2Bb%2Bc");
    }

    #[test]
    fn header_values() {
        let v = ["  a   b\t c ".as_bytes(), b"d"];
        assert_eq!(canonical_header_value(v.into_iter()), "a b c,d");
        let latin1 = [&b"caf\xe9"[..]];
        assert_eq!(canonical_header_value(latin1.into_iter()), "café");
        let utf8 = ["café".as_bytes()];
        assert_eq!(canonical_header_value(utf8.into_iter()), "café");
    }

    #[test]
    fn signing_key_matches_aws_example() {
        // AWS General Reference, "Examples of how to derive a signing key for Signature
        // Version 4": secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215/us-east-1/iam.
        let k = SigningKey::derive(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(k.as_bytes()),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
