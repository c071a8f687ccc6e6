//! Object tagging: GetObjectTagging (TagSet sorted by key; empty when untagged),
//! PutObjectTagging (replaces the set), DeleteObjectTagging (204), and the `x-amz-tagging`
//! header form used by PutObject/CreateMultipartUpload/CopyObject. Validation as S3: at most 10
//! tags, keys 1..=128 characters not starting `aws:`, values at most 256, no duplicates
//! (InvalidTag); bad XML is MalformedXML.

use super::{empty_response, xml_response, Access, Ctx};
use crate::body::RespBody;
use crate::error::S3Error;
use crate::xml::XmlWriter;
use http::{Response, StatusCode};
use ozfs::ByteStream;
use std::collections::BTreeMap;

/// Most tags on one object.
pub const MAX_TAGS: usize = 10;

fn invalid_tag(m: impl Into<String>) -> S3Error {
    S3Error::new("InvalidTag", StatusCode::BAD_REQUEST, m)
}

/// Validate and collect tags (duplicates rejected).
pub fn validate_tags(pairs: Vec<(String, String)>) -> Result<BTreeMap<String, String>, S3Error> {
    if pairs.len() > MAX_TAGS {
        return Err(invalid_tag("Object tags cannot be greater than 10"));
    }
    let mut out = BTreeMap::new();
    for (k, v) in pairs {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(invalid_tag("The TagKey you have provided is invalid"));
        }
        if v.chars().count() > 256 {
            return Err(invalid_tag("The TagValue you have provided is invalid"));
        }
        if k.starts_with("aws:") {
            return Err(invalid_tag("Your TagKey cannot be prefixed with aws:"));
        }
        if out.insert(k, v).is_some() {
            return Err(invalid_tag("Cannot provide multiple Tags with the same key"));
        }
    }
    Ok(out)
}

/// Parse the URL-query-encoded `x-amz-tagging` header (`k` without `=` is an empty value).
pub fn parse_tagging_header(v: &str) -> Result<BTreeMap<String, String>, S3Error> {
    let q = crate::router::Query::parse(Some(v))?;
    validate_tags(q.pairs)
}

/// Parse a `<Tagging><TagSet><Tag><Key/><Value/></Tag>...` document.
pub fn parse_tagging_xml(doc: &[u8]) -> Result<BTreeMap<String, String>, S3Error> {
    let root = crate::xml::parse(doc).map_err(|_| S3Error::malformed_xml())?;
    if root.name != "Tagging" {
        return Err(S3Error::malformed_xml());
    }
    let set = root.child("TagSet").ok_or_else(S3Error::malformed_xml)?;
    let mut pairs = Vec::new();
    for t in set.children_named("Tag") {
        let k = t.child_text("Key").ok_or_else(S3Error::malformed_xml)?;
        let v = t.child_text("Value").ok_or_else(S3Error::malformed_xml)?;
        pairs.push((k.to_string(), v.to_string()));
    }
    validate_tags(pairs)
}

async fn head(ctx: &Ctx) -> Result<ozfs::ObjectInfo, S3Error> {
    let key = ctx.key_name();
    ctx.state
        .store
        .head_object(&ctx.bucket_path(), key)
        .await
        .map_err(|e| match e {
            ozfs::Error::NoSuchKey(_) => S3Error::no_such_key(key),
            e => S3Error::from(e),
        })
}

pub async fn get(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Read).await?;
    let info = head(ctx).await?;
    let mut w = XmlWriter::new();
    w.start_ns("Tagging").start("TagSet");
    for (k, v) in &info.attrs.tags {
        w.start("Tag").elem("Key", k).elem("Value", v).end();
    }
    w.end();
    Ok(xml_response(StatusCode::OK, w.finish()))
}

async fn set(ctx: &Ctx, tags: BTreeMap<String, String>) -> Result<(), S3Error> {
    let info = head(ctx).await?;
    let mut attrs = info.attrs;
    attrs.tags = tags;
    ctx.state
        .store
        .set_attrs(&ctx.bucket_path(), ctx.key_name(), attrs)
        .await
        .map_err(|e| match e {
            ozfs::Error::NoSuchKey(_) => S3Error::no_such_key(ctx.key_name()),
            e => S3Error::from(e),
        })?;
    Ok(())
}

pub async fn put(ctx: &Ctx, raw: ByteStream) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Write).await?;
    let body = crate::body::decode_payload(raw, &ctx.payload, None, crate::body::decoded_length(&ctx.headers));
    let doc = crate::body::read_small(body, 64 * 1024).await?;
    let tags = parse_tagging_xml(&doc)?;
    set(ctx, tags).await?;
    Ok(empty_response(StatusCode::OK))
}

pub async fn delete(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Write).await?;
    set(ctx, BTreeMap::new()).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_rules() {
        assert_eq!(
            parse_tagging_header("a=1&b").unwrap().get("b").map(String::as_str),
            Some("")
        );
        assert_eq!(parse_tagging_header("a=1&a=2").unwrap_err().code, "InvalidTag");
        let eleven: String = (0..11).map(|i| format!("k{i}=v&")).collect();
        assert_eq!(parse_tagging_header(&eleven).unwrap_err().code, "InvalidTag");
        let long = format!("{}=v", "k".repeat(129));
        assert_eq!(parse_tagging_header(&long).unwrap_err().code, "InvalidTag");
        let doc = b"<Tagging><TagSet><Tag><Key>x</Key><Value>1</Value></Tag></TagSet></Tagging>";
        assert_eq!(parse_tagging_xml(doc).unwrap().len(), 1);
        assert_eq!(parse_tagging_xml(b"<Tagging>").unwrap_err().code, "MalformedXML");
    }
}
