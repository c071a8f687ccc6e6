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
//!
//! Each test runs in its own `goofys.test` process, under a deadline. goofys's FUSE tests mount
//! goofys inside the test process and then open files on that mount from the same process,
//! which can deadlock that process with no server involved (seen here about once per run of
//! the suite; kernel stacks and goroutine dumps kept): Go registers every opened file with its
//! epoll netpoller; `epoll_ctl` on a FUSE file sends FUSE_POLL to the file's server — goofys,
//! in the same process — and that thread keeps its Go P, uninterruptibly, until the answer
//! comes; the FUSE server goroutine that would answer then waits for something the stuck P
//! prevents (a free P, or a garbage-collector stop-the-world). A test still running at its
//! deadline is therefore stopped (the blocked threads' kernel stacks and the goroutines are
//! reported in the output and in `target/test-output/goofys_suite/hangs.log`) and run once
//! more; a test that hangs twice fails. A silent server cannot cause such a hang: the suite's
//! HTTP client gives up after 30 s (`HTTPTimeout` in goofys_test.go), which fails the test.

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

/// Upper bound for one goofys test in its own process (the longest, `BufferTest.TestPool`,
/// takes 60 s; the others a few seconds). goofys's own `-test.timeout` ([`GO_TIMEOUT`]) fires
/// ten seconds earlier and makes the Go runtime print every goroutine's stack into the log.
const TEST_DEADLINE: Duration = Duration::from_secs(180);

/// goofys's own `-test.timeout`, per test process.
const GO_TIMEOUT: &str = "170s";

/// Upper bound for the whole suite (about 7 minutes on 2 cores, idle or under a load of 20).
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
    data: tempfile::TempDir,
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
        let mut s = Serve { child, data };
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

/// Waits up to `limit` for `child` to exit (polling; it may never, see the caller).
fn wait_for_exit(child: &mut std::process::Child, limit: Duration) {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// From a Go stack dump in the log (goofys's `-test.timeout` or SIGQUIT), the goroutines with
/// a goofys or FUSE frame, each with those frames: enough to name the test that hung and where,
/// without the whole dump (most goroutines are idle HTTP connections).
fn hung_goroutines(log: &str) -> String {
    let Some(start) = log.find("panic: test timed out").or_else(|| log.find("SIGQUIT: quit")) else {
        return "(no Go stack dump in the log)".to_string();
    };
    let mut out = Vec::new();
    for g in log[start..].split("\n\n") {
        let Some(head) = g.lines().next().filter(|h| h.starts_with("goroutine ")) else {
            continue;
        };
        let frames: Vec<String> = g
            .lines()
            .skip(1)
            .filter(|l| l.contains("kahing/goofys") || l.contains("jacobsa/fuse"))
            .take(12)
            .map(|l| format!("    {}", l.trim()))
            .collect();
        if frames.is_empty() && !head.contains("[running]") {
            continue;
        }
        out.push(head.to_string());
        out.extend(frames);
        if out.len() > 150 {
            out.push("…".to_string());
            break;
        }
    }
    format!("goroutines in goofys or its FUSE library:\n{}", out.join("\n"))
}

/// The kernel side of a hung process: every thread in uninterruptible sleep (state D) with
/// its kernel stack (`/proc/PID/task/TID/stack`, readable by root). A thread waiting in
/// `request_wait_answer` is waiting for a FUSE server's reply.
fn blocked_threads(pid: u32) -> String {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return "(no /proc entry)".to_string();
    };
    for t in tasks.flatten() {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // `tid (comm) S ...`: the state follows the last ')'.
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("?");
        if state != "D" {
            continue;
        }
        let stack = std::fs::read_to_string(t.path().join("stack")).unwrap_or_else(|e| format!("({e})"));
        out.push(format!(
            "thread {} (D):\n{}",
            t.file_name().to_string_lossy(),
            stack.trim_end()
        ));
    }
    if out.is_empty() {
        "no thread in uninterruptible sleep".to_string()
    } else {
        out.join("\n")
    }
}

/// The names (`Suite.Test`) of the tests [`SUITE_FILTER`] selects, as gocheck lists them.
fn suite_tests(dir: &std::path::Path) -> Vec<String> {
    let out = goofys_test_command(dir)
        .args(["-check.list", "-check.f", SUITE_FILTER])
        .stderr(Stdio::inherit())
        .output()
        .expect("list goofys's tests");
    assert!(out.status.success(), "goofys.test -check.list failed: {}", out.status);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(".Test"))
        .map(str::to_string)
        .collect()
}

/// goofys's test binary, run from `internal/` with the environment its emulator mode needs.
fn goofys_test_command(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(dir.join("internal/goofys.test"));
    cmd.current_dir(dir.join("internal"))
        .env("CLOUD", "s3")
        .env("MOUNT", "false")
        // Variables that would point the suite at real clouds or catfs.
        .env_remove("AWS")
        .env_remove("GCS")
        .env_remove("MINIO")
        .env_remove("CATFS")
        .env_remove("TRAVIS")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null());
    cmd
}

