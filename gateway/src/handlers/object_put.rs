//! PutObject, and the request-body options shared with UploadPart: Content-MD5, declared
//! length, flexible checksums (header value, or an aws-chunked trailer announced by
//! `x-amz-trailer`), write conditions.
//!
//! The body streams from the socket through the payload decoder into the store; the store
//! computes MD5 (the ETag) and the declared checksum while writing and commits only a body that
//! ended cleanly and matched every check.

use super::{attrs_from_headers, checksum_headers, empty_response, quote, set_header, write_condition, Access, Ctx};
use crate::body::RespBody;
use crate::error::{S3Error, S3ErrorCode};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use http::{Response, StatusCode};
use ozfs::checksum::Algorithm;
use ozfs::{ByteStream, ChecksumSpec, PutOptions};
use std::sync::{Arc, OnceLock};

/// `Content-MD5` decoded (InvalidDigest when it is not base64 of 16 bytes).
pub fn content_md5(ctx: &Ctx) -> Result<Option<[u8; 16]>, S3Error> {
    let Some(v) = ctx.header("content-md5") else {
        return Ok(None);
    };
    let bytes = B64.decode(v.trim()).ok().and_then(|b| <[u8; 16]>::try_from(b).ok());
    match bytes {
        Some(b) => Ok(Some(b)),
        None => Err(S3Error::new(
            S3ErrorCode::InvalidDigest,
            "The Content-MD5 you specified was invalid.",
        )),
    }
}

/// The flexible checksum the client declared: an `x-amz-checksum-<alg>` header with its value,
/// or an algorithm whose value will arrive in the trailer (`x-amz-trailer`,
/// `x-amz-sdk-checksum-algorithm`).
pub fn declared_checksum(ctx: &Ctx) -> Result<Option<ChecksumSpec>, S3Error> {
    let mut found: Option<ChecksumSpec> = None;
    for (name, value) in ctx.headers.iter() {
        if let Some(alg) = Algorithm::from_header_name(name.as_str()) {
            if found.is_some() {
                return Err(S3Error::invalid_request("Expecting a single x-amz-checksum- header"));
            }
            let v = value
                .to_str()
                .ok()
                .filter(|v| alg.is_valid_encoded(v.trim()))
                .ok_or_else(|| S3Error::invalid_request(format!("Value for {} header is invalid.", name.as_str())))?;
            let cell = OnceLock::new();
            let _ = cell.set(v.trim().to_string());
            found = Some(ChecksumSpec {
                algorithm: alg,
                expected: Arc::new(cell),
            });
        }
    }
    if found.is_some() {
        return Ok(found);
    }
    let trailer_alg = ctx
        .header("x-amz-trailer")
        .and_then(|t| t.split(',').find_map(|n| Algorithm::from_header_name(n.trim())));
    let sdk_alg = ctx.header("x-amz-sdk-checksum-algorithm").map(|n| {
        Algorithm::from_name(n).ok_or_else(|| S3Error::invalid_request(format!("Unsupported checksum algorithm {n}")))
    });
    let alg = match (trailer_alg, sdk_alg) {
        (Some(a), _) => Some(a),
        (None, Some(r)) => Some(r?),
        (None, None) => None,
    };
    Ok(alg.map(|algorithm| ChecksumSpec {
        algorithm,
        expected: Arc::new(OnceLock::new()),
    }))
}

/// The length the decoded body must have: `x-amz-decoded-content-length` for aws-chunked
/// bodies, else `Content-Length` (absent with `Transfer-Encoding: chunked`).
pub fn expected_len(ctx: &Ctx, chunked: bool) -> Result<Option<u64>, S3Error> {
    let name = if chunked {
        "x-amz-decoded-content-length"
    } else {
        "content-length"
    };
    match ctx.header(name) {
        None if chunked => Err(S3Error::new(
            S3ErrorCode::MissingContentLength,
            "You must provide the x-amz-decoded-content-length HTTP header for an aws-chunked body.",
        )),
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| S3Error::invalid_argument(format!("invalid {name}"))),
    }
}

/// Body options common to PutObject and UploadPart, and the decoded body.
pub fn body_and_options(ctx: &Ctx, raw: ByteStream) -> Result<(ByteStream, PutOptions), S3Error> {
    let checksum = declared_checksum(ctx)?;
    let chunked = ctx.payload.is_chunked();
    let opts = PutOptions {
        content_md5: content_md5(ctx)?,
        expected_len: expected_len(ctx, chunked)?,
        checksum: checksum.clone(),
        ..Default::default()
    };
    let body = crate::body::decode_payload(raw, &ctx.payload, checksum, opts.expected_len);
    Ok((body, opts))
}

pub async fn put_object(ctx: &Ctx, raw: ByteStream) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Write).await?;
    let (body, mut opts) = body_and_options(ctx, raw)?;
    opts.attrs = attrs_from_headers(&ctx.headers)?;
    opts.condition = write_condition(&ctx.headers)?;
    opts.owner = Some(ctx.owner_name());
    let info = ctx
        .state
        .store
        .put_object(&ctx.bucket_path(), ctx.key_name(), body, opts)
        .await?;
    let mut r = empty_response(StatusCode::OK);
    set_header(r.headers_mut(), "etag", &quote(&info.etag));
    checksum_headers(r.headers_mut(), &info.attrs.checksums);
    Ok(r)
}
