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
    matches!(e, ozfs::Error::DataDirInUse(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_is_held_elsewhere_and_other_errors_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let _first = LocalStore::open(dir.path(), "s3v").unwrap();
        let second = LocalStore::open(dir.path(), "s3v")
            .err()
            .expect("the directory is locked");
        assert!(is_held_elsewhere(&second), "{second:?}");
        let other = ozfs::Error::storage("another ozfs process holds the data directory (only in words)");
        assert!(!is_held_elsewhere(&other));
    }
}
