//! GetObject: the streamed GET with an optional range or part number, and the version-pinned
//! ranged GET (`If-Match: "<etag>"`) the page cache loads pages with.

use super::client::Req;
use super::wire::info_from_headers;
use super::RemoteStore;
use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use crate::store::{ByteStream, GetOptions, GetResult, ObjectInfo, RangeSpec};
use futures_util::stream;
use http::{Method, StatusCode};
use std::ops::Range;

fn range_header(r: RangeSpec) -> String {
    match r {
        RangeSpec::FromTo(a, b) => format!("bytes={a}-{b}"),
        RangeSpec::From(a) => format!("bytes={a}-"),
        RangeSpec::Suffix(n) => format!("bytes=-{n}"),
    }
}

/// `bytes a-b/total` → `a..b+1`.
fn parse_content_range(v: &str) -> Option<Range<u64>> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (span, _total) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some(a..b + 1)
}

impl RemoteStore {
    pub(super) async fn get_object_impl(&self, bucket: &BucketPath, key: &str, opts: GetOptions) -> Result<GetResult> {
        let b = self.bucket_name(bucket)?;
        let mut req = Req::new(Method::GET, Some(b), Some(key));
        if let Some(r) = opts.range {
            req = req.header(http::header::RANGE, range_header(r));
        }
        if let Some(n) = opts.part_number {
            req = req.query("partNumber", n.to_string());
        }
        let resp = self.client.send_raw(req).await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(self.client.error_of(resp, &self.ctx(b, Some(key))).await);
        }
        let info = info_from_headers(b, key, resp.headers(), "");
        let range = if status == StatusCode::PARTIAL_CONTENT {
            super::client::header_str(resp.headers(), "content-range")
                .and_then(parse_content_range)
                .unwrap_or(0..info.size)
        } else {
            0..info.size
        };
        if opts.range.is_some() && info.size == 0 {
            return Err(Error::InvalidRange);
        }
        let body = self.client.body_stream(resp.into_body(), Some(range.end - range.start));
        Ok(GetResult { info, range, body })
    }

    pub(super) async fn read_version_impl(
        &self,
        bucket: &BucketPath,
        info: &ObjectInfo,
        range: Range<u64>,
    ) -> Result<ByteStream> {
        let b = self.bucket_name(bucket)?;
        if range.start >= range.end {
            return Ok(Box::pin(stream::empty()));
        }
        if range.end > info.size {
            return Err(Error::InvalidRange);
        }
        let mut req = Req::new(Method::GET, Some(b), Some(&info.key))
            .header(http::header::RANGE, format!("bytes={}-{}", range.start, range.end - 1));
        if !info.etag.is_empty() {
            req = req.header(http::header::IF_MATCH, format!("\"{}\"", info.etag));
        }
        let resp = self.client.send_raw(req).await?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {}
            // a server that ignores Range: only acceptable when the whole object was asked for
            StatusCode::OK if range.start == 0 && range.end == info.size => {}
            StatusCode::OK => {
                return Err(Error::Backend {
                    status: 502,
                    code: "RangeIgnored".into(),
                    message: "the remote ignored the Range header".into(),
                })
            }
            StatusCode::PRECONDITION_FAILED | StatusCode::NOT_FOUND => {
                return Err(Error::ObjectChanged(info.key.clone()));
            }
            _ => return Err(self.client.error_of(resp, &self.ctx(b, Some(&info.key))).await),
        }
        let now = info_from_headers(b, &info.key, resp.headers(), "");
        if now.size != info.size || (!info.etag.is_empty() && now.etag != info.etag) {
            return Err(Error::ObjectChanged(info.key.clone()));
        }
        // a 206 must cover exactly the asked range
        if let Some(got) = super::client::header_str(resp.headers(), "content-range").and_then(parse_content_range) {
            if got != range {
                return Err(Error::Backend {
                    status: 502,
                    code: "InvalidRange".into(),
                    message: format!("asked for bytes {range:?}, the remote sent {got:?}"),
                });
            }
        }
        Ok(self.client.body_stream(resp.into_body(), Some(range.end - range.start)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parsing() {
        assert_eq!(parse_content_range("bytes 0-4/11"), Some(0..5));
        assert_eq!(parse_content_range("bytes 7-10/*"), Some(7..11));
        assert_eq!(parse_content_range("bytes */11"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }

    #[test]
    fn range_headers() {
        assert_eq!(range_header(RangeSpec::FromTo(1, 2)), "bytes=1-2");
        assert_eq!(range_header(RangeSpec::From(3)), "bytes=3-");
        assert_eq!(range_header(RangeSpec::Suffix(4)), "bytes=-4");
    }
}
