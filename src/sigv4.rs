//! AWS request signing for S3, shared by the remote S3 client (signing) and the S3 gateway
//! (verification). Pure and HTTP-framework independent: requests are described by
//! [`RequestParts`] (method, raw path, raw query, `http::HeaderMap`).
//!
//! Design, one file per scheme:
//! - [`canonical`]: SigV4 canonicalisation (URI, query, headers, canonical request, string to
//!   sign) and the HMAC-SHA256 signing-key chain ([`SigningKey`]).
//! - [`verifier`]: the gateway side. [`parse`] reads whichever auth a request carries (SigV4
//!   header, SigV4 presigned query, SigV2 header, SigV2 presigned query) into a [`ParsedAuth`]
//!   that owns everything needed later, including the string to sign. The gateway then looks
//!   the secret up (asynchronously) with [`ParsedAuth::access_key`], and calls
//!   [`ParsedAuth::verify`] (security on) or [`ParsedAuth::accept_unverified`] (security off).
//!   Both return an [`Authenticated`] whose [`PayloadMode`] tells how to read the body.
//! - [`signer`]: the client side, [`sign_request`] produces `Authorization`, `x-amz-date` and
//!   `x-amz-content-sha256`.
//! - [`mod@presign`]: presigned URLs (SigV4 query auth), [`fn@presign`] makes one.
//! - [`chunked`]: the `aws-chunked` body decoder (signed chunks, unsigned chunks with trailers),
//!   incremental over a byte stream, plus [`chunked::verify_sha256`] for signed single-chunk
//!   payloads, and a [`chunked::ChunkSigner`] for clients and tests.
//! - [`auth`]: the types both schemes share ([`RequestParts`], [`ParsedAuth`], [`PayloadMode`],
//!   ...), so that SigV2 and the SigV4 verifier do not depend on each other.
//! - [`v2`]: SigV2 (`Authorization: AWS AK:sig`, `?AWSAccessKeyId=&Expires=&Signature=`).
//! - [`amz_date`]: `20130524T000000Z` timestamps.
//!
//! No HTTP here: [`AuthError`] and [`chunked::BodyError`] say what was refused; the gateway maps
//! them to S3 codes and statuses (`gateway/src/error.rs`).

pub mod amz_date;
pub mod auth;
pub mod canonical;
pub mod chunked;
pub mod presign;
pub mod signer;
pub mod v2;
pub mod verifier;

pub use auth::{
    unsigned_request_payload, Authenticated, ParsedAuth, PayloadMode, RequestParts, Scheme, StreamingSigned,
};
pub use canonical::{constant_time_eq, SigningKey};
pub use presign::presign;
pub use signer::{sign_request, SigningOutput, SigningParams};
pub use verifier::parse;

use std::time::{Duration, SystemTime};

/// The SigV4 algorithm name.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// `x-amz-content-sha256` value: the body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// `x-amz-content-sha256` value: aws-chunked body with signed chunks.
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// `x-amz-content-sha256` value: aws-chunked body with signed chunks and a signed trailer.
pub const STREAMING_PAYLOAD_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
/// `x-amz-content-sha256` value: aws-chunked body, unsigned chunks, trailer (aws CLI v2, boto3).
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// SHA-256 of the empty string, hex.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// How far the request time of header auth may be from the server clock (AWS: 15 minutes).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);
/// The longest presigned URL validity (7 days).
pub const MAX_PRESIGN_EXPIRES: u64 = 604_800;

/// The scope of a SigV4 credential: `<date>/<region>/<service>/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredentialScope {
    /// `YYYYMMDD`.
    pub date: String,
    pub region: String,
    pub service: String,
}

impl CredentialScope {
    /// `20130524/us-east-1/s3/aws4_request`.
    pub fn to_scope_string(&self) -> String {
        format!("{}/{}/{}/aws4_request", self.date, self.region, self.service)
    }
}

/// A parsed SigV4 `Credential=` value: the access key and the scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Credential {
    pub access_key: String,
    pub scope: CredentialScope,
}

impl Credential {
    /// Parse `AK/20130524/us-east-1/s3/aws4_request`. The access key may itself contain `/`
    /// (Kerberos principals such as `testuser/scm@EXAMPLE.COM`): the LAST four components are
    /// the scope. Errors are returned as a message for [`AuthError::MalformedHeader`] /
    /// [`AuthError::MalformedQuery`].
    pub fn parse(value: &str) -> Result<Credential, String> {
        let parts: Vec<&str> = value.trim().split('/').collect();
        if parts.len() < 5 {
            return Err(format!(
                "the Credential {value:?} is not of the form AK/date/region/service/aws4_request"
            ));
        }
        let n = parts.len();
        let (date, region, service, terminator) = (parts[n - 4], parts[n - 3], parts[n - 2], parts[n - 1]);
        let access_key = parts[..n - 4].join("/");
        if access_key.is_empty() {
            return Err("the Credential has an empty access key".to_string());
        }
        if terminator != "aws4_request" {
            return Err(format!(
                "the Credential terminator is {terminator:?}, expected \"aws4_request\""
            ));
        }
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("the Credential date {date:?} is not YYYYMMDD"));
        }
        if region.is_empty() || service.is_empty() {
            return Err("the Credential has an empty region or service".to_string());
        }
        Ok(Credential {
            access_key,
            scope: CredentialScope {
                date: date.to_string(),
                region: region.to_string(),
                service: service.to_string(),
            },
        })
    }
}

