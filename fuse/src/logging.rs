//! Logging of the `ozfs` binary: `tracing` with `tracing-subscriber`.
//!
//! * Filter: `OZFS_LOG`, else `RUST_LOG` (same syntax: `warn`, `ozfs_gateway=debug,info`, …),
//!   default `warn`.
//! * Format: text (default) or JSON lines (`--log-format json` / `OZFS_LOG_FORMAT=json`), on
//!   standard error. A line logged while the S3 endpoint serves a request carries that request's
//!   id (the `request{id=…}` span the gateway opens where a request enters), in both formats.
//! * The code base logs through the `log` macros; those records are bridged into `tracing`
//!   (tracing-subscriber's `tracing-log` feature), so they get the span, the filter and the
//!   format too.
//! * Access log (`ozfs serve --access-log FILE`): the gateway emits one INFO event per request
//!   under the target [`ACCESS_TARGET`]; with a file configured those events go to the file
//!   (appended, whatever the filter says) and not to standard error.

use std::path::Path;
use std::sync::Mutex;
use tracing_subscriber::filter::{filter_fn, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

pub use ozfs_gateway::ACCESS_TARGET;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format {other:?} (text or json)")),
        }
    }
}

impl LogFormat {
    /// `OZFS_LOG_FORMAT` (unset or unknown: text).
    pub fn from_env() -> LogFormat {
        std::env::var("OZFS_LOG_FORMAT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    }
}

/// The filter: `OZFS_LOG`, else `RUST_LOG`, else `warn`; then `extra` directives (e.g.
/// `ozfs_fuse=debug` for `--debug_fuse`). Directives are `LEVEL`, `TARGET=LEVEL` or `TARGET`
/// (all levels of that target), comma-separated; the most specific target prefix wins, and a
/// later directive for the same target replaces an earlier one. A directive that does not parse
/// is reported on standard error and ignored; `warn` applies when none is left. (These are
/// `EnvFilter`'s rules without its span and field-value filters, which need a regex engine.)
/// fuser's unmount-on-drop warns when it finds the mount already gone, which is how every clean
/// unmount ends: kept at error unless the user names fuser in the filter.
pub fn filter(extra: &[&str]) -> Targets {
    let spec = std::env::var("OZFS_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_default();
    filter_from(&spec, extra)
}

/// [`filter`] for the given specification.
fn filter_from(spec: &str, extra: &[&str]) -> Targets {
    let mut directives: Vec<&str> = Vec::new();
    for d in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match d.parse::<Targets>() {
            Ok(_) => directives.push(d),
            Err(e) => eprintln!("ozfs: ignoring log filter directive `{d}`: {e}"),
        }
    }
    if directives.is_empty() {
        directives.push("warn");
    }
    if !spec.contains("fuser") {
        directives.push("fuser::mnt=error");
    }
    directives.extend(extra.iter().copied().filter(|d| d.parse::<Targets>().is_ok()));
    // Every directive parsed on its own, so their list does too.
    directives
        .join(",")
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::WARN))
}

/// Install the global subscriber (once; later calls do nothing). `access_log`: the file that
/// receives the gateway's access events. Fails only when that file cannot be opened.
pub fn init(format: LogFormat, extra: &[&str], access_log: Option<&Path>) -> Result<(), String> {
    let access = match access_log {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("cannot open the access log {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let to_file = access.is_some();
    let not_access = filter_fn(move |m| !(to_file && m.target() == ACCESS_TARGET));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stderr_layer = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .with_filter(filter(extra))
            .with_filter(not_access)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_filter(filter(extra))
            .with_filter(not_access)
            .boxed(),
    };
    let access_layer = access.map(|file| {
        let only_access = Targets::new().with_target(ACCESS_TARGET, LevelFilter::INFO);
        match format {
            LogFormat::Text => tracing_subscriber::fmt::layer()
                .with_writer(Mutex::new(file))
                .with_ansi(false)
                .with_target(false)
                .with_level(false)
                .with_filter(only_access)
                .boxed(),
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_writer(Mutex::new(file))
                .with_filter(only_access)
                .boxed(),
        }
    });
    let _ = tracing_subscriber::registry()
        .with(stderr_layer)
        .with(access_layer)
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse() {
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("TEXT".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("yaml".parse::<LogFormat>().is_err());
    }

    #[test]
    fn filter_rules() {
        use tracing::Level;
        // Nothing given: warn everywhere, fuser's mount module at error.
        let f = filter_from("", &[]);
        assert!(f.would_enable("ozfs", &Level::WARN));
        assert!(!f.would_enable("ozfs", &Level::INFO));
        assert!(!f.would_enable("fuser::mnt", &Level::WARN));
        assert!(f.would_enable("fuser::mnt", &Level::ERROR));
        // A bare level is the default; the most specific target wins.
        let f = filter_from("info,ozfs_gateway=debug,ozfs_gateway::auth=error", &[]);
        assert!(f.would_enable("ozfs", &Level::INFO));
        assert!(!f.would_enable("ozfs", &Level::DEBUG));
        assert!(f.would_enable("ozfs_gateway::service", &Level::DEBUG));
        assert!(!f.would_enable("ozfs_gateway::auth", &Level::WARN));
        // Only targets named: nothing else is logged (no implicit warn default).
        let f = filter_from("ozfs_gateway=debug", &[]);
        assert!(f.would_enable("ozfs_gateway", &Level::DEBUG));
        assert!(!f.would_enable("ozfs_fuse", &Level::ERROR));
        // A bare target enables all its levels; naming fuser lifts the mount-module rule.
        let f = filter_from("fuser", &[]);
        assert!(f.would_enable("fuser::mnt", &Level::TRACE));
        // Unparsable directives are dropped; none left means warn.
        let f = filter_from("ozfs=loud,a=b=c", &[]);
        assert!(f.would_enable("ozfs", &Level::WARN));
        assert!(!f.would_enable("ozfs", &Level::INFO));
        // Extra directives (--debug_fuse, --debug_s3) replace the user's for the same target.
        let f = filter_from("ozfs_fuse=error", &["ozfs_fuse=debug", "fuser=debug"]);
        assert!(f.would_enable("ozfs_fuse::fs", &Level::DEBUG));
        assert!(f.would_enable("fuser::request", &Level::DEBUG));
    }
}
