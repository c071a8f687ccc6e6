//! S3 errors: an S3 error code, an HTTP status and a message, rendered as the XML body S3
//! clients parse (`<Error><Code/><Message/><Resource/><RequestId/></Error>`).
//!
//! Core errors arrive as [`ozfs::Error`] and are mapped by one exhaustive `match` (no catch-all
//! arm: a new core variant must be given an S3 meaning here). Request-body failures
//! ([`ozfs::Error::Body`]) carry the error of whoever produced the body; we downcast it to the
//! gateway's own body errors and to the sigv4 module's errors to answer with the precise code
//! (a bad chunk signature is `SignatureDoesNotMatch`, a slow client `RequestTimeout`, ...).

use http::StatusCode;
use std::fmt;

/// An S3 error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    pub code: &'static str,
    pub status: StatusCode,
    pub message: String,
    /// The resource the error is about (defaults to the request path when rendered).
    pub resource: Option<String>,
}

impl S3Error {
    pub fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        S3Error {
            code,
            status,
            message: message.into(),
            resource: None,
        }
    }

    /// Attach the resource the error is about.
    pub fn with_resource(mut self, r: impl Into<String>) -> Self {
        self.resource = Some(r.into());
        self
    }

    pub fn invalid_argument(m: impl Into<String>) -> Self {
        Self::new("InvalidArgument", StatusCode::BAD_REQUEST, m)
    }
    pub fn invalid_request(m: impl Into<String>) -> Self {
        Self::new("InvalidRequest", StatusCode::BAD_REQUEST, m)
    }
    pub fn malformed_xml() -> Self {
        Self::new(
            "MalformedXML",
            StatusCode::BAD_REQUEST,
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
    }
    pub fn not_implemented(m: impl Into<String>) -> Self {
        Self::new("NotImplemented", StatusCode::NOT_IMPLEMENTED, m)
    }
    pub fn access_denied() -> Self {
        Self::new("AccessDenied", StatusCode::FORBIDDEN, "Access Denied")
    }
    pub fn no_such_bucket(b: &str) -> Self {
        Self::new(
            "NoSuchBucket",
            StatusCode::NOT_FOUND,
            "The specified bucket does not exist",
        )
        .with_resource(b)
    }
    pub fn no_such_key(k: &str) -> Self {
        Self::new("NoSuchKey", StatusCode::NOT_FOUND, "The specified key does not exist.").with_resource(k)
    }
    pub fn precondition_failed() -> Self {
        Self::new(
            "PreconditionFailed",
            StatusCode::PRECONDITION_FAILED,
            "At least one of the pre-conditions you specified did not hold",
        )
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new("InternalError", StatusCode::INTERNAL_SERVER_ERROR, m)
    }

    /// The XML body.
    pub fn to_xml(&self, default_resource: &str, request_id: &str) -> Vec<u8> {
        let mut w = crate::xml::XmlWriter::new();
        w.start("Error")
            .elem("Code", self.code)
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
            E::NoSuchUpload(u) => S3Error::new(
                "NoSuchUpload",
                StatusCode::NOT_FOUND,
                "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
            )
            .with_resource(u),
            // Volumes are not an S3 concept; only the admin path can get here.
            E::VolumeAlreadyExists(_) => S3Error::new("Conflict", StatusCode::CONFLICT, msg),
            // The create-bucket handler turns this into BucketAlreadyOwnedByYou for the owner.
            E::BucketAlreadyExists { name, .. } => S3Error::new(
                "BucketAlreadyExists",
                StatusCode::CONFLICT,
                "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
            )
            .with_resource(name),
            E::VolumeNotEmpty(_) => S3Error::new("Conflict", StatusCode::CONFLICT, msg),
            E::BucketNotEmpty(b) => S3Error::new(
                "BucketNotEmpty",
                StatusCode::CONFLICT,
                "The bucket you tried to delete is not empty",
            )
            .with_resource(b),
            E::InvalidName {
                kind: NameKind::Bucket, ..
            } => S3Error::new("InvalidBucketName", StatusCode::BAD_REQUEST, msg),
            E::InvalidName {
                kind: NameKind::Volume, ..
            } => S3Error::invalid_argument(msg),
            E::KeyTooLong { .. } => S3Error::new("KeyTooLongError", StatusCode::BAD_REQUEST, "Your key is too long"),
            E::InvalidKey { .. } => S3Error::invalid_argument(msg),
            // Ozone answers a link loop with 500; a 5xx makes clients retry forever, and the
            // loop is a configuration error the user must see, so: 400 with a clear message.
            E::LinkLoop(_) => S3Error::invalid_request(msg),
            E::NotSupportedOnLink(_) => S3Error::not_implemented(msg),
            E::PreconditionFailed => S3Error::precondition_failed(),
            E::WriteConflict(_) => S3Error::new("ConditionalRequestConflict", StatusCode::CONFLICT, msg),
            E::BadDigest => S3Error::new(
                "BadDigest",
                StatusCode::BAD_REQUEST,
                "The Content-MD5 you specified did not match what we received.",
            ),
            E::ChecksumMismatch { algorithm } => S3Error::new(
                "BadDigest",
                StatusCode::BAD_REQUEST,
                format!("The {algorithm} you specified did not match the calculated checksum."),
            ),
            E::IncompleteBody { .. } => S3Error::new("IncompleteBody", StatusCode::BAD_REQUEST, msg),
            E::InvalidPart(_) => S3Error::new("InvalidPart", StatusCode::BAD_REQUEST, msg),
            E::InvalidPartOrder => S3Error::new("InvalidPartOrder", StatusCode::BAD_REQUEST, msg),
            E::EntityTooSmall { .. } => S3Error::new(
                "EntityTooSmall",
                StatusCode::BAD_REQUEST,
                "Your proposed upload is smaller than the minimum allowed object size.",
            ),
            E::InvalidRange => S3Error::new(
                "InvalidRange",
                StatusCode::RANGE_NOT_SATISFIABLE,
                "The requested range is not satisfiable",
            ),
            E::InvalidPartNumber { .. } => S3Error::new(
                "InvalidPartNumber",
                StatusCode::RANGE_NOT_SATISFIABLE,
                "The requested partnumber is not satisfiable",
            ),
            E::InvalidArgument(m) => S3Error::invalid_argument(m),
            E::AccessDenied(m) => S3Error::new("AccessDenied", StatusCode::FORBIDDEN, m),
            E::NotSupported(m) => S3Error::not_implemented(m),
            // No S3 code for a full disk; 507 tells clients it is the server's storage.
            E::NoSpace => S3Error::new("InsufficientStorage", StatusCode::INSUFFICIENT_STORAGE, msg),
            E::SecretAlreadyExists(_) => S3Error::new("S3_SECRET_ALREADY_EXISTS", StatusCode::BAD_REQUEST, msg),
            E::SecretNotFound(_) => S3Error::new("S3_SECRET_NOT_FOUND", StatusCode::NOT_FOUND, msg),
            // A concurrent overwrite during a read: retryable.
            E::ObjectChanged(_) => S3Error::new("SlowDown", StatusCode::SERVICE_UNAVAILABLE, msg),
            E::Body(src) => crate::body::body_error_to_s3(src),
            E::Backend { status, code, message } => {
                // The remote's error status, but never a success or redirect one: a backend
                // failure that came with a 2xx (an `<Error>` body on a 200) or an odd status is a
                // 500 (what AWS itself answers for such an InternalError), never passed as OK.
                let status = StatusCode::from_u16(status)
                    .ok()
                    .filter(|s| s.is_client_error() || s.is_server_error())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                S3Error::new(backend_code(&code), status, message)
            }
            E::Storage { .. } | E::Io(_) => S3Error::internal(msg),
        }
    }
}

