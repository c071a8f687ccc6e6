//! ozfs and s3fs on the same bucket: one process serves the S3 endpoint (the gateway) and the
//! ozfs mount over one store, exactly what `ozfs serve --mount` does; s3fs 1.90 mounts the same
//! bucket through that endpoint. Checks that each reads back the modes, owners, times, symlinks
//! and directories the other wrote, and that a change made through the endpoint shows on the
//! ozfs mount at once (TTLs are one minute, so only the change feed can do that).
//! s3fs is installed up front by scripts/test-deps-fuse.sh; without it the tests fail and say so.

mod support;

use ozfs::{BucketPath, CachingStore, LocalStore, ObjectStore, PageCache, SecretStore};
use ozfs_fuse::{mount_store, MountHandle, MountOptions};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{is_mounted, wait_until};

struct Both {
    ozfs: Option<MountHandle>,
    s3fs: Option<Child>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    rt: tokio::runtime::Runtime,
    mnt_ozfs: tempfile::TempDir,
    mnt_s3fs: tempfile::TempDir,
    _data: tempfile::TempDir,
    _passwd: tempfile::NamedTempFile,
}

fn start() -> Both {
    let version = Command::new("s3fs").arg("--version").output();
    assert!(
        matches!(&version, Ok(o) if o.status.success()),
        "s3fs cannot be run ({version:?}): install it with scripts/test-deps-fuse.sh"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let local = Arc::new(LocalStore::open(data.path(), "s3v").unwrap());
    let secrets: Arc<dyn SecretStore> = local.clone();
    let store: Arc<dyn ObjectStore> = Arc::new(CachingStore::new(local, Arc::new(PageCache::new(64 << 20, 1 << 20))));
    let bucket = BucketPath::new("s3v", "shared");
    rt.block_on(store.create_bucket(&bucket, "tester")).unwrap();
    let cfg = ozfs_gateway::GatewayConfig::new("127.0.0.1:0".parse().unwrap());
    let gw = rt
        .block_on(ozfs_gateway::Gateway::bind(cfg, store.clone(), secrets))
        .unwrap();
    let port = gw.local_addr().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(async move {
        let _ = gw
            .run(async move {
                let _ = rx.await;
            })
            .await;
    });
    let mnt_ozfs = tempfile::tempdir().unwrap();
    let opts = MountOptions {
        stat_cache_ttl: Duration::from_secs(60),
        type_cache_ttl: Duration::from_secs(60),
        ..Default::default()
    };
    let ozfs = mount_store(store, bucket, String::new(), mnt_ozfs.path(), opts).unwrap();
    let passwd = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(passwd.path(), "tester:secret\n").unwrap();
    std::fs::set_permissions(passwd.path(), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mnt_s3fs = tempfile::tempdir().unwrap();
    let s3fs = Command::new("s3fs")
        .arg("shared")
        .arg(mnt_s3fs.path())
        .arg("-f")
        .arg("-o")
        .arg(format!(
            "url=http://127.0.0.1:{port},use_path_request_style,passwd_file={},max_stat_cache_size=0",
            passwd.path().display()
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let both = Both {
        ozfs: Some(ozfs),
        s3fs: Some(s3fs),
        shutdown: Some(tx),
        rt,
        mnt_ozfs,
        mnt_s3fs,
        _data: data,
        _passwd: passwd,
    };
    wait_until("s3fs mount", Duration::from_secs(10), || {
        is_mounted(both.mnt_s3fs.path())
    });
    both
}

impl Drop for Both {
    fn drop(&mut self) {
        if is_mounted(self.mnt_s3fs.path()) {
            let _ = Command::new("umount").arg(self.mnt_s3fs.path()).status();
        }
        if let Some(mut c) = self.s3fs.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(h) = self.ozfs.take() {
            let _ = h.unmount();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = &self.rt;
    }
}

fn sh(dir: &Path, script: &str) {
    let o = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{script}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn s3fs_reads_what_ozfs_wrote_and_ozfs_reads_what_s3fs_wrote() {
    let b = start();
    let (oz, s3) = (b.mnt_ozfs.path(), b.mnt_s3fs.path());

    // ozfs writes; s3fs reads the s3fs-style metadata back.
    sh(
        oz,
        "echo content > f && chmod 0741 f && chown 1234:5678 f && touch -m -d @1500000000 f \
         && ln -s f link && mkdir d && chmod 0750 d && echo inner > d/x",
    );
    let m = std::fs::metadata(s3.join("f")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o741, "mode through s3fs");
    assert_eq!((m.uid(), m.gid()), (1234, 5678), "owner through s3fs");
    assert_eq!(m.mtime(), 1_500_000_000, "mtime through s3fs");
    assert_eq!(std::fs::read(s3.join("f")).unwrap(), b"content\n");
    let l = std::fs::symlink_metadata(s3.join("link")).unwrap();
    assert!(l.file_type().is_symlink(), "symlink through s3fs");
    assert_eq!(std::fs::read_link(s3.join("link")).unwrap().to_str(), Some("f"));
    let d = std::fs::metadata(s3.join("d")).unwrap();
    assert!(d.is_dir());
    assert_eq!(d.mode() & 0o7777, 0o750, "directory mode through s3fs");
    assert_eq!(std::fs::read(s3.join("d/x")).unwrap(), b"inner\n");

    // s3fs writes (through the endpoint of the same process); ozfs sees it at once.
    sh(s3, "echo from-s3fs > g && chmod 0600 g && ln -s g glink && mkdir e");
    let t = Instant::now();
    wait_until("s3fs file on the ozfs mount", Duration::from_secs(10), || {
        oz.join("g").exists()
    });
    let g = std::fs::metadata(oz.join("g")).unwrap();
    assert_eq!(g.mode() & 0o7777, 0o600, "mode written by s3fs");
    assert_eq!(std::fs::read(oz.join("g")).unwrap(), b"from-s3fs\n");
    assert_eq!(std::fs::read_link(oz.join("glink")).unwrap().to_str(), Some("g"));
    assert!(oz.join("e").is_dir());
    eprintln!("visible on ozfs after {:?}", t.elapsed());
}

#[test]
fn endpoint_changes_reach_the_mount_at_once() {
    let b = start();
    let (oz, s3) = (b.mnt_ozfs.path(), b.mnt_s3fs.path());
    std::fs::write(oz.join("doc"), b"v1").unwrap();
    assert_eq!(
        std::fs::read(s3.join("doc")).unwrap(),
        b"v1",
        "closed on ozfs = visible through S3"
    );
    assert_eq!(std::fs::read(oz.join("doc")).unwrap(), b"v1");
    // overwrite through the endpoint: the cached attributes (TTL 60 s) must be dropped
    std::fs::write(s3.join("doc"), b"version two").unwrap();
    wait_until("overwrite through S3", Duration::from_secs(10), || {
        std::fs::read(oz.join("doc")).unwrap() == b"version two"
    });
    // delete through the endpoint
    std::fs::remove_file(s3.join("doc")).unwrap();
    wait_until("delete through S3", Duration::from_secs(10), || {
        !oz.join("doc").exists()
    });
}
