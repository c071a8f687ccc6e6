//! End-to-end tests of what operators and new users meet around ozfs (issue 11): the metrics at
//! `/prom` and `/metrics` after real S3 and FUSE traffic, the metrics paths next to buckets of
//! the same names, log lines of a client's feature probe (level, request id, JSON), the access
//! log, `--version`, shell completions, the port-conflict message, progress bars of `ozfs sh
//! key put/get` (piped and on a pty), key ownership, and the bucket page in headless Chromium.
//! Each test runs the real `ozfs` binary on a free port with a fresh data directory.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{aws_command, is_mounted, output_within, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_ozfs");
const TIMEOUT: Duration = Duration::from_secs(120);

/// A temporary home with a data directory.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("OZFS_DATA", self.path("data"))
            .env("HOME", self.dir.path())
            .env("USER", "tester")
            .env_remove("OZFS_CONFIG")
            .env_remove("XDG_DATA_HOME")
            .env_remove("RUST_LOG")
            .env_remove("OZFS_LOG")
            .env_remove("OZFS_LOG_FORMAT")
            .stdin(Stdio::null());
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        let child = self
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ozfs");
        wait_bounded(child, &format!("ozfs {args:?}"))
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ozfs {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }
    fn aws(&self, access: &str, addr: &str, args: &[&str]) -> (bool, String) {
        let child = aws_command(self.dir.path(), access, "anything")
            .args(["--endpoint-url", &format!("http://{addr}")])
            .args(args)
            .spawn()
            .expect("the aws CLI is missing: run scripts/test-deps-s3.sh");
        let out = wait_bounded(child, &format!("aws {args:?}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
    fn aws_ok(&self, access: &str, addr: &str, args: &[&str]) -> String {
        let (ok, text) = self.aws(access, addr, args);
        assert!(ok, "aws {args:?}: {text}");
        text
    }
}

fn wait_bounded(child: Child, what: &str) -> Output {
    output_within(child, TIMEOUT).unwrap_or_else(|| panic!("{what} did not finish within {TIMEOUT:?}"))
}

/// `ozfs serve` on a free port; standard error goes to `stderr.log` in the env; SIGTERM on drop.
struct Server {
    child: Child,
    addr: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    fn start(env: &Env, extra: &[&str], vars: &[(&str, &str)]) -> Server {
        let log = std::fs::File::create(env.path("stderr.log")).unwrap();
        let mut c = env.cmd(&["serve", "--listen", "127.0.0.1:0"]);
        c.args(extra).stdout(Stdio::piped()).stderr(log);
        for (k, v) in vars {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("start ozfs serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("ozfs: serving S3 on http://")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {line:?}; stderr: {}",
                    std::fs::read_to_string(env.path("stderr.log")).unwrap_or_default()
                )
            })
            .to_string();
        Server { child, addr, stdout }
    }

    /// The rest of the readiness block (up to the metrics line).
    fn ready_lines(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            if self.stdout.read_line(&mut l).unwrap() == 0 {
                break;
            }
            let done = l.contains("stop with Ctrl-C");
            lines.push(l.trim_end().to_string());
            if done {
                break;
            }
        }
        lines
    }

    /// SIGINT (Ctrl-C); the exit status and what the server printed on the way out.
    fn interrupt(mut self) -> (bool, String) {
        unsafe_kill(self.child.id(), "INT");
        let mut rest = String::new();
        let _ = self.stdout.read_to_string(&mut rest);
        let deadline = Instant::now() + TIMEOUT;
        let ok = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st.success();
            }
            assert!(Instant::now() < deadline, "ozfs serve did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        (ok, rest)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            unsafe_kill(self.child.id(), "TERM");
            let deadline = Instant::now() + TIMEOUT;
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Send a signal to one process we started, by its pid.
fn unsafe_kill(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// One unsigned HTTP/1.1 request; (status, headers lower-cased, body).
fn http(addr: &str, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// The value of one series of a scrape (`name{labels}` exactly as exposed).
fn series(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no series {name} in the scrape:\n{text}"))
}

/// Sum of every series of `name` whose labels contain `label`.
fn sum_series(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

fn scrape(addr: &str, path: &str) -> String {
    let (status, head, body) = http(addr, "GET", path, &[], b"");
    assert_eq!(status, 200, "{path}: {head}{body}");
    assert!(head.contains("content-type: application/openmetrics-text"), "{head}");
    body
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn fuse_available() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: install fuse3 (scripts/test-deps-fuse.sh)"
    );
}

/// A fresh environment with bucket `bucket1` and `ozfs serve --mount bucket1:MNT`, mounted.
fn serve_mounted() -> (Env, PathBuf, Server) {
    serve_mounted_with(&[])
}

/// [`serve_mounted`] with more `ozfs serve` arguments.
fn serve_mounted_with(extra: &[&str]) -> (Env, PathBuf, Server) {
    fuse_available();
    let env = Env::new();
    env.ok(&["sh", "bucket", "create", "/s3v/bucket1"]);
    let mnt = env.path("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mount = format!("bucket1:{}", mnt.display());
    let args: Vec<&str> = ["--mount", mount.as_str()]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let mut server = Server::start(&env, &args, &[]);
    let ready = server.ready_lines();
    assert!(ready.iter().any(|l| l.contains("mounted at")), "{ready:?}");
    (env, mnt, server)
}

/// 3 MiB of [`pattern`] put as `bucket1/obj.bin` with the aws CLI; returns the bytes.
fn upload_obj(env: &Env, addr: &str) -> Vec<u8> {
    let data = pattern(3 << 20);
    let src = env.path("obj.bin");
    std::fs::write(&src, &data).unwrap();
    env.aws_ok(
        "alice",
        addr,
        &["s3", "cp", src.to_str().unwrap(), "s3://bucket1/obj.bin"],
    );
    data
}

/// S3 requests through the aws CLI and file operations on the `serve --mount` move the metrics:
/// requests by operation and status, latency histograms, bytes in and out, the page cache, the
/// store's commits, FUSE operations and their latency, the staging gauge.
#[test]
fn metrics_move_after_s3_and_fuse_traffic() {
    let (env, mnt, server) = serve_mounted();
    let addr = server.addr.clone();

    let before = scrape(&addr, "/prom");
    let data = upload_obj(&env, &addr);
    let got = env.path("got.bin");
    env.aws_ok(
        "alice",
        &addr,
        &["s3", "cp", "s3://bucket1/obj.bin", got.to_str().unwrap()],
    );
    assert_eq!(std::fs::read(&got).unwrap(), data);
    // FUSE: create, write, close (commit through staging), read back, list.
    std::fs::write(mnt.join("from-mount.txt"), b"written on the mount").unwrap();
    assert_eq!(std::fs::read(mnt.join("obj.bin")).unwrap(), data);
    assert!(std::fs::read_dir(&mnt).unwrap().count() >= 2);

    let after = scrape(&addr, "/prom");
    let also = scrape(&addr, "/metrics");
    assert!(
        also.contains("ozfs_s3_requests_total"),
        "/metrics serves the same metrics"
    );

    let put = "ozfs_s3_requests_total{operation=\"PutObject\",status=\"200\"}";
    assert!(series(&after, put) >= 1.0, "{after}");
    assert!(sum_series(&after, "ozfs_s3_requests_total", "operation=\"GetObject\"") >= 1.0);
    assert!(
        series(
            &after,
            "ozfs_s3_request_duration_seconds_count{operation=\"PutObject\"}"
        ) >= 1.0,
        "{after}"
    );
    let d = |name: &str| series(&after, name) - series(&before, name);
    assert!(d("ozfs_s3_received_bytes_total") >= data.len() as f64);
    assert!(d("ozfs_s3_sent_bytes_total") >= data.len() as f64);
    assert!(d("ozfs_cache_misses_total") + d("ozfs_cache_hits_total") >= 1.0);
    // the 3 MiB PUT left its 3 pages cached (write-allocate), so its reads are hits
    assert!(d("ozfs_cache_filled_total") >= 3.0, "{after}");
    assert!(d("ozfs_cache_hits_total") >= 3.0, "{after}");
    series(&after, "ozfs_cache_loads_total");
    assert!(series(&after, "ozfs_cache_bytes") > 0.0);
    assert!(series(&after, "ozfs_cache_budget_bytes") > 0.0);
    series(&after, "ozfs_cache_evictions_total");
    assert!(d("ozfs_store_commit_duration_seconds_count") >= 2.0);
    for op in ["create", "write", "flush", "read", "lookup"] {
        assert!(
            series(
                &after,
                &format!("ozfs_fuse_operations_total{{op=\"{op}\",result=\"ok\"}}")
            ) >= 1.0,
            "FUSE {op}: {after}"
        );
        assert!(
            series(
                &after,
                &format!("ozfs_fuse_operation_duration_seconds_count{{op=\"{op}\"}}")
            ) >= 1.0
        );
    }
    // Nothing is being written now: the staging area holds nothing.
    assert_eq!(series(&after, "ozfs_fuse_staging_bytes"), 0.0);
    assert_eq!(series(&after, "ozfs_s3_requests_in_flight"), 1.0, "the scrape itself");

    let (ok, bye) = server.interrupt();
    assert!(ok, "ozfs serve should exit 0 on Ctrl-C");
    assert!(bye.contains("ozfs: stopped"), "{bye}");
    assert!(!is_mounted(&mnt));
}

/// All names under `dir`, relative to `root`, sorted (a `find`).
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        out.push(p.strip_prefix(root).unwrap().display().to_string());
        if e.file_type().unwrap().is_dir() {
            walk(root, &p, out);
        }
    }
}

/// A tree walk on the `serve --mount` costs per directory one `opendir`, at most two
/// `readdirplus` (its entries, then the empty end) and one `releasedir`, and nothing per entry:
/// readdirplus carries every entry's attributes, so no `lookup` or `getattr` follows within the
/// TTL. Walkers running at once each see the whole tree (docs/bench-findings.md, "find and
/// delete").
#[test]
fn a_tree_walk_costs_three_requests_per_directory_and_none_per_entry() {
    let (_env, mnt, server) = serve_mounted();
    let addr = server.addr.clone();
    let mut want = Vec::new();
    for i in 0..4 {
        for j in 0..3 {
            let d = mnt.join(format!("t/d{i}/e{j}"));
            std::fs::create_dir_all(&d).unwrap();
            for k in 0..5 {
                std::fs::write(d.join(format!("f{k}")), b"x").unwrap();
                want.push(format!("d{i}/e{j}/f{k}"));
            }
            want.push(format!("d{i}/e{j}"));
        }
        want.push(format!("d{i}"));
    }
    want.sort();
    let dirs = 1 + 4 + 4 * 3;
    let root = mnt.join("t");
    let mut got = Vec::new();
    walk(&root, &root, &mut got);
    got.sort();
    assert_eq!(got, want);

    // releasedir is sent after close returns: the first walk's may still be on their way, and
    // must not be counted as the second walk's (wait, bounded, until every open was released)
    let ops = |t: &str, op: &str| sum_series(t, "ozfs_fuse_operations_total", &format!("op=\"{op}\""));
    let deadline = Instant::now() + Duration::from_secs(10);
    let before = loop {
        let t = scrape(&addr, "/prom");
        if ops(&t, "releasedir") >= ops(&t, "opendir") || Instant::now() > deadline {
            break t;
        }
        std::thread::yield_now();
    };
    let mut got = Vec::new();
    walk(&root, &root, &mut got);
    got.sort();
    assert_eq!(got, want);
    let d = |after: &str, op: &str| {
        let l = format!("op=\"{op}\"");
        sum_series(after, "ozfs_fuse_operations_total", &l) - sum_series(&before, "ozfs_fuse_operations_total", &l)
    };
    // releasedir is sent after close returns: wait (bounded) until every one has arrived
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let after = scrape(&addr, "/prom");
        if d(&after, "releasedir") >= dirs as f64 || Instant::now() > deadline {
            break after;
        }
        std::thread::yield_now();
    };
    assert_eq!(d(&after, "opendir"), dirs as f64, "{after}");
    assert_eq!(d(&after, "releasedir"), dirs as f64, "{after}");
    let plus = d(&after, "readdirplus");
    assert!(
        plus >= dirs as f64 && plus <= 2.0 * dirs as f64,
        "{plus} readdirplus for {dirs} directories"
    );
    assert_eq!(d(&after, "readdir"), 0.0, "every listing is a readdirplus");
    // at most the walk's root itself, never one of the 77 entries
    let per_entry = d(&after, "lookup") + d(&after, "getattr");
    assert!(per_entry <= 1.0, "{per_entry} lookups and getattrs: {after}");

    // Walkers at once: each lists every directory completely.
    let walkers: Vec<_> = (0..4)
        .map(|_| {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for _ in 0..5 {
                    got.clear();
                    walk(&root, &root, &mut got);
                    got.sort();
                }
                got
            })
        })
        .collect();
    for w in walkers {
        assert_eq!(w.join().unwrap(), want);
    }
    drop(server);
}

