//! ListObjectsV2 (falling back to V1 for good when the remote rejects V2).
//!
//! The contract's resumption rule (a `start_after` that is a common prefix of this listing skips
//! every key under it) is not S3's: S3 would return that common prefix again. So such a
//! `start_after` is sent as the prefix followed by U+10FFFF, which sorts after every key that
//! starts with it, and anything not strictly after the caller's `start_after` is dropped.
//! `next_start_after` is the last entry (key or common prefix, in byte order) of the page.
//! S3 listings carry no user metadata: `attrs` holds only the storage class. With
//! `RemoteConfig::list_metadata` the request asks for ozfs's extension (`ozfs-metadata=true`,
//! see `gateway/src/handlers/list.rs`); a server that answers it (`<OzfsMetadata>true`) gives
//! every object's user metadata and every directory marker, and the page says `user_meta`.

use super::client::Req;
use super::error_xml::parse_answer;
use super::wire::{unquote, version_of};
use super::RemoteStore;
use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use crate::store::{ListPage, ListRequest, ObjectAttrs, ObjectInfo};
use crate::time::parse_iso8601;
use http::Method;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::UNIX_EPOCH;

const XML_LIMIT: usize = 32 * 1024 * 1024;

/// The `start-after` to send for the caller's `start_after`.
fn remote_start_after(req: &ListRequest) -> Option<String> {
    let sa = req.start_after.as_ref()?;
    match &req.delimiter {
        Some(d) if !d.is_empty() && sa.starts_with(&req.prefix) && sa.ends_with(d.as_str()) => {
            Some(format!("{sa}\u{10FFFF}"))
        }
        _ => Some(sa.clone()),
    }
}

impl RemoteStore {
    pub(super) async fn list_objects_impl(&self, bucket: &BucketPath, req: ListRequest) -> Result<ListPage> {
        let b = self.bucket_name(bucket)?;
        if req.max_keys == 0 {
            // S3 answers nothing for max-keys=0; check the bucket so errors still show.
            self.head_bucket(bucket).await?;
            return Ok(ListPage::default());
        }
        let ctx = self.ctx(b, None);
        // A refusal (400/501) turns off first the extension, then V2, for good: at most three
        // requests, each with one option fewer.
        let body = loop {
            let v1 = self.list_v1.load(Ordering::Relaxed);
            let refused = match self
                .client
                .send_read(self.list_request(b, &req, v1), &ctx, XML_LIMIT)
                .await
            {
                Ok((_, body)) => break body,
                Err(e @ (Error::Backend { status: 400 | 501, .. } | Error::NotSupported(_))) => e,
                Err(e) => return Err(e),
            };
            if self.with_list_meta() {
                log::info!("remote refused a listing with ozfs-metadata ({refused}); listing without it");
                self.list_meta_off.store(true, Ordering::Relaxed);
            } else if !v1 {
                log::info!("remote rejected ListObjectsV2 ({refused}); using ListObjects (V1)");
                self.list_v1.store(true, Ordering::Relaxed);
            } else {
                return Err(refused);
            }
        };
        self.parse_list(b, &req, &body)
    }

    /// Is the listing extension asked for (configured, and not refused by this server)?
    fn with_list_meta(&self) -> bool {
        self.config().list_metadata && !self.list_meta_off.load(Ordering::Relaxed)
    }