/// Why a request's authentication was refused. Each variant's doc names the S3 error AWS answers;
/// the gateway does that mapping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The `Authorization` header cannot be parsed (missing component, bad credential scope,
    /// credential date not matching `x-amz-date`, `host` not signed...).
    /// → 400 AuthorizationHeaderMalformed.
    #[error("the authorization header is malformed: {0}")]
    MalformedHeader(String),
    /// Presigned query parameters cannot be parsed (missing `X-Amz-*`, bad `X-Amz-Expires`...).
    /// → 400 AuthorizationQueryParametersError.
    #[error("the authorization query parameters are malformed: {0}")]
    MalformedQuery(String),
    /// An `Authorization` scheme other than `AWS4-HMAC-SHA256` and `AWS` (e.g. SigV4a).
    /// → 400 InvalidArgument (AWS answers "Unsupported Authorization Type").
    #[error("unsupported authorization type {0:?}")]
    UnsupportedAlgorithm(String),
    /// Both an `Authorization` header and presigned query parameters. → 400 InvalidArgument.
    #[error("only one auth mechanism allowed")]
    MultipleMechanisms,
    /// Neither `x-amz-date` nor `Date`. → 403 AccessDenied
    /// ("AWS authentication requires a valid Date or x-amz-date header").
    #[error("AWS authentication requires a valid Date or x-amz-date header")]
    MissingDate,
    /// The date header / `X-Amz-Date` / `Expires` cannot be parsed. → 403 AccessDenied.
    #[error("invalid date {0:?}")]
    InvalidDate(String),
    /// SigV4 header auth without `x-amz-content-sha256`. → 400 InvalidRequest
    /// ("Missing required header for this request: x-amz-content-sha256").
    #[error("missing required header for this request: x-amz-content-sha256")]
    MissingContentSha256,
    /// `x-amz-content-sha256` is neither a hex SHA-256 nor a known keyword. → 400 InvalidArgument.
    #[error("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-..., or a valid sha256 value, got {0:?}")]
    InvalidContentSha256(String),
    /// A known but unsupported payload signing mode (ECDSA streaming). → 501 NotImplemented.
    #[error("unsupported payload signing mode {0:?}")]
    UnsupportedPayload(String),
    /// `x-amz-*` headers present but not in `SignedHeaders`. → 403 AccessDenied
    /// ("There were headers present in the request which were not signed").
    #[error("there were headers present in the request which were not signed: {0:?}")]
    UnsignedHeaders(Vec<String>),
    /// Header auth with a request time more than [`MAX_CLOCK_SKEW`] away. → 403
    /// RequestTimeTooSkewed.
    #[error("the difference between the request time and the current time is too large")]
    RequestTimeTooSkewed {
        request_time: SystemTime,
        server_time: SystemTime,
    },
    /// Presigned URL past its expiry. → 403 AccessDenied ("Request has expired").
    #[error("request has expired")]
    Expired {
        expires: SystemTime,
        server_time: SystemTime,
    },
    /// Presigned URL dated more than [`MAX_CLOCK_SKEW`] in the future. → 403 AccessDenied
    /// ("Request is not valid yet").
    #[error("request is not valid yet")]
    NotYetValid,
    /// The signature differs from the one computed with the secret. → 403
    /// SignatureDoesNotMatch (AWS puts `StringToSign` and `CanonicalRequest` in the error body).
    #[error("the request signature we calculated does not match the signature you provided")]
    SignatureDoesNotMatch {
        string_to_sign: String,
        canonical_request: String,
    },
}

#[cfg(test)]
mod credential_tests {
    use super::*;

    #[test]
    fn credential_parse() {
        let c = Credential::parse("AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request").unwrap();
        assert_eq!(c.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(c.scope.to_scope_string(), "20130524/us-east-1/s3/aws4_request");
        let k = Credential::parse("testuser/scm@EXAMPLE.COM/20130524/us-west-1/s3/aws4_request").unwrap();
        assert_eq!(k.access_key, "testuser/scm@EXAMPLE.COM");
        assert_eq!(k.scope.region, "us-west-1");
        for bad in [
            "",
            "AK/20130524/us-east-1/s3",
            "/20130524/us-east-1/s3/aws4_request",
            "AK/2013052/us-east-1/s3/aws4_request",
            "AK/20130524/us-east-1/s3/aws5_request",
            "AK/20130524//s3/aws4_request",
        ] {
            assert!(Credential::parse(bad).is_err(), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod tests;
