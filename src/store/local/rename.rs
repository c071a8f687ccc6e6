//! Key and prefix renames, each one transaction.

use super::*;

impl LocalStore {
    pub(super) async fn rename_object_impl(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<()> {
        validate_key(to)?;
        let (b, f, t) = (bucket.clone(), from.to_string(), to.to_string());
        let moved = self
            .run(move |i| {
                let (real, old) = i.write(|txn| {
                    let (real, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
                    let mut objs = txn.open_table(OBJECTS).map_err(db)?;
                    let fk = obj_key(rec.id, &f);
                    let o = get_object_rec(&objs, &fk)?.ok_or_else(|| Error::NoSuchKey(f.clone()))?;
                    if f == t {
                        return Ok((None, Vec::new()));
                    }
                    objs.remove(fk.as_slice()).map_err(db)?;
                    let tk = obj_key(rec.id, &t);
                    index_version(txn, o.version, &tk)?;
                    let old = objs
                        .insert(tk.as_slice(), o.encode().as_slice())
                        .map_err(db)?
                        .map(|v| ObjectRec::decode(v.value()))
                        .transpose()?;
                    drop(objs);
                    let files = match &old {
                        Some(o) => release(txn, o)?,
                        None => Vec::new(),
                    };
                    Ok((Some(real), files))
                })?;
                i.files.remove(old);
                Ok(real)
            })
            .await?;
        if let Some(real) = moved {
            self.inner.emit(&real, from, ChangeKind::Delete);
            self.inner.emit(&real, to, ChangeKind::Put);
        }
        Ok(())
    }

    pub(super) async fn rename_prefix_impl(&self, bucket: &BucketPath, from: &str, to: &str) -> Result<u64> {
        check_rename_prefix(from, to)?;
        let (b, f, t) = (bucket.clone(), from.to_string(), to.to_string());
        let (real, renames) = self
            .run(move |i| {
                let (real, renames, replaced) = i.write(|txn| {
                    let (real, rec) = resolve_in(&txn.open_table(BUCKETS).map_err(db)?, &b)?;
                    let mut objs = txn.open_table(OBJECTS).map_err(db)?;
                    let lo = obj_key(rec.id, &f);
                    let mut moving: Vec<(String, String, Vec<u8>)> = Vec::new();
                    for e in objs
                        .range::<&[u8]>((Bound::Included(lo.as_slice()), Bound::Unbounded))
                        .map_err(db)?
                    {
                        let (k, v) = e.map_err(db)?;
                        if !k.value().starts_with(&lo) {
                            break;
                        }
                        let old = String::from_utf8_lossy(&k.value()[8..]).into_owned();
                        let new = format!("{t}{}", &old[f.len()..]);
                        validate_key(&new)?;
                        moving.push((old, new, v.value().to_vec()));
                    }
                    for (old, _, _) in &moving {
                        objs.remove(obj_key(rec.id, old).as_slice()).map_err(db)?;
                    }
                    let mut replaced = Vec::new();
                    let mut moved_versions = Vec::with_capacity(moving.len());
                    for (_, new, v) in &moving {
                        let nk = obj_key(rec.id, new);
                        moved_versions.push((ObjectRec::decode(v)?.version, nk.clone()));
                        if let Some(prev) = objs.insert(nk.as_slice(), v.as_slice()).map_err(db)? {
                            replaced.push(ObjectRec::decode(prev.value())?);
                        }
                    }
                    drop(objs);
                    let mut files = Vec::new();
                    for o in &replaced {
                        files.extend(release(txn, o)?);
                    }
                    for (v, nk) in &moved_versions {
                        index_version(txn, *v, nk)?;
                    }
                    let renames: Vec<(String, String)> = moving.into_iter().map(|(o, n, _)| (o, n)).collect();
                    Ok((real, renames, files))
                })?;
                i.files.remove(replaced);
                Ok((real, renames))
            })
            .await?;
        for (old, new) in &renames {
            self.inner.emit(&real, old, ChangeKind::Delete);
            self.inner.emit(&real, new, ChangeKind::Put);
        }
        Ok(renames.len() as u64)
    }
}
