//! Object ACL: GetObjectAcl and PutObjectAcl (`?acl` on a key).
//!
//! An object's grants live in its attributes ([`ozfs::ObjectAttrs::acl`]); its owner (the user
//! that wrote it) always has FULL_CONTROL and is listed first. PUT replaces the grants from the
//! `x-amz-acl` / `x-amz-grant-*` headers or an `AccessControlPolicy` body, parsed as for the
//! bucket ACL ([`super::acl`]). Ozone answers 501 for both; AWS is the model.
//!
//! Access: reading the ACL needs READ_ACP, writing it WRITE_ACP — on the bucket, or on the
//! object itself (its owner, or a grant in its ACL), as [`Ctx::check_key`] decides.

use super::{empty_response, xml_response, Access, Ctx};
use crate::body::RespBody;
use crate::error::S3Error;
use http::{Response, StatusCode};
use ozfs::{ByteStream, ObjectInfo};

fn version_check(ctx: &Ctx) -> Result<(), S3Error> {
    match ctx.query.get("versionId") {
        None | Some("null") => Ok(()),
        Some(_) => Err(S3Error::invalid_argument("Invalid version id specified")),
    }
}

async fn head(ctx: &Ctx) -> Result<ObjectInfo, S3Error> {
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
    ctx.check_key(Access::ReadAcp).await?;
    version_check(ctx)?;
    let info = head(ctx).await?;
    Ok(xml_response(
        StatusCode::OK,
        super::acl::policy_xml(&info.owner, &info.attrs.acl),
    ))
}

pub async fn put(ctx: &Ctx, raw: ByteStream) -> Result<Response<RespBody>, S3Error> {
    ctx.check_key(Access::WriteAcp).await?;
    version_check(ctx)?;
    let grants = super::acl::request_grants(ctx, raw).await?;
    let info = head(ctx).await?;
    let mut attrs = info.attrs;
    attrs.acl = grants;
    ctx.state
        .store
        .set_attrs(&ctx.bucket_path(), ctx.key_name(), attrs)
        .await
        .map_err(|e| match e {
            ozfs::Error::NoSuchKey(_) => S3Error::no_such_key(ctx.key_name()),
            e => S3Error::from(e),
        })?;
    Ok(empty_response(StatusCode::OK))
}
