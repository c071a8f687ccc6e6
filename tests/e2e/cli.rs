//! End-to-end tests of the `ozfs` command line. They run the real binary against a temporary
//! data directory: every `ozfs sh` / `ozfs s3` verb once with the CLI opening the embedded store
//! itself ("local mode"), and once more while an `ozfs serve` holds the data directory, so the
//! same commands go through the server's admin API ("server mode"). Both runs expect the same
//! output and the same one-line errors.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{aws_command, is_mounted, output_within, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_ozfs");

/// A temporary home + data directory and a way to run `ozfs` in it.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("OZFS_DATA", self.data())
            .env("HOME", self.dir.path())
            .env("USER", "tester")
            .env_remove("OZFS_CONFIG")
            .env_remove("XDG_DATA_HOME")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "")
    }

    /// Run with `input` on stdin; bounded by [`COMMAND_TIMEOUT`] (a hung command fails the test
    /// instead of hanging the suite).
    fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ozfs");
        let mut stdin = child.stdin.take().expect("stdin");
        // A command that does not read its input closes the pipe: that is not an error here.
        let _ = stdin.write_all(input.as_bytes());
        drop(stdin);
        wait_bounded(child, args)
    }

    /// Run; expect success; return stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ozfs {args:?} failed: {}\nstdout: {}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Run; expect failure with exactly one line `ozfs: …` on stderr; return that line.
    fn fail(&self, args: &[&str]) -> String {
        one_line_error(args, self.run(args))
    }
}

/// Longest time one command (ozfs or aws) may take in these tests.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Collect a child's output; kill it and fail if it runs longer than [`COMMAND_TIMEOUT`].
fn wait_bounded(child: Child, args: &[&str]) -> Output {
    output_within(child, COMMAND_TIMEOUT)
        .unwrap_or_else(|| panic!("{args:?} did not finish within {COMMAND_TIMEOUT:?}"))
}

fn one_line_error(args: &[&str], out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "ozfs {args:?} should fail; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "ozfs {args:?}: error must be one line: {stderr:?}"
    );
    assert!(stderr.starts_with("ozfs: "), "ozfs {args:?}: {stderr:?}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
    stderr.trim_end().to_string()
}

/// A running `ozfs serve`; stopped (SIGTERM, then SIGKILL) on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(env: &Env) -> Server {
        Server::start_with(env, &[], &[])
    }

    /// `ozfs serve` with extra flags and environment; waits for the readiness line.
    fn start_with(env: &Env, extra: &[&str], vars: &[(&str, &str)]) -> Server {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--cache-size", "16M"];
        args.extend_from_slice(extra);
        let mut child = env
            .cmd(&args)
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ozfs serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("ozfs: serving S3 on http://") {
                        return Server {
                            child,
                            addr: url.trim().to_string(),
                        };
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("ozfs serve did not report readiness within 60 s");
                }
            }
        }
    }

    /// SIGTERM and wait (bounded); returns whether it exited by itself with status 0.
    fn stop(mut self) -> bool {
        let clean = self.terminate();
        std::mem::forget(self);
        clean
    }

    fn terminate(&mut self) -> bool {
        let pid = self.child.id() as i32;
        #[allow(unsafe_code, reason = "kill(2) through libc: std's Child::kill only sends SIGKILL")]
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(pid, libc::SIGTERM)
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write file");
}

