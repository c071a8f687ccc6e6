//! The [`Admin`] trait: every `ozfs sh` / `ozfs s3` verb, implemented twice — directly over the
//! store ([`ozfs_gateway::admin::LocalAdmin`], when this process can open the data directory)
//! and over the admin HTTP API of a running `ozfs serve` ([`super::remote::RemoteAdmin`]). The
//! server runs the same `LocalAdmin` code for a remote CLI, so both modes answer identically;
//! the commands in [`super::sh`] and [`super::s3`] see only this trait.

use async_trait::async_trait;
use ozfs::{BucketInfo, BucketPath, BucketUpdate, ByteStream, ObjectInfo, VolumeInfo};
use ozfs_gateway::admin::{AdminResult, KeyPage, LocalAdmin};

#[async_trait]
pub trait Admin: Send + Sync {
    async fn create_volume(&self, name: &str, owner: &str) -> AdminResult<VolumeInfo>;
    async fn delete_volume(&self, name: &str) -> AdminResult<()>;
    async fn volume_info(&self, name: &str) -> AdminResult<VolumeInfo>;
    async fn list_volumes(&self) -> AdminResult<Vec<VolumeInfo>>;
    async fn create_bucket(&self, bucket: &BucketPath, owner: &str) -> AdminResult<BucketInfo>;
    async fn create_link(&self, link: &BucketPath, target: &BucketPath, owner: &str) -> AdminResult<BucketInfo>;
    async fn delete_bucket(&self, bucket: &BucketPath) -> AdminResult<()>;
    async fn delete_bucket_aborting_uploads(&self, bucket: &BucketPath) -> AdminResult<()>;
    async fn bucket_info(&self, bucket: &BucketPath) -> AdminResult<BucketInfo>;
    /// Change the bucket's ACL or record its layout; returns the bucket as it is afterwards.
    async fn update_bucket(&self, bucket: &BucketPath, update: BucketUpdate) -> AdminResult<BucketInfo>;
    async fn list_buckets(&self, volume: &str) -> AdminResult<Vec<BucketInfo>>;
    async fn list_keys(
        &self,
        bucket: &BucketPath,
        prefix: &str,
        start: Option<&str>,
        max: usize,
    ) -> AdminResult<KeyPage>;
    async fn put_key(
        &self,
        bucket: &BucketPath,
        key: &str,
        body: ByteStream,
        len: Option<u64>,
        owner: Option<&str>,
    ) -> AdminResult<ObjectInfo>;
    async fn get_key(&self, bucket: &BucketPath, key: &str) -> AdminResult<ByteStream>;
    async fn key_info(&self, bucket: &BucketPath, key: &str) -> AdminResult<ObjectInfo>;
    async fn delete_key(&self, bucket: &BucketPath, key: &str) -> AdminResult<()>;
    async fn rename_key(&self, bucket: &BucketPath, from: &str, to: &str) -> AdminResult<()>;
    async fn get_secret(&self, user: &str) -> AdminResult<String>;
    async fn revoke_secret(&self, user: &str) -> AdminResult<()>;
    async fn set_secret(&self, user: &str, secret: &str) -> AdminResult<()>;
}

#[async_trait]
impl Admin for LocalAdmin {
    async fn create_volume(&self, name: &str, owner: &str) -> AdminResult<VolumeInfo> {
        LocalAdmin::create_volume(self, name, owner).await
    }
    async fn delete_volume(&self, name: &str) -> AdminResult<()> {
        LocalAdmin::delete_volume(self, name).await
    }
    async fn volume_info(&self, name: &str) -> AdminResult<VolumeInfo> {
        LocalAdmin::volume_info(self, name).await
    }
    async fn list_volumes(&self) -> AdminResult<Vec<VolumeInfo>> {
        LocalAdmin::list_volumes(self).await
    }
    async fn create_bucket(&self, bucket: &BucketPath, owner: &str) -> AdminResult<BucketInfo> {
        LocalAdmin::create_bucket(self, bucket, owner).await
    }
    async fn create_link(&self, link: &BucketPath, target: &BucketPath, owner: &str) -> AdminResult<BucketInfo> {
        LocalAdmin::create_link(self, link, target, owner).await
    }
    async fn delete_bucket(&self, bucket: &BucketPath) -> AdminResult<()> {
        LocalAdmin::delete_bucket(self, bucket).await
    }
    async fn delete_bucket_aborting_uploads(&self, bucket: &BucketPath) -> AdminResult<()> {
        LocalAdmin::delete_bucket_aborting_uploads(self, bucket).await
    }
    async fn bucket_info(&self, bucket: &BucketPath) -> AdminResult<BucketInfo> {
        LocalAdmin::bucket_info(self, bucket).await
    }
    async fn update_bucket(&self, bucket: &BucketPath, update: BucketUpdate) -> AdminResult<BucketInfo> {
        LocalAdmin::update_bucket(self, bucket, update).await
    }
    async fn list_buckets(&self, volume: &str) -> AdminResult<Vec<BucketInfo>> {
        LocalAdmin::list_buckets(self, volume).await
    }
    async fn list_keys(
        &self,
        bucket: &BucketPath,
        prefix: &str,
        start: Option<&str>,
        max: usize,
    ) -> AdminResult<KeyPage> {
        LocalAdmin::list_keys(self, bucket, prefix, start, max).await
    }
    async fn put_key(
        &self,
        bucket: &BucketPath,
        key: &str,
        body: ByteStream,
        len: Option<u64>,
        owner: Option<&str>,
    ) -> AdminResult<ObjectInfo> {
        LocalAdmin::put_key(self, bucket, key, body, len, owner).await
    }
    async fn get_key(&self, bucket: &BucketPath, key: &str) -> AdminResult<ByteStream> {
        Ok(LocalAdmin::get_key(self, bucket, key).await?.1)
    }
    async fn key_info(&self, bucket: &BucketPath, key: &str) -> AdminResult<ObjectInfo> {
        LocalAdmin::key_info(self, bucket, key).await
    }
    async fn delete_key(&self, bucket: &BucketPath, key: &str) -> AdminResult<()> {
        LocalAdmin::delete_key(self, bucket, key).await
    }
    async fn rename_key(&self, bucket: &BucketPath, from: &str, to: &str) -> AdminResult<()> {
        LocalAdmin::rename_key(self, bucket, from, to).await
    }
    async fn get_secret(&self, user: &str) -> AdminResult<String> {
        LocalAdmin::get_secret(self, user).await
    }
    async fn revoke_secret(&self, user: &str) -> AdminResult<()> {
        LocalAdmin::revoke_secret(self, user).await
    }
    async fn set_secret(&self, user: &str, secret: &str) -> AdminResult<()> {
        LocalAdmin::set_secret(self, user, secret).await
    }
}
