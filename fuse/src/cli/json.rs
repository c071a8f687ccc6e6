//! The JSON that `ozfs sh … info|list` prints, laid out the way `ozone sh` prints it (Jackson's
//! pretty printer: `"name" : value`, two-space indent, lists as `[ {` … `}, {` … `} ]`), with
//! the field names Ozone uses (`volumeName`, `dataSize`, `creationTime`, `sourceVolume`, …).
//! Only fields ozfs really knows are printed: quotas are `-1` (ozfs has none), nothing is made
//! up. Hand-written because the shapes are fixed and few; a serializer would add a dependency
//! for a dozen lines.

use ozfs::time::iso8601;
use ozfs::{BucketInfo, BucketPath, ObjectInfo, VolumeInfo};
use std::fmt::Write;

/// A JSON value as the printer needs it.
pub enum Value {
    Str(String),
    Num(i128),
    Bool(bool),
    Object(Vec<(String, Value)>),
    Array(Vec<Value>),
}

fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_value(v: &Value, indent: usize, out: &mut String) {
    let pad = |n: usize| "  ".repeat(n);
    match v {
        Value::Str(s) => quote(s, out),
        Value::Num(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Object(fields) if fields.is_empty() => out.push_str("{ }"),
        Value::Object(fields) => {
            out.push_str("{\n");
            for (i, (k, v)) in fields.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                quote(k, out);
                out.push_str(" : ");
                write_value(v, indent + 1, out);
                out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push('}');
        }
        Value::Array(items) if items.is_empty() => out.push_str("[ ]"),
        Value::Array(items) => {
            out.push_str("[ ");
            for (i, item) in items.iter().enumerate() {
                write_value(item, indent, out);
                if i + 1 < items.len() {
                    out.push_str(", ");
                }
            }
            out.push_str(" ]");
        }
    }
}

/// Render with a trailing newline.
pub fn render(v: &Value) -> String {
    let mut out = String::new();
    write_value(v, 0, &mut out);
    out.push('\n');
    out
}

fn s(v: impl Into<String>) -> Value {
    Value::Str(v.into())
}

fn obj(fields: Vec<(&str, Value)>) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

pub fn volume(v: &VolumeInfo) -> Value {
    obj(vec![
        ("metadata", obj(vec![])),
        ("name", s(&v.name)),
        ("admin", s(&v.owner)),
        ("owner", s(&v.owner)),
        ("quotaInBytes", Value::Num(-1)),
        ("quotaInNamespace", Value::Num(-1)),
        ("creationTime", s(iso8601(v.created))),
    ])
}

pub fn bucket(b: &BucketInfo) -> Value {
    let mut f = vec![
        ("metadata", obj(vec![])),
        ("volumeName", s(&b.volume)),
        ("name", s(&b.name)),
        ("versioning", Value::Bool(false)),
        ("creationTime", s(iso8601(b.created))),
    ];
    if let Some(BucketPath { volume, bucket }) = &b.link_target {
        f.push(("sourceVolume", s(volume)));
        f.push(("sourceBucket", s(bucket)));
    }
    f.push(("quotaInBytes", Value::Num(-1)));
    f.push(("quotaInNamespace", Value::Num(-1)));
    f.push(("bucketLayout", s(b.layout.as_str())));
    f.push(("owner", s(&b.owner)));
    f.push(("link", Value::Bool(b.link_target.is_some())));
    if !b.acl.is_empty() {
        let acls = b
            .acl
            .iter()
            .map(|g| obj(vec![("name", s(&g.grantee)), ("permission", s(&g.permission))]))
            .collect();
        f.push(("acls", Value::Array(acls)));
    }
    obj(f)
}

/// A key as `key list` prints it. Each write makes a new key in Ozone, so the creation time of
/// this key is its last write.
pub fn key_summary(bucket: &BucketPath, o: &ObjectInfo) -> Value {
    Value::Object(key_fields(bucket, o))
}

fn key_fields(bucket: &BucketPath, o: &ObjectInfo) -> Vec<(String, Value)> {
    let t = iso8601(o.last_modified);
    [
        ("volumeName", s(&bucket.volume)),
        ("bucketName", s(&bucket.bucket)),
        ("name", s(&o.key)),
        ("owner", s(&o.owner)),
        ("dataSize", Value::Num(o.size as i128)),
        ("creationTime", s(t.clone())),
        ("modificationTime", s(t)),
        ("eTag", s(&o.etag)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A key as `key info` prints it: the summary plus metadata (user metadata, ETag, the standard
/// headers), tags and the multipart layout.
pub fn key_detail(bucket: &BucketPath, o: &ObjectInfo) -> Value {
    let mut f = key_fields(bucket, o);
    let mut meta = vec![("ETag".to_string(), s(&o.etag))];
    if let Some(ct) = &o.attrs.content_type {
        meta.push(("Content-Type".into(), s(ct)));
    }
    for (k, v) in &o.attrs.headers {
        meta.push((k.clone(), s(v)));
    }
    // User metadata by its own name, as Ozone keeps and prints it (`custom-key1`, not
    // `x-amz-meta-custom-key1`).
    for (k, v) in &o.attrs.user {
        meta.push((k.clone(), s(v)));
    }
    f.push(("metadata".into(), Value::Object(meta)));
    if !o.attrs.tags.is_empty() {
        let tags = o.attrs.tags.iter().map(|(k, v)| (k.clone(), s(v))).collect();
        f.push(("tags".into(), Value::Object(tags)));
    }
    if let Some(sc) = &o.attrs.storage_class {
        f.push(("storageClass".into(), s(sc)));
    }
    if !o.parts.is_empty() {
        f.push((
            "parts".into(),
            Value::Array(o.parts.iter().map(|p| Value::Num(*p as i128)).collect()),
        ));
    }
    Value::Object(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn ozone_layout() {
        let v = VolumeInfo {
            name: "vol1".into(),
            owner: "al\"ice".into(),
            created: UNIX_EPOCH + Duration::from_millis(1_000),
        };
        let text = render(&Value::Array(vec![volume(&v), volume(&v)]));
        assert!(
            text.starts_with("[ {\n  \"metadata\" : { },\n  \"name\" : \"vol1\",\n"),
            "{text}"
        );
        assert!(text.contains("\"owner\" : \"al\\\"ice\""), "{text}");
        assert!(text.contains("}, {\n"), "{text}");
        assert!(text.ends_with("} ]\n"), "{text}");
        assert!(
            text.contains("\"creationTime\" : \"1970-01-01T00:00:01.000Z\""),
            "{text}"
        );
        assert_eq!(render(&Value::Array(vec![])), "[ ]\n");
    }

    #[test]
    fn link_fields() {
        let b = BucketInfo {
            volume: "s3v".into(),
            name: "common".into(),
            owner: "bob".into(),
            created: UNIX_EPOCH,
            link_target: Some(BucketPath::new("vol1", "bucket1")),
            acl: vec![],
            tags: Default::default(),
            lifecycle: None,
            layout: Default::default(),
        };
        let text = render(&bucket(&b));
        assert!(text.contains("\"sourceVolume\" : \"vol1\""), "{text}");
        assert!(text.contains("\"sourceBucket\" : \"bucket1\""), "{text}");
        assert!(text.contains("\"link\" : true"), "{text}");
    }

    #[test]
    fn key_info_metadata_by_name_and_bucket_layout() {
        let mut attrs = ozfs::ObjectAttrs::default();
        attrs.user.insert("custom-key1".into(), "v1".into());
        let o = ObjectInfo {
            key: "k".into(),
            size: 1,
            etag: "e".into(),
            last_modified: UNIX_EPOCH,
            version: 1,
            owner: "o".into(),
            attrs,
            parts: vec![],
            part_numbers: vec![],
        };
        let text = render(&key_detail(&BucketPath::new("v", "b"), &o));
        assert!(text.contains("\"custom-key1\" : \"v1\""), "{text}");
        assert!(!text.contains("x-amz-meta-"), "{text}");
        let b = BucketInfo {
            volume: "v".into(),
            name: "b".into(),
            owner: "o".into(),
            created: UNIX_EPOCH,
            link_target: None,
            acl: vec![],
            tags: Default::default(),
            lifecycle: None,
            layout: ozfs::BucketLayout::FileSystemOptimized,
        };
        assert!(render(&bucket(&b)).contains("\"bucketLayout\" : \"FILE_SYSTEM_OPTIMIZED\""));
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut out = String::new();
        quote("a\u{1}\n", &mut out);
        assert_eq!(out, "\"a\\u0001\\n\"");
    }
}
