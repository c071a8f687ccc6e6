//! End-to-end tests of the FUSE mount: every test mounts a bucket of a real store with the real
//! kernel (fuse3) in a fresh temp dir, drives it with shell commands, Python or std::fs, checks
//! the result on the mount and through the store, and unmounts in Drop.

#[path = "fuse_common.rs"]
mod common;

use common::{mount, opts, Backend};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

fn scenarios_script() -> String {
    format!("{}/../tests/e2e/fuse_goofys_scenarios.sh", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn goofys_shell_scenarios_pass() {
    let m = mount(Backend::Local, "", opts());
    let out = m.sh_ok(&format!("bash {} {}", scenarios_script(), m.path().display()));
    for name in [
        "sequential_write",
        "append",
        "mv_file",
        "mv_directory",
        "mkdir_rmdir",
        "list",
        "remove_nonempty_directory",
        "multipart_write_and_copy",
        "special_characters",
        "extended_attributes",
        "rm_rf_dir",
        "cleanup",
    ] {
        assert!(out.contains(&format!("ok {name}\n")), "scenario {name} missing:\n{out}");
    }
}

#[test]
fn goofys_shell_scenarios_pass_with_prefix() {
    let m = mount(Backend::Local, "pre/fix", opts());
    m.sh_ok(&format!("bash {} {}", scenarios_script(), m.path().display()));
    m.sh_ok("echo hi > inside");
    assert_eq!(m.get("pre/fix/inside").unwrap(), b"hi\n");
}

#[test]
fn mkdir_writes_marker_and_rmdir_reports_enotempty() {
    let m = mount(Backend::Local, "", opts());
    std::fs::create_dir(m.p("d")).unwrap();
    assert!(m.head("d/").is_some(), "mkdir writes the d/ marker");
    std::fs::write(m.p("d/f"), b"x").unwrap();
    let e = std::fs::remove_dir(m.p("d")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOTEMPTY));
    std::fs::remove_file(m.p("d/f")).unwrap();
    std::fs::remove_dir(m.p("d")).unwrap();
    assert!(m.head("d/").is_none());
}

#[test]
fn implicit_directories_and_their_disappearance() {
    let m = mount(Backend::Local, "", opts());
    m.put("a/b/c.txt", b"deep");
    assert!(m.p("a").is_dir());
    assert!(m.p("a/b").is_dir());
    assert_eq!(std::fs::read(m.p("a/b/c.txt")).unwrap(), b"deep");
    std::fs::remove_file(m.p("a/b/c.txt")).unwrap();
    // The implicit directory had nothing else: it is gone after its entry TTL. Not
    // synchronisation: letting the 1 s TTL pass is the behaviour under test.
    std::thread::sleep(Duration::from_millis(1200));
    assert!(!m.p("a/b").exists());
}

#[test]
fn close_makes_object_visible_and_fsync_is_durable() {
    let m = mount(Backend::Local, "", opts());
    let mut f = std::fs::File::create(m.p("f.txt")).unwrap();
    f.write_all(b"hello").unwrap();
    assert!(m.get("f.txt").is_none(), "nothing uploaded before close/fsync");
    f.sync_all().unwrap();
    assert_eq!(m.get("f.txt").unwrap(), b"hello", "fsync commits");
    f.write_all(b" world").unwrap();
    drop(f);
    assert_eq!(m.get("f.txt").unwrap(), b"hello world", "close commits");
}

/// ioctl is not supported: ENOTTY, what a tool asking "is this a terminal?" (Python's `open`
/// asks TCGETS of every file) expects of a regular file; FS_IOC_GETFLAGS gets the same.
#[test]
fn ioctl_answers_enotty() {
    let m = mount(Backend::Local, "", opts());
    std::fs::write(m.p("t.txt"), b"x").unwrap();
    let script = "import os, sys, fcntl\n\
fd = os.open(sys.argv[1], os.O_RDONLY)\n\
print(os.isatty(fd))\n\
try:\n    fcntl.ioctl(fd, 0x80086601, bytes(8))\nexcept OSError as e:\n    print(e.errno)\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(m.p("t.txt"))
        .output()
        .expect("python3 is missing");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("False\n{}\n", libc::ENOTTY)
    );
}

