//! S3 errors: an S3 error code, an HTTP status and a message, rendered as the XML body S3
//! clients parse (`<Error><Code/><Message/><Resource/><RequestId/></Error>`).
//!
//! Core errors arrive as [`ozfs::Error`] and are mapped by one exhaustive `match` (no catch-all
//! arm: a new core variant must be given an S3 meaning here). Request-body failures
//! ([`ozfs::Error::Body`]) carry the error of whoever produced the body; we downcast it to the
//! gateway's own body errors and to the sigv4 module's errors to answer with the precise code
//! (a bad chunk signature is `SignatureDoesNotMatch`, a slow client `RequestTimeout`, ...).

use http::StatusCode;
use ozfs::sigv4::{chunked, AuthError};
use std::fmt;

/// Declares [`S3ErrorCode`]: each code with the HTTP status it is answered with. The wire name
/// is the variant's name unless given with `as "..."`.
macro_rules! s3_error_codes {
    ($($(#[$doc:meta])* $name:ident $(as $wire:literal)? => $status:ident,)*) => {
        /// Every S3 error code the gateway answers (or passes on from a remote backend). A code
        /// is a variant, so a misspelt code is a compile error; each has one HTTP status
        /// ([`S3ErrorCode::status`]), the status AWS answers it with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum S3ErrorCode {
            $($(#[$doc])* $name,)*
        }

        impl S3ErrorCode {
            /// All codes, in declaration order.
            pub const ALL: &'static [S3ErrorCode] = &[$(S3ErrorCode::$name,)*];

            /// The code as written in `<Code>`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(S3ErrorCode::$name => s3_error_codes!(@wire $name $($wire)?),)*
                }
            }

            /// The HTTP status this code is answered with.
            pub fn status(self) -> StatusCode {
                match self {
                    $(S3ErrorCode::$name => StatusCode::$status,)*
                }
            }
        }
    };
    (@wire $name:ident) => { stringify!($name) };
    (@wire $name:ident $wire:literal) => { $wire };
}

s3_error_codes! {
    AccessDenied => FORBIDDEN,
    AuthorizationHeaderMalformed => BAD_REQUEST,
    AuthorizationQueryParametersError => BAD_REQUEST,
    BadDigest => BAD_REQUEST,
    BucketAlreadyExists => CONFLICT,
    BucketAlreadyOwnedByYou => CONFLICT,
    BucketNotEmpty => CONFLICT,
    ConditionalRequestConflict => CONFLICT,
    /// Volumes (not an S3 concept): an existing or non-empty volume.
    Conflict => CONFLICT,
    EntityTooLarge => BAD_REQUEST,
    EntityTooSmall => BAD_REQUEST,
    HttpVersionNotSupported => HTTP_VERSION_NOT_SUPPORTED,
    IncompleteBody => BAD_REQUEST,
    /// No S3 code for a full disk; 507 tells clients it is the server's storage.
    InsufficientStorage => INSUFFICIENT_STORAGE,
    InternalError => INTERNAL_SERVER_ERROR,
    InvalidAccessKeyId => FORBIDDEN,
    InvalidArgument => BAD_REQUEST,
    InvalidBucketName => BAD_REQUEST,
    InvalidDigest => BAD_REQUEST,
    InvalidPart => BAD_REQUEST,
    InvalidPartNumber => RANGE_NOT_SATISFIABLE,
    InvalidPartOrder => BAD_REQUEST,
    InvalidRange => RANGE_NOT_SATISFIABLE,
    InvalidRequest => BAD_REQUEST,
    InvalidStorageClass => BAD_REQUEST,
    InvalidTag => BAD_REQUEST,
    InvalidURI => BAD_REQUEST,
    KeyTooLongError => BAD_REQUEST,
    MalformedXML => BAD_REQUEST,
    MetadataTooLarge => BAD_REQUEST,
    MissingContentLength => LENGTH_REQUIRED,
    NoSuchBucket => NOT_FOUND,
    NoSuchKey => NOT_FOUND,
    NoSuchLifecycleConfiguration => NOT_FOUND,
    NoSuchTagSet => NOT_FOUND,
    NoSuchUpload => NOT_FOUND,
    NoSuchVersion => NOT_FOUND,
    NotImplemented => NOT_IMPLEMENTED,
    PreconditionFailed => PRECONDITION_FAILED,
    RequestHeaderSectionTooLarge => BAD_REQUEST,
    RequestTimeTooSkewed => FORBIDDEN,
    RequestTimeout => BAD_REQUEST,
    /// Ozone's admin code for a secret that already exists.
    SecretAlreadyExists as "S3_SECRET_ALREADY_EXISTS" => BAD_REQUEST,
    /// Ozone's admin code for a missing secret.
    SecretNotFound as "S3_SECRET_NOT_FOUND" => NOT_FOUND,
    ServiceUnavailable => SERVICE_UNAVAILABLE,
    SignatureDoesNotMatch => FORBIDDEN,
    SlowDown => SERVICE_UNAVAILABLE,
    XAmzContentSHA256Mismatch => BAD_REQUEST,
}

impl S3ErrorCode {
    /// The code written `s` (a remote backend's `<Code>`), if it is one we know.
    pub fn from_wire(s: &str) -> Option<S3ErrorCode> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for S3ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An S3 error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    pub code: S3ErrorCode,
    /// The code's status ([`S3ErrorCode::status`]) unless set otherwise (a remote backend's).
    pub status: StatusCode,
    pub message: String,
    /// The resource the error is about (defaults to the request path when rendered).
    pub resource: Option<String>,
}

impl S3Error {
    /// An error with the code's own status.
    pub fn new(code: S3ErrorCode, message: impl Into<String>) -> Self {
        S3Error {
            code,
            status: code.status(),
            message: message.into(),
            resource: None,
        }
    }

    /// Answer with `status` instead of the code's own.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Attach the resource the error is about.
    pub fn with_resource(mut self, r: impl Into<String>) -> Self {
        self.resource = Some(r.into());
        self
    }

    pub fn invalid_argument(m: impl Into<String>) -> Self {
        Self::new(S3ErrorCode::InvalidArgument, m)
    }
    pub fn invalid_request(m: impl Into<String>) -> Self {
        Self::new(S3ErrorCode::InvalidRequest, m)
    }
    pub fn malformed_xml() -> Self {
        Self::new(
            S3ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
    }
    pub fn not_implemented(m: impl Into<String>) -> Self {
        Self::new(S3ErrorCode::NotImplemented, m)
    }
    pub fn access_denied() -> Self {
        Self::new(S3ErrorCode::AccessDenied, "Access Denied")
    }
    pub fn no_such_bucket(b: &str) -> Self {
        Self::new(S3ErrorCode::NoSuchBucket, "The specified bucket does not exist").with_resource(b)
    }
    pub fn no_such_key(k: &str) -> Self {
        Self::new(S3ErrorCode::NoSuchKey, "The specified key does not exist.").with_resource(k)
    }
    pub fn precondition_failed() -> Self {
        Self::new(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        )
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(S3ErrorCode::InternalError, m)
    }

    /// The XML body.
    pub fn to_xml(&self, default_resource: &str, request_id: &str) -> Vec<u8> {
        let mut w = crate::xml::XmlWriter::new();
        w.start("Error")
            .elem("Code", self.code.as_str())
            .elem("Message", &self.message)
            .elem("Resource", self.resource.as_deref().unwrap_or(default_resource))
            .elem("RequestId", request_id)
            .end();
        w.finish()
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for S3Error {}

impl From<ozfs::Error> for S3Error {
    fn from(e: ozfs::Error) -> Self {
        use ozfs::error::NameKind;
        use ozfs::Error as E;
        let msg = e.to_string();
        match e {
            // A missing S3 volume means no bucket can exist.
            E::NoSuchVolume(v) => S3Error::no_such_bucket(&v),
            E::NoSuchBucket(b) => S3Error::no_such_bucket(&b),
            E::NoSuchKey(k) => S3Error::no_such_key(&k),
            E::NoSuchUpload(u) => S3Error::new(S3ErrorCode::NoSuchUpload, "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
            )
            .with_resource(u),
            // Volumes are not an S3 concept; only the admin path can get here.
            E::VolumeAlreadyExists(_) => S3Error::new(S3ErrorCode::Conflict, msg),
            // The create-bucket handler turns this into BucketAlreadyOwnedByYou for the owner.
            E::BucketAlreadyExists { name, .. } => S3Error::new(S3ErrorCode::BucketAlreadyExists, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
            )
            .with_resource(name),
            E::VolumeNotEmpty(_) => S3Error::new(S3ErrorCode::Conflict, msg),
            E::BucketNotEmpty(b) => S3Error::new(S3ErrorCode::BucketNotEmpty, "The bucket you tried to delete is not empty",
            )
            .with_resource(b),
            E::InvalidName {
                kind: NameKind::Bucket, ..
            } => S3Error::new(S3ErrorCode::InvalidBucketName, msg),
            E::InvalidName {
                kind: NameKind::Volume, ..
            } => S3Error::invalid_argument(msg),
            E::KeyTooLong { .. } => S3Error::new(S3ErrorCode::KeyTooLongError, "Your key is too long"),
            E::InvalidKey { .. } => S3Error::invalid_argument(msg),
            // Ozone answers a link loop with 500; a 5xx makes clients retry forever, and the
            // loop is a configuration error the user must see, so: 400 with a clear message.
            E::LinkLoop(_) => S3Error::invalid_request(msg),
            E::NotSupportedOnLink(_) => S3Error::not_implemented(msg),
            E::PreconditionFailed => S3Error::precondition_failed(),
            E::WriteConflict(_) => S3Error::new(S3ErrorCode::ConditionalRequestConflict, msg),
            E::BadDigest => S3Error::new(S3ErrorCode::BadDigest, "The Content-MD5 you specified did not match what we received.",
            ),
            E::ChecksumMismatch { algorithm } => S3Error::new(S3ErrorCode::BadDigest, format!("The {algorithm} you specified did not match the calculated checksum."),
            ),
            E::IncompleteBody { .. } => S3Error::new(S3ErrorCode::IncompleteBody, msg),
            E::InvalidPart(_) => S3Error::new(S3ErrorCode::InvalidPart, msg),
            E::InvalidPartOrder => S3Error::new(S3ErrorCode::InvalidPartOrder, msg),
            E::EntityTooSmall { .. } => S3Error::new(S3ErrorCode::EntityTooSmall, "Your proposed upload is smaller than the minimum allowed object size.",
            ),
            E::InvalidRange => S3Error::new(S3ErrorCode::InvalidRange, "The requested range is not satisfiable",
            ),
            E::InvalidPartNumber { .. } => S3Error::new(S3ErrorCode::InvalidPartNumber, "The requested partnumber is not satisfiable",
            ),
            E::InvalidArgument(m) => S3Error::invalid_argument(m),
            E::AccessDenied(m) => S3Error::new(S3ErrorCode::AccessDenied, m),
            E::NotSupported(m) => S3Error::not_implemented(m),
            // No S3 code for a full disk; 507 tells clients it is the server's storage.
            E::NoSpace => S3Error::new(S3ErrorCode::InsufficientStorage, msg),
            E::SecretAlreadyExists(_) => S3Error::new(S3ErrorCode::SecretAlreadyExists, msg),
            E::SecretNotFound(_) => S3Error::new(S3ErrorCode::SecretNotFound, msg),
            // A concurrent overwrite during a read: retryable.
            E::ObjectChanged(_) => S3Error::new(S3ErrorCode::SlowDown, msg),
            E::Body(src) => body_error_to_s3(src),
            E::Backend { status, code, message } => {
                // The remote's error status, but never a success or redirect one: a backend
                // failure that came with a 2xx (an `<Error>` body on a 200) or an odd status is a
                // 500 (what AWS itself answers for such an InternalError), never passed as OK.
                let status = StatusCode::from_u16(status)
                    .ok()
                    .filter(|s| s.is_client_error() || s.is_server_error())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                S3Error::new(backend_code(&code), message).with_status(status)
            }
            E::Storage { .. } | E::DataDirInUse(_) | E::Io(_) => S3Error::internal(msg),
        }
    }
}

/// A remote backend's code: passed on when it is one we know, else `InternalError`.
fn backend_code(code: &str) -> S3ErrorCode {
    S3ErrorCode::from_wire(code).unwrap_or(S3ErrorCode::InternalError)
}

/// Map a sigv4 refusal to the S3 error AWS answers (one exhaustive `match`: the core's
/// [`AuthError`] knows nothing of HTTP).
impl From<AuthError> for S3Error {
    fn from(e: AuthError) -> Self {
        use S3ErrorCode as C;
        let code = match &e {
            AuthError::MalformedHeader(_) => C::AuthorizationHeaderMalformed,
            AuthError::MalformedQuery(_) => C::AuthorizationQueryParametersError,
            AuthError::UnsupportedAlgorithm(_) | AuthError::MultipleMechanisms => C::InvalidArgument,
            AuthError::MissingDate | AuthError::InvalidDate(_) => C::AccessDenied,
            AuthError::MissingContentSha256 => C::InvalidRequest,
            AuthError::InvalidContentSha256(_) => C::InvalidArgument,
            AuthError::UnsupportedPayload(_) => C::NotImplemented,
            AuthError::UnsignedHeaders(_) => C::AccessDenied,
            AuthError::RequestTimeTooSkewed { .. } => C::RequestTimeTooSkewed,
            AuthError::Expired { .. } | AuthError::NotYetValid => C::AccessDenied,
            AuthError::SignatureDoesNotMatch { .. } => C::SignatureDoesNotMatch,
        };
        S3Error::new(code, e.to_string())
    }
}

/// Map a failure of the sigv4 aws-chunked decoder (or of the signed-payload hash check).
fn chunked_error_to_s3(e: chunked::BodyError) -> S3Error {
    use chunked::BodyError as B;
    use S3ErrorCode as C;
    let msg = e.to_string();
    let code = match e {
        // The decoder's input failed: report what failed underneath (timeout, transport).
        B::Transport(inner) => {
            return match inner.downcast::<ozfs::Error>() {
                Ok(core) => S3Error::from(*core),
                Err(inner) => body_error_to_s3(inner),
            };
        }
        B::Framing(_) => C::InvalidArgument,
        B::Truncated | B::LengthMismatch { .. } => C::IncompleteBody,
        B::MissingChunkSignature { .. }
        | B::ChunkSignatureMismatch { .. }
        | B::MissingTrailerSignature
        | B::TrailerSignatureMismatch => C::SignatureDoesNotMatch,
        B::ContentSha256Mismatch { .. } => C::XAmzContentSHA256Mismatch,
    };
    S3Error::new(code, msg)
}

/// Map a body failure (the source of [`ozfs::Error::Body`]) to the S3 error to answer: the
/// gateway's own body errors, the sigv4 decoder's, and anything else as `IncompleteBody`.
pub fn body_error_to_s3(src: Box<dyn std::error::Error + Send + Sync>) -> S3Error {
    use crate::body::BodyError;
    let src =
        match src.downcast::<BodyError>() {
            Ok(b) => return match *b {
                BodyError::IdleTimeout(_) => S3Error::new(
                    S3ErrorCode::RequestTimeout,
                    "Your socket connection to the server was not read from or written to within the timeout period.",
                ),
                BodyError::Transport(e) => S3Error::new(S3ErrorCode::IncompleteBody, e.to_string()),
                BodyError::TooLarge(n) => S3Error::new(
                    S3ErrorCode::EntityTooLarge,
                    format!("Your proposed upload exceeds the maximum allowed size ({n} bytes)"),
                ),
            },
            Err(src) => src,
        };
    match src.downcast::<chunked::BodyError>() {
        Ok(e) => chunked_error_to_s3(*e),
        Err(other) => S3Error::new(S3ErrorCode::IncompleteBody, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_error_xml() {
        let e = S3Error::no_such_key("a&b");
        let x = String::from_utf8(e.to_xml("/b/a&b", "REQ1")).unwrap();
        assert!(x.starts_with("<?xml"));
        assert!(x.contains("<Code>NoSuchKey</Code>"));
        assert!(x.contains("<Resource>a&amp;b</Resource>"));
        assert!(x.contains("<RequestId>REQ1</RequestId>"));
    }

    #[test]
    fn maps_core_errors() {
        let e: S3Error = ozfs::Error::InvalidRange.into();
        assert_eq!(e.status, StatusCode::RANGE_NOT_SATISFIABLE);
        let e: S3Error = ozfs::Error::BucketNotEmpty("b".into()).into();
        assert_eq!((e.code, e.status), (S3ErrorCode::BucketNotEmpty, StatusCode::CONFLICT));
        let e: S3Error = ozfs::Error::InvalidName {
            kind: ozfs::error::NameKind::Bucket,
            name: "A".into(),
            rule: "x",
        }
        .into();
        assert_eq!(e.code, S3ErrorCode::InvalidBucketName);
        let e: S3Error = ozfs::Error::Backend {
            status: 404,
            code: "NoSuchKey".into(),
            message: "m".into(),
        }
        .into();
        assert_eq!((e.code, e.status), (S3ErrorCode::NoSuchKey, StatusCode::NOT_FOUND));
    }

    #[test]
    fn a_backend_error_never_goes_out_with_a_success_status() {
        for status in [200u16, 204, 301, 0, 1000] {
            let e: S3Error = ozfs::Error::Backend {
                status,
                code: "InternalError".into(),
                message: "m".into(),
            }
            .into();
            assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR, "{status}");
        }
        let e: S3Error = ozfs::Error::Backend {
            status: 503,
            code: "SlowDown".into(),
            message: "m".into(),
        }
        .into();
        assert_eq!(
            (e.code, e.status),
            (S3ErrorCode::SlowDown, StatusCode::SERVICE_UNAVAILABLE)
        );
    }

    #[test]
    fn every_code_reads_back_from_its_wire_name() {
        for &c in S3ErrorCode::ALL {
            assert_eq!(S3ErrorCode::from_wire(c.as_str()), Some(c));
        }
        assert_eq!(S3ErrorCode::SecretNotFound.as_str(), "S3_SECRET_NOT_FOUND");
        assert_eq!(S3ErrorCode::from_wire("NoSuchThing"), None);
    }

    #[test]
    fn maps_auth_errors_as_aws_does() {
        let cases = [
            (
                AuthError::MalformedHeader("x".into()),
                "AuthorizationHeaderMalformed",
                400,
            ),
            (
                AuthError::MalformedQuery("x".into()),
                "AuthorizationQueryParametersError",
                400,
            ),
            (AuthError::UnsupportedAlgorithm("x".into()), "InvalidArgument", 400),
            (AuthError::MultipleMechanisms, "InvalidArgument", 400),
            (AuthError::MissingDate, "AccessDenied", 403),
            (AuthError::InvalidDate("x".into()), "AccessDenied", 403),
            (AuthError::MissingContentSha256, "InvalidRequest", 400),
            (AuthError::InvalidContentSha256("x".into()), "InvalidArgument", 400),
            (AuthError::UnsupportedPayload("x".into()), "NotImplemented", 501),
            (
                AuthError::UnsignedHeaders(vec!["x-amz-meta-a".into()]),
                "AccessDenied",
                403,
            ),
            (
                AuthError::RequestTimeTooSkewed {
                    request_time: std::time::UNIX_EPOCH,
                    server_time: std::time::UNIX_EPOCH,
                },
                "RequestTimeTooSkewed",
                403,
            ),
            (
                AuthError::Expired {
                    expires: std::time::UNIX_EPOCH,
                    server_time: std::time::UNIX_EPOCH,
                },
                "AccessDenied",
                403,
            ),
            (AuthError::NotYetValid, "AccessDenied", 403),
            (
                AuthError::SignatureDoesNotMatch {
                    string_to_sign: String::new(),
                    canonical_request: String::new(),
                },
                "SignatureDoesNotMatch",
                403,
            ),
        ];
        for (e, code, status) in cases {
            let what = format!("{e:?}");
            let s3 = S3Error::from(e);
            assert_eq!((s3.code.as_str(), s3.status.as_u16()), (code, status), "{what}");
        }
    }

    #[test]
    fn maps_chunked_body_errors_as_aws_does() {
        use chunked::BodyError as B;
        let cases: [(B, &str, u16); 8] = [
            (B::Framing("x".into()), "InvalidArgument", 400),
            (B::Truncated, "IncompleteBody", 400),
            (B::LengthMismatch { expected: 1, got: 2 }, "IncompleteBody", 400),
            (B::MissingChunkSignature { chunk: 1 }, "SignatureDoesNotMatch", 403),
            (B::ChunkSignatureMismatch { chunk: 1 }, "SignatureDoesNotMatch", 403),
            (B::MissingTrailerSignature, "SignatureDoesNotMatch", 403),
            (B::TrailerSignatureMismatch, "SignatureDoesNotMatch", 403),
            (
                B::ContentSha256Mismatch {
                    expected: "a".into(),
                    computed: "b".into(),
                },
                "XAmzContentSHA256Mismatch",
                400,
            ),
        ];
        for (e, code, status) in cases {
            let what = format!("{e:?}");
            let s3: S3Error = ozfs::Error::from(e).into();
            assert_eq!((s3.code.as_str(), s3.status.as_u16()), (code, status), "{what}");
        }
        // A failing transport underneath the decoder: the underlying error's own mapping.
        let s3: S3Error = ozfs::Error::from(B::Transport(Box::new(ozfs::Error::InvalidRange))).into();
        assert_eq!(s3.code, S3ErrorCode::InvalidRange);
    }
}
