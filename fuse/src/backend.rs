//! Opening the store a `ozfs mount` command mounts: with `--endpoint`, any S3 endpoint through
//! [`ozfs::RemoteStore`]; without it, the embedded [`ozfs::LocalStore`] in the data directory
//! (`--data`, else `$OZFS_DATA`, else the per-user default). Either way the store is wrapped in a
//! [`ozfs::CachingStore`] so every read goes through one bounded page cache.

use crate::args::{credentials, MountArgs};
use ozfs::store::remote::RemoteConfig;
use ozfs::{CachingStore, LocalStore, ObjectStore, PageCache, RemoteStore};
use std::path::PathBuf;
use std::sync::Arc;

/// The S3 volume whose buckets `ozfs mount BUCKET` names.
pub const S3_VOLUME: &str = ozfs::namespace::DEFAULT_S3_VOLUME;

/// The data directory: `--data`, else `$OZFS_DATA`, else `$XDG_DATA_HOME/ozfs`, else
/// `~/.local/share/ozfs`.
pub fn data_dir(args: &MountArgs) -> PathBuf {
    if let Some(d) = &args.data {
        return d.clone();
    }
    if let Some(d) = std::env::var_os("OZFS_DATA").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(x).join("ozfs");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/ozfs")
}

/// Open the store for `args` (see the module docs). Errors are user-facing messages.
pub fn open_store(args: &MountArgs) -> Result<Arc<dyn ObjectStore>, String> {
    let inner: Arc<dyn ObjectStore> = match &args.endpoint {
        Some(ep) => {
            let env = |k: &str| std::env::var(k).ok();
            let creds = credentials(args.profile.as_deref(), &env).ok_or_else(|| {
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure \
                 ~/.aws/credentials (--profile)"
                    .to_string()
            })?;
            if creds.session_token.is_some() {
                log::warn!("AWS session tokens are not sent by the remote store; using the key pair only");
            }
            let mut cfg = RemoteConfig::new(ep.trim_end_matches('/'), creds.access_key, creds.secret_key);
            cfg.region = args.region.clone();
            cfg.virtual_host = args.subdomain;
            cfg.timeout = args.http_timeout;
            Arc::new(RemoteStore::new(cfg).map_err(|e| format!("endpoint {ep}: {e}"))?)
        }
        None => {
            let dir = data_dir(args);
            Arc::new(LocalStore::open(&dir, S3_VOLUME).map_err(|e| format!("data directory {}: {e}", dir.display()))?)
        }
    };
    let budget = args.cache_size.unwrap_or(ozfs::cache::DEFAULT_BUDGET);
    let cache = Arc::new(PageCache::new(budget, ozfs::cache::DEFAULT_PAGE_SIZE));
    Ok(Arc::new(CachingStore::new(inner, cache)))
}
