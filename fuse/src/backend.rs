//! Opening the store a `ozfs mount` command mounts: with `--endpoint`, any S3 endpoint through
//! [`ozfs::RemoteStore`]; without it, the embedded [`ozfs::LocalStore`] in the data directory
//! (`--data`, else `$OZFS_DATA`, else the config file, else the per-user default). Either way the store is wrapped in a
//! [`ozfs::CachingStore`] so every read goes through one bounded page cache.

use crate::args::{credentials, MountArgs};
use ozfs::config::{Flags, Settings};
use ozfs::store::remote::RemoteConfig;
use ozfs::{CachingStore, LocalStore, ObjectStore, PageCache, RemoteStore};
use std::sync::Arc;

/// The S3 volume whose buckets `ozfs mount BUCKET` names unless `--s3-volume` says otherwise.
pub const S3_VOLUME: &str = ozfs::namespace::DEFAULT_S3_VOLUME;

/// The shared settings (data directory, S3 volume, cache size) for `args`, resolved the way
/// every `ozfs` command resolves them: flag, else environment (`OZFS_DATA`, ...), else the
/// config file, else the default (`ozfs::config`).
pub fn settings(args: &MountArgs) -> Result<Settings, String> {
    let flags = Flags {
        config: args.config.clone(),
        data: args.data.clone(),
        s3_volume: args.s3_volume.clone(),
        cache_size: args.cache_size.clone(),
        ..Flags::default()
    };
    Settings::from_process(&flags).map_err(|e| e.to_string())
}

/// Open the store for `args` (see the module docs). Errors are user-facing messages.
pub fn open_store(args: &MountArgs, settings: &Settings) -> Result<Arc<dyn ObjectStore>, String> {
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
            cfg.volume = settings.s3_volume.clone();
            Arc::new(RemoteStore::new(cfg).map_err(|e| format!("endpoint {ep}: {e}"))?)
        }
        None => {
            let dir = &settings.data_dir;
            let store = LocalStore::open(dir, &settings.s3_volume)
                .map_err(|e| format!("data directory {}: {e}", dir.display()))?;
            Arc::new(store)
        }
    };
    let cache = Arc::new(PageCache::new(settings.cache_size, ozfs::cache::DEFAULT_PAGE_SIZE));
    Ok(Arc::new(CachingStore::new(inner, cache)))
}
