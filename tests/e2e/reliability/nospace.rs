//! Disk full through both doors under load (issue 13, item 3). The data directory and the
//! mount's staging directory live on a 40 MiB tmpfs the test mounts (and unmounts) itself under
//! a temporary directory. Two S3 clients PUT 1 MiB objects and one writer writes 1 MiB files
//! through the in-process mount until each has been refused several times. Then:
//! - every refusal was clean: S3 `507 InsufficientStorage` (S3 XML), ENOSPC on the mount (at
//!   write or at close); no other error;
//! - everything acknowledged reads back whole while the disk is full;
//! - after deletes free space, both doors serve writes again (waited for with a deadline);
//! - after a restart every acknowledged object that was not deleted is there, `tmp/` is empty.

use crate::common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount(8)");
        assert!(
            st.success(),
            "this test mounts a small tmpfs and needs root (CAP_SYS_ADMIN): mount failed ({st})"
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn obj(t: u32, i: u32) -> Vec<u8> {
    (0..(1u32 << 20))
        .map(|j| (j.wrapping_mul(2654435761) >> 13) as u8 ^ (t * 31 + i) as u8)
        .collect()
}

#[allow(
    unsafe_code,
    reason = "close(2) through libc: dropping a File ignores close's result"
)]
fn close_checked(f: std::fs::File) -> std::io::Result<()> {
    use std::os::fd::IntoRawFd;
    let fd = f.into_raw_fd();
    // SAFETY: `fd` came from into_raw_fd, so it is open and owned here and closed exactly once.
    if unsafe { libc::close(fd) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn write_file(p: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(p)?;
    f.write_all(data)?;
    close_checked(f)
}

#[test]
fn disk_full_through_both_doors_and_back() {
    let root = tempfile::tempdir().unwrap();
    let small = root.path().join("small");
    let mnt = root.path().join("mnt");
    std::fs::create_dir_all(&small).unwrap();
    std::fs::create_dir_all(&mnt).unwrap();
    let _fs = Tmpfs::mount(&small, "40m");
    let (data, staging) = (small.join("data"), small.join("staging"));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&staging).unwrap();
    cli(&data, &["sh", "bucket", "create", "/s3v/full"]);
    let mut serve = Serve::start_env(&data, Some(("full", &mnt)), &[], None, &[("TMPDIR", &staging)]);
    let s3 = serve.client("filler", "filler-secret");
    // key → md5 of everything acknowledged, through either door.
    let acked = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let deadline = Instant::now() + Duration::from_secs(120);

    let s3_workers: Vec<_> = (0..2u32)
        .map(|t| {
            let (s3, acked) = (s3.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut refusals = 0;
                for i in 0..200u32 {
                    if refusals >= 5 || Instant::now() > deadline {
                        break;
                    }
                    let (key, body) = (format!("s3/{t}-{i}"), obj(t, i));
                    let r = s3.put("full", &key, &body).unwrap_or_else(|e| panic!("PUT {key}: {e}"));
                    if r.ok() {
                        acked.lock().unwrap().push((key, md5hex(&body)));
                    } else {
                        assert_eq!(
                            (r.status, r.code().as_deref()),
                            (507, Some("InsufficientStorage")),
                            "PUT {key} on a full disk: {}",
                            r.text()
                        );
                        refusals += 1;
                    }
                }
                refusals
            })
        })
        .collect();
    let (mnt2, acked2) = (mnt.clone(), acked.clone());
    let fuse_refusals = watchdog("writes through the full mount", Duration::from_secs(180), move || {
        std::fs::create_dir_all(mnt2.join("fs")).unwrap();
        let mut refusals = 0;
        for i in 0..200u32 {
            if refusals >= 5 || Instant::now() > deadline {
                break;
            }
            let (key, body) = (format!("fs/{i}"), obj(9, i));
            match write_file(&mnt2.join(&key), &body) {
                Ok(()) => acked2.lock().unwrap().push((key, md5hex(&body))),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "write {key} on a full disk: {e}");
                    refusals += 1;
                    let _ = std::fs::remove_file(mnt2.join(&key));
                }
            }
        }
        refusals
    });
    let s3_refusals: Vec<u32> = s3_workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(fuse_refusals > 0, "the mount never reported ENOSPC");
    assert!(
        s3_refusals.iter().all(|&r| r > 0),
        "an S3 client never got 507: {s3_refusals:?}"
    );
    let acked = acked.lock().unwrap().clone();
    assert!(!acked.is_empty(), "nothing fitted at all");

    // Everything acknowledged reads back while the disk is full.
    for (key, sum) in &acked {
        let r = s3.get("full", key).unwrap();
        assert!(r.ok(), "GET {key} while full: {} {}", r.status, r.text());
        assert_eq!(&md5hex(&r.body), sum, "{key} damaged");
    }
    // Free space: delete half (through both doors).
    let (gone, kept): (Vec<_>, Vec<_>) = acked.iter().cloned().enumerate().partition(|(i, _)| i % 2 == 0);
    for (_, (key, _)) in &gone {
        if key.starts_with("fs/") {
            std::fs::remove_file(mnt.join(key)).unwrap_or_else(|e| panic!("rm {key} while full: {e}"));
        } else {
            let r = s3.delete("full", key).unwrap();
            assert!(r.ok(), "DELETE {key} while full: {} {}", r.status, r.text());
        }
    }
    // Service comes back through both doors (space is reclaimed as the deletes commit).
    let back = Instant::now() + Duration::from_secs(60);
    loop {
        let r = s3.put("full", "after/s3", b"room again").unwrap();
        let f = write_file(&mnt.join("after-fs"), b"room again too");
        if r.ok() && f.is_ok() {
            break;
        }
        assert!(
            Instant::now() < back,
            "writes still refused 60 s after freeing space: S3 {} {}, mount {f:?}",
            r.status,
            r.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(serve.stop(), "ozfs serve did not stop cleanly");
    let mut serve = Serve::start_env(&data, Some(("full", &mnt)), &[], None, &[("TMPDIR", &staging)]);
    let s3 = serve.client("filler", "filler-secret");
    for (_, (key, sum)) in &kept {
        let r = s3.get("full", key).unwrap();
        assert!(r.ok(), "{key} lost after the restart: {}", r.status);
        assert_eq!(&md5hex(&r.body), sum, "{key} damaged after the restart");
    }
    for (_, (key, _)) in &gone {
        assert_eq!(s3.get("full", key).unwrap().status, 404, "{key} came back");
    }
    assert_eq!(std::fs::read(mnt.join("after-fs")).unwrap(), b"room again too");
    assert_eq!(
        std::fs::read_dir(data.join("tmp")).unwrap().count(),
        0,
        "tmp/ not empty"
    );
    serve.stop();
    eprintln!(
        "disk full: {} acknowledged, S3 507 x {:?}, mount ENOSPC x {fuse_refusals}, {} deleted, service back, 0 lost",
        acked.len(),
        s3_refusals,
        gone.len()
    );
}
