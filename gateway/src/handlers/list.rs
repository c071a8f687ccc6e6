//! ListObjects (V1 and V2) and ListObjectVersions (an unversioned bucket: every object is its
//! one `null` version).
//!
//! One code path for V1 and V2, as Ozone: `Marker` and `KeyCount` appear in both; V1 always
//! carries `Owner`, V2 only with `fetch-owner=true`; when truncated both `NextMarker` and
//! `NextContinuationToken` are set. The continuation token is the hex of the key to resume
//! after plus a short SHA-256 tag, so a tampered token is InvalidArgument rather than a silent
//! jump.
//!
//! `encoding-type=url` form-encodes (space as `+`, `/` kept, as AWS answers) the elements AWS
//! encodes: V1 `Delimiter`, `Marker`, `NextMarker`, `Key`, `CommonPrefixes/Prefix` — but not the
//! V1 `Prefix`, which AWS echoes as sent (botocore decodes it only in V2); V2 `Prefix`,
//! `Delimiter`, `StartAfter`, `Key`, `CommonPrefixes/Prefix`; versions `Prefix`, `Delimiter`,
//! `KeyMarker`, `NextKeyMarker`, `Key`.
//!
//! ozfs extension (for `ozfs mount --endpoint`, see docs/SEMANTICS.md "Listings and POSIX
//! attributes"): with the query parameter `ozfs-metadata=true`, when the store's listing carries
//! user metadata (the embedded store always does), the result says `<OzfsMetadata>true`, each
//! `Contents` holds its user metadata as `<UserMetadata><Entry><Name>mode</Name><Value>33188`
//! `</Value></Entry>…</UserMetadata>`, and a `CommonPrefixes` whose marker object (`dir/`)
//! exists holds it as `<DirMarker>` (LastModified, ETag, Size, UserMetadata). So one LIST tells
//! a mount every entry's mode, owner, type and mtime, with no HEAD per entry. Reading it needs
//! no more right than the listing: a bucket reader may read (HEAD) every object of it.

use super::{int_param, quote, xml_response, Access, Ctx, OWNER_ID};
use crate::body::RespBody;
use crate::error::S3Error;
use crate::xml::XmlWriter;
use http::{Response, StatusCode};
use ozfs::{ListPage, ListRequest, ObjectInfo};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// Most keys in one page.
pub const MAX_KEYS: usize = 1000;

const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/')
    .remove(b' ');

fn token_tag(hex_key: &str) -> String {
    hex::encode(&Sha256::digest(hex_key.as_bytes())[..8])
}

/// Encode a resume point as a continuation token.
pub fn encode_token(start_after: &str) -> String {
    let h = hex::encode(start_after.as_bytes());
    let tag = token_tag(&h);
    format!("{h}-{tag}")
}

/// Decode a continuation token (InvalidArgument when malformed or tampered with).
pub fn decode_token(t: &str) -> Result<String, S3Error> {
    let bad = || S3Error::invalid_argument("The continuation token provided is incorrect");
    let (h, tag) = t.rsplit_once('-').ok_or_else(bad)?;
    if token_tag(h) != tag {
        return Err(bad());
    }
    let bytes = hex::decode(h).map_err(|_| bad())?;
    String::from_utf8(bytes).map_err(|_| bad())
}

/// Encoder for `encoding-type=url` (identity otherwise).
struct Enc(bool);

impl Enc {
    fn e(&self, s: &str) -> String {
        if self.0 {
            utf8_percent_encode(s, URL_ENCODE).to_string().replace(' ', "+")
        } else {
            s.to_string()
        }
    }
}

fn encoding(ctx: &Ctx) -> Result<Enc, S3Error> {
    match ctx.query.get("encoding-type") {
        None => Ok(Enc(false)),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(Enc(true)),
        Some(_) => Err(S3Error::invalid_argument(
            "Invalid Encoding Method specified in Request",
        )),
    }
}

/// Fetch one page; with `max_keys == 0` only check the bucket exists.
async fn page(
    ctx: &Ctx,
    prefix: &str,
    delimiter: Option<&str>,
    start_after: Option<String>,
    max_keys: usize,
) -> Result<ListPage, S3Error> {
    let req = ListRequest {
        prefix: prefix.to_string(),
        delimiter: delimiter.map(str::to_string),
        start_after,
        max_keys: max_keys.max(1),
    };
    let p = ctx
        .state
        .store
        .list_objects(&ctx.bucket_path(), req)
        .await
        .map_err(|e| S3Error::from(e).with_resource(ctx.bucket_name().to_string()))?;
    if max_keys == 0 {
        return Ok(ListPage::default());
    }
    Ok(p)
}

fn write_owner(w: &mut XmlWriter, owner: &str) {
    w.start("Owner").elem("ID", OWNER_ID).elem("DisplayName", owner).end();
}

/// `<UserMetadata>` of the ozfs extension (nothing when `user` is empty).
fn write_user_meta(w: &mut XmlWriter, user: &std::collections::BTreeMap<String, String>) {
    if user.is_empty() {
        return;
    }
    w.start("UserMetadata");
    for (name, value) in user {
        w.start("Entry").elem("Name", name).elem("Value", value).end();
    }
    w.end();
}

/// One `Contents` (or `Version`) element; `meta`: with the ozfs extension's `UserMetadata`.
fn write_object(w: &mut XmlWriter, tag: &str, o: &ObjectInfo, enc: &Enc, owner: bool, version: bool, meta: bool) {
    w.start(tag).elem("Key", &enc.e(&o.key));
    if version {
        w.elem("VersionId", "null").elem("IsLatest", "true");
    }
    w.elem("LastModified", &ozfs::time::iso8601(o.last_modified))
        .elem("ETag", &quote(&o.etag))
        .elem("Size", &o.size.to_string())
        .elem("StorageClass", o.attrs.storage_class.as_deref().unwrap_or("STANDARD"));
    if owner {
        write_owner(w, &o.owner);
    }
    if meta {
        write_user_meta(w, &o.attrs.user);
    }
    w.end();
}

