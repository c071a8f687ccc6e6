//! `ozfs mount --endpoint` shows the true mode, owner and type of every entry on the FIRST
//! `ls -l` of a fresh mount, for entries another mount made (symlink, `chmod 600`, `chown`,
//! `chmod 700` directory): from `ozfs serve`'s listing extension with no HEAD at all, and from a
//! plain S3 listing (a server without the extension, simulated by the proxy) with one HEAD per
//! entry, not repeated for an unchanged version.
//!
//! Needs fuse3 (scripts/test-deps-fuse.sh); runs as root (chown).

#[path = "fault_proxy.rs"]
mod fault_proxy;
#[path = "serve_common.rs"]
mod serve_common;

use fault_proxy::Proxy;
use serve_common::{is_mounted, ozfs, Server};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Bound on any one command (a hang detector, not a speed check).
const BOUND: Duration = Duration::from_secs(120);

/// Run `cmd` to completion within [`BOUND`] (killed and panicking past it).
fn run(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + BOUND;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn sh_ok(script: &str) -> String {
    let mut c = Command::new("sh");
    c.args(["-c", script]);
    let o = run(c);
    assert!(
        o.status.success(),
        "`{script}` failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `ozfs mount --endpoint ENDPOINT bucket1` with the default TTLs; unmounted on drop.
struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    fn new(endpoint: &str) -> Mount {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(ozfs());
        cmd.args(["mount", "--endpoint", endpoint, "bucket1"])
            .arg(dir.path())
            .env("AWS_ACCESS_KEY_ID", "tester")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env_remove("AWS_PROFILE");
        let out = run(cmd);
        assert!(
            out.status.success(),
            "ozfs mount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(is_mounted(dir.path()));
        Mount { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let p = self.dir.path();
        if is_mounted(p) && !Command::new("umount").arg(p).status().is_ok_and(|s| s.success()) {
            let _ = Command::new("umount").arg("-l").arg(p).status();
        }
    }
}

/// A server with bucket1 holding, made through one `--endpoint` mount: a symlink, a `chmod 600`
/// file, a file chowned to 1234:5678, a `chmod 700` directory and a plain file.
fn populated() -> (Server, Proxy) {
    let server = Server::start();
    server.sh(&["sh", "bucket", "create", "/s3v/bucket1"]);
    {
        let writer = Mount::new(&format!("http://{}", server.addr));
        sh_ok(&format!(
            "cd {} && ln -s some/target link && echo s > secret && chmod 600 secret && \
             echo o > owned && chown 1234:5678 owned && mkdir dir && chmod 700 dir && \
             echo p > dir/inner && echo p > plain",
            writer.path().display()
        ));
    }
    let port: u16 = server.addr.rsplit(':').next().unwrap().parse().unwrap();
    let proxy = Proxy::start(port);
    (server, proxy)
}

/// `ls -ln` of `dir`, as name → (mode string, uid, gid, link target).
fn ls_ln(dir: &Path) -> std::collections::BTreeMap<String, (String, u32, u32, Option<String>)> {
    let out = sh_ok(&format!("LC_ALL=C ls -ln --time-style=+%s {}", dir.display()));
    let mut m = std::collections::BTreeMap::new();
    for line in out.lines().filter(|l| !l.starts_with("total")) {
        // mode links uid gid size time name [-> target]
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(f.len() >= 7, "ls line {line:?}");
        let (name, target) = match f[6..].iter().position(|w| *w == "->") {
            Some(i) => (f[6..6 + i].join(" "), Some(f[7 + i..].join(" "))),
            None => (f[6..].join(" "), None),
        };
        m.insert(
            name,
            (f[0].to_string(), f[2].parse().unwrap(), f[3].parse().unwrap(), target),
        );
    }
    m
}

fn assert_true_attributes(dir: &Path) {
    let l = ls_ln(dir);
    #[allow(unsafe_code, reason = "geteuid(2)/getegid(2) through libc: std has no portable call")]
    // SAFETY: geteuid and getegid take no arguments and cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let e = |n: &str| l.get(n).unwrap_or_else(|| panic!("{n} not listed: {l:?}")).clone();
    assert_eq!(
        e("link"),
        ("lrwxrwxrwx".into(), uid, gid, Some("some/target".into())),
        "{l:?}"
    );
    assert_eq!(e("secret"), ("-rw-------".into(), uid, gid, None), "{l:?}");
    assert_eq!(e("owned"), ("-rw-r--r--".into(), 1234, 5678, None), "{l:?}");
    assert_eq!(e("dir"), ("drwx------".into(), uid, gid, None), "{l:?}");
    assert_eq!(e("plain"), ("-rw-r--r--".into(), uid, gid, None), "{l:?}");
    assert_eq!(l.len(), 5, "{l:?}");
}

#[test]
fn first_listing_through_ozfs_serve_is_true_with_no_head() {
    let (_server, proxy) = populated();
    let m = Mount::new(&proxy.endpoint());
    let heads = proxy.requests_of("HEAD");
    assert_true_attributes(m.path());
    assert_eq!(
        proxy.requests_of("HEAD") - heads,
        0,
        "the listing carried every entry's metadata: no HEAD"
    );
    // What `ls -l` asks per entry beyond the listing: security.selinux and
    // system.posix_acl_access, answered ENOTSUP so that it stops asking (see SEMANTICS.md).
    for name in ["security.selinux", "system.posix_acl_access"] {
        let e = xattr(&m.path().join("plain"), name).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP), "{name}: {e}");
    }
}

/// getxattr(2) of `name` on `path` (size probe).
fn xattr(path: &Path, name: &str) -> std::io::Result<isize> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    #[allow(unsafe_code, reason = "getxattr(2) through libc: std has no xattr calls")]
    // SAFETY: two NUL-terminated strings and a null buffer of size 0 (a size probe).
    let r = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

#[test]
fn first_listing_of_a_plain_s3_server_heads_each_entry_once() {
    let (_server, proxy) = populated();
    proxy.plain_listings(true);
    let m = Mount::new(&proxy.endpoint());
    let heads = proxy.requests_of("HEAD");
    assert_true_attributes(m.path());
    let first = proxy.requests_of("HEAD") - heads;
    // four objects and one directory marker
    assert!(first >= 5, "{first} HEADs for 5 entries");
    // Listed again (a new opendir lists again): the objects' versions are unchanged, so only the
    // directory's marker is HEADed again.
    let heads = proxy.requests_of("HEAD");
    assert_true_attributes(m.path());
    assert_eq!(proxy.requests_of("HEAD") - heads, 1, "only the marker is HEADed again");
}
