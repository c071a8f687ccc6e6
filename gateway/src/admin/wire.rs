//! The admin API's wire format, shared by the server ([`super::handle`]) and the CLI's HTTP
//! client, so the two ends cannot drift apart.
//!
//! Requests name everything in the query string (`?volume=v&bucket=b&key=k`), percent-encoded,
//! so key names with `//`, `..` or `?` never meet path normalisation. Responses are records, one
//! per line; a record is `name=value` fields separated by tabs, each value percent-encoded (so a
//! value never holds a tab or a newline). Times travel as milliseconds since the Unix epoch.
//! An error is a non-2xx status with the core's one-line message as the body.

use ozfs::{BucketInfo, BucketPath, Grant, ObjectAttrs, ObjectInfo, VolumeInfo};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Header carrying the admin token.
pub const TOKEN_HEADER: &str = "x-ozfs-admin-token";
/// Header telling a key listing was cut short (`true` / `false`).
pub const TRUNCATED_HEADER: &str = "x-ozfs-truncated";
/// Path prefix of the admin API on the S3 port.
pub const PREFIX: &str = "/_ozfs/admin";

/// Characters left as they are: unreserved URI characters.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encode a value for a query string or a record field.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, ENCODE).to_string()
}

/// Decode a percent-encoded value (invalid UTF-8 is an error, not a lossy replacement).
pub fn decode(s: &str) -> Result<String, String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| format!("invalid UTF-8 in {s:?}"))
}

/// Build a query string from pairs.
pub fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Parse a query string into a map (the last value of a repeated name wins).
pub fn parse_query(q: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for part in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.insert(decode(k)?, decode(v)?);
    }
    Ok(out)
}

/// One record: ordered `name=value` fields; a name may repeat (grants, metadata).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record(pub Vec<(String, String)>);

impl Record {
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((name.to_string(), value.into()));
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn need(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("admin response lacks field {name:?}"))
    }

    fn need_u64(&self, name: &str) -> Result<u64, String> {
        self.need(name)?
            .parse()
            .map_err(|_| format!("admin response field {name:?} is not a number"))
    }

    fn need_time(&self, name: &str) -> Result<SystemTime, String> {
        Ok(UNIX_EPOCH + Duration::from_millis(self.need_u64(name)?))
    }

    /// Encode as one line (without the newline).
    pub fn to_line(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("\t")
    }

    pub fn from_line(line: &str) -> Result<Record, String> {
        let mut r = Record::default();
        for field in line.split('\t').filter(|f| !f.is_empty()) {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| format!("malformed admin response field {field:?}"))?;
            r.0.push((decode(k)?, decode(v)?));
        }
        Ok(r)
    }
}

/// Encode records, one per line.
pub fn to_text(records: &[Record]) -> String {
    let mut s = String::new();
    for r in records {
        s.push_str(&r.to_line());
        s.push('\n');
    }
    s
}

/// Decode the lines of a response body.
pub fn from_text(text: &str) -> Result<Vec<Record>, String> {
    text.lines().filter(|l| !l.is_empty()).map(Record::from_line).collect()
}

fn millis(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis()
        .to_string()
}

pub fn volume_record(v: &VolumeInfo) -> Record {
    let mut r = Record::default();
    r.push("name", v.name.clone());
    r.push("owner", v.owner.clone());
    r.push("created", millis(v.created));
    r
}

pub fn volume_from(r: &Record) -> Result<VolumeInfo, String> {
    Ok(VolumeInfo {
        name: r.need("name")?.to_string(),
        owner: r.need("owner")?.to_string(),
        created: r.need_time("created")?,
    })
}

