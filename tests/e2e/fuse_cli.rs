//! End-to-end tests of `ozfs mount` as a command: goofys's flags, backgrounding after the mount
//! succeeded, clear errors and a non-zero exit before that, the mount-helper (fstab) form, and
//! clean unmounting on SIGTERM/SIGINT. Real kernel mounts of the embedded store in temp dirs.
//!
//! The binary under test is `ozfs` when its `mount` subcommand is wired to the FUSE package,
//! else the package's `ozfs_mount` example (same routing), built on demand.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{is_mounted, wait_until};

fn binary() -> PathBuf {
    if let Ok(b) = std::env::var("OZFS_BIN") {
        return PathBuf::from(b);
    }
    let ozfs = PathBuf::from(env!("CARGO_BIN_EXE_ozfs"));
    let routed = Command::new(&ozfs)
        .args(["mount", "--help"])
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("--stat-cache-ttl"))
        .unwrap_or(false);
    if routed {
        return ozfs;
    }
    let dir = ozfs.parent().expect("target dir").to_path_buf();
    let example = dir.join("examples").join("ozfs_mount");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .args(["build", "-q", "-p", "ozfs-fuse", "--example", "ozfs_mount"])
        .status()
        .expect("cargo build --example ozfs_mount");
    assert!(st.success());
    example
}

struct Fixture {
    bin: PathBuf,
    data: tempfile::TempDir,
    mnt: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let data = tempfile::tempdir().unwrap();
    {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let store = ozfs::LocalStore::open(data.path(), "s3v").unwrap();
        use ozfs::store::prelude::*;
        rt.block_on(store.create_bucket(&ozfs::BucketPath::new("s3v", "bkt"), "me"))
            .unwrap();
        rt.block_on(store.put_object(
            &ozfs::BucketPath::new("s3v", "bkt"),
            "hello.txt",
            ozfs::body_from_bytes(b"hi there".to_vec()),
            Default::default(),
        ))
        .unwrap();
    }
    Fixture {
        bin: binary(),
        data,
        mnt: tempfile::tempdir().unwrap(),
    }
}

fn mount_line(p: &Path) -> Option<String> {
    let p = p.canonicalize().ok()?;
    std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(p.to_str().unwrap()))
        .map(str::to_string)
}

/// PIDs whose command line mentions `needle` (our own daemon, found by its unique mount path).
fn pids_with(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(needle) && pid != std::process::id() as i32 {
                out.push(pid);
            }
        }
    }
    out
}

fn unmount(p: &Path) {
    if is_mounted(p) {
        let _ = Command::new("umount").arg(p).status();
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        unmount(self.mnt.path());
    }
}

fn run(bin: &Path, args: &[&str]) -> Output {
    Command::new(bin).args(args).stdin(Stdio::null()).output().unwrap()
}

#[test]
fn backgrounds_after_mount_and_sigterm_unmounts() {
    let f = fixture();
    let mnt = f.mnt.path().to_str().unwrap();
    let data = f.data.path().to_str().unwrap();
    let t = Instant::now();
    let o = run(&f.bin, &["mount", "--data", data, "--stat-cache-ttl", "1s", "bkt", mnt]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(t.elapsed() < Duration::from_secs(10));
    // The parent returned only once the mount worked.
    assert!(is_mounted(f.mnt.path()));
    let line = mount_line(f.mnt.path()).unwrap();
    assert!(line.starts_with("bkt ") && line.contains(" fuse.ozfs "), "{line}");
    assert_eq!(std::fs::read(f.mnt.path().join("hello.txt")).unwrap(), b"hi there");
    std::fs::write(f.mnt.path().join("new.txt"), b"written").unwrap();
    let pids = pids_with(mnt);
    assert_eq!(pids.len(), 1, "one daemon: {pids:?}");
    #[allow(unsafe_code, reason = "kill(2) through libc: std's Child::kill only sends SIGKILL")]
    // SAFETY: plain kill(2) of the daemon this test started.
    unsafe {
        libc::kill(pids[0], libc::SIGTERM)
    };
    wait_until("unmount after SIGTERM", Duration::from_secs(15), || {
        !is_mounted(f.mnt.path())
    });
    wait_until("daemon exit", Duration::from_secs(15), || pids_with(mnt).is_empty());
    // What was written is in the store.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = ozfs::LocalStore::open(f.data.path(), "s3v").unwrap();
    use ozfs::store::prelude::*;
    let got = rt
        .block_on(store.get_object(&ozfs::BucketPath::new("s3v", "bkt"), "new.txt", Default::default()))
        .unwrap();
    assert_eq!(rt.block_on(ozfs::collect_body(got.body, 1024)).unwrap(), b"written");
}

#[test]
fn foreground_sigint_unmounts_cleanly() {
    let f = fixture();
    let mnt = f.mnt.path().to_str().unwrap();
    let mut child = Command::new(&f.bin)
        .args(["mount", "-f", "--data", f.data.path().to_str().unwrap(), "bkt", mnt])
        .spawn()
        .unwrap();
    wait_until("foreground mount", Duration::from_secs(15), || is_mounted(f.mnt.path()));
    assert_eq!(std::fs::read(f.mnt.path().join("hello.txt")).unwrap(), b"hi there");
    #[allow(unsafe_code, reason = "kill(2) through libc: std's Child::kill only sends SIGKILL")]
    // SAFETY: plain kill(2) of our child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT)
    };
    let st = child.wait().unwrap();
    assert!(st.success(), "{st}");
    assert!(!is_mounted(f.mnt.path()));
}

