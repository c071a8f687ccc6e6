//! `ozfs serve`: the S3 endpoint on the embedded store (or on a remote S3 with `--backend`),
//! behind one shared page cache, with the admin API the other commands use.
//!
//! Start-up order: resolve the settings; open the store (a held data directory is a one-line
//! error naming the holder); wrap it in the page cache; bind the endpoint; write
//! `DATA/server.info` (address, pid, a fresh random admin token; mode 0600); print the readiness
//! line `ozfs: serving S3 on http://ADDR` (`https://` with `--tls-cert`). Shutdown (Ctrl-C or SIGTERM): stop accepting, let
//! requests in flight finish (bounded), remove the server file if it is still ours.

use super::connect::{pid_alive, ServerInfo, HELD_WAIT};
use super::{CliError, CliResult, StoreArgs};
use clap::Args;
use ozfs::config::{Flags, Settings};
use ozfs::{BucketPath, LocalStore, ObjectStore, RemoteStore, SecretStore};
use ozfs_fuse::{mount_store, MountHandle, MountOptions};
use ozfs_gateway::{Gateway, GatewayConfig};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address of the S3 endpoint, HOST:PORT (port 0 picks a free port) [default: 127.0.0.1:9878]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Security on: only secrets from `ozfs s3 getsecret` are accepted
    #[arg(long)]
    pub secure: bool,
    /// Domain for virtual-host style addressing (BUCKET.DOMAIN); repeatable
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// Page-cache budget, e.g. 512M, 1G, or plain bytes [default: 512M]
    #[arg(long, value_name = "SIZE")]
    pub cache_size: Option<String>,
    /// Release cached pages not read for this long, giving the memory back to the OS: a number
    /// with unit s, m, h or d, or plain seconds; 0 keeps pages until evicted [default: 5m]
    #[arg(long, value_name = "SECS", value_parser = parse_interval)]
    pub cache_idle_release: Option<Duration>,
    /// Serve a remote S3 endpoint (http://HOST:PORT or https://HOST:PORT) instead of the
    /// embedded store; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and
    /// AWS_SESSION_TOKEN), else the profile (--profile, AWS_PROFILE) in ~/.aws/credentials or
    /// ~/.aws/config
    #[arg(long, value_name = "URL")]
    pub backend: Option<String>,
    /// AWS profile for --backend (beats AWS_ACCESS_KEY_ID and AWS_PROFILE)
    #[arg(long, value_name = "NAME", requires = "backend")]
    pub profile: Option<String>,
    /// PEM file of the CA certificates to trust for an https --backend, instead of the system's
    /// [default: $AWS_CA_BUNDLE]
    #[arg(long, value_name = "FILE", requires = "backend")]
    pub ca_bundle: Option<PathBuf>,
    /// Serve https with this PEM certificate chain (needs --tls-key)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Also mount BUCKET of the S3 volume (only the keys under PREFIX, if given) at MOUNTPOINT,
    /// in this process; repeatable
    #[arg(long = "mount", value_name = "BUCKET[:PREFIX]:MOUNTPOINT", value_parser = parse_mount_spec)]
    pub mounts: Vec<MountSpec>,
    /// With --mount: let the kernel read files opened read-only straight from the store's data
    /// files (FUSE passthrough; see `ozfs mount --passthrough`)
    #[arg(long, requires = "mounts")]
    pub passthrough: bool,
    /// Append one line per S3 request (client, user, request, status, bytes, time, request id)
    /// to FILE
    #[arg(long, value_name = "FILE", env = "OZFS_ACCESS_LOG")]
    pub access_log: Option<PathBuf>,
    /// How often the lifecycle sweep applies the buckets' expiration rules on the embedded
    /// store: a number with unit s, m, h or d (e.g. 30s, 1h); 0 turns the sweep off
    /// [default: 1h]
    #[arg(long, value_name = "INTERVAL", value_parser = parse_interval)]
    pub lifecycle_interval: Option<Duration>,
}

/// Default period of the lifecycle sweep.
pub const LIFECYCLE_INTERVAL: Duration = Duration::from_secs(3600);
/// Entries (keys, uploads) one lifecycle sweep examines at most; the next one resumes there.
pub const LIFECYCLE_BUDGET: u64 = 10_000;

/// `30s`, `5m`, `1h`, `2d`, or plain seconds.
fn parse_interval(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not an interval such as 30s, 5m, 1h or 1d"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: the unit must be s, m, h or d")),
    };
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

