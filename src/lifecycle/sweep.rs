//! The lifecycle expiration sweep: one pass over the buckets that have a lifecycle
//! configuration, deleting the objects an enabled Expiration rule says are expired and aborting
//! the multipart uploads an AbortIncompleteMultipartUpload rule says are stale.
//!
//! Work per pass is bounded: a [`Sweeper`] examines at most `budget` entries (listed keys, listed
//! uploads, tag lookups) per [`Sweeper::sweep`] and remembers where it stopped, so the next pass
//! resumes there; a pass that reaches the last bucket starts the next one from the first. A
//! deletion carries the ETag the decision was made on (`If-Match`), so an object overwritten
//! between the listing and the delete is kept. Links are skipped (their source bucket has its
//! own configuration). The clock is a parameter, so tests decide what "now" is.
//!
//! `ozfs serve` runs this periodically on the embedded store only (docs/SEMANTICS.md).

use super::Configuration;
use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use crate::store::{ListRequest, ObjectStore, UploadsRequest};
use std::time::SystemTime;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Buckets with a configuration that this pass looked at.
    pub buckets: u64,
    /// Entries examined (keys, uploads, tag lookups).
    pub examined: u64,
    pub expired: u64,
    pub aborted: u64,
    /// Actions that failed (logged; retried by a later pass).
    pub errors: u64,
    /// Stored configurations that no longer parse (skipped).
    pub unreadable: u64,
    /// True when the pass reached the last bucket (false: the budget ran out first).
    pub complete: bool,
}

/// Where a pass stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resume {
    /// Keys of this bucket after `after` (None: from the first).
    Objects { bucket: BucketPath, after: Option<String> },
    /// Uploads of this bucket after the (key, upload id) marker.
    Uploads {
        bucket: BucketPath,
        marker: Option<(String, String)>,
    },
}

/// Runs bounded passes and remembers where the last one stopped.
#[derive(Debug)]
pub struct Sweeper {
    budget: u64,
    resume: Option<Resume>,
}

/// Keys listed per page.
const PAGE: usize = 1000;

impl Sweeper {
    /// A sweeper examining at most `budget` entries per pass (at least 1).
    pub fn new(budget: u64) -> Sweeper {
        Sweeper {
            budget: budget.max(1),
            resume: None,
        }
    }

