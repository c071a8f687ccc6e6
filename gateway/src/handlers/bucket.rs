//! Bucket CRUD: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation.
//!
//! Buckets are the buckets (and bucket links) of the S3 volume. With security on, ListBuckets
//! shows the buckets the requester owns or holds a grant on; with it off, all of them.
//! CreateBucket records the ACL its `x-amz-acl` / `x-amz-grant-*` headers give (AWS; Ozone
//! ignores them).

use super::{allowed, empty_response, xml_response, Access, Ctx, OWNER_ID};
use crate::body::RespBody;
use crate::error::S3Error;
use crate::xml::XmlWriter;
use http::{HeaderValue, Response, StatusCode};

pub async fn list_buckets(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    let vol = &ctx.state.cfg.s3_volume;
    let buckets = match ctx.state.store.list_buckets(vol).await {
        Ok(b) => b,
        // The S3 volume is created lazily by the first CreateBucket.
        Err(ozfs::Error::NoSuchVolume(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let user = ctx.user.as_deref();
    let mut w = XmlWriter::new();
    w.start_ns("ListAllMyBucketsResult")
        .start("Owner")
        .elem("ID", OWNER_ID)
        .elem("DisplayName", &ctx.owner_name())
        .end()
        .start("Buckets");
    for b in buckets
        .iter()
        .filter(|b| !ctx.state.cfg.secure || allowed(b, user, super::Access::Read))
    {
        w.start("Bucket")
            .elem("Name", &b.name)
            .elem("CreationDate", &ozfs::time::iso8601(b.created))
            .end();
    }
    w.end();
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
        Err(ozfs::Error::BucketAlreadyExists { owner: o, .. }) if o == owner => {
            return Err(S3Error::new(
                "BucketAlreadyOwnedByYou",
                StatusCode::CONFLICT,
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
    ctx.state.store.delete_bucket(&ctx.bucket_path()).await?;
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
