//! Key I/O ([`Objects`] for the embedded store): put, get, version reads, head, delete, copy,
//! attributes and listing; renames are in `rename.rs`.

use super::*;

impl Inner {
    /// Look up an object and open its data files (those covering `range`, up to [`EAGER_OPEN`]),
    /// retrying when an overwrite removed a file between the lookup and the open.
    pub(super) fn open_object(
        &self,
        bucket: &BucketPath,
        key: &str,
        want_version: Option<u64>,
        range_of: &dyn Fn(&ObjectInfo) -> Result<Range<u64>>,
    ) -> Result<(ObjectInfo, Source, Range<u64>)> {
        for _ in 0..8 {
            let txn = self.read()?;
            let (_, b) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, bucket)?;
            let objs = txn.open_table(OBJECTS).map_err(db)?;
            let mut rec = get_object_rec(&objs, &obj_key(b.id, key))?;
            let mut found_key = key.to_string();
            if let Some(v) = want_version {
                if rec.as_ref().map(|r| r.version) != Some(v) {
                    // Renamed since? Follow the version to its current key in this bucket.
                    rec = None;
                    let versions = txn.open_table(VERSIONS).map_err(db)?;
                    if let Some(k) = versions.get(v).map_err(db)? {
                        let k = k.value();
                        if k.len() >= 8 && k[..8] == b.id.to_be_bytes() {
                            if let Some(r) = get_object_rec(&objs, k)?.filter(|r| r.version == v) {
                                found_key = String::from_utf8_lossy(&k[8..]).into_owned();
                                rec = Some(r);
                            }
                        }
                    }
                }
            }
            drop(objs);
            let rec = match (rec, want_version) {
                (Some(r), _) => r,
                (None, Some(_)) => return Err(Error::ObjectChanged(key.to_string())),
                (None, None) => return Err(Error::NoSuchKey(key.to_string())),
            };
            let info = object_info(&found_key, &rec);
            let range = range_of(&info)?;
            if rec.inline {
                let data = read_inline(&txn, rec.version)?;
                return Ok((info, Source::Inline(data), range));
            }
            drop(txn);
            let mut handles = Vec::with_capacity(rec.segments.len());
            let mut start = 0u64;
            let mut opened = 0usize;
            let mut gone = false;
            for s in &rec.segments {
                let end = start + s.size;
                let overlaps = start < range.end && end > range.start;
                let file = if overlaps && opened < EAGER_OPEN {
                    opened += 1;
                    match self.files.open_file(s.file) {
                        Ok(f) => Some(f),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            gone = true;
                            break;
                        }
                        Err(e) => return Err(e.into()),
                    }
                } else {
                    None
                };
                handles.push(SegHandle::new(*s, file));
                start = end;
            }
            if !gone {
                return Ok((info, Source::Files(handles), range));
            }
            if want_version.is_some() {
                return Err(Error::ObjectChanged(key.to_string()));
            }
        }
        Err(Error::ObjectChanged(key.to_string()))
    }

    /// Commit an object record at `key` of `bucket`, checking `cond` against the current one
    /// atomically. Data files in `guards` are kept on success and removed on failure; the
    /// replaced object's files are removed after the commit.
    /// `inline` holds the bytes of an inline record.
    pub(super) fn commit_object(
        &self,
        bucket: &BucketPath,
        key: &str,
        mut rec: ObjectRec,
        cond: &WriteCondition,
        guards: Vec<FileGuard>,
        inline: Option<&[u8]>,
    ) -> Result<(BucketPath, ObjectInfo)> {
        // Grouped with concurrent puts: the checks change nothing (their errors fail this put
        // only); the changes follow once they passed.
        let check = |txn: &WriteTransaction| {
            let (real, b) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, bucket)?;
            let k = obj_key(b.id, key);
            let cur = get_object_rec(&txn.open_table(OBJECTS).map_err(db)?, &k)?;
            check_condition(cond, cur.as_ref().map(|c| c.etag.as_str()))?;
            Ok((real, b.owner, k, cur))
        };
        let apply = |txn: &WriteTransaction,
                     (real, owner, k, cur): (BucketPath, String, Vec<u8>, Option<ObjectRec>)| {
            if rec.owner.is_empty() {
                rec.owner = owner;
            }
            rec.inline = inline.is_some();
            txn.open_table(OBJECTS)
                .map_err(db)?
                .insert(k.as_slice(), rec.encode().as_slice())
                .map_err(db)?;
            let old_files = match &cur {
                Some(c) => release(txn, c)?,
                None => Vec::new(),
            };
            if let Some(data) = inline {
                txn.open_table(INLINE)
                    .map_err(db)?
                    .insert(rec.version, data)
                    .map_err(db)?;
            }
            // A new version is found at its key: the version index is for renamed ones only
            // (one table fewer rewritten per put).
            bump_version(txn, rec.version + 1)?;
            Ok((real, old_files, object_info(key, &rec)))
        };
        let ((real, old_files, info), durable) = self.write_grouped(check, apply)?;
        for g in guards {
            g.disarm();
        }
        durable?;
        self.files.remove(old_files);
        Ok((real, info))
    }
}

