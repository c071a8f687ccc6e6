//! Object tagging: GetObjectTagging (TagSet sorted by key; empty when untagged),
//! PutObjectTagging (replaces the set), DeleteObjectTagging (204), and the `x-amz-tagging`
//! header form used by PutObject/CreateMultipartUpload/CopyObject. Validation as S3: at most 10
//! tags, keys 1..=128 characters not starting `aws:`, values at most 256, no duplicates
//! (InvalidTag); bad XML is MalformedXML. The tag-set parsing, validation and rendering here are
//! shared with bucket tagging (`bucket_tagging.rs`, at most 50 tags).

use super::{empty_response, xml_response, Access, Ctx};
use crate::body::RespBody;
use crate::error::{S3Error, S3ErrorCode};
use crate::xml::XmlWriter;
use http::{Response, StatusCode};
use ozfs::ByteStream;
use std::collections::BTreeMap;

/// Most tags on one object.
pub const MAX_TAGS: usize = 10;
/// Most tags on one bucket.
pub const MAX_BUCKET_TAGS: usize = 50;

fn invalid_tag(m: impl Into<String>) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidTag, m)
}

/// Validate and collect at most `max` tags (duplicates rejected).
pub fn validate_tags(pairs: Vec<(String, String)>, max: usize) -> Result<BTreeMap<String, String>, S3Error> {
    if pairs.len() > max {
        let what = if max == MAX_TAGS { "Object" } else { "Bucket" };
        return Err(invalid_tag(format!("{what} tags cannot be greater than {max}")));
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
    validate_tags(q.pairs, MAX_TAGS)
}

/// Parse a `<Tagging><TagSet><Tag><Key/><Value/></Tag>...` document of at most `max` tags.
pub fn parse_tagging_xml(doc: &[u8], max: usize) -> Result<BTreeMap<String, String>, S3Error> {
    let root = ozfs::xml::parse(doc).map_err(|_| S3Error::malformed_xml())?;
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
    validate_tags(pairs, max)
}

/// The `<Tagging><TagSet>…` document for a tag set (sorted by key).
pub fn render_tagging(tags: &BTreeMap<String, String>) -> Vec<u8> {
    let mut w = XmlWriter::new();
    w.start_ns("Tagging").start("TagSet");
    for (k, v) in tags {
        w.start("Tag").elem("Key", k).elem("Value", v).end();
    }
    w.end();
    w.finish()
}

/// Largest tagging document.
pub const MAX_TAGGING_BODY: usize = 64 * 1024;

/// A small XML request body of at most `limit` bytes, decoded as it was signed, with its integrity
/// headers checked: `Content-MD5` (BadDigest) and a flexible checksum given as a header or in
/// the aws-chunked trailer.
pub struct XmlBody {
    pub doc: Vec<u8>,
    /// The client sent Content-MD5 or a flexible checksum (which S3 requires for some
    /// configuration PUTs).
    pub integrity_checked: bool,
}

pub async fn read_xml_body(ctx: &Ctx, raw: ByteStream, limit: usize) -> Result<XmlBody, S3Error> {
    let md5 = super::object_put::content_md5(ctx)?;
    let checksum = super::object_put::declared_checksum(ctx)?;
    let body = crate::body::decode_payload(
        raw,
        &ctx.payload,
        checksum.clone(),
        crate::body::decoded_length(&ctx.headers),
    );
    let doc = crate::body::read_small(body, limit).await?;
    if let Some(want) = md5 {
        use md5::{Digest, Md5};
        if Md5::digest(&doc).as_slice() != want {
            return Err(ozfs::Error::BadDigest.into());
        }
    }
    if let Some(spec) = &checksum {
        if let Some(want) = spec.expected.get() {
            if spec.algorithm.checksum(&doc) != *want {
                return Err(ozfs::Error::ChecksumMismatch {
                    algorithm: spec.algorithm.s3_name().to_string(),
                }
                .into());
            }
        }
    }
    Ok(XmlBody {
        doc,
        integrity_checked: md5.is_some() || checksum.is_some(),
    })
}

/// S3's answer to a configuration PUT without Content-MD5 or a checksum.
pub fn require_integrity(body: &XmlBody) -> Result<(), S3Error> {
    if body.integrity_checked {
        return Ok(());
    }
    Err(S3Error::invalid_request(
        "Missing required header for this request: Content-MD5",
    ))
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
    Ok(xml_response(StatusCode::OK, render_tagging(&info.attrs.tags)))
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
    let body = read_xml_body(ctx, raw, MAX_TAGGING_BODY).await?;
    let tags = parse_tagging_xml(&body.doc, MAX_TAGS)?;
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
        assert_eq!(
            parse_tagging_header("a=1&a=2").unwrap_err().code,
            S3ErrorCode::InvalidTag
        );
        let eleven: String = (0..11).map(|i| format!("k{i}=v&")).collect();
        assert_eq!(parse_tagging_header(&eleven).unwrap_err().code, S3ErrorCode::InvalidTag);
        let long = format!("{}=v", "k".repeat(129));
        assert_eq!(parse_tagging_header(&long).unwrap_err().code, S3ErrorCode::InvalidTag);
        let doc = b"<Tagging><TagSet><Tag><Key>x</Key><Value>1</Value></Tag></TagSet></Tagging>";
        assert_eq!(parse_tagging_xml(doc, MAX_TAGS).unwrap().len(), 1);
        assert_eq!(
            parse_tagging_xml(b"<Tagging>", MAX_TAGS).unwrap_err().code,
            S3ErrorCode::MalformedXML
        );
        let set = |n: usize| {
            let tags: String = (0..n)
                .map(|i| format!("<Tag><Key>k{i}</Key><Value>v</Value></Tag>"))
                .collect();
            format!("<Tagging><TagSet>{tags}</TagSet></Tagging>")
        };
        assert_eq!(
            parse_tagging_xml(set(11).as_bytes(), MAX_TAGS).unwrap_err().code,
            S3ErrorCode::InvalidTag
        );
        assert_eq!(
            parse_tagging_xml(set(50).as_bytes(), MAX_BUCKET_TAGS).unwrap().len(),
            50
        );
        assert_eq!(
            parse_tagging_xml(set(51).as_bytes(), MAX_BUCKET_TAGS).unwrap_err().code,
            S3ErrorCode::InvalidTag
        );
        let tags = parse_tagging_xml(set(3).as_bytes(), MAX_TAGS).unwrap();
        assert_eq!(parse_tagging_xml(&render_tagging(&tags), MAX_TAGS).unwrap(), tags);
    }
}
