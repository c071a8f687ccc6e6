//! Multipart upload: CreateMultipartUpload, UploadPart, UploadPartCopy (with
//! `x-amz-copy-source-range`), CompleteMultipartUpload, AbortMultipartUpload, ListParts and
//! ListMultipartUploads.
//!
//! Rules (Ozone's, which are S3's): part numbers 1..=10000 (else InvalidArgument); a complete
//! request with no parts is MalformedXML; ordering, ETag and minimum-size rules are the store's
//! (InvalidPartOrder, InvalidPart, EntityTooSmall). The multipart ETag is AWS's (MD5 of the
//! binary part digests, `-N`). ListParts ETags are quoted, as AWS does (Ozone leaves them bare;
//! clients strip quotes either way).

use super::object_put::body_and_options;
use super::{
    attrs_from_headers, int_param, quote, set_header, unquote, write_condition, xml_response, Access, Ctx, OWNER_ID,
};
use crate::body::RespBody;
use crate::error::S3Error;
use crate::xml::XmlWriter;
use http::{Response, StatusCode};
use ozfs::store::MAX_PART_NUMBER;
use ozfs::{ByteStream, CompletedPart, PartCopy, PutOptions, UploadsRequest};

/// Largest CompleteMultipartUpload body (10000 parts).
const MAX_COMPLETE_BODY: usize = 4 * 1024 * 1024;

fn upload_id(ctx: &Ctx) -> Result<String, S3Error> {
    match ctx.query.get("uploadId") {
        Some(u) if !u.is_empty() => Ok(u.to_string()),
        _ => Err(ozfs::Error::NoSuchUpload(String::new()).into()),
    }
}

fn part_number(ctx: &Ctx) -> Result<u32, S3Error> {
    match ctx.query.get("partNumber").map(|p| p.trim().parse::<i64>()) {
        Some(Ok(n)) if (1..=MAX_PART_NUMBER as i64).contains(&n) => Ok(n as u32),
        _ => Err(S3Error::invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive",
        )),
    }
}

pub async fn create(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Write).await?;
    let attrs = attrs_from_headers(&ctx.headers)?;
    if let Some(alg) = ctx.header("x-amz-checksum-algorithm") {
        // Parts carry their own checksums (verified per part); the algorithm is only checked.
        ozfs::checksum::Algorithm::from_name(alg)
            .ok_or_else(|| S3Error::invalid_request(format!("Unsupported checksum algorithm {alg}")))?;
    }
    let opts = PutOptions {
        attrs,
        owner: Some(ctx.owner_name()),
        ..Default::default()
    };
    let id = ctx
        .state
        .store
        .create_multipart(&ctx.bucket_path(), ctx.key_name(), opts)
        .await?;
    let mut w = XmlWriter::new();
    w.start_ns("InitiateMultipartUploadResult")
        .elem("Bucket", ctx.bucket_name())
        .elem("Key", ctx.key_name())
        .elem("UploadId", &id)
        .end();
    let mut r = xml_response(StatusCode::OK, w.finish());
    if let Some(alg) = ctx.header("x-amz-checksum-algorithm") {
        set_header(r.headers_mut(), "x-amz-checksum-algorithm", &alg.to_ascii_uppercase());
    }
    Ok(r)
}

pub async fn upload_part(ctx: &Ctx, raw: ByteStream) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Write).await?;
    let n = part_number(ctx)?;
    let id = upload_id(ctx)?;
    let (body, opts) = body_and_options(ctx, raw)?;
    let part = ctx
        .state
        .store
        .upload_part(&ctx.bucket_path(), ctx.key_name(), &id, n, body, opts)
        .await?;
    let mut r = super::empty_response(StatusCode::OK);
    set_header(r.headers_mut(), "etag", &quote(&part.etag));
    super::checksum_headers(r.headers_mut(), &part.checksums);
    Ok(r)
}

/// `x-amz-copy-source-range: bytes=a-b` (both bounds required).
fn copy_range(ctx: &Ctx) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(v) = ctx.header("x-amz-copy-source-range") else {
        return Ok(None);
    };
    let bad = || {
        S3Error::invalid_argument("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
    };
    let r = v.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = r.split_once('-').ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    Ok(Some((a, b)))
}

