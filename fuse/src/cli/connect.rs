//! How a CLI command reaches the store: directly, or through the `ozfs serve` that holds the
//! data directory.
//!
//! A running server records itself in `DATA/server.info` (`address=`, `token=`, `pid=` lines;
//! mode 0600, written atomically, removed on clean exit). A command first looks for that file:
//! if the process named there is alive and answers `GET /_ozfs/admin/ping` with that token, the
//! command goes through the admin API ([`RemoteAdmin`]). Otherwise it opens the embedded store
//! itself ([`LocalAdmin`]). If the store is held by a process that has no admin API (an
//! `ozfs mount` on the embedded store), the user gets one sentence saying so, never a database
//! lock error.

use super::admin::Admin;
use super::remote::RemoteAdmin;
use super::{CliError, CliResult};
use ozfs::config::Settings;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Name of the server file inside the data directory.
pub const SERVER_FILE: &str = "server.info";

/// What a running server publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// Where the admin API (the S3 port) answers.
    pub addr: SocketAddr,
    pub token: String,
    pub pid: u32,
}

impl ServerInfo {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(SERVER_FILE)
    }

    fn to_text(&self) -> String {
        format!("address={}\ntoken={}\npid={}\n", self.addr, self.token, self.pid)
    }

    fn parse(text: &str) -> Option<ServerInfo> {
        let mut addr = None;
        let mut token = None;
        let mut pid = None;
        for line in text.lines() {
            match line.split_once('=') {
                Some(("address", v)) => addr = v.trim().parse().ok(),
                Some(("token", v)) => token = Some(v.trim().to_string()),
                Some(("pid", v)) => pid = v.trim().parse().ok(),
                _ => {}
            }
        }
        Some(ServerInfo {
            addr: addr?,
            token: token.filter(|t| !t.is_empty())?,
            pid: pid?,
        })
    }

    /// Write the file readable by its owner only, atomically (temporary file + rename).
    pub fn write(&self, data_dir: &Path) -> std::io::Result<()> {
        let path = Self::path(data_dir);
        let tmp = data_dir.join(format!(".{SERVER_FILE}.{}.tmp", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(self.to_text().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    }

    /// Read the file; a missing or unreadable one is `None`.
    pub fn read(data_dir: &Path) -> Option<ServerInfo> {
        std::fs::read_to_string(Self::path(data_dir))
            .ok()
            .and_then(|t| Self::parse(&t))
    }

    /// Remove the file if it still describes this server (a newer server may have replaced it).
    pub fn remove_if_ours(&self, data_dir: &Path) {
        if Self::read(data_dir).as_ref() == Some(self) {
            let _ = std::fs::remove_file(Self::path(data_dir));
        }
    }

    /// The address a client should dial: a wildcard listen address becomes loopback.
    pub fn dial_addr(&self) -> SocketAddr {
        let ip = match self.addr.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.addr.port())
    }
}

/// Is a process with this pid alive (possibly owned by another user)?
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    #[allow(
        unsafe_code,
        reason = "kill(pid, 0) through libc: std cannot probe a process it did not spawn"
    )]
    // SAFETY: kill with signal 0 only checks for the process; it has no other effect.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// A running server for this data directory that answers with its token, if any.
async fn running_server(data_dir: &Path) -> CliResult<Option<RemoteAdmin>> {
    let Some(info) = ServerInfo::read(data_dir) else {
        return Ok(None);
    };
    if !pid_alive(info.pid) {
        return Ok(None);
    }
    let remote = RemoteAdmin::new(info.dial_addr(), info.token.clone());
    match remote.ping().await {
        Ok(()) => Ok(Some(remote)),
        Err(e) if e.status == 403 => Err(CliError(format!(
            "the ozfs server at {} (pid {}) rejected the admin token in {}",
            info.dial_addr(),
            info.pid,
            ServerInfo::path(data_dir).display()
        ))),
        Err(e) if e.status == 504 => Err(CliError(format!(
            "{} (pid {}); it holds the data directory",
            e.message, info.pid
        ))),
        // Nobody listens there (a crashed server whose pid was reused): use the store directly.
        Err(_) => Ok(None),
    }
}

/// How long a command waits for another short-lived process (a concurrent `ozfs sh`, a server
/// that is starting) to release the data directory before it gives up.
pub const HELD_WAIT: Duration = Duration::from_secs(10);

/// The [`Admin`] for this data directory: the running server's admin API, else the store opened
/// here. While another process holds the store and no server answers, retry for [`HELD_WAIT`].
pub async fn open_admin(settings: &Settings) -> CliResult<Box<dyn Admin>> {
    let deadline = Instant::now() + HELD_WAIT;
    loop {
        if let Some(remote) = running_server(&settings.data_dir).await? {
            return Ok(Box::new(remote));
        }
        match super::store::open_local(settings).await {
            Ok(admin) => return Ok(Box::new(admin)),
            Err(e) if super::store::is_held_elsewhere(&e) => {
                if Instant::now() >= deadline {
                    return Err(CliError(format!(
                        "the data directory {} is in use by another ozfs process that offers no admin API \
                         (an `ozfs mount` on the embedded store?); stop it, or run `ozfs serve` and retry",
                        settings.data_dir.display()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_file_roundtrip_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let info = ServerInfo {
            addr: "0.0.0.0:9878".parse().unwrap(),
            token: "abc".into(),
            pid: std::process::id(),
        };
        info.write(dir.path()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ServerInfo::path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = ServerInfo::read(dir.path()).unwrap();
        assert_eq!(back, info);
        assert_eq!(back.dial_addr(), "127.0.0.1:9878".parse().unwrap());
        let other = ServerInfo {
            token: "other".into(),
            ..info.clone()
        };
        other.remove_if_ours(dir.path());
        assert!(ServerInfo::read(dir.path()).is_some());
        info.remove_if_ours(dir.path());
        assert!(ServerInfo::read(dir.path()).is_none());
    }

    #[test]
    fn malformed_server_file_is_ignored() {
        assert!(ServerInfo::parse("address=nonsense\ntoken=x\npid=1\n").is_none());
        assert!(ServerInfo::parse("address=127.0.0.1:1\ntoken=\npid=1\n").is_none());
    }

    #[test]
    fn liveness() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
    }
}
