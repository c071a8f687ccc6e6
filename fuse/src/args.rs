//! goofys's command line: `ozfs mount [flags] bucket[:prefix] mountpoint`, the mount-helper
//! form that mount(8) uses for fstab entries (`ozfs bucket mountpoint -o opts`), Go-style
//! durations and base-0 integers as goofys parses them, and AWS credentials from the usual
//! variables and files.
//!
//! fstab:
//! ```text
//! ozfs#bucket  /mnt/b  fuse  _netdev,allow_other,--file-mode=0666,--endpoint=http://127.0.0.1:9878  0 0
//! ```
//! mount.fuse runs `ozfs bucket /mnt/b -o _netdev,allow_other,--file-mode=0666,...`; options that
//! start with `-` become flags, the rest stay FUSE options ([`massage_helper_args`]).

use clap::Parser;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `ozfs mount`, with goofys's names and defaults.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ozfs mount",
    about = "Mount a bucket (goofys-compatible command line)",
    override_usage = "ozfs mount [flags] BUCKET[:PREFIX] MOUNTPOINT"
)]
pub struct MountArgs {
    /// Bucket to mount, optionally with a key prefix to mount instead of the whole bucket.
    #[arg(value_name = "BUCKET[:PREFIX]")]
    pub bucket: String,
    /// Existing directory to mount on.
    pub mountpoint: PathBuf,

    /// FUSE mount options, comma separated, repeatable (allow_other, ro, ...).
    #[arg(short = 'o', value_name = "OPTIONS", action = clap::ArgAction::Append)]
    pub options: Vec<String>,
    /// Stay in the foreground (default: go to the background once mounted).
    #[arg(short = 'f', long = "foreground")]
    pub foreground: bool,

    /// S3 endpoint to talk to (e.g. http://127.0.0.1:9878). Without it the embedded store
    /// in the data directory is mounted.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Region used for signing [default: AWS_REGION, AWS_DEFAULT_REGION, region of the
    /// profile in ~/.aws/config, else us-east-1].
    #[arg(long)]
    pub region: Option<String>,
    /// Profile of ~/.aws/credentials and ~/.aws/config to use (beats AWS_ACCESS_KEY_ID and
    /// AWS_PROFILE).
    #[arg(long)]
    pub profile: Option<String>,
    /// PEM file of the CA certificates to trust for an https:// endpoint, instead of the
    /// system's [default: $AWS_CA_BUNDLE, else ca_bundle of the profile in ~/.aws/config].
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
    /// Virtual-host style requests (bucket.host) instead of path style.
    #[arg(long)]
    pub subdomain: bool,
    /// Timeout of each HTTP request (Go duration).
    #[arg(long, default_value = "30s", value_parser = parse_go_duration)]
    pub http_timeout: Duration,
    /// Bound on each backend call made for a FUSE request, retries included (Go duration;
    /// writes get one more second per MiB); past it the request fails with EIO. 0 = none.
    #[arg(long, default_value = "60s", value_parser = parse_go_duration)]
    pub backend_deadline: Duration,

    /// Owner of files (default: the invoking user).
    #[arg(long, value_parser = parse_go_uint)]
    pub uid: Option<u32>,
    /// Group of files (default: the invoking user's group).
    #[arg(long, value_parser = parse_go_uint)]
    pub gid: Option<u32>,
    /// Permission bits of directories.
    #[arg(long, default_value = "0755", value_parser = parse_go_uint)]
    pub dir_mode: u32,
    /// Permission bits of files.
    #[arg(long, default_value = "0644", value_parser = parse_go_uint)]
    pub file_mode: u32,
    /// How long to cache file attributes (Go duration).
    #[arg(long, default_value = "1m", value_parser = parse_go_duration)]
    pub stat_cache_ttl: Duration,
    /// How long to cache name → type (Go duration).
    #[arg(long, default_value = "1m", value_parser = parse_go_duration)]
    pub type_cache_ttl: Duration,
    /// Fewer, serial requests (slower lookups).
    #[arg(long)]
    pub cheap: bool,
    /// Only `dir/` marker objects make directories.
    #[arg(long)]
    pub no_implicit_dir: bool,
    /// HEADs in flight when a listing carries no metadata (any S3 server but `ozfs serve`), so
    /// `ls -l` shows every entry's true mode, owner and type; 0: show the listing as it is
    /// (`--file-mode`/`--dir-mode`/`--uid`/`--gid` until a stat).
    #[arg(long, default_value_t = crate::fs::DEFAULT_READDIR_HEADS, value_name = "N")]
    pub readdir_heads: usize,
    /// Let the kernel read files opened read-only straight from the embedded store's data
    /// files (FUSE passthrough; needs root and Linux 6.9+, else reads are served as without it).
    /// While such a handle is open, opening the file for writing fails with EBUSY and new
    /// readers read the version it opened.
    #[arg(long)]
    pub passthrough: bool,
    /// Log FUSE operations.
    #[arg(long = "debug_fuse")]
    pub debug_fuse: bool,
    /// Log S3 operations.
    #[arg(long = "debug_s3")]
    pub debug_s3: bool,

