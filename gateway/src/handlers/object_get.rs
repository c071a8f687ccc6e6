//! GetObject and HeadObject: single ranges, `partNumber`, conditional requests, the stored
//! standard headers and user metadata, `response-*` overrides, and flexible checksums when the
//! client sends `x-amz-checksum-mode: ENABLED`.
//!
//! Range rules (as Ozone and S3): only one `bytes=` range is honoured; a multi-range or
//! syntactically invalid header (`bytes=-11-10000`, `bytes=11-8`) is ignored and the whole
//! object is sent with 200; a range starting at or past the end (or any range of an empty
//! object) is 416 InvalidRange. HEAD ignores Range. The body streams from the store.

use super::{empty_response, object_headers, read_conditions, set_header, Access, Ctx};
use crate::body::RespBody;
use crate::error::{S3Error, S3ErrorCode};
use http::{Response, StatusCode};
use ozfs::store::MAX_PART_NUMBER;
use ozfs::{GetOptions, RangeSpec};

/// Parse a Range header. `None` means "ignore it and send the whole object".
pub fn parse_range(v: &str) -> Option<RangeSpec> {
    let r = v.trim().strip_prefix("bytes=")?;
    if r.contains(',') {
        return None;
    }
    let (a, b) = r.split_once('-')?;
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (a.trim(), b.trim()) {
        ("", "") => None,
        ("", n) => Some(RangeSpec::Suffix(num(n)?)),
        (a, "") => Some(RangeSpec::From(num(a)?)),
        (a, b) => {
            let (a, b) = (num(a)?, num(b)?);
            (a <= b).then_some(RangeSpec::FromTo(a, b))
        }
    }
}

/// `partNumber` query parameter.
fn part_number(ctx: &Ctx) -> Result<Option<u32>, S3Error> {
    let Some(v) = ctx.query.get("partNumber") else {
        return Ok(None);
    };
    match v.trim().parse::<i64>() {
        Ok(n) if (1..=MAX_PART_NUMBER as i64).contains(&n) => Ok(Some(n as u32)),
        Ok(n) if n > 0 => Err(S3Error::new(
            S3ErrorCode::InvalidPart,
            format!("Part number {n} is out of range"),
        )),
        _ => Err(S3Error::invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive",
        )),
    }
}

fn checksum_mode(ctx: &Ctx) -> bool {
    ctx.header("x-amz-checksum-mode")
        .is_some_and(|v| v.eq_ignore_ascii_case("enabled"))
}

fn version_check(ctx: &Ctx) -> Result<(), S3Error> {
    match ctx.query.get("versionId") {
        None | Some("null") => Ok(()),
        Some(_) => Err(S3Error::invalid_argument("Invalid version id specified")),
    }
}

fn not_modified(info: &ozfs::ObjectInfo) -> Response<RespBody> {
    let mut r = empty_response(StatusCode::NOT_MODIFIED);
    set_header(r.headers_mut(), "etag", &super::quote(&info.etag));
    set_header(
        r.headers_mut(),
        "last-modified",
        &ozfs::time::rfc1123(info.last_modified),
    );
    r
}

pub async fn get_object(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    ctx.check_key(Access::Read).await?;
    version_check(ctx)?;
    let part = part_number(ctx)?;
    let range = ctx.header("range").and_then(parse_range);
    if part.is_some() && ctx.header("range").is_some() {
        return Err(S3Error::invalid_request(
            "Cannot specify both Range header and partNumber query parameter",
        ));
    }
    let key = ctx.key_name();
    let res = ctx
        .state
        .store
        .get_object(
            &ctx.bucket_path(),
            key,
            GetOptions {
                range,
                part_number: part,
            },
        )
        .await
        .map_err(|e| match e {
            ozfs::Error::NoSuchKey(_) => S3Error::no_such_key(key),
            e => S3Error::from(e),
        })?;
    match read_conditions(&ctx.headers, &res.info) {
        Some(StatusCode::NOT_MODIFIED) => return Ok(not_modified(&res.info)),
        Some(_) => return Err(S3Error::precondition_failed()),
        None => {}
    }
    let info = &res.info;
    let len = res.range.end - res.range.start;
    let partial = range.is_some() || (part.is_some() && !info.parts.is_empty());
    let whole = res.range.start == 0 && res.range.end == info.size;
    let mut r = Response::new(RespBody::Stream(res.body));
    *r.status_mut() = if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let h = r.headers_mut();
    object_headers(h, info, checksum_mode(ctx) && whole, &ctx.query);
    h.remove("x-amz-storage-class");
    set_header(h, "accept-ranges", "bytes");
    set_header(h, "content-length", &len.to_string());
    if partial {
        let last = if len == 0 { 0 } else { res.range.end - 1 };
        set_header(
            h,
            "content-range",
            &format!("bytes {}-{}/{}", res.range.start, last, info.size),
        );
    }
    Ok(r)
}