pub async fn upload_part_copy(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Write).await?;
    let n = part_number(ctx)?;
    let id = upload_id(ctx)?;
    let (src_bucket, src_key) = super::copy::source(ctx).await?;
    let range = copy_range(ctx)?;
    let src = super::copy::check_source(ctx, &src_bucket, &src_key).await?;
    let src_range = match range {
        None => None,
        Some((a, b)) if a <= b && b < src.size => Some(a..b + 1),
        Some(_) => return Err(ozfs::Error::InvalidRange.into()),
    };
    let part = ctx
        .state
        .store
        .upload_part_copy(
            &ctx.bucket_path(),
            ctx.key_name(),
            PartCopy {
                upload_id: &id,
                part_number: n,
                src_bucket: &src_bucket,
                src_key: &src_key,
                src_range,
            },
        )
        .await?;
    let mut w = XmlWriter::new();
    w.start_ns("CopyPartResult")
        .elem("LastModified", &ozfs::time::iso8601(part.last_modified))
        .elem("ETag", &quote(&part.etag))
        .end();
    Ok(xml_response(StatusCode::OK, w.finish()))
}

/// Parse the CompleteMultipartUpload document.
pub fn parse_complete(doc: &[u8]) -> Result<Vec<CompletedPart>, S3Error> {
    if doc.iter().all(u8::is_ascii_whitespace) {
        return Err(S3Error::malformed_xml());
    }
    let root = ozfs::xml::parse(doc).map_err(|_| S3Error::malformed_xml())?;
    if root.name != "CompleteMultipartUpload" {
        return Err(S3Error::malformed_xml());
    }
    let mut parts = Vec::new();
    for p in root.children_named("Part") {
        let n = p
            .child_text("PartNumber")
            .and_then(|t| t.trim().parse::<u32>().ok())
            .ok_or_else(S3Error::malformed_xml)?;
        let etag = p.child_text("ETag").ok_or_else(S3Error::malformed_xml)?;
        parts.push(CompletedPart {
            part_number: n,
            etag: unquote(etag).to_string(),
        });
    }
    if parts.is_empty() {
        return Err(S3Error::malformed_xml());
    }
    Ok(parts)
}

pub async fn complete(ctx: &Ctx, raw: ByteStream) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Write).await?;
    let id = upload_id(ctx)?;
    let body = crate::body::decode_payload(raw, &ctx.payload, None, crate::body::decoded_length(&ctx.headers));
    let doc = crate::body::read_small(body, MAX_COMPLETE_BODY).await?;
    let parts = parse_complete(&doc)?;
    let info = ctx
        .state
        .store
        .complete_multipart(
            &ctx.bucket_path(),
            ctx.key_name(),
            &id,
            &parts,
            write_condition(&ctx.headers)?,
        )
        .await?;
    let mut w = XmlWriter::new();
    w.start_ns("CompleteMultipartUploadResult")
        .elem("Location", &format!("/{}/{}", ctx.bucket_name(), ctx.key_name()))
        .elem("Bucket", ctx.bucket_name())
        .elem("Key", ctx.key_name())
        .elem("ETag", &quote(&info.etag));
    for (alg, v) in &info.attrs.checksums {
        if !v.is_empty() {
            w.elem(&format!("Checksum{}", alg.to_ascii_uppercase()), v);
        }
    }
    w.end();
    Ok(xml_response(StatusCode::OK, w.finish()))
}

pub async fn abort(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Write).await?;
    let id = upload_id(ctx)?;
    ctx.state
        .store
        .abort_multipart(&ctx.bucket_path(), ctx.key_name(), &id)
        .await?;
    Ok(super::empty_response(StatusCode::NO_CONTENT))
}