#[test]
fn errors_before_mounting_are_clear_and_fail() {
    let f = fixture();
    let mnt = f.mnt.path().to_str().unwrap();
    let data = f.data.path().to_str().unwrap();
    let o = run(&f.bin, &["mount", "--data", data, "no-such-bucket", mnt]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no-such-bucket") && err.contains("not found"), "{err}");
    assert!(!is_mounted(f.mnt.path()));

    let o = run(&f.bin, &["mount", "--data", data, "bkt", "/nonexistent/mount/point"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent/mount/point"), "{err}");

    let o = Command::new(&f.bin)
        .args([
            "mount",
            "--endpoint",
            "http://127.0.0.1:1",
            "--http-timeout",
            "2s",
            "bkt",
            mnt,
        ])
        .env("AWS_ACCESS_KEY_ID", "k")
        .env("AWS_SECRET_ACCESS_KEY", "s")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bkt"), "{err}");
    assert!(!is_mounted(f.mnt.path()));

    let o = run(&f.bin, &["mount", "--stat-cache-ttl", "5parsecs", "bkt", mnt]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("5parsecs"));

    let o = run(&f.bin, &["mount", "only-one-arg"]);
    assert!(!o.status.success());
}

#[test]
fn mount_helper_form_from_fstab() {
    let f = fixture();
    let mnt = f.mnt.path().to_str().unwrap();
    let opts = format!(
        "rw,_netdev,--data={},--file-mode=0600,--dir-mode=0700,--uid=4321",
        f.data.path().display()
    );
    // What mount.fuse runs for `ozfs#bkt /mnt fuse _netdev,--file-mode=0600,... 0 0`.
    let o = run(&f.bin, &["ozfs#bkt", mnt, "-o", &opts]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(is_mounted(f.mnt.path()));
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(f.mnt.path().join("hello.txt")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o600);
    assert_eq!(m.uid(), 4321);
    let root = std::fs::metadata(f.mnt.path()).unwrap();
    assert_eq!(root.mode() & 0o7777, 0o700);
    let st = Command::new("umount").arg(mnt).status().unwrap();
    assert!(st.success());
    wait_until("daemon exit", Duration::from_secs(15), || pids_with(mnt).is_empty());
}

#[test]
fn endpoint_mount_through_remote_store_and_ttl_for_outside_changes() {
    // An S3 endpoint served by this test process over its own store; `ozfs mount --endpoint`
    // (another process) reaches it through RemoteStore. Changes made here are "elsewhere" for
    // the mount: they show after the TTLs.
    let bin = binary();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let local = std::sync::Arc::new(ozfs::LocalStore::open(data.path(), "s3v").unwrap());
    let secrets: std::sync::Arc<dyn ozfs::SecretStore> = local.clone();
    let store: std::sync::Arc<dyn ozfs::ObjectStore> = local;
    let bucket = ozfs::BucketPath::new("s3v", "remote-bkt");
    rt.block_on(store.create_bucket(&bucket, "tester")).unwrap();
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
    let put = |key: &str, body: &[u8]| {
        rt.block_on(store.put_object(&bucket, key, ozfs::body_from_bytes(body.to_vec()), Default::default()))
            .unwrap();
    };
    put("before.txt", b"already there");
    let mnt = tempfile::tempdir().unwrap();
    let o = Command::new(&bin)
        .args([
            "mount",
            "--endpoint",
            &format!("http://127.0.0.1:{port}"),
            "--stat-cache-ttl",
            "1s",
            "--type-cache-ttl",
            "1s",
            "remote-bkt",
            mnt.path().to_str().unwrap(),
        ])
        .env("AWS_ACCESS_KEY_ID", "tester")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mp = mnt.path();
    assert_eq!(std::fs::read(mp.join("before.txt")).unwrap(), b"already there");
    std::fs::create_dir(mp.join("dir")).unwrap();
    std::fs::write(mp.join("dir/from-mount.txt"), b"written through the mount").unwrap();
    let got = rt
        .block_on(store.get_object(&bucket, "dir/from-mount.txt", Default::default()))
        .unwrap();
    assert_eq!(
        rt.block_on(ozfs::collect_body(got.body, 1024)).unwrap(),
        b"written through the mount"
    );
    assert!(
        rt.block_on(store.head_object(&bucket, "dir/")).is_ok(),
        "mkdir wrote the marker remotely"
    );
    // a change made elsewhere: visible once the 1 s TTLs expired (not synchronisation: letting
    // the TTLs pass is the behaviour under test)
    put("before.txt", b"changed elsewhere");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(std::fs::read(mp.join("before.txt")).unwrap(), b"changed elsewhere");
    std::fs::rename(mp.join("dir"), mp.join("moved")).unwrap();
    assert!(rt.block_on(store.head_object(&bucket, "moved/from-mount.txt")).is_ok());
    let st = Command::new("umount").arg(mp).status().unwrap();
    assert!(st.success());
    wait_until("daemon exit", Duration::from_secs(15), || {
        pids_with(mp.to_str().unwrap()).is_empty()
    });
    let _ = tx.send(());
}

#[test]
fn empty_file_and_marker_of_the_same_second_show_the_directory_without_implicit_dirs() {
    // `x` and `x/`, both empty, written in the same second: through RemoteStore (HTTP dates have
    // one-second resolution) their HEAD answers are identical, which is also how a server that
    // ignores the trailing slash (Ozone FSO) answers `x/` for a file `x`. Even with
    // --no-implicit-dir (no listing for the lookup otherwise) the mount must show the directory,
    // and a lone empty file stays a file.
    let bin = binary();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let local = std::sync::Arc::new(ozfs::LocalStore::open(data.path(), "s3v").unwrap());
    let secrets: std::sync::Arc<dyn ozfs::SecretStore> = local.clone();
    let store: std::sync::Arc<dyn ozfs::ObjectStore> = local;
    let bucket = ozfs::BucketPath::new("s3v", "same-second");
    rt.block_on(store.create_bucket(&bucket, "tester")).unwrap();
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
    let put = |key: &str| {
        rt.block_on(store.put_object(&bucket, key, ozfs::body_from_bytes(Vec::new()), Default::default()))
            .unwrap()
    };
    let secs = |i: &ozfs::ObjectInfo| i.last_modified.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    put("lone");
    let mut same = false;
    for _ in 0..20 {
        let (f, d) = (put("x"), put("x/"));
        if secs(&f) == secs(&d) {
            same = true;
            break;
        }
    }
    assert!(same, "no two PUTs in the same second in 20 tries");
    let mnt = tempfile::tempdir().unwrap();
    let o = Command::new(&bin)
        .args([
            "mount",
            "--no-implicit-dir",
            "--endpoint",
            &format!("http://127.0.0.1:{port}"),
            "same-second",
            mnt.path().to_str().unwrap(),
        ])
        .env("AWS_ACCESS_KEY_ID", "tester")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mp = mnt.path();
    assert!(
        std::fs::metadata(mp.join("x")).unwrap().is_dir(),
        "x shows as the directory"
    );
    assert!(
        std::fs::metadata(mp.join("lone")).unwrap().is_file(),
        "a lone empty file is a file"
    );
    let st = Command::new("umount").arg(mp).status().unwrap();
    assert!(st.success());
    wait_until("daemon exit", Duration::from_secs(15), || {
        pids_with(mp.to_str().unwrap()).is_empty()
    });
    let _ = tx.send(());
}
