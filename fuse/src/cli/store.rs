//! Opening the embedded store for a CLI command, and recognising "another process holds it".

use ozfs::config::Settings;
use ozfs::{LocalStore, ObjectStore, SecretStore};
use ozfs_gateway::admin::LocalAdmin;
use std::sync::Arc;

/// Open the embedded store of `settings.data_dir` (created if missing) for one command.
pub async fn open_local(settings: &Settings) -> ozfs::Result<LocalAdmin> {
    let dir = settings.data_dir.clone();
    let volume = settings.s3_volume.clone();
    // Opening scans the data directory (recovery): keep it off the async workers.
    let store = tokio::task::spawn_blocking(move || LocalStore::open(&dir, &volume))
        .await
        .map_err(|e| ozfs::Error::storage_from("opening the store failed", e))??;
    let store = Arc::new(store);
    let objects: Arc<dyn ObjectStore> = store.clone();
    let secrets: Arc<dyn SecretStore> = store;
    Ok(LocalAdmin::new(objects, secrets))
}

/// Does this error from [`LocalStore::open`] say another process holds the data directory?
pub fn is_held_elsewhere(e: &ozfs::Error) -> bool {
    matches!(e, ozfs::Error::Storage { message: m, .. } if m.contains("another ozfs process holds the data directory"))
}