/// The lifecycle sweep of the embedded store: one pass at start, then one every `interval`.
/// Each pass is bounded ([`LIFECYCLE_BUDGET`]) and logged; counted in the metrics.
fn spawn_lifecycle(store: Arc<dyn ObjectStore>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut sweeper = ozfs::lifecycle::sweep::Sweeper::new(LIFECYCLE_BUDGET);
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match sweeper.sweep(store.as_ref(), std::time::SystemTime::now()).await {
                Ok(r) => {
                    ozfs::metrics::lifecycle_sweep(r.expired, r.aborted);
                    if r.expired + r.aborted + r.errors > 0 {
                        log::info!(
                            "lifecycle sweep: {} bucket(s) with rules, {} entries examined, {} object(s) expired, {} upload(s) aborted, {} error(s){}",
                            r.buckets,
                            r.examined,
                            r.expired,
                            r.aborted,
                            r.errors,
                            if r.complete { "" } else { "; budget used up, the next sweep resumes" }
                        );
                    } else {
                        log::debug!("lifecycle sweep: nothing to do ({} bucket(s) with rules)", r.buckets);
                    }
                }
                Err(e) => log::warn!("lifecycle sweep failed: {e}"),
            }
        }
    })
}

/// One `--mount BUCKET[:PREFIX]:MOUNTPOINT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub bucket: String,
    pub prefix: String,
    pub mountpoint: PathBuf,
}

/// `BUCKET:MOUNTPOINT` or `BUCKET:PREFIX:MOUNTPOINT`: the bucket ends at the first `:`, the
/// mount point starts after the last one, the prefix is what lies between.
fn parse_mount_spec(s: &str) -> Result<MountSpec, String> {
    let bad = || format!("{s:?} is not BUCKET[:PREFIX]:MOUNTPOINT");
    let (bucket, rest) = s.split_once(':').ok_or_else(bad)?;
    let (prefix, mountpoint) = rest.rsplit_once(':').unwrap_or(("", rest));
    if bucket.is_empty() || mountpoint.is_empty() {
        return Err(bad());
    }
    Ok(MountSpec {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        mountpoint: PathBuf::from(mountpoint),
    })
}

impl ServeArgs {
    fn flags(&self) -> Flags {
        Flags {
            listen: self.listen.clone(),
            secure: self.secure,
            domains: self.domains.clone(),
            cache_size: self.cache_size.clone(),
            backend: self.backend.clone(),
            ..self.store.flags()
        }
    }
}

/// Resolve `HOST:PORT` (a literal address, or a name such as `localhost:9878`).
async fn resolve_listen(listen: &str) -> CliResult<SocketAddr> {
    if let Ok(a) = listen.parse() {
        return Ok(a);
    }
    let bad = || {
        CliError(format!(
            "invalid listen address {listen:?} (expected HOST:PORT, e.g. 127.0.0.1:9878)"
        ))
    };
    if !listen.contains(':') {
        return Err(bad());
    }
    let mut addrs = tokio::net::lookup_host(listen).await.map_err(|_| bad())?;
    addrs.next().ok_or_else(bad)
}