/// Deleting files one after another on the `serve --mount`: one FUSE `unlink` and one store
/// commit (durable when it returns) per file, no `lookup` of a name the kernel already knows.
#[test]
fn each_unlink_is_one_request_and_one_commit() {
    let (_env, mnt, server) = serve_mounted();
    let addr = server.addr.clone();
    let dir = mnt.join("small");
    std::fs::create_dir(&dir).unwrap();
    let n = 20;
    for i in 0..n {
        std::fs::write(dir.join(format!("s{i}")), b"x").unwrap();
    }
    for i in 0..n {
        assert_eq!(std::fs::metadata(dir.join(format!("s{i}"))).unwrap().len(), 1);
    }
    let before = scrape(&addr, "/prom");
    for i in 0..n {
        std::fs::remove_file(dir.join(format!("s{i}"))).unwrap();
    }
    let after = scrape(&addr, "/prom");
    let d = |op: &str| {
        let l = format!("op=\"{op}\"");
        sum_series(&after, "ozfs_fuse_operations_total", &l) - sum_series(&before, "ozfs_fuse_operations_total", &l)
    };
    assert_eq!(d("unlink"), n as f64, "{after}");
    assert_eq!(d("lookup"), 0.0, "{after}");
    let commits = |t: &str| series(t, "ozfs_store_commit_duration_seconds_count");
    assert_eq!(commits(&after) - commits(&before), n as f64, "{after}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    drop(server);
}

/// A random 4 KiB read on the `serve --mount` reads those bytes from the store, not a whole
/// 1 MiB page (`ozfs_cache_direct_read*`); a sequential read of the file still loads whole
/// pages through the page cache (docs/ARCHITECTURE.md, "Data path of a read").
#[test]
fn a_random_small_fuse_read_reads_only_its_bytes() {
    use std::os::unix::fs::FileExt;
    // a cache of 8 MiB: the 3 MiB object is past the write-allocate bound (a quarter of the
    // budget), so its PUT leaves nothing cached and the reads below find no page
    let (env, mnt, server) = serve_mounted_with(&["--cache-size", "8M"]);
    let addr = server.addr.clone();
    let data = upload_obj(&env, &addr);

    let before = scrape(&addr, "/prom");
    let f = std::fs::File::open(mnt.join("obj.bin")).unwrap();
    let off = (2 << 20) + 8192;
    let mut buf = vec![0u8; 4096];
    f.read_exact_at(&mut buf, off as u64).unwrap();
    assert_eq!(buf, &data[off..off + 4096]);
    let after = scrape(&addr, "/prom");
    let d = |a: &str, b: &str, name: &str| series(b, name) - series(a, name);
    assert_eq!(d(&before, &after, "ozfs_cache_direct_reads_total"), 1.0, "{after}");
    assert_eq!(
        d(&before, &after, "ozfs_cache_direct_read_bytes_total"),
        4096.0,
        "{after}"
    );
    assert_eq!(
        d(&before, &after, "ozfs_cache_loads_total"),
        0.0,
        "no page loaded: {after}"
    );
    drop(f);

    // a sequential read: whole pages (3 of them), no more direct reads than its first request
    assert_eq!(std::fs::read(mnt.join("obj.bin")).unwrap(), data);
    let seq = scrape(&addr, "/prom");
    assert!(d(&after, &seq, "ozfs_cache_direct_reads_total") <= 1.0, "{seq}");
    assert!(d(&after, &seq, "ozfs_cache_loads_total") >= 2.0, "{seq}");

    let (ok, _) = server.interrupt();
    assert!(ok, "ozfs serve should exit 0 on Ctrl-C");
    assert!(!is_mounted(&mnt));
}

/// Buckets named `prom` and `metrics` work with S3 clients as any bucket; only an unsigned bare
/// `GET /prom` / `GET /metrics` is the metrics page (docs/SEMANTICS.md).
#[test]
fn metrics_paths_leave_buckets_of_the_same_name_alone() {
    let env = Env::new();
    let server = Server::start(&env, &[], &[]);
    let addr = server.addr.clone();
    for b in ["prom", "metrics"] {
        env.aws_ok("alice", &addr, &["s3api", "create-bucket", "--bucket", b]);
        let f = env.path("k.txt");
        std::fs::write(&f, b"in a bucket").unwrap();
        env.aws_ok(
            "alice",
            &addr,
            &["s3", "cp", f.to_str().unwrap(), &format!("s3://{b}/k.txt")],
        );
        let ls = env.aws_ok("alice", &addr, &["s3", "ls", &format!("s3://{b}")]);
        assert!(ls.contains("k.txt"), "{ls}");
        let ls = env.aws_ok("alice", &addr, &["s3api", "list-objects", "--bucket", b]);
        assert!(ls.contains("k.txt"), "{ls}");
        // Unsigned bare GET: the metrics.
        assert!(scrape(&addr, &format!("/{b}")).contains("ozfs_s3_requests_total"));
        // Unsigned with a query or a trailing slash: the bucket (anonymous listing refused).
        for t in [format!("/{b}?list-type=2"), format!("/{b}/")] {
            let (status, _, body) = http(&addr, "GET", &t, &[], b"");
            assert_eq!(status, 403, "{t}: {body}");
            assert!(body.contains("AccessDenied"), "{body}");
        }
        // The bucket page of that bucket still works unsigned (security off), and so does its
        // presigned download link; the bare object path unsigned is 403 (a private object).
        let (status, _, body) = http(&addr, "GET", &format!("/{b}?browser=true"), &[], b"");
        assert_eq!(status, 200);
        assert!(body.contains("k.txt"), "{body}");
        let link = body
            .split("href=\"")
            .filter_map(|x| x.split('"').next())
            .find(|h| h.starts_with(&format!("/{b}/k.txt?")))
            .unwrap_or_else(|| panic!("no download link in {body}"))
            .replace("&amp;", "&");
        let (status, _, body) = http(&addr, "GET", &link, &[], b"");
        assert_eq!((status, body.as_str()), (200, "in a bucket"));
        let (status, _, body) = http(&addr, "GET", &format!("/{b}/k.txt"), &[], b"");
        assert_eq!(status, 403, "{body}");
    }
}

fn request_id(head: &str) -> String {
    head.lines()
        .find_map(|l| l.strip_prefix("x-amz-request-id: "))
        .expect("x-amz-request-id")
        .trim()
        .to_ascii_uppercase()
}

/// s3cmd's and the aws CLI's feature probes (`?cors`, `?website`, …) are answered 501 and logged
/// at debug with their request id, never as WARN; the access log has a line per request; the
/// JSON format carries the id in the span.
#[test]
fn probe_log_lines_are_debug_and_carry_the_request_id() {
    let env = Env::new();
    env.ok(&["sh", "bucket", "create", "/s3v/bucket1"]);
    let access = env.path("access.log");
    let server = Server::start(
        &env,
        &["--access-log", access.to_str().unwrap()],
        &[("RUST_LOG", "debug")],
    );
    let addr = server.addr.clone();
    let (ok, text) = env.aws("alice", &addr, &["s3api", "get-bucket-cors", "--bucket", "bucket1"]);
    assert!(!ok && text.contains("NotImplemented"), "{text}");
    let (ok, text) = env.aws("alice", &addr, &["s3api", "get-bucket-website", "--bucket", "bucket1"]);
    assert!(!ok && text.contains("NotImplemented"), "{text}");
    env.aws_ok("alice", &addr, &["s3api", "head-bucket", "--bucket", "bucket1"]);
    let (status, head, _) = http(&addr, "GET", "/bucket1?cors", &[], b"");
    assert_eq!(status, 501);
    let rid = request_id(&head);
    let log_path = env.path("stderr.log");
    wait_until("the access log line of the probe", Duration::from_secs(30), || {
        std::fs::read_to_string(&access).unwrap_or_default().contains(&rid)
    });
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&rid)).collect();
    assert!(lines.len() >= 2, "the probe's lines carry its request id {rid}:\n{log}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("DEBUG") && l.contains("not implemented")),
        "{lines:?}"
    );
    for l in log.lines() {
        assert!(
            !l.contains(" WARN ") && !l.contains(" ERROR "),
            "a probe logged as a fault: {l}"
        );
    }
    let access_text = std::fs::read_to_string(&access).unwrap();
    let line = access_text.lines().find(|l| l.contains(&rid)).unwrap();
    assert!(
        line.contains("status=501") && line.contains("GET /bucket1?cors"),
        "{line}"
    );
    assert!(
        access_text.contains("user=alice"),
        "signed requests name their user: {access_text}"
    );
    assert!(
        !log.contains("ozfs::access"),
        "access lines go to the file, not to stderr"
    );
    drop(server);

    // JSON lines: the request id travels in the span.
    let env = Env::new();
    env.ok(&["sh", "bucket", "create", "/s3v/bucket1"]);
    let server = Server::start(&env, &["--log-format", "json"], &[("RUST_LOG", "debug")]);
    let (_, head, _) = http(&server.addr, "GET", "/bucket1?website", &[], b"");
    let rid = request_id(&head);
    let log_path = env.path("stderr.log");
    wait_until("the JSON log line", Duration::from_secs(30), || {
        std::fs::read_to_string(&log_path).unwrap_or_default().contains(&rid)
    });
    let log = std::fs::read_to_string(&log_path).unwrap();
    let line = log.lines().find(|l| l.contains(&rid)).unwrap();
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    assert!(line.contains("\"level\":\"DEBUG\""), "{line}");
    assert!(line.contains(&format!("\"id\":\"{rid}\"")), "{line}");
}

