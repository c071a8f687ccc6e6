//! Unit tests of [`Fs`] against the in-memory store (no kernel involved).

use super::*;
use ozfs::{collect_body, MemStore, Namespace};

const B: &str = "bkt";

struct Setup {
    fs: Fs,
    store: Arc<dyn ObjectStore>,
    bucket: BucketPath,
}

async fn setup_prefix(prefix: &str) -> Setup {
    let store: Arc<dyn ObjectStore> = Arc::new(MemStore::new("s3v"));
    let bucket = BucketPath::new("s3v", B);
    store.create_bucket(&bucket, "me").await.unwrap();
    let cfg = FsConfig {
        stat_ttl: Duration::ZERO,
        type_ttl: Duration::ZERO,
        ..Default::default()
    };
    let fs = Fs::new(store.clone(), bucket.clone(), prefix, cfg).unwrap();
    fs.check_bucket().await.unwrap();
    Setup { fs, store, bucket }
}

async fn setup() -> Setup {
    setup_prefix("").await
}

impl Setup {
    /// Wait (bounded) until no background upload of the mount is running.
    async fn uploads_finished(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.fs.uploads_running() > 0 {
            assert!(std::time::Instant::now() < deadline, "background uploads still running");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn put(&self, key: &str, body: &[u8]) {
        self.store
            .put_object(
                &self.bucket,
                key,
                ozfs::body_from_bytes(body.to_vec()),
                Default::default(),
            )
            .await
            .unwrap();
    }

    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.store.get_object(&self.bucket, key, Default::default()).await {
            Ok(g) => Some(collect_body(g.body, 1 << 30).await.unwrap()),
            Err(ozfs::Error::NoSuchKey(_)) => None,
            Err(e) => panic!("{e}"),
        }
    }

    async fn head(&self, key: &str) -> ObjectInfo {
        self.store.head_object(&self.bucket, key).await.unwrap()
    }

    async fn names(&self, ino: u64) -> Vec<String> {
        let fh = self.fs.opendir(ino).unwrap();
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let mut batch = Vec::new();
            self.fs
                .readdir(ino, fh, offset, true, &mut |e| {
                    if batch.len() == 100 {
                        return true;
                    }
                    batch.push((e.name.to_string(), e.next_offset));
                    false
                })
                .await
                .unwrap();
            if batch.is_empty() {
                break;
            }
            offset = batch.last().unwrap().1;
            out.extend(batch.into_iter().map(|b| b.0));
        }
        self.fs.releasedir(ino, fh).unwrap();
        out.retain(|n| n != "." && n != "..");
        out
    }

    async fn write_file(&self, parent: u64, name: &str, data: &[u8]) -> u64 {
        let (a, o) = self.fs.create(parent, name, 0o644, 0, 0, 1).await.unwrap();
        self.fs.write(a.ino, o.fh, 0, data).await.unwrap();
        self.fs.flush(a.ino, o.fh, 1).await.unwrap();
        self.fs.release(a.ino, o.fh).await.unwrap();
        a.ino
    }

    async fn read_all(&self, ino: u64) -> Vec<u8> {
        let o = self.fs.open(ino, OpenMode::default(), 1).await.unwrap();
        let mut out = Vec::new();
        loop {
            let d = self.fs.read(ino, o.fh, out.len() as u64, 1 << 20).await.unwrap();
            if d.is_empty() {
                break;
            }
            out.extend(d);
        }
        self.fs.release(ino, o.fh).await.unwrap();
        out
    }
}

#[tokio::test]
async fn mkdir_writes_marker_and_rmdir_checks_emptiness() {
    let s = setup().await;
    let d = s.fs.mkdir(ROOT_INO, "dir", 0o750, 5, 6).await.unwrap();
    assert_eq!(d.kind, Kind::Dir);
    let marker = s.head("dir/").await;
    assert_eq!(marker.attrs.content_type.as_deref(), Some(DIR_CONTENT_TYPE));
    assert_eq!(marker.attrs.user.get("mode").map(String::as_str), Some("16872")); // S_IFDIR|0750
    assert!(matches!(
        s.fs.mkdir(ROOT_INO, "dir", 0o755, 0, 0).await,
        Err(FsError::Exists)
    ));
    s.write_file(d.ino, "f", b"x").await;
    assert!(matches!(s.fs.rmdir(ROOT_INO, "dir").await, Err(FsError::NotEmpty)));
    s.fs.unlink(d.ino, "f").await.unwrap();
    s.fs.rmdir(ROOT_INO, "dir").await.unwrap();
    assert!(s.get("dir/").await.is_none());
    assert!(matches!(s.fs.lookup(ROOT_INO, "dir").await, Err(FsError::NotFound)));
}

/// A close from the thread that created the file commits without asking for the closer's
/// thread group; a close from another thread asks, and commits only for the opener's process.
#[tokio::test]
async fn a_close_by_the_opening_thread_needs_no_thread_group() {
    let s = setup().await;
    let asked = std::cell::Cell::new(0u32);
    let (a, o) = s.fs.create_by(ROOT_INO, "t", 0o644, 0, 0, 100, 7).await.unwrap();
    s.fs.write(a.ino, o.fh, 0, b"one").await.unwrap();
    // Another thread of another process (a forked child): asked, no commit.
    s.fs.flush_by(a.ino, o.fh, 200, || {
        asked.set(asked.get() + 1);
        8
    })
    .await
    .unwrap();
    assert_eq!(asked.get(), 1);
    assert!(s.get("t").await.is_none());
    // The opening thread: committed, nothing asked.
    s.fs.flush_by(a.ino, o.fh, 100, || {
        asked.set(asked.get() + 1);
        9
    })
    .await
    .unwrap();
    assert_eq!(asked.get(), 1);
    assert_eq!(s.get("t").await.unwrap(), b"one");
    // Another thread of the opener's process: asked, committed.
    s.fs.write(a.ino, o.fh, 3, b"two").await.unwrap();
    s.fs.flush_by(a.ino, o.fh, 101, || {
        asked.set(asked.get() + 1);
        7
    })
    .await
    .unwrap();
    assert_eq!(asked.get(), 2);
    assert_eq!(s.get("t").await.unwrap(), b"onetwo");
    s.fs.release(a.ino, o.fh).await.unwrap();
    // Opened again (open_by): the same rule.
    let o =
        s.fs.open_by(
            a.ino,
            OpenMode {
                write: true,
                truncate: true,
            },
            300,
            30,
        )
        .await
        .unwrap();
    s.fs.write(a.ino, o.fh, 0, b"three").await.unwrap();
    s.fs.flush_by(a.ino, o.fh, 300, || panic!("thread group asked for the opening thread"))
        .await
        .unwrap();
    assert_eq!(s.get("t").await.unwrap(), b"three");
    s.fs.release(a.ino, o.fh).await.unwrap();
}

