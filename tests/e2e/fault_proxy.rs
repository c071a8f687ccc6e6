//! A fault-injecting HTTP proxy on 127.0.0.1 for the end-to-end tests of RemoteStore (`ozfs
//! mount --endpoint`, `ozfs serve --backend`): it sits in front of a real S3 endpoint (an
//! `ozfs serve`) and, for requests that match a [`Rule`], injects a [`Fault`] instead of (or
//! while) passing the request on. Every other request is passed through unchanged.
//!
//! One thread per client connection, one upstream connection per request (sent with
//! `Connection: close`, so the upstream answer ends at EOF), and every answer to the client
//! closes its connection: the faults then act on exactly one request each.

#![allow(dead_code, reason = "shared by several test binaries, each using only part of it")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// What to do to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer 503 SlowDown without passing the request on.
    SlowDown,
    /// Answer 500 InternalError without passing the request on.
    InternalError,
    /// Answer 200 with an `<Error><Code>InternalError</Code>…` body (what S3 does when a
    /// CopyObject or CompleteMultipartUpload fails after the status line went out), without
    /// passing the request on.
    ErrorIn200,
    /// Pass the request on, send the answer's head and half its body, then reset (RST).
    ResetMidBody,
    /// Pass the request on, send the head and half the body, then close (FIN): a truncated body.
    Truncate,
    /// Pass the request on, send a `Content-Length` of half the body and that half: a body that
    /// is complete by its own header but shorter than the object range it claims.
    ShortContentLength,
    /// Pass the request on, announce a `Content-Length` 1000 bytes larger than the body, send the
    /// body, then close.
    LongContentLength,
    /// Read the request and never answer (until [`Proxy::release_stalls`] or the proxy drops).
    Stall,
}

/// Inject `fault` into the next `count` requests whose method is `method` (any when empty) and
/// whose request head contains `contains` (case-insensitive; any when empty).
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: &'static str,
    pub contains: &'static str,
    pub fault: Fault,
    pub count: usize,
}

impl Rule {
    pub fn new(method: &'static str, contains: &'static str, fault: Fault, count: usize) -> Rule {
        Rule {
            method,
            contains,
            fault,
            count,
        }
    }
}

struct Shared {
    upstream: SocketAddr,
    rules: Mutex<Vec<(Rule, usize)>>,
    stalls: Mutex<bool>,
    released: Condvar,
    stopped: AtomicBool,
    requests: AtomicUsize,
    /// Requests by method (`GET`, `HEAD`, ...).
    by_method: Mutex<std::collections::HashMap<String, usize>>,
    /// Answer listings as a server without ozfs's `ozfs-metadata` extension would.
    plain_listings: AtomicBool,
}

/// The proxy; stops (and releases stalled requests) on drop.
pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
}

