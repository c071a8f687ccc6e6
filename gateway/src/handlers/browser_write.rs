//! Writes from the bucket page (`?browser=true`), security off only: upload a file and create a
//! folder.
//!
//! * `POST /bucket/KEY?browser=upload`: the request body (the file's bytes, streamed) becomes
//!   KEY; `Content-Type` is kept.
//! * `POST /bucket/PREFIX/NAME/?browser=folder`: an empty folder marker `PREFIX/NAME/` (the
//!   layout goofys, s3fs and our mount use), unless the key exists already.
//!
//! A browser cannot sign S3 requests, so these are unsigned; they are refused with security on
//! (the page stays read-only there). Because any web page the user visits could make the
//! browser send a cross-site POST to `127.0.0.1:9878`, a write must carry the header
//! `x-ozfs-browser: 1` — which a cross-site page can only send after a CORS preflight that this
//! server never approves — and, when the browser says where the request comes from (`Origin`,
//! `Sec-Fetch-Site`), come from this server's own origin. The page's script sends exactly that.
//! The key records `anonymous` as its owner (the writer had no access key).

use super::{empty_response, Access, Ctx};
use crate::body::RespBody;
use crate::error::{S3Error, S3ErrorCode};
use http::{Response, StatusCode};
use ozfs::{ByteStream, PutOptions, WriteCondition};

/// The header the page's script sets on every write.
pub const WRITE_HEADER: &str = "x-ozfs-browser";

fn forbidden(msg: &str) -> S3Error {
    S3Error::new(S3ErrorCode::AccessDenied, msg.to_string())
}

/// Is this write what the bucket page itself sent (see the module docs)?
fn same_origin_page(ctx: &Ctx) -> Result<(), S3Error> {
    if ctx.header(WRITE_HEADER) != Some("1") {
        return Err(forbidden(
            "Writes from the bucket page need the x-ozfs-browser: 1 header.",
        ));
    }
    if let Some(site) = ctx.header("sec-fetch-site") {
        if site != "same-origin" {
            return Err(forbidden("The bucket page only accepts writes from its own origin."));
        }
    }
    if let Some(origin) = ctx.header("origin") {
        let host = ctx.header("host").unwrap_or("");
        let bare = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .unwrap_or(origin);
        if !bare.eq_ignore_ascii_case(host) {
            return Err(forbidden("The bucket page only accepts writes from its own origin."));
        }
    }
    Ok(())
}

/// A folder or file name as the page sends it: one path segment, not `.` or `..`.
fn check_name(key: &str) -> Result<(), S3Error> {
    let name = key.strip_suffix('/').unwrap_or(key).rsplit('/').next().unwrap_or("");
    if name.is_empty() || name == "." || name == ".." {
        return Err(S3Error::invalid_argument(format!(
            "{key:?} does not end in a usable name"
        )));
    }
    Ok(())
}

pub async fn write(ctx: &Ctx, body: ByteStream) -> Result<Response<RespBody>, S3Error> {
    if ctx.state.cfg.secure {
        return Err(forbidden(
            "With security on the bucket page is read-only; upload with a signed S3 client.",
        ));
    }
    same_origin_page(ctx)?;
    ctx.check_bucket(Access::Write).await?;
    let key = ctx.key_name().to_string();
    check_name(&key)?;
    let mut opts = PutOptions {
        owner: Some(ctx.owner_name()),
        ..Default::default()
    };
    let body = match ctx.query.get("browser") {
        Some("folder") => {
            if !key.ends_with('/') {
                return Err(S3Error::invalid_argument("a folder key ends with /"));
            }
            opts.condition = WriteCondition::IfNoneMatch;
            opts.expected_len = Some(0);
            ozfs::body_from_bytes(&b""[..])
        }
        Some("upload") => {
            if key.ends_with('/') {
                return Err(S3Error::invalid_argument("a file name cannot end with /"));
            }
            opts.attrs = super::attrs_from_headers(&ctx.headers)?;
            opts.expected_len = super::object_put::expected_len(ctx, false)?;
            body
        }
        _ => return Err(S3Error::invalid_argument("browser= must be upload or folder")),
    };
    match ctx.state.store.put_object(&ctx.bucket_path(), &key, body, opts).await {
        Ok(_) => Ok(empty_response(StatusCode::CREATED)),
        // The folder exists already: nothing to do.
        Err(ozfs::Error::PreconditionFailed) if key.ends_with('/') => Ok(empty_response(StatusCode::OK)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("a/b.txt").is_ok());
        assert!(check_name("dir/new/").is_ok());
        for bad in ["a/..", "a/./", "/", "a//"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