#[tokio::test]
async fn created_file_appears_at_close_with_s3fs_metadata() {
    let s = setup().await;
    let (a, o) = s.fs.create(ROOT_INO, "new", 0o600, 1000, 100, 7).await.unwrap();
    s.fs.write(a.ino, o.fh, 0, b"hello").await.unwrap();
    assert!(s.get("new").await.is_none(), "not visible before close");
    assert_eq!(s.names(ROOT_INO).await, vec!["new"], "listed while pending");
    // A flush from another process (forked child) does not commit.
    s.fs.flush(a.ino, o.fh, 8).await.unwrap();
    assert!(s.get("new").await.is_none());
    s.fs.flush(a.ino, o.fh, 7).await.unwrap();
    assert_eq!(s.get("new").await.unwrap(), b"hello");
    let info = s.head("new").await;
    assert_eq!(info.attrs.user.get("mode").map(String::as_str), Some("33152"));
    assert_eq!(info.attrs.user.get("uid").map(String::as_str), Some("1000"));
    assert_eq!(info.attrs.user.get("gid").map(String::as_str), Some("100"));
    assert!(info.attrs.user.contains_key("mtime"));
    s.fs.release(a.ino, o.fh).await.unwrap();
    let attr = s.fs.getattr(a.ino).await.unwrap();
    assert_eq!((attr.size, attr.perm, attr.uid), (5, 0o600, 1000));
}