/// Deterministic pseudo-random bytes.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Every `ozfs sh` verb, with its output and its errors. Run in local and in server mode.
fn exercise_sh(env: &Env) {
    // ---- volumes ----
    assert_eq!(env.ok(&["sh", "volume", "create", "/vol1"]), "");
    let e = env.fail(&["sh", "volume", "create", "/vol1"]);
    assert!(e.contains("already exists"), "{e}");
    env.ok(&["sh", "volume", "create", "-u", "bob", "/vol2"]);
    let e = env.fail(&["sh", "volume", "create", "/Bad_Name"]);
    assert!(e.contains("invalid volume name"), "{e}");
    let e = env.fail(&["sh", "volume", "create", "/a/b"]);
    assert!(e.contains("/volume"), "{e}");

    let list = env.ok(&["sh", "volume", "list"]);
    assert!(list.starts_with("[ {"), "{list}");
    for v in ["\"name\" : \"vol1\"", "\"name\" : \"vol2\"", "\"name\" : \"s3v\""] {
        assert!(list.contains(v), "{v} missing in {list}");
    }
    let list = env.ok(&["sh", "volume", "list", "--prefix", "vol", "--length", "1"]);
    assert!(list.contains("\"vol1\"") && !list.contains("\"vol2\""), "{list}");
    let info = env.ok(&["sh", "volume", "info", "/vol1"]);
    assert!(info.contains("\"name\" : \"vol1\""), "{info}");
    assert!(info.contains("\"owner\" : \"tester\""), "{info}");
    assert!(env
        .ok(&["sh", "volume", "info", "/vol2"])
        .contains("\"owner\" : \"bob\""));
    let e = env.fail(&["sh", "volume", "info", "/nosuchvol"]);
    assert!(e.contains("volume nosuchvol not found"), "{e}");

    // ---- buckets ----
    assert_eq!(env.ok(&["sh", "bucket", "create", "/vol1/bucket1"]), "");
    let e = env.fail(&["sh", "bucket", "create", "/vol1/bucket1"]);
    assert!(e.contains("already exists"), "{e}");
    let e = env.fail(&["sh", "bucket", "create", "/nosuchvol/bucket1"]);
    assert!(e.contains("nosuchvol"), "{e}");
    let e = env.fail(&["sh", "bucket", "create", "/vol1/x"]);
    assert!(e.contains("invalid bucket name"), "{e}");
    // The noun-last spelling of the Ozone S3 docs.
    env.ok(&["sh", "create", "bucket", "/vol2/bucket2"]);
    let list = env.ok(&["sh", "bucket", "list", "/vol1"]);
    assert!(
        list.contains("\"name\" : \"bucket1\"") && list.contains("\"volumeName\" : \"vol1\""),
        "{list}"
    );
    let info = env.ok(&["sh", "bucket", "info", "/vol1/bucket1"]);
    assert!(
        info.contains("\"link\" : false") && info.contains("\"owner\" : \"tester\""),
        "{info}"
    );
    assert!(info.contains("\"bucketLayout\" : \"OBJECT_STORE\""), "{info}");

    // ---- layouts (recorded, as Ozone's `bucket create --layout`) ----
    for (layout, shown) in [
        ("FILE_SYSTEM_OPTIMIZED", "FILE_SYSTEM_OPTIMIZED"),
        ("LEGACY", "LEGACY"),
        ("OBJECT_STORE", "OBJECT_STORE"),
        ("fso", "FILE_SYSTEM_OPTIMIZED"),
    ] {
        let path = format!("/vol2/layout-{}", layout.to_ascii_lowercase().replace('_', "-"));
        assert_eq!(env.ok(&["sh", "bucket", "create", "--layout", layout, &path]), "");
        let info = env.ok(&["sh", "bucket", "info", &path]);
        assert!(info.contains(&format!("\"bucketLayout\" : \"{shown}\"")), "{info}");
        env.ok(&["sh", "bucket", "delete", &path]);
    }
    let e = env.fail(&["sh", "bucket", "create", "-l", "FLAT", "/vol2/layout-bad"]);
    assert!(e.contains("unknown bucket layout"), "{e}");
    let e = env.fail(&["sh", "bucket", "info", "/vol2/layout-bad"]);
    assert!(e.contains("not found"), "a refused layout creates no bucket: {e}");

    // ---- ACLs in Ozone's notation, kept as S3 grants ----
    let acl = env.ok(&["sh", "bucket", "getacl", "/vol1/bucket1"]);
    assert_eq!(
        acl,
        "[ {\n  \"type\" : \"USER\",\n  \"name\" : \"tester\",\n  \"aclScope\" : \"ACCESS\",\n  \"aclList\" : [ \"ALL\" ]\n} ]\n"
    );
    assert_eq!(
        env.ok(&[
            "sh",
            "bucket",
            "setacl",
            "-a",
            "user:bilbo:rw,world::r",
            "/vol1/bucket1"
        ]),
        "ACLs set successfully.\n"
    );
    let acl = env.ok(&["sh", "bucket", "getacl", "/vol1/bucket1"]);
    assert!(
        acl.contains("\"name\" : \"bilbo\",\n  \"aclScope\" : \"ACCESS\",\n  \"aclList\" : [ \"READ\", \"WRITE\", \"CREATE\", \"LIST\", \"DELETE\" ]"),
        "{acl}"
    );
    assert!(acl.contains("\"type\" : \"WORLD\""), "{acl}");
    assert_eq!(
        env.ok(&[
            "sh",
            "bucket",
            "addacl",
            "--acl",
            "user:bilbo:r,user:frodo:x",
            "/vol1/bucket1"
        ]),
        "ACL user:bilbo:r[ACCESS] already exists.\nACL user:frodo:x[ACCESS] added successfully.\n"
    );
    assert_eq!(
        env.ok(&[
            "sh",
            "bucket",
            "removeacl",
            "-a",
            "world::r,user:sam:a",
            "/vol1/bucket1"
        ]),
        "ACL world::r[ACCESS] removed successfully.\nACL user:sam:a[ACCESS] doesn't exist.\n"
    );
    let acl = env.ok(&["sh", "bucket", "getacl", "/vol1/bucket1"]);
    assert!(acl.contains("\"name\" : \"frodo\"") && !acl.contains("WORLD"), "{acl}");
    // The grants are the bucket's S3 ACL: `bucket info` lists them.
    let info = env.ok(&["sh", "bucket", "info", "/vol1/bucket1"]);
    assert!(
        info.contains("\"name\" : \"frodo\",\n    \"permission\" : \"READ_ACP\""),
        "{info}"
    );
    let e = env.fail(&["sh", "bucket", "setacl", "-a", "group:hadoop:r", "/vol1/bucket1"]);
    assert!(e.contains("group ACLs are not supported"), "{e}");
    let e = env.fail(&["sh", "bucket", "getacl", "/vol1/nosuchbucket"]);
    assert!(e.contains("not found"), "{e}");
    // Through a link: getacl shows the source's ACLs (`-t LINK`: the link's own), and
    // changes go to the source, as Ozone proxies them.
    env.ok(&["sh", "bucket", "link", "/vol1/bucket1", "/vol2/acl-link"]);
    let acl = env.ok(&["sh", "bucket", "getacl", "/vol2/acl-link"]);
    assert!(acl.contains("\"name\" : \"frodo\""), "{acl}");
    let acl = env.ok(&["sh", "bucket", "getacl", "-t", "LINK", "/vol2/acl-link"]);
    assert!(!acl.contains("frodo"), "{acl}");
    env.ok(&["sh", "bucket", "addacl", "-a", "user:merry:r", "/vol2/acl-link"]);
    let acl = env.ok(&["sh", "bucket", "getacl", "/vol1/bucket1"]);
    assert!(acl.contains("\"name\" : \"merry\""), "{acl}");
    env.ok(&["sh", "bucket", "delete", "/vol2/acl-link"]);
    env.ok(&["sh", "bucket", "setacl", "-a", "user:tester:a", "/vol1/bucket1"]);

    // ---- links: the Ozone docs' example ----
    assert_eq!(
        env.ok(&["sh", "bucket", "link", "/vol1/bucket1", "/s3v/common-bucket"]),
        ""
    );
    let info = env.ok(&["sh", "bucket", "info", "/s3v/common-bucket"]);
    assert!(info.contains("\"sourceVolume\" : \"vol1\""), "{info}");
    assert!(info.contains("\"sourceBucket\" : \"bucket1\""), "{info}");
    assert!(info.contains("\"link\" : true"), "{info}");
    let e = env.fail(&["sh", "bucket", "link", "/vol1/bucket1", "/s3v/common-bucket"]);
    assert!(e.contains("already exists"), "{e}");
    // A chain: a link to the link.
    env.ok(&["sh", "bucket", "link", "/s3v/common-bucket", "/s3v/chained"]);

    // ---- keys ----
    let src = env.path("src.bin");
    let data = pattern(3 * 1024 * 1024 + 17, 1);
    write_file(&src, &data);
    let src_s = src.to_str().unwrap();
    assert_eq!(env.ok(&["sh", "key", "put", "/s3v/common-bucket/dir/a.bin", src_s]), "");
    let small = env.path("small.txt");
    write_file(&small, b"hello ozfs\n");
    env.ok(&["sh", "key", "put", "/s3v/chained/dir/b.txt", small.to_str().unwrap()]);
    env.ok(&["sh", "key", "put", "/vol1/bucket1/top.txt", small.to_str().unwrap()]);
    let e = env.fail(&[
        "sh",
        "key",
        "put",
        "/vol1/bucket1/x",
        env.path("missing").to_str().unwrap(),
    ]);
    assert!(e.contains("cannot open"), "{e}");

    // The three keys are in the source bucket, whichever name they were written through.
    let list = env.ok(&["sh", "key", "list", "/vol1/bucket1"]);
    for k in ["dir/a.bin", "dir/b.txt", "top.txt"] {
        assert!(list.contains(&format!("\"name\" : \"{k}\"")), "{k} missing in {list}");
    }
    assert!(list.contains(&format!("\"dataSize\" : {}", data.len())), "{list}");
    let list = env.ok(&["sh", "key", "list", "--prefix", "dir/", "/s3v/chained"]);
    assert!(list.contains("dir/a.bin") && !list.contains("top.txt"), "{list}");
    let list = env.ok(&["sh", "key", "list", "-l", "1", "/vol1/bucket1"]);
    assert!(list.contains("dir/a.bin") && !list.contains("dir/b.txt"), "{list}");
    let list = env.ok(&["sh", "key", "list", "--start", "dir/b.txt", "/vol1/bucket1"]);
    assert!(list.contains("top.txt") && !list.contains("dir/a.bin"), "{list}");
    let info = env.ok(&["sh", "key", "info", "/vol1/bucket1/dir/b.txt"]);
    assert!(
        info.contains("\"dataSize\" : 11") && info.contains("\"ETag\""),
        "{info}"
    );

    // get: to a file, refusing to overwrite, --force, into a directory, to stdout.
    let out = env.path("out.bin");
    let out_s = out.to_str().unwrap();
    assert_eq!(env.ok(&["sh", "key", "get", "/s3v/common-bucket/dir/a.bin", out_s]), "");
    assert!(std::fs::read(&out).unwrap() == data, "downloaded bytes differ");
    let e = env.fail(&["sh", "key", "get", "/vol1/bucket1/dir/a.bin", out_s]);
    assert!(e.contains("exists"), "{e}");
    env.ok(&["sh", "key", "get", "--force", "/vol1/bucket1/dir/b.txt", out_s]);
    assert_eq!(std::fs::read(&out).unwrap(), b"hello ozfs\n");
    let outdir = env.path("outdir");
    std::fs::create_dir(&outdir).unwrap();
    env.ok(&["sh", "key", "get", "/vol1/bucket1/dir/b.txt", outdir.to_str().unwrap()]);
    assert_eq!(std::fs::read(outdir.join("b.txt")).unwrap(), b"hello ozfs\n");
    assert_eq!(
        env.ok(&["sh", "key", "get", "/vol1/bucket1/top.txt", "-"]),
        "hello ozfs\n"
    );
    let e = env.fail(&[
        "sh",
        "key",
        "get",
        "/vol1/bucket1/nokey",
        env.path("nokey").to_str().unwrap(),
    ]);
    assert!(e.contains("key nokey not found"), "{e}");
    assert!(!env.path("nokey").exists(), "a failed get must not leave a file");

    // put from stdin.
    let out = env.run_with_stdin(&["sh", "key", "put", "/vol1/bucket1/stdin.txt", "-"], "from stdin");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        env.ok(&["sh", "key", "get", "/vol1/bucket1/stdin.txt", "-"]),
        "from stdin"
    );

    // rename, delete.
    assert_eq!(
        env.ok(&["sh", "key", "rename", "/vol1/bucket1", "top.txt", "renamed.txt"]),
        ""
    );
    let e = env.fail(&["sh", "key", "info", "/vol1/bucket1/top.txt"]);
    assert!(e.contains("not found"), "{e}");
    env.ok(&["sh", "key", "info", "/vol1/bucket1/renamed.txt"]);
    let e = env.fail(&["sh", "key", "rename", "/vol1/bucket1", "top.txt", "x.txt"]);
    assert!(e.contains("not found"), "{e}");
    assert_eq!(env.ok(&["sh", "key", "delete", "/vol1/bucket1/renamed.txt"]), "");
    let e = env.fail(&["sh", "key", "delete", "/vol1/bucket1/renamed.txt"]);
    assert!(e.contains("not found"), "{e}");

    // ---- dangling link ----
    env.ok(&["sh", "bucket", "link", "/vol1/nothere", "/s3v/dangling"]);
    let info = env.ok(&["sh", "bucket", "info", "/s3v/dangling"]);
    assert!(info.contains("\"sourceBucket\" : \"nothere\""), "{info}");
    assert!(env
        .ok(&["sh", "bucket", "list", "/s3v"])
        .contains("\"name\" : \"dangling\""));
    let e = env.fail(&["sh", "key", "put", "/s3v/dangling/k", small.to_str().unwrap()]);
    assert!(e.contains("not found"), "{e}");
    let e = env.fail(&["sh", "key", "list", "/s3v/dangling"]);
    assert!(e.contains("not found"), "{e}");

    // ---- loop ----
    env.ok(&["sh", "bucket", "link", "/s3v/loop-b", "/s3v/loop-a"]);
    env.ok(&["sh", "bucket", "link", "/s3v/loop-a", "/s3v/loop-b"]);
    let e = env.fail(&["sh", "key", "list", "/s3v/loop-a"]);
    assert!(e.contains("loop"), "{e}");
    let e = env.fail(&["sh", "key", "get", "/s3v/loop-b/k", "-"]);
    assert!(e.contains("loop"), "{e}");

    // ---- deletes ----
    let e = env.fail(&["sh", "bucket", "delete", "/vol1/bucket1"]);
    assert!(e.contains("not empty"), "{e}");
    let e = env.fail(&["sh", "volume", "delete", "/vol1"]);
    assert!(e.contains("not empty"), "{e}");
    assert_eq!(
        env.ok(&["sh", "bucket", "delete", "/s3v/common-bucket"]),
        "Bucket common-bucket is deleted\n"
    );
    // Deleting the link never touches the source.
    env.ok(&["sh", "key", "info", "/vol1/bucket1/dir/a.bin"]);
    for k in ["dir/a.bin", "dir/b.txt", "stdin.txt"] {
        env.ok(&["sh", "key", "delete", &format!("/vol1/bucket1/{k}")]);
    }
    env.ok(&["sh", "bucket", "delete", "/vol1/bucket1"]);
    let e = env.fail(&["sh", "bucket", "info", "/vol1/bucket1"]);
    assert!(e.contains("not found"), "{e}");
    assert_eq!(env.ok(&["sh", "volume", "delete", "/vol1"]), "Volume vol1 is deleted\n");
}

