//! S3 secrets, as `ozone s3 getsecret` manages them: one access key per user, a secret shown
//! once, revocable. The gateway looks secrets up through [`SecretStore`]; the stores that keep
//! secrets make and check them with [`generate_secret`] and [`check_new_secret`].

use crate::error::{Error, Result};
use async_trait::async_trait;
use sha2::Digest;

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

/// A new S3 secret: 64 hex characters (a SHA-256 of 32 random bytes).
pub fn generate_secret() -> String {
    let seed: [u8; 32] = rand::random();
    hex::encode(sha2::Sha256::digest(seed))
}

/// Check a secret a user wants to set.
pub fn check_new_secret(secret: &str) -> Result<()> {
    if secret.chars().count() < 8 {
        return Err(Error::InvalidArgument(
            "a secret must be at least 8 characters long".into(),
        ));
    }
    Ok(())
}
