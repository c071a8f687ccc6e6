//! Soak (issue 13, item 6): mixed S3 and mount load from several clients against one
//! `ozfs serve --mount --cache-size 64M` for `OZFS_SOAK_SECS` seconds (default 40;
//! `scripts/soak.sh` runs 30 minutes). Three S3 clients PUT, GET (checked), copy, delete and list
//! their own keys; two mount clients write, read back, append, truncate and rename their own
//! files. Each client keeps a model of its keys, so every read is checked. The server's RSS and
//! open descriptors are sampled throughout. Demanded: zero errors; the RSS never exceeds the
//! cache budget plus a fixed margin (`SOAK_RSS_MARGIN_MIB`); the descriptor count at the end is
//! not above the one after warm-up (plus a small slack for pooled connections); a final full
//! read-back of every key through both doors matches the models.

use crate::common::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CACHE_MIB: u64 = 64;
/// Room above the cache budget: the binary, runtime, connection buffers, staging bookkeeping,
/// the database's cache (debug builds are larger than release ones).
const SOAK_RSS_MARGIN_MIB: u64 = 160;

fn body(rng: &mut StdRng) -> Vec<u8> {
    let len = match rng.gen_range(0..10) {
        0 => 0,
        1..=7 => rng.gen_range(1..64 << 10),
        _ => rng.gen_range(1 << 20..4 << 20),
    };
    let seed: u8 = rng.gen();
    (0..len)
        .map(|i: usize| (i as u8).wrapping_mul(seed | 1) ^ (i >> 12) as u8)
        .collect()
}

fn s3_client(s3: S3, id: usize, until: Instant, ops: Arc<AtomicU64>) -> BTreeMap<String, String> {
    let mut rng = StdRng::seed_from_u64(rand::random());
    let mut model: BTreeMap<String, String> = BTreeMap::new();
    while Instant::now() < until {
        let key = format!("s3c{id}/k{}", rng.gen_range(0..20));
        match rng.gen_range(0..10) {
            0..=3 => {
                let b = body(&mut rng);
                let r = s3.put("soak", &key, &b).unwrap();
                assert!(r.ok(), "PUT {key}: {} {}", r.status, r.text());
                model.insert(key, md5hex(&b));
            }
            4..=6 => {
                let r = s3.get("soak", &key).unwrap();
                match model.get(&key) {
                    Some(sum) => {
                        assert!(r.ok(), "GET {key}: {} {}", r.status, r.text());
                        assert_eq!(&md5hex(&r.body), sum, "GET {key}: wrong bytes");
                    }
                    None => assert_eq!(r.status, 404, "GET {key} (deleted)"),
                }
            }
            7 => {
                if let Some(src) = model.keys().nth(rng.gen_range(0..model.len().max(1))).cloned() {
                    let dst = format!("s3c{id}/k{}", rng.gen_range(0..20));
                    if dst != src {
                        let r = s3.copy("soak", &src, &dst).unwrap();
                        assert!(r.ok(), "COPY {src} {dst}: {} {}", r.status, r.text());
                        let sum = model[&src].clone();
                        model.insert(dst, sum);
                    }
                }
            }
            8 => {
                let r = s3.delete("soak", &key).unwrap();
                assert!(r.ok(), "DELETE {key}: {} {}", r.status, r.text());
                model.remove(&key);
            }
            _ => {
                let listed: Vec<String> = s3
                    .list("soak")
                    .unwrap()
                    .into_iter()
                    .filter(|k| k.starts_with(&format!("s3c{id}/")))
                    .collect();
                assert_eq!(listed, model.keys().cloned().collect::<Vec<_>>(), "listing of s3c{id}/");
            }
        }
        ops.fetch_add(1, Ordering::Relaxed);
    }
    model
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

fn fs_client(mnt: &Path, id: usize, until: Instant, ops: Arc<AtomicU64>) -> BTreeMap<String, Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(rand::random());
    let dir = format!("fsc{id}");
    std::fs::create_dir_all(mnt.join(&dir)).unwrap();
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    while Instant::now() < until {
        let key = format!("{dir}/f{}", rng.gen_range(0..12));
        let p = mnt.join(&key);
        match (rng.gen_range(0..10), model.contains_key(&key)) {
            (0..=3, _) | (_, false) => {
                let b = body(&mut rng);
                let mut f = std::fs::File::create(&p).unwrap_or_else(|e| panic!("create {key}: {e}"));
                f.write_all(&b).unwrap_or_else(|e| panic!("write {key}: {e}"));
                close_checked(f).unwrap_or_else(|e| panic!("close {key}: {e}"));
                model.insert(key, b);
            }
            (4..=5, true) => {
                let got = std::fs::read(&p).unwrap_or_else(|e| panic!("read {key}: {e}"));
                assert!(got == model[&key], "read {key}: wrong bytes");
            }
            (6, true) => {
                let add = body(&mut rng);
                let add = &add[..add.len().min(100_000)];
                let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
                f.write_all(add).unwrap_or_else(|e| panic!("append {key}: {e}"));
                close_checked(f).unwrap_or_else(|e| panic!("close {key}: {e}"));
                model.get_mut(&key).unwrap().extend_from_slice(add);
            }
            (7, true) => {
                let m = model.get_mut(&key).unwrap();
                let len = rng.gen_range(0..m.len() + 1000);
                let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
                f.set_len(len as u64).unwrap_or_else(|e| panic!("truncate {key}: {e}"));
                close_checked(f).unwrap_or_else(|e| panic!("close {key}: {e}"));
                m.resize(len, 0);
            }
            (8, true) => {
                let to = format!("{dir}/f{}", rng.gen_range(0..12));
                if to != key {
                    std::fs::rename(&p, mnt.join(&to)).unwrap_or_else(|e| panic!("rename {key} {to}: {e}"));
                    let b = model.remove(&key).unwrap();
                    model.insert(to, b);
                }
            }
            _ => {
                let mut names: Vec<String> = std::fs::read_dir(mnt.join(&dir))
                    .unwrap()
                    .map(|e| format!("{dir}/{}", e.unwrap().file_name().to_string_lossy()))
                    .collect();
                names.sort();
                assert_eq!(names, model.keys().cloned().collect::<Vec<_>>(), "listing of {dir}");
            }
        }
        ops.fetch_add(1, Ordering::Relaxed);
    }
    model
}