    /// The page of a listing answer.
    fn parse_list(&self, b: &str, req: &ListRequest, body: &[u8]) -> Result<ListPage> {
        let ctx = self.ctx(b, None);
        let root = parse_answer(body, &ctx)?;
        let user_meta = self.with_list_meta() && root.child_text("OzfsMetadata") == Some("true");
        let mut objects: Vec<ObjectInfo> = root
            .children_named("Contents")
            .map(|c| {
                let key = c.child_text("Key").unwrap_or_default().to_string();
                let size = c.child_text("Size").and_then(|v| v.trim().parse().ok()).unwrap_or(0);
                let etag = c.child_text("ETag").map(unquote).unwrap_or_default();
                let last_modified = c
                    .child_text("LastModified")
                    .and_then(parse_iso8601)
                    .unwrap_or(UNIX_EPOCH);
                ObjectInfo {
                    version: version_of(b, &key, &etag, size, last_modified),
                    key,
                    size,
                    etag,
                    last_modified,
                    owner: c
                        .child("Owner")
                        .and_then(|o| o.child_text("DisplayName").or(o.child_text("ID")))
                        .unwrap_or_default()
                        .to_string(),
                    attrs: ObjectAttrs {
                        storage_class: c.child_text("StorageClass").map(str::to_string),
                        user: if user_meta { user_metadata(c) } else { BTreeMap::new() },
                        ..ObjectAttrs::default()
                    },
                    parts: Vec::new(),
                    part_numbers: Vec::new(),
                }
            })
            .collect();
        let mut prefixes: Vec<String> = root
            .children_named("CommonPrefixes")
            .filter_map(|p| p.child_text("Prefix").map(str::to_string))
            .collect();
        let mut markers: Vec<ObjectInfo> = if user_meta {
            root.children_named("CommonPrefixes")
                .filter_map(|p| {
                    let key = p.child_text("Prefix")?.to_string();
                    let m = p.child("DirMarker")?;
                    let size = m.child_text("Size").and_then(|v| v.trim().parse().ok()).unwrap_or(0);
                    let etag = m.child_text("ETag").map(unquote).unwrap_or_default();
                    let last_modified = m
                        .child_text("LastModified")
                        .and_then(parse_iso8601)
                        .unwrap_or(UNIX_EPOCH);
                    Some(ObjectInfo {
                        version: version_of(b, &key, &etag, size, last_modified),
                        key,
                        size,
                        etag,
                        last_modified,
                        owner: String::new(),
                        attrs: ObjectAttrs {
                            user: user_metadata(m),
                            ..ObjectAttrs::default()
                        },
                        parts: Vec::new(),
                        part_numbers: Vec::new(),
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut is_truncated = root.child_text("IsTruncated") == Some("true");
        let raw_last = objects
            .last()
            .map(|o| o.key.clone())
            .into_iter()
            .chain(prefixes.last().cloned())
            .max();
        if let Some(sa) = &req.start_after {
            objects.retain(|o| o.key.as_str() > sa.as_str());
            prefixes.retain(|p| p.as_str() > sa.as_str());
            markers.retain(|p| p.key.as_str() > sa.as_str());
        }
        // Some servers put more than max-keys entries in a page (counting keys and common
        // prefixes apart): keep the first max_keys of the merged order.
        if objects.len() + prefixes.len() > req.max_keys {
            let mut entries: Vec<&str> = objects
                .iter()
                .map(|o| o.key.as_str())
                .chain(prefixes.iter().map(String::as_str))
                .collect();
            entries.sort_unstable();
            let cut = entries[req.max_keys - 1].to_string();
            objects.retain(|o| o.key <= cut);
            prefixes.retain(|p| *p <= cut);
            markers.retain(|p| p.key <= cut);
            is_truncated = true;
        }
        let last = objects
            .last()
            .map(|o| o.key.clone())
            .into_iter()
            .chain(prefixes.last().cloned())
            .max()
            .or(raw_last);
        Ok(ListPage {
            objects,
            common_prefixes: prefixes,
            is_truncated,
            next_start_after: if is_truncated { last } else { None },
            markers,
            user_meta,
        })
    }

    fn list_request<'a>(&self, b: &'a str, req: &ListRequest, v1: bool) -> Req<'a> {
        let mut r = Req::new(Method::GET, Some(b), None).query("max-keys", req.max_keys.min(1000).to_string());
        if !v1 {
            r = r.query("list-type", "2").query("fetch-owner", "true");
        }
        if !req.prefix.is_empty() {
            r = r.query("prefix", req.prefix.clone());
        }
        if let Some(d) = &req.delimiter {
            r = r.query("delimiter", d.clone());
        }
        if let Some(sa) = remote_start_after(req) {
            r = r.query(if v1 { "marker" } else { "start-after" }, sa);
        }
        if self.with_list_meta() {
            r = r.query("ozfs-metadata", "true");
        }
        r
    }
}

/// The extension's `<UserMetadata><Entry><Name>…</Name><Value>…</Value></Entry>…` under `e`
/// (names lower-case, as a HEAD's `x-amz-meta-*` are read).
fn user_metadata(e: &crate::xml::Element) -> BTreeMap<String, String> {
    e.child("UserMetadata")
        .map(|u| {
            u.children_named("Entry")
                .filter_map(|x| {
                    let name = x.child_text("Name")?.to_ascii_lowercase();
                    Some((name, x.child_text("Value").unwrap_or_default().to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_start_after_skips_its_keys() {
        let req = ListRequest {
            prefix: "a/".into(),
            delimiter: Some("/".into()),
            start_after: Some("a/dir/".into()),
            max_keys: 10,
        };
        let sa = remote_start_after(&req).unwrap();
        assert!(sa.as_str() > "a/dir/zzzz/zz");
        assert!(sa.as_str() < "a/dis");
        let plain = ListRequest { delimiter: None, ..req };
        assert_eq!(remote_start_after(&plain).as_deref(), Some("a/dir/"));
    }
}
