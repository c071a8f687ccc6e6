//! DeleteObject (204 even for a missing key; `If-Match` honoured) and DeleteObjects (at most
//! 1000 keys, quiet mode, per-key errors, Content-MD5 checked when sent).

use super::{empty_response, unquote, xml_response, Access, Ctx};
use crate::body::RespBody;
use crate::error::{S3Error, S3ErrorCode};
use crate::xml::XmlWriter;
use http::{Response, StatusCode};
use md5::{Digest, Md5};
use ozfs::ByteStream;

/// Most keys in one DeleteObjects request.
pub const MAX_DELETE_KEYS: usize = 1000;
/// Largest DeleteObjects body we read (1000 keys of 1024 bytes plus markup).
const MAX_DELETE_BODY: usize = 2 * 1024 * 1024;

pub async fn delete_object(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Write).await?;
    match ctx.query.get("versionId") {
        None | Some("null") => {}
        Some(_) => return Err(S3Error::invalid_argument("Invalid version id specified")),
    }
    let if_match = ctx.header("if-match").map(|v| unquote(v).to_string());
    ctx.state
        .store
        .delete_object(&ctx.bucket_path(), ctx.key_name(), if_match.as_deref())
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub async fn delete_objects(ctx: &Ctx, raw: ByteStream) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Write).await?;
    let body = crate::body::decode_payload(raw, &ctx.payload, None, crate::body::decoded_length(&ctx.headers));
    let doc = crate::body::read_small(body, MAX_DELETE_BODY).await?;
    if let Some(md5) = super::object_put::content_md5(ctx)? {
        if Md5::digest(&doc).as_slice() != md5 {
            return Err(ozfs::Error::BadDigest.into());
        }
    }
    let root = ozfs::xml::parse(&doc).map_err(|_| S3Error::malformed_xml())?;
    if root.name != "Delete" {
        return Err(S3Error::malformed_xml());
    }
    let quiet = root
        .child_text("Quiet")
        .is_some_and(|q| q.trim().eq_ignore_ascii_case("true"));
    let objects: Vec<_> = root.children_named("Object").collect();
    if objects.is_empty() || objects.len() > MAX_DELETE_KEYS {
        return Err(S3Error::malformed_xml());
    }
    let mut keys = Vec::with_capacity(objects.len());
    for o in objects {
        let key = o.child_text("Key").ok_or_else(S3Error::malformed_xml)?;
        keys.push((key.to_string(), o.child_text("VersionId").map(str::to_string)));
    }
    let bucket = ctx.bucket_path();
    let mut w = XmlWriter::new();
    w.start_ns("DeleteResult");
    for (key, version) in keys {
        let result = match version.as_deref() {
            None | Some("null") => ctx
                .state
                .store
                .delete_object(&bucket, &key, None)
                .await
                .map_err(S3Error::from),
            Some(_) => Err(S3Error::new(
                S3ErrorCode::NoSuchVersion,
                "The specified version does not exist.",
            )),
        };
        match result {
            Ok(()) => {
                if !quiet {
                    w.start("Deleted").elem("Key", &key);
                    if let Some(v) = &version {
                        w.elem("VersionId", v);
                    }
                    w.end();
                }
            }
            // A missing bucket fails the whole request, not each key.
            Err(e) if e.code == S3ErrorCode::NoSuchBucket => return Err(e),
            Err(e) => {
                w.start("Error")
                    .elem("Key", &key)
                    .elem("Code", e.code.as_str())
                    .elem("Message", &e.message)
                    .end();
            }
        }
    }
    w.end();
    Ok(xml_response(StatusCode::OK, w.finish()))
}