    /// Data directory of the embedded store [default: $OZFS_DATA, else $XDG_DATA_HOME/ozfs,
    /// else ~/.local/share/ozfs].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Config file of `key = value` lines [default: $OZFS_CONFIG, else DATA/ozfs.conf].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The volume whose buckets are mounted by name [default: s3v].
    #[arg(long = "s3-volume", value_name = "VOLUME")]
    pub s3_volume: Option<String>,
    /// Page cache budget (e.g. 512M, 2G) [default: 512M].
    #[arg(long, value_name = "SIZE")]
    pub cache_size: Option<String>,
    /// Release cached pages not read for this long (Go duration, e.g. 5m, 90s); 0 keeps them
    /// until evicted.
    #[arg(long, default_value = "5m", value_parser = parse_go_duration)]
    pub cache_idle_release: Duration,
    /// Directory of the local staging area (default: the system temp dir).
    #[arg(long)]
    pub staging_dir: Option<PathBuf>,
    /// Byte budget of the staging area (suffixes K, M, G accepted).
    #[arg(long, value_parser = parse_size)]
    pub staging_size: Option<u64>,
    /// FUSE worker threads.
    #[arg(long, default_value_t = 8)]
    pub threads: usize,
}

impl MountArgs {
    /// Split `bucket[:prefix]`.
    pub fn bucket_and_prefix(&self) -> (String, String) {
        let spec = self.bucket.strip_prefix("s3://").unwrap_or(&self.bucket);
        match spec.split_once(':') {
            Some((b, p)) => (b.to_string(), p.to_string()),
            None => match spec.split_once('/') {
                // `s3://bucket/prefix` as goofys accepts it.
                Some((b, p)) if self.bucket.starts_with("s3://") => (b.to_string(), p.to_string()),
                _ => (spec.to_string(), String::new()),
            },
        }
    }
}

/// Parse the arguments after `mount` (or, in mount-helper form, after argv[0]).
pub fn parse(args: Vec<OsString>) -> Result<MountArgs, clap::Error> {
    let args = massage_helper_args(args);
    MountArgs::try_parse_from(std::iter::once(OsString::from("ozfs mount")).chain(args))
}

/// Rewrite the mount-helper call `bucket mountpoint -o opt,--flag=v,...` into
/// `--flag=v ... -o opt,... bucket mountpoint` (goofys's MassageMountFlags). Other argument
/// lists are returned unchanged.
pub fn massage_helper_args(args: Vec<OsString>) -> Vec<OsString> {
    let helper = args.len() == 4
        && args[2] == "-o"
        && !args[0].to_string_lossy().starts_with('-')
        && !args[1].to_string_lossy().starts_with('-');
    if !helper {
        return args;
    }
    let bucket = args[0].to_string_lossy();
    // fstab's `ozfs#bucket` / `goofys#bucket` source, when the helper did not strip it.
    let bucket = bucket.rsplit_once('#').map_or(bucket.as_ref(), |(_, b)| b).to_string();
    let mut flags: Vec<OsString> = Vec::new();
    let mut fuse: Vec<String> = Vec::new();
    for o in args[3].to_string_lossy().split(',').filter(|s| !s.is_empty()) {
        if o.starts_with('-') {
            flags.push(o.into());
        } else {
            fuse.push(o.to_string());
        }
    }
    if !fuse.is_empty() {
        flags.push("-o".into());
        flags.push(fuse.join(",").into());
    }
    flags.push(bucket.into());
    flags.push(args[1].clone());
    flags
}

/// Go's `time.ParseDuration`: `0`, or a sequence of decimal numbers with units
/// `ns`, `us`/`µs`, `ms`, `s`, `m`, `h` (`1h30m`, `1.5s`, `500ms`).
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("invalid duration {s:?}"));
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let secs = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("missing unit in duration {s:?}")),
            u => return Err(format!("unknown unit {u:?} in duration {s:?}")),
        };
        total += n * secs;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(format!("duration {s:?} out of range"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Go's `strconv.ParseUint(s, 0, 32)`: `0x1f`, `0o17`, `017` (octal), `0b101`, `1000`.
pub fn parse_go_uint(s: &str) -> Result<u32, String> {
    let t = s.trim().replace('_', "");
    let (digits, radix) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (h.to_string(), 16)
    } else if let Some(o) = t.strip_prefix("0o").or_else(|| t.strip_prefix("0O")) {
        (o.to_string(), 8)
    } else if let Some(b) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        (b.to_string(), 2)
    } else if t.len() > 1 && t.starts_with('0') {
        (t[1..].to_string(), 8)
    } else {
        (t.clone(), 10)
    };
    u32::from_str_radix(&digits, radix).map_err(|_| format!("invalid number {s:?}"))
}