/// `--passthrough`: a file opened read-only is read by the kernel from the store's data file.
/// While such a handle is open, an open for writing is refused with EBUSY and readers keep the
/// version it opened, even across an overwrite through the store; once it is closed (the
/// kernel's RELEASE comes in the background: the writer's open waits for it), writes work again
/// and new readers see the new bytes. Small (inline) objects are read through ozfs as before.
#[test]
fn passthrough_reads_the_data_file_and_refuses_writers_meanwhile() {
    use std::io::Read;
    let m = mount(
        Backend::Local,
        "",
        ozfs_fuse::MountOptions {
            passthrough: true,
            ..opts()
        },
    );
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    m.put("big.bin", &big);
    let mut r = std::fs::File::open(m.p("big.bin")).unwrap();
    let mut head = vec![0u8; 1000];
    r.read_exact(&mut head).unwrap();
    assert_eq!(head, big[..1000]);
    let busy = std::fs::OpenOptions::new()
        .write(true)
        .open(m.p("big.bin"))
        .unwrap_err();
    assert_eq!(
        busy.raw_os_error(),
        Some(libc::EBUSY),
        "{busy}: passthrough not in use (it needs root and Linux 6.9+)"
    );
    // overwritten through the store: the open reader, and a reader opened now, read the old
    // version (the kernel allows one backing file per inode at a time)
    m.put("big.bin", &[7u8; 200_000]);
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, big[1000..]);
    let second = std::fs::read(m.p("big.bin")).unwrap();
    assert!(
        second == big || second == [7u8; 200_000],
        "one of the two versions, whole"
    );
    drop(r);
    // closed: the new version is read, and writing works again. The kernel sends RELEASE after
    // close returns, so an open right away may still share the old backing file: wait
    // (bounded) for the new version.
    let deadline = Instant::now() + Duration::from_secs(10);
    let now = loop {
        let got = std::fs::read(m.p("big.bin")).unwrap();
        if got.len() == 200_000 || Instant::now() > deadline {
            break got;
        }
        assert!(got == big, "the old version or the new, whole");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(now == vec![7u8; 200_000], "the new version once the handle is released");
    std::fs::write(m.p("big.bin"), b"rewritten").unwrap();
    assert_eq!(m.get("big.bin").unwrap(), b"rewritten");
    // a small object has no data file of its own: read through ozfs, writers not refused
    let mut small = std::fs::File::open(m.p("big.bin")).unwrap();
    std::fs::write(m.p("big.bin"), b"again").unwrap();
    let mut got = String::new();
    small.read_to_string(&mut got).unwrap();
    assert_eq!(
        got, "again",
        "a caching reader sees the rewrite, as without passthrough"
    );
}

#[test]
fn write_sync_write_close() {
    let m = mount(Backend::Local, "", opts());
    let mut f = std::fs::File::create(m.p("wsw")).unwrap();
    f.write_all(b"a").unwrap();
    f.sync_all().unwrap();
    f.write_all(b"b").unwrap();
    f.sync_all().unwrap();
    drop(f);
    assert_eq!(m.get("wsw").unwrap(), b"ab");
}

#[test]
fn random_writes_overwrite_append_truncate_in_place() {
    let m = mount(Backend::Local, "", opts());
    let orig: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    m.put("data.bin", &orig);
    let mut model = orig.clone();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.p("data.bin"))
        .unwrap();
    f.seek(SeekFrom::Start(1_234_567)).unwrap();
    f.write_all(b"PATCH").unwrap();
    model[1_234_567..1_234_572].copy_from_slice(b"PATCH");
    f.set_len(2_000_000).unwrap();
    model.truncate(2_000_000);
    drop(f);
    let mut a = std::fs::OpenOptions::new().append(true).open(m.p("data.bin")).unwrap();
    a.write_all(b"APPENDED").unwrap();
    model.extend_from_slice(b"APPENDED");
    drop(a);
    assert_eq!(std::fs::read(m.p("data.bin")).unwrap(), model);
    assert_eq!(m.get("data.bin").unwrap(), model);
    // dd conv=notrunc into an existing file (what goofys refuses)
    m.sh_ok("printf XY | dd of=data.bin bs=1 seek=2 conv=notrunc status=none");
    model[2..4].copy_from_slice(b"XY");
    assert_eq!(m.get("data.bin").unwrap(), model);
    // truncate(1) on a closed file
    m.sh_ok("truncate -s 10 data.bin");
    assert_eq!(m.get("data.bin").unwrap(), &model[..10]);
}

