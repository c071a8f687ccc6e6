//! `ozfs mount`: parse goofys's command line, open the store, mount, go to the background once
//! the mount works, and unmount cleanly on SIGINT/SIGTERM.
//!
//! Backgrounding (goofys's behaviour, without forking a threaded process): unless `-f`, the
//! command re-executes the `ozfs` binary as `ozfs mount -f ...` in a new session with a pipe
//! inherited through `_OZFS_MOUNT_NOTIFY`. The child mounts and writes `OK` to the pipe, then
//! detaches its stdio; the parent exits 0 on `OK` and 1 otherwise, so every error before the
//! mount (bad bucket, endpoint, mount point) is printed and fails the command.

use crate::args::{self, MountArgs};
use crate::backend;
use crate::mount::{mount_store, MountOptions};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;

const NOTIFY_ENV: &str = "_OZFS_MOUNT_NOTIFY";
/// Allocations of at least this size get their own mapping from glibc, returned to the OS when
/// freed: the page cache's full pages among them, so an evicted page never stays resident as a
/// free hole in the heap (smaller pages are the cache's heap trim's job; see
/// docs/bench-findings.md, "Peak RSS per workload").
pub const MMAP_THRESHOLD: usize = ozfs::cache::DEFAULT_PAGE_SIZE as usize;

/// `ozfs mount …` (args after "mount"), and the mount-helper form (`ozfs bucket mnt -o opts`,
/// args after argv[0]); daemonizes unless -f; returns the process exit code.
///
/// The background child is started as `<current exe> mount -f <args>`, so the binary's `mount`
/// subcommand must route here.
pub fn run_mount_command(args: Vec<OsString>) -> i32 {
    limit_malloc_arenas();
    let massaged = args::massage_helper_args(args);
    let parsed = match args::parse(massaged.clone()) {
        Ok(a) => a,
        Err(e) => return crate::usage::usage_error(e),
    };
    init_logging(&parsed);
    let notify = std::env::var(NOTIFY_ENV).ok().and_then(|v| v.parse::<RawFd>().ok());
    if !parsed.foreground && notify.is_none() {
        return spawn_background(massaged);
    }
    #[allow(unsafe_code, reason = "adopting the notification descriptor the parent passed down")]
    // SAFETY: the descriptor number came from our parent through the environment and is ours.
    let notify = notify.map(|fd| unsafe { std::fs::File::from_raw_fd(fd) });
    std::env::remove_var(NOTIFY_ENV);
    run_foreground(parsed, notify)
}

/// Cap glibc's malloc arenas at 2. With one arena per thread (8 FUSE threads + the runtime),
/// the 1 MiB read and page buffers freed on one thread are kept in that thread's arena, and a
/// 1 GiB sequential read left the resident size 150 MiB above the page-cache budget; with two
/// arenas it stays within ~60 MiB of it (measured, see the report). Process-wide: a binary that
/// mounts in-process (`ozfs serve --mount`) may call it first thing too.
#[allow(unsafe_code, reason = "mallopt(3) through libc: std has no allocator tunables")]
pub fn limit_malloc_arenas() {
    // SAFETY: mallopt only changes allocator tunables; both parameters are valid on glibc.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        // A fixed threshold also stops glibc from raising it after the first large free, which
        // would move later 16 MiB FUSE request buffers (one per worker, mostly untouched) from
        // lazily-zeroed mmaps into the heap, where calloc has to clear them.
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
    }
}

fn init_logging(a: &MountArgs) {
    // fuser's unmount-on-drop warning is kept out by `logging::filter` (see there).
    let mut extra = Vec::new();
    if a.debug_fuse {
        extra.extend(["ozfs_fuse=debug", "fuser=debug"]);
    }
    if a.debug_s3 {
        extra.push("ozfs=debug");
    }
    let _ = crate::logging::init(crate::logging::LogFormat::from_env(), &extra, None);
}