pub fn soak(secs: u64) {
    let root = tempfile::tempdir().unwrap();
    let (data, mnt, staging) = (
        root.path().join("data"),
        root.path().join("mnt"),
        root.path().join("staging"),
    );
    for d in [&data, &mnt, &staging] {
        std::fs::create_dir_all(d).unwrap();
    }
    cli(&data, &["sh", "bucket", "create", "/s3v/soak"]);
    let serve = Serve::start_env(
        &data,
        Some(("soak", &mnt)),
        &["--cache-size", &format!("{CACHE_MIB}M")],
        None,
        &[("TMPDIR", &staging)],
    );
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let ops = Arc::new(AtomicU64::new(0));
    let s3_models: Vec<_> = (0..3)
        .map(|i| {
            let (s3, ops) = (serve.client(&format!("soaker{i}"), "soak-secret"), ops.clone());
            std::thread::spawn(move || s3_client(s3, i, until, ops))
        })
        .collect();
    let fs_models: Vec<_> = (0..2)
        .map(|i| {
            let (mnt, ops) = (mnt.clone(), ops.clone());
            std::thread::spawn(move || fs_client(&mnt, i, until, ops))
        })
        .collect();
    // Sample the server while the load runs.
    let samples = Arc::new(Mutex::new(Vec::<(u64, u64, usize)>::new()));
    let pid = serve.pid();
    let warm = started + Duration::from_secs(secs / 5);
    let mut base_fds = None;
    while Instant::now() < until {
        let (rss, fds) = proc_rss_and_fds(pid);
        if base_fds.is_none() && Instant::now() > warm {
            base_fds = Some(fds);
        }
        samples.lock().unwrap().push((started.elapsed().as_secs(), rss, fds));
        // Not synchronisation: the sampling period of the RSS/fd series.
        std::thread::sleep(Duration::from_secs(1).min(until.saturating_duration_since(Instant::now())));
    }
    let s3_models: Vec<_> = s3_models.into_iter().map(|t| t.join().unwrap()).collect();
    let fs_models: Vec<_> = fs_models.into_iter().map(|t| t.join().unwrap()).collect();
    let ops = ops.load(Ordering::Relaxed);
    // Final full read-back through both doors.
    let s3 = serve.client("checker", "soak-secret");
    let mut keys = 0;
    for m in &s3_models {
        for (k, sum) in m {
            let r = s3.get("soak", k).unwrap();
            assert_eq!(&md5hex(&r.body), sum, "final read-back of {k}");
            keys += 1;
        }
    }
    for m in &fs_models {
        for (k, b) in m {
            assert!(
                &std::fs::read(mnt.join(k)).unwrap() == b,
                "final read-back of {k} (mount)"
            );
            assert!(&s3.get("soak", k).unwrap().body == b, "final read-back of {k} (S3)");
            keys += 1;
        }
    }
    let (rss_end, fds_end) = proc_rss_and_fds(pid);
    let samples = samples.lock().unwrap().clone();
    let max_rss = samples.iter().map(|s| s.1).max().unwrap_or(0).max(rss_end);
    let base_fds = base_fds.unwrap_or(fds_end);
    eprintln!(
        "soak: {secs} s, 5 clients (3 S3, 2 mount), {ops} operations, 0 errors, {keys} keys read back; \
         RSS max {} MiB (end {} MiB, budget {CACHE_MIB} MiB + {SOAK_RSS_MARGIN_MIB} MiB); fds {base_fds} after warm-up, {fds_end} at the end",
        max_rss / 1024,
        rss_end / 1024
    );
    assert!(
        max_rss <= (CACHE_MIB + SOAK_RSS_MARGIN_MIB) * 1024,
        "RSS reached {max_rss} KiB: samples (s, KiB, fds) {samples:?}"
    );
    assert!(
        fds_end <= base_fds + 16,
        "descriptors grew from {base_fds} to {fds_end}: {samples:?}"
    );
}

#[test]
fn soak_mixed_s3_and_mount_load() {
    let secs = std::env::var("OZFS_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    soak(secs);
}