pub async fn head_object(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    ctx.check_key(Access::Read).await?;
    version_check(ctx)?;
    let part = part_number(ctx)?;
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
    match read_conditions(&ctx.headers, &info) {
        Some(StatusCode::NOT_MODIFIED) => return Ok(not_modified(&info)),
        Some(_) => return Err(S3Error::precondition_failed()),
        None => {}
    }
    let (len, range) = match part {
        None => (info.size, None),
        Some(n) => {
            // The part as uploaded (AWS numbers a completed object's parts as they were sent).
            let r = ozfs::namespace::rules::part_range(&info.parts, &info.part_numbers, info.size, n)?;
            let sz = r.end - r.start;
            (sz, (!info.parts.is_empty()).then_some((r.start, sz)))
        }
    };
    let mut r = empty_response(if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    });
    let h = r.headers_mut();
    object_headers(h, &info, checksum_mode(ctx) && part.is_none(), &ctx.query);
    set_header(h, "accept-ranges", "bytes");
    set_header(h, "content-length", &len.to_string());
    if let Some((start, sz)) = range {
        set_header(
            h,
            "content-range",
            &format!("bytes {}-{}/{}", start, (start + sz).saturating_sub(1), info.size),
        );
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn range_forms() {
        assert_eq!(parse_range("bytes=0-4"), Some(RangeSpec::FromTo(0, 4)));
        assert_eq!(parse_range("bytes=2-"), Some(RangeSpec::From(2)));
        assert_eq!(parse_range("bytes=-4"), Some(RangeSpec::Suffix(4)));
        assert_eq!(parse_range("bytes=11-8"), None);
        assert_eq!(parse_range("bytes=-11-10000"), None);
        assert_eq!(parse_range("bytes=0-1,3-4"), None);
        assert_eq!(parse_range("items=0-1"), None);
        assert_eq!(parse_range("bytes=-"), None);
        assert_eq!(parse_range("bytes=+1-2"), None);
    }

    proptest! {
        #[test]
        fn range_parser_total(s in "bytes=[-0-9,]{0,12}") {
            if let Some(r) = parse_range(&s) {
                // Whatever parsed resolves without panicking.
                let _ = r.resolve(100);
            }
        }

        /// Any numbers, up to u64::MAX and past it, against any object size: a resolved range is
        /// never empty and never reaches past the object (no overflow on `last + 1`).
        #[test]
        fn resolved_ranges_stay_inside_the_object(
            a in prop_oneof![any::<u64>(), 0u64..100, Just(u64::MAX)],
            b in prop_oneof![any::<u64>(), 0u64..100, Just(u64::MAX)],
            size in prop_oneof![any::<u64>(), 0u64..100],
            form in 0usize..4,
        ) {
            let text = match form {
                0 => format!("bytes={a}-{b}"),
                1 => format!("bytes={a}-"),
                2 => format!("bytes=-{b}"),
                _ => format!("bytes={a}{b}-1"),
            };
            if let Some(spec) = parse_range(&text) {
                if let Ok(r) = spec.resolve(size) {
                    prop_assert!(r.start < r.end && r.end <= size, "{text} on {size}: {r:?}");
                }
            }
        }
    }
}
