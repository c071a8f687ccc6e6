//! Bucket CRUD: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation.
//!
//! Buckets are the buckets (and bucket links) of the S3 volume. With security on, ListBuckets
//! shows the buckets the requester owns or holds a grant on; with it off, all of them.
//! CreateBucket records the ACL its `x-amz-acl` / `x-amz-grant-*` headers give (AWS; Ozone
//! ignores them).

use super::{allowed, empty_response, xml_response, Access, Ctx, OWNER_ID};
use crate::body::RespBody;
use crate::error::{S3Error, S3ErrorCode};
use crate::xml::XmlWriter;
use http::{HeaderValue, Response, StatusCode};

/// Most buckets in one ListBuckets page (AWS's `max-buckets` range is 1..=10000).
const MAX_BUCKETS: i64 = 10_000;

/// ListBuckets, paged as AWS pages it: `max-buckets` (1..=10000, else InvalidArgument),
/// `continuation-token` (answered with `ContinuationToken` while more buckets remain; the same
/// tamper-checked token as ListObjectsV2), `prefix` (echoed as `Prefix`), and `bucket-region`
/// (every bucket is in the region the request was signed for, so another region lists none).
pub async fn list_buckets(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    let q = &ctx.query;
    let max = match q.get("max-buckets") {
        None => MAX_BUCKETS as usize,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if (1..=MAX_BUCKETS).contains(&n) => n as usize,
            _ => {
                return Err(S3Error::invalid_argument(
                    "Argument max-buckets must be an integer between 1 and 10000",
                ))
            }
        },
    };
    let after = match q.get("continuation-token") {
        None | Some("") => None,
        Some(t) => Some(super::list::decode_token(t)?),
    };
    let prefix = q.get("prefix").unwrap_or("");
    let region_matches = q.get("bucket-region").is_none_or(|r| r == region(ctx));
    let vol = &ctx.state.cfg.s3_volume;
    let mut buckets = match ctx.state.store.list_buckets(vol).await {
        Ok(b) => b,
        // The S3 volume is created lazily by the first CreateBucket.
        Err(ozfs::Error::NoSuchVolume(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    buckets.sort_by(|a, b| a.name.cmp(&b.name));
    let user = ctx.user.as_deref();
    let mut shown = buckets
        .iter()
        .filter(|_| region_matches)
        .filter(|b| b.name.starts_with(prefix))
        .filter(|b| after.as_deref().is_none_or(|a| b.name.as_str() > a))
        .filter(|b| !ctx.state.cfg.secure || allowed(b, user, Access::Read));
    let page: Vec<_> = shown.by_ref().take(max).collect();
    let more = shown.next().is_some();
    let region = region(ctx);
    let mut w = XmlWriter::new();
    w.start_ns("ListAllMyBucketsResult")
        .start("Owner")
        .elem("ID", OWNER_ID)
        .elem("DisplayName", &ctx.owner_name())
        .end()
        .start("Buckets");
    for b in &page {
        w.start("Bucket")
            .elem("Name", &b.name)
            .elem("CreationDate", &ozfs::time::iso8601(b.created))
            .elem("BucketRegion", &region)
            .end();
    }
    w.end();
    if let (true, Some(last)) = (more, page.last()) {
        w.elem("ContinuationToken", &super::list::encode_token(&last.name));
    }
    if q.get("prefix").is_some() {
        w.elem("Prefix", prefix);
    }
    Ok(xml_response(StatusCode::OK, w.finish()))
}

pub async fn create_bucket(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    let owner = ctx.owner_name();
    if ctx.user.is_none() {
        return Err(S3Error::access_denied());
    }
    let path = ctx.bucket_path();
    ozfs::namespace::name::validate_resource_name(ozfs::error::NameKind::Bucket, &path.bucket)
        .map_err(S3Error::from)?;
    // `x-amz-acl` / `x-amz-grant-*`: checked before the bucket exists, recorded once it does.
    let grants = super::acl::grants_from_headers(&ctx.headers)?;
    // The S3 volume is made on first use, owned by the first creator.
    match ctx.state.store.volume_info(&path.volume).await {
        Ok(_) => {}
        Err(ozfs::Error::NoSuchVolume(_)) => match ctx.state.store.create_volume(&path.volume, &owner).await {
            Ok(_) | Err(ozfs::Error::VolumeAlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    }
    match ctx.state.store.create_bucket(&path, &owner).await {
        Ok(_) => {}
        // AWS keeps a legacy answer in us-east-1: re-creating your own bucket succeeds (200).
        Err(ozfs::Error::BucketAlreadyExists { owner: o, .. }) if o == owner && region(ctx) == "us-east-1" => {}
        Err(ozfs::Error::BucketAlreadyExists { owner: o, .. }) if o == owner => {
            return Err(S3Error::new(
                S3ErrorCode::BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it.",
            )
            .with_resource(path.bucket))
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(grants) = grants {
        ctx.state
            .store
            .update_bucket(&path, ozfs::BucketUpdate::Acl(grants))
            .await?;
    }
    let mut r = empty_response(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&format!("/{}", path.bucket)) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(r)
}

pub async fn head_bucket(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    if ctx.check_bucket(Access::Read).await?.is_none() {
        ctx.state.store.bucket_info(&ctx.bucket_path()).await?;
    }
    let mut r = empty_response(StatusCode::OK);
    super::set_header(r.headers_mut(), "x-amz-bucket-region", &region(ctx));
    Ok(r)
}

pub async fn delete_bucket(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Owner).await?;
    // AWS: the bucket's unfinished multipart uploads go with it; keys still refuse (409).
    ctx.state
        .store
        .delete_bucket_aborting_uploads(&ctx.bucket_path())
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// The region we answer: the one the client signed for, `us-east-1` when unknown.
fn region(ctx: &Ctx) -> String {
    ctx.region.clone().unwrap_or_else(|| "us-east-1".to_string())
}

/// GetBucketLocation. Ozone answers 501; clients (s3cmd, the aws CLI with some settings) need a
/// real answer, so we give the region the client signed with — as AWS, empty for `us-east-1`.
pub async fn location(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    if ctx.check_bucket(Access::Read).await?.is_none() {
        ctx.state.store.bucket_info(&ctx.bucket_path()).await?;
    }
    let region = region(ctx);
    let mut w = XmlWriter::new();
    w.start_ns("LocationConstraint");
    if region != "us-east-1" {
        w.elem_text(&region);
    }
    w.end();
    Ok(xml_response(StatusCode::OK, w.finish()))
}
