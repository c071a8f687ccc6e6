//! Crash test of the embedded store. The test re-executes its own binary as a child (selected by
//! `OZFS_CRASH_CHILD=<dir>`) that opens a `LocalStore` and writes objects of various sizes
//! (some multi-MiB), multipart uploads and deletes in a loop, printing `TRY key md5` before
//! and `ACK key md5` after each acknowledged write (`-` for a delete). The parent kills it with
//! SIGKILL at random moments, reopens the store (which runs recovery) and checks that every
//! acknowledged object reads back whole (and every acknowledged delete stays deleted), that no
//! partial object is visible, and that no orphaned data or temporary file survives recovery.

mod common;

use common::{chunked, md5hex};
use ozfs::store::MIN_PART_SIZE;
use ozfs::*;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "OZFS_CRASH_CHILD";
const KEYS: [&str; 6] = ["small", "dir/a", "dir/b", "big", "multi", "mixed"];

fn bucket() -> BucketPath {
    BucketPath::new("s3v", "crash")
}

fn content(rng: &mut impl Rng, len: usize) -> Vec<u8> {
    let seed: u8 = rng.gen();
    let mut v: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    if len >= 8 {
        let tag: u64 = rng.gen();
        v[..8].copy_from_slice(&tag.to_le_bytes());
    }
    v
}

/// The child: write forever (until killed).
#[allow(clippy::infinite_loop, reason = "the child writes until the parent test kills it")]
async fn child(dir: &Path) {
    let s = LocalStore::open(dir, "s3v").expect("open");
    match s.create_bucket(&bucket(), "crash").await {
        Ok(_) | Err(Error::BucketAlreadyExists { .. }) => {}
        Err(e) => panic!("create bucket: {e}"),
    }
    let mut rng = rand::rngs::StdRng::from_entropy();
    let out = std::io::stdout();
    let say = |line: String| {
        let mut o = out.lock();
        let _ = writeln!(o, "{line}");
        let _ = o.flush();
    };
    loop {
        let key = KEYS[rng.gen_range(0..KEYS.len())];
        if key == "multi" || (key == "mixed" && rng.gen_bool(0.5)) {
            let p1 = content(&mut rng, MIN_PART_SIZE as usize);
            let n2 = rng.gen_range(1..2_000_000);
            let p2 = content(&mut rng, n2);
            let mut whole = p1.clone();
            whole.extend_from_slice(&p2);
            let sum = md5hex(&whole);
            say(format!("TRY {key} {sum}"));
            let id = s.create_multipart(&bucket(), key, PutOptions::default()).await.unwrap();
            let mut parts = Vec::new();
            for (n, p) in [(1u32, p1), (2, p2)] {
                let info = s
                    .upload_part(&bucket(), key, &id, n, body_from_bytes(p), PutOptions::default())
                    .await
                    .unwrap();
                parts.push(CompletedPart {
                    part_number: n,
                    etag: info.etag,
                });
            }
            s.complete_multipart(&bucket(), key, &id, &parts, WriteCondition::None)
                .await
                .unwrap();
            say(format!("ACK {key} {sum}"));
        } else if rng.gen_bool(0.2) {
            // A delete ("-" in the history): durable once acknowledged, like a put.
            say(format!("TRY {key} -"));
            s.delete_object(&bucket(), key, None).await.unwrap();
            say(format!("ACK {key} -"));
        } else {
            let len = match key {
                "big" => rng.gen_range(2_000_000..12_000_000),
                "small" => rng.gen_range(0..5000),
                _ => rng.gen_range(0..3_000_000),
            };
            let data = content(&mut rng, len);
            let sum = md5hex(&data);
            say(format!("TRY {key} {sum}"));
            // Stream in 256 KiB chunks so a kill can land in the middle of a body.
            s.put_object(&bucket(), key, chunked(data, 256 * 1024), PutOptions::default())
                .await
                .unwrap();
            say(format!("ACK {key} {sum}"));
        }
    }
}

/// Per key, every md5 ever tried, in order, with whether it was acknowledged.
#[derive(Default)]
struct History {
    tries: Vec<(String, bool)>,
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).filter(|e| e.path().is_file()).count())
        .unwrap_or(0)
}

