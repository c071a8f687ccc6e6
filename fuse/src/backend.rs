//! Opening the store a `ozfs mount` command mounts: with `--endpoint`, any S3 endpoint through
//! [`ozfs::RemoteStore`]; without it, the embedded [`ozfs::LocalStore`] in the data directory
//! (`--data`, else `$OZFS_DATA`, else the config file, else the per-user default). Either way the store is wrapped in a
//! [`ozfs::CachingStore`] so every read goes through one bounded page cache.

use crate::args::MountArgs;
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
            let aws = ozfs::store::remote::credentials::load(args.profile.as_deref());
            let mut cfg = RemoteConfig::from_aws(ep.trim_end_matches('/'), &aws).map_err(|e| e.to_string())?;
            if let Some(r) = &args.region {
                cfg.region = r.clone();
            }
            if let Some(ca) = &args.ca_bundle {
                cfg.ca_bundle = Some(ca.clone());
            }
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
