//! `GET /bucket?browser=true`: a self-contained HTML page browsing the bucket.
//!
//! Rendered on the server from one ListObjects page (delimiter `/`), so it works without
//! JavaScript and needs no CDN: folders first, then objects with size, date and a download
//! link (a plain path-style GET of the object), breadcrumbs for the prefix, and a "next page"
//! link carrying `browser=true&prefix=…&continuation-token=…` for big buckets.
//!
//! The listing shows no row for the folder's own marker object (`dir/` listed inside `dir/`).
//! With security off the page also uploads files and creates folders in the folder shown, with
//! a small inline script that posts to `?browser=upload` / `?browser=folder`
//! ([`super::browser_write`]); with security on it is read-only.
//!
//! Access: a browser has no S3 credentials. With security off the page is served to everyone
//! (it is the server's own UI, and with security off anyone may act with any access key), and
//! its download links are presigned (SigV4 query, access key [`LINK_ACCESS_KEY`], valid
//! [`LINK_SECONDS`]): an unsigned GET of an object is only allowed where an ACL grants it, while
//! with security off the gateway checks a presigned URL's expiry but not its signature. With
//! security on the page is served only for a bucket that grants READ to AllUsers
//! (`x-amz-acl: public-read`) or to a request that is signed by a user allowed to read (e.g. a
//! presigned URL), and its links are plain; otherwise the answer is a clear 403 HTML page
//! explaining how to make the bucket public.

use super::{Access, Ctx};
use crate::body::RespBody;
use crate::error::{S3Error, S3ErrorCode};
use http::{HeaderValue, Response, StatusCode};
use ozfs::{ListRequest, ObjectInfo};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Entries per page.
const PAGE: usize = 200;

/// The access key the page's download links are presigned with (security off only).
pub const LINK_ACCESS_KEY: &str = "ozfs-browser";
/// How long a download link stays valid: a page left open for a working day still works.
pub const LINK_SECONDS: u64 = 12 * 3600;

/// Presigns download links for the `Host` the page was requested through.
struct LinkSigner {
    host: String,
    now: std::time::SystemTime,
}

impl LinkSigner {
    fn sign(&self, path: &str) -> String {
        let params = ozfs::sigv4::SigningParams {
            access_key: LINK_ACCESS_KEY,
            // Not verified with security off; any secret gives a well-formed signature.
            secret_key: LINK_ACCESS_KEY,
            region: "us-east-1",
            service: "s3",
            time: self.now,
        };
        let q = ozfs::sigv4::presign(&http::Method::GET, &self.host, path, "", LINK_SECONDS, &params);
        format!("{path}?{q}")
    }
}

const PATH_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');
const QUERY_SET: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub(super) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn qenc(s: &str) -> String {
    utf8_percent_encode(s, QUERY_SET).to_string()
}

