//! Extended attributes: `user.*` xattrs are the object's `x-amz-meta-*`.

use super::*;

impl Fs {
    /// Attributes of the object behind `ino` (staged ones for a file being written).
    pub(super) async fn object_attrs(&self, ino: u64) -> FsResult<Option<(ObjectAttrs, Option<ObjectInfo>)>> {
        let (kind, key, staged, info, fresh) = {
            let t = self.table();
            let i = t.get(ino).ok_or(FsError::NotFound)?;
            let fresh = !i.stale && i.refreshed.elapsed() < self.cfg.stat_ttl;
            (i.kind, i.key.clone(), i.staged.clone(), i.info.clone(), fresh)
        };
        if let Some(st) = staged {
            let st = st.lock().await;
            return Ok(Some((st.attrs.clone(), st.base().cloned())));
        }
        if kind == Kind::Dir && key.is_empty() {
            return Ok(None);
        }
        let info = match info {
            Some(i) if fresh => Some(i),
            _ => self.head(&key).await?,
        };
        Ok(info.map(|i| (i.attrs.clone(), Some(i))))
    }

    /// getxattr: `user.*` from user metadata, `s3.etag` and `s3.storage-class` read-only.
    pub async fn getxattr(&self, ino: u64, name: &str) -> FsResult<Vec<u8>> {
        if !name.starts_with("user.") && name != "s3.etag" && name != "s3.storage-class" {
            return Err(FsError::NoData);
        }
        let Some((attrs, info)) = self.object_attrs(ino).await? else {
            return Err(FsError::NoData);
        };
        match name {
            "s3.etag" => info
                .map(|i| format!("\"{}\"", i.etag).into_bytes())
                .ok_or(FsError::NoData),
            "s3.storage-class" => Ok(attrs.storage_class.unwrap_or_else(|| "STANDARD".into()).into_bytes()),
            _ => {
                let meta = user_meta_name(name)?;
                attrs
                    .user
                    .get(&meta)
                    .map(|v| posix::decode_xattr(v))
                    .ok_or(FsError::NoData)
            }
        }
    }

    /// listxattr: NUL-separated names.
    pub async fn listxattr(&self, ino: u64) -> FsResult<Vec<u8>> {
        let Some((attrs, info)) = self.object_attrs(ino).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        if info.is_some() {
            out.extend_from_slice(b"s3.etag\0s3.storage-class\0");
        }
        for k in attrs.user.keys() {
            if !posix::RESERVED.contains(&k.as_str()) {
                out.extend_from_slice(b"user.");
                out.extend_from_slice(k.as_bytes());
                out.push(0);
            }
        }
        Ok(out)
    }

    /// setxattr with XATTR_CREATE (1) / XATTR_REPLACE (2) honoured.
    pub async fn setxattr(&self, ino: u64, name: &str, value: &[u8], flags: i32) -> FsResult<()> {
        self.writable()?;
        if name.starts_with("s3.") {
            return Err(FsError::Perm("s3.* attributes are read-only"));
        }
        let meta = user_meta_name(name)?;
        let encoded = posix::encode_xattr(value);
        self.apply_attrs(ino, move |a| {
            let exists = a.user.contains_key(&meta);
            if flags & libc::XATTR_CREATE != 0 && exists {
                return Err(FsError::Exists);
            }
            if flags & libc::XATTR_REPLACE != 0 && !exists {
                return Err(FsError::NoData);
            }
            a.user.insert(meta, encoded);
            Ok(())
        })
        .await
    }

    pub async fn removexattr(&self, ino: u64, name: &str) -> FsResult<()> {
        self.writable()?;
        if name.starts_with("s3.") {
            return Err(FsError::Perm("s3.* attributes are read-only"));
        }
        let meta = user_meta_name(name).map_err(|_| FsError::NoData)?;
        self.apply_attrs(ino, move |a| a.user.remove(&meta).map(|_| ()).ok_or(FsError::NoData))
            .await
    }
}

/// `user.NAME` → metadata name (lower case: S3 metadata names are case-insensitive).
fn user_meta_name(name: &str) -> FsResult<String> {
    let Some(rest) = name.strip_prefix("user.") else {
        return Err(FsError::NotSupported("only user.* extended attributes are stored"));
    };
    let meta = rest.to_ascii_lowercase();
    if meta.is_empty() || posix::RESERVED.contains(&meta.as_str()) {
        return Err(FsError::Perm("reserved attribute name"));
    }
    if !meta.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(FsError::Invalid("attribute names must be printable ASCII".into()));
    }
    Ok(meta)
}
