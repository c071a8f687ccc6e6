//! DeleteObject. S3 answers 204 for a missing key too (that is success); `if_match` is checked
//! with a HEAD and also sent as `If-Match` so servers that support conditional deletes enforce it
//! atomically (others leave a small window between the check and the delete).

use super::client::Req;
use super::wire::unquote;
use super::RemoteStore;
use crate::error::{Error, Result};
use crate::namespace::BucketPath;
use http::Method;

impl RemoteStore {
    pub(super) async fn delete_object_impl(
        &self,
        bucket: &BucketPath,
        key: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        let b = self.bucket_name(bucket)?;
        let mut req = Req::new(Method::DELETE, Some(b), Some(key));
        if let Some(etag) = if_match {
            let etag = unquote(etag);
            match self.head_object_impl(bucket, key).await {
                Ok(info) if etag == "*" || info.etag == etag => {}
                Ok(_) | Err(Error::NoSuchKey(_)) => return Err(Error::PreconditionFailed),
                Err(e) => return Err(e),
            }
            req = req.header(http::header::IF_MATCH, format!("\"{etag}\""));
        }
        match self.client.send(req, &self.ctx(b, Some(key))).await {
            Ok(_) | Err(Error::NoSuchKey(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
