//! Conformance suite of the `ObjectStore` semantics, run against the in-memory reference store
//! and the embedded store alike.

mod common;

use common::md5hex;
use md5::Digest;
use ozfs::store::MIN_PART_SIZE;
use ozfs::*;
use std::collections::BTreeMap;

fn bp(b: &str) -> BucketPath {
    BucketPath::new("s3v", b)
}

async fn put(s: &dyn ObjectStore, b: &BucketPath, k: &str, data: &[u8]) -> Result<ObjectInfo> {
    s.put_object(b, k, body_from_bytes(data.to_vec()), PutOptions::default())
        .await
}

async fn get(s: &dyn ObjectStore, b: &BucketPath, k: &str, opts: GetOptions) -> Result<(ObjectInfo, Vec<u8>)> {
    let r = s.get_object(b, k, opts).await?;
    let data = collect_body(r.body, 1 << 30).await?;
    assert_eq!(data.len() as u64, r.range.end - r.range.start);
    Ok((r.info, data))
}

async fn namespace(s: &dyn ObjectStore) {
    assert!(matches!(
        s.create_bucket(&bp("AB"), "u").await,
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        s.create_bucket(&BucketPath::new("nov", "abc"), "u").await,
        Err(Error::NoSuchVolume(_))
    ));
    s.create_bucket(&bp("real"), "alice").await.unwrap();
    assert!(matches!(
        s.create_bucket(&bp("real"), "bob").await,
        Err(Error::BucketAlreadyExists { owner, .. }) if owner == "alice"
    ));
    s.create_volume("vol1", "admin").await.unwrap();
    assert!(matches!(
        s.create_volume("vol1", "admin").await,
        Err(Error::VolumeAlreadyExists(_))
    ));
    s.create_bucket(&BucketPath::new("vol1", "src"), "carol").await.unwrap();
    put(s, &BucketPath::new("vol1", "src"), "k", b"hello").await.unwrap();
    // Links: chain, several to one bucket, dangling, loop.
    s.create_link(&bp("link1"), &BucketPath::new("vol1", "src"), "alice")
        .await
        .unwrap();
    s.create_link(&bp("link2"), &bp("link1"), "alice").await.unwrap();
    s.create_link(&bp("link3"), &BucketPath::new("vol1", "src"), "bob")
        .await
        .unwrap();
    assert!(matches!(
        s.create_link(&bp("link1"), &bp("real"), "x").await,
        Err(Error::BucketAlreadyExists { owner, .. }) if owner == "alice"
    ));
    for l in ["link1", "link2", "link3"] {
        let (_, d) = get(s, &bp(l), "k", GetOptions::default()).await.unwrap();
        assert_eq!(d, b"hello");
    }
    assert_eq!(
        s.resolve_bucket(&bp("link2")).await.unwrap(),
        BucketPath::new("vol1", "src")
    );
    let mut rx = s.subscribe();
    put(s, &bp("link2"), "via-link", b"x").await.unwrap();
    let ev = rx.recv().await.unwrap();
    assert_eq!(ev.bucket, BucketPath::new("vol1", "src"));
    assert_eq!(ev.kind, ChangeKind::Put);
    s.create_link(&bp("dangling"), &BucketPath::new("vol1", "gone"), "a")
        .await
        .unwrap();
    let info = s.bucket_info(&bp("dangling")).await.unwrap();
    assert_eq!(info.link_target, Some(BucketPath::new("vol1", "gone")));
    assert!(matches!(
        s.head_object(&bp("dangling"), "k").await,
        Err(Error::NoSuchBucket(_))
    ));
    assert!(matches!(
        put(s, &bp("dangling"), "k", b"x").await,
        Err(Error::NoSuchBucket(_))
    ));
    s.create_link(&bp("loop-a"), &bp("loop-b"), "a").await.unwrap();
    s.create_link(&bp("loop-b"), &bp("loop-a"), "a").await.unwrap();
    assert!(matches!(
        s.head_object(&bp("loop-a"), "k").await,
        Err(Error::LinkLoop(_))
    ));
    assert!(s.bucket_info(&bp("loop-a")).await.is_ok());
    let names: Vec<String> = s
        .list_buckets("s3v")
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert!(names.contains(&"link1".to_string()) && names.contains(&"dangling".to_string()));
    // Deleting a link never touches its source.
    s.delete_bucket(&bp("link1")).await.unwrap();
    assert!(s.head_object(&BucketPath::new("vol1", "src"), "k").await.is_ok());
    assert!(matches!(
        s.delete_bucket(&BucketPath::new("vol1", "src")).await,
        Err(Error::BucketNotEmpty(_))
    ));
    assert!(matches!(s.delete_volume("vol1").await, Err(Error::VolumeNotEmpty(_))));
    // Unfinished uploads keep a bucket non-empty.
    s.create_bucket(&bp("mpu-only"), "a").await.unwrap();
    let id = s
        .create_multipart(&bp("mpu-only"), "x", PutOptions::default())
        .await
        .unwrap();
    assert!(matches!(
        s.delete_bucket(&bp("mpu-only")).await,
        Err(Error::BucketNotEmpty(_))
    ));
    s.abort_multipart(&bp("mpu-only"), "x", &id).await.unwrap();
    s.delete_bucket(&bp("mpu-only")).await.unwrap();
    assert!(matches!(
        s.bucket_info(&bp("mpu-only")).await,
        Err(Error::NoSuchBucket(_))
    ));
}

