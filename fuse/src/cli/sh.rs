//! `ozfs sh volume|bucket|key <verb> …`, shaped like Apache Ozone's `ozone sh`: resources are
//! addressed as `/vol`, `/vol/bucket`, `/vol/bucket/key` (an `o3://host` prefix is accepted and
//! ignored), `info` and `list` print Ozone-style JSON ([`super::json`]), `volume|bucket delete`
//! print "Volume v is deleted" / "Bucket b is deleted", the other verbs print nothing on
//! success. Each verb is one call on the [`Admin`] trait, so it behaves the same whether this
//! process opened the store or talks to a running server.

use super::admin::Admin;
use super::json::{self, Value};
use super::ozone_acl;
use super::progress;
use super::{CliError, CliResult};
use clap::{Args, Subcommand};
use futures_util::StreamExt;
use ozfs::{BucketPath, ByteStream};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Subcommand, Debug)]
pub enum ShCommand {
    /// Volume operations (create, list, info, delete).
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Bucket operations (create, list, info, delete, link).
    #[command(subcommand)]
    Bucket(BucketCommand),
    /// Key operations (put, get, list, info, delete, rename).
    #[command(subcommand)]
    Key(KeyCommand),
    /// `ozfs sh create volume|bucket PATH`: the noun-last spelling, same as `volume create`.
    #[command(subcommand, hide = true)]
    Create(CreateCommand),
}

#[derive(Subcommand, Debug)]
pub enum CreateCommand {
    Volume(VolumeCreate),
    Bucket(BucketCreate),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Print at most this many entries.
    #[arg(short = 'l', long, value_name = "N", default_value_t = 100)]
    pub length: usize,
    /// Print every entry (no length limit).
    #[arg(short = 'a', long, conflicts_with = "length")]
    pub all: bool,
    /// Start after this name.
    #[arg(short = 's', long, value_name = "NAME")]
    pub start: Option<String>,
    /// Only names starting with this prefix.
    #[arg(short = 'p', long, value_name = "PREFIX")]
    pub prefix: Option<String>,
}

impl ListArgs {
    fn limit(&self) -> usize {
        if self.all {
            usize::MAX
        } else {
            self.length
        }
    }

    /// Apply prefix, start and length to an already sorted list of names.
    fn filter<T>(&self, items: Vec<T>, name: impl Fn(&T) -> &str) -> Vec<T> {
        items
            .into_iter()
            .filter(|i| self.prefix.as_deref().is_none_or(|p| name(i).starts_with(p)))
            .filter(|i| self.start.as_deref().is_none_or(|s| name(i) > s))
            .take(self.limit())
            .collect()
    }
}

#[derive(Args, Debug)]
pub struct VolumeCreate {
    /// Owner of the volume (default: the login user).
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub owner: Option<String>,
    /// The volume: /VOLUME.
    #[arg(value_name = "/VOLUME")]
    pub path: String,
}

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume.
    Create(VolumeCreate),
    /// List volumes (JSON).
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        list: ListArgs,
        /// Accepted for Ozone compatibility; every volume is listed.
        #[arg(value_name = "/", hide = true)]
        root: Option<String>,
    },
    /// Show a volume (JSON).
    Info {
        #[arg(value_name = "/VOLUME")]
        path: String,
    },
    /// Delete an empty volume.
    Delete {
        #[arg(value_name = "/VOLUME")]
        path: String,
    },
}

#[derive(Args, Debug)]
pub struct BucketCreate {
    /// Owner of the bucket (default: the login user).
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub owner: Option<String>,
    /// Bucket layout, recorded and shown by `bucket info` as Ozone's "bucketLayout":
    /// OBJECT_STORE (default), FILE_SYSTEM_OPTIMIZED or LEGACY (also OBS, FSO). ozfs keeps keys
    /// the same way whatever the layout (docs/SEMANTICS.md).
    #[arg(short = 'l', long = "layout", value_name = "LAYOUT")]
    pub layout: Option<String>,
    /// The bucket: /VOLUME/BUCKET.
    #[arg(value_name = "/VOLUME/BUCKET")]
    pub path: String,
}

