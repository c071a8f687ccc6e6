//! Command-line errors in one line. clap renders a usage error over several lines (message,
//! usage, a hint); every `ozfs` command, the mount included, prints it as one line on stderr,
//! `ozfs: <message> (usage: …; see --help)`, and exits non-zero.

/// Print a clap error the ozfs way: help and version as clap renders them (exit 0), every
/// other error as one line on stderr (exit 2).
pub fn usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return 0;
    }
    eprintln!("ozfs: {}", one_line_usage_error(&e.render().to_string(), e.kind()));
    2
}

/// Fold clap's multi-line error into one line.
fn one_line_usage_error(rendered: &str, kind: clap::error::ErrorKind) -> String {
    let mut lines = rendered.lines().map(str::trim);
    let usage = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(str::to_string);
    let mut msg = if kind == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        "a command is missing".to_string()
    } else {
        let mut parts = Vec::new();
        for l in lines.by_ref() {
            if l.starts_with("Usage:") || (l.is_empty() && !parts.is_empty()) {
                break;
            }
            if !l.is_empty() {
                parts.push(l.strip_prefix("error: ").unwrap_or(l).to_string());
            }
        }
        let joined = parts.join(" ");
        if joined.is_empty() {
            "invalid command line".to_string()
        } else {
            joined
        }
    };
    if let Some(u) = usage {
        msg.push_str(&format!(" (usage: {u}; see --help)"));
    } else {
        msg.push_str(" (see --help)");
    }
    msg
}