pub async fn list_parts(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Read).await?;
    let id = upload_id(ctx)?;
    let max_parts = int_param(&ctx.query, "max-parts", 1000, 1000)?;
    let marker = int_param(&ctx.query, "part-number-marker", 0, MAX_PART_NUMBER as usize)? as u32;
    let page = ctx
        .state
        .store
        .list_parts(&ctx.bucket_path(), ctx.key_name(), &id, marker, max_parts)
        .await?;
    let owner = ctx.owner_name();
    let mut w = XmlWriter::new();
    w.start_ns("ListPartsResult")
        .elem("Bucket", ctx.bucket_name())
        .elem("Key", ctx.key_name())
        .elem("UploadId", &id)
        .start("Initiator")
        .elem("ID", OWNER_ID)
        .elem("DisplayName", &owner)
        .end()
        .start("Owner")
        .elem("ID", OWNER_ID)
        .elem("DisplayName", &owner)
        .end()
        .elem(
            "StorageClass",
            page.attrs.storage_class.as_deref().unwrap_or("STANDARD"),
        )
        .elem("PartNumberMarker", &marker.to_string());
    if let Some(n) = page.next_part_number_marker {
        w.elem("NextPartNumberMarker", &n.to_string());
    }
    w.elem("MaxParts", &max_parts.to_string())
        .elem("IsTruncated", if page.is_truncated { "true" } else { "false" });
    for p in &page.parts {
        w.start("Part")
            .elem("PartNumber", &p.part_number.to_string())
            .elem("LastModified", &ozfs::time::iso8601(p.last_modified))
            .elem("ETag", &quote(&p.etag))
            .elem("Size", &p.size.to_string());
        for (alg, v) in &p.checksums {
            w.elem(&format!("Checksum{}", alg.to_ascii_uppercase()), v);
        }
        w.end();
    }
    w.end();
    Ok(xml_response(StatusCode::OK, w.finish()))
}

pub async fn list_uploads(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Read).await?;
    let q = &ctx.query;
    let prefix = q.get("prefix").unwrap_or("");
    let max = int_param(q, "max-uploads", 1000, 1000)?;
    if q.get("max-uploads").is_some() && max < 1 {
        return Err(S3Error::invalid_argument("max-uploads must be at least 1"));
    }
    let key_marker = q.get("key-marker").filter(|s| !s.is_empty());
    let id_marker = q.get("upload-id-marker").filter(|s| !s.is_empty());
    let page = ctx
        .state
        .store
        .list_uploads(
            &ctx.bucket_path(),
            UploadsRequest {
                prefix,
                key_marker,
                upload_id_marker: id_marker,
                max_uploads: max,
            },
        )
        .await?;
    let mut w = XmlWriter::new();
    w.start_ns("ListMultipartUploadsResult")
        .elem("Bucket", ctx.bucket_name())
        .elem("KeyMarker", key_marker.unwrap_or(""))
        .elem("UploadIdMarker", id_marker.unwrap_or(""))
        .elem("Prefix", prefix)
        .elem("MaxUploads", &max.to_string())
        .elem("IsTruncated", if page.is_truncated { "true" } else { "false" });
    if let Some(k) = &page.next_key_marker {
        w.elem("NextKeyMarker", k);
    }
    if let Some(u) = &page.next_upload_id_marker {
        w.elem("NextUploadIdMarker", u);
    }
    for u in &page.uploads {
        w.start("Upload")
            .elem("Key", &u.key)
            .elem("UploadId", &u.upload_id)
            .start("Initiator")
            .elem("ID", OWNER_ID)
            .elem("DisplayName", &u.owner)
            .end()
            .start("Owner")
            .elem("ID", OWNER_ID)
            .elem("DisplayName", &u.owner)
            .end()
            .elem("StorageClass", u.storage_class.as_deref().unwrap_or("STANDARD"))
            .elem("Initiated", &ozfs::time::iso8601(u.initiated))
            .end();
    }
    w.end();
    Ok(xml_response(StatusCode::OK, w.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::S3ErrorCode;

    #[test]
    fn complete_document() {
        let doc = br#"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"abc"</ETag></Part><Part><ETag>def</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>"#;
        let p = parse_complete(doc).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].etag, "abc");
        assert_eq!(p[1].part_number, 2);
        assert_eq!(parse_complete(b"").unwrap_err().code, S3ErrorCode::MalformedXML);
        assert_eq!(
            parse_complete(b"<CompleteMultipartUpload/>").unwrap_err().code,
            S3ErrorCode::MalformedXML
        );
        assert_eq!(parse_complete(b"<x").unwrap_err().code, S3ErrorCode::MalformedXML);
    }
}
