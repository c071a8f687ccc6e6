//! Bucket lifecycle configuration: PutBucketLifecycleConfiguration, GetBucketLifecycleConfiguration
//! and DeleteBucketLifecycle.
//!
//! PUT needs Content-MD5 or a flexible checksum (as S3 requires), is validated by the core's
//! parser ([`ozfs::lifecycle::parse`]: MalformedXML, InvalidArgument, NotImplemented for
//! transitions) and stores the canonical rendering of what was accepted (IDs it had to make up
//! included); GET answers that document (404 NoSuchLifecycleConfiguration when there is none);
//! DELETE is 204 whether or not there was one. Only the bucket owner may. The rules are enforced
//! on the embedded store by `ozfs serve`'s sweep ([`ozfs::lifecycle::sweep`]).

use super::tagging::{read_xml_body, require_integrity};
use super::{config_bucket, empty_response, xml_response, Ctx};
use crate::body::RespBody;
use crate::error::{S3Error, S3ErrorCode};
use http::{Response, StatusCode};
use ozfs::lifecycle::{self, LifecycleError};
use ozfs::{BucketUpdate, ByteStream};

/// Largest configuration document accepted (1000 rules with long prefixes and tags fit).
pub const MAX_LIFECYCLE_BODY: usize = 4 * 1024 * 1024;

/// The S3 error for a refused document.
pub fn lifecycle_error(e: LifecycleError) -> S3Error {
    match e {
        LifecycleError::Malformed(_) => S3Error::malformed_xml(),
        LifecycleError::InvalidArgument(m) => S3Error::invalid_argument(m),
        LifecycleError::NotImplemented(m) => S3Error::not_implemented(m),
    }
}

pub async fn get(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    let bucket = config_bucket(ctx).await?;
    let info = ctx.state.store.bucket_settings(&bucket).await?;
    let Some(doc) = info.lifecycle else {
        return Err(S3Error::new(
            S3ErrorCode::NoSuchLifecycleConfiguration,
            "The lifecycle configuration does not exist",
        )
        .with_resource(ctx.bucket_name().to_string()));
    };
    // Our own stores hold the canonical rendering; a remote backend's document may use what we
    // do not model (transitions): then it is passed on as the backend wrote it.
    let body = match lifecycle::parse(doc.as_bytes()) {
        Ok(cfg) => cfg.to_xml().into_bytes(),
        Err(_) => doc.into_bytes(),
    };
    Ok(xml_response(StatusCode::OK, body))
}

pub async fn put(ctx: &Ctx, raw: ByteStream) -> Result<Response<RespBody>, S3Error> {
    let bucket = config_bucket(ctx).await?;
    let body = read_xml_body(ctx, raw, MAX_LIFECYCLE_BODY).await?;
    require_integrity(&body)?;
    let cfg = lifecycle::parse(&body.doc).map_err(lifecycle_error)?;
    ctx.state
        .store
        .update_bucket(&bucket, BucketUpdate::Lifecycle(Some(cfg.to_xml())))
        .await?;
    Ok(empty_response(StatusCode::OK))
}

pub async fn delete(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    let bucket = config_bucket(ctx).await?;
    ctx.state
        .store
        .update_bucket(&bucket, BucketUpdate::Lifecycle(None))
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}
