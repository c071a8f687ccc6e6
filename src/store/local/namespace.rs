//! Volumes, buckets and links ([`Namespace`] for the embedded store).

use super::*;

impl Inner {
    pub(super) fn volume_exists(&self, txn: &redb::ReadTransaction, name: &str) -> Result<()> {
        let vols = txn.open_table(VOLUMES).map_err(db)?;
        if vols.get(name).map_err(db)?.is_none() {
            return Err(Error::NoSuchVolume(name.to_string()));
        }
        Ok(())
    }

    pub(super) fn create_record(
        &self,
        bucket: &BucketPath,
        target: Option<BucketPath>,
        owner: &str,
    ) -> Result<BucketInfo> {
        validate_resource_name(NameKind::Bucket, &bucket.bucket)?;
        self.write(|txn| {
            let vols = txn.open_table(VOLUMES).map_err(db)?;
            if vols.get(bucket.volume.as_str()).map_err(db)?.is_none() {
                return Err(Error::NoSuchVolume(bucket.volume.clone()));
            }
            drop(vols);
            let mut buckets = txn.open_table(BUCKETS).map_err(db)?;
            if let Some(existing) = get_bucket(&buckets, bucket)? {
                return Err(Error::BucketAlreadyExists {
                    name: bucket.bucket.clone(),
                    owner: existing.owner,
                });
            }
            let id = if target.is_some() {
                0
            } else {
                let mut meta = txn.open_table(META).map_err(db)?;
                let id = meta.get(NEXT_BUCKET_ID).map_err(db)?.map(|v| v.value()).unwrap_or(1);
                meta.insert(NEXT_BUCKET_ID, id + 1).map_err(db)?;
                id
            };
            let rec = BucketRec {
                id,
                owner: owner.to_string(),
                created: SystemTime::now(),
                link_target: target,
                acl: Vec::new(),
                tags: BTreeMap::new(),
                lifecycle: None,
                layout: BucketLayout::default(),
            };
            buckets
                .insert(bucket_key(bucket).as_str(), rec.encode().as_slice())
                .map_err(db)?;
            Ok(bucket_info(bucket, &rec))
        })
    }
}

