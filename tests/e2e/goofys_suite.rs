//! goofys's own Go test suite (package `internal` of github.com/kahing/goofys v0.24.0) against
//! the real `ozfs serve`, as goofys's authors run it against an S3 emulator:
//! `CLOUD=s3 MOUNT=false`, endpoint `http://127.0.0.1:8080` (hard-coded in the suite), keys
//! foo/bar, SigV2 signing. Security is off, so the suite's keys need no secret.
//!
//! The suite is built by `scripts/test-deps-goofys.sh` (goofys's source tree plus the compiled
//! test binary `internal/goofys.test`, from the module graph pinned in
//! `scripts/install-goofys.sh`) into `$OZFS_GOOFYS_SUITE`, default
//! `/usr/local/libexec/ozfs-test/goofys-suite`; when it is missing the test fails and says so.
//! It runs from `internal/`, as `go test` would, because the FUSE tests start
//! `../test/fuse-test.sh` and `../bench/bench.sh`.
//!
//! The suites that only run against the internet (AwsTest, MinioTest) are filtered out. Every
//! other test must pass, except:
//! * the skips goofys itself makes without cloud credentials or catfs ([`EXPECTED_SKIPS`]);
//! * `TestWriteAnonymousFuse`, whose last step depends on the kernel, not on the server (see
//!   [`KERNEL_DEPENDENT`]): it must get exactly as far as that step.
//!
//! Port 8080 busy: the test fails with that reason (the suite cannot use another port).

mod serve_common;

use serve_common::ozfs;
use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The address goofys's suite hard-codes (`selectTestConfig`, `waitForEmulator`).
const SUITE_ADDR: &str = "127.0.0.1:8080";

/// Upper bound for the whole suite (it takes about 6 minutes on 2 idle cores, under 10 on a
/// loaded machine); goofys's own `-test.timeout` is a minute shorter.
const SUITE_DEADLINE: Duration = Duration::from_secs(20 * 60);

/// Only the suites that run against the emulator endpoint.
const SUITE_FILTER: &str = r"^(GoofysTest|BufferTest|DirTest|TicketTest)\.";

/// Tests goofys skips on an emulator: Azure-only, `MOUNT=false`, and catfs-only tests.
const EXPECTED_SKIPS: &[&str] = &[
    "GoofysTest.TestAzureDirBlob",
    "GoofysTest.TestMount",
    "GoofysTest.TestWriteSeekWriteFuse",
];

/// `TestWriteAnonymousFuse` and the line of goofys_test.go where it fails on current kernels.
/// Everything the server decides passes before that line: goofys's unsigned `HEAD` finds the
/// public-read bucket (CreateBucket's `x-amz-acl` recorded), the mount goes anonymous, and the
/// unsigned PUT is refused (EACCES). The last step reads back the 0-byte file whose flush
/// failed and expects ENOENT, which goofys only returns from a FUSE READ; the kernel here
/// (Linux 6.18) answers a read at the end of a 0-byte file from its cached size without
/// sending READ, so the read succeeds (empty). If a kernel sends it, the test passes (also
/// accepted). No request reaches the server after the refused
/// PUT (the access log shows it), so no server answer can change this.
const KERNEL_DEPENDENT: (&str, &str) = ("GoofysTest.TestWriteAnonymousFuse", "goofys_test.go:2085:");

fn suite_dir() -> PathBuf {
    let dir = std::env::var_os("OZFS_GOOFYS_SUITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/local/libexec/ozfs-test/goofys-suite"));
    let bin = dir.join("internal/goofys.test");
    assert!(
        bin.is_file() && dir.join("test/fuse-test.sh").is_file() && dir.join("bench/bench.sh").is_file(),
        "goofys's test suite is not built at {} (run scripts/test-deps-goofys.sh; it needs Go and the Go module proxy)",
        dir.display()
    );
    dir
}

/// `ozfs serve` on 127.0.0.1:8080; killed on drop.
struct Serve {
    child: std::process::Child,
    _data: tempfile::TempDir,
}

