//! Fault injection against RemoteStore through the real binary: a fault-injecting proxy
//! (`fault_proxy.rs`) between an `ozfs serve` backend and `ozfs mount --endpoint` /
//! `ozfs serve --backend`. The tests show that what is safe to retry is retried, that what is
//! not surfaces as a clean error (EIO at close or read, an S3 error over the door), that no
//! FUSE request waits past the backend deadline on a stalled backend, that truncated bodies
//! never read as success, and that data a client saw acknowledged is in the backend.
//!
//! Needs fuse3 (scripts/test-deps-fuse.sh) and the aws CLI (scripts/test-deps-s3.sh).

#[path = "fault_proxy.rs"]
mod fault_proxy;
#[path = "serve_common.rs"]
mod serve_common;

use fault_proxy::{Fault, Proxy, Rule};
use serve_common::{aws_command, is_mounted, output_within, ozfs, Server};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Bound on any one command of these tests (a hang detector, not a speed check).
const COMMAND_BOUND: Duration = Duration::from_secs(120);

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + i / 4093) as u8).wrapping_add(seed)).collect()
}

/// Run a shell script with a bound; panics when it does not finish in time.
fn sh(script: &str) -> Output {
    let child = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    output_within(child, COMMAND_BOUND).unwrap_or_else(|| panic!("`{script}` did not finish within {COMMAND_BOUND:?}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// An `ozfs serve` backend with bucket `bucket1`, and a proxy in front of it.
fn backend() -> (Server, Proxy) {
    let server = Server::start();
    server.sh(&["sh", "bucket", "create", "/s3v/bucket1"]);
    let port: u16 = server.addr.rsplit(':').next().unwrap().parse().unwrap();
    let proxy = Proxy::start(port);
    (server, proxy)
}

/// `ozfs mount --endpoint` (backgrounds once mounted); unmounted on drop.
struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    fn new(endpoint: &str, extra: &[&str]) -> Mount {
        Mount::with_env(endpoint, extra, &[])
    }

    fn with_env(endpoint: &str, extra: &[&str], env: &[(&str, &str)]) -> Mount {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(ozfs());
        cmd.args([
            "mount",
            "--endpoint",
            endpoint,
            "--stat-cache-ttl",
            "0s",
            "--type-cache-ttl",
            "0s",
        ])
        .args(extra)
        .arg("bucket1")
        .arg(dir.path())
        .env("AWS_ACCESS_KEY_ID", "tester")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = output_within(cmd.spawn().unwrap(), COMMAND_BOUND).expect("ozfs mount did not return");
        assert!(out.status.success(), "ozfs mount: {}", text(&out));
        assert!(is_mounted(dir.path()));
        Mount { dir }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let p = self.dir.path().to_path_buf();
        if is_mounted(&p) {
            let ok = Command::new("umount")
                .arg(&p)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(&p).status();
            }
        }
    }
}

#[test]
fn mount_retries_throttling_5xx_and_resets_and_loses_nothing() {
    let (server, proxy) = backend();
    let m = Mount::new(&proxy.endpoint(), &[]);
    let data = pattern(3 << 20, 1);
    let src = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(src.path(), &data).unwrap();

    // writes: the PUT meets two 503 SlowDown and one 500 first
    proxy.add(Rule::new("PUT", "", Fault::SlowDown, 2));
    proxy.add(Rule::new("PUT", "", Fault::InternalError, 1));
    let o = sh(&format!("cp {} {}", src.path().display(), m.p("a.bin").display()));
    assert!(o.status.success(), "cp through 503/500: {}", text(&o));
    let injected = proxy.clear();
    assert_eq!(injected, vec![(Fault::SlowDown, 2), (Fault::InternalError, 1)]);
    // acknowledged (close returned 0): it is in the backend
    assert!(server.get("a.bin") == data, "a.bin in the backend differs");

    // reads: a page GET is reset mid-body, another gets a 503, a listing gets a 500
    proxy.add(Rule::new("GET", "range", Fault::ResetMidBody, 1));
    proxy.add(Rule::new("GET", "range", Fault::SlowDown, 1));
    proxy.add(Rule::new("GET", "list-type", Fault::InternalError, 1));
    let o = sh(&format!("ls {}", m.path().display()));
    assert!(o.status.success() && text(&o).contains("a.bin"), "ls: {}", text(&o));
    let got = std::fs::read(m.p("a.bin")).expect("read through a reset and a 503");
    assert!(got == data, "read back differs");
    let injected = proxy.clear();
    assert!(
        injected.iter().all(|(_, n)| *n == 1),
        "every fault was injected: {injected:?}"
    );
}

#[test]
fn mount_surfaces_persistent_faults_as_errors_and_never_returns_truncated_bytes() {
    let (server, proxy) = backend();
    let m = Mount::new(&proxy.endpoint(), &[]);
    let data = pattern(2 << 20, 7);
    let src = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(src.path(), &data).unwrap();
    let o = sh(&format!("cp {} {}", src.path().display(), m.p("good.bin").display()));
    assert!(o.status.success(), "{}", text(&o));

    // every PUT fails: the write is reported at close (cp fails), and nothing is in the backend
    proxy.add(Rule::new("PUT", "", Fault::InternalError, 1000));
    let o = sh(&format!("cp {} {}", src.path().display(), m.p("bad.bin").display()));
    assert!(
        !o.status.success(),
        "cp succeeded although every PUT failed: {}",
        text(&o)
    );
    assert!(
        text(&o).contains("Input/output error") || text(&o).contains("Resource temporarily unavailable"),
        "{}",
        text(&o)
    );
    assert!(proxy.clear()[0].1 > 1, "the PUT was retried");
    assert!(!server.keys().contains("bad.bin"), "{}", server.keys());

    // every body GET is cut short in one of three ways: reads fail, never short data
    for fault in [Fault::Truncate, Fault::ShortContentLength, Fault::LongContentLength] {
        proxy.add(Rule::new("GET", "range", fault, 1000));
        let o = sh(&format!("cat {} | wc -c", m.p("good.bin").display()));
        let o2 = sh(&format!("cat {} > /dev/null", m.p("good.bin").display()));
        let n = proxy.clear();
        assert!(n[0].1 > 0, "{fault:?} was injected");
        assert!(
            !o2.status.success(),
            "{fault:?}: cat succeeded on cut bodies: {}",
            text(&o2)
        );
        let count: usize = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap_or(0);
        assert!(
            count < data.len(),
            "{fault:?}: all {count} bytes read although every body was cut"
        );
    }
    // with the faults gone, the same file reads whole
    assert!(std::fs::read(m.p("good.bin")).unwrap() == data);
}

#[test]
fn session_token_goes_with_every_request() {
    let (_server, proxy) = backend();
    // every request carrying the token meets one 503 first: the count proves the header is sent
    // (the signer signs every header it is given, so it is covered by the signature too)
    proxy.add(Rule::new("", "x-amz-security-token: tok-e2e-123", Fault::SlowDown, 1));
    let m = Mount::with_env(&proxy.endpoint(), &[], &[("AWS_SESSION_TOKEN", "tok-e2e-123")]);
    let o = sh(&format!("echo hi > {f} && cat {f}", f = m.p("t.txt").display()));
    assert!(o.status.success() && text(&o).contains("hi"), "{}", text(&o));
    assert_eq!(proxy.injected(), vec![(Fault::SlowDown, 1)]);
    proxy.clear();
    // and the header is in the signed list (`SignedHeaders=…;x-amz-security-token…`)
    proxy.add(Rule::new("PUT", ";x-amz-security-token", Fault::SlowDown, 1));
    let o = sh(&format!("echo again > {}", m.p("u.txt").display()));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        proxy.clear(),
        vec![(Fault::SlowDown, 1)],
        "x-amz-security-token is not in SignedHeaders"
    );
}

