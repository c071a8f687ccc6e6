//! Fixtures of the FUSE end-to-end tests: a real kernel mount of a bucket of a real store
//! (the embedded `LocalStore` behind the page cache, or `MemStore` where only the listing
//! matters) in a fresh temporary directory, unmounted when the fixture is dropped, plus helpers
//! to run shell commands on the mount and to talk to the store directly.

#![allow(dead_code, reason = "shared by several test binaries, each using only part of it")]

use ozfs::{BucketPath, CachingStore, LocalStore, MemStore, ObjectInfo, ObjectStore, PageCache};
use ozfs_fuse::{mount_store, MountHandle, MountOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

pub const BUCKET: &str = "bucket";

/// Which store is mounted.
pub enum Backend {
    /// The embedded store in a temp dir, behind a page cache (what `ozfs mount` uses).
    Local,
    /// The in-memory store.
    Mem,
}

pub struct Mounted {
    pub handle: Option<MountHandle>,
    pub store: Arc<dyn ObjectStore>,
    pub bucket: BucketPath,
    pub rt: tokio::runtime::Runtime,
    mnt: tempfile::TempDir,
    _data: Option<tempfile::TempDir>,
}

/// Options with short TTLs unless a test says otherwise.
pub fn opts() -> MountOptions {
    MountOptions {
        stat_cache_ttl: Duration::from_secs(1),
        type_cache_ttl: Duration::from_secs(1),
        ..Default::default()
    }
}

pub fn mount(backend: Backend, prefix: &str, opts: MountOptions) -> Mounted {
    let _ = env_logger::builder().is_test(true).try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (store, data): (Arc<dyn ObjectStore>, _) = match backend {
        Backend::Local => {
            let data = tempfile::tempdir().unwrap();
            let local: Arc<dyn ObjectStore> = Arc::new(LocalStore::open(data.path(), "s3v").unwrap());
            let cache = Arc::new(PageCache::new(64 << 20, 1 << 20));
            (Arc::new(CachingStore::new(local, cache)), Some(data))
        }
        Backend::Mem => (Arc::new(MemStore::new("s3v")), None),
    };
    let bucket = BucketPath::new("s3v", BUCKET);
    rt.block_on(store.create_bucket(&bucket, "tester")).unwrap();
    let mnt = tempfile::tempdir().unwrap();
    let handle = mount_store(store.clone(), bucket.clone(), prefix.to_string(), mnt.path(), opts).expect("mount");
    Mounted {
        handle: Some(handle),
        store,
        bucket,
        rt,
        mnt,
        _data: data,
    }
}

impl Mounted {
    pub fn path(&self) -> &Path {
        self.mnt.path()
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.mnt.path().join(rel)
    }

    /// Run a bash script with the mount point as working directory.
    pub fn sh(&self, script: &str) -> Output {
        Command::new("bash")
            .arg("-c")
            .arg(script)
            .current_dir(self.path())
            .output()
            .expect("bash")
    }

    /// Run a bash script and require success; returns stdout.
    pub fn sh_ok(&self, script: &str) -> String {
        let o = self.sh(script);
        assert!(
            o.status.success(),
            "script failed: {script}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn put(&self, key: &str, body: &[u8]) -> ObjectInfo {
        self.rt
            .block_on(self.store.put_object(
                &self.bucket,
                key,
                ozfs::body_from_bytes(body.to_vec()),
                Default::default(),
            ))
            .unwrap()
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.rt.block_on(async {
            match self.store.get_object(&self.bucket, key, Default::default()).await {
                Ok(g) => Some(ozfs::collect_body(g.body, 1 << 30).await.unwrap()),
                Err(ozfs::Error::NoSuchKey(_)) => None,
                Err(e) => panic!("get {key}: {e}"),
            }
        })
    }

    pub fn head(&self, key: &str) -> Option<ObjectInfo> {
        match self.rt.block_on(self.store.head_object(&self.bucket, key)) {
            Ok(i) => Some(i),
            Err(ozfs::Error::NoSuchKey(_)) => None,
            Err(e) => panic!("head {key}: {e}"),
        }
    }

    pub fn delete(&self, key: &str) {
        self.rt
            .block_on(self.store.delete_object(&self.bucket, key, None))
            .unwrap();
    }

    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let page = self
            .rt
            .block_on(self.store.list_objects(
                &self.bucket,
                ozfs::ListRequest {
                    prefix: prefix.to_string(),
                    delimiter: None,
                    start_after: None,
                    max_keys: 1000,
                },
            ))
            .unwrap();
        page.objects.into_iter().map(|o| o.key).collect()
    }

    pub fn unmount(&mut self) {
        if let Some(h) = self.handle.take() {
            h.unmount().expect("unmount");
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            if let Err(e) = h.unmount() {
                eprintln!("unmount in drop: {e}");
            }
        }
    }
}
