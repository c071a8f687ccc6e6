//! End-to-end S3 tests with real clients: each test starts a `Gateway` in-process on a free
//! loopback port (over `MemStore`, or `LocalStore` in a temp dir), then runs one of the Python
//! scenario scripts in `tests/e2e/` (boto3, the aws CLI, s3cmd) against it and fails with the
//! script's output when any case fails. The clients are installed up front by
//! `scripts/test-deps-s3.sh` (run by `scripts/test.sh`); a test fails with a clear reason when
//! they are missing.

mod common;

use ozfs::{BucketPath, ObjectStore, SecretStore};
use ozfs_gateway::GatewayConfig;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The S3 clients are installed (checked once per test binary).
fn deps() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let r = DONE.get_or_init(|| {
        // Installed up front by scripts/test.sh; `--check` installs nothing.
        let out = Command::new("sh")
            .arg(repo_root().join("scripts/test-deps-s3.sh"))
            .arg("--check")
            .output()
            .map_err(|e| format!("cannot run scripts/test-deps-s3.sh --check: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    if let Err(e) = r {
        panic!("the S3 clients (awscli, boto3, s3cmd) are required: {e}");
    }
}

/// A gateway running on its own runtime thread; stopped on drop.
/// A running gateway over the store the scripts' results are checked in.
struct Server {
    gw: common::Server,
    store: Arc<dyn ObjectStore>,
    _dir: Option<tempfile::TempDir>,
}

#[derive(Default)]
struct Opts {
    secure: bool,
    domains: Vec<String>,
    users: Vec<(&'static str, &'static str)>,
    local: bool,
}

fn start(opts: Opts) -> Server {
    let dir = opts.local.then(|| tempfile::tempdir().expect("tempdir"));
    let (store, secrets): (Arc<dyn ObjectStore>, Arc<dyn SecretStore>) = match &dir {
        None => {
            let m = Arc::new(ozfs::MemStore::new("s3v"));
            (m.clone(), m)
        }
        Some(d) => {
            let l = Arc::new(ozfs::LocalStore::open(d.path(), "s3v").expect("open LocalStore"));
            (l.clone(), l)
        }
    };
    let mut cfg = GatewayConfig::new("127.0.0.1:0".parse().expect("addr"));
    cfg.secure = opts.secure;
    cfg.domains = opts.domains;
    let gw = common::start_gateway_over(cfg, store.clone(), secrets, &opts.users, None);
    Server { gw, store, _dir: dir }
}

/// Scripts share the machine's two cores: run them one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

fn run_script(server: &Server, script: &str, env: &[(&str, String)]) {
    deps();
    let started = Instant::now();
    let dir = repo_root().join("tests/e2e");
    let home = tempfile::tempdir().expect("home");
    let mut cmd = Command::new("python3");
    cmd.arg(dir.join(script))
        .current_dir(&dir)
        .env("OZFS_S3_ENDPOINT", format!("http://{}", server.gw.addr))
        .env("PYTHONPATH", &dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // Keep the clients away from the user's own AWS/s3cmd configuration.
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("aws-credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{script} ({:.1?}):\n{stdout}", started.elapsed());
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}");
}

#[test]
fn boto3_every_operation() {
    let _g = serial();
    let s = start(Opts::default());
    run_script(&s, "s3_boto3_ops.py", &[]);
}

#[test]
fn bucket_configuration_attributes_and_conditional_writes() {
    let _g = serial();
    let s = start(Opts::default());
    run_script(&s, "s3_bucket_config.py", &[]);
}

#[test]
fn flexible_checksums() {
    let _g = serial();
    let s = start(Opts::default());
    run_script(&s, "s3_checksums.py", &[]);
}

#[test]
fn aws_cli_s3_and_s3api() {
    let _g = serial();
    let s = start(Opts::default());
    run_script(&s, "s3_awscli.py", &[]);
}

#[test]
fn aws_cli_on_local_store() {
    let _g = serial();
    let s = start(Opts {
        local: true,
        ..Default::default()
    });
    run_script(&s, "s3_awscli.py", &[("OZFS_S3_QUICK", "1".into())]);
}

#[test]
fn s3cmd_path_style() {
    let _g = serial();
    let s = start(Opts::default());
    run_script(&s, "s3_s3cmd.py", &[]);
}

#[test]
fn security_on() {
    let _g = serial();
    let s = start(Opts {
        secure: true,
        users: vec![("alice", "alice-secret-0123"), ("bob", "bob-secret-456789")],
        ..Default::default()
    });
    run_script(
        &s,
        "s3_secure.py",
        &[
            ("OZFS_S3_SECURE", "1".into()),
            ("OZFS_S3_USERS", "alice:alice-secret-0123,bob:bob-secret-456789".into()),
        ],
    );
}

#[test]
fn virtual_host_and_path_style() {
    let _g = serial();
    let s = start(Opts {
        domains: vec!["s3.ozfs.test".into()],
        ..Default::default()
    });
    run_script(&s, "s3_vhost.py", &[("OZFS_S3_DOMAIN", "s3.ozfs.test".into())]);
}

#[test]
fn bucket_links() {
    let _g = serial();
    let s = start(Opts::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let st = &s.store;
        st.create_volume("vol1", "alice").await.expect("volume");
        let src = BucketPath::new("vol1", "source-bucket");
        st.create_bucket(&src, "alice").await.expect("bucket");
        st.put_object(
            &src,
            "from-source.txt",
            ozfs::body_from_bytes("linked data"),
            Default::default(),
        )
        .await
        .expect("put");
        st.create_link(&BucketPath::new("s3v", "link"), &src, "alice")
            .await
            .expect("link");
        st.create_link(
            &BucketPath::new("s3v", "dangling"),
            &BucketPath::new("vol1", "missing"),
            "alice",
        )
        .await
        .expect("dangling link");
    });
    run_script(&s, "s3_links.py", &[]);
}
