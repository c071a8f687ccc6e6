//! Model check: random operation sequences (keys, multipart, renames, listings, and namespace
//! operations on buckets, links and volumes) run against the embedded `LocalStore` and the
//! in-memory reference `MemStore`, which must agree on every result (values and error kinds).

use ozfs::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

const KEYS: [&str; 8] = ["a", "a/b", "a/x/y", "a/x/z", "ab", "b/c", "c", "b/d/e"];
/// Names a lookup asks about: keys, directories (implicit or not), and names around them.
const NAMES: [&str; 8] = ["a", "a/x", "b", "b/d", "ab", "c", "a/", "zz"];
const PREFIXES: [&str; 5] = ["a/", "b/", "a/x/", "c/", "a"];
/// Buckets and links the namespace ops play with ("model" always exists; "vol2" is a volume).
const BUCKETS: [(&str, &str); 6] = [
    ("s3v", "model"),
    ("s3v", "other"),
    ("s3v", "link1"),
    ("s3v", "link2"),
    ("vol2", "src"),
    ("vol2", "link3"),
];

#[derive(Debug, Clone)]
enum Op {
    Put {
        key: usize,
        len: usize,
        fill: u8,
        if_none_match: bool,
    },
    Get {
        key: usize,
        range: Option<(u64, u64)>,
        part: Option<u32>,
    },
    Head {
        key: usize,
    },
    LookupName {
        name: usize,
        implicit: bool,
    },
    Delete {
        key: usize,
        if_match_current: bool,
    },
    Copy {
        src: usize,
        dst: usize,
        range: Option<(u64, u64)>,
        replace: bool,
    },
    SetAttrs {
        key: usize,
        v: u8,
    },
    Rename {
        from: usize,
        to: usize,
    },
    RenamePrefix {
        from: usize,
        to: usize,
    },
    List {
        prefix: usize,
        delim: bool,
        max: usize,
    },
    Multipart {
        key: usize,
        sizes: Vec<usize>,
        order: Vec<u32>,
        abort: bool,
        copy_from: Option<usize>,
    },
    CreateBucket {
        b: usize,
    },
    CreateLink {
        b: usize,
        target: usize,
    },
    DeleteBucket {
        b: usize,
    },
    BucketInfo {
        b: usize,
    },
    ListBuckets {
        vol2: bool,
    },
    PutIn {
        b: usize,
        key: usize,
        len: usize,
    },
    ListIn {
        b: usize,
    },
    DeleteIn {
        b: usize,
        key: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![4 => key_op(), 1 => namespace_op()]
}

fn namespace_op() -> impl Strategy<Value = Op> {
    let k = 0..KEYS.len();
    prop_oneof![
        1 => (1..BUCKETS.len()).prop_map(|b| Op::CreateBucket { b }),
        1 => (1..BUCKETS.len(), 0..BUCKETS.len()).prop_map(|(b, target)| Op::CreateLink { b, target }),
        1 => (1..BUCKETS.len()).prop_map(|b| Op::DeleteBucket { b }),
        1 => (0..BUCKETS.len()).prop_map(|b| Op::BucketInfo { b }),
        1 => any::<bool>().prop_map(|vol2| Op::ListBuckets { vol2 }),
        2 => (0..BUCKETS.len(), k.clone(), 0usize..100).prop_map(|(b, key, len)| Op::PutIn { b, key, len }),
        1 => (0..BUCKETS.len()).prop_map(|b| Op::ListIn { b }),
        1 => (0..BUCKETS.len(), k).prop_map(|(b, key)| Op::DeleteIn { b, key }),
    ]
}

fn key_op() -> impl Strategy<Value = Op> {
    let k = 0..KEYS.len();
    prop_oneof![
        4 => (k.clone(), prop_oneof![4 => 0usize..3000, 1 => 65_000usize..140_000], any::<u8>(), any::<bool>())
            .prop_map(|(key, len, fill, inm)| Op::Put { key, len, fill, if_none_match: inm && fill % 4 == 0 }),
        3 => (k.clone(), proptest::option::of((0u64..150_000, 0u64..150_000)), proptest::option::of(0u32..3))
            .prop_map(|(key, range, part)| Op::Get { key, range, part }),
        1 => k.clone().prop_map(|key| Op::Head { key }),
        1 => (0..NAMES.len(), any::<bool>()).prop_map(|(name, implicit)| Op::LookupName { name, implicit }),
        2 => (k.clone(), any::<bool>()).prop_map(|(key, m)| Op::Delete { key, if_match_current: m }),
        2 => (k.clone(), k.clone(), proptest::option::of((0u64..150_000, 0u64..150_000)), any::<bool>())
            .prop_map(|(src, dst, range, replace)| Op::Copy { src, dst, range, replace }),
        1 => (k.clone(), any::<u8>()).prop_map(|(key, v)| Op::SetAttrs { key, v }),
        2 => (k.clone(), k.clone()).prop_map(|(from, to)| Op::Rename { from, to }),
        1 => (0..PREFIXES.len(), 0..PREFIXES.len()).prop_map(|(from, to)| Op::RenamePrefix { from, to }),
        3 => (0..PREFIXES.len() + 1, any::<bool>(), 1usize..4).prop_map(|(prefix, delim, max)| Op::List { prefix, delim, max }),
        1 => (k.clone(), proptest::collection::vec(0usize..2000, 1..4), proptest::collection::vec(1u32..4, 1..4), any::<bool>(), proptest::option::of(k))
            .prop_map(|(key, sizes, order, abort, copy_from)| Op::Multipart { key, sizes, order, abort, copy_from }),
    ]
}

fn kind(e: &Error) -> String {
    let d = format!("{e:?}");
    d.split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

/// An `ObjectInfo` without the fields that legitimately differ between stores.
fn norm(i: &ObjectInfo) -> String {
    format!(
        "{} {} {} {} {:?} {:?}",
        i.key, i.size, i.etag, i.owner, i.attrs, i.parts
    )
}

fn norm_lookup(l: &NameLookup) -> String {
    format!(
        "{:?} {:?} {}",
        l.object.as_ref().map(norm),
        l.marker.as_ref().map(norm),
        l.under
    )
}

fn bp() -> BucketPath {
    BucketPath::new("s3v", "model")
}

fn bpi(i: usize) -> BucketPath {
    BucketPath::new(BUCKETS[i].0, BUCKETS[i].1)
}

fn norm_bucket(b: &BucketInfo) -> String {
    format!("{}/{} {} {:?} {:?}", b.volume, b.name, b.owner, b.link_target, b.acl)
}

fn data(len: usize, fill: u8) -> Vec<u8> {
    (0..len).map(|i| fill.wrapping_add(i as u8)).collect()
}

/// Run one op and render its result.
async fn run(s: &dyn ObjectStore, op: &Op) -> String {
    let b = bp();
    let r: Result<String> = async {
        match op {
            Op::Put {
                key,
                len,
                fill,
                if_none_match,
            } => {
                let opts = PutOptions {
                    condition: if *if_none_match {
                        WriteCondition::IfNoneMatch
                    } else {
                        WriteCondition::None
                    },
                    ..Default::default()
                };
                let i = s
                    .put_object(&b, KEYS[*key], body_from_bytes(data(*len, *fill)), opts)
                    .await?;
                Ok(norm(&i))
            }
            Op::Get { key, range, part } => {
                let opts = GetOptions {
                    range: range.map(|(a, z)| RangeSpec::FromTo(a, z)),
                    part_number: *part,
                };
                let g = s.get_object(&b, KEYS[*key], opts).await?;
                let body = collect_body(g.body, 1 << 26).await?;
                Ok(format!(
                    "{} {:?} {}",
                    norm(&g.info),
                    g.range,
                    hex::encode(md5_of(&body))
                ))
            }
            Op::Head { key } => Ok(norm(&s.head_object(&b, KEYS[*key]).await?)),
            Op::LookupName { name, implicit } => {
                let q = NameQuery {
                    implicit: *implicit,
                    first_found: false,
                };
                Ok(norm_lookup(&s.lookup_name(&b, NAMES[*name], q).await?))
            }
            Op::Delete { key, if_match_current } => {
                let cur = s.head_object(&b, KEYS[*key]).await.ok().map(|i| i.etag);
                let m = if *if_match_current {
                    Some(cur.unwrap_or_else(|| "none".into()))
                } else {
                    None
                };
                s.delete_object(&b, KEYS[*key], m.as_deref()).await?;
                Ok("deleted".into())
            }
            Op::Copy {
                src,
                dst,
                range,
                replace,
            } => {
                let mut tags = BTreeMap::new();
                tags.insert("t".to_string(), "v".to_string());
                let opts = CopyOptions {
                    attrs: if *replace { Some(ObjectAttrs::default()) } else { None },
                    tags: if *replace { Some(tags) } else { None },
                    condition: WriteCondition::None,
                    source_range: range.map(|(a, z)| a..z),
                    owner: None,
                };
                Ok(norm(&s.copy_object(&b, KEYS[*src], &b, KEYS[*dst], opts).await?))
            }
            Op::SetAttrs { key, v } => {
                let mut a = ObjectAttrs::default();
                a.user.insert("v".into(), v.to_string());
                Ok(norm(&s.set_attrs(&b, KEYS[*key], a).await?))
            }
            Op::Rename { from, to } => {
                s.rename_object(&b, KEYS[*from], KEYS[*to]).await?;
                Ok("renamed".into())
            }
            Op::RenamePrefix { from, to } => Ok(s.rename_prefix(&b, PREFIXES[*from], PREFIXES[*to]).await?.to_string()),
            Op::List { prefix, delim, max } => {
                let prefix = PREFIXES.get(*prefix).copied().unwrap_or("").to_string();
                let mut out = String::new();
                let mut start = None;
                for _ in 0..50 {
                    let p = s
                        .list_objects(
                            &b,
                            ListRequest {
                                prefix: prefix.clone(),
                                delimiter: if *delim { Some("/".into()) } else { None },
                                start_after: start.clone(),
                                max_keys: *max,
                            },
                        )
                        .await?;
                    for o in &p.objects {
                        out += &norm(o);
                        out += "|";
                    }
                    out += &format!("{:?} {} {:?};", p.common_prefixes, p.is_truncated, p.next_start_after);
                    if !p.is_truncated {
                        break;
                    }
                    start = p.next_start_after;
                }
                Ok(out)
            }
            Op::Multipart {
                key,
                sizes,
                order,
                abort,
                copy_from,
            } => {
                let id = s.create_multipart(&b, KEYS[*key], PutOptions::default()).await?;
                let mut etags = BTreeMap::new();
                for (i, len) in sizes.iter().enumerate() {
                    let n = i as u32 + 1;
                    let p = s
                        .upload_part(
                            &b,
                            KEYS[*key],
                            &id,
                            n,
                            body_from_bytes(data(*len, n as u8)),
                            PutOptions::default(),
                        )
                        .await?;
                    etags.insert(n, p.etag);
                }
                if let Some(src) = copy_from {
                    // Replace the last part by a copy of another key (UploadPartCopy).
                    let n = sizes.len() as u32;
                    match s
                        .upload_part_copy(
                            &b,
                            KEYS[*key],
                            PartCopy {
                                upload_id: &id,
                                part_number: n,
                                src_bucket: &b,
                                src_key: KEYS[*src],
                                src_range: None,
                            },
                        )
                        .await
                    {
                        Ok(p) => {
                            etags.insert(n, p.etag);
                        }
                        Err(e) => {
                            s.abort_multipart(&b, KEYS[*key], &id).await?;
                            return Err(e);
                        }
                    }
                }
                let ups = s
                    .list_uploads(
                        &b,
                        UploadsRequest {
                            max_uploads: 100,
                            ..Default::default()
                        },
                    )
                    .await?;
                let listed: Vec<String> = ups.uploads.iter().map(|u| u.key.clone()).collect();
                let parts = s.list_parts(&b, KEYS[*key], &id, 0, 2).await?;
                let mut out = format!(
                    "{listed:?} {:?} {};",
                    parts
                        .parts
                        .iter()
                        .map(|p| (p.part_number, p.etag.clone(), p.size))
                        .collect::<Vec<_>>(),
                    parts.is_truncated
                );
                if *abort {
                    s.abort_multipart(&b, KEYS[*key], &id).await?;
                    return Ok(out + "aborted");
                }
                let named: Vec<CompletedPart> = order
                    .iter()
                    .map(|n| CompletedPart {
                        part_number: *n,
                        etag: etags.get(n).cloned().unwrap_or_else(|| "missing".into()),
                    })
                    .collect();
                let r = s
                    .complete_multipart(&b, KEYS[*key], &id, &named, WriteCondition::None)
                    .await;
                if r.is_err() {
                    s.abort_multipart(&b, KEYS[*key], &id).await?;
                }
                out += &norm(&r?);
                Ok(out)
            }
            Op::CreateBucket { b } => Ok(norm_bucket(&s.create_bucket(&bpi(*b), "owner").await?)),
            Op::CreateLink { b, target } => Ok(norm_bucket(&s.create_link(&bpi(*b), &bpi(*target), "linker").await?)),
            Op::DeleteBucket { b } => {
                s.delete_bucket(&bpi(*b)).await?;
                Ok("deleted".into())
            }
            Op::BucketInfo { b } => {
                let info = norm_bucket(&s.bucket_info(&bpi(*b)).await?);
                let real = s.resolve_bucket(&bpi(*b)).await.map(|p| p.to_string());
                Ok(format!("{info} -> {:?}", real.map_err(|e| kind(&e))))
            }
            Op::ListBuckets { vol2 } => {
                let v = if *vol2 { "vol2" } else { "s3v" };
                let l = s.list_buckets(v).await?;
                Ok(l.iter().map(norm_bucket).collect::<Vec<_>>().join("|"))
            }
            Op::PutIn { b, key, len } => {
                let i = s
                    .put_object(
                        &bpi(*b),
                        KEYS[*key],
                        body_from_bytes(data(*len, 3)),
                        PutOptions::default(),
                    )
                    .await?;
                Ok(norm(&i))
            }
            Op::ListIn { b } => {
                let p = s
                    .list_objects(
                        &bpi(*b),
                        ListRequest {
                            max_keys: 100,
                            ..Default::default()
                        },
                    )
                    .await?;
                Ok(p.objects.iter().map(norm).collect::<Vec<_>>().join("|"))
            }
            Op::DeleteIn { b, key } => {
                s.delete_object(&bpi(*b), KEYS[*key], None).await?;
                Ok("deleted".into())
            }
        }
    }
    .await;
    match r {
        Ok(s) => format!("ok {s}"),
        Err(e) => format!("err {}", kind(&e)),
    }
}

fn md5_of(d: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(d).into()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]
    #[test]
    fn local_store_agrees_with_mem_store(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let local = LocalStore::open(dir.path(), "s3v").unwrap();
            let mem = MemStore::new("s3v");
            for s in [&local as &dyn ObjectStore, &mem] {
                s.create_bucket(&bp(), "owner").await.unwrap();
                s.create_volume("vol2", "admin").await.unwrap();
            }
            for (i, op) in ops.iter().enumerate() {
                let a = run(&mem, op).await;
                let b = run(&local, op).await;
                prop_assert_eq!(&a, &b, "op #{} {:?}", i, op);
            }
            Ok(())
        })?;
    }
}