impl Serve {
    fn start() -> Serve {
        if let Err(e) = TcpListener::bind(SUITE_ADDR) {
            panic!(
                "port 8080 on 127.0.0.1 is busy ({e}): goofys's test suite only talks to http://{SUITE_ADDR}; stop what listens there"
            );
        }
        let data = tempfile::tempdir().expect("tempdir");
        let child = Command::new(ozfs())
            .args(["serve", "--listen", SUITE_ADDR, "--data"])
            .arg(data.path().join("data"))
            .arg("--access-log")
            .arg(data.path().join("access.log"))
            .env("OZFS_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ozfs serve");
        let mut s = Serve { child, _data: data };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(SUITE_ADDR).is_err() {
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!("ozfs serve exited with {st} before listening on {SUITE_ADDR}");
            }
            assert!(Instant::now() < deadline, "ozfs serve did not listen on {SUITE_ADDR}");
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One test's outcome as gocheck prints it with `-check.v`: `PASS:`, `FAIL:`, `SKIP:`,
/// `MISS:` or `PANIC:`, then `file:line: Suite.Test`.
fn outcomes(log: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    let blocks: Vec<&str> = log
        .split("\n----------------------------------------------------------------------\n")
        .collect();
    for block in blocks {
        for line in block.lines() {
            let Some((status, rest)) = line.split_once(": ") else {
                continue;
            };
            if !["PASS", "FAIL", "SKIP", "MISS", "PANIC"].contains(&status) {
                continue;
            }
            // `github.com/.../goofys_test.go:1719: GoofysTest.TestFuse\t0.5s` (or `(reason)`).
            let Some(name) = rest.split(": ").nth(1).and_then(|n| n.split(['\t', ' ']).next()) else {
                continue;
            };
            if !name.contains('.') {
                continue;
            }
            out.insert(name.to_string(), (status.to_string(), block.to_string()));
        }
    }
    out
}

/// The mount points goofys's FUSE tests make (`/tmp/mnt<bucket>`, left behind empty).
fn suite_mount_dirs() -> std::collections::BTreeSet<PathBuf> {
    std::fs::read_dir("/tmp")
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("mntgoofys-test-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Detach every FUSE mount goofys's tests left under `/tmp/mntgoofys-test-*`: abort its FUSE
/// connection first (through fusectl, mounted here if needed), so that nothing — not even a
/// hung test thread of the suite — can keep waiting on it, then unmount lazily and remove the
/// directory. Only the suite's own mount points are touched. Never stats a mount point (a stat
/// of a hung mount would block).
fn detach_suite_mounts() {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mounts: Vec<(String, String)> = info
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dev, dir) = (f.get(2)?, f.get(4)?);
            dir.starts_with("/tmp/mntgoofys-test-")
                .then(|| (dev.rsplit(':').next().unwrap_or_default().to_string(), dir.to_string()))
        })
        .collect();
    if mounts.is_empty() {
        return;
    }
    let ctl = std::path::Path::new("/sys/fs/fuse/connections");
    if std::fs::read_dir(ctl).map(|mut d| d.next().is_none()).unwrap_or(true) {
        let _ = Command::new("mount")
            .args(["-t", "fusectl", "none", "/sys/fs/fuse/connections"])
            .status();
    }
    for (minor, dir) in &mounts {
        let _ = std::fs::write(ctl.join(minor).join("abort"), "1");
        let _ = Command::new("fusermount3").args(["-u", "-z", dir]).status();
        let _ = std::fs::remove_dir(dir);
    }
}

#[test]
fn goofys_own_suite_passes_against_ozfs_serve() {
    let dir = suite_dir();
    let mount_dirs_before = suite_mount_dirs();
    let serve = Serve::start();
    // Kept after the run (target/test-output/goofys_suite/suite.log) for a failure's details.
    let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-output/goofys_suite");
    std::fs::create_dir_all(&out_dir).expect("output dir");
    let log_path = out_dir.join("suite.log");
    let log_file = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(dir.join("internal/goofys.test"))
        .current_dir(dir.join("internal"))
        .args(["-test.v", "-test.timeout", "19m", "-check.v", "-check.f", SUITE_FILTER])
        .env("CLOUD", "s3")
        .env("MOUNT", "false")
        // Variables that would point the suite at real clouds or catfs.
        .env_remove("AWS")
        .env_remove("GCS")
        .env_remove("MINIO")
        .env_remove("CATFS")
        .env_remove("TRAVIS")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file)
        .spawn()
        .expect("start goofys's test binary");
    let deadline = Instant::now() + SUITE_DEADLINE;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            // A test thread blocked on one of the suite's own mounts must not keep it alive.
            detach_suite_mounts();
            let _ = child.wait();
            for d in suite_mount_dirs().difference(&mount_dirs_before) {
                let _ = std::fs::remove_dir(d);
            }
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let done = outcomes(&log).len();
            panic!(
                "goofys's suite did not finish in {SUITE_DEADLINE:?} ({done} results so far; it takes about 6 minutes on 2 idle cores, so the machine is overloaded or a test hangs); log in {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let mut log = String::new();
    std::fs::File::open(&log_path)
        .and_then(|mut f| f.read_to_string(&mut log))
        .expect("read log");
    drop(serve);
    detach_suite_mounts();
    // Remove the empty mount points this run left (rmdir fails on a busy or non-empty one).
    for d in suite_mount_dirs().difference(&mount_dirs_before) {
        let _ = std::fs::remove_dir(d);
    }

    let results = outcomes(&log);
    let fixtures = ["SetUpSuite", "SetUpTest", "TearDownTest", "TearDownSuite"];
    let tests: BTreeMap<&String, &(String, String)> = results
        .iter()
        .filter(|(n, _)| !fixtures.iter().any(|f| n.ends_with(&format!(".{f}"))))
        .collect();
    let mut summary = String::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, (st, _)) in &tests {
        summary.push_str(&format!("{st:5} {name}\n"));
        *counts.entry(st.as_str()).or_default() += 1;
    }
    println!("goofys suite (exit {status}):\n{summary}{counts:?}");

    let mut wrong = Vec::new();
    for (name, (st, block)) in &results {
        let expected_skip = EXPECTED_SKIPS.contains(&name.as_str());
        let ok = match st.as_str() {
            "PASS" => !expected_skip,
            "SKIP" => expected_skip,
            "FAIL" if name.as_str() == KERNEL_DEPENDENT.0 => {
                // Exactly the kernel-dependent step failed, nothing before it.
                let at: Vec<&str> = block
                    .lines()
                    .map(str::trim_end)
                    .filter(|l| l.contains("goofys_test.go:") && l.ends_with(':'))
                    .collect();
                at.len() == 1 && at[0].ends_with(KERNEL_DEPENDENT.1)
            }
            _ => false,
        };
        if !ok {
            wrong.push(format!("{st} {name}:\n{block}"));
        }
    }
    for s in EXPECTED_SKIPS {
        if !results.contains_key(*s) {
            wrong.push(format!("{s} did not run"));
        }
    }
    assert!(
        tests.len() >= 110,
        "only {} tests ran (goofys v0.24.0 has 115 in these suites); log in {}:\n{log}",
        tests.len(),
        log_path.display()
    );
    assert!(
        wrong.is_empty(),
        "goofys's suite: unexpected results:\n{}",
        wrong.join("\n")
    );
}
