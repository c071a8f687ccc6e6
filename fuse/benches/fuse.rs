//! FUSE benchmark (not a timed test): `cargo bench -p ozfs-fuse --bench fuse [-- SIZE_MB]`.
//!
//! One process holds the embedded store (behind the page cache), serves the S3 endpoint over it
//! and mounts it with ozfs, as `ozfs serve --mount` does; s3fs 1.90 mounts the same bucket
//! through that endpoint. Both run the same workloads, one after the other:
//!
//! - `seq_write`: `dd bs=1M` of SIZE_MB MiB into a new file, including the close (upload);
//! - `create_1000`: create+close of 1,000 small files, one after another;
//! - `ls_l_10k`: `ls -l` of a 10,000-entry directory on a freshly mounted file system;
//! - `cold_read`: read of the big file after a remount, with the store's data files evicted from
//!   the OS page cache (`posix_fadvise DONTNEED`): nothing cached anywhere;
//! - `cached_read`: the same read again;
//! - `peak_rss`: the peak resident size of this process (store + endpoint + ozfs mount).
//!
//! Needs root, fuse3 and s3fs (scripts/test-deps-fuse.sh). Every step is bounded by a timeout.

use ozfs::{BucketPath, CachingStore, LocalStore, ObjectStore, PageCache, SecretStore};
use ozfs_fuse::{mount_store, MountHandle, MountOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BUCKET: &str = "bench";

fn sh(dir: &Path, script: &str) -> Duration {
    let t = Instant::now();
    let o = Command::new("timeout")
        .arg("900")
        .arg("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("bash");
    assert!(o.status.success(), "{script}: {}", String::from_utf8_lossy(&o.stderr));
    t.elapsed()
}

fn is_mounted(p: &Path) -> bool {
    let p = p.canonicalize().unwrap();
    std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(p.to_str().unwrap()))
}

fn wait_mounted(p: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !is_mounted(p) {
        assert!(Instant::now() < deadline, "{} did not mount", p.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn peak_rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Evict every file of the data directory from the OS page cache.
fn evict(dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(f) = std::fs::File::open(&p) {
                #[allow(unsafe_code, reason = "posix_fadvise(2) through libc: std has no page-cache advice")]
                // SAFETY: advisory call on a descriptor we own.
                unsafe {
                    libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED)
                };
            }
        }
    }
}

struct S3fs {
    child: Child,
    mnt: PathBuf,
}

impl S3fs {
    fn start(port: u16, mnt: &Path, passwd: &Path) -> S3fs {
        let child = Command::new("s3fs")
            .arg(BUCKET)
            .arg(mnt)
            .arg("-f")
            .arg("-o")
            .arg(format!(
                "url=http://127.0.0.1:{port},use_path_request_style,passwd_file={}",
                passwd.display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3fs (run scripts/test-deps-fuse.sh)");
        wait_mounted(mnt);
        S3fs {
            child,
            mnt: mnt.to_path_buf(),
        }
    }
}

impl Drop for S3fs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn report(fs: &str, what: &str, value: f64, unit: &str) {
    println!(
        "{fs:<6} {what:<12} {value:>10.3} {unit}    (rss now {:.0} MiB)",
        rss_mib()
    );
}

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn main() {
    // As `ozfs mount` and `ozfs serve` do before any thread exists.
    ozfs_fuse::command::limit_malloc_arenas();
    let size_mb: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1024);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let local = Arc::new(LocalStore::open(&data, "s3v").unwrap());
    let secrets: Arc<dyn SecretStore> = local.clone();
    let cache = Arc::new(PageCache::new(
        ozfs::config::DEFAULT_CACHE_SIZE,
        ozfs::cache::DEFAULT_PAGE_SIZE,
    ));
    let store: Arc<dyn ObjectStore> = Arc::new(CachingStore::new(local, cache.clone()));
    let bucket = BucketPath::new("s3v", BUCKET);
    rt.block_on(store.create_bucket(&bucket, "bench")).unwrap();
    // The 10,000-entry directory, put through the store (setup, not measured).
    rt.block_on(async {
        for i in 0..10_000 {
            store
                .put_object(
                    &bucket,
                    &format!("ls10k/f{i:05}"),
                    ozfs::body_from_bytes(vec![b'x'; i % 100]),
                    Default::default(),
                )
                .await
                .unwrap();
        }
    });
    let gw = rt
        .block_on(ozfs_gateway::Gateway::bind(
            ozfs_gateway::GatewayConfig::new("127.0.0.1:0".parse().unwrap()),
            store.clone(),
            secrets,
        ))
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
    let mnt_oz = work.path().join("ozfs");
    let mnt_s3 = work.path().join("s3fs");
    std::fs::create_dir_all(&mnt_oz).unwrap();
    std::fs::create_dir_all(&mnt_s3).unwrap();
    let passwd = work.path().join("passwd");
    std::fs::write(&passwd, "bench:bench\n").unwrap();
    std::fs::set_permissions(&passwd, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mount_oz = || -> MountHandle {
        mount_store(
            store.clone(),
            bucket.clone(),
            String::new(),
            &mnt_oz,
            MountOptions::default(),
        )
        .unwrap()
    };

    println!(
        "# ozfs FUSE benchmark: {size_mb} MiB file, {} cores, embedded store",
        num_cpus()
    );
    // ---- ozfs
    let mut oz = mount_oz();
    let t = sh(
        &mnt_oz,
        &format!("mkdir -p w && dd if=/dev/zero of=w/big bs=1M count={size_mb} status=none"),
    );
    report("ozfs", "seq_write", size_mb as f64 / t.as_secs_f64(), "MB/s");
    let t = sh(
        &mnt_oz,
        "mkdir -p w/many && for i in $(seq 1 1000); do echo $i > w/many/f$i; done",
    );
    report("ozfs", "create_1000", t.as_secs_f64(), "s");
    oz.unmount().unwrap();
    oz = mount_oz();
    let t = sh(&mnt_oz, "ls -l ls10k > /dev/null");
    report("ozfs", "ls_l_10k", t.as_secs_f64(), "s");
    let t = sh(&mnt_oz, "ls -l ls10k > /dev/null");
    report("ozfs", "ls_l_10k_warm", t.as_secs_f64(), "s");
    oz.unmount().unwrap();
    cache.clear();
    evict(&data);
    oz = mount_oz();
    let t = sh(&mnt_oz, "cat w/big > /dev/null");
    report("ozfs", "cold_read", size_mb as f64 / t.as_secs_f64(), "MB/s");
    let t = sh(&mnt_oz, "cat w/big > /dev/null");
    report("ozfs", "cached_read", size_mb as f64 / t.as_secs_f64(), "MB/s");
    report("ozfs", "peak_rss", peak_rss_mib(), "MiB");

    // ---- s3fs through the endpoint of this process
    {
        let s3 = S3fs::start(port, &mnt_s3, &passwd);
        let t = sh(
            &mnt_s3,
            &format!("mkdir -p s && dd if=/dev/zero of=s/big bs=1M count={size_mb} status=none"),
        );
        report("s3fs", "seq_write", size_mb as f64 / t.as_secs_f64(), "MB/s");
        let t = sh(
            &mnt_s3,
            "mkdir -p s/many && for i in $(seq 1 1000); do echo $i > s/many/f$i; done",
        );
        report("s3fs", "create_1000", t.as_secs_f64(), "s");
        drop(s3);
        let s3 = S3fs::start(port, &mnt_s3, &passwd);
        let t = sh(&mnt_s3, "ls -l ls10k > /dev/null");
        report("s3fs", "ls_l_10k", t.as_secs_f64(), "s");
        drop(s3);
        cache.clear();
        evict(&data);
        let s3 = S3fs::start(port, &mnt_s3, &passwd);
        let t = sh(&mnt_s3, "cat s/big > /dev/null");
        report("s3fs", "cold_read", size_mb as f64 / t.as_secs_f64(), "MB/s");
        let t = sh(&mnt_s3, "cat s/big > /dev/null");
        report("s3fs", "cached_read", size_mb as f64 / t.as_secs_f64(), "MB/s");
        drop(s3);
    }
    report("proc", "peak_rss_all", peak_rss_mib(), "MiB");
    drop(oz);
    let _ = tx.send(());
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
