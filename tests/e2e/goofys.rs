//! goofys, the real one, against the real `ozfs serve`: the seed page's example
//! (`goofys --endpoint http://localhost:9878 bucket1 /mount/bucket1`) run exactly so, with no
//! `--region` and no other flag, then file work on the goofys mount checked through ozfs.
//!
//! goofys v0.24.0 is built from the Go module proxy and installed up front by
//! `scripts/test-deps-goofys.sh` (as `$OZFS_GOOFYS`, default /usr/local/bin/goofys); the test
//! takes `$OZFS_GOOFYS`, else `goofys` on PATH, and fails and says so when there is none.

mod serve_common;

use serve_common::{is_mounted, Server};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The installed goofys: `$OZFS_GOOFYS`, else `goofys` on PATH.
fn goofys() -> PathBuf {
    let found = match std::env::var_os("OZFS_GOOFYS") {
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join("goofys"))
            .find(|p| p.is_file()),
    };
    let path = found.unwrap_or_else(|| {
        panic!("no goofys in $OZFS_GOOFYS or PATH: scripts/test-deps-goofys.sh builds and installs it")
    });
    let version = Command::new(&path).arg("--version").output();
    assert!(
        matches!(&version, Ok(o) if String::from_utf8_lossy(&o.stderr).contains("goofys version")),
        "{} does not run as goofys ({version:?}): scripts/test-deps-goofys.sh installs it",
        path.display()
    );
    path
}

/// A goofys mount; unmounted (and goofys reaped) on drop.
struct GoofysMount {
    dir: tempfile::TempDir,
}

impl GoofysMount {
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for GoofysMount {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3").arg("-u").arg(self.dir.path()).status();
    }
}

#[test]
fn goofys_seed_example_mounts_and_writes_through_ozfs() {
    let goofys = goofys();
    let server = Server::start();
    server.sh(&["sh", "bucket", "create", "/s3v/bucket1"]);

    let mnt = GoofysMount {
        dir: tempfile::tempdir().unwrap(),
    };
    // Exactly the seed page's command line (goofys backgrounds itself once mounted).
    let status = Command::new(&goofys)
        .args(["--endpoint", &format!("http://{}", server.addr), "bucket1"])
        .arg(mnt.path())
        .env("AWS_ACCESS_KEY_ID", "testuser")
        .env("AWS_SECRET_ACCESS_KEY", "any-secret")
        .status()
        .unwrap();
    assert!(status.success(), "goofys exited with {status}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !is_mounted(mnt.path()) {
        assert!(Instant::now() < deadline, "goofys did not mount");
        std::thread::sleep(Duration::from_millis(50));
    }
    let p = |rel: &str| mnt.path().join(rel);

    // A small file, written and closed on goofys, is an object on ozfs.
    std::fs::write(p("hello.txt"), b"hello from goofys\n").unwrap();
    assert_eq!(server.get("hello.txt"), b"hello from goofys\n");

    // mkdir makes the goofys `dir/` marker; a file inside it.
    std::fs::create_dir(p("dir")).unwrap();
    std::fs::write(p("dir/inner"), b"inner").unwrap();
    let keys = server.keys();
    assert!(keys.contains("\"dir/\""), "dir marker missing: {keys}");
    assert!(keys.contains("\"dir/inner\""), "dir/inner missing: {keys}");

    // 25 MiB: goofys uses multipart upload above 5 MiB.
    let big: Vec<u8> = (0..25u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(p("big.bin"), &big).unwrap();
    assert_eq!(server.get("big.bin"), big, "25 MiB multipart write through goofys");
    // And read back through goofys (ranged GETs against ozfs).
    assert_eq!(std::fs::read(p("big.bin")).unwrap(), big);

    // rename (CopyObject + DeleteObject) and delete.
    std::fs::rename(p("hello.txt"), p("dir/renamed.txt")).unwrap();
    assert_eq!(server.get("dir/renamed.txt"), b"hello from goofys\n");
    std::fs::remove_file(p("big.bin")).unwrap();
    let keys = server.keys();
    assert!(!keys.contains("\"hello.txt\""), "rename source left behind: {keys}");
    assert!(!keys.contains("\"big.bin\""), "deleted key still listed: {keys}");

    // Listing through goofys.
    let mut names: Vec<String> = std::fs::read_dir(p("dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["inner", "renamed.txt"]);
}
