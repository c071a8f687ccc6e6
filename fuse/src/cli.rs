//! The `ozfs` command line: `serve`, `mount`, `sh`, `s3` (see docs/CLI.md).
//!
//! Design: clap (derive) parses; each command lives in its own module and returns a
//! [`CliResult`]; [`main`] turns every failure into one line on stderr (`ozfs: <message>`) and
//! a non-zero exit status — usage errors too (exit 2), and even a panic (exit 101, no
//! backtrace). `mount` and the mount-helper form (`ozfs BUCKET MOUNTPOINT -o OPTS`, what
//! mount(8) runs for an fstab line) are handed to the FUSE package before any runtime starts,
//! because a mount daemonizes itself. `sh` and `s3` reach the store through [`connect`]:
//! directly, or through the admin API of the `ozfs serve` that holds the data directory.

mod admin;
mod connect;
mod json;
mod ozone_acl;
mod progress;
mod remote;
mod s3;
mod serve;
mod sh;
mod store;

use clap::{Args, Parser, Subcommand};
use ozfs::config::{Flags, Settings};
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// A command failure: the one line printed after `ozfs: `.
#[derive(Debug)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ozfs::Error> for CliError {
    fn from(e: ozfs::Error) -> Self {
        CliError(ozfs_gateway::admin::AdminError::from(e).message)
    }
}

impl From<ozfs_gateway::admin::AdminError> for CliError {
    fn from(e: ozfs_gateway::admin::AdminError) -> Self {
        CliError(e.message)
    }
}

pub type CliResult<T> = Result<T, CliError>;

#[derive(Parser, Debug)]
#[command(
    name = "ozfs",
    version,
    about = "An Apache Ozone style object store with two front doors: a FUSE filesystem and an S3 endpoint",
    after_help = "Run `ozfs <command> --help` for the flags of a command. Reference: docs/CLI.md"
)]
struct Cli {
    /// Log line format on standard error: text or json (filter: OZFS_LOG, else RUST_LOG)
    #[arg(long, global = true, value_name = "FORMAT", env = "OZFS_LOG_FORMAT")]
    log_format: Option<ozfs_fuse::logging::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

/// Where the store is: shared by every command that touches it.
#[derive(Args, Debug, Clone, Default)]
struct StoreArgs {
    /// Data directory [default: $OZFS_DATA, else $XDG_DATA_HOME/ozfs, else ~/.local/share/ozfs]
    #[arg(long, value_name = "DIR", global = true)]
    data: Option<PathBuf>,
    /// Config file of `key = value` lines [default: $OZFS_CONFIG, else DATA/ozfs.conf]
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// The volume whose buckets the S3 endpoint shows [default: s3v]
    #[arg(long = "s3-volume", value_name = "VOLUME", global = true)]
    s3_volume: Option<String>,
}

impl StoreArgs {
    fn flags(&self) -> Flags {
        Flags {
            config: self.config.clone(),
            data: self.data.clone(),
            s3_volume: self.s3_volume.clone(),
            ..Flags::default()
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the store over S3 (Ozone S3 gateway compatible), optionally with FUSE mounts.
    Serve(serve::ServeArgs),
    /// Mount a bucket, goofys style: ozfs mount [flags] BUCKET[:PREFIX] MOUNTPOINT (see `ozfs mount --help`).
    #[command(disable_help_flag = true)]
    Mount {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "ARGS")]
        args: Vec<OsString>,
    },
    /// Volume, bucket and key commands, like `ozone sh`.
    Sh {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: sh::ShCommand,
    },
    /// S3 secret commands, like `ozone s3`.
    S3 {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: s3::S3Command,
    },
    /// Print a shell completion script: `ozfs completions bash > /etc/bash_completion.d/ozfs`.
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

/// Run the command line; returns the process exit status.
/// Raise the soft limit on open descriptors to the hard limit, as servers do: a server holds its
/// store's 256 fan-out directories, the FUSE session's descriptors and up to 1,024 client
/// connections, which a 1,024 soft limit would cut short. Failure leaves the limit as it was.
#[allow(unsafe_code, reason = "getrlimit/setrlimit(2) through libc: std has no API for them")]
fn raise_open_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own; setrlimit only reads it.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max.min(1 << 20);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

pub fn main() -> i32 {
    install_panic_hook();
    raise_open_file_limit();
    let args: Vec<OsString> = std::env::args_os().collect();
    // A mount daemonizes: hand it over before any runtime or thread exists.
    if args.get(1).is_some_and(|a| a == "mount") {
        return ozfs_fuse::run_mount_command(args[2..].to_vec());
    }
    if is_mount_helper(&args) {
        return ozfs_fuse::run_mount_command(args[1..].to_vec());
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => return ozfs_fuse::usage::usage_error(e),
    };
    if let Command::Completions { shell } = cli.command {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut cmd, "ozfs", &mut std::io::stdout());
        return 0;
    }
    let access_log = match &cli.command {
        Command::Serve(a) => a.access_log.clone(),
        _ => None,
    };
    if let Err(e) = ozfs_fuse::logging::init(cli.log_format.unwrap_or_default(), &[], access_log.as_deref()) {
        eprintln!("ozfs: {e}");
        return 1;
    }
    if matches!(cli.command, Command::Serve(..)) {
        // `serve --mount` runs FUSE threads in this process: keep its memory within the cache
        // budget the same way `ozfs mount` does (before any thread exists).
        ozfs_fuse::command::limit_malloc_arenas();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ozfs: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ozfs: {}", e.0.replace('\n', " "));
            1
        }
    }
}

