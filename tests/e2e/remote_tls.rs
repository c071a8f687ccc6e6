//! https on both sides: `ozfs serve --tls-cert --tls-key` serving the aws CLI (trusting a test
//! CA through `AWS_CA_BUNDLE`), `ozfs mount --endpoint https://…` with `--ca-bundle` or
//! `AWS_CA_BUNDLE`, and `ozfs serve --backend https://… --ca-bundle`. The test CA and the
//! server certificate (for 127.0.0.1 and localhost) are made here with rcgen.
//!
//! Needs fuse3 (scripts/test-deps-fuse.sh) and the aws CLI (scripts/test-deps-s3.sh).

#[path = "serve_common.rs"]
mod serve_common;

use serve_common::{aws_command, is_mounted, output_within, ozfs};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const COMMAND_BOUND: Duration = Duration::from_secs(120);

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA and a server certificate signed by it for 127.0.0.1 and localhost.
    fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "ozfs test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        leaf.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ca(&self) -> String {
        self.path("ca.pem").to_string_lossy().into_owned()
    }
}

fn wait_for(child: Child, bound: Duration) -> Output {
    output_within(child, bound).unwrap_or_else(|| panic!("command did not finish within {bound:?}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A running `ozfs serve`; killed on drop.
struct Serve {
    child: Child,
    /// `http://ADDR` or `https://ADDR` from the readiness line.
    url: String,
    _data: tempfile::TempDir,
}

impl Serve {
    fn start(extra: &[&str], env: &[(&str, &str)]) -> Serve {
        let data = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(ozfs());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data.path())
            .args(extra)
            .env_remove("AWS_CA_BUNDLE")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("ozfs: serving S3 on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Serve {
            child,
            url,
            _data: data,
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The aws CLI against `url`, trusting `ca` when given.
fn aws(url: &str, ca: Option<&str>, args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = aws_command(home.path(), "tester", "secret");
    cmd.args(args)
        .args(["--endpoint-url", url])
        .env("AWS_MAX_ATTEMPTS", "1");
    if let Some(ca) = ca {
        cmd.env("AWS_CA_BUNDLE", ca);
    }
    wait_for(
        cmd.spawn()
            .expect("the aws CLI is missing: run scripts/test-deps-s3.sh"),
        COMMAND_BOUND,
    )
}

/// `ozfs mount` (backgrounds once mounted); the output, and the mount point.
fn mount(url: &str, extra: &[&str], env: &[(&str, &str)], dir: &Path) -> Output {
    let mut cmd = Command::new(ozfs());
    cmd.args(["mount", "--endpoint", url])
        .args(extra)
        .arg("tlsbucket")
        .arg(dir)
        .env("AWS_ACCESS_KEY_ID", "tester")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    wait_for(cmd.spawn().unwrap(), COMMAND_BOUND)
}

fn umount(dir: &Path) {
    let st = Command::new("umount").arg(dir).status().unwrap();
    assert!(st.success(), "umount {}", dir.display());
}

#[test]
fn https_endpoint_serves_the_aws_cli_and_https_mounts() {
    let pki = Pki::new();
    let (cert, key) = (pki.path("cert.pem"), pki.path("key.pem"));
    let server = Serve::start(
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
        &[],
    );
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let url = server.url.clone();
    let ca = pki.ca();

    // the aws CLI: untrusted without the CA, fine with it
    let o = aws(&url, None, &["s3", "ls"]);
    assert!(
        !o.status.success() && text(&o).to_lowercase().contains("certificate"),
        "{}",
        text(&o)
    );
    let o = aws(&url, Some(&ca), &["s3api", "create-bucket", "--bucket", "tlsbucket"]);
    assert!(o.status.success(), "{}", text(&o));
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("a.txt");
    std::fs::write(&src, "over https\n").unwrap();
    let o = aws(
        &url,
        Some(&ca),
        &["s3", "cp", src.to_str().unwrap(), "s3://tlsbucket/a.txt"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = aws(&url, Some(&ca), &["s3", "ls", "s3://tlsbucket"]);
    assert!(o.status.success() && text(&o).contains("a.txt"), "{}", text(&o));

    // ozfs mount over https with --ca-bundle: read and write
    let mnt = tempfile::tempdir().unwrap();
    let o = mount(&url, &["--ca-bundle", &ca], &[], mnt.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(is_mounted(mnt.path()));
    assert_eq!(
        std::fs::read_to_string(mnt.path().join("a.txt")).unwrap(),
        "over https\n"
    );
    std::fs::write(mnt.path().join("b.txt"), "written through the mount\n").unwrap();
    umount(mnt.path());
    let got = work.path().join("b.txt");
    let o = aws(
        &url,
        Some(&ca),
        &["s3", "cp", "s3://tlsbucket/b.txt", got.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "written through the mount\n");

    // the same with AWS_CA_BUNDLE instead of the flag
    let o = mount(&url, &[], &[("AWS_CA_BUNDLE", &ca)], mnt.path());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(mnt.path().join("b.txt")).unwrap(),
        "written through the mount\n"
    );
    umount(mnt.path());

    // without the CA the certificate is refused, clearly, and nothing is mounted
    let o = mount(&url, &[], &[], mnt.path());
    assert!(!o.status.success(), "mounted with an untrusted certificate");
    assert!(text(&o).to_lowercase().contains("certificate"), "{}", text(&o));
    assert!(!is_mounted(mnt.path()));

    // ozfs serve --backend https://… --ca-bundle: a plain-http front for the https endpoint
    let front = Serve::start(
        &["--backend", &url, "--ca-bundle", &ca],
        &[("AWS_ACCESS_KEY_ID", "tester"), ("AWS_SECRET_ACCESS_KEY", "secret")],
    );
    assert!(front.url.starts_with("http://"), "{}", front.url);
    let o = aws(&front.url, None, &["s3", "ls", "s3://tlsbucket"]);
    assert!(o.status.success() && text(&o).contains("b.txt"), "{}", text(&o));
    let o = aws(&front.url, None, &["s3", "cp", "s3://tlsbucket/a.txt", "-"]);
    assert!(o.status.success() && text(&o).contains("over https"), "{}", text(&o));
}

#[test]
fn serve_refuses_unusable_tls_files_with_one_line() {
    let pki = Pki::new();
    let o = wait_for(
        Command::new(ozfs())
            .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
            .arg(pki.path("cert.pem"))
            .arg("--tls-key")
            .arg(pki.path("missing-key.pem"))
            .arg("--data")
            .arg(pki.dir.path().join("data"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        COMMAND_BOUND,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("missing-key.pem") && err.lines().count() == 1, "{err}");
    // --tls-cert without --tls-key is a usage error
    let o = wait_for(
        Command::new(ozfs())
            .args(["serve", "--tls-cert"])
            .arg(pki.path("cert.pem"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        COMMAND_BOUND,
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--tls-key"));
}