#[test]
fn stalled_backend_fuse_requests_fail_within_the_backend_deadline() {
    let (_server, proxy) = backend();
    // a long HTTP timeout, so the deadline (not the per-request timeout) is what bounds
    let m = Mount::new(
        &proxy.endpoint(),
        &["--backend-deadline", "3s", "--http-timeout", "10m"],
    );
    let o = sh(&format!(
        "mkdir {d}/dir && echo hello > {d}/dir/f && echo data > {d}/file",
        d = m.path().display()
    ));
    assert!(o.status.success(), "{}", text(&o));
    // a fresh mount: nothing cached
    drop(m);
    let m = Mount::new(
        &proxy.endpoint(),
        &["--backend-deadline", "3s", "--http-timeout", "10m"],
    );

    proxy.add(Rule::new("", "", Fault::Stall, usize::MAX));
    let cases = [
        ("lookup", format!("stat {}", m.p("file").display())),
        ("readdir", format!("ls {}", m.p("dir").display())),
        ("read", format!("cat {}", m.p("dir/f").display())),
        ("write", format!("echo x > {}", m.p("new").display())),
    ];
    for (what, script) in &cases {
        let child = Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // 20 deadlines is the hang detector: a request that waits on the stalled backend
        // without bound never finishes
        match output_within(child, Duration::from_secs(60)) {
            Some(o) => assert!(
                !o.status.success(),
                "{what} succeeded against a stalled backend: {}",
                text(&o)
            ),
            None => {
                proxy.release_stalls();
                panic!("{what} hung on a stalled backend past the backend deadline");
            }
        }
    }
    assert!(proxy.injected()[0].1 >= cases.len(), "{:?}", proxy.injected());
    proxy.clear();
    proxy.release_stalls();
}

/// `ozfs serve --backend` in front of the proxy; the aws CLI (its own retries off) talks to it.
struct Front {
    child: Child,
    endpoint: String,
    _data: tempfile::TempDir,
}

