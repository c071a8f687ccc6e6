//! Crash consistency of everything, through both doors of one `ozfs serve --mount` process.
//!
//! Each round starts the server (embedded store, the bucket mounted in-process), runs a random
//! sequential workload — S3 PUT, multipart complete, copy, delete, DeleteObjects, PUTs through
//! bucket links, link creation and deletion (`ozfs sh bucket link/delete` over the admin API),
//! and through the mount writes, appends, truncates, file renames, directory renames and
//! `rm -rf` — and SIGKILLs the server at a random moment. A model records every operation: the
//! state after the last acknowledged one (`committed`) and the one in flight at the kill
//! (`pending`: the state it would produce, and whether it is all-or-nothing). The checker then
//! opens the data directory (which runs recovery, as a restart does) and demands:
//! - the keys and their bytes equal `committed`, or, for the keys the in-flight operation
//!   touches, its outcome — all of it for an atomic operation (a directory rename moves every
//!   key or none), key by key for `rm -rf` and DeleteObjects;
//! - the bucket links equal the model's;
//! - no orphan data file (every file under `objects/` belongs to an object or to an unfinished
//!   upload), nothing left in `tmp/`, and no staging file left in the mount's staging directory.
//!
//! S3 operations work on keys under `s3/`, mount operations under `fs/` (copies read from both):
//! a mount operation computes its outcome from what the mount shows, and a change made through
//! S3 reaches the kernel's caches through the change feed shortly after it is acknowledged, not
//! at the same instant, so mixing doors on one key would test coherence timing, not crashes
//! (`storm.rs` does that). Rounds: `OZFS_CRASH_ROUNDS` (default 3; `scripts/crash-check.sh` runs
//! 100), seed `OZFS_CRASH_SEED` (default: random, printed).

use crate::common::*;
use ozfs::store::prelude::*;
use ozfs::{BucketPath, GetOptions, LocalStore};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BUCKET: &str = "crash";

#[derive(Clone, Default, PartialEq, Debug)]
struct State {
    /// key → md5 of its bytes (directory markers `…/` are not modelled).
    keys: BTreeMap<String, String>,
    links: BTreeSet<String>,
}

#[derive(Default)]
struct Model {
    committed: State,
    /// The operation in flight: its outcome and whether it is all-or-nothing.
    pending: Option<(State, bool, String)>,
    ops: u64,
    /// The last acknowledged operations (printed when the check fails).
    recent: std::collections::VecDeque<String>,
}

struct Shared {
    model: Mutex<Model>,
    stop: AtomicBool,
}

impl Shared {
    /// Run `op` with `next` as its outcome; committed only if `op` returns Ok(true).
    fn step(&self, what: String, next: State, atomic: bool, op: impl FnOnce() -> Result<bool, String>) -> bool {
        self.model.lock().unwrap().pending = Some((next.clone(), atomic, what.clone()));
        match op() {
            Ok(true) => {
                let mut m = self.model.lock().unwrap();
                m.committed = next;
                m.pending = None;
                m.ops += 1;
                if m.recent.len() == 60 {
                    m.recent.pop_front();
                }
                m.recent.push_back(what);
                true
            }
            Ok(false) => {
                // Refused cleanly (e.g. a rename onto a non-empty directory): nothing changed.
                self.model.lock().unwrap().pending = None;
                true
            }
            Err(e) => {
                // The server died (or the op failed): the outcome stays undecided.
                if !self.stop.load(Ordering::SeqCst) {
                    panic!("{what} failed while the server was up: {e}");
                }
                false
            }
        }
    }
}

fn content(rng: &mut StdRng) -> Vec<u8> {
    let len = match rng.gen_range(0..10) {
        0 => 0,
        1..=6 => rng.gen_range(1..40_000),
        _ => rng.gen_range(100_000..1_500_000),
    };
    let seed: u64 = rng.gen();
    let mut v: Vec<u8> = (0..len)
        .map(|i| (i as u64).wrapping_mul(seed | 1).to_le_bytes()[3])
        .collect();
    if len >= 8 {
        v[..8].copy_from_slice(&seed.to_le_bytes());
    }
    v
}

