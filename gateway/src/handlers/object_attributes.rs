//! GetObjectAttributes (`GET /bucket/key?attributes`): the attributes named in
//! `x-amz-object-attributes` (`ETag`, `Checksum`, `ObjectParts`, `StorageClass`, `ObjectSize`,
//! case-insensitive, comma-separated; none or an unknown name is InvalidArgument), in AWS's
//! `GetObjectAttributesResponse` shape, with `Last-Modified`. `ObjectParts` (only for a
//! multipart object, as AWS) pages with `x-amz-max-parts` / `x-amz-part-number-marker` (the
//! query parameters `max-parts` / `part-number-marker` are read too) and lists each part's
//! number and size. The ETag is unquoted, as AWS sends it here.

use super::{int_param, set_header, xml_response, Access, Ctx};
use crate::body::RespBody;
use crate::error::S3Error;
use crate::router::Query;
use crate::xml::XmlWriter;
use http::{Response, StatusCode};
use ozfs::store::MAX_PART_NUMBER;

/// Which attributes the client asked for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub etag: bool,
    pub checksum: bool,
    pub parts: bool,
    pub storage_class: bool,
    pub size: bool,
}

/// Parse `x-amz-object-attributes` (the header may be repeated: pass every value).
pub fn parse_wanted<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Wanted, S3Error> {
    let mut w = Wanted::default();
    let mut any = false;
    for v in values {
        for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            any = true;
            match name.to_ascii_lowercase().as_str() {
                "etag" => w.etag = true,
                "checksum" => w.checksum = true,
                "objectparts" => w.parts = true,
                "storageclass" => w.storage_class = true,
                "objectsize" => w.size = true,
                _ => return Err(S3Error::invalid_argument("Invalid attribute name specified.")),
            }
        }
    }
    if !any {
        return Err(S3Error::invalid_argument(
            "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
        ));
    }
    Ok(w)
}

/// A paging value from its header, else the query parameter of the same name.
fn paging(ctx: &Ctx, name: &str, default: usize, cap: usize) -> Result<usize, S3Error> {
    match ctx.header(&format!("x-amz-{name}")) {
        Some(v) => {
            let q = Query {
                pairs: vec![(name.to_string(), v.to_string())],
            };
            int_param(&q, name, default, cap)
        }
        None => int_param(&ctx.query, name, default, cap),
    }
}

pub async fn get(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Read).await?;
    let wanted = parse_wanted(
        ctx.headers
            .get_all("x-amz-object-attributes")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )?;
    let max_parts = paging(ctx, "max-parts", 1000, 1000)?;
    let marker = paging(ctx, "part-number-marker", 0, MAX_PART_NUMBER as usize)?;
    let key = ctx.key_name();
    let info = ctx
        .state
        .store
        .head_object(&ctx.bucket_path(), key)
        .await
        .map_err(|e| match e {
            ozfs::Error::NoSuchKey(_) => S3Error::no_such_key(key),
            e => S3Error::from(e),
        })?;
    let mut w = XmlWriter::new();
    w.start_ns("GetObjectAttributesResponse");
    if wanted.etag {
        w.elem("ETag", &info.etag);
    }
    if wanted.checksum && !info.attrs.checksums.is_empty() {
        w.start("Checksum");
        let mut composite = false;
        for (alg, v) in &info.attrs.checksums {
            let el = ozfs::checksum::Algorithm::from_name(alg)
                .map(|a| a.xml_element().to_string())
                .unwrap_or_else(|| format!("Checksum{}", alg.to_ascii_uppercase()));
            w.elem(&el, v);
            composite |= v.contains('-');
        }
        w.elem("ChecksumType", if composite { "COMPOSITE" } else { "FULL_OBJECT" });
        w.end();
    }
    if wanted.parts && !info.parts.is_empty() {
        let total = info.parts.len();
        let from = marker.min(total);
        let to = from.saturating_add(max_parts).min(total);
        let truncated = to < total;
        w.start("ObjectParts")
            .elem("PartsCount", &total.to_string())
            .elem("PartNumberMarker", &marker.to_string());
        if truncated {
            w.elem("NextPartNumberMarker", &to.to_string());
        }
        w.elem("MaxParts", &max_parts.to_string())
            .elem("IsTruncated", if truncated { "true" } else { "false" });
        for (i, size) in info.parts.iter().enumerate().take(to).skip(from) {
            w.start("Part")
                .elem("PartNumber", &(i + 1).to_string())
                .elem("Size", &size.to_string())
                .end();
        }
        w.end();
    }
    if wanted.storage_class {
        w.elem(
            "StorageClass",
            info.attrs.storage_class.as_deref().unwrap_or("STANDARD"),
        );
    }
    if wanted.size {
        w.elem("ObjectSize", &info.size.to_string());
    }
    w.end();
    let mut resp = xml_response(StatusCode::OK, w.finish());
    set_header(
        resp.headers_mut(),
        "last-modified",
        &ozfs::time::rfc1123(info.last_modified),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::S3ErrorCode;

    #[test]
    fn attribute_names() {
        let w = parse_wanted(["ETag, objectsize", "StorageClass"]).unwrap();
        assert!(w.etag && w.size && w.storage_class && !w.parts && !w.checksum);
        assert_eq!(
            parse_wanted(["ETag,Bogus"]).unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(parse_wanted([" , "]).unwrap_err().code, S3ErrorCode::InvalidArgument);
        assert_eq!(
            parse_wanted(std::iter::empty()).unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
    }
}
