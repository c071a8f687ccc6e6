//! Multipart uploads ([`Multipart`] for the embedded store) and deleting a bucket with its
//! uploads in one transaction.

use super::*;

pub(super) fn part_info(n: u32, p: &PartRec) -> PartInfo {
    PartInfo {
        part_number: n,
        etag: p.etag.clone(),
        size: p.size,
        last_modified: p.last_modified,
        checksums: p.checksums.clone(),
    }
}

/// All parts of an upload, ascending.
pub(super) fn parts_of(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    upload_id: &str,
) -> Result<Vec<(u32, PartRec)>> {
    let lo = part_key(upload_id, 0);
    let hi = part_key(upload_id, u32::MAX);
    let mut out = Vec::new();
    for e in t.range::<&[u8]>(lo.as_slice()..=hi.as_slice()).map_err(db)? {
        let (k, v) = e.map_err(db)?;
        let kb = k.value();
        let n = kb
            .get(kb.len().saturating_sub(4)..)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| Error::storage("malformed part key"))?;
        out.push((n, PartRec::decode(v.value())?));
    }
    Ok(out)
}

impl Inner {
    /// Commit a part record, replacing (and removing the file of) an earlier upload of that part.
    pub(super) fn commit_part(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        n: u32,
        rec: PartRec,
        guard: FileGuard,
    ) -> Result<PartInfo> {
        let (old, durable) = self.write_staged(|txn| {
            let (_, b) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, bucket)?;
            let uploads = txn.open_table(UPLOADS).map_err(db)?;
            if uploads
                .get(upload_key(b.id, key, upload_id).as_slice())
                .map_err(db)?
                .is_none()
            {
                return Err(Error::NoSuchUpload(upload_id.to_string()));
            }
            drop(uploads);
            let mut parts = txn.open_table(PARTS).map_err(db)?;
            let old = parts
                .insert(part_key(upload_id, n).as_slice(), rec.encode().as_slice())
                .map_err(db)?
                .map(|v| PartRec::decode(v.value()))
                .transpose()?;
            drop(parts);
            bump_version(txn, rec.file + 1)?;
            Ok(old)
        })?;
        guard.disarm();
        durable?;
        if let Some(old) = old {
            self.files.remove([old.file]);
        }
        Ok(part_info(n, &rec))
    }

    pub(super) fn check_upload(&self, bucket: &BucketPath, key: &str, upload_id: &str) -> Result<()> {
        let txn = self.read()?;
        let (_, b) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, bucket)?;
        let uploads = txn.open_table(UPLOADS).map_err(db)?;
        if uploads
            .get(upload_key(b.id, key, upload_id).as_slice())
            .map_err(db)?
            .is_none()
        {
            return Err(Error::NoSuchUpload(upload_id.to_string()));
        }
        Ok(())
    }
}

