//! Fixtures of the reliability suite: the real `ozfs serve` binary (optionally with an
//! in-process mount, `--mount`) that a test may SIGKILL and restart on the same data directory,
//! and a small blocking S3 client that sends requests signed with `ozfs::sigv4` over a plain TCP
//! socket (so a test sees exactly what was acknowledged: a 2xx status line that arrived).

#![allow(dead_code, reason = "shared by several test binaries, each using only part of it")]

use http::{HeaderMap, HeaderValue, Method};
use md5::{Digest, Md5};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

pub fn ozfs() -> &'static str {
    env!("CARGO_BIN_EXE_ozfs")
}

pub fn md5hex(d: &[u8]) -> String {
    hex::encode(Md5::digest(d))
}

/// Run `ozfs ARGS --data DIR` in local mode (no server running) or through a running server's
/// admin API; returns stdout; panics with stderr on failure.
pub fn cli(data: &Path, args: &[&str]) -> String {
    let out = Command::new(ozfs())
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("run ozfs");
    assert!(
        out.status.success(),
        "ozfs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub use crate::support::is_mounted;

/// A running `ozfs serve` (and its mount, if asked for). Killed with SIGKILL on drop; a mount it
/// leaves behind is detached (`umount -l`).
pub struct Serve {
    pub child: Option<Child>,
    pub addr: String,
    pub mnt: Option<PathBuf>,
    pub stderr_log: PathBuf,
}

impl Serve {
    /// Start `ozfs serve --data DATA --listen 127.0.0.1:0 [--mount BUCKET:MNT] EXTRA` and wait
    /// (bounded) until it serves and has mounted. Its stderr goes to `log`
    /// when `log` is given (for tests that read the log), else to the test's stderr.
    pub fn start(data: &Path, mount: Option<(&str, &Path)>, extra: &[&str], log: Option<&Path>) -> Serve {
        Self::start_env(data, mount, extra, log, &[])
    }

    /// [`Serve::start`] with extra environment variables (e.g. `TMPDIR`, where the mount stages).
    pub fn start_env(
        data: &Path,
        mount: Option<(&str, &Path)>,
        extra: &[&str],
        log: Option<&Path>,
        env: &[(&str, &Path)],
    ) -> Serve {
        let mut cmd = Command::new(ozfs());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"]);
        if let Some((bucket, mnt)) = mount {
            cmd.arg("--mount").arg(format!("{bucket}:{}", mnt.display()));
        }
        cmd.args(extra).stdin(Stdio::null()).stdout(Stdio::piped());
        let stderr_log = log.map(Path::to_path_buf).unwrap_or_default();
        match log {
            Some(p) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .expect("log file");
                cmd.stderr(Stdio::from(f));
            }
            None => {
                cmd.stderr(Stdio::inherit());
            }
        }
        let mut child = cmd.spawn().expect("spawn ozfs serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut addr = None;
        let mut mounted = mount.is_none();
        let deadline = Instant::now() + Duration::from_secs(60);
        while addr.is_none() || !mounted {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(u) = line.strip_prefix("ozfs: serving S3 on http://") {
                        addr = Some(u.trim().to_string());
                    }
                    if line.starts_with("ozfs: mounted at") {
                        mounted = true;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("ozfs serve did not come up within 60 s (addr {addr:?}, mounted {mounted})");
                }
            }
        }
        Serve {
            child: Some(child),
            addr: addr.unwrap(),
            mnt: mount.map(|(_, m)| m.to_path_buf()),
            stderr_log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// SIGKILL and reap; a mount stays in place, dead (every call on it fails with ENOTCONN),
    /// so a client still working on it cannot fall through to the directory underneath.
    pub fn kill_only(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGKILL, reap, detach the dead mount.
    pub fn kill9(&mut self) {
        self.kill_only();
        if let Some(m) = &self.mnt {
            if is_mounted(m) {
                let _ = Command::new("umount").arg("-l").arg(m).status();
            }
        }
    }

    /// SIGTERM and wait (bounded) for a clean exit; returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else { return true };
        #[allow(unsafe_code, reason = "kill(2) through libc: std's Child::kill only sends SIGKILL")]
        // SAFETY: kill(2) only reads its two integer arguments; the pid is our own child.
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.success();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn client(&self, access: &str, secret: &str) -> S3 {
        S3 {
            addr: self.addr.clone(),
            access: access.to_string(),
            secret: secret.to_string(),
            timeout: Duration::from_secs(60),
        }
    }

    /// Resident set size (KiB) and open descriptors of the server process.
    pub fn rss_and_fds(&self) -> (u64, usize) {
        proc_rss_and_fds(self.pid())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn proc_rss_and_fds(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    (rss, fds)
}

/// An S3 response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The S3 error code of an XML error body.
    pub fn code(&self) -> Option<String> {
        let t = self.text();
        let s = t.find("<Code>")? + 6;
        let e = t[s..].find("</Code>")? + s;
        Some(t[s..e].to_string())
    }
}

/// A minimal blocking S3 client over raw HTTP/1.1, one connection per request.
#[derive(Clone)]
pub struct S3 {
    pub addr: String,
    pub access: String,
    pub secret: String,
    pub timeout: Duration,
}

/// Percent-encode a key for a path (keeping `/`).
pub fn enc(key: &str) -> String {
    ozfs::sigv4::canonical::uri_encode(key.as_bytes(), false)
}

impl S3 {
    /// The bytes of a SigV4-signed request (path already encoded, query raw without `?`).
    pub fn signed(&self, method: &str, path: &str, query: &str, extra: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, HeaderValue::from_str(&self.addr).unwrap());
        for (n, v) in extra {
            headers.append(
                http::header::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let params = ozfs::sigv4::SigningParams {
            access_key: &self.access,
            secret_key: &self.secret,
            region: "us-east-1",
            service: "s3",
            time: SystemTime::now(),
        };
        let hash = ozfs::sigv4::canonical::sha256_hex(body);
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let signed = ozfs::sigv4::sign_request(&m, path, query, &headers, &hash, &params);
        signed.apply(&mut headers);
        let target = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        let mut out = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
        for (n, v) in &headers {
            out.extend_from_slice(n.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        out
    }

    /// Send raw request bytes; read the whole response (the connection is closed after it).
    pub fn send_raw(&self, bytes: &[u8]) -> std::io::Result<Resp> {
        let mut s = TcpStream::connect(&self.addr)?;
        s.set_read_timeout(Some(self.timeout))?;
        s.set_write_timeout(Some(self.timeout))?;
        s.write_all(bytes)?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)?;
        parse_response(&buf).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "unparseable response: {:?}",
                    String::from_utf8_lossy(&buf[..buf.len().min(300)])
                ),
            )
        })
    }

    pub fn req(
        &self,
        method: &str,
        path: &str,
        query: &str,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Resp> {
        self.send_raw(&self.signed(method, path, query, extra, body))
    }

    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) -> std::io::Result<Resp> {
        self.req("PUT", &format!("/{bucket}/{}", enc(key)), "", &[], body)
    }
    pub fn get(&self, bucket: &str, key: &str) -> std::io::Result<Resp> {
        self.req("GET", &format!("/{bucket}/{}", enc(key)), "", &[], b"")
    }
    pub fn delete(&self, bucket: &str, key: &str) -> std::io::Result<Resp> {
        self.req("DELETE", &format!("/{bucket}/{}", enc(key)), "", &[], b"")
    }
    pub fn copy(&self, bucket: &str, src: &str, dst: &str) -> std::io::Result<Resp> {
        let source = format!("/{bucket}/{}", enc(src));
        self.req(
            "PUT",
            &format!("/{bucket}/{}", enc(dst)),
            "",
            &[("x-amz-copy-source", &source)],
            b"",
        )
    }
    pub fn create_bucket(&self, bucket: &str) -> std::io::Result<Resp> {
        self.req("PUT", &format!("/{bucket}"), "", &[], b"")
    }
    /// DeleteObjects (`POST ?delete`) of `keys`.
    pub fn delete_objects(&self, bucket: &str, keys: &[String]) -> std::io::Result<Resp> {
        let mut x = String::from("<Delete><Quiet>true</Quiet>");
        for k in keys {
            x.push_str("<Object><Key>");
            x.push_str(&xml_escape(k));
            x.push_str("</Key></Object>");
        }
        x.push_str("</Delete>");
        use base64::Engine as _;
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(x.as_bytes()));
        self.req(
            "POST",
            &format!("/{bucket}"),
            "delete=",
            &[("content-md5", &md5)],
            x.as_bytes(),
        )
    }
    /// A whole multipart upload of `parts` (each but the last ≥ 5 MiB); the complete's answer.
    pub fn multipart(&self, bucket: &str, key: &str, parts: &[&[u8]]) -> std::io::Result<Resp> {
        let path = format!("/{bucket}/{}", enc(key));
        let r = self.req("POST", &path, "uploads=", &[], b"")?;
        if !r.ok() {
            return Ok(r);
        }
        let t = r.text();
        let id = between(&t, "<UploadId>", "</UploadId>").unwrap_or_default();
        let mut done = String::from("<CompleteMultipartUpload>");
        for (i, p) in parts.iter().enumerate() {
            let q = format!("partNumber={}&uploadId={}", i + 1, enc(&id));
            let r = self.req("PUT", &path, &q, &[], p)?;
            if !r.ok() {
                return Ok(r);
            }
            let etag = r.header("etag").unwrap_or_default().to_string();
            done.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>",
                i + 1
            ));
        }
        done.push_str("</CompleteMultipartUpload>");
        self.req("POST", &path, &format!("uploadId={}", enc(&id)), &[], done.as_bytes())
    }
    /// Every key of `bucket` (ListObjectsV2, all pages).
    pub fn list(&self, bucket: &str) -> std::io::Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = String::from("list-type=2");
            if let Some(t) = &token {
                q.push_str(&format!("&continuation-token={}", enc(t).replace('/', "%2F")));
            }
            let r = self.req("GET", &format!("/{bucket}"), &q, &[], b"")?;
            if !r.ok() {
                return Err(std::io::Error::other(format!(
                    "list {bucket}: {} {}",
                    r.status,
                    r.text()
                )));
            }
            let t = r.text();
            let mut rest = t.as_str();
            while let Some(i) = rest.find("<Key>") {
                let j = rest[i..].find("</Key>").unwrap() + i;
                keys.push(xml_unescape(&rest[i + 5..j]));
                rest = &rest[j..];
            }
            token = between(&t, "<NextContinuationToken>", "</NextContinuationToken>").map(|s| xml_unescape(&s));
            if token.is_none() {
                return Ok(keys);
            }
        }
    }
}

pub fn between(t: &str, a: &str, b: &str) -> Option<String> {
    let s = t.find(a)? + a.len();
    let e = t[s..].find(b)? + s;
    Some(t[s..e].to_string())
}

pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn parse_response(buf: &[u8]) -> Option<Resp> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n")?;
            let n = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).ok()?.trim(), 16).ok()?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(rest.get(nl + 2..nl + 2 + n)?);
            rest = &rest[nl + 4 + n..];
        }
        body = out;
    } else if let Some(len) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        if body.len() < len {
            return None; // cut short
        }
        body.truncate(len);
    }
    Some(Resp { status, headers, body })
}

/// Run `f` on a thread; fail the test (instead of hanging it) if it does not finish in time.
pub fn watchdog<T: Send + 'static>(what: &str, limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(_) => panic!("watchdog: {what} did not finish within {limit:?} (a hang)"),
    }
}
