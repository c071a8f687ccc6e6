//! rclone (Debian's package) against the real `ozfs serve`, as Ozone's rclone smoketest does it:
//! an S3 remote with `provider = Other` and path-style addressing, then `rclone copy`, `ls`,
//! `lsf` of directories, `sync` with a deletion, `check` and `cat`.

mod serve_common;

use serve_common::Server;
use std::path::Path;
use std::process::Command;

/// rclone must be installed up front (`scripts/test-deps-s3.sh`, run by `scripts/test.sh`).
fn rclone_installed() {
    let out = Command::new("rclone").arg("version").output();
    assert!(
        matches!(&out, Ok(o) if o.status.success()),
        "rclone cannot be run ({}): install it with scripts/test-deps-s3.sh (apt-get install rclone)",
        match &out {
            Ok(o) => format!("exit {}: {}", o.status, String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => e.to_string(),
        }
    );
}

fn rclone(conf: &Path, args: &[&str]) -> String {
    // AWS_CA_BUNDLE (set on some machines) makes rclone 1.60 refuse to build its S3 client
    // ("unsupported transport"); the endpoint is plain http, so it is not needed.
    let out = Command::new("rclone")
        .arg("--config")
        .arg(conf)
        .args(args)
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rclone {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn rclone_copy_sync_check_against_ozfs() {
    rclone_installed();
    let server = Server::start();
    server.sh(&["sh", "bucket", "create", "/s3v/bucket1"]);

    let work = tempfile::tempdir().unwrap();
    let conf = work.path().join("rclone.conf");
    std::fs::write(
        &conf,
        format!(
            "[ozfs]\ntype = s3\nprovider = Other\naccess_key_id = rcloneuser\nsecret_access_key = anything\n\
             endpoint = http://{}\nforce_path_style = true\nregion = us-east-1\n",
            server.addr
        ),
    )
    .unwrap();

    // A source tree: small files, a nested dir, one 12 MiB file.
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("a/b")).unwrap();
    std::fs::write(src.join("top.txt"), b"top\n").unwrap();
    std::fs::write(src.join("a/one.txt"), b"one\n").unwrap();
    std::fs::write(src.join("a/b/two.txt"), b"two\n").unwrap();
    let big: Vec<u8> = (0..12u32 << 20)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8)
        .collect();
    std::fs::write(src.join("a/big.bin"), &big).unwrap();

    rclone(&conf, &["copy", src.to_str().unwrap(), "ozfs:bucket1/tree"]);
    assert_eq!(server.get("tree/a/b/two.txt"), b"two\n");
    assert_eq!(server.get("tree/a/big.bin"), big);

    let ls = rclone(&conf, &["ls", "ozfs:bucket1/tree"]);
    for (size, name) in [
        (4, "top.txt"),
        (4, "a/one.txt"),
        (4, "a/b/two.txt"),
        (12 << 20, "a/big.bin"),
    ] {
        assert!(
            ls.lines().any(|l| l.trim() == format!("{size} {name}")),
            "{name} ({size}) not in:\n{ls}"
        );
    }
    let dirs = rclone(&conf, &["lsf", "--dirs-only", "ozfs:bucket1/tree/a"]);
    assert_eq!(dirs.trim(), "b/", "delimiter listing through rclone");

    // check compares sizes and MD5 ETags with the local files.
    rclone(&conf, &["check", src.to_str().unwrap(), "ozfs:bucket1/tree"]);

    // sync removes what the source no longer has.
    std::fs::remove_file(src.join("a/one.txt")).unwrap();
    rclone(&conf, &["sync", src.to_str().unwrap(), "ozfs:bucket1/tree"]);
    let keys = server.keys();
    assert!(!keys.contains("\"tree/a/one.txt\""), "sync did not delete: {keys}");
    assert_eq!(rclone(&conf, &["cat", "ozfs:bucket1/tree/top.txt"]), "top\n");

    // Buckets listed as rclone sees them.
    assert!(rclone(&conf, &["lsd", "ozfs:"]).contains("bucket1"));
}