/// `--version`, completions for three shells, and a port conflict that names `--listen`.
#[test]
fn version_completions_and_port_conflict() {
    let env = Env::new();
    let v = env.ok(&["--version"]);
    assert_eq!(v.trim(), format!("ozfs {}", env!("CARGO_PKG_VERSION")));
    for shell in ["bash", "zsh", "fish"] {
        let c = env.ok(&["completions", shell]);
        assert!(
            c.contains("ozfs") && c.contains("serve") && c.contains("getsecret"),
            "{shell}: {c}"
        );
    }
    let out = env.run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = env.run(&["serve", "--listen", &addr]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("already in use") && err.contains("--listen"), "{err}");
}

/// `ozfs sh key put/get` of a large file: nothing extra when piped; a progress bar on a terminal
/// (a pty made by `script`).
#[test]
fn transfer_progress_only_on_a_terminal() {
    let env = Env::new();
    env.ok(&["sh", "bucket", "create", "/s3v/bucket1"]);
    let big = env.path("big.bin");
    std::fs::write(&big, pattern(24 << 20)).unwrap();
    let out = env.run(&["sh", "key", "put", "/s3v/bucket1/big.bin", big.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "piped put printed {out:?}"
    );
    let back = env.path("back.bin");
    let out = env.run(&["sh", "key", "get", "/s3v/bucket1/big.bin", back.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "piped get printed {out:?}"
    );
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&big).unwrap());

    // On a terminal: `script` runs the command on a pty and copies what it drew.
    for (verb, args) in [
        ("put", format!("sh key put /s3v/bucket1/big2.bin {}", big.display())),
        (
            "get",
            format!("sh key get --force /s3v/bucket1/big2.bin {}", back.display()),
        ),
    ] {
        let cmdline = format!("{BIN} {args}");
        let child = Command::new("script")
            .args(["-qefc", &cmdline, "/dev/null"])
            .env("OZFS_DATA", env.path("data"))
            .env("HOME", env.dir.path())
            .env("USER", "tester")
            .env("TERM", "xterm")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("script (util-linux) is missing");
        let out = wait_bounded(child, &cmdline);
        let screen = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{verb}: {screen}");
        assert!(
            screen.contains(&format!("{verb} ")) && screen.contains("MiB") && screen.contains('['),
            "{verb}: no progress bar on the terminal: {screen:?}"
        );
    }
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&big).unwrap());
}