    /// One pass over every volume's buckets at time `now`.
    pub async fn sweep(&mut self, store: &dyn ObjectStore, now: SystemTime) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        let mut buckets = Vec::new();
        for v in store.list_volumes().await? {
            match store.list_buckets(&v.name).await {
                Ok(bs) => buckets.extend(bs),
                Err(Error::NoSuchVolume(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        let mut resume = self.resume.take();
        let start_at = match &resume {
            Some(Resume::Objects { bucket, .. } | Resume::Uploads { bucket, .. }) => bucket.clone(),
            None => BucketPath::new("", ""),
        };
        let mut budget = self.budget;
        for b in buckets {
            let path = BucketPath::new(b.volume.clone(), b.name.clone());
            if (path.volume.as_str(), path.bucket.as_str()) < (start_at.volume.as_str(), start_at.bucket.as_str()) {
                continue;
            }
            let Some(doc) = b.lifecycle.as_deref().filter(|_| b.link_target.is_none()) else {
                continue;
            };
            let cfg = match super::parse(doc.as_bytes()) {
                Ok(c) => c,
                Err(e) => {
                    log::warn!("lifecycle: {path}: stored configuration unreadable, skipped: {e}");
                    report.unreadable += 1;
                    continue;
                }
            };
            report.buckets += 1;
            // Where to start in this bucket: the saved point if the pass stopped here.
            let here = match resume.take() {
                Some(r @ (Resume::Objects { .. } | Resume::Uploads { .. })) if resume_bucket(&r) == &path => Some(r),
                _ => None,
            };
            let (after, upload_marker, do_objects) = match here {
                Some(Resume::Objects { after, .. }) => (after, None, true),
                Some(Resume::Uploads { marker, .. }) => (None, marker, false),
                None => (None, None, true),
            };
            if do_objects && cfg.expires_objects() {
                if let Err(stop) = expire_objects(store, &path, &cfg, after, now, &mut budget, &mut report).await {
                    self.resume = Some(Resume::Objects {
                        bucket: path,
                        after: stop,
                    });
                    return Ok(report);
                }
            }
            if cfg.aborts_uploads() {
                if let Err(stop) = abort_uploads(store, &path, &cfg, upload_marker, now, &mut budget, &mut report).await
                {
                    self.resume = Some(Resume::Uploads {
                        bucket: path,
                        marker: stop,
                    });
                    return Ok(report);
                }
            }
        }
        report.complete = true;
        Ok(report)
    }
}

fn resume_bucket(r: &Resume) -> &BucketPath {
    match r {
        Resume::Objects { bucket, .. } | Resume::Uploads { bucket, .. } => bucket,
    }
}

/// Expire the bucket's keys after `after`. `Err(position)` when the budget ran out first (the
/// last key examined; `None`: none yet).
async fn expire_objects(
    store: &dyn ObjectStore,
    bucket: &BucketPath,
    cfg: &Configuration,
    mut after: Option<String>,
    now: SystemTime,
    budget: &mut u64,
    report: &mut SweepReport,
) -> Result<(), Option<String>> {
    let need_tags = cfg.needs_tags();
    loop {
        if *budget == 0 {
            return Err(after);
        }
        let req = ListRequest {
            prefix: String::new(),
            delimiter: None,
            start_after: after.clone(),
            max_keys: PAGE.min(*budget as usize),
        };
        let page = match store.list_objects(bucket, req).await {
            Ok(p) => p,
            Err(e) => {
                log::warn!("lifecycle: {bucket}: listing failed: {e}");
                report.errors += 1;
                return Ok(());
            }
        };
        for o in &page.objects {
            *budget = budget.saturating_sub(1);
            report.examined += 1;
            let mut tags = o.attrs.tags.clone();
            if need_tags && tags.is_empty() {
                *budget = budget.saturating_sub(1);
                report.examined += 1;
                match store.head_object(bucket, &o.key).await {
                    Ok(i) if i.etag == o.etag => tags = i.attrs.tags,
                    Ok(_) | Err(Error::NoSuchKey(_)) => continue,
                    Err(e) => {
                        log::warn!("lifecycle: {bucket}/{}: head failed: {e}", o.key);
                        report.errors += 1;
                        continue;
                    }
                }
            }
            if let Some(rule) = cfg.expired(&o.key, o.size, &tags, o.last_modified, now) {
                match store.delete_object(bucket, &o.key, Some(&o.etag)).await {
                    Ok(()) => {
                        log::info!("lifecycle: {bucket}/{}: expired by rule {:?}, deleted", o.key, rule.id);
                        report.expired += 1;
                    }
                    Err(Error::PreconditionFailed) => {}
                    Err(e) => {
                        log::warn!("lifecycle: {bucket}/{}: delete failed: {e}", o.key);
                        report.errors += 1;
                    }
                }
            }
        }
        let next = page
            .next_start_after
            .clone()
            .or(page.objects.last().map(|o| o.key.clone()));
        if !page.is_truncated || next.is_none() {
            return Ok(());
        }
        after = next;
    }
}

/// Abort the bucket's stale uploads after `marker`. `Err(position)` when the budget ran out
/// first.
async fn abort_uploads(
    store: &dyn ObjectStore,
    bucket: &BucketPath,
    cfg: &Configuration,
    mut marker: Option<(String, String)>,
    now: SystemTime,
    budget: &mut u64,
    report: &mut SweepReport,
) -> Result<(), Option<(String, String)>> {
    loop {
        if *budget == 0 {
            return Err(marker);
        }
        let page = match store
            .list_uploads(
                bucket,
                UploadsRequest {
                    prefix: "",
                    key_marker: marker.as_ref().map(|m| m.0.as_str()),
                    upload_id_marker: marker.as_ref().map(|m| m.1.as_str()),
                    max_uploads: PAGE.min(*budget as usize),
                },
            )
            .await
        {
            Ok(p) => p,
            Err(e) => {
                log::warn!("lifecycle: {bucket}: listing uploads failed: {e}");
                report.errors += 1;
                return Ok(());
            }
        };
        for u in &page.uploads {
            *budget = budget.saturating_sub(1);
            report.examined += 1;
            if let Some(rule) = cfg.upload_to_abort(&u.key, u.initiated, now) {
                match store.abort_multipart(bucket, &u.key, &u.upload_id).await {
                    Ok(()) => {
                        log::info!(
                            "lifecycle: {bucket}/{}: upload {} aborted by rule {:?}",
                            u.key,
                            u.upload_id,
                            rule.id
                        );
                        report.aborted += 1;
                    }
                    Err(Error::NoSuchUpload(_)) => {}
                    Err(e) => {
                        log::warn!("lifecycle: {bucket}/{}: abort of {} failed: {e}", u.key, u.upload_id);
                        report.errors += 1;
                    }
                }
            }
        }
        let next = page.uploads.last().map(|u| (u.key.clone(), u.upload_id.clone()));
        if !page.is_truncated || next.is_none() {
            return Ok(());
        }
        marker = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::prelude::*;
    use crate::store::{body_from_bytes, BucketUpdate, PutOptions};
    use crate::MemStore;
    use std::time::Duration;

    async fn put(s: &MemStore, b: &BucketPath, k: &str) {
        s.put_object(b, k, body_from_bytes(k.as_bytes().to_vec()), PutOptions::default())
            .await
            .unwrap();
    }

    async fn keys(s: &MemStore, b: &BucketPath) -> Vec<String> {
        let req = ListRequest {
            max_keys: 1000,
            ..Default::default()
        };
        s.list_objects(b, req)
            .await
            .unwrap()
            .objects
            .into_iter()
            .map(|o| o.key)
            .collect()
    }

    #[tokio::test]
    async fn expires_by_days_with_a_bounded_budget() {
        let s = MemStore::new("s3v");
        s.create_volume("vol", "o").await.unwrap();
        let b = BucketPath::new("vol", "bkt");
        s.create_bucket(&b, "o").await.unwrap();
        let plain = BucketPath::new("vol", "other");
        s.create_bucket(&plain, "o").await.unwrap();
        for k in ["logs/1", "logs/2", "logs/3", "keep/1"] {
            put(&s, &b, k).await;
        }
        put(&s, &plain, "logs/x").await;
        let up = s.create_multipart(&b, "logs/big", PutOptions::default()).await.unwrap();
        let doc = "<LifecycleConfiguration><Rule><ID>r</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status>\
                   <Expiration><Days>1</Days></Expiration><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>\
                   </AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>";
        s.update_bucket(&b, BucketUpdate::Lifecycle(Some(doc.into())))
            .await
            .unwrap();

        let mut sw = Sweeper::new(2);
        // Today nothing has expired.
        let r = sw.sweep(&s, SystemTime::now()).await.unwrap();
        assert_eq!(r.expired, 0);
        let mut sw = Sweeper::new(2);
        let later = SystemTime::now() + Duration::from_secs(3 * 86_400);
        let mut expired = 0;
        let mut aborted = 0;
        for _ in 0..10 {
            let r = sw.sweep(&s, later).await.unwrap();
            assert!(r.examined <= 2, "{r:?}");
            expired += r.expired;
            aborted += r.aborted;
            if r.complete && expired == 3 {
                break;
            }
        }
        assert_eq!((expired, aborted), (3, 1));
        assert_eq!(keys(&s, &b).await, vec!["keep/1".to_string()]);
        assert_eq!(keys(&s, &plain).await, vec!["logs/x".to_string()]);
        assert!(s.list_parts(&b, "logs/big", &up, 0, 10).await.is_err());
    }
}