pub fn bucket_record(b: &BucketInfo) -> Record {
    let mut r = Record::default();
    r.push("volume", b.volume.clone());
    r.push("name", b.name.clone());
    r.push("owner", b.owner.clone());
    r.push("created", millis(b.created));
    if let Some(t) = &b.link_target {
        r.push("link", t.to_string());
    }
    for g in &b.acl {
        r.push("grant", format!("{}:{}", g.permission, g.grantee));
    }
    for (k, v) in &b.tags {
        // The key is percent-encoded: it may hold '='.
        r.push("tag", format!("{}={v}", utf8_percent_encode(k, NON_ALPHANUMERIC)));
    }
    if let Some(l) = &b.lifecycle {
        r.push("lifecycle", l.clone());
    }
    r.push("layout", b.layout.as_str().to_string());
    r
}

/// The ACL of `/bucket/update?what=acl` as one parameter: `PERMISSION:GRANTEE` lines.
pub fn grants_param(grants: &[Grant]) -> String {
    grants
        .iter()
        .map(|g| format!("{}:{}", g.permission, g.grantee))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The grants of [`grants_param`] text.
pub fn grants_from_param(text: &str) -> Result<Vec<Grant>, String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (p, g) = l.split_once(':').ok_or_else(|| format!("malformed grant {l:?}"))?;
            Ok(Grant {
                grantee: g.to_string(),
                permission: p.to_string(),
            })
        })
        .collect()
}

