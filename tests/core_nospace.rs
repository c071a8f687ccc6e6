//! Disk-full test of the embedded store. The test re-executes itself inside a private user and
//! mount namespace (`unshare --map-root-user --mount`) on a 24 MiB tmpfs, so the file system
//! really runs out of space without touching the host; the mount disappears with the
//! namespace. The child fills the store until a put fails, which must be `Error::NoSpace`, then
//! checks that the store stayed consistent: every acknowledged object reads back, nothing is
//! left in `tmp/`, and after a reopen and a delete a new put succeeds. Then concurrent small
//! (inline) puts fill it again: those refused (a grouped metadata commit that failed) must all
//! fail with `Error::NoSpace` too.

mod common;

use common::md5hex;
use ozfs::*;
use std::path::Path;
use std::process::Command;

const CHILD_ENV: &str = "OZFS_NOSPACE_CHILD";

async fn child(dir: &Path) {
    let b = BucketPath::new("s3v", "full");
    let mut acked = Vec::new();
    let mut failure = None;
    // Room freed at the end (see below), taken before the disk fills.
    let ballast = dir.join("ballast");
    std::fs::write(&ballast, vec![1u8; 1 << 20]).unwrap();
    {
        let s = LocalStore::open(dir, "s3v").unwrap();
        s.create_bucket(&b, "u").await.unwrap();
        for i in 0..100u32 {
            let data: Vec<u8> = (0..3_000_000u32).map(|j| (j ^ i) as u8).collect();
            let key = format!("obj{i}");
            match s
                .put_object(&b, &key, body_from_bytes(data.clone()), PutOptions::default())
                .await
            {
                Ok(info) => {
                    assert_eq!(info.etag, md5hex(&data));
                    acked.push((key, info.etag));
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        match failure {
            Some(Error::NoSpace) => {}
            other => panic!("expected NoSpace, got {other:?}"),
        }
        assert!(!acked.is_empty());
        assert_eq!(
            std::fs::read_dir(dir.join("tmp")).unwrap().count(),
            0,
            "tmp/ not cleaned"
        );
    }
    let s = LocalStore::open(dir, "s3v").unwrap();
    for (key, etag) in &acked {
        let r = s.get_object(&b, key, GetOptions::default()).await.unwrap();
        let data = collect_body(r.body, 8 << 20).await.unwrap();
        assert_eq!(&md5hex(&data), etag, "{key} damaged");
    }
    let (gone, _) = acked.remove(0);
    s.delete_object(&b, &gone, None).await.unwrap();
    s.put_object(&b, "after", body_from_bytes(&b"room again"[..]), PutOptions::default())
        .await
        .unwrap();
    // Then small (inline) puts until the disk is full again, many at once, so that they share a
    // metadata commit (one group) that fails for lack of space: every put refused must fail with
    // NoSpace — the error's kind reaches each member of the group, not only the one that
    // committed for it.
    let mut refused = 0;
    for round in 0..64u32 {
        let tasks: Vec<_> = (0..16u32)
            .map(|t| {
                let (s, b) = (s.clone(), b.clone());
                tokio::spawn(async move {
                    let data: Vec<u8> = (0..32_768u32).map(|j| (j ^ t ^ round) as u8).collect();
                    let key = format!("small{round}-{t}");
                    let r = s
                        .put_object(&b, &key, body_from_bytes(data.clone()), PutOptions::default())
                        .await;
                    (key, md5hex(&data), r)
                })
            })
            .collect();
        for task in tasks {
            match task.await.unwrap() {
                (key, sum, Ok(info)) => {
                    assert_eq!(info.etag, sum);
                    acked.push((key, sum));
                }
                (_, _, Err(Error::NoSpace)) => refused += 1,
                (key, _, Err(e)) => panic!("small put {key} on a full disk: expected NoSpace, got {e:?}"),
            }
        }
        if refused > 0 {
            break;
        }
    }
    assert!(refused > 0, "no small put was refused on the full disk");
    // That filled the metadata database to its last page; a delete needs a few free pages to
    // commit: free some room (the ballast), as an operator would, then everything acknowledged
    // reads back after a reopen and the store takes writes again.
    drop(s);
    std::fs::remove_file(&ballast).unwrap();
    let s = LocalStore::open(dir, "s3v").unwrap();
    for (key, etag) in &acked {
        let r = s.get_object(&b, key, GetOptions::default()).await.unwrap();
        let data = collect_body(r.body, 8 << 20).await.unwrap();
        assert_eq!(&md5hex(&data), etag, "{key} damaged");
    }
    s.delete_object(&b, &acked[acked.len() - 1].0, None).await.unwrap();
    s.put_object(&b, "after2", body_from_bytes(&b"room again"[..]), PutOptions::default())
        .await
        .unwrap();
    println!("NOSPACE-OK {} objects before the disk was full", acked.len());
}

#[test]
fn disk_full_gives_nospace_and_keeps_the_store_consistent() {
    // In the child this test re-executes (below) inside the namespace: fill the tmpfs.
    if common::run_as_child(CHILD_ENV, |dir| async move { child(&dir).await }) {
        return;
    }
    let probe = Command::new("unshare")
        .args(["--map-root-user", "--mount", "true"])
        .output();
    assert!(
        matches!(&probe, Ok(o) if o.status.success()),
        "this test needs user and mount namespaces (`unshare --map-root-user --mount`, util-linux) \
         to get a small private tmpfs; they are not available here: {probe:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let script = r#"mount -t tmpfs -o size=24m tmpfs "$1" && exec "$2" disk_full_gives_nospace_and_keeps_the_store_consistent --exact --nocapture --test-threads=1"#;
    let out = Command::new("unshare")
        .args(["--map-root-user", "--mount", "sh", "-c", script, "sh"])
        .arg(dir.path())
        .arg(&exe)
        .env(CHILD_ENV, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("NOSPACE-OK"),
        "child failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