/// Human-readable size (`1.5 MiB`).
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Inline SVG icons (no emoji: headless and minimal systems often lack an emoji font).
const ICON_DIR: &str = "<svg class=\"icon\" viewBox=\"0 0 16 16\" aria-hidden=\"true\"><path d=\"M1 3h5l2 2h7v9H1z\" fill=\"#e0a83e\"/><path d=\"M1 6h14v8H1z\" fill=\"#f2c261\"/></svg>";
const ICON_FILE: &str = "<svg class=\"icon\" viewBox=\"0 0 16 16\" aria-hidden=\"true\"><path d=\"M3 1h7l3 3v11H3z\" fill=\"#a9b6c6\"/><path d=\"M10 1v3h3z\" fill=\"#dde3ea\"/></svg>";
const ICON_UP: &str = "<svg class=\"icon\" viewBox=\"0 0 16 16\" aria-hidden=\"true\"><path d=\"M8 2l-6 6h4v6h4V8h4z\" fill=\"#7b8a9c\"/></svg>";

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}\
header{background:#1f3b57;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px;font-weight:600}\
header .sub{opacity:.8;font-size:13px;margin-top:2px}main{padding:16px 24px;max-width:1100px}\
nav.crumbs{font-size:15px;margin:4px 0 14px}nav.crumbs a{color:#1f5fa8;text-decoration:none}nav.crumbs span.sep{color:#888;margin:0 6px}\
table{width:100%;border-collapse:collapse;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}\
th,td{text-align:left;padding:8px 12px;border-bottom:1px solid #e6e8eb;font-size:14px}th{background:#eef1f4;font-weight:600}\
td.size,th.size{text-align:right;white-space:nowrap}td.date{white-space:nowrap;color:#555}\
a.obj,a.dir{color:#1f5fa8;text-decoration:none}a.dir{font-weight:600}a.obj:hover,a.dir:hover{text-decoration:underline}\
.icon{width:16px;height:16px;vertical-align:-3px;margin-right:8px}.pager{margin:14px 0;display:flex;gap:12px;align-items:center}\
.pager a{background:#1f5fa8;color:#fff;padding:6px 14px;border-radius:4px;text-decoration:none}\
.empty{padding:24px;text-align:center;color:#777}\
.tools{display:flex;flex-wrap:wrap;gap:16px;align-items:center;margin:0 0 14px}.tools form{display:flex;gap:6px;align-items:center}\
.tools button{background:#1f5fa8;color:#fff;border:0;padding:6px 12px;border-radius:4px;cursor:pointer}\
.tools input[type=text]{padding:5px 8px;border:1px solid #c5ccd4;border-radius:4px}#msg{font-size:13px;color:#555}.count{color:#555;font-size:13px}footer{color:#888;font-size:12px;padding:12px 24px}";

pub(super) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>{body}<footer>ozfs S3 gateway</footer></body></html>",
        esc(title)
    )
}

pub(super) fn html(status: StatusCode, s: String) -> Response<RespBody> {
    let mut r = Response::new(RespBody::full(s));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn denied(bucket: &str) -> Response<RespBody> {
    let body = format!(
        "<header><h1>Access denied</h1><div class=\"sub\">bucket {b}</div></header><main>\
         <p>This server runs with security on, and bucket <b>{b}</b> is not readable anonymously. \
         A web browser cannot sign S3 requests, so the browser page is only available for buckets \
         that grant READ to everyone.</p><p>The owner can allow it with \
         <code>aws s3api put-bucket-acl --bucket {b} --acl public-read</code>, or share single objects \
         with presigned URLs.</p></main>",
        b = esc(bucket)
    );
    html(StatusCode::FORBIDDEN, page(&format!("Access denied: {bucket}"), &body))
}

pub(super) fn browse_link(bucket: &str, prefix: &str, token: Option<&str>) -> String {
    let mut s = format!("/{}?browser=true", utf8_percent_encode(bucket, PATH_SET));
    if !prefix.is_empty() {
        s.push_str("&prefix=");
        s.push_str(&qenc(prefix));
    }
    if let Some(t) = token {
        s.push_str("&continuation-token=");
        s.push_str(&qenc(t));
    }
    s
}

pub async fn browse(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    let bucket = ctx.bucket_name().to_string();
    if ctx.state.cfg.secure {
        match ctx.check_bucket(Access::Read).await {
            Ok(_) => {}
            Err(e) if e.code == S3ErrorCode::AccessDenied => return Ok(denied(&bucket)),
            Err(e) => return Err(e),
        }
    }
    let prefix = ctx.query.get("prefix").unwrap_or("").to_string();
    let token = ctx.query.get("continuation-token").filter(|t| !t.is_empty());
    let start_after = match token {
        Some(t) => Some(super::list::decode_token(t)?),
        None => None,
    };
    let p = ctx
        .state
        .store
        .list_objects(
            &ctx.bucket_path(),
            ListRequest {
                prefix: prefix.clone(),
                delimiter: Some("/".into()),
                start_after,
                max_keys: PAGE,
            },
        )
        .await?;

    let mut b = String::new();
    b.push_str(&format!(
        "<header><h1>{}</h1><div class=\"sub\">S3 bucket browser</div></header><main>",
        esc(&bucket)
    ));
    // Breadcrumbs.
    b.push_str("<nav class=\"crumbs\">");
    b.push_str(&format!(
        "<a href=\"{}\">{}</a>",
        esc(&browse_link(&bucket, "", None)),
        esc(&bucket)
    ));
    let mut acc = String::new();
    for seg in prefix.split_inclusive('/') {
        acc.push_str(seg);
        b.push_str("<span class=\"sep\">/</span>");
        b.push_str(&format!(
            "<a href=\"{}\">{}</a>",
            esc(&browse_link(&bucket, &acc, None)),
            esc(seg.trim_end_matches('/'))
        ));
    }
    b.push_str("</nav>");
    if !ctx.state.cfg.secure {
        b.push_str(&write_tools(&bucket, &prefix));
    }
    b.push_str(
        "<table><thead><tr><th>Name</th><th class=\"size\">Size</th><th>Last modified (UTC)</th></tr></thead><tbody>",
    );
    if !prefix.is_empty() {
        let parent = match prefix.trim_end_matches('/').rfind('/') {
            Some(i) => &prefix[..=i],
            None => "",
        };
        b.push_str(&format!(
            "<tr><td>{ICON_UP}<a class=\"dir\" href=\"{}\">..</a></td><td class=\"size\"></td><td class=\"date\"></td></tr>",
            esc(&browse_link(&bucket, parent, None))
        ));
    }
    for cp in &p.common_prefixes {
        let name = cp.strip_prefix(prefix.as_str()).unwrap_or(cp);
        b.push_str(&format!(
            "<tr><td>{ICON_DIR}<a class=\"dir\" href=\"{}\">{}</a></td><td class=\"size\">&ndash;</td><td class=\"date\"></td></tr>",
            esc(&browse_link(&bucket, cp, None)),
            esc(name)
        ));
    }
    // The folder's own marker (`dir/` inside `dir/`) is the folder itself, not an entry of it.
    let objects: Vec<&ObjectInfo> = p.objects.iter().filter(|o| o.key != prefix).collect();
    let signer = (!ctx.state.cfg.secure).then(|| LinkSigner {
        host: ctx.header("host").unwrap_or_default().to_string(),
        now: std::time::SystemTime::now(),
    });
    for o in &objects {
        b.push_str(&object_row(&bucket, &prefix, o, signer.as_ref()));
    }
    if p.common_prefixes.is_empty() && objects.is_empty() {
        b.push_str("<tr><td colspan=\"3\" class=\"empty\">No objects here.</td></tr>");
    }
    b.push_str("</tbody></table><div class=\"pager\">");
    b.push_str(&format!(
        "<span class=\"count\">{} folder(s), {} object(s) on this page</span>",
        p.common_prefixes.len(),
        objects.len()
    ));
    if token.is_some() {
        b.push_str(&format!(
            "<a href=\"{}\">First page</a>",
            esc(&browse_link(&bucket, &prefix, None))
        ));
    }
    if let (true, Some(next)) = (p.is_truncated, p.next_start_after.as_deref()) {
        let t = super::list::encode_token(next);
        b.push_str(&format!(
            "<a href=\"{}\">Next page &rarr;</a>",
            esc(&browse_link(&bucket, &prefix, Some(&t)))
        ));
    }
    b.push_str("</div></main>");
    Ok(html(StatusCode::OK, page(&format!("{bucket}/{prefix}"), &b)))
}

/// The upload and new-folder forms (security off). The script posts each chosen file, then the
/// folder name, to `/bucket/PREFIX/NAME?browser=upload|folder` with the `x-ozfs-browser` header
/// (see [`super::browser_write`]) and reloads the page.
fn write_tools(bucket: &str, prefix: &str) -> String {
    let base = format!("/{}/{}", utf8_percent_encode(bucket, PATH_SET), key_path(prefix));
    format!(
        "<div class=\"tools\" id=\"tools\" data-base=\"{}\">\
<form id=\"upload\"><input type=\"file\" id=\"files\" name=\"files\" multiple><button type=\"submit\">Upload</button></form>\
<form id=\"mkdir\"><input type=\"text\" id=\"folder\" name=\"folder\" placeholder=\"New folder name\"><button type=\"submit\">Create folder</button></form>\
<span id=\"msg\"></span></div><script>{WRITE_SCRIPT}</script>",
        esc(&base)
    )
}

const WRITE_SCRIPT: &str = r#"(function(){
var base=document.getElementById('tools').dataset.base,msg=document.getElementById('msg');
function bad(n){return !n||n==='.'||n==='..'||n.indexOf('/')>=0;}
function post(url,body,type){var h={'x-ozfs-browser':'1'};if(type)h['Content-Type']=type;
return fetch(url,{method:'POST',headers:h,body:body}).then(function(r){if(!r.ok)return r.text().then(function(t){
var m=/<Message>([^<]*)<\/Message>/.exec(t);throw new Error(r.status+': '+(m?m[1]:t));});});}
function fail(e){msg.textContent='Failed: '+e.message;}
document.getElementById('upload').addEventListener('submit',function(ev){ev.preventDefault();
var fs=Array.prototype.slice.call(document.getElementById('files').files);if(!fs.length){msg.textContent='Choose files first.';return;}
var i=0;(function next(){if(i>=fs.length){location.reload();return;}var f=fs[i++];
if(bad(f.name)){fail(new Error('unusable file name '+f.name));return;}
msg.textContent='Uploading '+i+'/'+fs.length+': '+f.name;
post(base+encodeURIComponent(f.name)+'?browser=upload',f,f.type||'application/octet-stream').then(next,fail);})();});
document.getElementById('mkdir').addEventListener('submit',function(ev){ev.preventDefault();
var n=document.getElementById('folder').value.trim();if(bad(n)){msg.textContent='A folder name is one path segment, not . or ..';return;}
msg.textContent='Creating '+n+'/';post(base+encodeURIComponent(n)+'/?browser=folder',null,null).then(function(){location.reload();},fail);});
})();"#;

/// A key as the path of a download link. A browser resolves `.` and `..` segments (also their
/// `%2e` forms) before it sends the request, so a key such as `a/../../other/k` would link to
/// bucket `other`; such keys get their `/` encoded too, which keeps the whole key one segment
/// (the gateway decodes `%2F` back).
fn key_path(key: &str) -> String {
    let dots = key.split('/').any(|s| {
        let d = s.to_ascii_lowercase().replace("%2e", ".");
        d == "." || d == ".."
    });
    let set = if dots { QUERY_SET } else { PATH_SET };
    utf8_percent_encode(key, set).to_string()
}

fn object_row(bucket: &str, prefix: &str, o: &ObjectInfo, signer: Option<&LinkSigner>) -> String {
    let name = o.key.strip_prefix(prefix).unwrap_or(&o.key);
    let href = format!("/{}/{}", utf8_percent_encode(bucket, PATH_SET), key_path(&o.key));
    let href = match signer {
        Some(s) => s.sign(&href),
        None => href,
    };
    let date = ozfs::time::iso8601(o.last_modified);
    let date = date.get(..19).unwrap_or(&date).replace('T', " ");
    format!(
        "<tr><td>{ICON_FILE}<a class=\"obj\" href=\"{}\" download>{}</a></td><td class=\"size\" title=\"{} bytes\">{}</td><td class=\"date\">{}</td></tr>",
        esc(&href),
        esc(name),
        o.size,
        human_size(o.size),
        esc(&date)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_escaping() {
        assert_eq!(human_size(10), "10 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(esc("<a href=\"x\">&"), "&lt;a href=&quot;x&quot;&gt;&amp;");
        assert_eq!(key_path("dir/a b.txt"), "dir/a%20b.txt");
        // Dot segments would be resolved by the browser: a link must stay inside the bucket.
        for k in ["a/../../other/k", "../x", "./k", "a/%2E%2e/k"] {
            let p = key_path(k);
            assert!(!p.contains('/'), "{k} -> {p}");
            let back = percent_encoding::percent_decode_str(&p).decode_utf8().unwrap();
            assert_eq!(back, k);
        }
        assert_eq!(
            browse_link("b", "a b/", Some("t-1")),
            "/b?browser=true&prefix=a%20b%2F&continuation-token=t-1"
        );
    }
}