/// Keys whose order around `/` matters (`-` < `/` < `0`), trailing slashes, nested markers.
const LOOKUP_KEYS: [&str; 12] = [
    "a", "a-b", "a-b/c", "a/", "a/x", "a/x/", "a/x/y", "a0", "a0/y", "a//", "b/", "b/c",
];
const LOOKUP_NAMES: [&str; 10] = ["a", "a-b", "a0", "a/", "a/x", "a-", "b", "b/c", "c", ""];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// The embedded store's one-transaction `lookup_name` over random key sets (some deleted
    /// again) answers what the three calls it replaces answer, and what the in-memory store
    /// (which composes them) answers, for every name and query mode.
    #[test]
    fn one_call_lookup_agrees_with_the_three_calls(
        keys in proptest::collection::vec((0..LOOKUP_KEYS.len(), any::<bool>()), 0..16),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let local = LocalStore::open(dir.path(), "s3v").unwrap();
            let mem = MemStore::new("s3v");
            let b = bp();
            for s in [&local as &dyn ObjectStore, &mem] {
                s.create_bucket(&b, "owner").await.unwrap();
                // A bucket made after it: its keys sort after `b`'s, and must never show.
                let after = BucketPath::new("s3v", "zzz");
                s.create_bucket(&after, "owner").await.unwrap();
                for k in ["a/x", "c/d", "b/c"] {
                    s.put_object(&after, k, body_from_bytes(&b"x"[..]), Default::default()).await.unwrap();
                }
                for (k, delete) in &keys {
                    let k = LOOKUP_KEYS[*k];
                    if *delete {
                        s.delete_object(&b, k, None).await.unwrap();
                    } else {
                        s.put_object(&b, k, body_from_bytes(k.as_bytes().to_vec()), Default::default()).await.unwrap();
                    }
                }
            }
            for name in LOOKUP_NAMES {
                for implicit in [true, false] {
                    let q = NameQuery { implicit, first_found: false };
                    let one = local.lookup_name(&b, name, q).await.unwrap();
                    let parts = store::lookup_name_by_parts(&local, &b, name, q).await.unwrap();
                    prop_assert_eq!(&one, &parts, "{:?} implicit {}", name, implicit);
                    let m = mem.lookup_name(&b, name, q).await.unwrap();
                    prop_assert_eq!(norm_lookup(&one), norm_lookup(&m), "{:?} implicit {}", name, implicit);
                }
            }
            Ok(())
        })?;
    }
}
