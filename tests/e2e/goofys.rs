//! goofys, the real one, against the real `ozfs serve`: the seed page's example
//! (`goofys --endpoint http://localhost:9878 bucket1 /mount/bucket1`) run exactly so, with no
//! `--region` and no other flag, then file work on the goofys mount checked through ozfs.
//!
//! goofys v0.24.0 is built from the Go module proxy by `scripts/install-goofys.sh` (about 75 s
//! on a fresh machine, then cached); if it cannot be built the test fails and says why.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn ozfs() -> &'static str {
    env!("CARGO_BIN_EXE_ozfs")
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Build goofys into target dir (once) and return its path.
fn goofys() -> PathBuf {
    let dest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-tools/goofys");
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/install-goofys.sh"))
        .arg(&dest)
        .output()
        .expect("run scripts/install-goofys.sh");
    assert!(
        out.status.success(),
        "goofys could not be built by scripts/install-goofys.sh (needs Go and the Go module proxy): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dest
}

/// `ozfs serve` on a free port with a fresh data dir; killed on drop.
struct Server {
    child: Child,
    addr: String,
    data: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(ozfs())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ozfs serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .filter(|_| line.contains("serving S3 on"))
            .unwrap_or_else(|| panic!("unexpected first line from ozfs serve: {line:?}"))
            .to_string();
        Server { child, addr, data }
    }

    fn sh(&self, args: &[&str]) -> String {
        let out = Command::new(ozfs())
            .args(args)
            .arg("--data")
            .arg(self.data.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ozfs {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The object's bytes, read through the running server.
    fn get(&self, key: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out");
        self.sh(&[
            "sh",
            "key",
            "get",
            &format!("/s3v/bucket1/{key}"),
            file.to_str().unwrap(),
        ]);
        std::fs::read(file).unwrap()
    }

    fn keys(&self) -> String {
        self.sh(&["sh", "key", "list", "/s3v/bucket1"])
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

fn is_mounted(p: &Path) -> bool {
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(p.to_str().unwrap()))
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