fn s3_ok(r: std::io::Result<Resp>) -> Result<bool, String> {
    match r {
        Ok(r) if r.ok() => Ok(true),
        Ok(r) => Err(format!("{} {}", r.status, r.text())),
        Err(e) => Err(e.to_string()),
    }
}

/// close(2) with its result: the mount commits a written file at close (flush), and Rust's
/// `drop(File)` ignores what close returns, so an acknowledgement needs this.
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

/// Write `data` as the whole file: create/truncate, write, close (the commit), checked.
fn write_file(p: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(p)?;
    f.write_all(data)?;
    close_checked(f)
}

fn io_ok(r: std::io::Result<()>) -> Result<bool, String> {
    r.map(|_| true).map_err(|e| e.to_string())
}

fn pick<'a>(rng: &mut StdRng, keys: impl Iterator<Item = &'a String>) -> Option<String> {
    let v: Vec<&String> = keys.collect();
    (!v.is_empty()).then(|| v[rng.gen_range(0..v.len())].clone())
}

/// The bytes of `key` as the mount shows them (a mount op's starting point).
fn read_mount(mnt: &Path, key: &str) -> std::io::Result<Vec<u8>> {
    std::fs::read(mnt.join(key))
}

/// One random operation. Returns false once the server is gone.
fn one_op(rng: &mut StdRng, sh: &Shared, s3: &S3, mnt: &Path, data: &Path) -> bool {
    let cur = sh.model.lock().unwrap().committed.clone();
    let s3_keys = || cur.keys.keys().filter(|k| k.starts_with("s3/"));
    let fs_keys = || cur.keys.keys().filter(|k| k.starts_with("fs/"));
    let mut next = cur.clone();
    match rng.gen_range(0..100) {
        0..=17 => {
            let key = format!("s3/{}/k{}", ["a", "b", "c"][rng.gen_range(0..3)], rng.gen_range(0..6));
            let data = content(rng);
            next.keys.insert(key.clone(), md5hex(&data));
            // Through a link now and then.
            let bucket = match cur.links.iter().next() {
                Some(l) if rng.gen_bool(0.3) => l.clone(),
                _ => BUCKET.to_string(),
            };
            sh.step(format!("PUT {bucket}/{key}"), next, true, || {
                s3_ok(s3.put(&bucket, &key, &data))
            })
        }
        18..=21 => {
            let key = format!("s3/mp{}", rng.gen_range(0..3));
            let p1 = vec![rng.gen::<u8>(); 5 << 20];
            let p2 = content(rng);
            let mut whole = p1.clone();
            whole.extend_from_slice(&p2);
            next.keys.insert(key.clone(), md5hex(&whole));
            sh.step(format!("multipart {key}"), next, true, || {
                s3_ok(s3.multipart(BUCKET, &key, &[&p1, &p2]))
            })
        }
        22..=29 => {
            let Some(src) = pick(rng, cur.keys.keys()) else {
                return true;
            };
            let dst = format!("s3/copy{}", rng.gen_range(0..4));
            if dst == src {
                return true;
            }
            next.keys.insert(dst.clone(), cur.keys[&src].clone());
            sh.step(format!("COPY {src} -> {dst}"), next, true, || {
                s3_ok(s3.copy(BUCKET, &src, &dst))
            })
        }
        30..=35 => {
            let Some(key) = pick(rng, s3_keys()) else { return true };
            next.keys.remove(&key);
            sh.step(format!("DELETE {key}"), next, true, || s3_ok(s3.delete(BUCKET, &key)))
        }
        36..=39 => {
            let keys: Vec<String> = s3_keys().filter(|_| rng.gen_bool(0.4)).cloned().collect();
            if keys.is_empty() {
                return true;
            }
            for k in &keys {
                next.keys.remove(k);
            }
            sh.step(format!("DeleteObjects {keys:?}"), next, false, || {
                s3_ok(s3.delete_objects(BUCKET, &keys))
            })
        }
        40..=43 => {
            let name = format!("lnk{}", rng.gen_range(0..3));
            let link = format!("/s3v/{name}");
            let (args, what): (Vec<&str>, &str) = if cur.links.contains(&name) {
                next.links.remove(&name);
                (vec!["sh", "bucket", "delete", &link], "unlink")
            } else {
                next.links.insert(name.clone());
                (vec!["sh", "bucket", "link", "/s3v/crash", &link], "link")
            };
            sh.step(format!("{what} {name}"), next, true, || {
                let out = std::process::Command::new(ozfs())
                    .args(&args)
                    .arg("--data")
                    .arg(data)
                    .output()
                    .map_err(|e| e.to_string())?;
                if out.status.success() {
                    Ok(true)
                } else {
                    Err(String::from_utf8_lossy(&out.stderr).into_owned())
                }
            })
        }
        44..=59 => {
            // Write a whole file through the mount (create or overwrite).
            let dir = format!("fs/d{}", rng.gen_range(0..4));
            let key = format!("{dir}/f{}", rng.gen_range(0..5));
            let data = content(rng);
            next.keys.insert(key.clone(), md5hex(&data));
            sh.step(format!("write {key} = {}", md5hex(&data)), next, true, || {
                std::fs::create_dir_all(mnt.join(&dir)).map_err(|e| e.to_string())?;
                io_ok(write_file(&mnt.join(&key), &data))
            })
        }
        60..=67 => {
            let Some(key) = pick(rng, fs_keys()) else { return true };
            let Ok(mut now) = read_mount(mnt, &key) else {
                return false;
            };
            let add = content(rng);
            now.extend_from_slice(&add[..add.len().min(200_000)]);
            next.keys.insert(key.clone(), md5hex(&now));
            let fsync = rng.gen_bool(0.3);
            sh.step(
                format!("append {key} = {} (fsync {fsync})", md5hex(&now)),
                next,
                true,
                || {
                    let mut f = std::fs::OpenOptions::new()
                        .append(true)
                        .open(mnt.join(&key))
                        .map_err(|e| e.to_string())?;
                    f.write_all(&add[..add.len().min(200_000)]).map_err(|e| e.to_string())?;
                    if fsync {
                        f.sync_all().map_err(|e| e.to_string())?;
                    }
                    io_ok(close_checked(f))
                },
            )
        }
        68..=73 => {
            let Some(key) = pick(rng, fs_keys()) else { return true };
            let Ok(mut now) = read_mount(mnt, &key) else {
                return false;
            };
            let len = rng.gen_range(0..now.len() as u64 + 50_000);
            now.resize(len as usize, 0);
            next.keys.insert(key.clone(), md5hex(&now));
            sh.step(
                format!("truncate {key} to {len} = {}", md5hex(&now)),
                next,
                true,
                || {
                    let f = std::fs::OpenOptions::new()
                        .write(true)
                        .open(mnt.join(&key))
                        .map_err(|e| e.to_string())?;
                    f.set_len(len).map_err(|e| e.to_string())?;
                    io_ok(close_checked(f))
                },
            )
        }
        74..=83 => {
            let Some(from) = pick(rng, fs_keys()) else { return true };
            let dir = format!("fs/d{}", rng.gen_range(0..4));
            let to = format!("{dir}/f{}", rng.gen_range(0..5));
            if to == from {
                return true;
            }
            let sum = next.keys.remove(&from).unwrap();
            next.keys.insert(to.clone(), sum);
            sh.step(format!("rename {from} -> {to}"), next, true, || {
                std::fs::create_dir_all(mnt.join(&dir)).map_err(|e| e.to_string())?;
                io_ok(std::fs::rename(mnt.join(&from), mnt.join(&to)))
            })
        }
        84..=93 => {
            let from = format!("fs/d{}", rng.gen_range(0..4));
            let to = format!("fs/d{}", rng.gen_range(0..6));
            let (fp, tp) = (format!("{from}/"), format!("{to}/"));
            if from == to || !mnt.join(&from).is_dir() || mnt.join(&to).exists() {
                return true;
            }
            let moved: Vec<String> = cur.keys.keys().filter(|k| k.starts_with(&fp)).cloned().collect();
            for k in moved {
                let sum = next.keys.remove(&k).unwrap();
                next.keys.insert(format!("{tp}{}", &k[fp.len()..]), sum);
            }
            sh.step(format!("rename dir {from} -> {to}"), next, true, || {
                io_ok(std::fs::rename(mnt.join(&from), mnt.join(&to)))
            })
        }
        _ => {
            let dir = format!("fs/d{}", rng.gen_range(0..6));
            if !mnt.join(&dir).is_dir() {
                return true;
            }
            let p = format!("{dir}/");
            next.keys.retain(|k, _| !k.starts_with(&p));
            sh.step(format!("rm -rf {dir}"), next, false, || {
                io_ok(std::fs::remove_dir_all(mnt.join(&dir)))
            })
        }
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).filter(|e| e.path().is_file()).count())
        .unwrap_or(0)
}

