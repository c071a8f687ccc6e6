//! [`RemoteConfig`]: the settings of a [`RemoteStore`](super::RemoteStore) (endpoint,
//! credentials, addressing, timeouts, retries, multipart sizes), with the defaults and the
//! constructor from an AWS profile ([`super::credentials`], the one loader `ozfs mount
//! --endpoint` and `ozfs serve --backend` share).

use super::credentials;
use crate::error::{Error, Result};
use crate::namespace::DEFAULT_S3_VOLUME;
use std::time::Duration;

/// Settings of a [`RemoteStore`](super::RemoteStore). `Debug` leaves the secret key and session token out.
#[derive(Clone)]
pub struct RemoteConfig {
    /// `http://host:port` or `https://host:port` (an optional path prefix is kept).
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// Session token of temporary credentials, sent (and signed) as `x-amz-security-token`.
    pub session_token: Option<String>,
    /// PEM file of the CA certificates trusted for an `https://` endpoint instead of the
    /// system's (what `AWS_CA_BUNDLE` means to the aws CLI).
    pub ca_bundle: Option<std::path::PathBuf>,
    /// Virtual-host addressing (`bucket.host`); path style (`host/bucket`) when false.
    pub virtual_host: bool,
    /// Bound on connecting, on waiting for response headers and for each chunk of a response
    /// body.
    pub timeout: Duration,
    /// Retries after the first attempt (5xx, 503 SlowDown, connection errors, timeouts), for
    /// requests that are safe to repeat (see `client.rs`).
    pub max_retries: u32,
    /// First retry delay; each retry doubles it (capped at 5 s), with full jitter.
    pub retry_base: Duration,
    /// The volume whose buckets the remote's buckets are.
    pub volume: String,
    /// Bodies longer than this (or of unknown length longer than one part) use multipart.
    pub multipart_threshold: u64,
    /// Part size of multipart uploads made by `put_object`.
    pub part_size: u64,
    /// Parts uploaded in parallel by `put_object`.
    pub part_concurrency: usize,
    /// Ask listings for user metadata (`ozfs-metadata=true`, an extension `ozfs serve`
    /// answers; other servers ignore the parameter and the pages say `user_meta: false`).
    pub list_metadata: bool,
}

impl RemoteConfig {
    /// Defaults for `endpoint`: region `us-east-1`, path style, 30 s timeout, 4 retries, volume
    /// `s3v`, multipart above 16 MiB with 4 parts of 8 MiB in flight, listings without metadata.
    pub fn new(endpoint: impl Into<String>, access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        RemoteConfig {
            endpoint: endpoint.into(),
            region: "us-east-1".into(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            session_token: None,
            ca_bundle: None,
            virtual_host: false,
            timeout: Duration::from_secs(30),
            max_retries: 4,
            retry_base: Duration::from_millis(100),
            volume: DEFAULT_S3_VOLUME.into(),
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            part_concurrency: 4,
            list_metadata: false,
        }
    }
}

impl std::fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("ca_bundle", &self.ca_bundle)
            .field("virtual_host", &self.virtual_host)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("volume", &self.volume)
            .finish_non_exhaustive()
    }
}

impl RemoteConfig {
    /// Defaults for `endpoint` with the credentials and region of `aws` (see
    /// [`credentials::load`]); an error naming where it looked when no keys were found.
    pub fn from_aws(endpoint: impl Into<String>, aws: &credentials::AwsProfile) -> Result<Self> {
        let c = aws.credentials.clone().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no AWS credentials ({}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure \
                 ~/.aws/credentials (AWS_PROFILE / --profile)",
                aws.source
            ))
        })?;
        let mut cfg = RemoteConfig::new(endpoint, c.access_key, c.secret_key);
        cfg.session_token = c.session_token;
        if let Some(r) = &aws.region {
            cfg.region = r.clone();
        }
        cfg.ca_bundle = aws.ca_bundle.clone();
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_hides_secrets() {
        let mut cfg = RemoteConfig::new("http://h:1", "AKID", "the-secret-key");
        cfg.session_token = Some("the-session-token".into());
        let s = format!("{cfg:?}");
        assert!(
            s.contains("AKID") && !s.contains("the-secret-key") && !s.contains("the-session-token"),
            "{s}"
        );
    }
}
