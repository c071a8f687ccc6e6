//! The one AWS credentials loader of ozfs, used by `ozfs mount --endpoint` and
//! `ozfs serve --backend` alike: it resolves keys, session token and region the way the aws CLI
//! (botocore) and goofys (aws-sdk-go) do, minus the instance-metadata, SSO and process
//! providers.
//!
//! Precedence (first match wins):
//! 1. An explicit profile (`--profile NAME`): only that profile is read; the environment's
//!    keys are ignored (botocore drops its environment provider when a profile is given on
//!    the command line; aws-sdk-go does the same for `Options.Profile`).
//! 2. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`, or the legacy
//!    `AWS_SECURITY_TOKEN`).
//! 3. The profile `AWS_PROFILE` (else `AWS_DEFAULT_PROFILE`, else `default`): its section
//!    `[NAME]` in `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`), else its section
//!    in `AWS_CONFIG_FILE` (default `~/.aws/config`; `[profile NAME]`, or `[default]` for the
//!    default profile). Keys `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`
//!    (`aws_security_token` accepted).
//!
//! Region: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `region` of the profile in the config
//! file (then the credentials file). A command-line `--region` is applied by the caller.
//!
//! CA bundle (the PEM file trusted for https instead of the system roots): `AWS_CA_BUNDLE`, else
//! `ca_bundle` of the profile in the config file. A command-line `--ca-bundle` is applied by the
//! caller.

use std::path::PathBuf;

/// Resolved AWS credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    /// Temporary credentials' session token, sent as `x-amz-security-token`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never print a secret
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"…")
            .field("session_token", &self.session_token.as_ref().map(|_| "…"))
            .finish()
    }
}

/// What the loader found: credentials (if any), the region (if any), and where the
/// credentials came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwsProfile {
    pub credentials: Option<Credentials>,
    pub region: Option<String>,
    /// `AWS_CA_BUNDLE`, else `ca_bundle` of the profile.
    pub ca_bundle: Option<PathBuf>,
    /// `environment`, or `profile NAME in FILE`.
    pub source: String,
}

/// Load from the process environment (see the module docs). `profile` is the command line's
/// `--profile`.
pub fn load(profile: Option<&str>) -> AwsProfile {
    let env = |k: &str| std::env::var(k).ok();
    load_with(profile, &env)
}