/// Open the data directory (recovery runs), compare it with the model, count leftovers.
async fn check(data: &Path, staging: &Path, m: &Model) -> usize {
    let s = LocalStore::open(data, "s3v").expect("reopen after kill");
    let b = BucketPath::new("s3v", BUCKET);
    assert_eq!(count_files(&data.join("tmp")), 0, "tmp/ not empty after recovery");
    assert_eq!(count_files(staging), 0, "staging files left behind");
    let mut actual = State::default();
    let mut referenced = 0usize;
    let mut after = None;
    loop {
        let page = s
            .list_objects(
                &b,
                ozfs::ListRequest {
                    prefix: String::new(),
                    delimiter: None,
                    start_after: after.clone(),
                    max_keys: 1000,
                },
            )
            .await
            .unwrap();
        for o in &page.objects {
            let r = s.get_object(&b, &o.key, GetOptions::default()).await.unwrap();
            let info = r.info.clone();
            let bytes = ozfs::collect_body(r.body, 64 << 20).await.unwrap();
            assert_eq!(bytes.len() as u64, info.size, "{}: size", o.key);
            if info.parts.is_empty() {
                if info.size > ozfs::store::local::INLINE_MAX as u64 {
                    referenced += 1;
                }
            } else {
                referenced += info.parts.len();
            }
            if !o.key.ends_with('/') {
                actual.keys.insert(o.key.clone(), md5hex(&bytes));
            }
        }
        if page.objects.len() < 1000 {
            break;
        }
        after = page.objects.last().map(|o| o.key.clone());
    }
    for bi in s.list_buckets("s3v").await.unwrap() {
        if bi.name != BUCKET {
            assert!(bi.link_target.is_some(), "unexpected bucket {}", bi.name);
            actual.links.insert(bi.name);
        }
    }
    let ups = s
        .list_uploads(
            &b,
            ozfs::UploadsRequest {
                max_uploads: 10_000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for u in &ups.uploads {
        s.abort_multipart(&b, &u.key, &u.upload_id).await.unwrap();
    }
    let mut files = 0;
    for sub in std::fs::read_dir(data.join("objects")).unwrap() {
        files += count_files(&sub.unwrap().path());
    }
    assert_eq!(
        files, referenced,
        "orphan data files after recovery (and aborting unfinished uploads)"
    );
    // The model.
    let ok = actual == m.committed
        || match &m.pending {
            Some((next, true, _)) => &actual == next,
            Some((next, false, _)) => {
                actual.links == m.committed.links
                    && actual.keys.keys().chain(m.committed.keys.keys()).all(|k| {
                        let a = actual.keys.get(k);
                        a == m.committed.keys.get(k) || a == next.keys.get(k)
                    })
            }
            None => false,
        };
    if !ok {
        let diff: Vec<String> = actual
            .keys
            .iter()
            .filter(|(k, v)| m.committed.keys.get(*k) != Some(v))
            .map(|(k, v)| format!("+{k}={v}"))
            .chain(
                m.committed
                    .keys
                    .iter()
                    .filter(|(k, v)| actual.keys.get(*k) != Some(v))
                    .map(|(k, v)| format!("-{k}={v}")),
            )
            .collect();
        panic!(
            "store after the kill matches neither the acknowledged state nor the in-flight op {:?}\nactual vs committed: {diff:?}\nlinks actual {:?} committed {:?}\nlast acknowledged operations: {:#?}",
            m.pending.as_ref().map(|p| &p.2),
            actual.links,
            m.committed.links,
            m.recent
        );
    }
    actual.keys.len()
}

pub struct Outcome {
    pub rounds: usize,
    pub ops: u64,
    pub kills: usize,
    pub keys: usize,
}

pub fn run(rounds: usize, time_limit: Duration) -> Outcome {
    let seed: u64 = std::env::var("OZFS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash check: seed {seed} (OZFS_CRASH_SEED to replay the workload choices)");
    let mut rng = StdRng::seed_from_u64(seed);
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let mnt = root.path().join("mnt");
    let staging = root.path().join("staging");
    for d in [&data, &mnt, &staging] {
        std::fs::create_dir_all(d).unwrap();
    }
    cli(&data, &["sh", "bucket", "create", "/s3v/crash"]);
    let shared = Arc::new(Shared {
        model: Mutex::new(Model::default()),
        stop: AtomicBool::new(false),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let (mut kills, mut keys, mut done) = (0, 0, 0);
    while done < rounds && started.elapsed() < time_limit {
        shared.stop.store(false, Ordering::SeqCst);
        let log = std::env::var_os("OZFS_CRASH_LOG").map(std::path::PathBuf::from);
        let mut serve = Serve::start_env(
            &data,
            Some((BUCKET, &mnt)),
            &[],
            log.as_deref(),
            &[("TMPDIR", &staging)],
        );
        let s3 = serve.client("crasher", "crasher-secret");
        let (sh, mnt2, data2) = (shared.clone(), mnt.clone(), data.clone());
        let mut wrng = StdRng::seed_from_u64(rng.gen());
        let worker = std::thread::spawn(move || {
            for _ in 0..10_000 {
                if sh.stop.load(Ordering::SeqCst) || !one_op(&mut wrng, &sh, &s3, &mnt2, &data2) {
                    break;
                }
            }
        });
        // The kill point: a random moment of the workload (not a synchronisation).
        std::thread::sleep(Duration::from_millis(rng.gen_range(100..2500)));
        shared.stop.store(true, Ordering::SeqCst);
        serve.kill_only();
        kills += 1;
        let joined = watchdog("the workload after the kill", Duration::from_secs(120), move || {
            worker.join()
        });
        serve.kill9(); // only now detach the dead mount
        if let Err(p) = joined {
            std::panic::resume_unwind(p);
        }
        assert_eq!(
            std::fs::read_dir(&mnt).unwrap().count(),
            0,
            "something was written under the mount point"
        );
        let mut m = shared.model.lock().unwrap();
        keys = rt.block_on(check(&data, &staging, &m));
        m.recent.push_back("---- kill, check passed ----".into());
        drop(m);
        // The in-flight op's outcome is now known: the store is the truth for the next round.
        let mut m = shared.model.lock().unwrap();
        if let Some((next, _, _)) = m.pending.take() {
            let s = LocalStore::open(&data, "s3v").unwrap();
            let b = BucketPath::new("s3v", BUCKET);
            let mut actual = State {
                keys: BTreeMap::new(),
                links: rt
                    .block_on(s.list_buckets("s3v"))
                    .unwrap()
                    .into_iter()
                    .filter(|bi| bi.name != BUCKET)
                    .map(|bi| bi.name)
                    .collect(),
            };
            for k in m.committed.keys.keys().chain(next.keys.keys()).collect::<BTreeSet<_>>() {
                if let Ok(r) = rt.block_on(s.get_object(&b, k, GetOptions::default())) {
                    let bytes = rt.block_on(ozfs::collect_body(r.body, 64 << 20)).unwrap();
                    actual.keys.insert(k.clone(), md5hex(&bytes));
                }
            }
            m.committed = actual;
        }
        done += 1;
    }
    let ops = shared.model.lock().unwrap().ops;
    eprintln!(
        "crash check: {done} rounds, {ops} acknowledged operations, {kills} SIGKILLs, {keys} keys at the end, lost 0"
    );
    Outcome {
        rounds: done,
        ops,
        kills,
        keys,
    }
}

#[test]
fn crash_consistency_of_both_doors() {
    let rounds = std::env::var("OZFS_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let limit = if rounds > 3 {
        Duration::from_secs(3 * 3600)
    } else {
        Duration::from_secs(120)
    };
    let o = run(rounds, limit);
    assert!(o.rounds >= 1 && o.kills == o.rounds);
    assert!(o.ops > 0, "no operation was acknowledged");
    eprintln!("{} keys in the store at the end", o.keys);
}
