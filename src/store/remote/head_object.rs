//! HeadObject (and HeadBucket, which a 404 on a HEAD needs to tell NoSuchBucket from NoSuchKey).

use super::client::Req;
use super::wire::info_from_headers;
use super::RemoteStore;
use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use crate::store::ObjectInfo;
use http::{Method, StatusCode};

impl RemoteStore {
    pub(super) async fn head_object_impl(&self, bucket: &BucketPath, key: &str) -> Result<ObjectInfo> {
        let b = self.bucket_name(bucket)?;
        let resp = self.client.send_raw(Req::new(Method::HEAD, Some(b), Some(key))).await?;
        if resp.status().is_success() {
            return Ok(info_from_headers(b, key, resp.headers(), ""));
        }
        if resp.status() == StatusCode::NOT_FOUND {
            // A HEAD answer has no body: ask whether the bucket is there.
            self.head_bucket(bucket).await?;
            return Err(Error::NoSuchKey(key.to_string()));
        }
        Err(self.client.error_of(resp, &self.ctx(b, Some(key))).await)
    }

    /// HeadBucket: Ok when the bucket exists and is accessible.
    pub(super) async fn head_bucket(&self, bucket: &BucketPath) -> Result<()> {
        let b = self.bucket_name(bucket)?;
        self.client
            .send(Req::new(Method::HEAD, Some(b), None), &self.ctx(b, None))
            .await
            .map(|_| ())
    }
}