/// A byte size: `1048576`, `512K`, `64M`, `2G`, `1T` (binary units; `KiB`/`MB` spellings too).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..split].parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mult: u64 = match t[split..].trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        u => return Err(format!("unknown size unit {u:?}")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("size {s:?} out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn goofys_defaults() {
        let a = parse(os(&["bucket", "/mnt/b"])).unwrap();
        assert_eq!(a.dir_mode, 0o755);
        assert_eq!(a.file_mode, 0o644);
        assert_eq!(a.stat_cache_ttl, Duration::from_secs(60));
        assert_eq!(a.type_cache_ttl, Duration::from_secs(60));
        assert_eq!(a.http_timeout, Duration::from_secs(30));
        assert_eq!(a.region, None);
        assert_eq!(a.backend_deadline, Duration::from_secs(60));
        assert!(!a.foreground && !a.cheap && !a.no_implicit_dir && !a.subdomain);
        assert_eq!(a.bucket_and_prefix(), ("bucket".to_string(), String::new()));
    }

    #[test]
    fn goofys_flags_both_spellings() {
        let a = parse(os(&[
            "--file-mode=0666",
            "--dir-mode",
            "0777",
            "--uid=1000",
            "--stat-cache-ttl",
            "1s",
            "--type-cache-ttl=0",
            "--cheap",
            "--no-implicit-dir",
            "--debug_fuse",
            "--debug_s3",
            "-o",
            "allow_other",
            "-o",
            "ro",
            "-f",
            "--endpoint",
            "http://127.0.0.1:9878",
            "b:some/prefix",
            "/mnt",
        ]))
        .unwrap();
        assert_eq!(a.file_mode, 0o666);
        assert_eq!(a.dir_mode, 0o777);
        assert_eq!(a.uid, Some(1000));
        assert_eq!(a.stat_cache_ttl, Duration::from_secs(1));
        assert_eq!(a.type_cache_ttl, Duration::ZERO);
        assert!(a.cheap && a.no_implicit_dir && a.debug_fuse && a.debug_s3 && a.foreground);
        assert_eq!(a.options, vec!["allow_other".to_string(), "ro".to_string()]);
        assert_eq!(a.bucket_and_prefix(), ("b".to_string(), "some/prefix".to_string()));
    }

    #[test]
    fn wrong_arity_is_an_error() {
        assert!(parse(os(&["bucket"])).is_err());
        assert!(parse(os(&["a", "b", "c"])).is_err());
    }

    #[test]
    fn mount_helper_form_is_massaged() {
        let a = parse(os(&[
            "ozfs#bucket",
            "/mnt/b",
            "-o",
            "rw,_netdev,allow_other,--file-mode=0666,--uid=7,--endpoint=http://127.0.0.1:1",
        ]))
        .unwrap();
        assert_eq!(a.bucket, "bucket");
        assert_eq!(a.mountpoint, PathBuf::from("/mnt/b"));
        assert_eq!(a.file_mode, 0o666);
        assert_eq!(a.uid, Some(7));
        assert_eq!(a.endpoint.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(a.options, vec!["rw,_netdev,allow_other".to_string()]);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_go_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_go_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("5x").is_err());
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn go_uints() {
        assert_eq!(parse_go_uint("0644").unwrap(), 0o644);
        assert_eq!(parse_go_uint("0x1F").unwrap(), 31);
        assert_eq!(parse_go_uint("0o17").unwrap(), 15);
        assert_eq!(parse_go_uint("1000").unwrap(), 1000);
        assert_eq!(parse_go_uint("0").unwrap(), 0);
        assert!(parse_go_uint("09").is_err());
    }

    proptest! {
        #[test]
        fn durations_in_ms_round_trip(ms in 0u64..10_000_000) {
            prop_assert_eq!(parse_go_duration(&format!("{ms}ms")).unwrap(), Duration::from_millis(ms));
        }

        #[test]
        fn octal_modes_round_trip(m in 0u32..0o7777) {
            prop_assert_eq!(parse_go_uint(&format!("0{m:o}")).unwrap(), m);
        }
    }
}