#[test]
fn fork_then_close_does_not_break_the_parent() {
    let m = mount(Backend::Local, "", opts());
    let script = r#"
import os, sys
f = open("forked.txt", "w")
f.write("parent-1 ")
f.flush()
pid = os.fork()
if pid == 0:
    f.close()          # the child closes its inherited copy
    os._exit(0)
os.waitpid(pid, 0)
f.write("parent-2")
f.close()
print(open("forked.txt").read())
"#;
    let out = m.sh_ok(&format!("python3 -c '{}'", script.replace('\'', "\"")));
    assert_eq!(out.trim(), "parent-1 parent-2");
    assert_eq!(m.get("forked.txt").unwrap(), b"parent-1 parent-2");
}

#[test]
fn rename_before_close_and_over_existing_file() {
    let m = mount(Backend::Local, "", opts());
    let mut f = std::fs::File::create(m.p("tmp.part")).unwrap();
    f.write_all(b"payload").unwrap();
    std::fs::rename(m.p("tmp.part"), m.p("final")).unwrap();
    f.write_all(b"+more").unwrap();
    drop(f);
    assert!(m.get("tmp.part").is_none());
    assert_eq!(m.get("final").unwrap(), b"payload+more");
    // over an existing file
    std::fs::write(m.p("old"), b"old").unwrap();
    std::fs::write(m.p("new"), b"new").unwrap();
    std::fs::rename(m.p("new"), m.p("old")).unwrap();
    assert_eq!(std::fs::read(m.p("old")).unwrap(), b"new");
    assert!(!m.p("new").exists());
    assert_eq!(m.get("old").unwrap(), b"new");
    assert!(m.get("new").is_none());
}

#[test]
fn rename_directory_moves_every_key() {
    let m = mount(Backend::Local, "", opts());
    m.sh_ok("mkdir -p src/a/b && echo 1 > src/x && echo 2 > src/a/b/y");
    std::fs::rename(m.p("src"), m.p("dst")).unwrap();
    let mut keys = m.keys("");
    keys.sort();
    assert_eq!(keys, vec!["dst/", "dst/a/", "dst/a/b/", "dst/a/b/y", "dst/x"]);
    assert_eq!(std::fs::read(m.p("dst/a/b/y")).unwrap(), b"2\n");
    assert!(!m.p("src").exists());
}

#[test]
fn chmod_chown_utimes_symlink_stored_like_s3fs() {
    let m = mount(Backend::Local, "", opts());
    std::fs::write(m.p("f"), b"x").unwrap();
    std::fs::set_permissions(m.p("f"), std::fs::Permissions::from_mode(0o741)).unwrap();
    m.sh_ok("chown 1234:5678 f && touch -m -d @1500000000 f && ln -s f link && ln -s /abs/target dangling");
    let meta = std::fs::metadata(m.p("f")).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o741);
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
    assert_eq!(meta.mtime(), 1_500_000_000);
    let info = m.head("f").unwrap();
    let u = &info.attrs.user;
    assert_eq!(u.get("mode").map(String::as_str), Some("33249")); // S_IFREG|0741
    assert_eq!(u.get("uid").map(String::as_str), Some("1234"));
    assert_eq!(u.get("gid").map(String::as_str), Some("5678"));
    assert_eq!(u.get("mtime").map(String::as_str), Some("1500000000"));
    assert_eq!(std::fs::read_link(m.p("link")).unwrap().to_str(), Some("f"));
    assert_eq!(std::fs::read(m.p("link")).unwrap(), b"x");
    assert_eq!(
        std::fs::read_link(m.p("dangling")).unwrap().to_str(),
        Some("/abs/target")
    );
    let l = m.head("dangling").unwrap();
    assert_eq!(l.attrs.user.get("mode").map(String::as_str), Some("41471"));
    assert_eq!(m.get("dangling").unwrap(), b"/abs/target");
    // hard links are not supported
    let e = std::fs::hard_link(m.p("f"), m.p("hard")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOTSUP));
}