async fn run(command: Command) -> CliResult<()> {
    let login = ozfs::config::current_user(&ozfs::config::process_env);
    match command {
        Command::Serve(args) => serve::run(args).await,
        Command::Mount { args } => Err(CliError(format!(
            "internal error: mount arguments {args:?} reached the async runtime"
        ))),
        Command::Sh { store, command } => {
            default_sigpipe();
            let settings = Settings::from_process(&store.flags())?;
            let admin = connect::open_admin(&settings).await?;
            sh::run(admin.as_ref(), &login, command).await
        }
        Command::S3 { store, command } => {
            default_sigpipe();
            let settings = Settings::from_process(&store.flags())?;
            let admin = connect::open_admin(&settings).await?;
            s3::run(admin.as_ref(), &login, command).await
        }
        Command::Completions { .. } => Ok(()),
    }
}

/// The mount-helper form: `ozfs BUCKET MOUNTPOINT -o OPTIONS` (what mount(8) runs, through
/// mount.fuse, for an fstab line `ozfs#BUCKET MOUNTPOINT fuse OPTIONS`), or `ozfs BUCKET
/// MOUNTPOINT` when the source says `ozfs#…` or the mount point is a directory. The first
/// argument is not a command name.
fn is_mount_helper(args: &[OsString]) -> bool {
    const COMMANDS: &[&str] = &["serve", "mount", "sh", "s3", "completions", "help"];
    let Some(first) = args.get(1).map(|a| a.to_string_lossy()) else {
        return false;
    };
    if first.starts_with('-') || COMMANDS.contains(&first.as_ref()) {
        return false;
    }
    match args.len() {
        5 => args[3] == "-o" && !args[2].to_string_lossy().starts_with('-'),
        3 => first.contains('#') || std::path::Path::new(&args[2]).is_dir(),
        _ => false,
    }
}

/// Help and version go to stdout as clap prints them; any other parse error (a missing
/// subcommand too) becomes one line: clap's message, then the usage of the command at fault.
/// `ozfs sh key list | head` should end quietly when the reader goes away, as other Unix
/// tools do, not report a broken pipe. Only for the short-lived commands: sockets are written
/// with MSG_NOSIGNAL by the standard library, so the HTTP client is unaffected.
#[allow(unsafe_code, reason = "signal(2) through libc: std has no signal API")]
fn default_sigpipe() {
    // SAFETY: restoring the default disposition of SIGPIPE has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// A panic prints one line, not a backtrace.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("ozfs: internal error{place}: {}", msg.replace('\n', " "));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn mount_helper_shape() {
        assert!(is_mount_helper(&os(&["ozfs", "ozfs#bkt", "/mnt", "-o", "rw,_netdev"])));
        assert!(is_mount_helper(&os(&["ozfs", "bkt", "/mnt", "-o", "rw"])));
        assert!(is_mount_helper(&os(&["ozfs", "ozfs#bkt", "/mnt"])));
        assert!(is_mount_helper(&os(&["ozfs", "bkt", "/"])));
        assert!(!is_mount_helper(&os(&["ozfs", "bkt", "/nonexistent-dir-x"])));
        assert!(!is_mount_helper(&os(&["ozfs", "sh", "volume", "-o", "x"])));
        assert!(!is_mount_helper(&os(&["ozfs", "--help"])));
        assert!(!is_mount_helper(&os(&["ozfs", "serve"])));
        assert!(!is_mount_helper(&os(&["ozfs", "sreve", "--listen", "x", "y"])));
    }
}
