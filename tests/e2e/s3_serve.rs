//! The end-to-end S3 suite against the real `ozfs serve` binary (LocalStore behind the page
//! cache, admin API, `ozfs sh` / `ozfs s3` for links and secrets), with the same Python client
//! scenarios (`tests/e2e/s3_*.py`: boto3, the aws CLI, s3cmd) the gateway package runs
//! in-process.
//!
//! It needs the `ozfs` binary, so it is a test of the package that builds it:
//! `fuse/Cargo.toml` registers it as `[[test]] name = "s3_serve" path = "../tests/e2e/s3_serve.rs"`.
//! Run: `cargo test -p ozfs-fuse --test s3_serve`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

fn ozfs() -> &'static str {
    env!("CARGO_BIN_EXE_ozfs")
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

fn deps() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let r = DONE.get_or_init(|| {
        // Installed up front by scripts/test.sh; `--check` installs nothing.
        let out = Command::new("sh")
            .arg(repo_root().join("scripts/test-deps-s3.sh"))
            .arg("--check")
            .output()
            .map_err(|e| format!("cannot run scripts/test-deps-s3.sh --check: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    if let Err(e) = r {
        panic!("the S3 clients (awscli, boto3, s3cmd) are required: {e}");
    }
}

/// A running `ozfs serve`; killed (by its pid) and reaped on drop.
struct Serve {
    child: Child,
    endpoint: String,
    data: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(extra: &[&str]) -> Serve {
    let data = tempfile::tempdir().expect("data dir");
    let mut child = Command::new(ozfs())
        .arg("serve")
        .arg("--data")
        .arg(data.path())
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ozfs serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("ozfs: serving S3 on ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let endpoint = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(e) => e,
        Err(_) => {
            let _ = child.kill();
            panic!("ozfs serve did not print its readiness line within 60 s");
        }
    };
    Serve { child, endpoint, data }
}

fn cli(data: &Path, args: &[&str]) -> String {
    let out = Command::new(ozfs())
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("run ozfs");
    assert!(
        out.status.success(),
        "ozfs {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_script(s: &Serve, script: &str, env: &[(&str, String)]) {
    deps();
    let t0 = Instant::now();
    let dir = repo_root().join("tests/e2e");
    let home = tempfile::tempdir().expect("home");
    let mut cmd = Command::new("python3");
    cmd.arg(dir.join(script))
        .current_dir(&dir)
        .env("OZFS_S3_ENDPOINT", &s.endpoint)
        .env("PYTHONPATH", &dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("aws-credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{script} ({:.1?}):\n{stdout}", t0.elapsed());
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn serve_boto3_every_operation() {
    let _g = serial();
    let s = serve(&[]);
    run_script(&s, "s3_boto3_ops.py", &[]);
}

#[test]
fn serve_bucket_configuration_attributes_and_conditional_writes() {
    let _g = serial();
    let s = serve(&[]);
    run_script(&s, "s3_bucket_config.py", &[]);
}

/// The lifecycle sweep of the embedded store, every second here.
#[test]
fn serve_lifecycle_sweep_expires_objects() {
    let _g = serial();
    let s = serve(&["--lifecycle-interval", "1s"]);
    run_script(&s, "s3_lifecycle_sweep.py", &[]);
}

#[test]
fn serve_flexible_checksums() {
    let _g = serial();
    let s = serve(&[]);
    run_script(&s, "s3_checksums.py", &[]);
}

#[test]
fn serve_aws_cli_and_s3cmd() {
    let _g = serial();
    let s = serve(&[]);
    run_script(&s, "s3_awscli.py", &[]);
    run_script(&s, "s3_s3cmd.py", &[]);
}

#[test]
fn serve_secure_with_getsecret() {
    let _g = serial();
    let s = serve(&["--secure"]);
    let mut users = Vec::new();
    for u in ["alice", "bob"] {
        let out = cli(s.data.path(), &["s3", "getsecret", "-u", u]);
        let secret = out
            .lines()
            .find_map(|l| l.strip_prefix("awsSecret="))
            .unwrap_or_else(|| panic!("no awsSecret in {out:?}"));
        users.push(format!("{u}:{}", secret.trim()));
    }
    run_script(
        &s,
        "s3_secure.py",
        &[("OZFS_S3_SECURE", "1".into()), ("OZFS_S3_USERS", users.join(","))],
    );
}

#[test]
fn serve_bucket_links_made_with_ozfs_sh() {
    let _g = serial();
    let s = serve(&[]);
    let d = s.data.path();
    let file = d.join("from-source.txt");
    std::fs::write(&file, b"linked data").expect("file");
    cli(d, &["sh", "volume", "create", "/vol1"]);
    cli(d, &["sh", "bucket", "create", "/vol1/source-bucket"]);
    cli(
        d,
        &[
            "sh",
            "key",
            "put",
            "/vol1/source-bucket/from-source.txt",
            file.to_str().expect("utf-8 path"),
        ],
    );
    cli(d, &["sh", "bucket", "link", "/vol1/source-bucket", "/s3v/link"]);
    cli(d, &["sh", "bucket", "link", "/vol1/missing", "/s3v/dangling"]);
    run_script(&s, "s3_links.py", &[]);
}

#[test]
fn serve_virtual_host() {
    let _g = serial();
    let s = serve(&["--domain", "s3.ozfs.test"]);
    run_script(&s, "s3_vhost.py", &[("OZFS_S3_DOMAIN", "s3.ozfs.test".into())]);
}

/// `ozfs serve` started with a low soft limit on open descriptors raises it to the hard limit
/// (it holds 256 store directories and up to 1,024 connections), and serves.
#[test]
fn serve_raises_its_open_file_limit() {
    use std::io::{Read as _, Write as _};
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 300 && exec '{}' serve --listen 127.0.0.1:0 --data '{}'",
            ozfs(),
            data.path().display()
        ))
        .stdout(Stdio::piped())
        .spawn()
        .expect("bash is missing");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let row = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    let nums: Vec<u64> = row.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    let addr = line.trim().rsplit("http://").next().unwrap().to_string();
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("serving S3 on"), "{line}");
    assert_eq!(nums.len(), 2, "{row}");
    assert!(
        nums[0] > 300 && nums[0] == nums[1].min(1 << 20),
        "soft limit not raised: {row}"
    );
    assert!(resp.starts_with("HTTP/1.1 "), "{resp}");
}
