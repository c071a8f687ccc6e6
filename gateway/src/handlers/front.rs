//! The front page: an unsigned `GET /` from a web browser.
//!
//! With security off it is an HTML list of the buckets of the S3 volume (what ListBuckets
//! shows with security off), each linking to its bucket page (`/bucket?browser=true`,
//! [`super::browser`]). With security on there is no anonymous list of buckets: the answer is
//! the S3 XML 403 an unsigned ListBuckets gets. A signed `GET /` is always ListBuckets.
//!
//! "From a web browser" means the request accepts `text/html` (every browser's navigation
//! request does; S3 clients never send it); any other unsigned `GET /` is 403 AccessDenied.

use super::browser::{browse_link, esc, html, page};
use super::Ctx;
use crate::body::RespBody;
use crate::error::S3Error;
use http::{Response, StatusCode};

/// Does the request accept an HTML answer?
pub fn wants_html(ctx: &Ctx) -> bool {
    ctx.headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let media = t.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("text/html")
        })
}

pub async fn front_page(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    let vol = &ctx.state.cfg.s3_volume;
    let buckets = match ctx.state.store.list_buckets(vol).await {
        Ok(b) => b,
        // The S3 volume is created lazily by the first CreateBucket.
        Err(ozfs::Error::NoSuchVolume(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut b = String::from(
        "<header><h1>S3 buckets</h1><div class=\"sub\">ozfs S3 gateway</div></header><main>\
         <table><thead><tr><th>Bucket</th><th>Owner</th><th>Created (UTC)</th></tr></thead><tbody>",
    );
    for info in &buckets {
        let date = ozfs::time::iso8601(info.created);
        let date = date.get(..19).unwrap_or(&date).replace('T', " ");
        b.push_str(&format!(
            "<tr><td><a class=\"dir\" href=\"{}\">{}</a></td><td>{}</td><td class=\"date\">{}</td></tr>",
            esc(&browse_link(&info.name, "", None)),
            esc(&info.name),
            esc(&info.owner),
            esc(&date)
        ));
    }
    if buckets.is_empty() {
        b.push_str("<tr><td colspan=\"3\" class=\"empty\">No buckets yet.</td></tr>");
    }
    b.push_str(&format!(
        "</tbody></table><div class=\"pager\"><span class=\"count\">{} bucket(s) in volume {}</span></div></main>",
        buckets.len(),
        esc(vol)
    ));
    Ok(html(StatusCode::OK, page("S3 buckets", &b)))
}
