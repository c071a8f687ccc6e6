//! The change-feed deadlock suspicion (issue 13, item 4): kernel invalidations must never make
//! a FUSE request wait. A storm of S3 PUTs and DELETEs on keys of one directory (every one
//! publishes a change that invalidates the kernel's entry for its name and the directory)
//! runs while the mount creates, renames, stats and lists in that same directory. Bounded in
//! count and time; a watchdog fails the test instead of letting a hang stall the suite. At the
//! end every file the mount made is read back through S3.
//!
//! The structural guarantee is in `fuse/src/invalidate.rs`: invalidations are queued to a
//! dedicated thread (unit test `invalidate::tests::callers_never_wait_for_a_blocked_kernel_and_order_is_kept`).

use crate::common::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn s3_storm_while_the_mount_works_in_the_same_directory() {
    let root = tempfile::tempdir().unwrap();
    let (data, mnt) = (root.path().join("data"), root.path().join("mnt"));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&mnt).unwrap();
    cli(&data, &["sh", "bucket", "create", "/s3v/storm"]);
    let serve = Serve::start(&data, Some(("storm", &mnt)), &[], None);
    let s3 = serve.client("stormer", "stormer-secret");
    s3.put("storm", "dir/", b"").unwrap();
    let dir = mnt.join("dir");
    let stop = Arc::new(AtomicBool::new(false));
    let s3_ops = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(40);

    // The storm: 3 S3 clients, PUT or DELETE of dir/sN, bounded in count and time.
    let storm: Vec<_> = (0..3)
        .map(|t| {
            let (s3, stop, n) = (s3.clone(), stop.clone(), s3_ops.clone());
            std::thread::spawn(move || {
                for i in 0..3000u32 {
                    if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                        break;
                    }
                    let key = format!("dir/s{}", (i * 7 + t) % 40);
                    let r = if i % 3 == 2 {
                        s3.delete("storm", &key)
                    } else {
                        s3.put("storm", &key, format!("{t}:{i}").as_bytes())
                    };
                    let r = r.unwrap_or_else(|e| panic!("S3 {key}: {e}"));
                    assert!(r.ok(), "S3 {key}: {} {}", r.status, r.text());
                    n.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // The mount: create, rename, stat, list in the same directory.
    let (dir2, stop2) = (dir.clone(), stop.clone());
    let mount_ops = watchdog(
        "mount operations during the S3 storm",
        Duration::from_secs(180),
        move || {
            let mut n = 0u64;
            for i in 0..400u32 {
                if Instant::now() > deadline {
                    break;
                }
                let (m, r) = (dir2.join(format!("m{i}")), dir2.join(format!("r{i}")));
                std::fs::write(&m, format!("file {i}")).unwrap_or_else(|e| panic!("create m{i}: {e}"));
                std::fs::rename(&m, &r).unwrap_or_else(|e| panic!("rename m{i}: {e}"));
                for e in std::fs::read_dir(&dir2).unwrap_or_else(|e| panic!("readdir: {e}")) {
                    let e = e.unwrap();
                    match e.metadata() {
                        Ok(_) => {}
                        // An S3 key deleted between the listing and the stat.
                        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                            assert!(e.file_name().to_string_lossy().starts_with('s'), "{err}")
                        }
                        Err(err) => panic!("stat {:?}: {err}", e.file_name()),
                    }
                }
                assert_eq!(
                    std::fs::read_to_string(&r).unwrap_or_else(|e| panic!("read r{i}: {e}")),
                    format!("file {i}")
                );
                n += 4;
            }
            stop2.store(true, Ordering::SeqCst);
            n
        },
    );
    for t in storm {
        watchdog("an S3 client of the storm", Duration::from_secs(120), move || t.join()).unwrap();
    }
    let made = mount_ops / 4;
    assert!(made > 0, "the mount made no file");
    for i in 0..made {
        let r = s3.get("storm", &format!("dir/r{i}")).unwrap();
        assert_eq!(r.text(), format!("file {i}"), "dir/r{i} through S3");
        assert_eq!(s3.get("storm", &format!("dir/m{i}")).unwrap().status, 404);
    }
    eprintln!(
        "storm: {} S3 PUT/DELETE, {mount_ops} mount operations, no hang",
        s3_ops.load(Ordering::Relaxed)
    );
}