#[async_trait]
impl Namespace for LocalStore {
    async fn create_volume(&self, name: &str, owner: &str) -> Result<VolumeInfo> {
        validate_resource_name(NameKind::Volume, name)?;
        let (name, owner) = (name.to_string(), owner.to_string());
        self.run(move |i| {
            i.write(|txn| {
                let mut vols = txn.open_table(VOLUMES).map_err(db)?;
                if vols.get(name.as_str()).map_err(db)?.is_some() {
                    return Err(Error::VolumeAlreadyExists(name.clone()));
                }
                let rec = VolumeRec {
                    owner: owner.clone(),
                    created: SystemTime::now(),
                };
                vols.insert(name.as_str(), rec.encode().as_slice()).map_err(db)?;
                Ok(VolumeInfo {
                    name: name.clone(),
                    owner: rec.owner,
                    created: rec.created,
                })
            })
        })
        .await
    }
    async fn delete_volume(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.run(move |i| {
            i.write(|txn| {
                let mut vols = txn.open_table(VOLUMES).map_err(db)?;
                if vols.get(name.as_str()).map_err(db)?.is_none() {
                    return Err(Error::NoSuchVolume(name.clone()));
                }
                let buckets = txn.open_table(BUCKETS).map_err(db)?;
                let (lo, hi) = (format!("{name}/"), format!("{name}0"));
                if buckets
                    .range::<&str>(lo.as_str()..hi.as_str())
                    .map_err(db)?
                    .next()
                    .is_some()
                {
                    return Err(Error::VolumeNotEmpty(name.clone()));
                }
                vols.remove(name.as_str()).map_err(db)?;
                Ok(())
            })
        })
        .await
    }
    async fn volume_info(&self, name: &str) -> Result<VolumeInfo> {
        let name = name.to_string();
        self.run(move |i| {
            let txn = i.read()?;
            let vols = txn.open_table(VOLUMES).map_err(db)?;
            let v = vols.get(name.as_str()).map_err(db)?;
            let rec = VolumeRec::decode(v.ok_or_else(|| Error::NoSuchVolume(name.clone()))?.value())?;
            Ok(VolumeInfo {
                name: name.clone(),
                owner: rec.owner,
                created: rec.created,
            })
        })
        .await
    }
    async fn list_volumes(&self) -> Result<Vec<VolumeInfo>> {
        self.run(|i| {
            let txn = i.read()?;
            let vols = txn.open_table(VOLUMES).map_err(db)?;
            let mut out = Vec::new();
            for e in vols.iter().map_err(db)? {
                let (k, v) = e.map_err(db)?;
                let rec = VolumeRec::decode(v.value())?;
                out.push(VolumeInfo {
                    name: k.value().to_string(),
                    owner: rec.owner,
                    created: rec.created,
                });
            }
            Ok(out)
        })
        .await
    }
    async fn create_bucket(&self, bucket: &BucketPath, owner: &str) -> Result<BucketInfo> {
        let (b, o) = (bucket.clone(), owner.to_string());
        self.run(move |i| i.create_record(&b, None, &o)).await
    }
    async fn create_link(&self, link: &BucketPath, target: &BucketPath, owner: &str) -> Result<BucketInfo> {
        validate_resource_name(NameKind::Volume, &target.volume)?;
        validate_resource_name(NameKind::Bucket, &target.bucket)?;
        let (l, t, o) = (link.clone(), target.clone(), owner.to_string());
        self.run(move |i| i.create_record(&l, Some(t), &o)).await
    }
    async fn delete_bucket(&self, bucket: &BucketPath) -> Result<()> {
        let b = bucket.clone();
        self.run(move |i| {
            i.write(|txn| {
                let vols = txn.open_table(VOLUMES).map_err(db)?;
                if vols.get(b.volume.as_str()).map_err(db)?.is_none() {
                    return Err(Error::NoSuchVolume(b.volume.clone()));
                }
                drop(vols);
                let mut buckets = txn.open_table(BUCKETS).map_err(db)?;
                let rec = get_bucket(&buckets, &b)?.ok_or_else(|| Error::NoSuchBucket(b.bucket.clone()))?;
                if rec.link_target.is_none() {
                    let lo = rec.id.to_be_bytes();
                    let hi = (rec.id + 1).to_be_bytes();
                    let objs = txn.open_table(OBJECTS).map_err(db)?;
                    let uploads = txn.open_table(UPLOADS).map_err(db)?;
                    let has_obj = objs.range::<&[u8]>(&lo[..]..&hi[..]).map_err(db)?.next().is_some();
                    let has_up = uploads.range::<&[u8]>(&lo[..]..&hi[..]).map_err(db)?.next().is_some();
                    if has_obj || has_up {
                        return Err(Error::BucketNotEmpty(b.bucket.clone()));
                    }
                }
                buckets.remove(bucket_key(&b).as_str()).map_err(db)?;
                Ok(())
            })
        })
        .await
    }
    async fn bucket_info(&self, bucket: &BucketPath) -> Result<BucketInfo> {
        let b = bucket.clone();
        self.run(move |i| {
            let txn = i.read()?;
            i.volume_exists(&txn, &b.volume)?;
            let buckets = txn.open_table(BUCKETS).map_err(db)?;
            let rec = get_bucket(&buckets, &b)?.ok_or_else(|| Error::NoSuchBucket(b.bucket.clone()))?;
            Ok(bucket_info(&b, &rec))
        })
        .await
    }
    async fn list_buckets(&self, volume: &str) -> Result<Vec<BucketInfo>> {
        let v = volume.to_string();
        self.run(move |i| {
            let txn = i.read()?;
            i.volume_exists(&txn, &v)?;
            let buckets = txn.open_table(BUCKETS).map_err(db)?;
            let (lo, hi) = (format!("{v}/"), format!("{v}0"));
            let mut out = Vec::new();
            for e in buckets.range::<&str>(lo.as_str()..hi.as_str()).map_err(db)? {
                let (k, val) = e.map_err(db)?;
                let name = k.value()[lo.len()..].to_string();
                out.push(bucket_info(
                    &BucketPath::new(v.clone(), name),
                    &BucketRec::decode(val.value())?,
                ));
            }
            Ok(out)
        })
        .await
    }
    async fn update_bucket(&self, bucket: &BucketPath, update: BucketUpdate) -> Result<BucketInfo> {
        let b = bucket.clone();
        self.run(move |i| {
            i.write(|txn| {
                let mut buckets = txn.open_table(BUCKETS).map_err(db)?;
                let (real, mut rec) = resolve_in(&buckets, &b)?;
                match update {
                    BucketUpdate::Acl(acl) => rec.acl = acl,
                    BucketUpdate::Tags(tags) => rec.tags = tags,
                    BucketUpdate::Lifecycle(l) => rec.lifecycle = l,
                    BucketUpdate::Layout(l) => rec.layout = l,
                }
                buckets
                    .insert(bucket_key(&real).as_str(), rec.encode().as_slice())
                    .map_err(db)?;
                Ok(bucket_info(&real, &rec))
            })
        })
        .await
    }
    async fn resolve_bucket(&self, bucket: &BucketPath) -> Result<BucketPath> {
        let b = bucket.clone();
        self.run(move |i| i.resolve(&b).map(|(p, _)| p)).await
    }
}