pub async fn list_objects(ctx: &Ctx, v2: bool) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Read).await?;
    let q = &ctx.query;
    let enc = encoding(ctx)?;
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty());
    let max_keys = int_param(q, "max-keys", MAX_KEYS, MAX_KEYS)?;
    let token = if v2 { q.get("continuation-token") } else { None };
    let start_after = match token {
        Some("") => None,
        Some(t) => Some(decode_token(t)?),
        None if v2 => q.get("start-after").filter(|s| !s.is_empty()).map(str::to_string),
        None => q.get("marker").filter(|s| !s.is_empty()).map(str::to_string),
    };
    let fetch_owner = !v2 || q.get("fetch-owner") == Some("true");
    let p = page(ctx, prefix, delimiter, start_after, max_keys).await?;
    let with_meta = q.get("ozfs-metadata") == Some("true") && p.user_meta;

    let mut w = XmlWriter::new();
    w.start_ns("ListBucketResult")
        .elem("Name", ctx.bucket_name())
        .elem("Prefix", &if v2 { enc.e(prefix) } else { prefix.to_string() })
        .elem("Marker", &enc.e(q.get("marker").unwrap_or("")))
        .elem("MaxKeys", &max_keys.to_string())
        .elem("KeyCount", &(p.objects.len() + p.common_prefixes.len()).to_string());
    if let Some(d) = delimiter {
        w.elem("Delimiter", &enc.e(d));
    }
    w.elem("IsTruncated", if p.is_truncated { "true" } else { "false" });
    if enc.0 {
        w.elem("EncodingType", "url");
    }
    if let Some(t) = token {
        w.elem("ContinuationToken", t);
    }
    if let Some(s) = q.get("start-after") {
        w.elem("StartAfter", &enc.e(s));
    }
    if let (true, Some(next)) = (p.is_truncated, p.next_start_after.as_deref()) {
        w.elem("NextMarker", &enc.e(next));
        if v2 {
            w.elem("NextContinuationToken", &encode_token(next));
        }
    }
    if with_meta {
        w.elem("OzfsMetadata", "true");
    }
    for o in &p.objects {
        write_object(&mut w, "Contents", o, &enc, fetch_owner, false, with_meta);
    }
    // markers come in the order of the common prefixes they belong to
    let mut markers = p.markers.iter().filter(|_| with_meta).peekable();
    for cp in &p.common_prefixes {
        w.start("CommonPrefixes").elem("Prefix", &enc.e(cp));
        if let Some(m) = markers.next_if(|m| &m.key == cp) {
            w.start("DirMarker")
                .elem("LastModified", &ozfs::time::iso8601(m.last_modified))
                .elem("ETag", &quote(&m.etag))
                .elem("Size", &m.size.to_string());
            write_user_meta(&mut w, &m.attrs.user);
            w.end();
        }
        w.end();
    }
    Ok(xml_response(StatusCode::OK, w.finish()))
}

pub async fn list_versions(ctx: &Ctx) -> Result<Response<RespBody>, S3Error> {
    ctx.check_bucket(Access::Read).await?;
    let q = &ctx.query;
    let enc = encoding(ctx)?;
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty());
    let max_keys = int_param(q, "max-keys", MAX_KEYS, MAX_KEYS)?;
    let key_marker = q.get("key-marker").filter(|s| !s.is_empty());
    let p = page(ctx, prefix, delimiter, key_marker.map(str::to_string), max_keys).await?;

    let mut w = XmlWriter::new();
    w.start_ns("ListVersionsResult")
        .elem("Name", ctx.bucket_name())
        .elem("Prefix", &enc.e(prefix))
        .elem("KeyMarker", &enc.e(key_marker.unwrap_or("")))
        .elem("VersionIdMarker", q.get("version-id-marker").unwrap_or(""))
        .elem("MaxKeys", &max_keys.to_string());
    if let Some(d) = delimiter {
        w.elem("Delimiter", &enc.e(d));
    }
    if enc.0 {
        w.elem("EncodingType", "url");
    }
    w.elem("IsTruncated", if p.is_truncated { "true" } else { "false" });
    if let (true, Some(next)) = (p.is_truncated, p.next_start_after.as_deref()) {
        w.elem("NextKeyMarker", &enc.e(next))
            .elem("NextVersionIdMarker", "null");
    }
    for o in &p.objects {
        write_object(&mut w, "Version", o, &enc, true, true, false);
    }
    for cp in &p.common_prefixes {
        w.start("CommonPrefixes").elem("Prefix", &enc.e(cp)).end();
    }
    Ok(xml_response(StatusCode::OK, w.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn token_rejects_tampering() {
        let t = encode_token("dir/a b");
        assert_eq!(decode_token(&t).unwrap(), "dir/a b");
        let mut bad = t.clone();
        bad.replace_range(0..2, "65");
        assert!(decode_token(&bad).is_err());
        assert!(decode_token("garbage").is_err());
    }

    #[test]
    fn url_encoding_keeps_slash() {
        assert_eq!(Enc(true).e("a b/c+d"), "a+b/c%2Bd");
        assert_eq!(Enc(true).e("\n100%/한"), "%0A100%25/%ED%95%9C");
        assert_eq!(Enc(false).e("a b"), "a b");
    }

    proptest! {
        #[test]
        fn token_round_trips(k in ".{0,40}") {
            prop_assert_eq!(decode_token(&encode_token(&k)).unwrap(), k);
        }
    }
}
