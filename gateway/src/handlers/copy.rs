//! CopyObject: server-side copy with `x-amz-metadata-directive` / `x-amz-tagging-directive`
//! (COPY or REPLACE), source conditions (`x-amz-copy-source-if-*`, failing with 412 — never 304)
//! and destination conditions (`If-None-Match: *`, `If-Match`). Copying an object onto itself
//! without REPLACE is InvalidRequest, as in S3. Also the shared source-condition check used by
//! UploadPartCopy.

use super::{attrs_from_headers, parse_copy_source, quote, unquote, write_condition, xml_response, Access, Ctx};
use crate::body::RespBody;
use crate::error::S3Error;
use crate::xml::XmlWriter;
use http::{Response, StatusCode};
use ozfs::{BucketPath, CopyOptions, ObjectInfo};

fn directive(ctx: &Ctx, name: &str) -> Result<bool, S3Error> {
    match ctx.header(name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("COPY") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("REPLACE") => Ok(true),
        Some(v) => Err(S3Error::invalid_argument(format!("Unknown {name} value: {v}"))),
    }
}

/// The copy source named by the request, access-checked.
pub async fn source(ctx: &Ctx) -> Result<(BucketPath, String), S3Error> {
    let v = ctx
        .header("x-amz-copy-source")
        .ok_or_else(|| S3Error::invalid_argument("missing x-amz-copy-source"))?;
    let (b, k) = parse_copy_source(v)?;
    ozfs::namespace::name::validate_resource_name(ozfs::error::NameKind::Bucket, &b).map_err(S3Error::from)?;
    let bp = BucketPath::new(ctx.state.cfg.s3_volume.clone(), b);
    let expected = ctx.header("x-amz-source-expected-bucket-owner").map(str::to_string);
    ctx.check_named_bucket(&bp, Access::Read, expected.as_deref()).await?;
    Ok((bp, k))
}

/// Look the source up and check `x-amz-copy-source-if-*` (412 on failure).
pub async fn check_source(ctx: &Ctx, bucket: &BucketPath, key: &str) -> Result<ObjectInfo, S3Error> {
    let info = ctx.state.store.head_object(bucket, key).await.map_err(|e| match e {
        ozfs::Error::NoSuchKey(_) => S3Error::no_such_key(key),
        e => S3Error::from(e),
    })?;
    let get = |n: &str| ctx.header(n);
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    let lm = secs(info.last_modified);
    let matches = |list: &str| list.split(',').map(unquote).any(|e| e == "*" || e == info.etag);
    let mut fail = false;
    if let Some(m) = get("x-amz-copy-source-if-match") {
        fail |= !matches(m);
    } else if let Some(t) = get("x-amz-copy-source-if-unmodified-since").and_then(ozfs::time::parse_http_date) {
        fail |= lm > secs(t);
    }
    if let Some(m) = get("x-amz-copy-source-if-none-match") {
        fail |= matches(m);
    } else if let Some(t) = get("x-amz-copy-source-if-modified-since").and_then(ozfs::time::parse_http_date) {
        // A date in the future is ignored, as S3 does.
        if t <= std::time::SystemTime::now() {
            fail |= lm <= secs(t);
        }
    }
    if fail {
        return Err(S3Error::precondition_failed());
    }
    Ok(info)
}

pub async fn copy_object(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Write).await?;
    let (src_bucket, src_key) = source(ctx).await?;
    let replace_meta = directive(ctx, "x-amz-metadata-directive")?;
    let replace_tags = directive(ctx, "x-amz-tagging-directive")?;
    let dst = ctx.bucket_path();
    let src = check_source(ctx, &src_bucket, &src_key).await?;
    let same = src_bucket == dst && src_key == ctx.key_name();
    if same && !replace_meta && !replace_tags && ctx.header("x-amz-storage-class").is_none() {
        return Err(S3Error::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let req_attrs = attrs_from_headers(&ctx.headers)?;
    let tags = if replace_tags {
        req_attrs.tags.clone()
    } else {
        src.attrs.tags.clone()
    };
    // The copy's ACL is the request's (private without ACL headers), never the source's, as in
    // AWS. With the COPY directive that means replacing the source's attributes when either
    // side has grants.
    let acl_differs = !src.attrs.acl.is_empty() || !req_attrs.acl.is_empty();
    let attrs = if replace_meta {
        // REPLACE: the request's attributes, with the tags the tagging directive chose.
        Some(ozfs::ObjectAttrs {
            tags: tags.clone(),
            ..req_attrs.clone()
        })
    } else if acl_differs {
        Some(ozfs::ObjectAttrs {
            tags: tags.clone(),
            acl: req_attrs.acl.clone(),
            ..src.attrs.clone()
        })
    } else {
        None
    };
    let opts = CopyOptions {
        // COPY metadata but REPLACE tags.
        tags: (attrs.is_none() && replace_tags).then_some(tags),
        attrs,
        condition: write_condition(&ctx.headers)?,
        source_range: None,
        owner: Some(ctx.owner_name()),
    };
    let info = ctx
        .state
        .store
        .copy_object(&src_bucket, &src_key, &dst, ctx.key_name(), opts)
        .await?;
    let mut w = XmlWriter::new();
    w.start_ns("CopyObjectResult")
        .elem("LastModified", &ozfs::time::iso8601(info.last_modified))
        .elem("ETag", &quote(&info.etag));
    for (alg, v) in &info.attrs.checksums {
        w.elem(&format!("Checksum{}", alg.to_ascii_uppercase()), v);
    }
    w.end();
    Ok(xml_response(StatusCode::OK, w.finish()))
}
