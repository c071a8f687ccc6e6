//! S3 error responses → core [`Error`]s.
//!
//! An S3 error body is `<Error><Code>…</Code><Message>…</Message>…</Error>`. The mapping is by
//! code first (NoSuchBucket, NoSuchKey, NoSuchUpload, AccessDenied, BucketNotEmpty, …), then by
//! status for bodiless answers (HEAD, or servers that send none): 403 → AccessDenied, 404 → the
//! caller's idea of what was missing, 412 → PreconditionFailed, 416 → InvalidRange. Anything
//! else becomes [`Error::Backend`] with the status, code and message so nothing is lost.
//!
//! Also [`parse_answer`], how every XML answer is read: S3 may answer 200 with an `<Error>`
//! document (CopyObject, UploadPartCopy, CompleteMultipartUpload), and that is an error.

use crate::error::{Error, NameKind, Result};
use crate::xml::{self, Element, XmlError};

/// What the failed request was about, to name the missing thing in 404s.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub bucket: String,
    pub key: Option<String>,
    pub upload_id: Option<String>,
}

/// A parsed S3 error body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Error {
    pub code: String,
    pub message: String,
}

/// An answer the remote sent that is not readable XML (a 502 from the backend).
fn unreadable(e: XmlError) -> Error {
    Error::Backend {
        status: 502,
        code: "MalformedXML".into(),
        message: format!("remote sent unreadable XML: {e}"),
    }
}

/// Parse the XML answer of a successful request; an `<Error>` document in it (despite the 2xx
/// status) is the error it describes ([`error_in_success`]).
pub fn parse_answer(body: &[u8], ctx: &Context) -> Result<Element> {
    let root = xml::parse(body).map_err(unreadable)?;
    if root.name == "Error" {
        return Err(error_in_success(body, ctx));
    }
    Ok(root)
}

/// Parse an error body; `None` when it is empty or not an S3 error document.
pub fn parse(body: &[u8]) -> Option<S3Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let root = xml::parse(body).ok()?;
    if root.name != "Error" {
        return None;
    }
    Some(S3Error {
        code: root.child_text("Code").unwrap_or_default().to_string(),
        message: root.child_text("Message").unwrap_or_default().to_string(),
    })
}

fn missing(ctx: &Context) -> Error {
    match (&ctx.upload_id, &ctx.key) {
        (Some(id), _) => Error::NoSuchUpload(id.clone()),
        (None, Some(k)) => Error::NoSuchKey(k.clone()),
        (None, None) => Error::NoSuchBucket(ctx.bucket.clone()),
    }
}

/// Map a status and (maybe empty) error body to a core error.
pub fn to_error(status: u16, body: &[u8], ctx: &Context) -> Error {
    let parsed = parse(body);
    let (code, message) = match &parsed {
        Some(e) => (e.code.as_str(), e.message.as_str()),
        None => ("", ""),
    };
    let key = || ctx.key.clone().unwrap_or_default();
    match code {
        "NoSuchBucket" => Error::NoSuchBucket(ctx.bucket.clone()),
        "NoSuchKey" => Error::NoSuchKey(key()),
        "NoSuchUpload" => Error::NoSuchUpload(ctx.upload_id.clone().unwrap_or_default()),
        "BucketNotEmpty" => Error::BucketNotEmpty(ctx.bucket.clone()),
        "BucketAlreadyOwnedByYou" => Error::BucketAlreadyExists {
            name: ctx.bucket.clone(),
            owner: String::new(),
        },
        "BucketAlreadyExists" => Error::BucketAlreadyExists {
            name: ctx.bucket.clone(),
            owner: "another account".into(),
        },
        "InvalidBucketName" => Error::InvalidName {
            kind: NameKind::Bucket,
            name: ctx.bucket.clone(),
            rule: "rejected by the remote S3 endpoint",
        },
        "PreconditionFailed" => Error::PreconditionFailed,
        "InvalidRange" => Error::InvalidRange,
        "BadDigest" => Error::BadDigest,
        "InvalidPart" => Error::InvalidPart(message.to_string()),
        "InvalidPartOrder" => Error::InvalidPartOrder,
        "EntityTooSmall" => Error::EntityTooSmall { part: 0 },
        "IncompleteBody" => Error::IncompleteBody { expected: 0, got: 0 },
        "NotImplemented" => Error::NotSupported(format!("remote S3 endpoint: {message}")),
        _ => match status {
            403 => Error::AccessDenied(if code.is_empty() {
                "remote S3 endpoint answered 403 Forbidden".to_string()
            } else {
                format!("remote S3 endpoint: {code}: {message}")
            }),
            404 if code.is_empty() => missing(ctx),
            412 => Error::PreconditionFailed,
            416 => Error::InvalidRange,
            _ => Error::Backend {
                status,
                code: if code.is_empty() {
                    status_code_name(status).to_string()
                } else {
                    code.to_string()
                },
                message: message.to_string(),
            },
        },
    }
}