/// How one test process ended.
enum Ended {
    /// It exited by itself (its result is in the log).
    Exited,
    /// It was still running at [`TEST_DEADLINE`] and was stopped: its blocked threads' kernel
    /// stacks (its goroutines' stacks are in the log).
    Hung(String),
}

/// Runs one goofys test in its own process, appending what it prints to `log_path`. A test
/// still running at [`TEST_DEADLINE`] is stopped: SIGQUIT first (the Go runtime prints every
/// goroutine's stack), then its leftover FUSE mounts are aborted (a request the test's own FUSE
/// server read and never answered makes the process unkillable), then SIGKILL.
fn run_test(dir: &std::path::Path, name: &str, log_path: &std::path::Path) -> Ended {
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .expect("open log");
    use std::io::Write;
    writeln!(log, "=== ozfs: goofys.test -check.f '^{name}$'").expect("write log");
    let filter = format!("^{}$", name.replace('.', "\\."));
    let mut child = goofys_test_command(dir)
        .args(["-test.v", "-test.timeout", GO_TIMEOUT, "-check.v", "-check.f", &filter])
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start goofys's test binary");
    let deadline = Instant::now() + TEST_DEADLINE;
    while Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            return Ended::Exited;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let kernel = blocked_threads(child.id());
    #[allow(unsafe_code, reason = "kill(2) through libc: std's Child::kill only sends SIGKILL")]
    // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGQUIT)
    };
    wait_for_exit(&mut child, Duration::from_secs(5));
    detach_suite_mounts();
    let _ = child.kill();
    let _ = child.wait();
    Ended::Hung(kernel)
}

/// goofys's suite, one test per process, against `ozfs serve`. A test that hangs (see the
/// module documentation) is stopped, its stacks kept, and run once more: the hang is reported
/// in the output and in `hangs.log`, and a test that hangs twice fails the suite.
#[test]
fn goofys_own_suite_passes_against_ozfs_serve() {
    let dir = suite_dir();
    let mount_dirs_before = suite_mount_dirs();
    // Kept after the run (target/test-output/goofys_suite/) for a failure's details.
    let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-output/goofys_suite");
    std::fs::create_dir_all(&out_dir).expect("output dir");
    let serve = Serve::start();
    let log_path = out_dir.join("suite.log");
    std::fs::write(&log_path, "").expect("log file");
    let hangs_path = out_dir.join("hangs.log");
    let _ = std::fs::remove_file(&hangs_path);
    // Kept only from a run in which a test hung.
    let _ = std::fs::remove_file(out_dir.join("access.log"));

    let names = suite_tests(&dir);
    let suite_deadline = Instant::now() + SUITE_DEADLINE;
    let mut hangs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in &names {
        for _attempt in 0..2 {
            assert!(
                Instant::now() < suite_deadline,
                "goofys's suite did not finish in {SUITE_DEADLINE:?} (stopped before {name}); log in {}",
                log_path.display()
            );
            let before = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
            match run_test(&dir, name, &log_path) {
                Ended::Exited => break,
                Ended::Hung(kernel) => {
                    let log = std::fs::read(&log_path).unwrap_or_default();
                    let this_run = String::from_utf8_lossy(&log[before as usize..]).into_owned();
                    hangs
                        .entry(name.clone())
                        .or_default()
                        .push(format!("{kernel}\n{}", hung_goroutines(&this_run)));
                    // The access log (tens of MB) is kept only when a test hangs.
                    let _ = std::fs::copy(serve.data.path().join("access.log"), out_dir.join("access.log"));
                }
            }
        }
    }
    drop(serve);
    detach_suite_mounts();
    // Remove the empty mount points this run left (rmdir fails on a busy or non-empty one).
    for d in suite_mount_dirs().difference(&mount_dirs_before) {
        let _ = std::fs::remove_dir(d);
    }
    let mut log = String::new();
    std::fs::File::open(&log_path)
        .and_then(|mut f| f.read_to_string(&mut log))
        .expect("read log");
    let hang_report: String = hangs
        .iter()
        .map(|(n, dumps)| {
            format!(
                "{n} hung {} time(s) (stopped after {TEST_DEADLINE:?}):\n{}\n",
                dumps.len(),
                dumps.join("\n")
            )
        })
        .collect();
    if !hangs.is_empty() {
        std::fs::write(&hangs_path, &hang_report).expect("write hangs.log");
        println!("goofys's tests that hung and were run again:\n{hang_report}");
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
    println!("goofys suite ({} tests listed):\n{summary}{counts:?}", names.len());

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
    for (name, dumps) in &hangs {
        if dumps.len() > 1 {
            wrong.push(format!(
                "{name} hung twice (see {}):\n{}",
                hangs_path.display(),
                dumps.join("\n")
            ));
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