impl Proxy {
    /// A proxy to `127.0.0.1:upstream_port`.
    pub fn start(upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            upstream: SocketAddr::from(([127, 0, 0, 1], upstream_port)),
            rules: Mutex::new(Vec::new()),
            stalls: Mutex::new(false),
            released: Condvar::new(),
            stopped: AtomicBool::new(false),
            requests: AtomicUsize::new(0),
            by_method: Mutex::new(std::collections::HashMap::new()),
            plain_listings: AtomicBool::new(false),
        });
        let sh = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sh.stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let sh = sh.clone();
                std::thread::spawn(move || {
                    let _ = handle(&sh, conn);
                });
            }
        });
        Proxy { port, shared }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Add a rule (rules are tried in the order added).
    pub fn add(&self, rule: Rule) {
        self.shared.rules.lock().unwrap().push((rule, 0));
    }

    /// Remove every rule; returns how many faults each injected, in the order added.
    pub fn clear(&self) -> Vec<(Fault, usize)> {
        let rules = std::mem::take(&mut *self.shared.rules.lock().unwrap());
        rules.into_iter().map(|(r, n)| (r.fault, n)).collect()
    }

    /// Faults injected so far by the rules in place, in the order added.
    pub fn injected(&self) -> Vec<(Fault, usize)> {
        self.shared
            .rules
            .lock()
            .unwrap()
            .iter()
            .map(|(r, n)| (r.fault, *n))
            .collect()
    }

    /// Let every stalled request go (its connection is then closed without an answer).
    pub fn release_stalls(&self) {
        *self.shared.stalls.lock().unwrap() = true;
        self.shared.released.notify_all();
    }

    /// Requests seen (passed or faulted).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Requests with `method` passed so far.
    pub fn requests_of(&self, method: &str) -> usize {
        self.shared.by_method.lock().unwrap().get(method).copied().unwrap_or(0)
    }

    /// From now on, answer listings as an S3 server that ignores ozfs's `ozfs-metadata`
    /// extension does (the result no longer says `<OzfsMetadata>true`, so a client must take the
    /// metadata for unknown).
    pub fn plain_listings(&self, on: bool) {
        self.shared.plain_listings.store(on, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.release_stalls();
        // wake the accept loop
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Position just past the `\r\n\r\n` ending a head.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn header_value(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// Read one request (head and `Content-Length` body) from `c`; `None` at EOF.
fn read_request(c: &mut TcpStream, pending: &mut Vec<u8>) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = [0u8; 65536];
    let end = loop {
        if let Some(e) = head_end(pending) {
            break e;
        }
        let n = c.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        pending.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&pending[..end]).into_owned();
    let len: usize = header_value(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while pending.len() < end + len {
        let n = c.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        pending.extend_from_slice(&buf[..n]);
    }
    let body = pending[end..end + len].to_vec();
    pending.drain(..end + len);
    Ok(Some((head, body)))
}

fn take_fault(sh: &Shared, head: &str) -> Option<Fault> {
    let method = head.split_whitespace().next().unwrap_or_default();
    let lower = head.to_ascii_lowercase();
    let mut rules = sh.rules.lock().unwrap();
    for (r, used) in rules.iter_mut() {
        if *used < r.count
            && (r.method.is_empty() || r.method == method)
            && (r.contains.is_empty() || lower.contains(&r.contains.to_ascii_lowercase()))
        {
            *used += 1;
            return Some(r.fault);
        }
    }
    None
}

fn error_answer(status: &str, code: &str) -> Vec<u8> {
    let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected by the fault proxy</Message></Error>");
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Pass a request on and return the whole upstream answer (head, body).
fn forward(sh: &Shared, head: &str, body: &[u8]) -> std::io::Result<(String, Vec<u8>)> {
    let mut up = TcpStream::connect(sh.upstream)?;
    let mut lines: Vec<&str> = head.trim_end().split("\r\n").collect();
    lines.retain(|l| {
        !l.split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("connection"))
    });
    let mut out = lines.join("\r\n");
    out.push_str("\r\nConnection: close\r\n\r\n");
    up.write_all(out.as_bytes())?;
    up.write_all(body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    let end = head_end(&answer).ok_or_else(|| std::io::Error::other("upstream answer without a head"))?;
    let head = String::from_utf8_lossy(&answer[..end]).into_owned();
    Ok((head, answer[end..].to_vec()))
}

/// `head` with `Content-Length` replaced by `len` and `Connection: close`.
fn with_length(head: &str, len: usize) -> String {
    let mut lines: Vec<String> = head
        .trim_end()
        .split("\r\n")
        .filter(|l| {
            !l.split_once(':').is_some_and(|(n, _)| {
                n.trim().eq_ignore_ascii_case("content-length") || n.trim().eq_ignore_ascii_case("connection")
            })
        })
        .map(str::to_string)
        .collect();
    lines.push(format!("Content-Length: {len}"));
    lines.push("Connection: close".into());
    lines.join("\r\n") + "\r\n\r\n"
}

/// Close with an RST (SO_LINGER 0) instead of a FIN.
fn reset(c: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    #[allow(
        unsafe_code,
        reason = "setsockopt(SO_LINGER) through libc: std cannot set a zero linger"
    )]
    // SAFETY: setsockopt on a socket we own, with a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            c.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(c);
}

fn handle(sh: &Shared, mut c: TcpStream) -> std::io::Result<()> {
    let mut pending = Vec::new();
    let Some((head, body)) = read_request(&mut c, &mut pending)? else {
        return Ok(());
    };
    sh.requests.fetch_add(1, Ordering::SeqCst);
    let method = head.split_whitespace().next().unwrap_or_default().to_string();
    *sh.by_method.lock().unwrap().entry(method).or_default() += 1;
    let fault = take_fault(sh, &head);
    match fault {
        Some(Fault::SlowDown) => c.write_all(&error_answer("503 Slow Down", "SlowDown"))?,
        Some(Fault::InternalError) => c.write_all(&error_answer("500 Internal Server Error", "InternalError"))?,
        Some(Fault::ErrorIn200) => c.write_all(&error_answer("200 OK", "InternalError"))?,
        Some(Fault::Stall) => {
            let mut released = sh.stalls.lock().unwrap();
            while !*released {
                let (r, _) = sh.released.wait_timeout(released, Duration::from_secs(600)).unwrap();
                released = r;
                if sh.stopped.load(Ordering::SeqCst) {
                    break;
                }
            }
            reset(c);
            return Ok(());
        }
        Some(f) => {
            let (up_head, up_body) = forward(sh, &head, &body)?;
            let half = up_body.len() / 2;
            match f {
                Fault::ResetMidBody => {
                    c.write_all(with_length(&up_head, up_body.len()).as_bytes())?;
                    c.write_all(&up_body[..half])?;
                    c.flush()?;
                    reset(c);
                }
                Fault::Truncate => {
                    c.write_all(with_length(&up_head, up_body.len()).as_bytes())?;
                    c.write_all(&up_body[..half])?;
                    let _ = c.shutdown(std::net::Shutdown::Both);
                }
                Fault::ShortContentLength => {
                    c.write_all(with_length(&up_head, half).as_bytes())?;
                    c.write_all(&up_body[..half])?;
                    let _ = c.shutdown(std::net::Shutdown::Both);
                }
                Fault::LongContentLength => {
                    c.write_all(with_length(&up_head, up_body.len() + 1000).as_bytes())?;
                    c.write_all(&up_body)?;
                    let _ = c.shutdown(std::net::Shutdown::Both);
                }
                _ => unreachable!(),
            }
            return Ok(());
        }
        None => {
            let (up_head, mut up_body) = forward(sh, &head, &body)?;
            const EXT: &[u8] = b"<OzfsMetadata>true</OzfsMetadata>";
            if sh.plain_listings.load(Ordering::SeqCst) {
                if let Some(at) = up_body.windows(EXT.len()).position(|w| w == EXT) {
                    up_body.drain(at..at + EXT.len());
                }
            }
            let chunked = header_value(&up_head, "transfer-encoding").is_some_and(|v| v.contains("chunked"));
            if chunked {
                // pass the raw chunked body on, closing afterwards
                let lines: Vec<&str> = up_head
                    .trim_end()
                    .split("\r\n")
                    .filter(|l| {
                        !l.split_once(':')
                            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("connection"))
                    })
                    .collect();
                c.write_all((lines.join("\r\n") + "\r\nConnection: close\r\n\r\n").as_bytes())?;
            } else if head.starts_with("HEAD ")
                || up_head.starts_with("HTTP/1.1 204")
                || up_head.starts_with("HTTP/1.1 304")
            {
                // keep the upstream's Content-Length (a HEAD announces the object's size)
                let lines: Vec<&str> = up_head
                    .trim_end()
                    .split("\r\n")
                    .filter(|l| {
                        !l.split_once(':')
                            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("connection"))
                    })
                    .collect();
                c.write_all((lines.join("\r\n") + "\r\nConnection: close\r\n\r\n").as_bytes())?;
            } else {
                c.write_all(with_length(&up_head, up_body.len()).as_bytes())?;
            }
            c.write_all(&up_body)?;
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
    Ok(())
}