async fn objects(s: &dyn ObjectStore) {
    let b = bp("objs");
    s.create_bucket(&b, "alice").await.unwrap();
    let i1 = put(s, &b, "a/b", b"0123456789").await.unwrap();
    assert_eq!(i1.etag, md5hex(b"0123456789"));
    assert_eq!(i1.owner, "alice");
    let i2 = put(s, &b, "a/b", b"abc").await.unwrap();
    assert!(i2.version > i1.version);
    assert!(matches!(
        s.read_version(&b, &i1, 0..1).await.err(),
        Some(Error::ObjectChanged(_))
    ));
    let rv = collect_body(s.read_version(&b, &i2, 1..3).await.unwrap(), 100)
        .await
        .unwrap();
    assert_eq!(rv, b"bc");
    // Content-MD5, length.
    let bad = PutOptions {
        content_md5: Some([0; 16]),
        ..Default::default()
    };
    assert!(matches!(
        s.put_object(&b, "a/b", body_from_bytes(&b"zzz"[..]), bad).await,
        Err(Error::BadDigest)
    ));
    let short = PutOptions {
        expected_len: Some(5),
        ..Default::default()
    };
    assert!(matches!(
        s.put_object(&b, "new", body_from_bytes(&b"zzz"[..]), short).await,
        Err(Error::IncompleteBody { .. })
    ));
    assert!(matches!(s.head_object(&b, "new").await, Err(Error::NoSuchKey(_))));
    assert_eq!(get(s, &b, "a/b", GetOptions::default()).await.unwrap().1, b"abc");
    // Conditions.
    let c = |cond| PutOptions {
        condition: cond,
        ..Default::default()
    };
    assert!(matches!(
        s.put_object(&b, "a/b", body_from_bytes(&b"q"[..]), c(WriteCondition::IfNoneMatch))
            .await,
        Err(Error::PreconditionFailed)
    ));
    s.put_object(
        &b,
        "a/b",
        body_from_bytes(&b"q"[..]),
        c(WriteCondition::IfMatch(i2.etag.clone())),
    )
    .await
    .unwrap();
    // Ranges.
    put(s, &b, "r", b"0123456789").await.unwrap();
    let ro = |r| GetOptions {
        range: Some(r),
        part_number: None,
    };
    assert_eq!(get(s, &b, "r", ro(RangeSpec::FromTo(2, 4))).await.unwrap().1, b"234");
    assert_eq!(get(s, &b, "r", ro(RangeSpec::Suffix(3))).await.unwrap().1, b"789");
    assert!(matches!(
        get(s, &b, "r", ro(RangeSpec::From(10))).await,
        Err(Error::InvalidRange)
    ));
    let p2 = GetOptions {
        range: None,
        part_number: Some(2),
    };
    assert!(matches!(
        get(s, &b, "r", p2).await,
        Err(Error::InvalidPartNumber { .. })
    ));
    // Flexible checksums: computed and stored, verified when declared.
    let ck = |expected: Option<&str>| {
        let cell = std::sync::Arc::new(std::sync::OnceLock::new());
        if let Some(e) = expected {
            cell.set(e.to_string()).unwrap();
        }
        PutOptions {
            checksum: Some(ChecksumSpec {
                algorithm: checksum::Algorithm::Crc32,
                expected: cell,
            }),
            ..Default::default()
        }
    };
    let c = s
        .put_object(&b, "ck", body_from_bytes(&b"hello world"[..]), ck(None))
        .await
        .unwrap();
    assert_eq!(c.attrs.checksums.get("crc32").map(String::as_str), Some("DUoRhQ=="));
    assert!(matches!(
        s.put_object(&b, "ck", body_from_bytes(&b"hello world"[..]), ck(Some("AAAAAA==")))
            .await,
        Err(Error::ChecksumMismatch { .. })
    ));
    assert_eq!(s.head_object(&b, "ck").await.unwrap().version, c.version);
    // Empty object.
    let e = put(s, &b, "empty", b"").await.unwrap();
    assert_eq!(e.size, 0);
    assert_eq!(get(s, &b, "empty", GetOptions::default()).await.unwrap().1, b"");
    // Delete.
    s.delete_object(&b, "missing", None).await.unwrap();
    assert!(matches!(
        s.delete_object(&b, "r", Some("nope")).await,
        Err(Error::PreconditionFailed)
    ));
    s.delete_object(&b, "r", Some(&md5hex(b"0123456789"))).await.unwrap();
    assert!(matches!(s.head_object(&b, "r").await, Err(Error::NoSuchKey(_))));
    // Copy.
    let mut attrs = ObjectAttrs::default();
    attrs.user.insert("k".into(), "v".into());
    attrs.content_type = Some("text/plain".into());
    s.put_object(
        &b,
        "src",
        body_from_bytes(&b"copy me"[..]),
        PutOptions {
            attrs,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let c1 = s
        .copy_object(&b, "src", &b, "dst", CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(c1.attrs.user.get("k").map(String::as_str), Some("v"));
    assert_eq!(c1.etag, md5hex(b"copy me"));
    let mut tags = BTreeMap::new();
    tags.insert("t".to_string(), "1".to_string());
    let c2 = s
        .copy_object(
            &b,
            "src",
            &b,
            "dst2",
            CopyOptions {
                attrs: Some(ObjectAttrs::default()),
                tags: Some(tags.clone()),
                source_range: Some(1..4),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(c2.attrs.user.is_empty());
    assert_eq!(c2.attrs.tags, tags);
    assert_eq!(get(s, &b, "dst2", GetOptions::default()).await.unwrap().1, b"opy");
    assert!(matches!(
        s.copy_object(&b, "nope", &b, "x", CopyOptions::default()).await,
        Err(Error::NoSuchKey(_))
    ));
    // set_attrs keeps the version and bytes.
    let before = s.head_object(&b, "dst").await.unwrap();
    let mut na = ObjectAttrs::default();
    na.user.insert("mode".into(), "0644".into());
    let after = s.set_attrs(&b, "dst", na).await.unwrap();
    assert_eq!(after.version, before.version);
    assert_eq!(
        s.head_object(&b, "dst").await.unwrap().attrs.user.get("mode").unwrap(),
        "0644"
    );
    // Renames. A version-pinned read follows a renamed object (same bytes, same version).
    let pinned = s.head_object(&b, "dst").await.unwrap();
    s.rename_object(&b, "dst", "moved").await.unwrap();
    let rv = collect_body(s.read_version(&b, &pinned, 0..4).await.unwrap(), 100)
        .await
        .unwrap();
    assert_eq!(rv, b"copy");
    assert!(matches!(s.head_object(&b, "dst").await, Err(Error::NoSuchKey(_))));
    assert_eq!(get(s, &b, "moved", GetOptions::default()).await.unwrap().1, b"copy me");
    assert!(matches!(
        s.rename_object(&b, "dst", "x").await,
        Err(Error::NoSuchKey(_))
    ));
    for k in ["d/1", "d/2", "d/e/3", "dx"] {
        put(s, &b, k, k.as_bytes()).await.unwrap();
    }
    let pinned = s.head_object(&b, "d/e/3").await.unwrap();
    assert_eq!(s.rename_prefix(&b, "d/", "n/").await.unwrap(), 3);
    let rv = collect_body(s.read_version(&b, &pinned, 0..5).await.unwrap(), 100)
        .await
        .unwrap();
    assert_eq!(rv, b"d/e/3");
    put(s, &b, "n/e/3", b"replaced").await.unwrap();
    assert!(matches!(
        s.read_version(&b, &pinned, 0..1).await.err(),
        Some(Error::ObjectChanged(_))
    ));
    assert_eq!(get(s, &b, "n/e/3", GetOptions::default()).await.unwrap().1, b"replaced");
    assert!(s.head_object(&b, "dx").await.is_ok());
    assert!(matches!(s.head_object(&b, "d/1").await, Err(Error::NoSuchKey(_))));
    // Invalid keys.
    assert!(matches!(put(s, &b, "", b"x").await, Err(Error::InvalidKey { .. })));
    assert!(matches!(
        put(s, &b, ".snapshot/x", b"x").await,
        Err(Error::InvalidKey { .. })
    ));
}

async fn listing(s: &dyn ObjectStore) {
    let b = bp("list");
    s.create_bucket(&b, "alice").await.unwrap();
    for k in ["a", "b/1", "b/2", "c/x/1", "d", "e"] {
        put(s, &b, k, b"x").await.unwrap();
    }
    let req = |start: Option<&str>, max| ListRequest {
        prefix: String::new(),
        delimiter: Some("/".into()),
        start_after: start.map(str::to_string),
        max_keys: max,
    };
    let p = s.list_objects(&b, req(None, 3)).await.unwrap();
    let keys: Vec<_> = p.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["a"]);
    assert_eq!(p.common_prefixes, ["b/", "c/"]);
    assert!(p.is_truncated);
    assert_eq!(p.next_start_after.as_deref(), Some("c/"));
    let p = s.list_objects(&b, req(Some("c/"), 3)).await.unwrap();
    let keys: Vec<_> = p.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["d", "e"]);
    assert!(!p.is_truncated);
    let p = s
        .list_objects(
            &b,
            ListRequest {
                prefix: "b/".into(),
                max_keys: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(p.objects.len(), 2);
}

async fn multipart(s: &dyn ObjectStore) {
    let b = bp("mpu");
    s.create_bucket(&b, "alice").await.unwrap();
    let attrs = ObjectAttrs {
        content_type: Some("application/x".into()),
        ..Default::default()
    };
    let id = s
        .create_multipart(
            &b,
            "big",
            PutOptions {
                attrs,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let id2 = s.create_multipart(&b, "big", PutOptions::default()).await.unwrap();
    assert_ne!(id, id2);
    let p1: Vec<u8> = (0..MIN_PART_SIZE).map(|i| (i % 251) as u8).collect();
    let p2 = b"tail".to_vec();
    let up = |n: u32, d: Vec<u8>| s.upload_part(&b, "big", &id, n, body_from_bytes(d), PutOptions::default());
    assert!(matches!(up(0, vec![1]).await, Err(Error::InvalidArgument(_))));
    assert!(matches!(up(10_001, vec![1]).await, Err(Error::InvalidArgument(_))));
    let crc = || PutOptions {
        checksum: Some(ChecksumSpec {
            algorithm: checksum::Algorithm::Crc32,
            expected: Default::default(),
        }),
        ..Default::default()
    };
    let e1 = up(1, b"first version".to_vec()).await.unwrap();
    let e1b = s
        .upload_part(&b, "big", &id, 1, body_from_bytes(p1.clone()), crc())
        .await
        .unwrap();
    assert_ne!(e1.etag, e1b.etag);
    let e2 = s
        .upload_part(&b, "big", &id, 2, body_from_bytes(p2.clone()), crc())
        .await
        .unwrap();
    assert!(e2.checksums.contains_key("crc32"));
    up(3, b"discarded".to_vec()).await.unwrap();
    assert!(matches!(
        s.upload_part(&b, "big", "nope", 1, body_from_bytes(&b"x"[..]), PutOptions::default())
            .await,
        Err(Error::NoSuchUpload(_))
    ));
    let pp = s.list_parts(&b, "big", &id, 0, 2).await.unwrap();
    assert_eq!(pp.parts.len(), 2);
    assert!(pp.is_truncated);
    assert_eq!(pp.next_part_number_marker, Some(2));
    assert_eq!(pp.attrs.content_type.as_deref(), Some("application/x"));
    let pp = s.list_parts(&b, "big", &id, 2, 2).await.unwrap();
    assert_eq!(pp.parts.len(), 1);
    assert!(!pp.is_truncated);
    let ups = s
        .list_uploads(
            &b,
            UploadsRequest {
                max_uploads: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ups.uploads.len(), 1);
    assert!(ups.is_truncated);
    let ups2 = s
        .list_uploads(
            &b,
            UploadsRequest {
                prefix: "",
                key_marker: ups.next_key_marker.as_deref(),
                upload_id_marker: ups.next_upload_id_marker.as_deref(),
                max_uploads: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(ups2.uploads.len(), 1);
    assert_ne!(ups2.uploads[0].upload_id, ups.uploads[0].upload_id);
    let cp = |n, e: &str| CompletedPart {
        part_number: n,
        etag: e.to_string(),
    };
    assert!(matches!(
        s.complete_multipart(
            &b,
            "big",
            &id,
            &[cp(2, &e2.etag), cp(1, &e1b.etag)],
            WriteCondition::None
        )
        .await,
        Err(Error::InvalidPartOrder)
    ));
    assert!(matches!(
        s.complete_multipart(
            &b,
            "big",
            &id,
            &[cp(1, &e1.etag), cp(2, &e2.etag)],
            WriteCondition::None
        )
        .await,
        Err(Error::InvalidPart(_))
    ));
    assert!(matches!(
        s.complete_multipart(&b, "big", &id, &[cp(2, &e2.etag), cp(3, "x")], WriteCondition::None)
            .await,
        Err(Error::InvalidPart(_))
    ));
    let info = s
        .complete_multipart(
            &b,
            "big",
            &id,
            &[cp(1, &e1b.etag), cp(2, &e2.etag)],
            WriteCondition::None,
        )
        .await
        .unwrap();
    let mut bin = hex::decode(&e1b.etag).unwrap();
    bin.extend(hex::decode(&e2.etag).unwrap());
    assert_eq!(info.etag, format!("{}-2", md5hex(&bin)));
    assert_eq!(info.parts, vec![MIN_PART_SIZE, 4]);
    let want_crc = checksum::composite(
        checksum::Algorithm::Crc32,
        &[&e1b.checksums["crc32"], &e2.checksums["crc32"]],
    )
    .unwrap();
    assert_eq!(info.attrs.checksums.get("crc32"), Some(&want_crc));
    assert_eq!(info.attrs.content_type.as_deref(), Some("application/x"));
    let (_, all) = get(s, &b, "big", GetOptions::default()).await.unwrap();
    let mut want = p1.clone();
    want.extend(&p2);
    assert_eq!(all.len(), want.len());
    assert!(all == want);
    let (_, part2) = get(
        s,
        &b,
        "big",
        GetOptions {
            range: None,
            part_number: Some(2),
        },
    )
    .await
    .unwrap();
    assert_eq!(part2, p2);
    let (_, cross) = get(
        s,
        &b,
        "big",
        GetOptions {
            range: Some(RangeSpec::FromTo(MIN_PART_SIZE - 2, MIN_PART_SIZE + 1)),
            part_number: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(cross, [p1[p1.len() - 2], p1[p1.len() - 1], b't', b'a']);
    assert!(matches!(
        get(
            s,
            &b,
            "big",
            GetOptions {
                range: None,
                part_number: Some(3)
            }
        )
        .await,
        Err(Error::InvalidPartNumber { .. })
    ));
    // Completed upload is gone; the other one can be aborted.
    assert!(matches!(
        s.list_parts(&b, "big", &id, 0, 10).await,
        Err(Error::NoSuchUpload(_))
    ));
    // Too-small non-last part.
    let s1 = s
        .upload_part(&b, "big", &id2, 1, body_from_bytes(&b"aa"[..]), PutOptions::default())
        .await
        .unwrap();
    let s2 = s
        .upload_part(&b, "big", &id2, 2, body_from_bytes(&b"bb"[..]), PutOptions::default())
        .await
        .unwrap();
    assert!(matches!(
        s.complete_multipart(
            &b,
            "big",
            &id2,
            &[cp(1, &s1.etag), cp(2, &s2.etag)],
            WriteCondition::None
        )
        .await,
        Err(Error::EntityTooSmall { part: 1 })
    ));
    // Upload part copy.
    let pc = s
        .upload_part_copy(
            &b,
            "big",
            PartCopy {
                upload_id: &id2,
                part_number: 3,
                src_bucket: &b,
                src_key: "big",
                src_range: Some(0..10),
            },
        )
        .await
        .unwrap();
    assert_eq!(pc.size, 10);
    s.abort_multipart(&b, "big", &id2).await.unwrap();
    assert!(matches!(
        s.abort_multipart(&b, "big", &id2).await,
        Err(Error::NoSuchUpload(_))
    ));
    // Copy of a multipart object keeps its bytes.
    s.copy_object(&b, "big", &b, "big2", CopyOptions::default())
        .await
        .unwrap();
    let (i2, all2) = get(s, &b, "big2", GetOptions::default()).await.unwrap();
    assert!(all2 == want);
    assert_eq!(i2.parts, vec![MIN_PART_SIZE, 4]);
    // Deleting the original leaves the copy intact.
    s.delete_object(&b, "big", None).await.unwrap();
    let (_, all2) = get(s, &b, "big2", GetOptions::default()).await.unwrap();
    assert!(all2 == want);
}

async fn secrets<S: SecretStore + ?Sized>(s: &S) {
    assert_eq!(s.lookup_secret("u").await.unwrap(), None);
    assert!(matches!(
        s.set_secret("u", "12345678").await,
        Err(Error::SecretNotFound(_))
    ));
    let sec = s.get_secret("u").await.unwrap();
    assert_eq!(sec.len(), 64);
    assert!(sec.bytes().all(|c| c.is_ascii_hexdigit()));
    assert!(matches!(s.get_secret("u").await, Err(Error::SecretAlreadyExists(_))));
    assert_eq!(s.lookup_secret("u").await.unwrap().as_deref(), Some(sec.as_str()));
    assert!(s.set_secret("u", "short").await.is_err());
    s.set_secret("u", "longenough").await.unwrap();
    assert_eq!(s.lookup_secret("u").await.unwrap().as_deref(), Some("longenough"));
    s.revoke_secret("u").await.unwrap();
    assert!(matches!(s.revoke_secret("u").await, Err(Error::SecretNotFound(_))));
    let sec2 = s.get_secret("u").await.unwrap();
    assert_ne!(sec2, sec);
}

/// DeleteBucket as AWS: uploads are aborted with the bucket, keys still refuse; the Ozone-style
/// `delete_bucket` keeps refusing a bucket with uploads.
async fn delete_with_uploads(s: &dyn ObjectStore) {
    let b = bp("del-uploads");
    s.create_bucket(&b, "alice").await.unwrap();
    let id = s.create_multipart(&b, "m", PutOptions::default()).await.unwrap();
    s.upload_part(&b, "m", &id, 1, body_from_bytes(&b"part"[..]), PutOptions::default())
        .await
        .unwrap();
    assert!(matches!(s.delete_bucket(&b).await, Err(Error::BucketNotEmpty(_))));
    put(s, &b, "k", b"x").await.unwrap();
    assert!(matches!(
        s.delete_bucket_aborting_uploads(&b).await,
        Err(Error::BucketNotEmpty(_))
    ));
    // Refused with keys: the upload is still there.
    assert_eq!(
        s.list_uploads(
            &b,
            UploadsRequest {
                max_uploads: 10,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .uploads
        .len(),
        1
    );
    s.delete_object(&b, "k", None).await.unwrap();
    s.delete_bucket_aborting_uploads(&b).await.unwrap();
    assert!(matches!(s.bucket_info(&b).await, Err(Error::NoSuchBucket(_))));
    assert!(matches!(
        s.delete_bucket_aborting_uploads(&b).await,
        Err(Error::NoSuchBucket(_))
    ));
    // A bucket of the same name starts with no uploads.
    s.create_bucket(&b, "alice").await.unwrap();
    assert!(s
        .list_uploads(
            &b,
            UploadsRequest {
                max_uploads: 10,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .uploads
        .is_empty());
    assert!(matches!(
        s.upload_part(&b, "m", &id, 2, body_from_bytes(&b"late"[..]), PutOptions::default())
            .await,
        Err(Error::NoSuchUpload(_))
    ));
    // A link is deleted alone: its source keeps its uploads.
    let link = bp("del-uploads-link");
    s.create_link(&link, &b, "alice").await.unwrap();
    s.create_multipart(&b, "m2", PutOptions::default()).await.unwrap();
    s.delete_bucket_aborting_uploads(&link).await.unwrap();
    assert_eq!(
        s.list_uploads(
            &b,
            UploadsRequest {
                max_uploads: 10,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .uploads
        .len(),
        1
    );
    s.delete_bucket_aborting_uploads(&b).await.unwrap();
}

/// A CreateMultipartUpload racing the delete is either aborted with the bucket or finds no
/// bucket: the delete never fails because of it, and no upload outlives the bucket.
async fn delete_races_create_multipart(s: &dyn ObjectStore) {
    for round in 0..20 {
        let b = bp(&format!("race-{round}"));
        s.create_bucket(&b, "alice").await.unwrap();
        let creates = async {
            let mut out = Vec::new();
            for i in 0..5 {
                out.push(s.create_multipart(&b, &format!("k{i}"), PutOptions::default()).await);
            }
            out
        };
        let (created, deleted) = tokio::join!(creates, s.delete_bucket_aborting_uploads(&b));
        deleted.unwrap();
        for c in created {
            assert!(matches!(c, Ok(_) | Err(Error::NoSuchBucket(_))), "{c:?}");
        }
        // Uploads that committed after the delete would be orphans: re-creating the bucket
        // must show none.
        s.create_bucket(&b, "alice").await.unwrap();
        assert!(s
            .list_uploads(
                &b,
                UploadsRequest {
                    max_uploads: 10,
                    ..Default::default()
                }
            )
            .await
            .unwrap()
            .uploads
            .is_empty());
        s.delete_bucket(&b).await.unwrap();
    }
}

/// Parts keep the numbers they were uploaded as: completing with {1, 3} gives parts 1 and 3
/// (GET `partNumber=3` is the second segment, 2 is InvalidPartNumber), kept by a whole copy.
async fn sparse_part_numbers(s: &dyn ObjectStore) {
    let b = bp("sparse-parts");
    s.create_bucket(&b, "alice").await.unwrap();
    let id = s.create_multipart(&b, "o", PutOptions::default()).await.unwrap();
    let p1: Vec<u8> = vec![b'a'; MIN_PART_SIZE as usize];
    let e1 = s
        .upload_part(&b, "o", &id, 1, body_from_bytes(p1.clone()), PutOptions::default())
        .await
        .unwrap();
    let e3 = s
        .upload_part(&b, "o", &id, 3, body_from_bytes(&b"three"[..]), PutOptions::default())
        .await
        .unwrap();
    let done = s
        .complete_multipart(
            &b,
            "o",
            &id,
            &[
                CompletedPart {
                    part_number: 1,
                    etag: e1.etag.clone(),
                },
                CompletedPart {
                    part_number: 3,
                    etag: e3.etag.clone(),
                },
            ],
            WriteCondition::None,
        )
        .await
        .unwrap();
    assert_eq!(done.part_numbers, vec![1, 3]);
    let part = |n| GetOptions {
        range: None,
        part_number: Some(n),
    };
    for key in ["o", "o-copy"] {
        if key == "o-copy" {
            s.copy_object(&b, "o", &b, "o-copy", CopyOptions::default())
                .await
                .unwrap();
        }
        let info = s.head_object(&b, key).await.unwrap();
        assert_eq!(
            (info.parts.clone(), info.part_numbers.clone()),
            (vec![MIN_PART_SIZE, 5], vec![1, 3])
        );
        let (i3, d3) = get(s, &b, key, part(3)).await.unwrap();
        assert_eq!(d3, b"three", "{key}");
        assert_eq!(i3.parts.len(), 2);
        let (_, d1) = get(s, &b, key, part(1)).await.unwrap();
        assert!(d1 == p1, "{key}");
        assert!(matches!(
            get(s, &b, key, part(2)).await,
            Err(Error::InvalidPartNumber { part: 2, parts: 2 })
        ));
    }
}

async fn suite<S: ObjectStore + SecretStore>(s: &S) {
    sparse_part_numbers(s).await;
    delete_with_uploads(s).await;
    delete_races_create_multipart(s).await;
    namespace(s).await;
    objects(s).await;
    listing(s).await;
    multipart(s).await;
    secrets(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mem_store_semantics() {
    suite(&MemStore::new("s3v")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_store_semantics() {
    let dir = tempfile::tempdir().unwrap();
    suite(&LocalStore::open(dir.path(), "s3v").unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_store_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let b = bp("keep");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7) as u8).collect();
    let v1 = {
        let s = LocalStore::open(dir.path(), "s3v").unwrap();
        s.create_bucket(&b, "alice").await.unwrap();
        put(&s, &b, "k", &data).await.unwrap();
        put(&s, &b, "gone", b"x").await.unwrap();
        s.delete_object(&b, "gone", None).await.unwrap();
        s.get_secret("alice").await.unwrap();
        let pinned = s.head_object(&b, "k").await.unwrap();
        s.rename_object(&b, "k", "k-moved").await.unwrap();
        s.rename_object(&b, "k-moved", "k").await.unwrap();
        s.copy_object(&b, "k", &b, "k-tmp", CopyOptions::default())
            .await
            .unwrap();
        s.rename_object(&b, "k-tmp", "k-renamed").await.unwrap();
        pinned
    };
    let v1 = v1.version;
    let s = LocalStore::open(dir.path(), "s3v").unwrap();
    let (info, got) = get(&s, &b, "k", GetOptions::default()).await.unwrap();
    assert_eq!(info.version, v1);
    assert!(got == data);
    // A version-pinned read of the renamed copy, after a restart.
    let copy = s.head_object(&b, "k-renamed").await.unwrap();
    let stale = ObjectInfo {
        key: "k-tmp".into(),
        ..copy.clone()
    };
    let rv = collect_body(s.read_version(&b, &stale, 0..10).await.unwrap(), 100)
        .await
        .unwrap();
    assert_eq!(rv, data[..10]);
    assert!(s.lookup_secret("alice").await.unwrap().is_some());
    let v2 = put(&s, &b, "k2", b"y").await.unwrap().version;
    assert!(v2 > v1, "versions are never reused across restarts");
    // Exactly the referenced data files remain.
    let mut n = 0;
    for sub in std::fs::read_dir(dir.path().join("objects")).unwrap() {
        n += std::fs::read_dir(sub.unwrap().path()).unwrap().count();
    }
    // "k" and its copy "k-renamed" have data files (hard links); "k2" is small enough to live in
    // the database.
    assert_eq!(n, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_reader_keeps_old_version_during_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let s = LocalStore::open(dir.path(), "s3v").unwrap();
    let b = bp("over");
    s.create_bucket(&b, "a").await.unwrap();
    let old = vec![1u8; 3 << 20];
    put(&s, &b, "k", &old).await.unwrap();
    // Open the GET (files are opened), then overwrite and delete before reading the body.
    let r = s.get_object(&b, "k", GetOptions::default()).await.unwrap();
    put(&s, &b, "k", &[2u8; 100]).await.unwrap();
    s.delete_object(&b, "k", None).await.unwrap();
    let got = collect_body(r.body, 1 << 30).await.unwrap();
    assert!(got == old);
}

/// Data files under `objects/` of a data directory.
fn data_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(dir.join("objects")).unwrap() {
        for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out
}

/// An anonymous file (`O_TMPFILE`, as the FUSE staging area makes them) in `dir` holding `data`.
fn staged_file(dir: &std::path::Path, data: &[u8]) -> std::fs::File {
    use std::io::Write;
    let mut f = tempfile::tempfile_in(dir).unwrap();
    f.write_all(data).unwrap();
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_file_adopts_a_staged_file_on_the_same_filesystem() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    let s = LocalStore::open(dir.path(), "s3v").unwrap();
    let b = bp("adopt");
    s.create_bucket(&b, "alice").await.unwrap();
    assert!(s.adopts_files_from(&staging));
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 13) as u8).collect();
    let f = staged_file(&staging, &data);
    let keep = f.try_clone().unwrap();
    let info = s
        .put_file(&b, "big", f, data.len() as u64, None, PutOptions::default())
        .await
        .unwrap();
    assert_eq!(info.size, data.len() as u64);
    assert_eq!(info.etag, md5hex(&data));
    let (_, got) = get(&s, &b, "big", GetOptions::default()).await.unwrap();
    assert!(got == data);
    // No copy: the one data file is the staged file itself (same inode).
    let files = data_files(dir.path());
    assert_eq!(files.len(), 1);
    let m = std::fs::metadata(&files[0]).unwrap();
    assert_eq!(m.ino(), keep.metadata().unwrap().ino());
    // It survives a restart like any put.
    drop(s);
    let s = LocalStore::open(dir.path(), "s3v").unwrap();
    let (_, got) = get(&s, &b, "big", GetOptions::default()).await.unwrap();
    assert!(got == data);
    // A caller that kept the MD5 while writing hands it over: the store takes it as the ETag
    // (no read-back), still checking it against a declared Content-MD5.
    let f = staged_file(&staging, &data);
    let md5: [u8; 16] = md5::Md5::digest(&data).into();
    let info = s
        .put_file(&b, "known", f, data.len() as u64, Some(md5), PutOptions::default())
        .await
        .unwrap();
    assert_eq!(info.etag, md5hex(&data));
    let (_, got) = get(&s, &b, "known", GetOptions::default()).await.unwrap();
    assert!(got == data);
    let f = staged_file(&staging, &data);
    let opts = PutOptions {
        content_md5: Some([1u8; 16]),
        ..Default::default()
    };
    assert!(matches!(
        s.put_file(&b, "known2", f, data.len() as u64, Some(md5), opts).await,
        Err(Error::BadDigest)
    ));
    s.delete_object(&b, "known", None).await.unwrap();
    // Overwriting removes it (only the store's name: the caller's descriptor still reads it).
    put(&s, &b, "big", b"small now").await.unwrap();
    assert!(data_files(dir.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_file_copies_what_it_cannot_adopt_and_checks_like_put_object() {
    let dir = tempfile::tempdir().unwrap();
    let s = LocalStore::open(dir.path(), "s3v").unwrap();
    let mem = MemStore::new("s3v");
    let b = bp("copy");
    s.create_bucket(&b, "alice").await.unwrap();
    mem.create_bucket(&b, "alice").await.unwrap();
    assert!(!mem.adopts_files_from(dir.path()), "the default never adopts");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
    // A file longer than `len` cannot become the data file as it is: the store copies its
    // first `len` bytes instead (as it does across filesystems, EXDEV).
    let longer = staged_file(dir.path(), &[data.as_slice(), b"tail"].concat());
    for store in [&s as &dyn ObjectStore, &mem] {
        let info = store
            .put_file(
                &b,
                "k",
                longer.try_clone().unwrap(),
                data.len() as u64,
                None,
                PutOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(info.etag, md5hex(&data));
        let (_, got) = get(store, &b, "k", GetOptions::default()).await.unwrap();
        assert!(got == data);
        // Small files go inline, exactly as put_object.
        let small = staged_file(dir.path(), b"tiny");
        let info = store
            .put_file(&b, "t", small, 4, None, PutOptions::default())
            .await
            .unwrap();
        assert_eq!(info.etag, md5hex(b"tiny"));
        // The same checks as put_object: a wrong Content-MD5 commits nothing.
        let f = staged_file(dir.path(), &data);
        let opts = PutOptions {
            content_md5: Some([0u8; 16]),
            ..Default::default()
        };
        assert!(matches!(
            store.put_file(&b, "bad", f, data.len() as u64, None, opts).await,
            Err(Error::BadDigest)
        ));
        assert!(matches!(store.head_object(&b, "bad").await, Err(Error::NoSuchKey(_))));
        // A failed condition commits nothing either.
        let f = staged_file(dir.path(), &data);
        let opts = PutOptions {
            condition: WriteCondition::IfNoneMatch,
            ..Default::default()
        };
        assert!(matches!(
            store.put_file(&b, "k", f, data.len() as u64, None, opts).await,
            Err(Error::PreconditionFailed)
        ));
    }
    // Only the copied "k" has a data file: the failed puts left none behind.
    assert_eq!(data_files(dir.path()).len(), 1);
}