/// [`load`] with an injected environment (tests).
pub fn load_with(explicit_profile: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> AwsProfile {
    let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let home = var("HOME").unwrap_or_default();
    let creds_file = var("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(&home).join(".aws").join("credentials"));
    let config_file = var("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(&home).join(".aws").join("config"));
    let explicit = explicit_profile.filter(|p| !p.is_empty());
    let profile = explicit
        .map(str::to_string)
        .or_else(|| var("AWS_PROFILE"))
        .or_else(|| var("AWS_DEFAULT_PROFILE"))
        .unwrap_or_else(|| "default".to_string());
    let config_section = if profile == "default" {
        profile.clone()
    } else {
        format!("profile {profile}")
    };
    let creds_text = std::fs::read_to_string(&creds_file).unwrap_or_default();
    let config_text = std::fs::read_to_string(&config_file).unwrap_or_default();
    let in_creds = section(&creds_text, &[profile.as_str()]);
    // The config file names non-default profiles `[profile NAME]`; botocore also reads a bare
    // `[NAME]` there, so accept both.
    let in_config = section(&config_text, &[config_section.as_str(), profile.as_str()]);

    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .or_else(|| in_config.get("region"))
        .or_else(|| in_creds.get("region"));
    let ca_bundle = var("AWS_CA_BUNDLE")
        .or_else(|| in_config.get("ca_bundle"))
        .map(PathBuf::from);

    if explicit.is_none() {
        if let (Some(a), Some(s)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            return AwsProfile {
                credentials: Some(Credentials {
                    access_key: a,
                    secret_key: s,
                    session_token: var("AWS_SESSION_TOKEN").or_else(|| var("AWS_SECURITY_TOKEN")),
                }),
                region,
                ca_bundle,
                source: "environment".into(),
            };
        }
    }
    for (sec, file) in [(&in_creds, &creds_file), (&in_config, &config_file)] {
        if let Some(c) = sec.credentials() {
            return AwsProfile {
                credentials: Some(c),
                region,
                ca_bundle,
                source: format!("profile {profile} in {}", file.display()),
            };
        }
    }
    AwsProfile {
        credentials: None,
        region,
        ca_bundle,
        source: format!(
            "no keys in the environment, nor for profile {profile} in {} or {}",
            creds_file.display(),
            config_file.display()
        ),
    }
}

/// The `key = value` pairs of one section of an AWS ini file.
#[derive(Debug, Default)]
struct Section(Vec<(String, String)>);

impl Section {
    fn get(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    }

    fn credentials(&self) -> Option<Credentials> {
        Some(Credentials {
            access_key: self.get("aws_access_key_id")?,
            secret_key: self.get("aws_secret_access_key")?,
            session_token: self.get("aws_session_token").or_else(|| self.get("aws_security_token")),
        })
    }
}

/// The first section of `text` whose name is one of `names` (names compared after trimming
/// the brackets' inner whitespace and collapsing `profile   x` to `profile x`).
fn section(text: &str, names: &[&str]) -> Section {
    let norm = |n: &str| n.split_whitespace().collect::<Vec<_>>().join(" ");
    let wanted: Vec<String> = names.iter().map(|n| norm(n)).collect();
    for want in &wanted {
        let mut cur: Option<String> = None;
        let mut out = Vec::new();
        let mut found = false;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                cur = Some(norm(name));
                continue;
            }
            if cur.as_deref() != Some(want.as_str()) {
                continue;
            }
            found = true;
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        if found {
            return Section(out);
        }
    }
    Section::default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Env {
        _dir: tempfile::TempDir,
        vars: HashMap<String, String>,
    }

    impl Env {
        fn new(credentials: &str, config: &str) -> Env {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join(".aws")).unwrap();
            std::fs::write(dir.path().join(".aws/credentials"), credentials).unwrap();
            std::fs::write(dir.path().join(".aws/config"), config).unwrap();
            let mut vars = HashMap::new();
            vars.insert("HOME".to_string(), dir.path().to_string_lossy().into_owned());
            Env { _dir: dir, vars }
        }
        fn set(mut self, k: &str, v: &str) -> Env {
            self.vars.insert(k.into(), v.into());
            self
        }
        fn load(&self, profile: Option<&str>) -> AwsProfile {
            let get = |k: &str| self.vars.get(k).cloned();
            load_with(profile, &get)
        }
    }

    fn keys(p: &AwsProfile) -> (String, String, Option<String>) {
        let c = p.credentials.clone().expect("credentials");
        (c.access_key, c.secret_key, c.session_token)
    }

    const CREDS: &str = "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n\n\
                         # comment\n[ci]\naws_access_key_id=A2\naws_secret_access_key=S2\naws_session_token=T2\n";
    const CONFIG: &str = "[default]\nregion = eu-west-1\n[profile ci]\nregion=ap-south-1\n\
                          [profile cfgonly]\naws_access_key_id=A3\naws_secret_access_key=S3\n\
                          aws_security_token=T3\nregion = us-west-2\n";

    #[test]
    fn default_profile_from_files() {
        let e = Env::new(CREDS, CONFIG);
        let p = e.load(None);
        assert_eq!(keys(&p), ("A1".into(), "S1".into(), None));
        assert_eq!(p.region.as_deref(), Some("eu-west-1"));
        assert!(p.source.contains("profile default"), "{}", p.source);
    }

    #[test]
    fn environment_keys_beat_files_and_aws_profile() {
        let e = Env::new(CREDS, CONFIG)
            .set("AWS_ACCESS_KEY_ID", "E")
            .set("AWS_SECRET_ACCESS_KEY", "F")
            .set("AWS_SESSION_TOKEN", "G")
            .set("AWS_PROFILE", "ci");
        let p = e.load(None);
        assert_eq!(keys(&p), ("E".into(), "F".into(), Some("G".into())));
        assert_eq!(p.source, "environment");
        // the region still comes from AWS_PROFILE's config section
        assert_eq!(p.region.as_deref(), Some("ap-south-1"));
    }

    #[test]
    fn explicit_profile_beats_environment_keys() {
        let e = Env::new(CREDS, CONFIG)
            .set("AWS_ACCESS_KEY_ID", "E")
            .set("AWS_SECRET_ACCESS_KEY", "F");
        let p = e.load(Some("ci"));
        assert_eq!(keys(&p), ("A2".into(), "S2".into(), Some("T2".into())));
    }

    #[test]
    fn aws_profile_selects_and_config_file_is_the_fallback() {
        let e = Env::new(CREDS, CONFIG).set("AWS_PROFILE", "cfgonly");
        let p = e.load(None);
        assert_eq!(keys(&p), ("A3".into(), "S3".into(), Some("T3".into())));
        assert_eq!(p.region.as_deref(), Some("us-west-2"));
        assert!(p.source.contains("config"), "{}", p.source);
    }

    #[test]
    fn credentials_file_beats_config_file_for_the_same_profile() {
        let e = Env::new(
            "[x]\naws_access_key_id=C\naws_secret_access_key=D\n",
            "[profile x]\naws_access_key_id=Y\naws_secret_access_key=Z\n",
        );
        assert_eq!(keys(&e.load(Some("x"))).0, "C");
    }

    #[test]
    fn half_configured_and_missing_profiles_give_nothing() {
        let e = Env::new("[half]\naws_access_key_id=x\n", "").set("AWS_ACCESS_KEY_ID", "only-id");
        assert!(e.load(Some("half")).credentials.is_none());
        assert!(e.load(Some("missing")).credentials.is_none());
        // an id without a secret in the environment falls through to the files (none here)
        assert!(e.load(None).credentials.is_none());
    }

    #[test]
    fn region_environment_beats_files_and_files_named_by_variables() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("c");
        std::fs::write(&c, "[default]\naws_access_key_id=V\naws_secret_access_key=W\n").unwrap();
        let e = Env::new(CREDS, CONFIG)
            .set("AWS_SHARED_CREDENTIALS_FILE", &c.to_string_lossy())
            .set("AWS_DEFAULT_REGION", "r1");
        let p = e.load(None);
        assert_eq!(keys(&p).0, "V");
        assert_eq!(p.region.as_deref(), Some("r1"));
        let p = Env::new(CREDS, CONFIG)
            .set("AWS_DEFAULT_REGION", "r1")
            .set("AWS_REGION", "r2")
            .load(None);
        assert_eq!(p.region.as_deref(), Some("r2"));
    }

    #[test]
    fn ca_bundle_from_environment_then_profile() {
        let config = "[default]\nca_bundle = /etc/profile-ca.pem\n";
        let p = Env::new(CREDS, config).load(None);
        assert_eq!(p.ca_bundle, Some(PathBuf::from("/etc/profile-ca.pem")));
        let p = Env::new(CREDS, config)
            .set("AWS_CA_BUNDLE", "/tmp/env-ca.pem")
            .load(None);
        assert_eq!(p.ca_bundle, Some(PathBuf::from("/tmp/env-ca.pem")));
        assert_eq!(Env::new(CREDS, CONFIG).load(None).ca_bundle, None);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials {
            access_key: "AK".into(),
            secret_key: "very-secret".into(),
            session_token: Some("tok-secret".into()),
        };
        let s = format!("{c:?}");
        assert!(
            s.contains("AK") && !s.contains("very-secret") && !s.contains("tok-secret"),
            "{s}"
        );
    }
}