impl Front {
    fn start(backend: &str) -> Front {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(ozfs())
            .args(["serve", "--listen", "127.0.0.1:0", "--backend", backend, "--data"])
            .arg(data.path())
            .env("AWS_ACCESS_KEY_ID", "tester")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("ozfs: serving S3 on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Front {
            child,
            endpoint: addr,
            _data: data,
        }
    }

    fn aws(&self, args: &[&str]) -> Output {
        let home = tempfile::tempdir().unwrap();
        let child = aws_command(home.path(), "tester", "secret")
            .args(args)
            .args(["--endpoint-url", &self.endpoint])
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_RETRY_MODE", "standard")
            .spawn()
            .expect("the aws CLI is missing: run scripts/test-deps-s3.sh");
        output_within(child, COMMAND_BOUND).unwrap_or_else(|| panic!("aws {args:?} did not finish"))
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_backend_retries_what_is_safe_and_answers_s3_errors_for_the_rest() {
    let (server, proxy) = backend();
    let front = Front::start(&proxy.endpoint());
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    let data = pattern(3 << 20, 3);
    std::fs::write(&src, &data).unwrap();
    let src = src.to_str().unwrap();

    // retried by ozfs: 503 SlowDown twice and a reset answer on the PUT
    proxy.add(Rule::new("PUT", "", Fault::SlowDown, 2));
    proxy.add(Rule::new("PUT", "", Fault::InternalError, 1));
    let o = front.aws(&["s3", "cp", src, "s3://bucket1/k1"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(proxy.clear(), vec![(Fault::SlowDown, 2), (Fault::InternalError, 1)]);
    assert!(server.get("k1") == data);

    // not recoverable: a clean S3 error over the door, and nothing half-written
    proxy.add(Rule::new("PUT", "", Fault::InternalError, 1000));
    let o = front.aws(&[
        "s3api",
        "put-object",
        "--bucket",
        "bucket1",
        "--key",
        "k2",
        "--body",
        src,
    ]);
    assert!(
        !o.status.success() && text(&o).contains("InternalError"),
        "{}",
        text(&o)
    );
    proxy.clear();
    assert!(!server.keys().contains("k2"));

    // a 200 carrying an <Error> on CopyObject: retried once, then (persistent) an error status
    proxy.add(Rule::new("PUT", "x-amz-copy-source", Fault::ErrorIn200, 1));
    let o = front.aws(&[
        "s3api",
        "copy-object",
        "--bucket",
        "bucket1",
        "--key",
        "k3",
        "--copy-source",
        "bucket1/k1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(proxy.clear(), vec![(Fault::ErrorIn200, 1)]);
    assert!(server.get("k3") == data);
    proxy.add(Rule::new("PUT", "x-amz-copy-source", Fault::ErrorIn200, 1000));
    let o = front.aws(&[
        "s3api",
        "copy-object",
        "--bucket",
        "bucket1",
        "--key",
        "k4",
        "--copy-source",
        "bucket1/k1",
    ]);
    assert!(
        !o.status.success(),
        "a 200-with-Error copy was reported as success: {}",
        text(&o)
    );
    assert!(text(&o).contains("InternalError"), "{}", text(&o));
    // the status line over the door is an error status, not the backend's 200 (urllib3's
    // debug line: "PUT /bucket1/k5 HTTP/1.1" 500 …)
    let o = front.aws(&[
        "--debug",
        "s3api",
        "copy-object",
        "--bucket",
        "bucket1",
        "--key",
        "k5",
        "--copy-source",
        "bucket1/k1",
    ]);
    let debug = text(&o);
    let line = debug
        .lines()
        .find(|l| l.contains("\"PUT /bucket1/k5 HTTP/1.1\""))
        .unwrap_or_else(|| panic!("no request line in the aws debug output: {debug}"));
    assert!(line.contains("\" 500 "), "{line}");
    assert!(proxy.clear()[0].1 > 1, "the 200-with-Error copy was retried");

    // reads with cut bodies never deliver a short object as success
    for fault in [Fault::Truncate, Fault::ShortContentLength, Fault::ResetMidBody] {
        proxy.add(Rule::new("GET", "range", fault, 1000));
        let out = dir.path().join("out.bin");
        let _ = std::fs::remove_file(&out);
        let o = front.aws(&["s3", "cp", "s3://bucket1/k1", out.to_str().unwrap()]);
        assert!(proxy.clear()[0].1 > 0, "{fault:?} injected");
        if o.status.success() {
            assert!(
                std::fs::read(&out).unwrap() == data,
                "{fault:?}: short data delivered as success"
            );
        }
        assert!(
            !o.status.success(),
            "{fault:?}: every body was cut, yet the GET succeeded"
        );
    }
    // and without faults the object is whole
    let out = dir.path().join("whole.bin");
    let o = front.aws(&["s3", "cp", "s3://bucket1/k1", out.to_str().unwrap()]);
    assert!(
        o.status.success() && std::fs::read(&out).unwrap() == data,
        "{}",
        text(&o)
    );
}