/// `ozfs sh bucket delete` keeps Ozone's refusal of a bucket with an unfinished multipart
/// upload; `-r` (Ozone's recursive delete, with its "yes" question unless `-y`) deletes the keys
/// and takes the uploads with the bucket. The upload is made over S3 by the aws CLI.
fn bucket_delete_with_unfinished_uploads(env: &Env, server: &Server) {
    let endpoint = format!("http://{}", server.addr);
    env.ok(&["sh", "bucket", "create", "/s3v/mpu-left"]);
    let small = env.path("mpu-left.txt");
    write_file(&small, b"k");
    env.ok(&["sh", "key", "put", "/s3v/mpu-left/a/k1", small.to_str().unwrap()]);
    let (ok, out) = aws(
        env,
        "tester",
        "any",
        &[
            "--endpoint-url",
            &endpoint,
            "s3api",
            "create-multipart-upload",
            "--bucket",
            "mpu-left",
            "--key",
            "unfinished",
        ],
    );
    assert!(ok, "{out}");
    env.ok(&["sh", "key", "delete", "/s3v/mpu-left/a/k1"]);
    let e = env.fail(&["sh", "bucket", "delete", "/s3v/mpu-left"]);
    assert!(e.contains("not empty"), "{e}");
    env.ok(&["sh", "key", "put", "/s3v/mpu-left/a/k2", small.to_str().unwrap()]);
    let out = env.run_with_stdin(&["sh", "bucket", "delete", "-r", "/s3v/mpu-left"], "no\n");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("Enter 'yes' to proceed") && text.ends_with("Operation cancelled.\n"),
        "{text}"
    );
    env.ok(&["sh", "key", "info", "/s3v/mpu-left/a/k2"]);
    assert_eq!(
        env.ok(&["sh", "bucket", "delete", "-r", "-y", "/s3v/mpu-left"]),
        "Bucket mpu-left is deleted\n"
    );
    let e = env.fail(&["sh", "bucket", "info", "/s3v/mpu-left"]);
    assert!(e.contains("not found"), "{e}");
}