/// A key records the access key that wrote it: `ozfs sh key info` and ListObjectsV2 with
/// fetch-owner show it (not the bucket's owner); `ozfs sh key put` records the user running it.
#[test]
fn keys_record_who_wrote_them() {
    let env = Env::new();
    let server = Server::start(&env, &[], &[]);
    let addr = server.addr.clone();
    env.aws_ok("bob", &addr, &["s3api", "create-bucket", "--bucket", "shared"]);
    let f = env.path("f.txt");
    std::fs::write(&f, b"x").unwrap();
    env.aws_ok(
        "alice",
        &addr,
        &["s3", "cp", f.to_str().unwrap(), "s3://shared/by-alice.txt"],
    );
    env.aws_ok(
        "bob",
        &addr,
        &["s3", "cp", f.to_str().unwrap(), "s3://shared/by-bob.txt"],
    );
    env.aws_ok(
        "carol",
        &addr,
        &[
            "s3",
            "cp",
            "s3://shared/by-alice.txt",
            "s3://shared/copied-by-carol.txt",
        ],
    );
    env.ok(&["sh", "key", "put", "/s3v/shared/by-cli.txt", f.to_str().unwrap()]);

    let info = env.ok(&["sh", "key", "info", "/s3v/shared/by-alice.txt"]);
    assert!(info.contains("\"owner\" : \"alice\""), "{info}");
    let info = env.ok(&["sh", "key", "info", "/s3v/shared/by-cli.txt"]);
    assert!(info.contains("\"owner\" : \"tester\""), "{info}");
    let bucket = env.ok(&["sh", "bucket", "info", "/s3v/shared"]);
    assert!(bucket.contains("\"owner\" : \"bob\""), "{bucket}");

    let listing = env.aws_ok(
        "bob",
        &addr,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            "shared",
            "--fetch-owner",
            "--query",
            "Contents[].[Key,Owner.DisplayName]",
            "--output",
            "text",
        ],
    );
    let owners: Vec<(String, String)> = listing
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, o)| (k.to_string(), o.trim().to_string()))
        .collect();
    let want = [
        ("by-alice.txt", "alice"),
        ("by-bob.txt", "bob"),
        ("by-cli.txt", "tester"),
        ("copied-by-carol.txt", "carol"),
    ];
    for (k, o) in want {
        assert!(
            owners.iter().any(|(kk, oo)| kk == k && oo == o),
            "{k} should be owned by {o}: {listing}"
        );
    }
}