/// The HTTP status AWS answers with for an error code, for the codes a remote may put in an
/// `<Error>` body of a 2xx answer (CopyObject, UploadPartCopy, CompleteMultipartUpload).
pub fn code_status(code: &str) -> Option<u16> {
    Some(match code {
        "InternalError" => 500,
        "SlowDown" | "ServiceUnavailable" => 503,
        "RequestTimeout" | "IncompleteBody" | "BadDigest" | "InvalidPart" | "InvalidPartOrder" | "EntityTooSmall"
        | "InvalidArgument" | "InvalidRequest" | "MalformedXML" => 400,
        "AccessDenied" => 403,
        "NoSuchKey" | "NoSuchBucket" | "NoSuchUpload" => 404,
        "PreconditionFailed" => 412,
        "NotImplemented" => 501,
        _ => return None,
    })
}

/// Map an `<Error>` body that came with a 2xx status: never a success status, but the status
/// AWS gives the code inside (an unknown code is an InternalError, 500).
pub fn error_in_success(body: &[u8], ctx: &Context) -> Error {
    let code = parse(body).map(|e| e.code).unwrap_or_default();
    to_error(code_status(&code).unwrap_or(500), body, ctx)
}

fn status_code_name(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        500 => "InternalError",
        501 => "NotImplemented",
        503 => "ServiceUnavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            bucket: "b".into(),
            key: Some("k".into()),
            upload_id: None,
        }
    }

    #[test]
    fn maps_codes() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>gone</Message></Error>";
        assert!(matches!(to_error(404, body, &ctx()), Error::NoSuchKey(k) if k == "k"));
        let body = b"<Error><Code>AccessDenied</Code><Message>nope</Message></Error>";
        match to_error(403, body, &ctx()) {
            Error::AccessDenied(m) => assert!(m.contains("nope")),
            e => panic!("{e:?}"),
        }
        let body = b"<Error><Code>SlowDown</Code><Message>later</Message></Error>";
        match to_error(503, body, &ctx()) {
            Error::Backend { status, code, message } => {
                assert_eq!((status, code.as_str(), message.as_str()), (503, "SlowDown", "later"))
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn bodiless_statuses() {
        assert!(matches!(to_error(404, b"", &ctx()), Error::NoSuchKey(_)));
        let c = Context {
            bucket: "b".into(),
            ..Context::default()
        };
        assert!(matches!(to_error(404, b"", &c), Error::NoSuchBucket(_)));
        assert!(matches!(to_error(403, b"", &c), Error::AccessDenied(_)));
        assert!(matches!(to_error(412, b"", &c), Error::PreconditionFailed));
        assert!(matches!(
            to_error(500, b"not xml", &c),
            Error::Backend { status: 500, .. }
        ));
    }

    #[test]
    fn an_error_body_on_a_success_status_never_keeps_the_success_status() {
        let body = b"<Error><Code>InternalError</Code><Message>We encountered an internal error</Message></Error>";
        assert!(
            matches!(error_in_success(body, &ctx()), Error::Backend { status: 500, ref code, .. } if code == "InternalError")
        );
        let body = b"<Error><Code>SlowDown</Code><Message>m</Message></Error>";
        assert!(matches!(
            error_in_success(body, &ctx()),
            Error::Backend { status: 503, .. }
        ));
        let body = b"<Error><Code>SomethingNew</Code><Message>m</Message></Error>";
        assert!(
            matches!(error_in_success(body, &ctx()), Error::Backend { status: 500, ref code, .. } if code == "SomethingNew")
        );
        let body = b"<Error><Code>NoSuchUpload</Code></Error>";
        assert!(matches!(error_in_success(body, &ctx()), Error::NoSuchUpload(_)));
        let body = b"<Error><Code>AccessDenied</Code></Error>";
        assert!(matches!(error_in_success(body, &ctx()), Error::AccessDenied(_)));
    }

    #[test]
    fn answers_are_read_strictly_and_an_error_document_is_an_error() {
        let root = parse_answer(
            b"<InitiateMultipartUploadResult><UploadId>u</UploadId></InitiateMultipartUploadResult>",
            &ctx(),
        )
        .unwrap();
        assert_eq!(root.child_text("UploadId"), Some("u"));
        for junk in [&b"<a><b></a>"[..], b"", b"<a/><b/>", b"<html>"] {
            assert!(
                matches!(parse_answer(junk, &ctx()), Err(Error::Backend { status: 502, ref code, .. }) if code == "MalformedXML"),
                "{:?}",
                String::from_utf8_lossy(junk)
            );
        }
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(matches!(
            parse_answer(deep.as_bytes(), &ctx()),
            Err(Error::Backend { status: 502, .. })
        ));
        let body = b"<Error><Code>NoSuchKey</Code></Error>";
        assert!(matches!(parse_answer(body, &ctx()), Err(Error::NoSuchKey(_))));
    }
}