#[allow(
    unsafe_code,
    reason = "pipe2(2), a pre_exec hook (setsid, fcntl) and owning the pipe's descriptors"
)]
fn spawn_background(args: Vec<OsString>) -> i32 {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("ozfs: cannot find own executable: {e}");
            return 1;
        }
    };
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two descriptors for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        eprintln!("ozfs: pipe: {}", std::io::Error::last_os_error());
        return 1;
    }
    let (rfd, wfd) = (fds[0], fds[1]);
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("mount").arg("-f").args(args).env(NOTIFY_ENV, wfd.to_string());
    cmd.stdin(std::process::Stdio::null());
    // SAFETY: only async-signal-safe calls (setsid, fcntl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            let flags = libc::fcntl(wfd, libc::F_GETFD);
            if flags < 0 || libc::fcntl(wfd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn();
    // SAFETY: both descriptors were just created by pipe2 and are owned here.
    let (mut r, w) = unsafe { (std::fs::File::from_raw_fd(rfd), std::fs::File::from_raw_fd(wfd)) };
    drop(w);
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ozfs: starting the background process: {e}");
            return 1;
        }
    };
    let mut msg = String::new();
    let _ = r.read_to_string(&mut msg);
    if msg.starts_with("OK") {
        return 0;
    }
    let status = child.wait();
    eprintln!(
        "ozfs: unable to mount file system{}",
        match status {
            Ok(s) if !s.success() => format!(" (background process {s})"),
            _ => String::new(),
        }
    );
    1
}

fn mount_options(a: &MountArgs) -> MountOptions {
    let mut o = MountOptions::default();
    if let Some(u) = a.uid {
        o.uid = u;
    }
    if let Some(g) = a.gid {
        o.gid = g;
    }
    o.dir_mode = (a.dir_mode & 0o7777) as u16;
    o.file_mode = (a.file_mode & 0o7777) as u16;
    o.stat_cache_ttl = a.stat_cache_ttl;
    o.type_cache_ttl = a.type_cache_ttl;
    o.cheap = a.cheap;
    o.no_implicit_dir = a.no_implicit_dir;
    o.readdir_heads = a.readdir_heads;
    o.passthrough = a.passthrough;
    o.fuse_options = a.options.clone();
    o.fsname = Some(a.bucket.clone());
    o.threads = a.threads.max(1);
    o.staging_dir = a.staging_dir.clone();
    if let Some(s) = a.staging_size {
        o.staging_limit = s;
    }
    o.backend_deadline = Some(a.backend_deadline);
    o
}

#[allow(unsafe_code, reason = "sigset_t built through libc: std has no signal API")]
fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

#[allow(
    unsafe_code,
    reason = "pthread_sigmask and sigtimedwait through libc: std has no signal API"
)]
fn run_foreground(a: MountArgs, notify: Option<std::fs::File>) -> i32 {
    // Block SIGINT/SIGTERM before any thread starts, so every thread inherits the mask and the
    // main thread receives them with sigtimedwait.
    let set = signal_set();
    // SAFETY: `set` is initialised; a null old-set pointer is allowed.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    let fail = |msg: String, notify: Option<std::fs::File>| {
        eprintln!("ozfs: {msg}");
        if let Some(mut n) = notify {
            let _ = n.write_all(b"ERR\n");
        }
        1
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ozfs-rt")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("tokio runtime: {e}"), notify),
    };
    let _enter = rt.enter();
    let settings = match backend::settings(&a) {
        Ok(s) => s,
        Err(e) => return fail(e, notify),
    };
    let store = match backend::open_store(&a, &settings) {
        Ok(s) => s,
        Err(e) => return fail(e, notify),
    };
    let (bucket, prefix) = a.bucket_and_prefix();
    let bucket = ozfs::BucketPath::new(settings.s3_volume.clone(), bucket);
    let handle = match mount_store(store, bucket, prefix, &a.mountpoint, mount_options(&a)) {
        Ok(h) => h,
        Err(e) => return fail(e.to_string(), notify),
    };
    if let Some(mut n) = notify {
        let _ = n.write_all(b"OK\n");
        drop(n);
        detach_stdio();
    }
    loop {
        let timeout = libc::timespec { tv_sec: 1, tv_nsec: 0 };
        // SAFETY: `set` and `timeout` are valid; a null siginfo pointer is allowed.
        let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &timeout) };
        if sig == libc::SIGINT || sig == libc::SIGTERM {
            log::info!("signal {sig}: unmounting {}", a.mountpoint.display());
            return match handle.unmount_with_retries(20) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("ozfs: {e}");
                    1
                }
            };
        }
        if !handle.is_mounted() {
            // Unmounted from outside (umount, fusermount -u).
            drop(handle);
            return 0;
        }
    }
}

#[allow(unsafe_code, reason = "dup2(2) through libc onto the standard descriptors")]
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors with a valid open descriptor.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}