#[async_trait]
impl Multipart for LocalStore {
    async fn delete_bucket_aborting_uploads(&self, bucket: &BucketPath) -> Result<()> {
        let b = bucket.clone();
        self.run(move |i| {
            // One write transaction: the key check, the aborts and the bucket's removal commit
            // together, so a concurrent create_multipart is either aborted here or finds no bucket.
            let files = i.write(|txn| {
                let vols = txn.open_table(VOLUMES).map_err(db)?;
                if vols.get(b.volume.as_str()).map_err(db)?.is_none() {
                    return Err(Error::NoSuchVolume(b.volume.clone()));
                }
                drop(vols);
                let mut buckets = txn.open_table(BUCKETS).map_err(db)?;
                let rec = get_bucket(&buckets, &b)?.ok_or_else(|| Error::NoSuchBucket(b.bucket.clone()))?;
                let mut files = Vec::new();
                if rec.link_target.is_none() {
                    let lo = rec.id.to_be_bytes();
                    let hi = (rec.id + 1).to_be_bytes();
                    let objs = txn.open_table(OBJECTS).map_err(db)?;
                    if objs.range::<&[u8]>(&lo[..]..&hi[..]).map_err(db)?.next().is_some() {
                        return Err(Error::BucketNotEmpty(b.bucket.clone()));
                    }
                    let mut uploads = txn.open_table(UPLOADS).map_err(db)?;
                    let mut keys = Vec::new();
                    for e in uploads.range::<&[u8]>(&lo[..]..&hi[..]).map_err(db)? {
                        keys.push(e.map_err(db)?.0.value().to_vec());
                    }
                    let mut parts = txn.open_table(PARTS).map_err(db)?;
                    for k in keys {
                        uploads.remove(k.as_slice()).map_err(db)?;
                        // upload_key: bucket id, key, 0, upload id (keys hold no NUL).
                        let at = k.iter().rposition(|&c| c == 0).map_or(k.len(), |p| p + 1);
                        let upload_id = String::from_utf8_lossy(&k[at..]).into_owned();
                        for (n, p) in parts_of(&parts, &upload_id)? {
                            parts.remove(part_key(&upload_id, n).as_slice()).map_err(db)?;
                            files.push(p.file);
                        }
                    }
                }
                buckets.remove(bucket_key(&b).as_str()).map_err(db)?;
                Ok(files)
            })?;
            i.files.remove(files);
            Ok(())
        })
        .await
    }
    async fn create_multipart(&self, bucket: &BucketPath, key: &str, opts: PutOptions) -> Result<String> {
        validate_key(key)?;
        let (b, k) = (bucket.clone(), key.to_string());
        let v = self.inner.alloc();
        let id = format!("{v:016x}{:08x}", rand::random::<u32>());
        let upload_id = id.clone();
        self.run(move |i| {
            i.write(|txn| {
                let (_, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
                let up = UploadRec {
                    initiated: SystemTime::now(),
                    owner: opts.owner.clone().unwrap_or_else(|| rec.owner.clone()),
                    attrs: opts.attrs,
                };
                let mut uploads = txn.open_table(UPLOADS).map_err(db)?;
                uploads
                    .insert(upload_key(rec.id, &k, &upload_id).as_slice(), up.encode().as_slice())
                    .map_err(db)?;
                drop(uploads);
                bump_version(txn, v + 1)
            })
        })
        .await?;
        Ok(id)
    }
    async fn upload_part(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        opts: PutOptions,
    ) -> Result<PartInfo> {
        check_part_number(part_number)?;
        let (b, k, u) = (bucket.clone(), key.to_string(), upload_id.to_string());
        self.run(move |i| i.check_upload(&b, &k, &u)).await?;
        let id = self.inner.alloc();
        let (d, guard) = self.inner.files.write(id, body, BodyDigest::new(&opts)).await?;
        let rec = PartRec {
            etag: d.etag,
            size: d.len,
            last_modified: SystemTime::now(),
            checksums: d.checksums,
            file: id,
        };
        let (b, k, u) = (bucket.clone(), key.to_string(), upload_id.to_string());
        self.run(move |i| i.commit_part(&b, &k, &u, part_number, rec, guard))
            .await
    }
    async fn upload_part_copy(&self, bucket: &BucketPath, key: &str, copy: PartCopy<'_>) -> Result<PartInfo> {
        let PartCopy {
            upload_id,
            part_number,
            src_bucket,
            src_key,
            src_range,
        } = copy;
        check_part_number(part_number)?;
        let (b, k, u) = (bucket.clone(), key.to_string(), upload_id.to_string());
        self.run(move |i| i.check_upload(&b, &k, &u)).await?;
        let (id, d, guard, _, _) = self.copy_range_to_file(src_bucket, src_key, src_range).await?;
        let rec = PartRec {
            etag: d.etag,
            size: d.len,
            last_modified: SystemTime::now(),
            checksums: BTreeMap::new(),
            file: id,
        };
        let (b, k, u) = (bucket.clone(), key.to_string(), upload_id.to_string());
        self.run(move |i| i.commit_part(&b, &k, &u, part_number, rec, guard))
            .await
    }
    async fn complete_multipart(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        condition: WriteCondition,
    ) -> Result<ObjectInfo> {
        let (b, k, u, named) = (bucket.clone(), key.to_string(), upload_id.to_string(), parts.to_vec());
        let version = self.inner.alloc();
        let (real, info) = self
            .run(move |i| {
                let (real, info, drop_files) = i.write(|txn| {
                    let (real, brec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
                    let mut uploads = txn.open_table(UPLOADS).map_err(db)?;
                    let uk = upload_key(brec.id, &k, &u);
                    let up = match uploads.get(uk.as_slice()).map_err(db)? {
                        Some(v) => UploadRec::decode(v.value())?,
                        None => return Err(Error::NoSuchUpload(u.clone())),
                    };
                    let mut parts = txn.open_table(PARTS).map_err(db)?;
                    let all: BTreeMap<u32, PartRec> = parts_of(&parts, &u)?.into_iter().collect();
                    let etag = validate_complete(&named, |n| all.get(&n).map(|p| (p.etag.clone(), p.size)))?;
                    let mut objs = txn.open_table(OBJECTS).map_err(db)?;
                    let ok = obj_key(brec.id, &k);
                    let cur = get_object_rec(&objs, &ok)?;
                    check_condition(&condition, cur.as_ref().map(|c| c.etag.as_str()))?;
                    let (segments, part_numbers): (Vec<Segment>, Vec<u32>) = named
                        .iter()
                        .filter_map(|p| all.get(&p.part_number).map(|r| (r, p.part_number)))
                        .map(|(p, n)| {
                            (
                                Segment {
                                    file: p.file,
                                    size: p.size,
                                },
                                n,
                            )
                        })
                        .unzip();
                    let used: HashSet<u64> = segments.iter().map(|s| s.file).collect();
                    let sums: Vec<&BTreeMap<String, String>> = named
                        .iter()
                        .filter_map(|p| all.get(&p.part_number))
                        .map(|p| &p.checksums)
                        .collect();
                    let mut attrs = up.attrs;
                    attrs.checksums = composite_checksums(&sums);
                    let rec = ObjectRec {
                        size: segments.iter().map(|s| s.size).sum(),
                        etag,
                        last_modified: SystemTime::now(),
                        version,
                        owner: up.owner.clone(),
                        attrs,
                        multipart: true,
                        segments,
                        inline: false,
                        part_numbers,
                    };
                    objs.insert(ok.as_slice(), rec.encode().as_slice()).map_err(db)?;
                    uploads.remove(uk.as_slice()).map_err(db)?;
                    for n in all.keys() {
                        parts.remove(part_key(&u, *n).as_slice()).map_err(db)?;
                    }
                    drop((objs, uploads, parts));
                    bump_version(txn, version + 1)?;
                    let mut drop_files: Vec<u64> = all.values().map(|p| p.file).filter(|f| !used.contains(f)).collect();
                    if let Some(c) = cur {
                        drop_files.extend(release(txn, &c)?);
                    }
                    Ok((real, object_info(&k, &rec), drop_files))
                })?;
                i.files.remove(drop_files);
                Ok((real, info))
            })
            .await?;
        self.inner.emit(&real, key, ChangeKind::Put);
        Ok(info)
    }
    async fn abort_multipart(&self, bucket: &BucketPath, key: &str, upload_id: &str) -> Result<()> {
        let (b, k, u) = (bucket.clone(), key.to_string(), upload_id.to_string());
        self.run(move |i| {
            let files = i.write(|txn| {
                let (_, brec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
                let mut uploads = txn.open_table(UPLOADS).map_err(db)?;
                if uploads
                    .remove(upload_key(brec.id, &k, &u).as_slice())
                    .map_err(db)?
                    .is_none()
                {
                    return Err(Error::NoSuchUpload(u.clone()));
                }
                let mut parts = txn.open_table(PARTS).map_err(db)?;
                let all = parts_of(&parts, &u)?;
                for (n, _) in &all {
                    parts.remove(part_key(&u, *n).as_slice()).map_err(db)?;
                }
                Ok(all.into_iter().map(|(_, p)| p.file).collect::<Vec<_>>())
            })?;
            i.files.remove(files);
            Ok(())
        })
        .await
    }
    async fn list_parts(
        &self,
        bucket: &BucketPath,
        key: &str,
        upload_id: &str,
        part_number_marker: u32,
        max_parts: usize,
    ) -> Result<PartsPage> {
        let (b, k, u) = (bucket.clone(), key.to_string(), upload_id.to_string());
        self.run(move |i| {
            let txn = i.read()?;
            let (_, brec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
            let uploads = txn.open_table(UPLOADS).map_err(db)?;
            let up = match uploads.get(upload_key(brec.id, &k, &u).as_slice()).map_err(db)? {
                Some(v) => UploadRec::decode(v.value())?,
                None => return Err(Error::NoSuchUpload(u.clone())),
            };
            let parts = txn.open_table(PARTS).map_err(db)?;
            let all = parts_of(&parts, &u)?;
            let (parts, is_truncated, next_part_number_marker) =
                page_parts(all.iter().map(|(n, p)| part_info(*n, p)), part_number_marker, max_parts);
            Ok(PartsPage {
                parts,
                is_truncated,
                next_part_number_marker,
                attrs: up.attrs,
            })
        })
        .await
    }
    async fn list_uploads(&self, bucket: &BucketPath, req: UploadsRequest<'_>) -> Result<UploadsPage> {
        let UploadsRequest {
            prefix,
            key_marker,
            upload_id_marker,
            max_uploads,
        } = req;
        let (b, p) = (bucket.clone(), prefix.to_string());
        let (km, um) = (key_marker.map(str::to_string), upload_id_marker.map(str::to_string));
        self.run(move |i| {
            let txn = i.read()?;
            let (_, brec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
            let uploads = txn.open_table(UPLOADS).map_err(db)?;
            let lo = obj_key(brec.id, &p);
            let mut all = Vec::new();
            for e in uploads
                .range::<&[u8]>((Bound::Included(lo.as_slice()), Bound::Unbounded))
                .map_err(db)?
            {
                let (kk, v) = e.map_err(db)?;
                let kb = kk.value();
                if !kb.starts_with(&lo) {
                    break;
                }
                let rest = &kb[8..];
                let Some(nul) = rest.iter().position(|&c| c == 0) else {
                    return Err(Error::storage("malformed upload key"));
                };
                let rec = UploadRec::decode(v.value())?;
                all.push(UploadInfo {
                    key: String::from_utf8_lossy(&rest[..nul]).into_owned(),
                    upload_id: String::from_utf8_lossy(&rest[nul + 1..]).into_owned(),
                    initiated: rec.initiated,
                    owner: rec.owner,
                    storage_class: rec.attrs.storage_class,
                });
            }
            Ok(page_uploads(all, &p, km.as_deref(), um.as_deref(), max_uploads))
        })
        .await
    }
}
