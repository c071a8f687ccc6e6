//! End-to-end tests of the `ozfs` command line. They run the real binary against a temporary
//! data directory: every `ozfs sh` / `ozfs s3` verb once with the CLI opening the embedded store
//! itself ("local mode"), and once more while an `ozfs serve` holds the data directory, so the
//! same commands go through the server's admin API ("server mode"). Both runs expect the same
//! output and the same one-line errors.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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
        self.cmd(args).output().expect("run ozfs")
    }

    fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ozfs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait ozfs")
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
fn help_on_every_command() {
    let env = Env::new();
    let commands: &[&[&str]] = &[
        &[],
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
        .output()
        .unwrap();
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
