//! Settings shared by every command: the data directory (`--data`, else `$OZFS_DATA`, else a
//! per-user default), the S3 volume name and the cache budget.
//!
//! Design: every setting has three sources, tried in order — a command-line flag, an
//! environment variable, a line in the config file — and then a built-in default. The config
//! file is `$OZFS_CONFIG` (or a `--config` flag) when given, else `DATA/ozfs.conf` if it exists;
//! it holds `key = value` lines, `#` comments and blank lines; keys are the long flag names
//! (`cache-size` and `cache_size` are the same key). An unknown key is an error, so a typo never
//! silently does nothing. The environment is passed in as a lookup function, so the rules are
//! unit-tested without touching the process environment.

use crate::error::{Error, Result};
use crate::namespace::DEFAULT_S3_VOLUME;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Default address of the S3 endpoint (Ozone's S3 gateway port).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9878";
/// Default page-cache budget: 512 MiB.
pub const DEFAULT_CACHE_SIZE: u64 = 512 * 1024 * 1024;
/// Name of the config file inside the data directory.
pub const CONFIG_FILE_NAME: &str = "ozfs.conf";

/// Environment variables read by [`Settings::resolve`].
pub mod env {
    pub const DATA: &str = "OZFS_DATA";
    pub const CONFIG: &str = "OZFS_CONFIG";
    pub const S3_VOLUME: &str = "OZFS_S3_VOLUME";
    pub const CACHE_SIZE: &str = "OZFS_CACHE_SIZE";
    pub const LISTEN: &str = "OZFS_LISTEN";
    pub const BACKEND: &str = "OZFS_BACKEND";
    pub const SECURE: &str = "OZFS_SECURE";
    /// Comma-separated list of virtual-host domains.
    pub const DOMAIN: &str = "OZFS_DOMAIN";
}

/// Keys a config file may hold.
const FILE_KEYS: &[&str] = &[
    "data",
    "s3_volume",
    "cache_size",
    "listen",
    "backend",
    "secure",
    "domain",
];

/// A lookup of an environment variable (the process environment in production, a map in tests).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The process environment as an [`EnvLookup`]. Empty values count as unset.
pub fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// Parse a size: plain bytes (`1048576`), or a number with a binary unit suffix `K`, `M`, `G`,
/// `T` (optionally followed by `i`/`iB`/`B`, any case): `512M`, `1G`, `1.5G`, `64KiB`.
pub fn parse_size(s: &str) -> Result<u64> {
    let bad = || Error::InvalidArgument(format!("invalid size {s:?} (examples: 1048576, 512M, 1G)"));
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() || num.matches('.').count() > 1 || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    let unit = unit.trim().to_ascii_lowercase();
    let shift: u32 = match unit.as_str() {
        "" | "b" => 0,
        "k" | "ki" | "kib" | "kb" => 10,
        "m" | "mi" | "mib" | "mb" => 20,
        "g" | "gi" | "gib" | "gb" => 30,
        "t" | "ti" | "tib" | "tb" => 40,
        _ => return Err(bad()),
    };
    let mult = 1u64 << shift;
    match num.split_once('.') {
        None => num
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(mult))
            .ok_or_else(bad),
        Some((int, frac)) => {
            if shift == 0 {
                return Err(bad());
            }
            let int: u64 = int.parse().map_err(|_| bad())?;
            // Fraction in units of 1/10^len, exact integer arithmetic; truncated to a byte.
            let digits = frac.len().min(12) as u32;
            let frac: u64 = frac[..digits as usize].parse().map_err(|_| bad())?;
            let scale = 10u64.pow(digits);
            let whole = int.checked_mul(mult).ok_or_else(bad)?;
            let part = (frac as u128 * mult as u128 / scale as u128) as u64;
            whole.checked_add(part).ok_or_else(bad)
        }
    }
}

