//! Opening the store a `ozfs mount` command mounts: with `--endpoint`, any S3 endpoint through
//! [`ozfs::RemoteStore`]; without it, the embedded [`ozfs::LocalStore`] in the data directory
//! (`--data`, else `$OZFS_DATA`, else the config file, else the per-user default). Either way the store is wrapped in a
//! [`ozfs::CachingStore`] so every read goes through one bounded page cache.
//!
//! The one place that assembles a store from settings: `ozfs serve` (`fuse/src/cli/serve.rs`) uses
//! [`remote_config`] and [`with_cache`] too, so a remote endpoint is configured and a store
//! cached the same way by both commands.

use crate::args::MountArgs;
use ozfs::config::{Flags, Settings};
use ozfs::store::remote::RemoteConfig;
use ozfs::{CachingStore, LocalStore, ObjectStore, PageCache, RemoteStore};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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

/// What a command line adds to the AWS profile when reaching a remote S3 endpoint; `None`
/// keeps what the profile (or [`RemoteConfig::from_aws`]) says.
#[derive(Debug, Default, Clone)]
pub struct RemoteOptions {
    /// `--profile`: the AWS profile whose credentials and settings are loaded.
    pub profile: Option<String>,
    pub region: Option<String>,
    pub ca_bundle: Option<PathBuf>,
    pub virtual_host: Option<bool>,
    pub timeout: Option<Duration>,
}

/// The configuration of a [`RemoteStore`] for `endpoint`, whose S3 buckets live in `volume`:
/// the AWS credentials of `opts.profile`, then the command line's overrides.
pub fn remote_config(endpoint: &str, volume: &str, opts: &RemoteOptions) -> ozfs::Result<RemoteConfig> {
    let aws = ozfs::store::remote::credentials::load(opts.profile.as_deref());
    let mut cfg = RemoteConfig::from_aws(endpoint.trim_end_matches('/'), &aws)?;
    if let Some(r) = &opts.region {
        cfg.region = r.clone();
    }
    if let Some(ca) = &opts.ca_bundle {
        cfg.ca_bundle = Some(ca.clone());
    }
    if let Some(v) = opts.virtual_host {
        cfg.virtual_host = v;
    }
    if let Some(t) = opts.timeout {
        cfg.timeout = t;
    }
    cfg.volume = volume.to_string();
    // Listings with user metadata when the server is ozfs (`ozfs-metadata=true`, ignored by
    // others): a mount then knows every entry's mode, owner and type with no HEAD per entry.
    cfg.list_metadata = true;
    Ok(cfg)
}

/// `inner` behind the page cache of `settings.cache_size` bytes, following the store's change
/// feed to drop replaced versions' pages early; the cache is returned too (for its metrics). Pages not read for `idle_release` are released by a background sweep on the
/// current tokio runtime (`--cache-idle-release`; zero turns it off).
/// Uploads through it are cached as the embedded store writes them (write-allocate; a remote
/// store hands no pages).
pub fn with_cache(
    inner: Arc<dyn ObjectStore>,
    settings: &Settings,
    idle_release: Duration,
) -> (Arc<dyn ObjectStore>, Arc<PageCache>) {
    let cache = Arc::new(PageCache::new(settings.cache_size, ozfs::cache::DEFAULT_PAGE_SIZE));
    cache.spawn_idle_release(idle_release);
    let store = CachingStore::new(inner, cache.clone()).with_write_fill(true);
    // Drop the pages of versions replaced by what does not go through the decorator's own key
    // calls (a completed multipart upload).
    store.watch_changes();
    (Arc::new(store), cache)
}

/// Open the store for `args` (see the module docs). Errors are user-facing messages.
pub fn open_store(args: &MountArgs, settings: &Settings) -> Result<Arc<dyn ObjectStore>, String> {
    let inner: Arc<dyn ObjectStore> = match &args.endpoint {
        Some(ep) => {
            let opts = RemoteOptions {
                profile: args.profile.clone(),
                region: args.region.clone(),
                ca_bundle: args.ca_bundle.clone(),
                virtual_host: Some(args.subdomain),
                timeout: Some(args.http_timeout),
            };
            let cfg = remote_config(ep, &settings.s3_volume, &opts).map_err(|e| e.to_string())?;
            Arc::new(RemoteStore::new(cfg).map_err(|e| format!("endpoint {ep}: {e}"))?)
        }
        None => {
            let dir = &settings.data_dir;
            let store = LocalStore::open(dir, &settings.s3_volume)
                .map_err(|e| format!("data directory {}: {e}", dir.display()))?;
            Arc::new(store)
        }
    };
    Ok(with_cache(inner, settings, args.cache_idle_release).0)
}