async fn check(dir: &Path, hist: &HashMap<String, History>) -> usize {
    let s = LocalStore::open(dir, "s3v").expect("reopen after kill");
    assert_eq!(count_files(&dir.join("tmp")), 0, "tmp/ not empty after recovery");
    let mut referenced = 0usize;
    let mut checked = 0usize;
    for key in KEYS {
        let h = hist.get(key);
        let last_ack = h.and_then(|h| h.tries.iter().rposition(|(_, acked)| *acked));
        match s.get_object(&bucket(), key, GetOptions::default()).await {
            Ok(r) => {
                let info = r.info.clone();
                let data = collect_body(r.body, 64 << 20).await.unwrap();
                assert_eq!(data.len() as u64, info.size, "{key}: size");
                let sum = md5hex(&data);
                let h = h.unwrap_or_else(|| panic!("{key} visible but never written"));
                let allowed_from = last_ack.unwrap_or(0);
                assert!(
                    h.tries[allowed_from..].iter().any(|(m, _)| *m == sum),
                    "{key}: visible bytes (md5 {sum}) are not the last acknowledged write or a later attempt"
                );
                if info.parts.is_empty() {
                    assert_eq!(info.etag, sum, "{key}: etag");
                    // Small objects live inline in the database.
                    if info.size > store::local::INLINE_MAX as u64 {
                        referenced += 1;
                    }
                } else {
                    referenced += info.parts.len();
                }
                checked += 1;
            }
            Err(Error::NoSuchKey(_)) => {
                // Missing is right when nothing was acknowledged, or a delete was tried since
                // the last acknowledged write.
                let h = h.map(|h| &h.tries[..]).unwrap_or_default();
                assert!(
                    last_ack.is_none_or(|i| h[i..].iter().any(|(m, _)| m == "-")),
                    "{key}: acknowledged but missing after crash"
                );
            }
            Err(e) => panic!("{key}: {e}"),
        }
    }
    // Unfinished uploads keep their part files.
    let ups = s
        .list_uploads(
            &bucket(),
            UploadsRequest {
                max_uploads: 10_000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for u in &ups.uploads {
        let parts = s.list_parts(&bucket(), &u.key, &u.upload_id, 0, 10_000).await.unwrap();
        referenced += parts.parts.len();
        s.abort_multipart(&bucket(), &u.key, &u.upload_id).await.unwrap();
        referenced -= parts.parts.len();
    }
    let mut files = 0;
    for sub in std::fs::read_dir(dir.join("objects")).unwrap() {
        files += count_files(&sub.unwrap().path());
    }
    assert_eq!(files, referenced, "orphaned data files after recovery");
    checked
}

#[test]
fn crash_recovery() {
    // In the child this test re-executes (below), write until killed.
    if common::run_as_child(CHILD_ENV, |dir| async move { child(&dir).await }) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut rng = rand::rngs::StdRng::from_entropy();
    rt.block_on(async {
        let s = LocalStore::open(dir.path(), "s3v").unwrap();
        s.create_bucket(&bucket(), "crash").await.unwrap();
    });
    let mut hist: HashMap<String, History> = HashMap::new();
    let started = Instant::now();
    let mut kills = 0;
    let mut acks = 0;
    let mut visible = 0;
    while kills < 30 && started.elapsed() < Duration::from_secs(90) {
        let mut child = Command::new(&exe)
            .args(["crash_recovery", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(|l| l.ok())
                .collect::<Vec<String>>()
        });
        // Not synchronisation: the random kill moment is what this test varies (a crash
        // anywhere in the child's write loop).
        std::thread::sleep(Duration::from_millis(rng.gen_range(50..400)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        for line in reader.join().unwrap() {
            // libtest may print "test crash_recovery ... " in front of the first line.
            let parts: Vec<&str> = line.split_whitespace().collect();
            match &parts[parts.len().saturating_sub(3)..] {
                ["TRY", key, sum] => hist
                    .entry(key.to_string())
                    .or_default()
                    .tries
                    .push((sum.to_string(), false)),
                ["ACK", key, sum] => {
                    let h = hist.entry(key.to_string()).or_default();
                    let last = h.tries.last_mut().expect("ACK without TRY");
                    assert_eq!(last.0, *sum);
                    last.1 = true;
                    acks += 1;
                }
                _ => {}
            }
        }
        visible = rt.block_on(check(dir.path(), &hist));
    }
    eprintln!("crash test: {kills} kills, {acks} acknowledged writes, {visible} keys visible at the end");
    assert!(kills >= 20, "too few kill iterations in the time bound");
    assert!(acks > 0, "the child never acknowledged a write");
}
