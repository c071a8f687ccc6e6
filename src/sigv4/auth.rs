//! What SigV4 and SigV2 authentication share: the request as authentication sees it
//! ([`RequestParts`]), the scheme, the declared and the checked payload mode, and the parsed,
//! not yet verified, authentication ([`ParsedAuth`], filled by [`super::verifier`] for SigV4 and
//! by [`super::v2`] for SigV2; verified in `verifier.rs`). Its own module so that neither of
//! the two schemes depends on the other for its types.

use super::canonical::SigningKey;
use super::{AuthError, CredentialScope};
use http::{HeaderMap, Method};
use std::time::SystemTime;

/// The parts of a request that authentication looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a Method,
    /// The path exactly as received on the request line, still percent-encoded (`/b/a%20c`).
    pub raw_path: &'a str,
    /// The query string exactly as received, without the `?` (`""` when there is none).
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    /// The bucket when the request is virtual-host style (`bucket.domain`): SigV2 signs
    /// `/bucket` + path. `None` for path-style requests. SigV4 ignores it.
    pub virtual_host_bucket: Option<&'a str>,
}

/// Which authentication scheme a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`
    V4Header,
    /// `?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=...&X-Amz-Signature=...`
    V4Presigned,
    /// `Authorization: AWS AK:signature`
    V2Header,
    /// `?AWSAccessKeyId=AK&Expires=...&Signature=...`
    V2Presigned,
}

/// What the client declared about the body, before we know whether the signature is good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeclaredPayload {
    Unsigned,
    Signed(String),
    Streaming { trailer: bool },
    StreamingUnsignedTrailer,
}

/// Classify an `x-amz-content-sha256` value.
pub(crate) fn classify_payload(value: &str) -> Result<DeclaredPayload, AuthError> {
    let v = value.trim();
    match v {
        super::UNSIGNED_PAYLOAD => Ok(DeclaredPayload::Unsigned),
        super::STREAMING_PAYLOAD => Ok(DeclaredPayload::Streaming { trailer: false }),
        super::STREAMING_PAYLOAD_TRAILER => Ok(DeclaredPayload::Streaming { trailer: true }),
        super::STREAMING_UNSIGNED_TRAILER => Ok(DeclaredPayload::StreamingUnsignedTrailer),
        _ if v.starts_with("STREAMING-") => Err(AuthError::UnsupportedPayload(v.to_string())),
        _ if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(DeclaredPayload::Signed(v.to_ascii_lowercase()))
        }
        _ => Err(AuthError::InvalidContentSha256(v.to_string())),
    }
}

/// The payload mode of a request whose signature does not cover the body (a presigned URL
/// without `X-Amz-Content-Sha256`, SigV2) when it carries an `x-amz-content-sha256` header
/// anyway: a hex digest is verified against the body (as a header-signed request's is), a
/// keyword leaves the body unsigned, and a malformed value is refused as header-signed requests
/// refuse it ([`AuthError::InvalidContentSha256`], 400 InvalidArgument).
pub fn unsigned_request_payload(headers: &HeaderMap) -> Result<PayloadMode, AuthError> {
    let Some(v) = headers.get("x-amz-content-sha256") else {
        return Ok(PayloadMode::UnsignedPayload);
    };
    let text = v
        .to_str()
        .map_err(|_| AuthError::InvalidContentSha256(String::from_utf8_lossy(v.as_bytes()).into_owned()))?;
    Ok(match classify_payload(text)? {
        DeclaredPayload::Signed(h) => PayloadMode::SignedPayload(h),
        DeclaredPayload::Unsigned | DeclaredPayload::Streaming { .. } | DeclaredPayload::StreamingUnsignedTrailer => {
            PayloadMode::UnsignedPayload
        }
    })
}

/// The signing context of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` body, to hand to
/// [`super::chunked::AwsChunkedDecoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamingSigned {
    /// The request signature: the "previous signature" of the first chunk.
    pub seed_signature: String,
    /// The signing key, or `None` when the request was accepted without verification
    /// ([`ParsedAuth::accept_unverified`], security off): then the chunk framing is decoded
    /// but chunk signatures are not checked.
    pub signing_key: Option<SigningKey>,
    /// `20130524/us-east-1/s3/aws4_request`.
    pub scope: String,
    /// The request's `x-amz-date` (`20130524T000000Z`).
    pub amz_date: String,
    /// `true` for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` (a signed trailer follows the
    /// final chunk).
    pub trailer: bool,
}

/// How the gateway must read and check the body of an authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadMode {
    /// `UNSIGNED-PAYLOAD`, presigned URLs, SigV2: the body is taken as is.
    UnsignedPayload,
    /// `x-amz-content-sha256: <hex>`: the gateway must check that the body's SHA-256 is this
    /// (lower-case hex) and fail with XAmzContentSHA256Mismatch otherwise; see
    /// [`super::chunked::verify_sha256`].
    SignedPayload(String),
    /// aws-chunked body with signed chunks: decode with
    /// [`super::chunked::AwsChunkedDecoder::signed`].
    StreamingSigned(StreamingSigned),
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked body, unsigned, with a trailer: decode
    /// with [`super::chunked::AwsChunkedDecoder::unsigned`].
    StreamingUnsignedTrailer,
}

impl PayloadMode {
    /// Whether the body is aws-chunked encoded (the gateway must decode it).
    pub fn is_chunked(&self) -> bool {
        matches!(
            self,
            PayloadMode::StreamingSigned(_) | PayloadMode::StreamingUnsignedTrailer
        )
    }
}

/// The result of a successful [`ParsedAuth::verify`] or [`ParsedAuth::accept_unverified`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The access key (with security off, it is the user name).
    pub access_key: String,
    pub scheme: Scheme,
    /// The SigV4 credential scope (`None` for SigV2).
    pub credential: Option<CredentialScope>,
    pub payload: PayloadMode,
    /// `false` when accepted by [`ParsedAuth::accept_unverified`].
    pub signature_verified: bool,
}

/// A request's parsed authentication, ready to verify once the secret is known.
#[derive(Debug, Clone)]
pub struct ParsedAuth {
    pub(crate) access_key: String,
    pub(crate) scheme: Scheme,
    pub(crate) credential: Option<CredentialScope>,
    /// As sent by the client (V4: hex; V2: base64, query-decoded).
    pub(crate) signature: String,
    /// V4: `20130524T000000Z`; V2: empty.
    pub(crate) amz_date: String,
    /// V4: one string; V2: the candidate strings to sign (client conventions differ on path and
    /// sub-resource encoding); the first is the AWS-documented one.
    pub(crate) strings_to_sign: Vec<String>,
    /// V4 only.
    pub(crate) canonical_request: String,
    pub(crate) request_time: SystemTime,
    /// Presigned only.
    pub(crate) expires: Option<SystemTime>,
    pub(crate) payload: DeclaredPayload,
    /// `x-amz-*` headers present but not signed: refused by [`ParsedAuth::verify`] (security
    /// on), tolerated by [`ParsedAuth::accept_unverified`].
    pub(crate) unsigned_headers: Vec<String>,
}

/// First value of a decoded query parameter.
pub(crate) fn query_param(pairs: &[(Vec<u8>, Vec<u8>)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(n, _)| n.as_slice() == name.as_bytes())
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}