pub fn bucket_from(r: &Record) -> Result<BucketInfo, String> {
    let link_target = match r.get("link") {
        Some(l) => Some(BucketPath::parse(l).map_err(|e| e.to_string())?),
        None => None,
    };
    let acl =
        r.0.iter()
            .filter(|(k, _)| k == "grant")
            .map(|(_, v)| {
                let (p, g) = v.split_once(':').ok_or_else(|| format!("malformed grant {v:?}"))?;
                Ok(Grant {
                    grantee: g.to_string(),
                    permission: p.to_string(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
    let tags =
        r.0.iter()
            .filter(|(k, _)| k == "tag")
            .map(|(_, v)| {
                let (k, v) = v.split_once('=').ok_or_else(|| format!("malformed tag {v:?}"))?;
                let k = percent_decode_str(k)
                    .decode_utf8()
                    .map_err(|_| format!("malformed tag key {k:?}"))?;
                Ok((k.into_owned(), v.to_string()))
            })
            .collect::<Result<BTreeMap<_, _>, String>>()?;
    let layout = match r.get("layout") {
        Some(l) => l.parse().map_err(|e: ozfs::Error| e.to_string())?,
        None => Default::default(),
    };
    Ok(BucketInfo {
        volume: r.need("volume")?.to_string(),
        name: r.need("name")?.to_string(),
        owner: r.need("owner")?.to_string(),
        created: r.need_time("created")?,
        link_target,
        acl,
        tags,
        lifecycle: r.get("lifecycle").map(str::to_string),
        layout,
    })
}

/// An object record carries what the CLI shows: not the checksums, parts' sizes or tags' order.
pub fn object_record(o: &ObjectInfo) -> Record {
    let mut r = Record::default();
    r.push("key", o.key.clone());
    r.push("size", o.size.to_string());
    r.push("etag", o.etag.clone());
    r.push("modified", millis(o.last_modified));
    r.push("version", o.version.to_string());
    r.push("owner", o.owner.clone());
    if let Some(ct) = &o.attrs.content_type {
        r.push("content-type", ct.clone());
    }
    if let Some(sc) = &o.attrs.storage_class {
        r.push("storage-class", sc.clone());
    }
    for (k, v) in &o.attrs.headers {
        r.push(&format!("header.{k}"), v.clone());
    }
    for (k, v) in &o.attrs.user {
        r.push(&format!("meta.{k}"), v.clone());
    }
    for (k, v) in &o.attrs.tags {
        r.push(&format!("tag.{k}"), v.clone());
    }
    for p in &o.parts {
        r.push("part", p.to_string());
    }
    for n in &o.part_numbers {
        r.push("partno", n.to_string());
    }
    r
}

pub fn object_from(r: &Record) -> Result<ObjectInfo, String> {
    let mut attrs = ObjectAttrs {
        content_type: r.get("content-type").map(str::to_string),
        storage_class: r.get("storage-class").map(str::to_string),
        ..ObjectAttrs::default()
    };
    let mut parts = Vec::new();
    let mut part_numbers = Vec::new();
    for (k, v) in &r.0 {
        if let Some(h) = k.strip_prefix("header.") {
            attrs.headers.insert(h.to_string(), v.clone());
        } else if let Some(m) = k.strip_prefix("meta.") {
            attrs.user.insert(m.to_string(), v.clone());
        } else if let Some(t) = k.strip_prefix("tag.") {
            attrs.tags.insert(t.to_string(), v.clone());
        } else if k == "part" {
            parts.push(v.parse().map_err(|_| format!("malformed part size {v:?}"))?);
        } else if k == "partno" {
            part_numbers.push(v.parse().map_err(|_| format!("malformed part number {v:?}"))?);
        }
    }
    Ok(ObjectInfo {
        key: r.need("key")?.to_string(),
        size: r.need_u64("size")?,
        etag: r.need("etag")?.to_string(),
        last_modified: r.need_time("modified")?,
        version: r.need_u64("version")?,
        owner: r.need("owner")?.to_string(),
        attrs,
        parts,
        part_numbers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn volume_roundtrip() {
        let v = VolumeInfo {
            name: "vol1".into(),
            owner: "alice".into(),
            created: t(1_700_000_000_123),
        };
        let line = volume_record(&v).to_line();
        assert_eq!(volume_from(&Record::from_line(&line).unwrap()).unwrap(), v);
    }

    #[test]
    fn bucket_roundtrip() {
        let b = BucketInfo {
            volume: "s3v".into(),
            name: "common".into(),
            owner: "testuser/scm@EXAMPLE.COM".into(),
            created: t(5),
            link_target: Some(BucketPath::new("vol1", "bucket1")),
            acl: vec![Grant {
                grantee: "bob".into(),
                permission: "READ".into(),
            }],
            tags: BTreeMap::from([("k=1".to_string(), "v=2".to_string())]),
            lifecycle: Some("<LifecycleConfiguration>\n</LifecycleConfiguration>".into()),
            layout: ozfs::BucketLayout::Legacy,
        };
        let text = to_text(&[bucket_record(&b)]);
        let recs = from_text(&text).unwrap();
        assert_eq!(bucket_from(&recs[0]).unwrap(), b);
    }

    #[test]
    fn missing_field_is_an_error() {
        let r = Record::from_line("name=v").unwrap();
        assert!(volume_from(&r).unwrap_err().contains("owner"));
        assert!(Record::from_line("novalue").is_err());
    }

    proptest! {
        #[test]
        fn object_roundtrip(key in "\\PC{1,40}", size in any::<u64>(), meta in "[a-z]{1,8}", val in "\\PC{0,20}",
                            ct in proptest::option::of("\\PC{1,20}")) {
            let mut attrs = ObjectAttrs { content_type: ct, ..ObjectAttrs::default() };
            attrs.user.insert(meta, val);
            let o = ObjectInfo {
                key, size, etag: "abc-2".into(), last_modified: t(42), version: 7, owner: "o w\tner".into(),
                attrs, parts: vec![5 << 20, 1], part_numbers: vec![1, 3],
            };
            let text = to_text(&[object_record(&o)]);
            prop_assert_eq!(text.lines().count(), 1);
            let back = object_from(&from_text(&text).unwrap()[0]).unwrap();
            prop_assert_eq!(back, o);
        }

        #[test]
        fn query_roundtrip(k in "\\PC{0,30}", v in "\\PC{0,30}") {
            let q = query(&[("key", &k), ("other", &v)]);
            let m = parse_query(&q).unwrap();
            prop_assert_eq!(m.get("key"), Some(&k));
            prop_assert_eq!(m.get("other"), Some(&v));
        }

        #[test]
        fn record_parser_never_panics(s in "\\PC{0,60}") {
            let _ = Record::from_line(&s);
            let _ = parse_query(&s);
        }
    }
}