/// Parse a boolean setting: `true/false`, `yes/no`, `on/off`, `1/0`.
pub fn parse_bool(s: &str) -> Result<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(Error::InvalidArgument(format!(
            "invalid boolean {s:?} (use true or false)"
        ))),
    }
}

/// The per-user default data directory: `$XDG_DATA_HOME/ozfs`, else `$HOME/.local/share/ozfs`
/// (the home directory from the password database when `$HOME` is unset).
pub fn default_data_dir(env: EnvLookup<'_>) -> Result<PathBuf> {
    if let Some(x) = env("XDG_DATA_HOME") {
        let p = PathBuf::from(x);
        // The XDG spec says relative values are invalid and must be ignored.
        if p.is_absolute() {
            return Ok(p.join("ozfs"));
        }
    }
    let home = env("HOME").map(PathBuf::from).or_else(passwd_home).ok_or_else(|| {
        Error::InvalidArgument("cannot find a home directory: set --data, $OZFS_DATA or $HOME".into())
    })?;
    Ok(home.join(".local").join("share").join("ozfs"))
}

/// The login name of the current user: `$USER`, else the password database entry of the uid,
/// else the numeric uid.
#[allow(unsafe_code, reason = "getuid(2) through libc: std has no uid query")]
pub fn current_user(env: EnvLookup<'_>) -> String {
    if let Some(u) = env("USER").and_then(|u| u.into_string().ok()) {
        return u;
    }
    passwd_field(|pw| pw.pw_name).unwrap_or_else(|| {
        // SAFETY: getuid has no preconditions and cannot fail.
        unsafe { libc::getuid() }.to_string()
    })
}

fn passwd_home() -> Option<PathBuf> {
    passwd_field(|pw| pw.pw_dir).map(PathBuf::from)
}

/// Read one string field of the current user's password entry (reentrant lookup).
#[allow(
    unsafe_code,
    reason = "getpwuid_r(3) through libc: std has no password-database lookup"
)]
fn passwd_field(field: impl Fn(&libc::passwd) -> *mut libc::c_char) -> Option<String> {
    let mut buf = vec![0; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value for the C struct (null pointers, zero ids).
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live, correctly sized storage for the duration of the call.
    let rc = unsafe { libc::getpwuid_r(libc::getuid(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    let p = field(&pw);
    if p.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r filled `p` with a NUL-terminated string inside `buf`, which is alive.
    let s = unsafe { std::ffi::CStr::from_ptr(p) };
    s.to_str().ok().filter(|s| !s.is_empty()).map(str::to_string)
}

/// A parsed config file: `key = value` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: Option<PathBuf>,
    pub entries: BTreeMap<String, String>,
}

impl ConfigFile {
    /// Parse the text of a config file. Keys are normalised (`-` → `_`, lower case); values are
    /// trimmed and may be quoted with `"`. A repeated key keeps the last value, except `domain`,
    /// whose values accumulate (comma-joined).
    pub fn parse(text: &str, path: Option<&Path>) -> Result<ConfigFile> {
        let place = |n: usize| match path {
            Some(p) => format!("{}:{}", p.display(), n),
            None => format!("line {n}"),
        };
        let mut entries = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line.split_once('=').ok_or_else(|| {
                Error::InvalidArgument(format!("{}: expected `key = value`, found {line:?}", place(i + 1)))
            })?;
            let key = k.trim().to_ascii_lowercase().replace('-', "_");
            if !FILE_KEYS.contains(&key.as_str()) {
                return Err(Error::InvalidArgument(format!(
                    "{}: unknown setting {:?} (known: {})",
                    place(i + 1),
                    k.trim(),
                    FILE_KEYS.join(", ")
                )));
            }
            let mut value = v.trim();
            if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
                value = &value[1..value.len() - 1];
            }
            if key == "domain" {
                let e: &mut String = entries.entry(key).or_default();
                if !e.is_empty() {
                    e.push(',');
                }
                e.push_str(value);
            } else {
                entries.insert(key, value.to_string());
            }
        }
        Ok(ConfigFile {
            path: path.map(Path::to_path_buf),
            entries,
        })
    }

    /// Load `path`. A missing file is `Ok(None)`.
    pub fn load(path: &Path) -> Result<Option<ConfigFile>> {
        match std::fs::read_to_string(path) {
            Ok(text) => ConfigFile::parse(&text, Some(path)).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::InvalidArgument(format!(
                "cannot read config file {}: {e}",
                path.display()
            ))),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }
}

/// What the command line said (each `None` means "not given").
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub data: Option<PathBuf>,
    pub s3_volume: Option<String>,
    pub cache_size: Option<String>,
    pub listen: Option<String>,
    pub backend: Option<String>,
    /// `--secure` given (a flag cannot say "off"; the file or environment may say "on").
    pub secure: bool,
    pub domains: Vec<String>,
}