/// `ozfs sh key info` prints user metadata under its own name (`custom-key1`), as `ozone sh key
/// info` does (Ozone's MultipartUpload and objectputget smoketests read it so).
fn key_info_shows_metadata_by_name(env: &Env, server: &Server) {
    let endpoint = format!("http://{}", server.addr);
    env.ok(&["sh", "bucket", "create", "/s3v/meta-names"]);
    let body = env.path("meta-body.txt");
    write_file(&body, b"m");
    let (ok, out) = aws(
        env,
        "tester",
        "any",
        &[
            "--endpoint-url",
            &endpoint,
            "s3api",
            "put-object",
            "--bucket",
            "meta-names",
            "--key",
            "k",
            "--body",
            body.to_str().unwrap(),
            "--metadata",
            "custom-key1=custom-value1,custom-key2=custom-value2",
            "--tagging",
            "tag-key1=tag-value1",
        ],
    );
    assert!(ok, "{out}");
    let info = env.ok(&["sh", "key", "info", "/s3v/meta-names/k"]);
    assert!(info.contains("\"custom-key1\" : \"custom-value1\""), "{info}");
    assert!(info.contains("\"custom-key2\" : \"custom-value2\""), "{info}");
    assert!(!info.contains("x-amz-meta-"), "{info}");
    assert!(info.contains("\"tag-key1\" : \"tag-value1\""), "{info}");
    env.ok(&["sh", "bucket", "delete", "-r", "-y", "/s3v/meta-names"]);
}

