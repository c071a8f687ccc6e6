//! Bucket tagging: GetBucketTagging (the TagSet sorted by key; 404 NoSuchTagSet when the bucket
//! has none), PutBucketTagging (replaces the set; at most 50 tags, the object-tag rules
//! otherwise: InvalidTag / MalformedXML) and DeleteBucketTagging (204, also when there were
//! none). Tags are kept by the store ([`ozfs::BucketUpdate::Tags`]); on a link they belong to
//! the bucket it resolves to. As in S3, PUT needs Content-MD5 or a flexible checksum, and keys
//! and values may hold only letters, digits, white space and `+ - = . _ : / @` (AWS's tag
//! character set; Ozone's check is the same without `@`).

use super::tagging::{
    parse_tagging_xml, read_xml_body, render_tagging, require_integrity, MAX_BUCKET_TAGS, MAX_TAGGING_BODY,
};
use super::{config_bucket, empty_response, xml_response, Ctx};
use crate::body::RespBody;
use crate::error::{S3Error, S3ErrorCode};
use http::{Response, StatusCode};
use ozfs::{BucketUpdate, ByteStream};
use std::collections::BTreeMap;

fn allowed_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "+-=._:/@".contains(c)
}

/// AWS's character set for bucket tags.
pub fn check_characters(tags: &BTreeMap<String, String>) -> Result<(), S3Error> {
    for (k, v) in tags {
        if !k.chars().all(allowed_char) {
            return Err(S3Error::new(
                S3ErrorCode::InvalidTag,
                "The TagKey you have provided is invalid",
            ));
        }
        if !v.chars().all(allowed_char) {
            return Err(S3Error::new(
                S3ErrorCode::InvalidTag,
                "The TagValue you have provided is invalid",
            ));
        }
    }
    Ok(())
}

pub async fn get(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    let bucket = config_bucket(ctx).await?;
    let info = ctx.state.store.bucket_settings(&bucket).await?;
    if info.tags.is_empty() {
        return Err(S3Error::new(S3ErrorCode::NoSuchTagSet, "The TagSet does not exist")
            .with_resource(ctx.bucket_name().to_string()));
    }
    Ok(xml_response(StatusCode::OK, render_tagging(&info.tags)))
}

pub async fn put(ctx: &Ctx, raw: ByteStream) -> Result<Response<RespBody>, S3Error> {
    let bucket = config_bucket(ctx).await?;
    let body = read_xml_body(ctx, raw, MAX_TAGGING_BODY).await?;
    require_integrity(&body)?;
    let tags = parse_tagging_xml(&body.doc, MAX_BUCKET_TAGS)?;
    check_characters(&tags)?;
    ctx.state.store.update_bucket(&bucket, BucketUpdate::Tags(tags)).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub async fn delete(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    let bucket = config_bucket(ctx).await?;
    ctx.state
        .store
        .update_bucket(&bucket, BucketUpdate::Tags(BTreeMap::new()))
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_characters() {
        let set = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(check_characters(&set("team name_1", "a+b-c=d.e:f/g@h \u{e9}\u{4e2d}")).is_ok());
        assert_eq!(
            check_characters(&set("a*b", "v")).unwrap_err().code,
            S3ErrorCode::InvalidTag
        );
        assert_eq!(
            check_characters(&set("k", "v<")).unwrap_err().code,
            S3ErrorCode::InvalidTag
        );
        assert_eq!(
            check_characters(&set("k", "50%")).unwrap_err().code,
            S3ErrorCode::InvalidTag
        );
    }
}