#[derive(Args, Debug)]
pub struct AclArgs {
    /// Comma-separated ACLs in Ozone's notation, TYPE:NAME:RIGHTS (e.g. `user:bilbo:rw` or
    /// `user:bilbo:rw,world::r`): TYPE user or world; RIGHTS r READ, w WRITE, c CREATE,
    /// l LIST, d DELETE, x READ_ACL, y WRITE_ACL, a ALL, n NONE. Kept as S3 grants
    /// (docs/CLI.md has the mapping).
    #[arg(
        short = 'a',
        long = "acls",
        visible_alias = "acl",
        value_name = "ACLS",
        required = true
    )]
    pub acls: String,
    #[arg(value_name = "/VOLUME/BUCKET")]
    pub path: String,
}

#[derive(Subcommand, Debug)]
pub enum BucketCommand {
    /// Create a bucket.
    Create(BucketCreate),
    /// List the buckets of a volume (JSON).
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        list: ListArgs,
        #[arg(value_name = "/VOLUME")]
        path: String,
    },
    /// Show a bucket or link (JSON).
    Info {
        #[arg(value_name = "/VOLUME/BUCKET")]
        path: String,
    },
    /// Delete an empty bucket, or a link (never its source). A bucket with unfinished multipart
    /// uploads is refused, as Ozone refuses it, unless `-r`.
    Delete {
        /// Delete recursively, as `ozone sh bucket delete -r`: every key, then the bucket with
        /// its unfinished multipart uploads. Asks for "yes" first unless `-y`.
        #[arg(short = 'r')]
        recursive: bool,
        /// With `-r`: continue without asking.
        #[arg(short = 'y', long = "yes")]
        yes: bool,
        #[arg(value_name = "/VOLUME/BUCKET")]
        path: String,
    },
    /// Print the bucket's ACLs (JSON, as `ozone sh bucket getacl`).
    Getacl {
        /// For a link: SOURCE (default) shows the ACLs of the bucket it resolves to, LINK the
        /// link's own, as `ozone sh bucket getacl --type`.
        #[arg(short = 't', long = "type", value_name = "SOURCE|LINK", default_value = "SOURCE")]
        link_type: String,
        #[arg(value_name = "/VOLUME/BUCKET")]
        path: String,
    },
    /// Replace the bucket's ACLs.
    Setacl(AclArgs),
    /// Add ACLs to the bucket.
    Addacl(AclArgs),
    /// Remove ACLs from the bucket.
    Removeacl(AclArgs),
    /// Create LINK as a link to SOURCE (e.g. `link /vol1/bucket1 /s3v/common`). The source need
    /// not exist; links may point at links.
    Link {
        /// Owner of the link (default: the login user).
        #[arg(short = 'u', long = "user", value_name = "USER")]
        owner: Option<String>,
        /// The bucket to expose: /VOLUME/BUCKET.
        #[arg(value_name = "SOURCE")]
        source: String,
        /// The link to create: /VOLUME/BUCKET.
        #[arg(value_name = "LINK")]
        link: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Upload FILE (`-` for standard input) as a key.
    Put {
        #[arg(value_name = "/VOLUME/BUCKET/KEY")]
        path: String,
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Download a key into FILE (`-` for standard output; a directory gets the key's last path
    /// component as the file name).
    Get {
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
        #[arg(value_name = "/VOLUME/BUCKET/KEY")]
        path: String,
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// List the keys of a bucket (JSON).
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        list: ListArgs,
        #[arg(value_name = "/VOLUME/BUCKET")]
        path: String,
    },
    /// Show a key (JSON).
    Info {
        #[arg(value_name = "/VOLUME/BUCKET/KEY")]
        path: String,
    },
    /// Delete a key (a missing key is an error).
    Delete {
        #[arg(value_name = "/VOLUME/BUCKET/KEY")]
        path: String,
    },
    /// Rename key FROM to TO inside one bucket (replaces TO if it exists).
    Rename {
        #[arg(value_name = "/VOLUME/BUCKET")]
        path: String,
        #[arg(value_name = "FROM")]
        from: String,
        #[arg(value_name = "TO")]
        to: String,
    },
}

/// Strip `o3://authority` (kept for paths copied from Ozone docs).
fn strip_scheme(s: &str) -> &str {
    match s.strip_prefix("o3://") {
        Some(rest) => rest.find('/').map_or("", |i| &rest[i..]),
        None => s,
    }
}

pub fn parse_volume(s: &str) -> CliResult<String> {
    let t = strip_scheme(s).trim_matches('/');
    if t.is_empty() || t.contains('/') {
        return Err(CliError(format!("{s:?} is not of the form /volume")));
    }
    Ok(t.to_string())
}

pub fn parse_bucket(s: &str) -> CliResult<BucketPath> {
    BucketPath::parse(strip_scheme(s)).map_err(CliError::from)
}

pub fn parse_key(s: &str) -> CliResult<(BucketPath, String)> {
    let t = strip_scheme(s).trim_start_matches('/');
    let mut it = t.splitn(3, '/');
    match (it.next(), it.next(), it.next()) {
        (Some(v), Some(b), Some(k)) if !v.is_empty() && !b.is_empty() && !k.is_empty() => {
            Ok((BucketPath::new(v, b), k.to_string()))
        }
        _ => Err(CliError(format!("{s:?} is not of the form /volume/bucket/key"))),
    }
}

pub async fn run(admin: &dyn Admin, user: &str, cmd: ShCommand) -> CliResult<()> {
    match cmd {
        ShCommand::Volume(c) => volume(admin, user, c).await,
        ShCommand::Bucket(c) => bucket(admin, user, c).await,
        ShCommand::Key(c) => key(admin, user, c).await,
        ShCommand::Create(CreateCommand::Volume(c)) => volume(admin, user, VolumeCommand::Create(c)).await,
        ShCommand::Create(CreateCommand::Bucket(c)) => bucket(admin, user, BucketCommand::Create(c)).await,
    }
}

fn print(v: &Value) {
    print!("{}", json::render(v));
}

async fn volume(admin: &dyn Admin, user: &str, cmd: VolumeCommand) -> CliResult<()> {
    match cmd {
        VolumeCommand::Create(c) => {
            let name = parse_volume(&c.path)?;
            admin.create_volume(&name, c.owner.as_deref().unwrap_or(user)).await?;
        }
        VolumeCommand::List { list, root } => {
            if let Some(r) = root.filter(|r| !strip_scheme(r).trim_matches('/').is_empty()) {
                return Err(CliError(format!("{r:?}: volume list takes no path other than /")));
            }
            let vols = list.filter(admin.list_volumes().await?, |v| &v.name);
            print(&Value::Array(vols.iter().map(json::volume).collect()));
        }
        VolumeCommand::Info { path } => print(&json::volume(&admin.volume_info(&parse_volume(&path)?).await?)),
        VolumeCommand::Delete { path } => {
            let name = parse_volume(&path)?;
            admin.delete_volume(&name).await?;
            println!("Volume {name} is deleted");
        }
    }
    Ok(())
}

async fn bucket(admin: &dyn Admin, user: &str, cmd: BucketCommand) -> CliResult<()> {
    match cmd {
        BucketCommand::Create(c) => {
            let b = parse_bucket(&c.path)?;
            // Checked before the bucket is made, so a bad layout creates nothing.
            let layout = c.layout.as_deref().map(str::parse::<ozfs::BucketLayout>).transpose()?;
            admin.create_bucket(&b, c.owner.as_deref().unwrap_or(user)).await?;
            if let Some(l) = layout.filter(|l| *l != ozfs::BucketLayout::default()) {
                admin.update_bucket(&b, ozfs::BucketUpdate::Layout(l)).await?;
            }
        }
        BucketCommand::Getacl { link_type, path } => {
            let b = parse_bucket(&path)?;
            let info = match link_type.to_ascii_uppercase().as_str() {
                "SOURCE" => source_bucket(admin, &b).await?.1,
                "LINK" => admin.bucket_info(&b).await?,
                _ => return Err(CliError(format!("--type {link_type:?}: SOURCE or LINK"))),
            };
            print(&ozone_acl::json(&ozone_acl::from_grants(&info.owner, &info.acl)));
        }
        BucketCommand::Setacl(a) => {
            let (b, acls) = (parse_bucket(&a.path)?, ozone_acl::parse_list(&a.acls)?);
            admin
                .update_bucket(&b, ozfs::BucketUpdate::Acl(ozone_acl::to_grants(&acls)))
                .await?;
            println!("ACLs set successfully.");
        }
        BucketCommand::Addacl(a) => {
            let (b, acls) = (parse_bucket(&a.path)?, ozone_acl::parse_list(&a.acls)?);
            let (b, info) = source_bucket(admin, &b).await?;
            let (grants, added) = ozone_acl::add(&info.acl, &acls);
            if added.iter().any(|x| *x) {
                admin.update_bucket(&b, ozfs::BucketUpdate::Acl(grants)).await?;
            }
            for (acl, new) in acls.iter().zip(added) {
                if new {
                    println!("ACL {acl} added successfully.");
                } else {
                    println!("ACL {acl} already exists.");
                }
            }
        }
        BucketCommand::Removeacl(a) => {
            let (b, acls) = (parse_bucket(&a.path)?, ozone_acl::parse_list(&a.acls)?);
            let (b, info) = source_bucket(admin, &b).await?;
            let (grants, removed) = ozone_acl::remove(&info.acl, &acls);
            if removed.iter().any(|x| *x) {
                admin.update_bucket(&b, ozfs::BucketUpdate::Acl(grants)).await?;
            }
            for (acl, gone) in acls.iter().zip(removed) {
                if gone {
                    println!("ACL {acl} removed successfully.");
                } else {
                    println!("ACL {acl} doesn't exist.");
                }
            }
        }
        BucketCommand::List { list, path } => {
            let buckets = list.filter(admin.list_buckets(&parse_volume(&path)?).await?, |b| &b.name);
            print(&Value::Array(buckets.iter().map(json::bucket).collect()));
        }
        BucketCommand::Info { path } => print(&json::bucket(&admin.bucket_info(&parse_bucket(&path)?).await?)),
        BucketCommand::Delete { recursive, yes, path } => {
            let b = parse_bucket(&path)?;
            if recursive {
                if !yes && !confirm_recursive()? {
                    println!("Operation cancelled.");
                    return Ok(());
                }
                delete_all_keys(admin, &b).await?;
                admin.delete_bucket_aborting_uploads(&b).await?;
            } else {
                admin.delete_bucket(&b).await?;
            }
            println!("Bucket {} is deleted", b.bucket);
        }
        BucketCommand::Link { owner, source, link } => {
            let (source, link) = (parse_bucket(&source)?, parse_bucket(&link)?);
            admin
                .create_link(&link, &source, owner.as_deref().unwrap_or(user))
                .await?;
        }
    }
    Ok(())
}

async fn key(admin: &dyn Admin, user: &str, cmd: KeyCommand) -> CliResult<()> {
    match cmd {
        KeyCommand::Put { path, file } => {
            let (b, k) = parse_key(&path)?;
            let (body, len) = open_source(&file).await?;
            // The key records who wrote it: the user running the command, as `ozone sh` does.
            let pb = progress::bar("put", &path, len);
            let result = admin
                .put_key(&b, &k, progress::counted(body, &pb), len, Some(user))
                .await;
            pb.finish_and_clear();
            result?;
        }
        KeyCommand::Get { force, path, file } => {
            let (b, k) = parse_key(&path)?;
            get_to_file(admin, &b, &k, &file, force).await?;
        }
        KeyCommand::List { list, path } => {
            let b = parse_bucket(&path)?;
            let page = admin
                .list_keys(
                    &b,
                    list.prefix.as_deref().unwrap_or(""),
                    list.start.as_deref(),
                    list.limit(),
                )
                .await?;
            print(&Value::Array(
                page.keys.iter().map(|o| json::key_summary(&b, o)).collect(),
            ));
        }
        KeyCommand::Info { path } => {
            let (b, k) = parse_key(&path)?;
            print(&json::key_detail(&b, &admin.key_info(&b, &k).await?));
        }
        KeyCommand::Delete { path } => {
            let (b, k) = parse_key(&path)?;
            admin.delete_key(&b, &k).await?;
        }
        KeyCommand::Rename { path, from, to } => {
            admin.rename_key(&parse_bucket(&path)?, &from, &to).await?;
        }
    }
    Ok(())
}

/// The bucket a link resolves to (the bucket itself when it is not a link) and its info: ACL
/// changes through a link change the source, as Ozone proxies them.
async fn source_bucket(admin: &dyn Admin, b: &BucketPath) -> CliResult<(BucketPath, ozfs::BucketInfo)> {
    let mut cur = b.clone();
    // Bounded like the store's own link walk: a loop is reported, not followed forever.
    for _ in 0..64 {
        let info = admin.bucket_info(&cur).await?;
        match &info.link_target {
            Some(t) => cur = t.clone(),
            None => return Ok((cur, info)),
        }
    }
    Err(CliError(format!("bucket link loop detected at {b}")))
}

/// Ozone's question before a recursive delete; true when the answer is "yes".
fn confirm_recursive() -> CliResult<bool> {
    use std::io::Write;
    print!(
        "This command will delete bucket recursively.\nThere is no recovery option after using this command, \
         and deleted keys won't move to trash.\nEnter 'yes' to proceed': "
    );
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError(format!("reading the answer: {}", io_msg(&e))))?;
    Ok(answer.trim().eq_ignore_ascii_case("yes"))
}

/// Delete every key of a bucket (not of a link's source: a link is deleted alone), a page at a
/// time, as `ozone sh bucket delete -r` does for an object-store bucket.
async fn delete_all_keys(admin: &dyn Admin, b: &BucketPath) -> CliResult<()> {
    if admin.bucket_info(b).await?.link_target.is_some() {
        return Ok(());
    }
    // Bounded: every round deletes the page it listed; keys written meanwhile are left to the
    // bucket delete, which then refuses (BucketNotEmpty).
    for _ in 0..1_000_000 {
        let page = admin.list_keys(b, "", None, 1000).await?;
        if page.keys.is_empty() {
            break;
        }
        for k in &page.keys {
            match admin.delete_key(b, &k.key).await {
                Ok(()) => {}
                Err(e) if e.status == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !page.truncated {
            break;
        }
    }
    Ok(())
}

const CHUNK: usize = 1024 * 1024;

/// A file (or standard input for `-`) as a body stream, read 1 MiB at a time, and its length
/// when known.
async fn open_source(file: &Path) -> CliResult<(ByteStream, Option<u64>)> {
    let (reader, len): (Box<dyn tokio::io::AsyncRead + Send + Unpin>, Option<u64>) = if file == Path::new("-") {
        (Box::new(tokio::io::stdin()), None)
    } else {
        let f = tokio::fs::File::open(file)
            .await
            .map_err(|e| CliError(format!("cannot open {}: {}", file.display(), io_msg(&e))))?;
        let meta = f
            .metadata()
            .await
            .map_err(|e| CliError(format!("cannot stat {}: {}", file.display(), io_msg(&e))))?;
        if meta.is_dir() {
            return Err(CliError(format!("{} is a directory", file.display())));
        }
        (Box::new(f), Some(meta.len()))
    };
    let name = file.display().to_string();
    let stream = futures_util::stream::unfold(Some(reader), move |state| {
        let name = name.clone();
        async move {
            let mut r = state?;
            let mut buf = vec![0u8; CHUNK];
            let mut filled = 0;
            // Fill whole chunks so the store sees few, large writes.
            while filled < CHUNK {
                match r.read(&mut buf[filled..]).await {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) => {
                        let err = ozfs::Error::Io(std::io::Error::new(e.kind(), format!("reading {name}: {e}")));
                        return Some((Err(err), None));
                    }
                }
            }
            if filled == 0 {
                return None;
            }
            buf.truncate(filled);
            let next = if filled < CHUNK { None } else { Some(r) };
            Some((Ok(bytes::Bytes::from(buf)), next))
        }
    });
    Ok((Box::pin(stream), len))
}

/// `key get`: stream into a temporary file beside FILE and rename it into place at the end, so
/// a failed download never leaves a partial FILE.
async fn get_to_file(admin: &dyn Admin, b: &BucketPath, k: &str, file: &Path, force: bool) -> CliResult<()> {
    let pb = get_progress(admin, b, k).await;
    let result = get_to_file_inner(admin, b, k, file, force, &pb).await;
    pb.finish_and_clear();
    result
}

/// A progress bar for a download (only on a terminal: the size costs one more request).
async fn get_progress(admin: &dyn Admin, b: &BucketPath, k: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let len = admin.key_info(b, k).await.ok().map(|i| i.size);
    progress::bar("get", &format!("{b}/{k}"), len)
}

async fn get_to_file_inner(
    admin: &dyn Admin,
    b: &BucketPath,
    k: &str,
    file: &Path,
    force: bool,
    pb: &indicatif::ProgressBar,
) -> CliResult<()> {
    if file == Path::new("-") {
        let mut body = progress::counted(admin.get_key(b, k).await?, pb);
        let mut out = tokio::io::stdout();
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            out.write_all(&chunk)
                .await
                .map_err(|e| CliError(format!("writing standard output: {}", io_msg(&e))))?;
        }
        out.flush()
            .await
            .map_err(|e| CliError(format!("writing standard output: {}", io_msg(&e))))?;
        return Ok(());
    }
    let dest = if file.is_dir() {
        let base = k.trim_end_matches('/').rsplit('/').next().unwrap_or(k);
        if base.is_empty() || base == "." || base == ".." {
            return Err(CliError(format!(
                "cannot name a file after key {k:?}; give a file name"
            )));
        }
        file.join(base)
    } else {
        file.to_path_buf()
    };
    if !force && dest.exists() {
        return Err(CliError(format!(
            "{} exists; download would overwrite it (use --force)",
            dest.display()
        )));
    }
    let mut body = progress::counted(admin.get_key(b, k).await?, pb);
    let tmp = {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        dest.with_file_name(format!(".{name}.ozfs-{}.tmp", std::process::id()))
    };
    let result = async {
        let mut f = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| CliError(format!("cannot create {}: {}", tmp.display(), io_msg(&e))))?;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            f.write_all(&chunk)
                .await
                .map_err(|e| CliError(format!("writing {}: {}", tmp.display(), io_msg(&e))))?;
        }
        f.sync_all()
            .await
            .map_err(|e| CliError(format!("writing {}: {}", tmp.display(), io_msg(&e))))?;
        tokio::fs::rename(&tmp, &dest)
            .await
            .map_err(|e| CliError(format!("cannot create {}: {}", dest.display(), io_msg(&e))))
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

/// An I/O error without Rust's "(os error N)" suffix.
pub fn io_msg(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse_volume("/vol1").unwrap(), "vol1");
        assert_eq!(parse_volume("vol1/").unwrap(), "vol1");
        assert_eq!(parse_volume("o3://om:9862/vol1").unwrap(), "vol1");
        assert!(parse_volume("/").is_err());
        assert!(parse_volume("/a/b").is_err());
        assert_eq!(parse_bucket("/s3v/common").unwrap(), BucketPath::new("s3v", "common"));
        assert!(parse_bucket("/s3v").is_err());
        assert_eq!(
            parse_key("/v/b/dir/a//x").unwrap(),
            (BucketPath::new("v", "b"), "dir/a//x".to_string())
        );
        assert_eq!(
            parse_key("o3://h/v/b/k").unwrap(),
            (BucketPath::new("v", "b"), "k".to_string())
        );
        assert!(parse_key("/v/b").is_err());
        assert!(parse_key("/v/b/").is_err());
    }

    #[test]
    fn list_filter() {
        let l = ListArgs {
            length: 2,
            all: false,
            start: Some("a".into()),
            prefix: Some("a".into()),
        };
        let names = vec!["a", "aa", "ab", "ac", "b"];
        assert_eq!(l.filter(names, |s| s), vec!["aa", "ab"]);
    }
}