/// The resolved settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    pub s3_volume: String,
    pub cache_size: u64,
    pub listen: String,
    pub backend: Option<String>,
    pub secure: bool,
    pub domains: Vec<String>,
}

impl Settings {
    /// Resolve every setting: flag, else environment, else config file, else default.
    pub fn resolve(flags: &Flags, env: EnvLookup<'_>) -> Result<Settings> {
        let env_str = |name: &str| -> Result<Option<String>> {
            match env(name) {
                None => Ok(None),
                Some(v) => v
                    .into_string()
                    .map(Some)
                    .map_err(|_| Error::InvalidArgument(format!("${name} is not valid UTF-8"))),
            }
        };

        // The config file: --config, else $OZFS_CONFIG (both must exist), else DATA/ozfs.conf
        // with DATA from flag/env/default (the file cannot choose its own directory).
        let explicit = flags.config.clone().or_else(|| env(env::CONFIG).map(PathBuf::from));
        let file = match &explicit {
            Some(p) => ConfigFile::load(p)?
                .ok_or_else(|| Error::InvalidArgument(format!("config file {} does not exist", p.display())))?,
            None => {
                let data = match flags.data.clone().or_else(|| env(env::DATA).map(PathBuf::from)) {
                    Some(d) => d,
                    None => default_data_dir(env)?,
                };
                ConfigFile::load(&data.join(CONFIG_FILE_NAME))?.unwrap_or_default()
            }
        };

        let data_dir = match flags.data.clone().or_else(|| env(env::DATA).map(PathBuf::from)) {
            Some(d) => d,
            None => match file.get("data") {
                Some(d) => PathBuf::from(d),
                None => default_data_dir(env)?,
            },
        };
        if data_dir.as_os_str().is_empty() {
            return Err(Error::InvalidArgument("the data directory must not be empty".into()));
        }

        let pick = |flag: Option<&String>, var: &str, key: &str| -> Result<Option<String>> {
            if let Some(f) = flag {
                return Ok(Some(f.clone()));
            }
            if let Some(v) = env_str(var)? {
                return Ok(Some(v));
            }
            Ok(file.get(key).map(str::to_string))
        };

        let s3_volume =
            pick(flags.s3_volume.as_ref(), env::S3_VOLUME, "s3_volume")?.unwrap_or_else(|| DEFAULT_S3_VOLUME.into());
        crate::namespace::name::validate_resource_name(crate::error::NameKind::Volume, &s3_volume)?;
        let cache_size = match pick(flags.cache_size.as_ref(), env::CACHE_SIZE, "cache_size")? {
            Some(s) => parse_size(&s)?,
            None => DEFAULT_CACHE_SIZE,
        };
        let listen = pick(flags.listen.as_ref(), env::LISTEN, "listen")?.unwrap_or_else(|| DEFAULT_LISTEN.into());
        let backend = pick(flags.backend.as_ref(), env::BACKEND, "backend")?.filter(|b| !b.is_empty());
        let secure = if flags.secure {
            true
        } else {
            match pick(None, env::SECURE, "secure")? {
                Some(s) => parse_bool(&s)?,
                None => false,
            }
        };
        let domains = if !flags.domains.is_empty() {
            flags.domains.clone()
        } else {
            pick(None, env::DOMAIN, "domain")?
                .map(|d| {
                    d.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };

        Ok(Settings {
            data_dir,
            config_file: file.path.clone(),
            s3_volume,
            cache_size,
            listen,
            backend,
            secure,
            domains,
        })
    }

    /// [`Settings::resolve`] against the process environment.
    pub fn from_process(flags: &Flags) -> Result<Settings> {
        Settings::resolve(flags, &process_env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| map.get(k).map(OsString::from)
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576").unwrap(), 1_048_576);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_size("2T").unwrap(), 2 << 40);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_size(" 10 M ").unwrap(), 10 << 20);
        assert_eq!(parse_size("0").unwrap(), 0);
        for bad in [
            "",
            "M",
            "1X",
            "-1",
            "1.5",
            "1..5G",
            ".5G",
            "99999999999999999999",
            "99999999999T",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    proptest! {
        #[test]
        fn size_roundtrip(n in 0u64..(1 << 40), unit in 0usize..4) {
            let (suffix, shift) = [("", 0), ("K", 10), ("M", 20), ("G", 30)][unit];
            let n = n >> shift;
            prop_assert_eq!(parse_size(&format!("{n}{suffix}")).unwrap(), n << shift);
        }

        #[test]
        fn size_parser_never_panics(s in ".{0,24}") {
            let _ = parse_size(&s);
        }

        #[test]
        fn config_parser_never_panics(s in "(.{0,30}\n){0,5}") {
            let _ = ConfigFile::parse(&s, None);
        }
    }

    #[test]
    fn default_data_dir_rules() {
        let e = env_of(&[("XDG_DATA_HOME", "/x/share"), ("HOME", "/home/u")]);
        assert_eq!(default_data_dir(&e).unwrap(), PathBuf::from("/x/share/ozfs"));
        let e = env_of(&[("HOME", "/home/u")]);
        assert_eq!(
            default_data_dir(&e).unwrap(),
            PathBuf::from("/home/u/.local/share/ozfs")
        );
        // A relative XDG_DATA_HOME is ignored, as the XDG spec says.
        let e = env_of(&[("XDG_DATA_HOME", "rel"), ("HOME", "/home/u")]);
        assert_eq!(
            default_data_dir(&e).unwrap(),
            PathBuf::from("/home/u/.local/share/ozfs")
        );
    }

    #[test]
    fn data_dir_precedence() {
        let e = env_of(&[("OZFS_DATA", "/env/data"), ("HOME", "/home/u")]);
        let flags = Flags {
            data: Some("/flag/data".into()),
            ..Flags::default()
        };
        assert_eq!(
            Settings::resolve(&flags, &e).unwrap().data_dir,
            PathBuf::from("/flag/data")
        );
        assert_eq!(
            Settings::resolve(&Flags::default(), &e).unwrap().data_dir,
            PathBuf::from("/env/data")
        );
        let e = env_of(&[("HOME", "/home/u")]);
        let s = Settings::resolve(&Flags::default(), &e).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/home/u/.local/share/ozfs"));
        assert_eq!(s.s3_volume, "s3v");
        assert_eq!(s.cache_size, DEFAULT_CACHE_SIZE);
        assert_eq!(s.listen, DEFAULT_LISTEN);
        assert!(!s.secure);
        assert!(s.backend.is_none());
        assert!(s.config_file.is_none());
    }

    #[test]
    fn config_file_parsing() {
        let f = ConfigFile::parse(
            "# comment\n\ncache-size = 1G\ns3_volume=\"vol9\"\ndomain = a.example\nDOMAIN = b.example\n",
            None,
        )
        .unwrap();
        assert_eq!(f.get("cache_size"), Some("1G"));
        assert_eq!(f.get("s3_volume"), Some("vol9"));
        assert_eq!(f.get("domain"), Some("a.example,b.example"));
        let err = ConfigFile::parse("nonsense\n", None).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
        let err = ConfigFile::parse("listen = x\ncahce_size = 1G\n", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("cahce_size"), "{err}");
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap().to_string();
        std::fs::write(
            dir.path().join(CONFIG_FILE_NAME),
            "cache_size = 1M\nlisten = 0.0.0.0:1\ns3_volume = filevol\nsecure = yes\ndomain = f.example\n",
        )
        .unwrap();

        // File only.
        let e = env_of(&[("OZFS_DATA", &data)]);
        let s = Settings::resolve(&Flags::default(), &e).unwrap();
        assert_eq!(s.cache_size, 1 << 20);
        assert_eq!(s.listen, "0.0.0.0:1");
        assert_eq!(s.s3_volume, "filevol");
        assert!(s.secure);
        assert_eq!(s.domains, vec!["f.example".to_string()]);
        assert_eq!(s.config_file, Some(dir.path().join(CONFIG_FILE_NAME)));

        // Environment beats the file.
        let e = env_of(&[
            ("OZFS_DATA", &data),
            ("OZFS_CACHE_SIZE", "2M"),
            ("OZFS_LISTEN", "127.0.0.1:2"),
            ("OZFS_SECURE", "false"),
            ("OZFS_DOMAIN", "e1.example, e2.example"),
        ]);
        let s = Settings::resolve(&Flags::default(), &e).unwrap();
        assert_eq!(s.cache_size, 2 << 20);
        assert_eq!(s.listen, "127.0.0.1:2");
        assert!(!s.secure);
        assert_eq!(s.domains, vec!["e1.example".to_string(), "e2.example".to_string()]);
        assert_eq!(s.s3_volume, "filevol");

        // Flags beat both.
        let flags = Flags {
            cache_size: Some("3M".into()),
            listen: Some("127.0.0.1:3".into()),
            s3_volume: Some("flagvol".into()),
            secure: true,
            domains: vec!["flag.example".into()],
            ..Flags::default()
        };
        let s = Settings::resolve(&flags, &e).unwrap();
        assert_eq!(s.cache_size, 3 << 20);
        assert_eq!(s.listen, "127.0.0.1:3");
        assert_eq!(s.s3_volume, "flagvol");
        assert!(s.secure);
        assert_eq!(s.domains, vec!["flag.example".to_string()]);
    }

    #[test]
    fn explicit_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("my.conf");
        std::fs::write(&conf, "data = /from/file\nbackend = http://127.0.0.1:9\n").unwrap();
        let c = conf.to_str().unwrap().to_string();
        let e = env_of(&[("OZFS_CONFIG", &c), ("HOME", "/home/u")]);
        let s = Settings::resolve(&Flags::default(), &e).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/from/file"));
        assert_eq!(s.backend.as_deref(), Some("http://127.0.0.1:9"));
        // A named config file must exist.
        let e = env_of(&[("OZFS_CONFIG", "/nonexistent/ozfs.conf"), ("HOME", "/home/u")]);
        assert!(Settings::resolve(&Flags::default(), &e).is_err());
    }

    #[test]
    fn bad_values_are_errors() {
        let e = env_of(&[("HOME", "/home/u"), ("OZFS_CACHE_SIZE", "lots")]);
        assert!(Settings::resolve(&Flags::default(), &e).is_err());
        let e = env_of(&[("HOME", "/home/u"), ("OZFS_SECURE", "maybe")]);
        assert!(Settings::resolve(&Flags::default(), &e).is_err());
        let e = env_of(&[("HOME", "/home/u"), ("OZFS_S3_VOLUME", "A")]);
        assert!(Settings::resolve(&Flags::default(), &e).is_err());
    }

    #[test]
    fn current_user_prefers_env() {
        let e = env_of(&[("USER", "alice")]);
        assert_eq!(current_user(&e), "alice");
        let e = env_of(&[]);
        assert!(!current_user(&e).is_empty());
    }
}