/// Every `ozfs s3` verb. Run in local and in server mode.
fn exercise_s3(env: &Env) {
    let out = env.ok(&["s3", "getsecret"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], "awsAccessKey=tester");
    let secret = lines[1].strip_prefix("awsSecret=").expect("awsSecret= line");
    assert_eq!(secret.len(), 64, "{secret}");
    assert!(secret.bytes().all(|c| c.is_ascii_hexdigit()), "{secret}");

    // Shown once.
    let e = env.fail(&["s3", "getsecret"]);
    assert!(e.contains("already exists"), "{e}");

    // Revocation asks; anything but `y` (or no answer) cancels.
    let out = env.run_with_stdin(&["s3", "revokesecret"], "n\n");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        stdout.starts_with("Enter 'y' to confirm S3 secret revocation for 'tester': "),
        "{stdout}"
    );
    one_line_error(&["s3", "revokesecret"], out);
    env.fail(&["s3", "revokesecret"]); // stdin is /dev/null
    env.fail(&["s3", "getsecret"]); // still there

    let out = env.run_with_stdin(&["s3", "revokesecret"], "y\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("S3 secret revoked.\n"));
    let e = env.fail(&["s3", "revokesecret", "-y"]);
    assert!(e.contains("no S3 secret"), "{e}");

    // A new one, different from the first.
    let out = env.ok(&["s3", "getsecret"]);
    let secret2 = out
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("awsSecret="))
        .unwrap()
        .to_string();
    assert_eq!(secret2.len(), 64);
    assert_ne!(secret2, secret);

    // setsecret: at least 8 characters; the user must have a secret.
    let e = env.fail(&["s3", "setsecret", "-s", "short"]);
    assert!(e.contains('8'), "{e}");
    let out = env.ok(&["s3", "setsecret", "-s", "my-own-secret-1"]);
    assert_eq!(out, "awsAccessKey=tester\nawsSecret=my-own-secret-1\n");
    let e = env.fail(&["s3", "setsecret", "-u", "nobody-here", "-s", "my-own-secret-1"]);
    assert!(e.contains("nobody-here"), "{e}");

    // Other users, export form.
    let out = env.ok(&["s3", "getsecret", "-u", "testuser/scm@EXAMPLE.COM", "-e"]);
    assert!(
        out.starts_with("export AWS_ACCESS_KEY_ID=testuser/scm@EXAMPLE.COM\nexport AWS_SECRET_ACCESS_KEY="),
        "{out}"
    );
    let out = env.ok(&["s3", "revokesecret", "-y", "-u", "testuser/scm@EXAMPLE.COM"]);
    assert_eq!(out, "S3 secret revoked.\n");
    env.ok(&["s3", "revokesecret", "-y"]);
}

#[test]
fn sh_and_s3_in_local_mode() {
    let env = Env::new();
    exercise_sh(&env);
    exercise_s3(&env);
}