#[tokio::test]
async fn random_writes_append_and_truncate_of_existing_object() {
    let s = setup().await;
    let orig: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
    s.put("big", &orig).await;
    let a = s.fs.lookup(ROOT_INO, "big").await.unwrap();
    let mut model = orig.clone();
    let o =
        s.fs.open(
            a.ino,
            OpenMode {
                write: true,
                truncate: false,
            },
            1,
        )
        .await
        .unwrap();
    // overwrite in the middle of the second chunk
    s.fs.write(a.ino, o.fh, 1_500_000, b"XYZ").await.unwrap();
    model[1_500_000..1_500_003].copy_from_slice(b"XYZ");
    // append
    let end = model.len() as u64;
    s.fs.write(a.ino, o.fh, end, b"tail").await.unwrap();
    model.extend_from_slice(b"tail");
    s.fs.fsync(a.ino, o.fh).await.unwrap();
    assert_eq!(s.get("big").await.unwrap(), model, "fsync commits");
    // truncate down then extend: the extension reads as zeros
    s.fs.setattr(
        a.ino,
        SetAttr {
            size: Some(100),
            fh: Some(o.fh),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    model.truncate(100);
    s.fs.write(a.ino, o.fh, 200, b"z").await.unwrap();
    model.resize(200, 0);
    model.push(b'z');
    assert_eq!(s.fs.read(a.ino, o.fh, 0, 4096).await.unwrap(), model);
    s.fs.release(a.ino, o.fh).await.unwrap();
    assert_eq!(s.get("big").await.unwrap(), model);
    assert_eq!(s.fs.staging_used(), 0, "staging released after close");
    // truncate(2) on a closed file commits at once
    s.fs.setattr(
        a.ino,
        SetAttr {
            size: Some(3),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.get("big").await.unwrap(), &model[..3]);
}

#[tokio::test]
async fn open_with_truncate_replaces_content() {
    let s = setup().await;
    s.put("f", b"old content").await;
    let a = s.fs.lookup(ROOT_INO, "f").await.unwrap();
    let o =
        s.fs.open(
            a.ino,
            OpenMode {
                write: true,
                truncate: true,
            },
            1,
        )
        .await
        .unwrap();
    s.fs.write(a.ino, o.fh, 0, b"new").await.unwrap();
    s.fs.release(a.ino, o.fh).await.unwrap();
    assert_eq!(s.get("f").await.unwrap(), b"new");
    assert_eq!(s.read_all(a.ino).await, b"new");
}

#[tokio::test]
async fn rename_files_and_directories() {
    let s = setup().await;
    s.put("d/a", b"1").await;
    s.put("d/sub/b", b"2").await;
    s.put("other", b"3").await;
    let d = s.fs.lookup(ROOT_INO, "d").await.unwrap();
    assert_eq!(d.kind, Kind::Dir, "implicit dir");
    let a = s.fs.lookup(d.ino, "a").await.unwrap();
    s.fs.rename(ROOT_INO, "d", ROOT_INO, "e", false).await.unwrap();
    assert!(s.get("d/a").await.is_none());
    assert_eq!(s.get("e/a").await.unwrap(), b"1");
    assert_eq!(s.get("e/sub/b").await.unwrap(), b"2");
    assert_eq!(s.read_all(a.ino).await, b"1", "inode follows the rename");
    // file over an existing file
    s.fs.rename(d.ino, "a", ROOT_INO, "other", false).await.unwrap();
    assert_eq!(s.get("other").await.unwrap(), b"1");
    assert!(matches!(
        s.fs.rename(ROOT_INO, "other", ROOT_INO, "e", false).await,
        Err(FsError::IsDir)
    ));
    assert!(matches!(
        s.fs.rename(ROOT_INO, "e", ROOT_INO, "other", false).await,
        Err(FsError::NotDir)
    ));
    s.put("x/y", b"").await;
    assert!(matches!(
        s.fs.rename(ROOT_INO, "e", ROOT_INO, "x", false).await,
        Err(FsError::NotEmpty)
    ));
    assert!(matches!(
        s.fs.rename(ROOT_INO, "e", ROOT_INO, "other", true).await,
        Err(FsError::Exists)
    ));
}

#[tokio::test]
async fn rename_before_close_commits_to_the_new_name() {
    let s = setup().await;
    let (a, o) = s.fs.create(ROOT_INO, "tmp", 0o644, 0, 0, 1).await.unwrap();
    s.fs.write(a.ino, o.fh, 0, b"data").await.unwrap();
    s.fs.rename(ROOT_INO, "tmp", ROOT_INO, "final", false).await.unwrap();
    s.fs.release(a.ino, o.fh).await.unwrap();
    assert!(s.get("tmp").await.is_none());
    assert_eq!(s.get("final").await.unwrap(), b"data");
}

#[tokio::test]
async fn symlinks_chmod_chown_utimes_are_stored_like_s3fs() {
    let s = setup().await;
    let l = s.fs.symlink(ROOT_INO, "ln", "target/path", 1, 2).await.unwrap();
    assert_eq!(l.kind, Kind::Symlink);
    let info = s.head("ln").await;
    assert_eq!(info.attrs.user.get("mode").map(String::as_str), Some("41471"));
    assert_eq!(s.get("ln").await.unwrap(), b"target/path");
    assert_eq!(s.fs.readlink(l.ino).await.unwrap(), b"target/path");
    let f = s.write_file(ROOT_INO, "f", b"x").await;
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let a =
        s.fs.setattr(
            f,
            SetAttr {
                mode: Some(0o100755),
                uid: Some(42),
                gid: Some(43),
                mtime: Some(t),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((a.perm, a.uid, a.gid, a.mtime), (0o755, 42, 43, t));
    let info = s.head("f").await;
    assert_eq!(info.attrs.user.get("mode").map(String::as_str), Some("33261"));
    assert_eq!(info.attrs.user.get("uid").map(String::as_str), Some("42"));
    assert_eq!(info.attrs.user.get("mtime").map(String::as_str), Some("1600000000"));
    assert_eq!(s.get("f").await.unwrap(), b"x", "bytes untouched");
    // a fresh Fs reads the same attributes back
    let fs2 = Fs::new(s.store.clone(), s.bucket.clone(), "", FsConfig::default()).unwrap();
    let a2 = fs2.lookup(ROOT_INO, "f").await.unwrap();
    assert_eq!((a2.perm, a2.uid, a2.gid, a2.mtime), (0o755, 42, 43, t));
    assert_eq!(fs2.lookup(ROOT_INO, "ln").await.unwrap().kind, Kind::Symlink);
}

#[tokio::test]
async fn xattrs_are_user_metadata() {
    let s = setup().await;
    let f = s.write_file(ROOT_INO, "f", b"x").await;
    s.fs.setxattr(f, "user.Color", b"blue", 0).await.unwrap();
    assert_eq!(
        s.head("f").await.attrs.user.get("color").map(String::as_str),
        Some("blue")
    );
    assert_eq!(s.fs.getxattr(f, "user.color").await.unwrap(), b"blue");
    assert!(matches!(
        s.fs.setxattr(f, "user.color", b"x", libc::XATTR_CREATE).await,
        Err(FsError::Exists)
    ));
    assert!(matches!(
        s.fs.setxattr(f, "user.none", b"x", libc::XATTR_REPLACE).await,
        Err(FsError::NoData)
    ));
    s.fs.setxattr(f, "user.bin", &[0, 255, b'%'], 0).await.unwrap();
    assert_eq!(s.fs.getxattr(f, "user.bin").await.unwrap(), vec![0, 255, b'%']);
    let list = s.fs.listxattr(f).await.unwrap();
    let names: Vec<&[u8]> = list.split(|b| *b == 0).filter(|n| !n.is_empty()).collect();
    assert_eq!(
        names,
        vec![&b"s3.etag"[..], b"s3.storage-class", b"user.bin", b"user.color"],
        "POSIX metadata is not listed"
    );
    let etag = s.fs.getxattr(f, "s3.etag").await.unwrap();
    assert_eq!(etag, format!("\"{}\"", s.head("f").await.etag).into_bytes());
    assert!(matches!(
        s.fs.setxattr(f, "s3.etag", b"x", 0).await,
        Err(FsError::Perm(_))
    ));
    s.fs.removexattr(f, "user.color").await.unwrap();
    assert!(matches!(s.fs.getxattr(f, "user.color").await, Err(FsError::NoData)));
    assert!(matches!(
        s.fs.getxattr(f, "security.selinux").await,
        Err(FsError::NoData)
    ));
}

#[tokio::test]
async fn readdir_pages_through_large_directories_and_hides_shadowed_files() {
    let s = setup().await;
    for i in 0..2500 {
        s.put(&format!("big/f{i:05}"), b"").await;
    }
    s.put("big/sub/x", b"").await;
    s.put("big/sub", b"shadowed by the directory").await;
    let d = s.fs.lookup(ROOT_INO, "big").await.unwrap();
    let names = s.names(d.ino).await;
    assert_eq!(names.len(), 2501);
    assert_eq!(names.iter().filter(|n| *n == "sub").count(), 1);
    assert_eq!(s.fs.lookup(d.ino, "sub").await.unwrap().kind, Kind::Dir);
    // readdirplus gave attributes from the listing: no lookup needed for sizes
    let f = s.fs.lookup(d.ino, "f00007").await.unwrap();
    assert_eq!(f.size, 0);
}

#[tokio::test]
async fn prefix_mounts_see_only_their_subtree() {
    let s = setup_prefix("/some/prefix/").await;
    s.put("some/prefix/a", b"1").await;
    s.put("outside", b"2").await;
    assert_eq!(s.names(ROOT_INO).await, vec!["a"]);
    s.write_file(ROOT_INO, "b", b"3").await;
    assert_eq!(s.get("some/prefix/b").await.unwrap(), b"3");
}

#[tokio::test]
async fn hard_links_and_unknown_names() {
    let s = setup().await;
    assert!(matches!(s.fs.lookup(ROOT_INO, "missing").await, Err(FsError::NotFound)));
    assert!(matches!(s.fs.unlink(ROOT_INO, "missing").await, Err(FsError::NotFound)));
    s.put("f", b"x").await;
    let f = s.fs.lookup(ROOT_INO, "f").await.unwrap();
    assert!(matches!(s.fs.lookup(f.ino, "x").await, Err(FsError::NotDir)));
}

struct Recorder(Mutex<Vec<String>>);

impl Invalidator for Recorder {
    fn inval_entry(&self, parent: u64, name: &str) {
        self.0.lock().unwrap().push(format!("entry {parent} {name}"));
    }
    fn inval_inode(&self, ino: u64) {
        self.0.lock().unwrap().push(format!("inode {ino}"));
    }
}

#[tokio::test]
async fn change_feed_refreshes_and_invalidates() {
    let s = setup().await;
    let rec = Arc::new(Recorder(Mutex::new(Vec::new())));
    s.fs.set_invalidator(rec.clone());
    let mut rx = s.store.subscribe();
    s.put("f", b"one").await;
    let f = s.fs.lookup(ROOT_INO, "f").await.unwrap();
    rx.recv().await.unwrap();
    // external overwrite
    s.put("f", b"second").await;
    let ev = rx.recv().await.unwrap();
    s.fs.on_change(&ev).await;
    assert!(rec.0.lock().unwrap().contains(&format!("inode {}", f.ino)));
    assert_eq!(s.fs.getattr(f.ino).await.unwrap().size, 6);
    // our own write produces no invalidation
    rec.0.lock().unwrap().clear();
    s.write_file(ROOT_INO, "mine", b"x").await;
    while let Ok(ev) = rx.try_recv() {
        s.fs.on_change(&ev).await;
    }
    assert!(rec.0.lock().unwrap().is_empty(), "{:?}", rec.0.lock().unwrap());
    // external delete
    s.store.delete_object(&s.bucket, "f", None).await.unwrap();
    let ev = rx.recv().await.unwrap();
    s.fs.on_change(&ev).await;
    assert!(rec.0.lock().unwrap().contains(&format!("entry {ROOT_INO} f")));
}

#[tokio::test]
async fn mknod_creates_regular_files_only() {
    let s = setup().await;
    let a = s.fs.mknod(ROOT_INO, "node", libc::S_IFREG | 0o640, 3, 4).await.unwrap();
    assert_eq!((a.kind, a.perm, a.size), (Kind::File, 0o640, 0));
    assert_eq!(s.get("node").await.unwrap(), b"");
    assert!(matches!(
        s.fs.mknod(ROOT_INO, "fifo", libc::S_IFIFO | 0o644, 0, 0).await,
        Err(FsError::NotSupported(_))
    ));
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[tokio::test]
async fn sequential_writes_upload_in_the_background_and_commit_at_close() {
    let s = setup().await;
    let (a, o) = s.fs.create(ROOT_INO, "seq", 0o644, 0, 0, 1).await.unwrap();
    let data = pattern(20 << 20, 1);
    for (i, c) in data.chunks(1 << 20).enumerate() {
        s.fs.write(a.ino, o.fh, (i << 20) as u64, c).await.unwrap();
    }
    assert!(
        s.get("seq").await.is_none(),
        "the background upload commits nothing before close"
    );
    s.fs.release(a.ino, o.fh).await.unwrap();
    assert_eq!(s.get("seq").await.unwrap(), data);
    let info = s.head("seq").await;
    assert!(
        !info.attrs.user.contains_key("mtime"),
        "Last-Modified is the mtime of a streamed file"
    );
    assert_eq!(info.attrs.user.get("mode").map(String::as_str), Some("33188"));
    assert_eq!(s.read_all(a.ino).await, data);
}

#[tokio::test]
async fn out_of_order_changes_cancel_the_background_upload() {
    let s = setup().await;
    // a write behind the end after streaming started
    let (a, o) = s.fs.create(ROOT_INO, "rw", 0o644, 0, 0, 1).await.unwrap();
    let mut model = pattern(12 << 20, 2);
    for (i, c) in model.chunks(1 << 20).enumerate() {
        s.fs.write(a.ino, o.fh, (i << 20) as u64, c).await.unwrap();
    }
    s.fs.write(a.ino, o.fh, 5, b"PATCHED").await.unwrap();
    model[5..12].copy_from_slice(b"PATCHED");
    s.fs.write(a.ino, o.fh, model.len() as u64, b"tail").await.unwrap();
    model.extend_from_slice(b"tail");
    s.fs.release(a.ino, o.fh).await.unwrap();
    assert_eq!(s.get("rw").await.unwrap(), model);
    // a truncate after streaming started
    let (b, o) = s.fs.create(ROOT_INO, "tr", 0o644, 0, 0, 1).await.unwrap();
    let data = pattern(10 << 20, 3);
    for (i, c) in data.chunks(1 << 20).enumerate() {
        s.fs.write(b.ino, o.fh, (i << 20) as u64, c).await.unwrap();
    }
    s.fs.setattr(
        b.ino,
        SetAttr {
            size: Some(9 << 20),
            fh: Some(o.fh),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.fs.release(b.ino, o.fh).await.unwrap();
    assert_eq!(s.get("tr").await.unwrap(), &data[..9 << 20]);
    // a chmod while streaming: committed with the new mode
    let (c, o) = s.fs.create(ROOT_INO, "ch", 0o644, 0, 0, 1).await.unwrap();
    for (i, d) in data.chunks(1 << 20).enumerate() {
        s.fs.write(c.ino, o.fh, (i << 20) as u64, d).await.unwrap();
    }
    s.fs.setattr(
        c.ino,
        SetAttr {
            mode: Some(0o600),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.fs.release(c.ino, o.fh).await.unwrap();
    assert_eq!(s.get("ch").await.unwrap(), data);
    assert_eq!(
        s.head("ch").await.attrs.user.get("mode").map(String::as_str),
        Some("33152")
    );
    // unlinked while streaming: nothing is committed
    let (d, o) = s.fs.create(ROOT_INO, "gone", 0o644, 0, 0, 1).await.unwrap();
    for (i, x) in data.chunks(1 << 20).enumerate() {
        s.fs.write(d.ino, o.fh, (i << 20) as u64, x).await.unwrap();
    }
    assert_eq!(s.fs.uploads_running(), 1, "the file is streaming");
    s.fs.unlink(ROOT_INO, "gone").await.unwrap();
    s.fs.release(d.ino, o.fh).await.unwrap();
    // The cancelled upload's put fails in the background: once it has ended, nothing can
    // commit "gone" any more.
    s.uploads_finished().await;
    assert!(s.get("gone").await.is_none());
    // renamed while streaming: committed under the new name only
    let (e, o) = s.fs.create(ROOT_INO, "old", 0o644, 0, 0, 1).await.unwrap();
    for (i, x) in data.chunks(1 << 20).enumerate() {
        s.fs.write(e.ino, o.fh, (i << 20) as u64, x).await.unwrap();
    }
    s.fs.rename(ROOT_INO, "old", ROOT_INO, "new", false).await.unwrap();
    s.fs.release(e.ino, o.fh).await.unwrap();
    s.uploads_finished().await;
    assert!(s.get("old").await.is_none());
    assert_eq!(s.get("new").await.unwrap(), data);
}

#[tokio::test]
async fn lookup_modes_cheap_and_no_implicit_dir() {
    let s = setup().await;
    s.put("implicit/x", b"1").await;
    s.put("marked/", b"").await;
    s.put("both", b"file").await;
    s.put("both/y", b"2").await;
    let fs_with = |cheap: bool, no_implicit_dir: bool| {
        let cfg = FsConfig {
            cheap,
            no_implicit_dir,
            stat_ttl: Duration::ZERO,
            type_ttl: Duration::ZERO,
            ..Default::default()
        };
        Fs::new(s.store.clone(), s.bucket.clone(), "", cfg).unwrap()
    };
    let normal = fs_with(false, false);
    assert_eq!(normal.lookup(ROOT_INO, "implicit").await.unwrap().kind, Kind::Dir);
    assert_eq!(normal.lookup(ROOT_INO, "marked").await.unwrap().kind, Kind::Dir);
    assert_eq!(
        normal.lookup(ROOT_INO, "both").await.unwrap().kind,
        Kind::Dir,
        "dir shadows file"
    );
    let explicit = fs_with(false, true);
    assert!(matches!(
        explicit.lookup(ROOT_INO, "implicit").await,
        Err(FsError::NotFound)
    ));
    assert_eq!(explicit.lookup(ROOT_INO, "marked").await.unwrap().kind, Kind::Dir);
    let cheap = fs_with(true, false);
    assert_eq!(cheap.lookup(ROOT_INO, "implicit").await.unwrap().kind, Kind::Dir);
    assert_eq!(
        cheap.lookup(ROOT_INO, "both").await.unwrap().kind,
        Kind::File,
        "cheap: first answer wins"
    );
}

#[tokio::test]
async fn open_readers_follow_replaced_versions() {
    let s = setup().await;
    s.put("f", b"first version").await;
    let a = s.fs.lookup(ROOT_INO, "f").await.unwrap();
    let o = s.fs.open(a.ino, OpenMode::default(), 1).await.unwrap();
    assert_eq!(s.fs.read(a.ino, o.fh, 0, 5).await.unwrap(), &b"first"[..]);
    s.put("f", b"SECOND VERSION!").await;
    assert_eq!(s.fs.read(a.ino, o.fh, 0, 6).await.unwrap(), &b"SECOND"[..]);
    s.store.delete_object(&s.bucket, "f", None).await.unwrap();
    let e = s.fs.read(a.ino, o.fh, 0, 6).await.unwrap_err();
    assert_eq!(e.errno().0, libc::ESTALE);
    s.fs.release(a.ino, o.fh).await.unwrap();
}

/// A store that counts the key I/O calls made into it (by name), over the embedded store.
struct Counting {
    inner: Arc<dyn ObjectStore>,
    calls: Mutex<std::collections::BTreeMap<&'static str, u32>>,
    /// Holds the next `head_object` of one key (see [`HeadGate`]).
    gate: Mutex<Option<HeadGate>>,
}

/// Holds the next `head_object` of `key` until the test lets it go: `before` the store answers
/// (the answer then tells what happened meanwhile), or after (an answer that is stale by the
/// time the caller uses it).
struct HeadGate {
    key: String,
    before: bool,
    reached: Arc<tokio::sync::Notify>,
    go: Arc<tokio::sync::Notify>,
}

impl Counting {
    fn count(&self, op: &'static str) {
        *crate::sync::lock(&self.calls).entry(op).or_insert(0) += 1;
    }
    fn take(&self) -> std::collections::BTreeMap<&'static str, u32> {
        std::mem::take(&mut *crate::sync::lock(&self.calls))
    }
    /// Hold the next `head_object` of `key`; returns (reached, go): `reached` is notified when
    /// the HEAD is held, `go` lets it on.
    fn gate_head(&self, key: &str, before: bool) -> (Arc<tokio::sync::Notify>, Arc<tokio::sync::Notify>) {
        let (reached, go) = (
            Arc::new(tokio::sync::Notify::new()),
            Arc::new(tokio::sync::Notify::new()),
        );
        *crate::sync::lock(&self.gate) = Some(HeadGate {
            key: key.to_string(),
            before,
            reached: reached.clone(),
            go: go.clone(),
        });
        (reached, go)
    }
}

impl ozfs::PassThrough for Counting {
    fn wrapped(&self) -> &dyn ObjectStore {
        self.inner.as_ref()
    }
}

#[async_trait::async_trait]
impl ozfs::Objects for Counting {
    async fn put_object(
        &self,
        b: &BucketPath,
        k: &str,
        body: ozfs::ByteStream,
        o: PutOptions,
    ) -> ozfs::Result<ObjectInfo> {
        self.count("put_object");
        self.inner.put_object(b, k, body, o).await
    }
    async fn put_file(
        &self,
        b: &BucketPath,
        k: &str,
        f: std::fs::File,
        len: u64,
        md5: Option<[u8; 16]>,
        o: PutOptions,
    ) -> ozfs::Result<ObjectInfo> {
        self.count("put_file");
        self.inner.put_file(b, k, f, len, md5, o).await
    }
    fn adopts_files_from(&self, dir: &std::path::Path) -> bool {
        self.inner.adopts_files_from(dir)
    }
    async fn get_object(&self, b: &BucketPath, k: &str, o: ozfs::GetOptions) -> ozfs::Result<ozfs::GetResult> {
        self.count("get_object");
        self.inner.get_object(b, k, o).await
    }
    async fn read_version(
        &self,
        b: &BucketPath,
        i: &ObjectInfo,
        r: std::ops::Range<u64>,
    ) -> ozfs::Result<ozfs::ByteStream> {
        self.count("read_version");
        self.inner.read_version(b, i, r).await
    }
    async fn pin_version(&self, b: &BucketPath, i: &ObjectInfo) -> ozfs::Result<ozfs::VersionPin> {
        self.count("pin_version");
        self.inner.pin_version(b, i).await
    }
    async fn head_object(&self, b: &BucketPath, k: &str) -> ozfs::Result<ObjectInfo> {
        self.count("head_object");
        let gate = crate::sync::lock(&self.gate).take_if(|g| g.key == k);
        if let Some(g) = gate.as_ref().filter(|g| g.before) {
            g.reached.notify_one();
            g.go.notified().await;
        }
        let r = self.inner.head_object(b, k).await;
        if let Some(g) = gate.as_ref().filter(|g| !g.before) {
            g.reached.notify_one();
            g.go.notified().await;
        }
        r
    }
    async fn delete_object(&self, b: &BucketPath, k: &str, m: Option<&str>) -> ozfs::Result<()> {
        self.count("delete_object");
        self.inner.delete_object(b, k, m).await
    }
    async fn copy_object(
        &self,
        sb: &BucketPath,
        sk: &str,
        db: &BucketPath,
        dk: &str,
        o: ozfs::CopyOptions,
    ) -> ozfs::Result<ObjectInfo> {
        self.count("copy_object");
        self.inner.copy_object(sb, sk, db, dk, o).await
    }
    async fn set_attrs(&self, b: &BucketPath, k: &str, a: ObjectAttrs) -> ozfs::Result<ObjectInfo> {
        self.count("set_attrs");
        self.inner.set_attrs(b, k, a).await
    }
    async fn rename_object(&self, b: &BucketPath, f: &str, t: &str) -> ozfs::Result<()> {
        self.count("rename_object");
        self.inner.rename_object(b, f, t).await
    }
    async fn rename_prefix(&self, b: &BucketPath, f: &str, t: &str) -> ozfs::Result<u64> {
        self.count("rename_prefix");
        self.inner.rename_prefix(b, f, t).await
    }
    async fn list_objects(&self, b: &BucketPath, r: ListRequest) -> ozfs::Result<ozfs::ListPage> {
        self.count("list_objects");
        self.inner.list_objects(b, r).await
    }
    async fn lookup_name(&self, b: &BucketPath, k: &str, q: NameQuery) -> ozfs::Result<ozfs::NameLookup> {
        self.count("lookup_name");
        self.inner.lookup_name(b, k, q).await
    }
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ChangeEvent> {
        self.inner.subscribe()
    }
}

/// An [`Fs`] over the embedded store in a temporary data directory, staging inside it (as
/// `serve --mount` does), with its calls counted.
async fn counted_local() -> (tempfile::TempDir, Arc<Counting>, Fs, BucketPath) {
    let (dir, c, fs, bucket, _) = counted_local_with(FsConfig::default()).await;
    (dir, c, fs, bucket)
}

/// [`counted_local`] with `cfg` (its staging directory set), and the embedded store itself.
async fn counted_local_with(mut cfg: FsConfig) -> (tempfile::TempDir, Arc<Counting>, Fs, BucketPath, ozfs::LocalStore) {
    let dir = tempfile::tempdir().unwrap();
    let local = ozfs::LocalStore::open(dir.path(), "s3v").unwrap();
    let bucket = BucketPath::new("s3v", B);
    local.create_bucket(&bucket, "me").await.unwrap();
    let counting = Arc::new(Counting {
        inner: Arc::new(local.clone()),
        calls: Mutex::new(Default::default()),
        gate: Mutex::new(None),
    });
    cfg.staging_dir = Some(dir.path().join("staging"));
    let fs = Fs::new(counting.clone(), bucket.clone(), "", cfg).unwrap();
    fs.check_bucket().await.unwrap();
    counting.take();
    (dir, counting, fs, bucket, local)
}

/// Looking a name up on the in-process mount is one store call and one read transaction,
/// whatever the name is (file, marker, implicit directory, file and directory at once,
/// nothing), in every lookup mode; the answers keep the mount's rules (a directory shadows a
/// file of the same name, except in `--cheap` mode where the file wins; no implicit directory
/// with `--no-implicit-dir`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_on_the_in_process_mount_is_one_store_call() {
    let modes = [
        (
            false,
            false,
            [
                Some(Kind::File),
                Some(Kind::Dir),
                Some(Kind::Dir),
                Some(Kind::Dir),
                None,
            ],
        ),
        (
            true,
            false,
            [
                Some(Kind::File),
                Some(Kind::Dir),
                Some(Kind::Dir),
                Some(Kind::File),
                None,
            ],
        ),
        (
            false,
            true,
            [Some(Kind::File), Some(Kind::Dir), None, Some(Kind::Dir), None],
        ),
    ];
    for (cheap, no_implicit_dir, want) in modes {
        let cfg = FsConfig {
            cheap,
            no_implicit_dir,
            ..Default::default()
        };
        let (_dir, c, fs, bucket, local) = counted_local_with(cfg).await;
        for key in ["file", "marker/", "implicit/x", "both", "both/", "both-x", "both0"] {
            let body = ozfs::body_from_bytes(&b"x"[..]);
            c.inner
                .put_object(&bucket, key, body, Default::default())
                .await
                .unwrap();
        }
        let names = ["file", "marker", "implicit", "both", "nothing"];
        for (name, want) in names.into_iter().zip(want) {
            let reads = local.read_transactions();
            let got = fs.lookup(ROOT_INO, name).await.map(|a| a.kind);
            let what = format!("{name} (cheap {cheap}, no_implicit_dir {no_implicit_dir})");
            match want {
                Some(k) => assert_eq!(got.unwrap(), k, "{what}"),
                None => assert!(matches!(got, Err(FsError::NotFound)), "{what}: {got:?}"),
            }
            assert_eq!(c.take(), [("lookup_name", 1)].into_iter().collect(), "{what}");
            assert_eq!(local.read_transactions() - reads, 1, "{what}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_file_create_write_close_is_one_store_call() {
    let (_dir, c, fs, bucket) = counted_local().await;
    // The kernel's negative lookup before O_CREAT (the name might exist in the store).
    assert!(matches!(fs.lookup(ROOT_INO, "f").await, Err(FsError::NotFound)));
    let lookup = c.take();
    let (a, o) = fs.create(ROOT_INO, "f", 0o644, 0, 0, 7).await.unwrap();
    assert_eq!(fs.write(a.ino, o.fh, 0, &[7u8; 1024]).await.unwrap(), 1024);
    // A small file is staged in memory: no temporary file in the staging directory.
    assert_eq!(staged_files(&_dir.path().join("staging")), 0);
    fs.flush(a.ino, o.fh, 7).await.unwrap();
    fs.release(a.ino, o.fh).await.unwrap();
    fs.getattr(a.ino).await.unwrap();
    let calls = c.take();
    assert_eq!(
        calls,
        [("put_object", 1)].into_iter().collect(),
        "create, write, close, stat: one commit and nothing else (negative lookup before: {lookup:?})"
    );
    assert_eq!(c.inner.head_object(&bucket, "f").await.unwrap().size, 1024);
    assert_eq!(staged_files(&_dir.path().join("staging")), 0);
}

/// The whole current object at `key`.
async fn whole(store: &dyn ObjectStore, bucket: &BucketPath, key: &str) -> Vec<u8> {
    let g = store.get_object(bucket, key, Default::default()).await.unwrap();
    collect_body(g.body, 1 << 30).await.unwrap().to_vec()
}

/// Open descriptors of this process on (unlinked) temporary files in `dir`.
fn staged_files(dir: &std::path::Path) -> usize {
    let dir = std::fs::canonicalize(dir).unwrap_or(dir.to_path_buf());
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.starts_with(&dir))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_small_file_moves_to_a_file_when_it_grows_and_keeps_every_byte() {
    use crate::staging::MEM_MAX;
    let (dir, c, fs, bucket) = counted_local().await;
    let staging = dir.path().join("staging");
    let data: Vec<u8> = (0..(MEM_MAX as u32 + 200_000)).map(|i| (i * 13) as u8).collect();
    let (a, o) = fs.create(ROOT_INO, "grow", 0o644, 0, 0, 7).await.unwrap();
    // A hole, then the head written last, all within the buffer.
    fs.write(a.ino, o.fh, 1000, &data[1000..40_000]).await.unwrap();
    fs.write(a.ino, o.fh, 0, &data[..1000]).await.unwrap();
    assert_eq!(fs.read(a.ino, o.fh, 0, 50_000).await.unwrap(), data[..40_000]);
    assert_eq!(staged_files(&staging), 0);
    // Growing past the buffer moves it to a temporary file.
    fs.write(a.ino, o.fh, 40_000, &data[40_000..]).await.unwrap();
    assert_eq!(staged_files(&staging), 1);
    fs.flush(a.ino, o.fh, 7).await.unwrap();
    fs.release(a.ino, o.fh).await.unwrap();
    assert_eq!(c.take().get("put_file"), Some(&1));
    let got = whole(&*c.inner, &bucket, "grow").await;
    assert!(got == data, "the object holds every byte written");
    use md5::Digest as _;
    let info = c.inner.head_object(&bucket, "grow").await.unwrap();
    assert_eq!(info.etag, hex::encode(md5::Md5::digest(&data)));
    // Shrinking within the buffer size and growing again reads zeros past the cut.
    let rw = OpenMode {
        write: true,
        truncate: false,
    };
    let o = fs.open(a.ino, rw, 7).await.unwrap();
    fs.setattr(
        a.ino,
        SetAttr {
            size: Some(100),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    fs.write(a.ino, o.fh, 200, b"end").await.unwrap();
    let want = [&data[..100], &[0u8; 100][..], b"end"].concat();
    assert_eq!(fs.read(a.ino, o.fh, 0, 1000).await.unwrap(), want);
    fs.flush(a.ino, o.fh, 7).await.unwrap();
    fs.release(a.ino, o.fh).await.unwrap();
    let got = whole(&*c.inner, &bucket, "grow").await;
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_staged_file_becomes_the_data_file_and_is_never_written_again() {
    let (dir, c, fs, bucket) = counted_local().await;
    let first: Vec<u8> = (0..3_000_000u32).map(|i| (i * 31) as u8).collect();
    let (a, o) = fs.create(ROOT_INO, "big", 0o644, 0, 0, 7).await.unwrap();
    for (n, chunk) in first.chunks(128 * 1024).enumerate() {
        fs.write(a.ino, o.fh, (n * 128 * 1024) as u64, chunk).await.unwrap();
    }
    fs.fsync(a.ino, o.fh).await.unwrap();
    let v1 = c.inner.head_object(&bucket, "big").await.unwrap();
    // The MD5 kept while writing sequentially, handed to the store, is the object's ETag.
    use md5::Digest as _;
    assert_eq!(v1.etag, hex::encode(md5::Md5::digest(&first)));
    // Linked in, not copied: the staging area holds no second copy of the bytes.
    let mut data_files = 0;
    for sub in std::fs::read_dir(dir.path().join("objects")).unwrap() {
        data_files += std::fs::read_dir(sub.unwrap().path()).unwrap().count();
    }
    assert_eq!(data_files, 1);
    assert_eq!(c.take().get("put_file"), Some(&1));
    // Writing on through the same handle changes a fresh copy, never the committed version.
    fs.write(a.ino, o.fh, 10, b"CHANGED").await.unwrap();
    let got = collect_body(c.inner.read_version(&bucket, &v1, 0..20).await.unwrap(), 100)
        .await
        .unwrap();
    assert_eq!(got, first[..20]);
    // Reads through the handle see the change over the committed bytes.
    assert_eq!(
        fs.read(a.ino, o.fh, 8, 12).await.unwrap(),
        [&first[8..10], b"CHANGED", &first[17..20]].concat()
    );
    fs.flush(a.ino, o.fh, 7).await.unwrap();
    fs.release(a.ino, o.fh).await.unwrap();
    let mut want = first.clone();
    want[10..17].copy_from_slice(b"CHANGED");
    let g = c.inner.get_object(&bucket, "big", Default::default()).await.unwrap();
    assert!(collect_body(g.body, 1 << 30).await.unwrap() == want);
}

/// readdir(plus) of `ino` from `offset` on the open directory `fh`: the names and kinds handed
/// out, stopping (buffer full) at the first name `refuse` rejects.
async fn readdir_until(
    s: &Setup,
    ino: u64,
    fh: u64,
    offset: u64,
    refuse: impl Fn(&str) -> bool,
) -> Vec<(String, Kind)> {
    let mut out = Vec::new();
    s.fs.readdir(ino, fh, offset, true, &mut |e| {
        if refuse(e.name) {
            return true;
        }
        out.push((e.name.to_string(), e.attr.kind));
        false
    })
    .await
    .unwrap();
    out
}

/// The interleaving behind EISDIR in `reopen_after_create_under_concurrency`: a listing takes a
/// file being created (pending, not in the store yet) from the inode table, the kernel's buffer
/// fills before that entry is handed out, the file is committed and closed (no longer pending),
/// and the next readdirplus hands the entry out. The entry has no object behind it: it must be
/// listed as the file the table holds now, not made into a directory inode (which replaced the
/// file's inode, so the writer's re-open failed with EISDIR). A file unlinked meanwhile is not
/// listed at all.
#[tokio::test]
async fn a_pending_entry_handed_out_after_its_commit_stays_a_file() {
    let s = setup().await;
    let (a, o) = s.fs.create(ROOT_INO, "new", 0o644, 0, 0, 7).await.unwrap();
    s.fs.write(a.ino, o.fh, 0, b"hello").await.unwrap();
    let (g, og) = s.fs.create(ROOT_INO, "gone", 0o644, 0, 0, 7).await.unwrap();
    s.fs.write(g.ino, og.fh, 0, b"bye").await.unwrap();
    let fh = s.fs.opendir(ROOT_INO).unwrap();
    // Buffer full at the first real entry: both pending names are taken, neither handed out.
    let first = readdir_until(&s, ROOT_INO, fh, 0, |n| n != "." && n != "..").await;
    assert_eq!(first.len(), 2, "{first:?}");
    // Both are committed and closed; one is unlinked.
    for (ino, fh) in [(a.ino, o.fh), (g.ino, og.fh)] {
        s.fs.flush(ino, fh, 7).await.unwrap();
        s.fs.release(ino, fh).await.unwrap();
    }
    s.fs.unlink(ROOT_INO, "gone").await.unwrap();
    let rest = readdir_until(&s, ROOT_INO, fh, 2, |_| false).await;
    s.fs.releasedir(ROOT_INO, fh).unwrap();
    assert_eq!(rest, vec![("new".to_string(), Kind::File)]);
    let now = s.fs.lookup(ROOT_INO, "new").await.unwrap();
    assert_eq!(
        (now.ino, now.kind),
        (a.ino, Kind::File),
        "the file's inode was replaced"
    );
    assert!(matches!(s.fs.lookup(ROOT_INO, "gone").await, Err(FsError::NotFound)));
    assert_eq!(s.get("new").await.unwrap(), b"hello");
}

/// The change feed's delete of a file reaches the mount late, after the file was created again
/// here and committed (unlink, create, write, close; then the delete event): the event is about
/// the old file. The new file's inode must stay attached, so that writing it again through a
/// handle on that inode commits (an inode detached as unlinked drops its commit: the tail lost
/// by `reopen_after_create_under_concurrency`).
#[tokio::test]
async fn a_late_delete_event_leaves_a_file_created_again() {
    let s = setup().await;
    let mut rx = s.store.subscribe();
    s.write_file(ROOT_INO, "f", b"old").await;
    s.fs.unlink(ROOT_INO, "f").await.unwrap();
    let ino = s.write_file(ROOT_INO, "f", b"new").await;
    // The events of the put, the delete and the second put, handled only now.
    for _ in 0..3 {
        let ev = rx.recv().await.unwrap();
        s.fs.on_change(&ev).await;
    }
    let now = s.fs.lookup(ROOT_INO, "f").await.unwrap();
    assert_eq!(
        (now.ino, now.kind),
        (ino, Kind::File),
        "the new file's inode was replaced"
    );
    let o =
        s.fs.open(
            ino,
            OpenMode {
                write: true,
                truncate: false,
            },
            1,
        )
        .await
        .unwrap();
    s.fs.write(ino, o.fh, 3, b"+tail").await.unwrap();
    s.fs.flush(ino, o.fh, 1).await.unwrap();
    s.fs.release(ino, o.fh).await.unwrap();
    assert_eq!(s.get("f").await.unwrap(), b"new+tail");
}

/// Create `name` in `parent` with `data` and close it (committed).
async fn create_file(fs: &Fs, parent: u64, name: &str, data: &[u8]) -> u64 {
    let (a, o) = fs.create(parent, name, 0o644, 0, 0, 1).await.unwrap();
    fs.write(a.ino, o.fh, 0, data).await.unwrap();
    fs.flush(a.ino, o.fh, 1).await.unwrap();
    fs.release(a.ino, o.fh).await.unwrap();
    a.ino
}

/// Open `ino` for writing, write `data` at `offset`, close (commits).
async fn write_at(fs: &Fs, ino: u64, offset: u64, data: &[u8]) {
    let w = OpenMode {
        write: true,
        truncate: false,
    };
    let o = fs.open(ino, w, 1).await.unwrap();
    fs.write(ino, o.fh, offset, data).await.unwrap();
    fs.flush(ino, o.fh, 1).await.unwrap();
    fs.release(ino, o.fh).await.unwrap();
}

/// Handle change `ev` (its key `ev.key`) while our own rename `from` -> `to` (in the root) runs
/// in the middle: the store's answer is held at the HEAD of `ev.key` (`before` the store reads it,
/// or after) until the rename is done.
async fn change_handled_around_rename(fs: &Arc<Fs>, c: &Counting, ev: ChangeEvent, before: bool, from: &str, to: &str) {
    let (reached, go) = c.gate_head(&ev.key, before);
    let feed = tokio::spawn({
        let fs = fs.clone();
        async move { fs.on_change(&ev).await }
    });
    reached.notified().await;
    fs.rename(ROOT_INO, from, ROOT_INO, to, false).await.unwrap();
    go.notify_one();
    feed.await.unwrap();
}

/// Everything a new read-only handle on `ino` reads.
async fn read_through(fs: &Fs, ino: u64) -> Vec<u8> {
    let o = fs.open(ino, OpenMode::default(), 1).await.unwrap();
    let mut out = Vec::new();
    loop {
        let d = fs.read(ino, o.fh, out.len() as u64, 1 << 20).await.unwrap();
        if d.is_empty() {
            break;
        }
        out.extend(d);
    }
    fs.release(ino, o.fh).await.unwrap();
    out
}

/// The lost appends of `fuse_random_ops` (a whole read after two appends saw the file as it
/// was renamed): the change feed handles the put of a file's last commit late. It has taken
/// the inode (still named `c`) when our own rename `c` -> `d` runs, and asks the store about
/// `c` only after the rename: `c` is gone. That answer is about the old name; taken as "the
/// file was deleted", it detached the inode now named `d`, whose every later commit (appends
/// through the kernel's dentry, which still names that inode) was then dropped as that of an
/// unlinked file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_event_about_a_renamed_file_leaves_it_attached() {
    let (_dir, c, fs, bucket) = counted_local().await;
    let fs = Arc::new(fs);
    let mut rx = c.inner.subscribe();
    let ino = create_file(&fs, ROOT_INO, "c", b"old").await;
    let ev = rx.recv().await.unwrap();
    change_handled_around_rename(&fs, &c, ev, true, "c", "d").await;
    write_at(&fs, ino, 3, b"+tail").await;
    assert_eq!(
        whole(c.as_ref(), &bucket, "d").await,
        b"old+tail",
        "the append was lost"
    );
    let now = fs.lookup(ROOT_INO, "d").await.unwrap();
    assert_eq!((now.ino, now.size), (ino, 8));
    assert_eq!(read_through(&fs, ino).await, b"old+tail");
}

/// The same late handling with a stale answer: an outside overwrite of `c` is handled late; the
/// store's answer about `c` (that overwrite) arrives after our own rename `y` -> `c` replaced
/// it. Applied by name, it made the renamed file show the replaced object (size and bytes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_answer_about_a_name_is_not_applied_to_the_file_renamed_onto_it() {
    let (_dir, c, fs, bucket) = counted_local().await;
    let fs = Arc::new(fs);
    create_file(&fs, ROOT_INO, "c", b"c, written here").await;
    let y = create_file(&fs, ROOT_INO, "y", b"y, renamed onto c").await;
    let mut rx = c.inner.subscribe();
    c.inner
        .put_object(
            &bucket,
            "c",
            ozfs::body_from_bytes(b"outside".to_vec()),
            Default::default(),
        )
        .await
        .unwrap();
    let ev = rx.recv().await.unwrap();
    assert_eq!(ev.key, "c");
    change_handled_around_rename(&fs, &c, ev, false, "y", "c").await;
    let now = fs.lookup(ROOT_INO, "c").await.unwrap();
    assert_eq!((now.ino, now.size), (y, 17));
    assert_eq!(read_through(&fs, y).await, b"y, renamed onto c");
    assert_eq!(whole(c.as_ref(), &bucket, "c").await, b"y, renamed onto c");
}

/// The same with a listing: a page fetched before our own rename `y` -> `c` hands `c` out after
/// it. That entry describes the file the rename replaced; applied to the inode now named `c`,
/// it told the kernel the replaced file's size (readdirplus attributes set the kernel's).
#[tokio::test]
async fn a_listing_from_before_a_rename_does_not_describe_the_file_renamed_onto_the_name() {
    let s = setup().await;
    s.write_file(ROOT_INO, "c", b"replaced").await;
    let y = s.write_file(ROOT_INO, "y", b"renamed onto c, longer").await;
    let fh = s.fs.opendir(ROOT_INO).unwrap();
    // The page (c, y) is fetched; the buffer is full before `c` is handed out.
    let first = readdir_until(&s, ROOT_INO, fh, 0, |n| n != "." && n != "..").await;
    assert_eq!(first.len(), 2, "{first:?}");
    s.fs.rename(ROOT_INO, "y", ROOT_INO, "c", false).await.unwrap();
    let mut handed = Vec::new();
    s.fs.readdir(ROOT_INO, fh, 2, true, &mut |e| {
        handed.push((e.name.to_string(), e.attr.ino, e.attr.size));
        false
    })
    .await
    .unwrap();
    s.fs.releasedir(ROOT_INO, fh).unwrap();
    let c = handed.iter().find(|e| e.0 == "c").expect("c listed");
    assert_eq!((c.1, c.2), (y, 22), "{handed:?}");
    assert_eq!(s.fs.getattr(y).await.unwrap().size, 22);
    assert_eq!(s.read_all(y).await, b"renamed onto c, longer");
}

/// With `--passthrough`, a read-only open of a one-file object on the embedded store carries the
/// version's data file for the kernel; once the kernel refused passthrough at `init`, opens no
/// longer open it (and read as before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_carry_a_backing_file_only_while_passthrough_is_agreed() {
    let dir = tempfile::tempdir().unwrap();
    let local = ozfs::LocalStore::open(dir.path(), "s3v").unwrap();
    let bucket = BucketPath::new("s3v", B);
    local.create_bucket(&bucket, "me").await.unwrap();
    let body = vec![7u8; ozfs::store::local::INLINE_MAX + 1];
    ozfs::Objects::put_object(
        &local,
        &bucket,
        "f",
        ozfs::body_from_bytes(body.clone()),
        Default::default(),
    )
    .await
    .unwrap();
    let cfg = FsConfig {
        passthrough: true,
        staging_dir: Some(dir.path().join("staging")),
        ..FsConfig::default()
    };
    let fs = Fs::new(Arc::new(local), bucket, "", cfg).unwrap();
    fs.check_bucket().await.unwrap();
    let ino = fs.lookup(ROOT_INO, "f").await.unwrap().ino;
    let o = fs.open(ino, OpenMode::default(), 1).await.unwrap();
    assert!(
        o.backing.is_some(),
        "passthrough asked for and not refused: a backing file"
    );
    fs.release(ino, o.fh).await.unwrap();
    fs.passthrough_refused();
    let o = fs.open(ino, OpenMode::default(), 1).await.unwrap();
    assert!(o.backing.is_none(), "refused by the kernel: no backing file opened");
    fs.release(ino, o.fh).await.unwrap();
    assert_eq!(read_through(&fs, ino).await, body);
}