/// Open the embedded store, turning "held by another process" into a sentence naming it. A
/// short-lived holder (an `ozfs sh` in local mode) is waited for, up to [`HELD_WAIT`]; a
/// running server is reported at once.
fn open_local_store(settings: &Settings) -> CliResult<LocalStore> {
    let deadline = Instant::now() + HELD_WAIT;
    loop {
        match LocalStore::open(&settings.data_dir, &settings.s3_volume) {
            Ok(s) => return Ok(s),
            Err(e) if super::store::is_held_elsewhere(&e) => {
                let served = ServerInfo::read(&settings.data_dir).is_some_and(|i| pid_alive(i.pid));
                if served || Instant::now() >= deadline {
                    return Err(held_error(&settings.data_dir));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => {
                return Err(CliError(format!(
                    "cannot open the store in {}: {}",
                    settings.data_dir.display(),
                    CliError::from(e)
                )))
            }
        }
    }
}

fn held_error(data_dir: &Path) -> CliError {
    match ServerInfo::read(data_dir).filter(|i| pid_alive(i.pid)) {
        Some(i) => CliError(format!(
            "the data directory {} is already served by ozfs (pid {}) on http://{}",
            data_dir.display(),
            i.pid,
            i.dial_addr()
        )),
        None => CliError(format!(
            "the data directory {} is in use by another ozfs process",
            data_dir.display()
        )),
    }
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is called (at start-up), so a
/// signal that arrives while the store opens or the mounts are made still ends in a clean
/// shutdown instead of killing the process with its mounts in place.
fn shutdown_signal() -> CliResult<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let install = |kind: SignalKind| {
        signal(kind).map_err(|e| CliError(format!("cannot install a signal handler: {}", super::sh::io_msg(&e))))
    };
    let mut int = install(SignalKind::interrupt())?;
    let mut term = install(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

fn new_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// A status line on standard output. Unlike `println!` it never panics: whoever started us may
/// have stopped reading after the readiness line (a closed pipe must not kill the server).
macro_rules! say {
    ($($t:tt)*) => {{
        let mut out = std::io::stdout();
        let _ = writeln!(out, $($t)*);
        let _ = out.flush();
    }};
}

pub async fn run(args: ServeArgs) -> CliResult<()> {
    let shutdown = shutdown_signal()?;
    let settings = Settings::from_process(&args.flags())?;
    let listen = resolve_listen(&settings.listen).await?;

    // The store: embedded, or a remote S3 (then the embedded store keeps only the S3 secrets).
    let dir = settings.clone();
    let local = tokio::task::spawn_blocking(move || open_local_store(&dir))
        .await
        .map_err(|e| CliError(format!("opening the store failed: {e}")))??;
    let local = Arc::new(local);
    let secrets: Arc<dyn SecretStore> = local.clone();
    let inner: Arc<dyn ObjectStore> = match &settings.backend {
        None => local,
        Some(url) => {
            let opts = ozfs_fuse::backend::RemoteOptions {
                profile: args.profile.clone(),
                ca_bundle: args.ca_bundle.clone(),
                ..Default::default()
            };
            let cfg = ozfs_fuse::backend::remote_config(url, &settings.s3_volume, &opts)
                .map_err(|e| CliError(format!("--backend {url}: {}", CliError::from(e))))?;
            Arc::new(RemoteStore::new(cfg)?)
        }
    };
    let (store, cache) = ozfs_fuse::backend::with_cache(
        inner,
        &settings,
        args.cache_idle_release.unwrap_or(ozfs::cache::DEFAULT_IDLE_RELEASE),
    );
    ozfs::metrics::register_cache(&cache);

    let token = new_token();
    let cfg = GatewayConfig {
        listen,
        secure: settings.secure,
        domains: settings.domains.clone(),
        s3_volume: settings.s3_volume.clone(),
        admin_token: Some(token.clone()),
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(ozfs_gateway::tls::server_config(cert, key).map_err(CliError)?),
        _ => None,
    };
    let mut gateway = Gateway::bind(cfg, store.clone(), secrets)
        .await
        .map_err(|e| listen_error(listen, &e))?;
    if let Some(tls) = tls {
        gateway = gateway.with_tls(tls);
    }
    let scheme = gateway.scheme();
    let addr = gateway.local_addr();

    // Lifecycle rules are enforced here only on the embedded store: a remote backend applies
    // its own (the configuration was forwarded to it).
    let interval = args.lifecycle_interval.unwrap_or(LIFECYCLE_INTERVAL);
    if settings.backend.is_some() && args.lifecycle_interval.is_some_and(|i| !i.is_zero()) {
        log::warn!("--lifecycle-interval has no effect with --backend: the backend applies its own lifecycle rules");
    }
    let lifecycle =
        (settings.backend.is_none() && !interval.is_zero()).then(|| spawn_lifecycle(store.clone(), interval));

    // The mounts share the store (and its page cache) with the endpoint.
    let mut mounts = Vec::new();
    // On the embedded store the mounts stage files inside the data directory, so a committed
    // staged file is linked in as the object's data file instead of being copied.
    let staging = settings.backend.is_none().then(|| settings.data_dir.join("staging"));
    for m in &args.mounts {
        match mount_one(store.clone(), &settings.s3_volume, m, staging.clone(), args.passthrough).await {
            Ok(h) => mounts.push(h),
            Err(e) => {
                unmount_all(mounts).await;
                return Err(e);
            }
        }
    }

    let info = ServerInfo {
        addr,
        token,
        pid: std::process::id(),
    };
    if let Err(e) = info.write(&settings.data_dir) {
        unmount_all(mounts).await;
        return Err(CliError(format!(
            "cannot write {}: {}",
            ServerInfo::path(&settings.data_dir).display(),
            super::sh::io_msg(&e)
        )));
    }

    say!("ozfs: serving S3 on {scheme}://{addr}");
    for m in &mounts {
        say!("ozfs: mounted at {}", m.mountpoint().display());
    }
    say!("ozfs: data in {}", settings.data_dir.display());
    say!(
        "ozfs: metrics on {scheme}://{addr}/prom; stop with Ctrl-C (or kill {})",
        std::process::id()
    );

    let shutdown = async move {
        shutdown.await;
        say!("ozfs: stopping (finishing requests in flight, unmounting)");
    };
    let result = gateway.run(shutdown).await;
    if let Some(task) = lifecycle {
        task.abort();
    }
    let unmounted: Vec<String> = mounts.iter().map(|m| m.mountpoint().display().to_string()).collect();
    unmount_all(mounts).await;
    info.remove_if_ours(&settings.data_dir);
    if result.is_ok() {
        match unmounted.is_empty() {
            true => say!("ozfs: stopped"),
            false => say!("ozfs: stopped; unmounted {}", unmounted.join(", ")),
        }
    }
    result.map_err(|e| CliError(format!("S3 endpoint failed: {}", super::sh::io_msg(&e))))
}

/// Binding the endpoint failed: say which flag picks another address.
fn listen_error(listen: SocketAddr, e: &std::io::Error) -> CliError {
    let msg = super::sh::io_msg(e);
    match e.kind() {
        std::io::ErrorKind::AddrInUse => CliError(format!(
            "cannot listen on {listen}: port {} is already in use (another ozfs serve?); choose another with --listen HOST:PORT, e.g. --listen 127.0.0.1:{}",
            listen.port(),
            listen.port().wrapping_add(1).max(1024)
        )),
        std::io::ErrorKind::PermissionDenied => CliError(format!(
            "cannot listen on {listen}: {msg}; ports below 1024 need privileges, choose another with --listen HOST:PORT"
        )),
        _ => CliError(format!("cannot listen on {listen}: {msg} (change the address with --listen HOST:PORT)")),
    }
}

/// Mount one `--mount` (blocking until the kernel answered, so off the async workers).
async fn mount_one(
    store: Arc<dyn ObjectStore>,
    volume: &str,
    m: &MountSpec,
    staging_dir: Option<PathBuf>,
    passthrough: bool,
) -> CliResult<MountHandle> {
    let bucket = BucketPath::new(volume, m.bucket.clone());
    let (prefix, mountpoint) = (m.prefix.clone(), m.mountpoint.clone());
    let opts = MountOptions {
        staging_dir,
        passthrough,
        ..MountOptions::default()
    };
    tokio::task::spawn_blocking(move || mount_store(store, bucket, prefix, &mountpoint, opts))
        .await
        .map_err(|e| CliError(format!("mounting failed: {e}")))?
        .map_err(|e| {
            CliError(format!(
                "cannot mount {}: {}",
                m.mountpoint.display(),
                ozfs::error::chain(&e)
            ))
        })
}

/// Unmount (each blocks while the kernel finishes), reporting failures as warnings.
async fn unmount_all(mounts: Vec<MountHandle>) {
    for h in mounts {
        let path = h.mountpoint().to_path_buf();
        match tokio::task::spawn_blocking(move || h.unmount_with_retries(10)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("ozfs: warning: {}", ozfs::error::chain(&e)),
            Err(e) => eprintln!("ozfs: warning: unmounting {} failed: {e}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_intervals() {
        assert_eq!(parse_interval("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_interval("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_interval("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_interval("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_interval("0").unwrap(), Duration::ZERO);
        assert!(parse_interval("1w").is_err());
        assert!(parse_interval("s").is_err());
        assert!(parse_interval("99999999999999999999d").is_err());
    }

    #[tokio::test]
    async fn listen_addresses() {
        assert_eq!(
            resolve_listen("127.0.0.1:9878").await.unwrap(),
            "127.0.0.1:9878".parse().unwrap()
        );
        assert_eq!(resolve_listen("[::1]:0").await.unwrap(), "[::1]:0".parse().unwrap());
        assert!(resolve_listen("localhost:9878").await.unwrap().ip().is_loopback());
        assert!(resolve_listen("nonsense").await.is_err());
        assert!(resolve_listen("127.0.0.1:99999").await.is_err());
    }

    #[test]
    fn mount_specs() {
        let m = parse_mount_spec("bucket1:/mnt/b").unwrap();
        assert_eq!((m.bucket.as_str(), m.prefix.as_str()), ("bucket1", ""));
        assert_eq!(m.mountpoint, PathBuf::from("/mnt/b"));
        let m = parse_mount_spec("bucket1:dir/sub/:/mnt/b").unwrap();
        assert_eq!(m.prefix, "dir/sub/");
        assert_eq!(m.mountpoint, PathBuf::from("/mnt/b"));
        for bad in ["bucket1", ":/mnt", "bucket1:", "b:p:"] {
            assert!(parse_mount_spec(bad).is_err(), "{bad}");
        }
    }
}
