//! Bucket and volume operations: ListBuckets, CreateBucket, DeleteBucket, HeadBucket (in
//! `head_object.rs`), bucket ACL, and the one volume the remote's buckets form.

use super::client::{Body, Req};
use super::error_xml::parse_answer;
use super::RemoteStore;
use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use crate::store::{BucketInfo, BucketLayout, BucketUpdate, Grant, VolumeInfo};
use crate::time::parse_iso8601;
use crate::xml;
use http::Method;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

const XML_LIMIT: usize = 16 * 1024 * 1024;
const CONTENT_MD5: http::HeaderName = http::HeaderName::from_static("content-md5");

/// Base64 of the body's MD5 (the `Content-MD5` value).
fn content_md5(body: &[u8]) -> String {
    use base64::Engine;
    use md5::{Digest, Md5};
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(body))
}

impl RemoteStore {
    /// ListBuckets: (owner name, buckets).
    async fn list_all_buckets(&self) -> Result<(String, Vec<BucketInfo>)> {
        let ctx = self.ctx("", None);
        let (_, body) = self
            .client
            .send_read(Req::new(Method::GET, None, None), &ctx, XML_LIMIT)
            .await?;
        let root = parse_answer(&body, &ctx)?;
        let owner = root
            .child("Owner")
            .and_then(|o| {
                o.child_text("DisplayName")
                    .filter(|s| !s.is_empty())
                    .or(o.child_text("ID"))
            })
            .unwrap_or_default()
            .to_string();
        let volume = self.config().volume.clone();
        let buckets = root
            .child("Buckets")
            .map(|bs| {
                bs.children_named("Bucket")
                    .map(|b| BucketInfo {
                        volume: volume.clone(),
                        name: b.child_text("Name").unwrap_or_default().to_string(),
                        owner: owner.clone(),
                        created: b
                            .child_text("CreationDate")
                            .and_then(parse_iso8601)
                            .unwrap_or(UNIX_EPOCH),
                        link_target: None,
                        acl: Vec::new(),
                        tags: BTreeMap::new(),
                        lifecycle: None,
                        layout: BucketLayout::default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok((owner, buckets))
    }

    pub(super) async fn volume_info_impl(&self, name: &str) -> Result<VolumeInfo> {
        if name != self.config().volume {
            return Err(Error::NoSuchVolume(name.to_string()));
        }
        let (owner, _) = self.list_all_buckets().await?;
        Ok(VolumeInfo {
            name: name.to_string(),
            owner,
            created: UNIX_EPOCH,
        })
    }

    pub(super) async fn list_buckets_impl(&self, volume: &str) -> Result<Vec<BucketInfo>> {
        if volume != self.config().volume {
            return Err(Error::NoSuchVolume(volume.to_string()));
        }
        let (_, mut buckets) = self.list_all_buckets().await?;
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(buckets)
    }

    pub(super) async fn bucket_info_impl(&self, bucket: &BucketPath) -> Result<BucketInfo> {
        let b = self.bucket_name(bucket)?;
        self.head_bucket(bucket).await?;
        let (owner, buckets) = self.list_all_buckets().await?;
        Ok(buckets.into_iter().find(|x| x.name == b).unwrap_or(BucketInfo {
            volume: bucket.volume.clone(),
            name: b.to_string(),
            owner,
            created: UNIX_EPOCH,
            link_target: None,
            acl: Vec::new(),
            tags: BTreeMap::new(),
            lifecycle: None,
            layout: BucketLayout::default(),
        }))
    }

    pub(super) async fn create_bucket_impl(&self, bucket: &BucketPath, owner: &str) -> Result<BucketInfo> {
        let b = self.bucket_name(bucket)?;
        // S3 in us-east-1 answers 200 to re-creating one's own bucket: look first. The bucket's
        // owner is the backend's (as bucket_info reports it), never assumed to be the caller:
        // otherwise anyone re-creating anyone's bucket would be told it is theirs.
        match self.head_bucket(bucket).await {
            Ok(()) => {
                let existing = self.bucket_info_impl(bucket).await?;
                return Err(Error::BucketAlreadyExists {
                    name: b.to_string(),
                    owner: existing.owner,
                });
            }
            Err(Error::NoSuchBucket(_)) => {}
            Err(e) => return Err(e),
        }
        let mut req = Req::new(Method::PUT, Some(b), None);
        let region = &self.config().region;
        if region != "us-east-1" && !region.is_empty() {
            let doc = format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                xml::escape(region)
            );
            req = req.body(Body::Bytes(doc.into()));
        }
        self.client.send(req, &self.ctx(b, None)).await?;
        Ok(BucketInfo {
            volume: bucket.volume.clone(),
            name: b.to_string(),
            owner: owner.to_string(),
            created: SystemTime::now(),
            link_target: None,
            acl: Vec::new(),
            tags: BTreeMap::new(),
            lifecycle: None,
            layout: BucketLayout::default(),
        })
    }

    pub(super) async fn delete_bucket_impl(&self, bucket: &BucketPath) -> Result<()> {
        let b = self.bucket_name(bucket)?;
        self.client
            .send(Req::new(Method::DELETE, Some(b), None), &self.ctx(b, None))
            .await
            .map(|_| ())
    }

    /// The backend's answer to `GET ?tagging` (`Some(tags)`), or `None` when the backend does
    /// not know the sub-resource: Ozone 2.2 ignores `?tagging` and `?lifecycle` on a bucket and
    /// answers a listing (and would take a `DELETE ?tagging` for DeleteBucket).
    async fn backend_tags(&self, b: &str) -> Result<Option<BTreeMap<String, String>>> {
        let ctx = self.ctx(b, None);
        match self
            .client
            .send_read(
                Req::new(Method::GET, Some(b), None).query("tagging", ""),
                &ctx,
                XML_LIMIT,
            )
            .await
        {
            Ok((_, body)) => {
                let root = parse_answer(&body, &ctx)?;
                if root.name != "Tagging" {
                    return Ok(None);
                }
                let mut tags = BTreeMap::new();
                if let Some(set) = root.child("TagSet") {
                    for t in set.children_named("Tag") {
                        tags.insert(
                            t.child_text("Key").unwrap_or_default().to_string(),
                            t.child_text("Value").unwrap_or_default().to_string(),
                        );
                    }
                }
                Ok(Some(tags))
            }
            Err(Error::Backend { code, .. }) if code == "NoSuchTagSet" => Ok(Some(BTreeMap::new())),
            Err(e) => Err(e),
        }
    }

    /// The backend's answer to `GET ?lifecycle`: `Some(Some(doc))`, `Some(None)` for none, or
    /// `None` when the backend does not know the sub-resource (see [`Self::backend_tags`]).
    async fn backend_lifecycle(&self, b: &str) -> Result<Option<Option<String>>> {
        let ctx = self.ctx(b, None);
        match self
            .client
            .send_read(
                Req::new(Method::GET, Some(b), None).query("lifecycle", ""),
                &ctx,
                XML_LIMIT,
            )
            .await
        {
            Ok((_, body)) => {
                let root = parse_answer(&body, &ctx)?;
                if root.name != "LifecycleConfiguration" {
                    return Ok(None);
                }
                Ok(Some(Some(String::from_utf8_lossy(&body).into_owned())))
            }
            Err(Error::Backend { code, .. }) if code == "NoSuchLifecycleConfiguration" => Ok(Some(None)),
            Err(e) => Err(e),
        }
    }

    /// `bucket_info` plus the tags and the lifecycle document the backend holds (none when it
    /// does not support them).
    pub(super) async fn bucket_settings_impl(&self, bucket: &BucketPath) -> Result<BucketInfo> {
        let mut info = self.bucket_info_impl(bucket).await?;
        let b = self.bucket_name(bucket)?;
        info.tags = self.backend_tags(b).await?.unwrap_or_default();
        info.lifecycle = self.backend_lifecycle(b).await?.flatten();
        Ok(info)
    }

    /// Refuse a bucket setting the backend does not support, before sending anything that an
    /// older gateway would take for another operation.
    fn unsupported(what: &str) -> Error {
        Error::NotSupported(format!(
            "the backend does not support bucket {what} (it answered ?{what} with something else)"
        ))
    }

    /// One bucket setting: the ACL, tags (PUT/DELETE `?tagging`) or lifecycle (PUT/DELETE
    /// `?lifecycle`) as the S3 API sets them. The layout is chosen by the server's own admin
    /// tools, not over S3: refused.
    pub(super) async fn update_bucket_impl(&self, bucket: &BucketPath, update: BucketUpdate) -> Result<BucketInfo> {
        let b = self.bucket_name(bucket)?;
        let ctx = self.ctx(b, None);
        match update {
            BucketUpdate::Acl(acl) => self.set_bucket_acl_impl(bucket, acl).await?,
            BucketUpdate::Tags(tags) if tags.is_empty() => {
                if self.backend_tags(b).await?.is_none() {
                    return Err(Self::unsupported("tagging"));
                }
                self.client
                    .send(Req::new(Method::DELETE, Some(b), None).query("tagging", ""), &ctx)
                    .await?;
            }
            BucketUpdate::Tags(tags) => {
                if self.backend_tags(b).await?.is_none() {
                    return Err(Self::unsupported("tagging"));
                }
                let mut doc = String::from("<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>");
                for (k, v) in &tags {
                    doc.push_str(&format!(
                        "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                        xml::escape(k),
                        xml::escape(v)
                    ));
                }
                doc.push_str("</TagSet></Tagging>");
                let req = Req::new(Method::PUT, Some(b), None)
                    .query("tagging", "")
                    .header(http::header::CONTENT_TYPE, "application/xml")
                    .header(CONTENT_MD5, content_md5(doc.as_bytes()))
                    .body(Body::Bytes(doc.into()));
                self.client.send(req, &ctx).await?;
            }
            BucketUpdate::Lifecycle(None) => {
                if self.backend_lifecycle(b).await?.is_none() {
                    return Err(Self::unsupported("lifecycle"));
                }
                self.client
                    .send(Req::new(Method::DELETE, Some(b), None).query("lifecycle", ""), &ctx)
                    .await?;
            }
            BucketUpdate::Lifecycle(Some(doc)) => {
                if self.backend_lifecycle(b).await?.is_none() {
                    return Err(Self::unsupported("lifecycle"));
                }
                // S3 requires Content-MD5 (or a flexible checksum) on these two.
                let req = Req::new(Method::PUT, Some(b), None)
                    .query("lifecycle", "")
                    .header(http::header::CONTENT_TYPE, "application/xml")
                    .header(CONTENT_MD5, content_md5(doc.as_bytes()))
                    .body(Body::Bytes(doc.into()));
                self.client.send(req, &ctx).await?;
            }
            BucketUpdate::Layout(_) => {
                return Err(Error::NotSupported(
                    "a remote bucket's layout is chosen by the server's admin tools".into(),
                ))
            }
        }
        self.bucket_info_impl(bucket).await
    }

    /// PutBucketAcl with canonical-user grants (the grantee name as the canonical ID); the owner
    /// is read from the current ACL first, as S3 requires it in the document.
    pub(super) async fn set_bucket_acl_impl(&self, bucket: &BucketPath, acl: Vec<Grant>) -> Result<()> {
        let b = self.bucket_name(bucket)?;
        let ctx = self.ctx(b, None);
        let (_, body) = self
            .client
            .send_read(Req::new(Method::GET, Some(b), None).query("acl", ""), &ctx, XML_LIMIT)
            .await?;
        let current = parse_answer(&body, &ctx)?;
        let owner_id = current
            .child("Owner")
            .and_then(|o| o.child_text("ID"))
            .unwrap_or_default()
            .to_string();
        let mut doc = format!(
            "<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>{}</ID></Owner>\
             <AccessControlList>",
            xml::escape(&owner_id)
        );
        for g in &acl {
            doc.push_str(&format!(
                "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">\
                 <ID>{}</ID></Grantee><Permission>{}</Permission></Grant>",
                xml::escape(&g.grantee),
                xml::escape(&g.permission)
            ));
        }
        doc.push_str("</AccessControlList></AccessControlPolicy>");
        let req = Req::new(Method::PUT, Some(b), None)
            .query("acl", "")
            .header(http::header::CONTENT_TYPE, "application/xml")
            .body(Body::Bytes(doc.into()));
        self.client.send(req, &ctx).await.map(|_| ())
    }
}
