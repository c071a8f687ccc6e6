//! Helpers shared by the end-to-end test binaries (each declares `mod support;`, or reaches them
//! through `serve_common`, which re-exports them): waiting for a condition with a deadline
//! instead of sleeping, collecting a child process's output within a time bound, whether a path
//! is a mount point, and the aws CLI isolated from the machine's AWS configuration.

#![allow(
    dead_code,
    reason = "each test binary that includes this file uses a different subset"
)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "../common/wait.rs"]
mod wait;
#[allow(unused_imports, reason = "not every binary that includes this file waits")]
pub use wait::wait_until;

/// The output of `child` (its stdout and stderr read while it runs), or `None` when it did not
/// exit within `bound` (it is then killed and reaped).
pub fn output_within(mut child: Child, bound: Duration) -> Option<Output> {
    use std::io::Read;
    fn reader(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut b);
            }
            b
        })
    }
    let (out, err) = (reader(child.stdout.take()), reader(child.stderr.take()));
    let deadline = Instant::now() + bound;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for a child process") {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Some(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// Is `p` a mount point right now?
pub fn is_mounted(p: &Path) -> bool {
    let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let Some(p) = p.to_str() else { return false };
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(p))
}

/// The aws CLI with these credentials in region us-east-1, isolated from the machine's AWS
/// configuration (`HOME` is `home`; no profile, config or credentials file, CA bundle or
/// instance metadata), stdin closed and stdout/stderr piped. Installed up front by
/// scripts/test-deps-s3.sh.
pub fn aws_command(home: &Path, access: &str, secret: &str) -> Command {
    let mut cmd = Command::new("aws");
    cmd.env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", access)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env_remove("AWS_CA_BUNDLE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}