#[test]
fn xattrs_getfattr_setfattr_and_erange() {
    let m = mount(Backend::Local, "", opts());
    std::fs::write(m.p("f"), b"x").unwrap();
    m.sh_ok("setfattr -n user.name -v value f");
    assert_eq!(
        m.head("f").unwrap().attrs.user.get("name").map(String::as_str),
        Some("value")
    );
    let listed = m.sh_ok("getfattr -m - --absolute-names f | sort");
    assert!(listed.contains("s3.etag") && listed.contains("s3.storage-class") && listed.contains("user.name"));
    let etag = m.sh_ok("getfattr --only-values -n s3.etag f");
    assert_eq!(etag, format!("\"{}\"", m.head("f").unwrap().etag));
    // a too small buffer gets ERANGE (size probe semantics)
    let script = r#"
import os, errno, ctypes
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(2)
n = libc.getxattr(b"f", b"user.name", buf, 2)
print(n, ctypes.get_errno() == errno.ERANGE, libc.getxattr(b"f", b"user.name", None, 0))
"#;
    let out = m.sh_ok(&format!("python3 -c '{}'", script.replace('\'', "\"")));
    assert_eq!(out.trim(), "-1 True 5");
}

#[test]
fn python_copytree() {
    let m = mount(Backend::Local, "", opts());
    let src = tempfile::tempdir().unwrap();
    for d in ["a", "a/b", "c"] {
        std::fs::create_dir_all(src.path().join(d)).unwrap();
    }
    std::fs::write(src.path().join("a/f1"), b"one").unwrap();
    std::fs::write(src.path().join("a/b/f2"), vec![7u8; 300_000]).unwrap();
    std::fs::write(src.path().join("top"), b"top").unwrap();
    m.sh_ok(&format!(
        "python3 -c 'import shutil; shutil.copytree(\"{}\", \"copy\")'",
        src.path().display()
    ));
    m.sh_ok(&format!("diff -r {} copy", src.path().display()));
    assert_eq!(m.get("copy/a/b/f2").unwrap().len(), 300_000);
}

#[test]
fn same_process_store_changes_are_visible_at_once() {
    // TTLs of one minute: only the change feed can make these visible immediately.
    let m = mount(
        Backend::Local,
        "",
        ozfs_fuse::MountOptions {
            stat_cache_ttl: Duration::from_secs(60),
            type_cache_ttl: Duration::from_secs(60),
            ..Default::default()
        },
    );
    m.put("ext.txt", b"first");
    assert_eq!(std::fs::read(m.p("ext.txt")).unwrap(), b"first");
    m.put("ext.txt", b"second version");
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let now = std::fs::read(m.p("ext.txt")).unwrap();
        if now == b"second version" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "overwrite not visible: {:?}",
            String::from_utf8_lossy(&now)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    m.delete("ext.txt");
    let deadline = Instant::now() + Duration::from_secs(2);
    while m.p("ext.txt").exists() {
        assert!(Instant::now() < deadline, "delete not visible");
        std::thread::sleep(Duration::from_millis(20));
    }
    // and the other way: a file closed on the mount is an object at once
    std::fs::write(m.p("from-mount"), b"m").unwrap();
    assert_eq!(m.get("from-mount").unwrap(), b"m");
}

#[test]
fn external_changes_show_after_the_ttl() {
    // No change feed: what a change made by another client of a remote endpoint looks like.
    let m = mount(
        Backend::Local,
        "",
        ozfs_fuse::MountOptions {
            stat_cache_ttl: Duration::from_secs(1),
            type_cache_ttl: Duration::from_secs(1),
            notify_changes: false,
            ..Default::default()
        },
    );
    m.put("file", b"v1");
    assert_eq!(std::fs::read(m.p("file")).unwrap(), b"v1");
    m.put("file", b"version-2");
    // Not synchronisation: letting the 1 s TTLs pass is the behaviour under test.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(std::fs::read(m.p("file")).unwrap(), b"version-2");
    m.put("newfile", b"n");
    // Not synchronisation: letting the 1 s TTLs pass is the behaviour under test.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(std::fs::read(m.p("newfile")).unwrap(), b"n");
}