/// The bucket page in headless Chromium (tests/e2e/browser_page.py drives it over the DevTools
/// protocol): no row for a folder's own marker; with security off a folder is created and a
/// file uploaded from the page; with security on the page has no forms and writes are refused.
/// Screenshots stay in target/test-output/browser_page/.
#[test]
fn bucket_page_in_headless_chromium() {
    let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-output/browser_page");
    std::fs::create_dir_all(&out_dir).unwrap();
    let env = Env::new();
    let server = Server::start(&env, &[], &[]);
    let addr = server.addr.clone();
    env.aws_ok("alice", &addr, &["s3api", "create-bucket", "--bucket", "pics"]);
    let f = env.path("a.txt");
    std::fs::write(&f, b"hello").unwrap();
    env.aws_ok(
        "alice",
        &addr,
        &["s3", "cp", f.to_str().unwrap(), "s3://pics/docs/a.txt"],
    );
    env.aws_ok(
        "alice",
        &addr,
        &["s3api", "put-object", "--bucket", "pics", "--key", "docs/"],
    );
    let upload = env.path("upload-me.txt");
    std::fs::write(&upload, b"uploaded from chromium").unwrap();

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/browser_page.py");
    let child = Command::new("python3")
        .arg(&script)
        .args([
            "--url",
            &format!("http://{addr}/pics?browser=true&prefix=docs%2F"),
            "--upload",
            upload.to_str().unwrap(),
            "--folder",
            "made-in-browser",
            "--out",
            out_dir.to_str().unwrap(),
            "--profile",
            env.path("chromium-profile").to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is missing");
    let out = wait_bounded(child, "browser_page.py");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser_page.py failed (scripts/test-deps-browser.sh installs chromium and websocket-client):\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What the page showed before the writes: a.txt, and no nameless marker row.
    assert!(report.contains("rows-before: a.txt\n"), "{report}");
    // The writes reached the store.
    let keys = env.aws_ok("alice", &addr, &["s3", "ls", "--recursive", "s3://pics"]);
    assert!(keys.contains("docs/made-in-browser/"), "{keys}");
    assert!(keys.contains("docs/upload-me.txt"), "{keys}");
    let got = env.path("got.txt");
    env.aws_ok(
        "alice",
        &addr,
        &["s3", "cp", "s3://pics/docs/upload-me.txt", got.to_str().unwrap()],
    );
    assert_eq!(std::fs::read(&got).unwrap(), b"uploaded from chromium");
    assert!(
        report.contains("rows-after: made-in-browser/ a.txt upload-me.txt\n"),
        "{report}"
    );
    assert!(out_dir.join("bucket-page.png").exists());
    drop(server);

    // Security on: read-only.
    let env = Env::new();
    let server = Server::start(&env, &["--secure"], &[]);
    env.ok(&["sh", "bucket", "create", "/s3v/pub"]);
    let (status, _, body) = http(&server.addr, "GET", "/pub?browser=true", &[], b"");
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("id=\"upload\""));
    let (status, _, body) = http(
        &server.addr,
        "POST",
        "/pub/x.txt?browser=upload",
        &[("x-ozfs-browser", "1")],
        b"x",
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("read-only"), "{body}");
}

/// Cross-site writes are refused: without the page's header, or from another origin.
#[test]
fn bucket_page_writes_refuse_other_origins() {
    let env = Env::new();
    env.ok(&["sh", "bucket", "create", "/s3v/bucket1"]);
    let server = Server::start(&env, &[], &[]);
    let a = &server.addr;
    let (s, _, _) = http(a, "POST", "/bucket1/x.txt?browser=upload", &[], b"x");
    assert_eq!(s, 403);
    let evil = [("x-ozfs-browser", "1"), ("origin", "http://evil.example")];
    let (s, _, _) = http(a, "POST", "/bucket1/x.txt?browser=upload", &evil, b"x");
    assert_eq!(s, 403);
    let cross = [("x-ozfs-browser", "1"), ("sec-fetch-site", "cross-site")];
    let (s, _, _) = http(a, "POST", "/bucket1/d/?browser=folder", &cross, b"");
    assert_eq!(s, 403);
    let own_origin = format!("http://{a}");
    let good = [("x-ozfs-browser", "1"), ("origin", own_origin.as_str())];
    let (s, _, _) = http(a, "POST", "/bucket1/x.txt?browser=upload", &good, b"x");
    assert_eq!(s, 201);
    let (s, _, _) = http(a, "POST", "/bucket1/d/?browser=folder", &good, b"");
    assert_eq!(s, 201);
    let (s, _, _) = http(a, "POST", "/bucket1/d/?browser=folder", &good, b"");
    assert_eq!(s, 200, "an existing folder is fine");
    let keys = env.ok(&["sh", "key", "list", "/s3v/bucket1"]);
    assert!(keys.contains("\"d/\"") && keys.contains("\"x.txt\""), "{keys}");
    let info = env.ok(&["sh", "key", "info", "/s3v/bucket1/x.txt"]);
    assert!(info.contains("\"owner\" : \"anonymous\""), "{info}");
}