/// Error codes are `&'static str`; a remote backend's code is matched against the ones we know.
fn backend_code(code: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "AccessDenied",
        "BadDigest",
        "BucketAlreadyExists",
        "BucketAlreadyOwnedByYou",
        "BucketNotEmpty",
        "EntityTooSmall",
        "IncompleteBody",
        "InvalidAccessKeyId",
        "InvalidArgument",
        "InvalidBucketName",
        "InvalidPart",
        "InvalidPartOrder",
        "InvalidPartNumber",
        "InvalidRange",
        "InvalidRequest",
        "MalformedXML",
        "NoSuchBucket",
        "NoSuchKey",
        "NoSuchUpload",
        "NotImplemented",
        "PreconditionFailed",
        "RequestTimeTooSkewed",
        "ServiceUnavailable",
        "SignatureDoesNotMatch",
        "SlowDown",
    ];
    KNOWN.iter().find(|k| **k == code).copied().unwrap_or("InternalError")
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
        assert_eq!((e.code, e.status), ("BucketNotEmpty", StatusCode::CONFLICT));
        let e: S3Error = ozfs::Error::InvalidName {
            kind: ozfs::error::NameKind::Bucket,
            name: "A".into(),
            rule: "x",
        }
        .into();
        assert_eq!(e.code, "InvalidBucketName");
        let e: S3Error = ozfs::Error::Backend {
            status: 404,
            code: "NoSuchKey".into(),
            message: "m".into(),
        }
        .into();
        assert_eq!((e.code, e.status), ("NoSuchKey", StatusCode::NOT_FOUND));
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
        assert_eq!((e.code, e.status), ("SlowDown", StatusCode::SERVICE_UNAVAILABLE));
    }
}