#[test]
fn large_directory_streams_and_ls_l_uses_listing_attributes() {
    let m = mount(Backend::Mem, "", opts());
    let n = 100_000;
    m.rt.block_on(async {
        for i in 0..n {
            m.store
                .put_object(
                    &m.bucket,
                    &format!("big/f{i:06}"),
                    ozfs::body_from_bytes(vec![b'x'; i % 7]),
                    Default::default(),
                )
                .await
                .unwrap();
        }
    });
    let t = Instant::now();
    let count = m.sh_ok("ls -f big | grep -c '^f'");
    assert_eq!(count.trim(), n.to_string());
    eprintln!("ls -f of {n} entries: {:?}", t.elapsed());
    let t = Instant::now();
    let out = m.sh_ok("ls -l big | awk 'NR>1 {s+=$5} END {print NR-1, s}'");
    eprintln!("ls -l of {n} entries: {:?}", t.elapsed());
    let expect: usize = (0..n).map(|i| i % 7).sum();
    assert_eq!(out.trim(), format!("{n} {expect}"));
}

#[test]
fn statfs_and_df() {
    let m = mount(Backend::Local, "", opts());
    let out = m.sh_ok("stat -f -c '%b %S %c' .");
    let parts: Vec<u64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert_eq!(parts, vec![(1u64 << 50) / 4096, 4096, 1_000_000_000]);
}

#[test]
fn read_only_mount_refuses_changes() {
    let mut o = opts();
    o.fuse_options = vec!["ro".into()];
    let m = mount(Backend::Local, "", o);
    m.put("r", b"readable");
    assert_eq!(std::fs::read(m.p("r")).unwrap(), b"readable");
    let e = std::fs::write(m.p("w"), b"x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
}

#[test]
fn unmount_on_drop_leaves_nothing_mounted() {
    let mut m = mount(Backend::Local, "", opts());
    let path = m.path().to_path_buf();
    std::fs::write(m.p("x"), b"1").unwrap();
    m.unmount();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(path.to_str().unwrap()));
    assert!(
        std::fs::read_dir(&path).unwrap().next().is_none(),
        "mount point is empty again"
    );
}

#[test]
fn concurrent_writers_readers_and_listers() {
    // 6 threads write, rewrite, append and read their own files while 2 threads list and stat
    // the shared directory and a coherence writer goes through the store: every result checked,
    // everything bounded.
    let m = mount(Backend::Local, "", opts());
    std::fs::create_dir(m.p("shared")).unwrap();
    let root = m.path().to_path_buf();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut threads = Vec::new();
    for t in 0..6u8 {
        let root = root.clone();
        threads.push(std::thread::spawn(move || {
            for round in 0..15u32 {
                let p = root.join(format!("shared/t{t}-{}", round % 4));
                let body: Vec<u8> = (0..(50_000 + round as usize * 7_919)).map(|i| (i as u8) ^ t).collect();
                std::fs::write(&p, &body).unwrap();
                let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
                f.write_all(b"end").unwrap();
                drop(f);
                let got = std::fs::read(&p).unwrap();
                assert_eq!(got.len(), body.len() + 3, "thread {t} round {round}");
                assert_eq!(&got[..body.len()], &body[..]);
                if round % 5 == 4 {
                    let q = root.join(format!("shared/t{t}-renamed"));
                    std::fs::rename(&p, &q).unwrap();
                    assert_eq!(std::fs::read(&q).unwrap().len(), got.len());
                    std::fs::remove_file(&q).unwrap();
                }
            }
        }));
    }
    for _ in 0..2 {
        let (root, stop) = (root.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut lists = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && lists < 2_000 {
                for e in std::fs::read_dir(root.join("shared")).unwrap() {
                    let e = e.unwrap();
                    // entries may vanish between readdir and stat; anything else is an error
                    if let Err(err) = e.metadata() {
                        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
                    }
                }
                lists += 1;
            }
        }));
    }
    for i in 0..30 {
        m.put(&format!("shared/ext-{}", i % 3), format!("external {i}").as_bytes());
    }
    let (writers, listers): (Vec<_>, Vec<_>) = threads.into_iter().enumerate().partition(|(i, _)| *i < 6);
    for (_, w) in writers {
        w.join().expect("writer thread");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for (_, l) in listers {
        l.join().expect("lister thread");
    }
    let mut names: Vec<String> = std::fs::read_dir(m.p("shared"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 6 * 4 - 6 + 3, "{names:?}"); // 4 names per writer, one renamed away per 5 rounds
    for n in &names {
        let key = format!("shared/{n}");
        assert_eq!(m.get(&key).unwrap(), std::fs::read(m.p(&key)).unwrap(), "{key}");
    }
}