#[test]
fn sh_and_s3_through_a_running_server() {
    let env = Env::new();
    // The store exists before the server starts, and a stale server file (dead pid) is ignored.
    env.ok(&["sh", "volume", "list"]);
    let mut dead = Command::new("true").spawn().expect("spawn true");
    let dead_pid = dead.id();
    dead.wait().unwrap();
    std::fs::write(
        env.data().join("server.info"),
        format!("address=127.0.0.1:1\ntoken=stale\npid={dead_pid}\n"),
    )
    .unwrap();
    env.ok(&["sh", "volume", "list"]);

    let server = Server::start(&env);
    let info = std::fs::read_to_string(env.data().join("server.info")).unwrap();
    assert!(info.contains(&format!("address={}", server.addr)), "{info}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.data().join("server.info"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "server file must be private");

    exercise_sh(&env);
    exercise_s3(&env);
    bucket_delete_with_unfinished_uploads(&env, &server);
    key_info_shows_metadata_by_name(&env, &server);

    // A wrong token is refused, in one line.
    let good = std::fs::read_to_string(env.data().join("server.info")).unwrap();
    let bad: String = good
        .lines()
        .map(|l| {
            if l.starts_with("token=") {
                "token=wrong".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(env.data().join("server.info"), bad).unwrap();
    let e = env.fail(&["sh", "volume", "list"]);
    assert!(e.contains("token"), "{e}");
    std::fs::write(env.data().join("server.info"), good).unwrap();

    // Clean exit removes the server file; the store is usable directly again.
    assert!(server.stop(), "ozfs serve should exit 0 on SIGTERM");
    assert!(!env.data().join("server.info").exists());
    env.ok(&["sh", "volume", "info", "/s3v"]);
}

#[test]
fn help_on_every_command() {
    let env = Env::new();
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["mount"],
        &["sh"],
        &["sh", "volume"],
        &["sh", "volume", "create"],
        &["sh", "volume", "list"],
        &["sh", "volume", "info"],
        &["sh", "volume", "delete"],
        &["sh", "bucket"],
        &["sh", "bucket", "create"],
        &["sh", "bucket", "list"],
        &["sh", "bucket", "info"],
        &["sh", "bucket", "delete"],
        &["sh", "bucket", "link"],
        &["sh", "bucket", "getacl"],
        &["sh", "bucket", "setacl"],
        &["sh", "bucket", "addacl"],
        &["sh", "bucket", "removeacl"],
        &["sh", "key"],
        &["sh", "key", "put"],
        &["sh", "key", "get"],
        &["sh", "key", "list"],
        &["sh", "key", "info"],
        &["sh", "key", "delete"],
        &["sh", "key", "rename"],
        &["s3"],
        &["s3", "getsecret"],
        &["s3", "revokesecret"],
        &["s3", "setsecret"],
    ];
    for c in commands {
        let mut args = c.to_vec();
        args.push("--help");
        let out = env.ok(&args);
        assert!(out.contains("Usage: ozfs"), "ozfs {args:?} --help: {out}");
    }
    assert!(env.ok(&["--version"]).starts_with("ozfs "));
}

#[test]
fn usage_errors_are_one_line() {
    let env = Env::new();
    for args in [
        &["sh", "volume", "frobnicate"][..],
        &["sh", "key", "put", "/v/b/k"],
        &["s3", "setsecret"],
        &["serve", "--cache-size", "lots"],
        &["serve", "--listen", "not-an-address"],
        &["nosuchcommand"],
        &["sh", "key", "get", "/v/b", "-"],
    ] {
        env.fail(args);
    }
    let out = env.run(&["sh", "volume", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn config_file_and_environment() {
    let env = Env::new();
    // DATA/ozfs.conf sets the S3 volume; the environment beats it; a typo is reported.
    std::fs::create_dir_all(env.data()).unwrap();
    std::fs::write(env.data().join("ozfs.conf"), "s3-volume = filevol\n").unwrap();
    env.ok(&["sh", "volume", "info", "/filevol"]);
    let out = env
        .cmd(&["sh", "volume", "info", "/envvol"])
        .env("OZFS_S3_VOLUME", "envvol")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_bounded(out, &["sh", "volume", "info", "/envvol"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(env.data().join("ozfs.conf"), "cahce-size = 1G\n").unwrap();
    let e = env.fail(&["sh", "volume", "list"]);
    assert!(e.contains("cahce-size"), "{e}");
    // --data beats $OZFS_DATA.
    std::fs::remove_file(env.data().join("ozfs.conf")).unwrap();
    let other = env.path("other");
    env.ok(&[
        "sh",
        "volume",
        "create",
        "--data",
        other.to_str().unwrap(),
        "/only-there",
    ]);
    env.ok(&["sh", "volume", "info", "--data", other.to_str().unwrap(), "/only-there"]);
    env.fail(&["sh", "volume", "info", "/only-there"]);
}

/// Unmounts (lazily) a mount this test made if the test fails before unmounting it.
struct LazyUnmount(PathBuf);

impl Drop for LazyUnmount {
    fn drop(&mut self) {
        if is_mounted(&self.0) {
            let _ = Command::new("fusermount3").arg("-u").arg("-z").arg(&self.0).status();
        }
    }
}

/// `ozfs serve --mount`: one process serves a bucket over S3 and as a mount; a key written
/// through the server is a file at once, a file written on the mount is a key; SIGTERM unmounts.
#[test]
fn serve_with_a_mount() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: install fuse3 (scripts/test-deps-fuse.sh)"
    );
    let env = Env::new();
    env.ok(&["sh", "bucket", "create", "/s3v/bucket1"]);
    let mnt = env.path("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let spec = format!("bucket1:{}", mnt.display());
    let server = Server::start_with(&env, &["--mount", &spec], &[]);
    assert!(is_mounted(&mnt), "{} is not mounted", mnt.display());

    // Through the server (admin API → the shared store) → visible on the mount.
    let src = env.path("src.txt");
    write_file(&src, b"written through the server\n");
    env.ok(&[
        "sh",
        "key",
        "put",
        "/s3v/bucket1/dir/from-server.txt",
        src.to_str().unwrap(),
    ]);
    wait_until("the key to appear on the mount", Duration::from_secs(20), || {
        std::fs::read(mnt.join("dir/from-server.txt")).ok().as_deref() == Some(&b"written through the server\n"[..])
    });

    // On the mount → a key.
    std::fs::write(mnt.join("from-mount.txt"), b"written on the mount").unwrap();
    assert_eq!(
        env.ok(&["sh", "key", "get", "/s3v/bucket1/from-mount.txt", "-"]),
        "written on the mount"
    );

    assert!(server.stop(), "ozfs serve should exit 0 on SIGTERM");
    assert!(!is_mounted(&mnt), "SIGTERM must unmount {}", mnt.display());

    // A mount that cannot work is a one-line error before serving.
    let e = one_line_error(
        &["serve", "--mount"],
        env.run(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--mount",
            "nobucket:/nonexistent/dir",
        ]),
    );
    assert!(e.contains("/nonexistent/dir"), "{e}");
}

/// `ozfs serve --backend`: a second server in front of the first one (the scale-out shape: ozfs
/// as a caching client of another S3 endpoint); CLI commands on the front server reach the
/// back server's store.
#[test]
fn serve_in_front_of_another_s3_endpoint() {
    let back_env = Env::new();
    let back = Server::start(&back_env);
    back_env.ok(&["sh", "bucket", "create", "/s3v/shared"]);

    let front_env = Env::new();
    let url = format!("http://{}", back.addr);
    let creds = [("AWS_ACCESS_KEY_ID", "tester"), ("AWS_SECRET_ACCESS_KEY", "anything")];
    let e = front_env.fail(&["serve", "--listen", "127.0.0.1:0", "--backend", &url]);
    assert!(e.contains("AWS_ACCESS_KEY_ID"), "{e}");
    let front = Server::start_with(&front_env, &["--backend", &url], &creds);

    let src = front_env.path("k.txt");
    write_file(&src, b"through two servers");
    front_env.ok(&["sh", "key", "put", "/s3v/shared/k.txt", src.to_str().unwrap()]);
    assert_eq!(
        back_env.ok(&["sh", "key", "get", "/s3v/shared/k.txt", "-"]),
        "through two servers"
    );
    assert_eq!(
        front_env.ok(&["sh", "key", "get", "/s3v/shared/k.txt", "-"]),
        "through two servers"
    );
    let list = front_env.ok(&["sh", "key", "list", "/s3v/shared"]);
    assert!(list.contains("\"name\" : \"k.txt\""), "{list}");
    // Secrets stay with the front server's data directory.
    assert!(front_env.ok(&["s3", "getsecret"]).starts_with("awsAccessKey=tester\n"));

    assert!(front.stop());
    assert!(back.stop());
}

/// An `ozfs mount` on the embedded store holds the data directory and has no admin API: the CLI
/// says so in one sentence (never a database lock error), and works again after the unmount.
#[test]
fn store_held_by_a_mount() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: install fuse3 (scripts/test-deps-fuse.sh)"
    );
    let env = Env::new();
    env.ok(&["sh", "bucket", "create", "/s3v/bucket1"]);
    let mnt = env.path("mnt");
    std::fs::create_dir(&mnt).unwrap();
    // `ozfs mount` goes to the background once the mount works.
    env.ok(&[
        "mount",
        "--data",
        env.data().to_str().unwrap(),
        "bucket1",
        mnt.to_str().unwrap(),
    ]);
    let guard = LazyUnmount(mnt.clone());
    assert!(is_mounted(&mnt));
    let e = env.fail(&["sh", "volume", "list"]);
    assert!(e.contains("in use by another ozfs process"), "{e}");
    assert!(!e.to_lowercase().contains("database"), "{e}");
    let e = env.fail(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(e.contains("in use by another ozfs process"), "{e}");

    let st = Command::new("umount").arg(&mnt).status().expect("umount");
    assert!(st.success());
    std::mem::forget(guard);
    // The mount process exits after the unmount and releases the store.
    wait_until(
        "the mount process to release the store",
        Duration::from_secs(20),
        || env.run(&["sh", "volume", "list"]).status.success(),
    );
}

/// `ozfs sh key get … - | head -c1`: when the reader goes away the command ends quietly (killed
/// by SIGPIPE like other Unix tools), with no error message and no panic.
#[test]
fn closed_stdout_is_quiet() {
    use std::os::unix::process::ExitStatusExt;
    let env = Env::new();
    env.ok(&["sh", "bucket", "create", "/s3v/bucket1"]);
    let src = env.path("big.bin");
    write_file(&src, &pattern(4 * 1024 * 1024, 7));
    env.ok(&["sh", "key", "put", "/s3v/bucket1/big.bin", src.to_str().unwrap()]);
    let mut child = env
        .cmd(&["sh", "key", "get", "/s3v/bucket1/big.bin", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = wait_bounded(child, &["sh", "key", "get"]);
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Several `ozfs sh` commands at once in local mode: each waits its turn for the data
/// directory instead of failing on the lock.
#[test]
fn concurrent_local_commands_take_turns() {
    let env = Env::new();
    env.ok(&["sh", "bucket", "create", "/s3v/bucket1"]);
    let src = env.path("v.txt");
    write_file(&src, b"v");
    let children: Vec<_> = (0..6)
        .map(|i| {
            env.cmd(&["sh", "key", "put", &format!("/s3v/bucket1/k{i}"), src.to_str().unwrap()])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = wait_bounded(c, &["sh", "key", "put"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let list = env.ok(&["sh", "key", "list", "/s3v/bucket1"]);
    assert_eq!(list.matches("\"name\"").count(), 6, "{list}");
}

/// Run the aws CLI with these credentials; returns (success, stdout + stderr).
fn aws(env: &Env, access: &str, secret: &str, args: &[&str]) -> (bool, String) {
    let out = aws_command(env.dir.path(), access, secret)
        .args(args)
        .spawn()
        .expect("the aws CLI is missing: run scripts/test-deps-s3.sh");
    let out = wait_bounded(out, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The examples of Ozone's S3 page, with `ozfs` in place of `ozone` (as the README shows them):
/// the aws CLI on the endpoint, `ozfs sh bucket link`, the goofys line as `ozfs mount
/// --endpoint`, and `ozfs s3 getsecret` keys on a `--secure` server.
#[test]
fn seed_page_examples() {
    let env = Env::new();
    let server = Server::start(&env);
    let ep = format!("http://{}", server.addr);
    let ep = ep.as_str();
    let (any_key, any_secret) = ("testuser", "anything");

    let (ok, out) = aws(
        &env,
        any_key,
        any_secret,
        &["s3api", "--endpoint", ep, "create-bucket", "--bucket", "buckettest"],
    );
    assert!(ok, "{out}");
    let f = env.path("hello.txt");
    write_file(&f, b"hello from aws\n");
    let (ok, out) = aws(
        &env,
        any_key,
        any_secret,
        &[
            "s3",
            "cp",
            f.to_str().unwrap(),
            "s3://buckettest/hello.txt",
            "--endpoint",
            ep,
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = aws(
        &env,
        any_key,
        any_secret,
        &["s3", "ls", "--endpoint", ep, "s3://buckettest"],
    );
    assert!(ok && out.contains("hello.txt"), "{out}");

    // Expose any volume.
    env.ok(&["sh", "volume", "create", "/vol1"]);
    env.ok(&["sh", "bucket", "create", "/vol1/bucket1"]);
    env.ok(&["sh", "bucket", "link", "/vol1/bucket1", "/s3v/common-bucket"]);
    let (ok, out) = aws(
        &env,
        any_key,
        any_secret,
        &[
            "s3",
            "cp",
            f.to_str().unwrap(),
            "s3://common-bucket/via-link.txt",
            "--endpoint",
            ep,
        ],
    );
    assert!(ok, "{out}");
    assert!(env
        .ok(&["sh", "key", "list", "/vol1/bucket1"])
        .contains("\"name\" : \"via-link.txt\""));
    let (ok, out) = aws(&env, any_key, any_secret, &["s3", "ls", "--endpoint", ep]);
    assert!(
        ok && out.contains("common-bucket") && out.contains("buckettest"),
        "{out}"
    );

    // The goofys line, with ozfs mount.
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: install fuse3 (scripts/test-deps-fuse.sh)"
    );
    let mnt = env.path("bucket1-mnt");
    std::fs::create_dir(&mnt).unwrap();
    let out = env
        .cmd(&["mount", "--endpoint", ep, "buckettest", mnt.to_str().unwrap()])
        .env("AWS_ACCESS_KEY_ID", any_key)
        .env("AWS_SECRET_ACCESS_KEY", any_secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_bounded(out, &["mount", "--endpoint", ep]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let guard = LazyUnmount(mnt.clone());
    assert_eq!(std::fs::read(mnt.join("hello.txt")).unwrap(), b"hello from aws\n");
    assert!(Command::new("umount").arg(&mnt).status().unwrap().success());
    std::mem::forget(guard);
    assert!(server.stop());

    // Security on: only keys from `ozfs s3 getsecret`.
    let server = Server::start_with(&env, &["--secure"], &[]);
    let ep = format!("http://{}", server.addr);
    let ep = ep.as_str();
    let user = "testuser/scm@EXAMPLE.COM";
    let out = env.ok(&["s3", "getsecret", "-u", user]);
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("awsSecret="))
        .unwrap()
        .to_string();
    let (ok, out) = aws(
        &env,
        user,
        &secret,
        &["s3api", "--endpoint", ep, "create-bucket", "--bucket", "bucket1"],
    );
    assert!(ok, "{out}");
    let (ok, out) = aws(&env, user, "not-the-secret", &["s3", "ls", "--endpoint", ep]);
    assert!(!ok && out.contains("SignatureDoesNotMatch"), "{out}");
    let (ok, out) = aws(&env, "nobody", "whatever", &["s3", "ls", "--endpoint", ep]);
    assert!(!ok && out.contains("InvalidAccessKeyId"), "{out}");
    // Revoked: the key stops working.
    env.ok(&["s3", "revokesecret", "-y", "-u", user]);
    let (ok, out) = aws(&env, user, &secret, &["s3", "ls", "--endpoint", ep]);
    assert!(!ok, "{out}");
    assert!(server.stop());
}

/// A server that holds the data directory but never answers: the command gives up after the
/// bounded liveness check with one line, instead of hanging.
#[test]
fn hung_server_is_reported_not_waited_for() {
    let env = Env::new();
    env.ok(&["sh", "volume", "list"]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Alive pid (this test), a port that accepts connections and never answers.
    std::fs::write(
        env.data().join("server.info"),
        format!("address={addr}\ntoken=t\npid={}\n", std::process::id()),
    )
    .unwrap();
    let accepted = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
    let start = Instant::now();
    let e = env.fail(&["sh", "volume", "list"]);
    assert!(e.contains("did not answer"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());
    drop(accepted.join());
}