/// The first object of bucket `id` at or after `bound` (a key of that bucket, without its
/// prefix), with its record: the seek a [`list_page`] listing drives.
fn seek_objects(
    objs: &impl ReadableTable<&'static [u8], &'static [u8]>,
    id: u64,
    bound: Bound<&[u8]>,
) -> Result<Option<(String, ObjectRec)>> {
    let idb = id.to_be_bytes();
    let k;
    let lo = match bound {
        Bound::Included(x) => {
            k = [&idb[..], x].concat();
            Bound::Included(k.as_slice())
        }
        Bound::Excluded(x) => {
            k = [&idb[..], x].concat();
            Bound::Excluded(k.as_slice())
        }
        Bound::Unbounded => Bound::Included(&idb[..]),
    };
    let mut it = objs.range::<&[u8]>((lo, Bound::Unbounded)).map_err(db)?;
    match it.next() {
        Some(e) => {
            let (kk, v) = e.map_err(db)?;
            if !kk.value().starts_with(&idb) {
                return Ok(None);
            }
            let key = String::from_utf8_lossy(&kk.value()[8..]).into_owned();
            Ok(Some((key, ObjectRec::decode(v.value())?)))
        }
        None => Ok(None),
    }
}

#[async_trait]
impl Objects for LocalStore {
    async fn put_object(
        &self,
        bucket: &BucketPath,
        key: &str,
        body: ByteStream,
        opts: PutOptions,
    ) -> Result<ObjectInfo> {
        validate_key(key)?;
        let b = bucket.clone();
        self.run(move |i| i.resolve(&b)).await?;
        let id = self.inner.alloc();
        let head = files::read_head(body, INLINE_MAX + 1).await?;
        let (b, k) = (bucket.clone(), key.to_string());
        let (real, info) = if head.rest.is_none() && head.len <= INLINE_MAX {
            // Small: the bytes go into the same transaction as the record.
            self.run(move |i| {
                let mut data = Vec::with_capacity(head.len);
                let mut digest = BodyDigest::new(&opts);
                for c in &head.chunks {
                    digest.update(c)?;
                    data.extend_from_slice(c);
                }
                let d = digest.finish()?;
                let rec = ObjectRec::single(id, d, opts.owner.clone().unwrap_or_default(), opts.attrs, true);
                i.commit_object(&b, &k, rec, &opts.condition, Vec::new(), Some(&data))
            })
            .await?
        } else {
            let (d, guard) = self
                .inner
                .files
                .write_head(id, head, BodyDigest::new(&opts), opts.pages.clone())
                .await?;
            let rec = ObjectRec::single(id, d, opts.owner.clone().unwrap_or_default(), opts.attrs, false);
            let cond = opts.condition;
            self.run(move |i| i.commit_object(&b, &k, rec, &cond, vec![guard], None))
                .await?
        };
        self.inner.emit(&real, key, ChangeKind::Put);
        Ok(info)
    }
    /// A large file on the data directory's filesystem becomes the data file as it is (linked
    /// into `objects/`, hashed while it is fsynced unless the caller gave its MD5: no copy); a
    /// small one is stored inline like
    /// any small put, and one that cannot be linked is copied by `put_object`.
    async fn put_file(
        &self,
        bucket: &BucketPath,
        key: &str,
        file: std::fs::File,
        len: u64,
        md5: Option<[u8; 16]>,
        opts: PutOptions,
    ) -> Result<ObjectInfo> {
        if len <= INLINE_MAX as u64 {
            return self
                .put_object(bucket, key, crate::store::body_from_file(file, len), opts)
                .await;
        }
        validate_key(key)?;
        let b = bucket.clone();
        self.run(move |i| i.resolve(&b)).await?;
        let file = Arc::new(file);
        let id = self.inner.alloc();
        // The caller's MD5 stands for reading the file back, unless a flexible checksum is asked.
        let hash = match md5 {
            Some(m) if opts.checksum.is_none() => {
                if opts.content_md5.is_some_and(|want| want != m) {
                    return Err(Error::BadDigest);
                }
                if opts.expected_len.is_some_and(|want| want != len) {
                    return Err(Error::IncompleteBody {
                        expected: opts.expected_len.unwrap_or(len),
                        got: len,
                    });
                }
                files::Hash::Known(crate::namespace::rules::Digests {
                    md5: m,
                    etag: hex::encode(m),
                    len,
                    checksums: Default::default(),
                })
            }
            _ => files::Hash::Compute(Box::new(BodyDigest::new(&opts))),
        };
        let Some((d, guard)) = self.inner.files.adopt(id, file.clone(), len, hash).await? else {
            let body = crate::store::body_from_file(file.try_clone()?, len);
            return self.put_object(bucket, key, body, opts).await;
        };
        let rec = ObjectRec::single(id, d, opts.owner.clone().unwrap_or_default(), opts.attrs, false);
        let (b, k, cond) = (bucket.clone(), key.to_string(), opts.condition);
        let (real, info) = self
            .run(move |i| i.commit_object(&b, &k, rec, &cond, vec![guard], None))
            .await?;
        self.inner.emit(&real, key, ChangeKind::Put);
        Ok(info)
    }
    fn adopts_files_from(&self, dir: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(dir), std::fs::metadata(&self.inner.dir)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev(),
            _ => false,
        }
    }
    async fn get_object(&self, bucket: &BucketPath, key: &str, opts: GetOptions) -> Result<GetResult> {
        let (b, k) = (bucket.clone(), key.to_string());
        let (info, src, range) = self
            .run(move |i| {
                i.open_object(&b, &k, None, &|info: &ObjectInfo| {
                    get_range(&opts, info.size, &info.parts, &info.part_numbers)
                })
            })
            .await?;
        let body = body_of(&self.inner.files, src, range.clone(), key);
        Ok(GetResult { info, range, body })
    }
    async fn read_version(&self, bucket: &BucketPath, info: &ObjectInfo, range: Range<u64>) -> Result<ByteStream> {
        let (b, k, v) = (bucket.clone(), info.key.clone(), info.version);
        let r = range.clone();
        let found = self
            .run(move |i| {
                i.open_object(&b, &k, Some(v), &|info: &ObjectInfo| {
                    check_source_range(&r, info.size)?;
                    Ok(r.clone())
                })
            })
            .await;
        match found {
            Ok((_, src, range)) => Ok(body_of(&self.inner.files, src, range, &info.key)),
            // Gone from the metadata (overwritten, deleted): a pin may still hold its bytes.
            Err(Error::ObjectChanged(k)) => match self.inner.pinned_source(v) {
                Some(src) => {
                    check_source_range(&range, info.size)?;
                    Ok(body_of(&self.inner.files, src, range, &info.key))
                }
                None => Err(Error::ObjectChanged(k)),
            },
            Err(e) => Err(e),
        }
    }
    async fn pin_version(&self, bucket: &BucketPath, info: &ObjectInfo) -> Result<VersionPin> {
        let (b, k, v) = (bucket.clone(), info.key.clone(), info.version);
        let pin = self.run(move |i| i.pin_version(&b, &k, v)).await?;
        Ok(VersionPin::new(pin))
    }
    async fn version_file(&self, bucket: &BucketPath, info: &ObjectInfo) -> Result<Option<std::fs::File>> {
        let (b, k, v, size) = (bucket.clone(), info.key.clone(), info.version, info.size);
        self.run(move |i| {
            let seg = {
                let txn = i.read()?;
                let (_, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
                let objs = txn.open_table(OBJECTS).map_err(db)?;
                match get_object_rec(&objs, &obj_key(rec.id, &k))? {
                    Some(o) if o.version == v && !o.inline && o.segments.len() == 1 && o.segments[0].size == size => {
                        o.segments[0]
                    }
                    _ => return Ok(None),
                }
            };
            match i.files.open_file(seg.file) {
                // the length is checked too: only a file of exactly the object's bytes will do
                Ok(f) if f.metadata().map(|m| m.len()).ok() == Some(size) => Ok(Some(f)),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }
    async fn head_object(&self, bucket: &BucketPath, key: &str) -> Result<ObjectInfo> {
        let (b, k) = (bucket.clone(), key.to_string());
        self.run(move |i| {
            let txn = i.read()?;
            let (_, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
            let objs = txn.open_table(OBJECTS).map_err(db)?;
            let o = get_object_rec(&objs, &obj_key(rec.id, &k))?.ok_or_else(|| Error::NoSuchKey(k.clone()))?;
            Ok(object_info(&k, &o))
        })
        .await
    }
    async fn delete_object(&self, bucket: &BucketPath, key: &str, if_match: Option<&str>) -> Result<()> {
        let (b, k, im) = (bucket.clone(), key.to_string(), if_match.map(str::to_string));
        let (real, old) = self
            .run(move |i| {
                let (real, old, files) = i.write(|txn| {
                    let (real, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
                    let mut objs = txn.open_table(OBJECTS).map_err(db)?;
                    let ok = obj_key(rec.id, &k);
                    let cur = get_object_rec(&objs, &ok)?;
                    if let Some(want) = im {
                        check_condition(&WriteCondition::IfMatch(want), cur.as_ref().map(|c| c.etag.as_str()))?;
                    }
                    let mut files = Vec::new();
                    if let Some(c) = &cur {
                        objs.remove(ok.as_slice()).map_err(db)?;
                        drop(objs);
                        files = release(txn, c)?;
                    }
                    Ok((real, cur, files))
                })?;
                i.files.remove(files);
                Ok((real, old))
            })
            .await?;
        if old.is_some() {
            self.inner.emit(&real, key, ChangeKind::Delete);
        }
        Ok(())
    }
    async fn copy_object(
        &self,
        src_bucket: &BucketPath,
        src_key: &str,
        dst_bucket: &BucketPath,
        dst_key: &str,
        opts: CopyOptions,
    ) -> Result<ObjectInfo> {
        validate_key(dst_key)?;
        let db_ = dst_bucket.clone();
        self.run(move |i| i.resolve(&db_)).await?;
        let rec = if let Some(range) = opts.source_range.clone() {
            let (id, d, guard, src, r) = self.copy_range_to_file(src_bucket, src_key, Some(range)).await?;
            let whole = r.start == 0 && r.end == src.size && src.parts.is_empty();
            (
                ObjectRec {
                    size: d.len,
                    etag: d.etag,
                    last_modified: SystemTime::now(),
                    version: id,
                    owner: opts.owner.clone().unwrap_or_default(),
                    attrs: copy_attrs(&src.attrs, &opts, whole),
                    multipart: false,
                    segments: vec![Segment { file: id, size: d.len }],
                    inline: false,
                    part_numbers: Vec::new(),
                },
                vec![guard],
                None,
            )
        } else {
            // Whole copy: hard-link the source's files under new ids.
            let (sb, sk) = (src_bucket.clone(), src_key.to_string());
            let opts2 = opts.clone();
            self.run(move |i| {
                for _ in 0..8 {
                    let txn = i.read()?;
                    let (_, b) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &sb)?;
                    let objs = txn.open_table(OBJECTS).map_err(db)?;
                    let src =
                        get_object_rec(&objs, &obj_key(b.id, &sk))?.ok_or_else(|| Error::NoSuchKey(sk.clone()))?;
                    drop(objs);
                    let inline = if src.inline {
                        Some(read_inline(&txn, src.version)?.to_vec())
                    } else {
                        None
                    };
                    drop(txn);
                    let mut guards = Vec::new();
                    let mut segments = Vec::new();
                    let mut vanished = false;
                    for s in &src.segments {
                        let id = i.alloc();
                        match i.files.clone_file(s.file, id) {
                            Ok(g) => guards.push(g),
                            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                                vanished = true;
                                break;
                            }
                            Err(e) => return Err(e),
                        }
                        segments.push(Segment { file: id, size: s.size });
                    }
                    if vanished {
                        continue; // the source was replaced meanwhile: copy the new one
                    }
                    let rec = ObjectRec {
                        size: src.size,
                        etag: src.etag.clone(),
                        last_modified: SystemTime::now(),
                        version: i.alloc(),
                        owner: opts2.owner.clone().unwrap_or_default(),
                        attrs: copy_attrs(&src.attrs, &opts2, true),
                        multipart: src.multipart,
                        segments,
                        inline: src.inline,
                        part_numbers: src.part_numbers.clone(),
                    };
                    return Ok((rec, guards, inline));
                }
                Err(Error::ObjectChanged(sk.clone()))
            })
            .await?
        };
        let (b, k, cond) = (dst_bucket.clone(), dst_key.to_string(), opts.condition);
        let (real, info) = self
            .run(move |i| i.commit_object(&b, &k, rec.0, &cond, rec.1, rec.2.as_deref()))
            .await?;
        self.inner.emit(&real, dst_key, ChangeKind::Put);
        Ok(info)
    }
    async fn set_attrs(&self, bucket: &BucketPath, key: &str, attrs: ObjectAttrs) -> Result<ObjectInfo> {
        let (b, k) = (bucket.clone(), key.to_string());
        let (real, info) = self
            .run(move |i| {
                i.write(|txn| {
                    let (real, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
                    let mut objs = txn.open_table(OBJECTS).map_err(db)?;
                    let ok = obj_key(rec.id, &k);
                    let mut o = get_object_rec(&objs, &ok)?.ok_or_else(|| Error::NoSuchKey(k.clone()))?;
                    let checksums = std::mem::take(&mut o.attrs.checksums);
                    o.attrs = attrs;
                    o.attrs.checksums = checksums;
                    o.last_modified = SystemTime::now();
                    objs.insert(ok.as_slice(), o.encode().as_slice()).map_err(db)?;
                    Ok((real, object_info(&k, &o)))
                })
            })
            .await?;
        self.inner.emit(&real, key, ChangeKind::Put);
        Ok(info)
    }
    async fn rename_object(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<()> {
        self.rename_object_impl(bucket, from, to).await
    }
    async fn rename_prefix(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<u64> {
        self.rename_prefix_impl(bucket, from, to).await
    }
    async fn list_objects(&self, bucket: &BucketPath, req: ListRequest) -> Result<ListPage> {
        let b = bucket.clone();
        self.run(move |i| {
            let txn = i.read()?;
            let (_, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
            let objs = txn.open_table(OBJECTS).map_err(db)?;
            let seek = |bound: Bound<&[u8]>| seek_objects(&objs, rec.id, bound);
            let l = list_page(
                &req.prefix,
                req.delimiter.as_deref(),
                req.start_after.as_deref(),
                req.max_keys,
                seek,
            )?;
            Ok(ListPage {
                objects: l.objects.iter().map(|(k, o)| object_info(k, o)).collect(),
                common_prefixes: l.common_prefixes,
                is_truncated: l.is_truncated,
                next_start_after: l.next_start_after,
                markers: l.markers.iter().map(|(k, o)| object_info(k, o)).collect(),
                user_meta: true,
            })
        })
        .await
    }
    /// One read transaction: the records of `key` and `key/` and the first key at or after
    /// `key/` (the listing engine's one-key page under `key/`, as `list_objects` would give it).
    async fn lookup_name(&self, bucket: &BucketPath, key: &str, query: NameQuery) -> Result<NameLookup> {
        let (b, k) = (bucket.clone(), key.to_string());
        self.run(move |i| {
            let txn = i.read()?;
            let (_, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
            let objs = txn.open_table(OBJECTS).map_err(db)?;
            let dir_key = format!("{k}/");
            let object = get_object_rec(&objs, &obj_key(rec.id, &k))?.map(|o| object_info(&k, &o));
            let marker = get_object_rec(&objs, &obj_key(rec.id, &dir_key))?.map(|o| object_info(&dir_key, &o));
            // The marker is the first key under `key/`: no scan needed when it exists.
            let under = query.implicit
                && (marker.is_some() || {
                    let seek = |bound: Bound<&[u8]>| seek_objects(&objs, rec.id, bound);
                    let l = list_page(&dir_key, None, None, 1, seek)?;
                    !l.objects.is_empty() || !l.common_prefixes.is_empty()
                });
            Ok(NameLookup { object, marker, under })
        })
        .await
    }
    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.inner.changes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::lookup_name_by_parts;

    /// What a lookup found, in short: the object's key, the marker's key, `under`.
    fn short(l: &NameLookup) -> (Option<String>, Option<String>, bool) {
        (
            l.object.as_ref().map(|i| i.key.clone()),
            l.marker.as_ref().map(|i| i.key.clone()),
            l.under,
        )
    }

    /// A store with bucket `bkt` holding `keys`, and a bucket `next` made after it (its keys
    /// sort after `bkt`'s) holding keys under names looked up in `bkt`: never seen from `bkt`.
    async fn store_with(keys: &[&str]) -> (tempfile::TempDir, LocalStore, BucketPath) {
        let d = tempfile::tempdir().unwrap();
        let s = LocalStore::open(d.path(), "s3v").unwrap();
        let b = BucketPath::new("s3v", "bkt");
        s.create_bucket(&b, "u").await.unwrap();
        let next = BucketPath::new("s3v", "next");
        s.create_bucket(&next, "u").await.unwrap();
        for k in keys {
            let body = crate::store::body_from_bytes(k.as_bytes().to_vec());
            s.put_object(&b, k, body, PutOptions::default()).await.unwrap();
        }
        for k in ["a/x", "n/x", "a//x", "d/x"] {
            let body = crate::store::body_from_bytes(&b"other bucket"[..]);
            s.put_object(&next, k, body, PutOptions::default()).await.unwrap();
        }
        (d, s, b)
    }

    /// `name` in `s`: the one-call answer, which must be the three calls' answer in every query
    /// mode and cost one read transaction.
    async fn look(s: &LocalStore, b: &BucketPath, name: &str) -> (Option<String>, Option<String>, bool) {
        let all = NameQuery::default();
        let before = s.read_transactions();
        let one = s.lookup_name(b, name, all).await.unwrap();
        assert_eq!(s.read_transactions() - before, 1, "{name}: one read transaction");
        assert_eq!(one, lookup_name_by_parts(s, b, name, all).await.unwrap(), "{name}");
        let no_implicit = NameQuery {
            implicit: false,
            first_found: false,
        };
        let without = s.lookup_name(b, name, no_implicit).await.unwrap();
        assert_eq!(
            without,
            lookup_name_by_parts(s, b, name, no_implicit).await.unwrap(),
            "{name}"
        );
        assert_eq!(
            (&without.object, &without.marker, without.under),
            (&one.object, &one.marker, false)
        );
        // One at a time: the embedded store still answers everything; the composed answer
        // agrees on every field it asked about.
        let cheap = NameQuery {
            implicit: true,
            first_found: true,
        };
        assert_eq!(s.lookup_name(b, name, cheap).await.unwrap(), one, "{name}");
        let parts = lookup_name_by_parts(s, b, name, cheap).await.unwrap();
        assert_eq!(parts.object, one.object, "{name}");
        if parts.object.is_none() {
            assert_eq!(parts.marker, one.marker, "{name}");
            if parts.marker.is_none() {
                assert_eq!(parts.under, one.under, "{name}");
            }
        }
        short(&one)
    }

    fn s(k: &str) -> Option<String> {
        Some(k.to_string())
    }

    #[tokio::test]
    async fn lookup_name_answers_each_kind_of_name_in_one_transaction() {
        let (_d, st, b) = store_with(&["f", "m/", "i/x/y", "both", "both/", "both/z"]).await;
        assert_eq!(look(&st, &b, "f").await, (s("f"), None, false), "file only");
        assert_eq!(look(&st, &b, "m").await, (None, s("m/"), true), "marker only");
        assert_eq!(look(&st, &b, "i").await, (None, None, true), "implicit directory");
        assert_eq!(look(&st, &b, "i/x").await, (None, None, true), "nested implicit");
        assert_eq!(
            look(&st, &b, "both").await,
            (s("both"), s("both/"), true),
            "file and dir"
        );
        assert_eq!(
            look(&st, &b, "n").await,
            (None, None, false),
            "nothing (keys in the next bucket)"
        );
        assert_eq!(look(&st, &b, "").await, (None, None, false), "the empty name");
        // A key with a trailing slash is a name like any other: `m/` is the marker itself,
        // `m//` is not there.
        assert_eq!(look(&st, &b, "m/").await, (s("m/"), None, false), "trailing slash");
        assert_eq!(look(&st, &b, "both/").await, (s("both/"), None, false));
        // Deleted: the object, then the marker (its child stays: an implicit directory).
        st.delete_object(&b, "f", None).await.unwrap();
        assert_eq!(look(&st, &b, "f").await, (None, None, false), "deleted object");
        st.delete_object(&b, "both/", None).await.unwrap();
        assert_eq!(look(&st, &b, "both").await, (s("both"), None, true), "deleted marker");
        st.delete_object(&b, "both/z", None).await.unwrap();
        assert_eq!(
            look(&st, &b, "both").await,
            (s("both"), None, false),
            "last child deleted"
        );
        // Renamed away: gone from the old name, there under the new one.
        st.rename_prefix(&b, "i/", "j/").await.unwrap();
        assert_eq!(look(&st, &b, "i").await, (None, None, false));
        assert_eq!(look(&st, &b, "j").await, (None, None, true));
        // Through a link, as the bucket it names; a missing bucket fails as the calls do.
        let link = BucketPath::new("s3v", "lnk");
        st.create_link(&link, &b, "u").await.unwrap();
        assert_eq!(look(&st, &link, "m").await, (None, s("m/"), true));
        let missing = BucketPath::new("s3v", "missing");
        let e = st.lookup_name(&missing, "m", NameQuery::default()).await.unwrap_err();
        assert!(matches!(e, Error::NoSuchBucket(_)), "{e:?}");
        let e = lookup_name_by_parts(&st, &missing, "m", NameQuery::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NoSuchBucket(_)), "{e:?}");
    }

    /// `-` (0x2d) sorts before `/` (0x2f), `0` (0x30) after: the scan under `a/` starts past
    /// `a-b`, must not take `a0` (the first key after `a/` when nothing is under it) and must
    /// take the first key strictly under `a/` when there is one.
    #[tokio::test]
    async fn lookup_name_scans_exactly_under_the_slash() {
        let (_d, st, b) = store_with(&["a", "a-b", "a-b/c", "a0", "a0/x"]).await;
        assert_eq!(look(&st, &b, "a").await, (s("a"), None, false));
        assert_eq!(look(&st, &b, "a-b").await, (s("a-b"), None, true));
        assert_eq!(look(&st, &b, "a0").await, (s("a0"), None, true));
        assert_eq!(look(&st, &b, "a-").await, (None, None, false));
        let body = crate::store::body_from_bytes(&b"x"[..]);
        st.put_object(&b, "a/x", body, PutOptions::default()).await.unwrap();
        assert_eq!(look(&st, &b, "a").await, (s("a"), None, true));
        let body = crate::store::body_from_bytes(&b""[..]);
        st.put_object(&b, "a/", body, PutOptions::default()).await.unwrap();
        assert_eq!(look(&st, &b, "a").await, (s("a"), s("a/"), true));
        st.delete_object(&b, "a/x", None).await.unwrap();
        assert_eq!(look(&st, &b, "a").await, (s("a"), s("a/"), true), "the marker alone");
        // `a//` is under `a/`, and is what `a/` names as a marker.
        let body = crate::store::body_from_bytes(&b""[..]);
        st.put_object(&b, "a//", body, PutOptions::default()).await.unwrap();
        assert_eq!(look(&st, &b, "a/").await, (s("a/"), s("a//"), true));
    }
}
