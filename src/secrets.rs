//! S3 secrets, as `ozone s3 getsecret` manages them: one access key per user, a secret shown
//! once, revocable. The gateway looks secrets up through [`SecretStore`].

use crate::error::Result;
use async_trait::async_trait;

/// Where S3 secrets live (the embedded store implements it).
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// The secret of `access_key`, if one was issued and not revoked.
    async fn lookup_secret(&self, access_key: &str) -> Result<Option<String>>;
    /// Issue a secret for `user` (the access key is the user name). Fails with
    /// [`crate::Error::SecretAlreadyExists`] if one exists: a secret is shown once.
    async fn get_secret(&self, user: &str) -> Result<String>;
    /// Revoke the secret of `user` ([`crate::Error::SecretNotFound`] if none).
    async fn revoke_secret(&self, user: &str) -> Result<()>;
    /// Set the secret of `user`, who must already have one; at least 8 characters.
    async fn set_secret(&self, user: &str, secret: &str) -> Result<()>;
}
