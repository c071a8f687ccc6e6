//! Shared fixture of the end-to-end tests that drive the real `ozfs serve` binary with
//! external clients: a server on a free port with a fresh data directory (killed on drop), and
//! `ozfs sh` helpers that reach it through its admin API; plus the helpers of `support.rs`
//! (waiting with a deadline, bounded child output, mount check), re-exported.

#![allow(dead_code, reason = "shared by several test binaries, each using only part of it")]

#[path = "support.rs"]
mod support;
#[allow(unused_imports, reason = "not every binary that includes this file uses them")]
pub use support::{aws_command, is_mounted, output_within, wait_until};

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub fn ozfs() -> &'static str {
    env!("CARGO_BIN_EXE_ozfs")
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `ozfs serve` on a free port with a fresh data dir; killed on drop.
pub struct Server {
    child: Child,
    pub addr: String,
    pub data: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(ozfs())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ozfs serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .filter(|_| line.contains("serving S3 on"))
            .unwrap_or_else(|| panic!("unexpected first line from ozfs serve: {line:?}"))
            .to_string();
        Server { child, addr, data }
    }

    pub fn sh(&self, args: &[&str]) -> String {
        let out = Command::new(ozfs())
            .args(args)
            .arg("--data")
            .arg(self.data.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ozfs {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The object's bytes, read through the running server.
    pub fn get(&self, key: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out");
        self.sh(&[
            "sh",
            "key",
            "get",
            &format!("/s3v/bucket1/{key}"),
            file.to_str().unwrap(),
        ]);
        std::fs::read(file).unwrap()
    }

    pub fn keys(&self) -> String {
        self.sh(&["sh", "key", "list", "/s3v/bucket1"])
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
