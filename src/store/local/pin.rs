//! Version pins: a reader pins a version so `read_version` keeps working after its record is
//! gone; data-file removals are deferred to the drop of the last pin.

use super::*;

/// What a pinned version's bytes are, kept so `read_version` finds it after its record is gone.
pub(super) struct PinnedVersion {
    /// How many [`LocalPin`]s hold it.
    count: usize,
    /// The bytes of an inline object (its `inline` entry goes with its record).
    inline: Option<bytes::Bytes>,
    /// The data files of a file-backed object (their removal is deferred while pinned).
    segments: Vec<Segment>,
}

/// The guard inside a [`VersionPin`] of the embedded store. Dropping the last pin of a version
/// forgets it and removes the data files an overwrite or delete left to it.
pub(super) struct LocalPin {
    pinned: Arc<Mutex<HashMap<u64, PinnedVersion>>>,
    files: Arc<Files>,
    version: u64,
    ids: Vec<u64>,
}

impl Drop for LocalPin {
    fn drop(&mut self) {
        {
            let mut m = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(p) = m.get_mut(&self.version) {
                p.count -= 1;
                if p.count == 0 {
                    m.remove(&self.version);
                }
            }
        }
        let gone = self.files.unpin(&self.ids);
        if gone.is_empty() {
            return;
        }
        // Unlinking large files blocks: off the executor when there is one.
        let files = self.files.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(h) => drop(h.spawn_blocking(move || files.remove_now(gone))),
            Err(_) => files.remove_now(gone),
        }
    }
}

impl Inner {
    /// Pin `version` (found at `key` of `bucket`, or already pinned): its bytes stay readable by
    /// [`Inner::pinned_source`] until the returned guard drops.
    pub(super) fn pin_version(&self, bucket: &BucketPath, key: &str, version: u64) -> Result<LocalPin> {
        let held = self
            .pinned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&version)
            .map(|p| (p.inline.clone(), p.segments.clone()));
        let (inline, segments) = match held {
            Some(h) => h,
            None => match self.open_object(bucket, key, Some(version), &|_| Ok(0..0))? {
                (_, Source::Inline(b), _) => (Some(b), Vec::new()),
                (_, Source::Files(h), _) => (None, h.iter().map(|s| s.seg).collect()),
            },
        };
        let ids: Vec<u64> = segments.iter().map(|s| s.file).collect();
        if !self.files.pin(&ids) {
            return Err(Error::ObjectChanged(key.to_string()));
        }
        self.pinned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(version)
            .or_insert_with(|| PinnedVersion {
                count: 0,
                inline,
                segments,
            })
            .count += 1;
        Ok(LocalPin {
            pinned: self.pinned.clone(),
            files: self.files.clone(),
            version,
            ids,
        })
    }

    /// The bytes of a pinned version, if it is pinned.
    pub(super) fn pinned_source(&self, version: u64) -> Option<Source> {
        let m = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
        let p = m.get(&version)?;
        Some(match &p.inline {
            Some(b) => Source::Inline(b.clone()),
            None => Source::Files(p.segments.iter().map(|s| SegHandle::new(*s, None)).collect()),
        })
    }
}
