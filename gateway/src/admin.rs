//! The admin API of a running `ozfs serve`, under `/_ozfs/admin/` on the S3 port (a path no valid
//! bucket name can take). The `ozfs sh` / `ozfs s3` commands use it when a server already holds
//! the data directory, so a user never sees a database lock error. Requests carry the token the
//! server wrote into the data directory (readable only by its owner).
//!
//! Design: [`LocalAdmin`] is the one implementation of every CLI verb over an
//! `Arc<dyn ObjectStore>` and an `Arc<dyn SecretStore>`. The CLI calls it directly when it can
//! open the data directory itself, and [`handle`] calls the very same methods for a remote CLI,
//! so both modes behave and fail identically. [`handle`] is a thin adapter: check the token
//! (constant-time), parse the query ([`wire`]), call one `LocalAdmin` method, encode the answer.
//! Endpoints (one per verb; names travel in the query string):
//!
//! | method | path                | query                                   | body           |
//! |--------|---------------------|-----------------------------------------|----------------|
//! | GET    | `/ping`             |                                         |                |
//! | GET    | `/volume/list`      |                                         |                |
//! | POST   | `/volume/create`    | `volume`, `owner`                       |                |
//! | GET    | `/volume/info`      | `volume`                                |                |
//! | POST   | `/volume/delete`    | `volume`                                |                |
//! | GET    | `/bucket/list`      | `volume`                                |                |
//! | POST   | `/bucket/create`    | `volume`, `bucket`, `owner`             |                |
//! | POST   | `/bucket/link`      | `volume`, `bucket`, `target`, `owner`   |                |
//! | GET    | `/bucket/info`      | `volume`, `bucket`                      |                |
//! | POST   | `/bucket/delete`    | `volume`, `bucket`                      |                |
//! | GET    | `/key/list`         | `volume`, `bucket`, `prefix`, `start`, `max` |           |
//! | PUT    | `/key/put`          | `volume`, `bucket`, `key`               | the bytes      |
//! | GET    | `/key/get`          | `volume`, `bucket`, `key`               | (response)     |
//! | GET    | `/key/info`         | `volume`, `bucket`, `key`               |                |
//! | POST   | `/key/delete`       | `volume`, `bucket`, `key`               |                |
//! | POST   | `/key/rename`       | `volume`, `bucket`, `from`, `to`        |                |
//! | POST   | `/secret/get`       | `user`                                  |                |
//! | POST   | `/secret/revoke`    | `user`                                  |                |
//! | POST   | `/secret/set`       | `user`                                  | the secret     |

pub mod wire;

use bytes::Bytes;
use ozfs::namespace::name::{validate_key, validate_resource_name};
use ozfs::{
    BucketInfo, BucketPath, BucketUpdate, ByteStream, Error, GetOptions, ListRequest, ObjectInfo, ObjectStore,
    PutOptions, SecretStore, VolumeInfo,
};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// What the admin API needs from the server.
pub struct AdminState {
    pub store: Arc<dyn ObjectStore>,
    pub secrets: Arc<dyn SecretStore>,
    /// The token a request must present (`x-ozfs-admin-token` header).
    pub token: String,
}

/// An admin failure: the one-line message the CLI prints, and the HTTP status it travels with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminError {
    pub status: u16,
    pub message: String,
}

impl AdminError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        AdminError {
            status,
            message: message.into(),
        }
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AdminError {}

impl From<Error> for AdminError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::NoSuchVolume(_) | Error::NoSuchBucket(_) | Error::NoSuchKey(_) | Error::NoSuchUpload(_) => 404,
            Error::SecretNotFound(_) => 404,
            Error::VolumeAlreadyExists(_)
            | Error::BucketAlreadyExists { .. }
            | Error::VolumeNotEmpty(_)
            | Error::BucketNotEmpty(_)
            | Error::SecretAlreadyExists(_)
            | Error::WriteConflict(_)
            | Error::ObjectChanged(_) => 409,
            Error::InvalidName { .. }
            | Error::InvalidKey { .. }
            | Error::KeyTooLong { .. }
            | Error::LinkLoop(_)
            | Error::NotSupportedOnLink(_)
            | Error::BadDigest
            | Error::ChecksumMismatch { .. }
            | Error::IncompleteBody { .. }
            | Error::InvalidPart(_)
            | Error::InvalidPartOrder
            | Error::EntityTooSmall { .. }
            | Error::InvalidRange
            | Error::InvalidPartNumber { .. }
            | Error::InvalidArgument(_)
            | Error::Body(_) => 400,
            Error::PreconditionFailed => 412,
            Error::AccessDenied(_) => 403,
            Error::NotSupported(_) => 501,
            Error::NoSpace => 507,
            Error::Backend { .. } => 502,
            Error::Storage { .. } | Error::DataDirInUse(_) | Error::Io(_) => 500,
        };
        let message = match &e {
            Error::SecretAlreadyExists(u) => format!(
                "an S3 secret for {u} already exists and is shown only once; revoke it first (ozfs s3 revokesecret -u {u})"
            ),
            Error::SecretNotFound(u) => format!("no S3 secret for {u}"),
            other => other.to_string(),
        };
        AdminError { status, message }
    }
}

/// Result of the admin verbs.
pub type AdminResult<T> = Result<T, AdminError>;

/// One page of `key list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    pub keys: Vec<ObjectInfo>,
    /// More keys follow the last one returned.
    pub truncated: bool,
}

/// Every CLI verb, over a store and a secret store. Names are checked here first, so every
/// backend (embedded or remote S3) rejects a bad name with the same message.
#[derive(Clone)]
pub struct LocalAdmin {
    pub store: Arc<dyn ObjectStore>,
    pub secrets: Arc<dyn SecretStore>,
}

fn volume_name(name: &str) -> AdminResult<()> {
    Ok(validate_resource_name(ozfs::error::NameKind::Volume, name)?)
}

fn bucket_name(b: &BucketPath) -> AdminResult<()> {
    volume_name(&b.volume)?;
    Ok(validate_resource_name(ozfs::error::NameKind::Bucket, &b.bucket)?)
}

fn user_name(user: &str) -> AdminResult<()> {
    if user.is_empty() || user.chars().any(char::is_control) {
        return Err(AdminError::new(400, format!("invalid user name {user:?}")));
    }
    Ok(())
}

impl LocalAdmin {
    pub fn new(store: Arc<dyn ObjectStore>, secrets: Arc<dyn SecretStore>) -> Self {
        LocalAdmin { store, secrets }
    }

    pub async fn create_volume(&self, name: &str, owner: &str) -> AdminResult<VolumeInfo> {
        volume_name(name)?;
        user_name(owner)?;
        Ok(self.store.create_volume(name, owner).await?)
    }

    pub async fn delete_volume(&self, name: &str) -> AdminResult<()> {
        volume_name(name)?;
        Ok(self.store.delete_volume(name).await?)
    }

    pub async fn volume_info(&self, name: &str) -> AdminResult<VolumeInfo> {
        volume_name(name)?;
        Ok(self.store.volume_info(name).await?)
    }

    pub async fn list_volumes(&self) -> AdminResult<Vec<VolumeInfo>> {
        Ok(self.store.list_volumes().await?)
    }

    pub async fn create_bucket(&self, bucket: &BucketPath, owner: &str) -> AdminResult<BucketInfo> {
        bucket_name(bucket)?;
        user_name(owner)?;
        Ok(self.store.create_bucket(bucket, owner).await?)
    }

    pub async fn create_link(&self, link: &BucketPath, target: &BucketPath, owner: &str) -> AdminResult<BucketInfo> {
        bucket_name(link)?;
        bucket_name(target)?;
        user_name(owner)?;
        Ok(self.store.create_link(link, target, owner).await?)
    }

    pub async fn delete_bucket(&self, bucket: &BucketPath) -> AdminResult<()> {
        bucket_name(bucket)?;
        Ok(self.store.delete_bucket(bucket).await?)
    }

    /// Delete the bucket with its unfinished multipart uploads (`ozfs sh bucket delete -r`,
    /// after the keys are gone); keys still make it BucketNotEmpty.
    pub async fn delete_bucket_aborting_uploads(&self, bucket: &BucketPath) -> AdminResult<()> {
        bucket_name(bucket)?;
        Ok(self.store.delete_bucket_aborting_uploads(bucket).await?)
    }

    /// Change one bucket setting (`ozfs sh bucket setacl|addacl|removeacl`, `create --layout`).
    pub async fn update_bucket(&self, bucket: &BucketPath, update: BucketUpdate) -> AdminResult<BucketInfo> {
        bucket_name(bucket)?;
        if let BucketUpdate::Acl(grants) = &update {
            for g in grants {
                user_name(&g.grantee)?;
                if !matches!(
                    g.permission.as_str(),
                    "FULL_CONTROL" | "READ" | "WRITE" | "READ_ACP" | "WRITE_ACP"
                ) {
                    return Err(AdminError::new(400, format!("invalid permission {:?}", g.permission)));
                }
            }
        }
        Ok(self.store.update_bucket(bucket, update).await?)
    }

    pub async fn bucket_info(&self, bucket: &BucketPath) -> AdminResult<BucketInfo> {
        bucket_name(bucket)?;
        Ok(self.store.bucket_info(bucket).await?)
    }

    pub async fn list_buckets(&self, volume: &str) -> AdminResult<Vec<BucketInfo>> {
        volume_name(volume)?;
        Ok(self.store.list_buckets(volume).await?)
    }

    /// Up to `max` keys starting with `prefix`, strictly after `start` (no delimiter: a flat
    /// listing, as `ozone sh key list` prints).
    pub async fn list_keys(
        &self,
        bucket: &BucketPath,
        prefix: &str,
        start: Option<&str>,
        max: usize,
    ) -> AdminResult<KeyPage> {
        bucket_name(bucket)?;
        let mut page = KeyPage::default();
        let mut start_after = start.filter(|s| !s.is_empty()).map(str::to_string);
        while page.keys.len() < max {
            let want = (max - page.keys.len()).min(1000);
            let got = self
                .store
                .list_objects(
                    bucket,
                    ListRequest {
                        prefix: prefix.to_string(),
                        delimiter: None,
                        start_after: start_after.clone(),
                        max_keys: want,
                    },
                )
                .await?;
            page.keys.extend(got.objects);
            page.truncated = got.is_truncated;
            if !got.is_truncated {
                break;
            }
            start_after = got.next_start_after;
            if start_after.is_none() {
                break;
            }
        }
        Ok(page)
    }

    pub async fn put_key(
        &self,
        bucket: &BucketPath,
        key: &str,
        body: ByteStream,
        len: Option<u64>,
        owner: Option<&str>,
    ) -> AdminResult<ObjectInfo> {
        bucket_name(bucket)?;
        validate_key(key)?;
        if let Some(o) = owner {
            user_name(o)?;
        }
        let opts = PutOptions {
            expected_len: len,
            owner: owner.map(str::to_string),
            ..PutOptions::default()
        };
        Ok(self.store.put_object(bucket, key, body, opts).await?)
    }

    /// The object's info and its bytes (lazy: nothing is read before the stream is polled).
    pub async fn get_key(&self, bucket: &BucketPath, key: &str) -> AdminResult<(ObjectInfo, ByteStream)> {
        bucket_name(bucket)?;
        validate_key(key)?;
        let got = self.store.get_object(bucket, key, GetOptions::default()).await?;
        Ok((got.info, got.body))
    }

    pub async fn key_info(&self, bucket: &BucketPath, key: &str) -> AdminResult<ObjectInfo> {
        bucket_name(bucket)?;
        validate_key(key)?;
        Ok(self.store.head_object(bucket, key).await?)
    }

    /// Unlike an S3 DELETE, deleting a missing key is an error (as in `ozone sh key delete`).
    pub async fn delete_key(&self, bucket: &BucketPath, key: &str) -> AdminResult<()> {
        let info = self.key_info(bucket, key).await?;
        Ok(self.store.delete_object(bucket, key, Some(&info.etag)).await?)
    }

    pub async fn rename_key(&self, bucket: &BucketPath, from: &str, to: &str) -> AdminResult<()> {
        self.key_info(bucket, from).await?;
        validate_key(to)?;
        Ok(self.store.rename_object(bucket, from, to).await?)
    }

    pub async fn get_secret(&self, user: &str) -> AdminResult<String> {
        user_name(user)?;
        Ok(self.secrets.get_secret(user).await?)
    }

    pub async fn revoke_secret(&self, user: &str) -> AdminResult<()> {
        user_name(user)?;
        Ok(self.secrets.revoke_secret(user).await?)
    }

    pub async fn set_secret(&self, user: &str, secret: &str) -> AdminResult<()> {
        user_name(user)?;
        Ok(self.secrets.set_secret(user, secret).await?)
    }
}

fn text_response(status: u16, text: String) -> http::Response<ByteStream> {
    let mut resp = http::Response::new(ozfs::body_from_bytes(Bytes::from(text)));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn error_response(e: AdminError) -> http::Response<ByteStream> {
    text_response(e.status, format!("{}\n", e.message.replace('\n', " ")))
}

fn records_response(records: &[wire::Record]) -> http::Response<ByteStream> {
    text_response(200, wire::to_text(records))
}

/// The parsed query of a request.
struct Params(BTreeMap<String, String>);

impl Params {
    fn get(&self, name: &str) -> AdminResult<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| AdminError::new(400, format!("admin request lacks parameter {name:?}")))
    }

    fn opt(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn bucket(&self) -> AdminResult<BucketPath> {
        Ok(BucketPath::new(self.get("volume")?, self.get("bucket")?))
    }
}

/// Handle one admin request (`req.uri().path()` still starts with `/_ozfs/admin`).
pub async fn handle(state: &AdminState, req: http::Request<ByteStream>) -> http::Response<ByteStream> {
    let presented = req
        .headers()
        .get(wire::TOKEN_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if state.token.is_empty() || !ozfs::sigv4::constant_time_eq(presented, state.token.as_bytes()) {
        return error_response(AdminError::new(403, "admin token missing or wrong"));
    }
    match dispatch(state, req).await {
        Ok(resp) => resp,
        Err(e) => error_response(e),
    }
}

async fn dispatch(state: &AdminState, req: http::Request<ByteStream>) -> AdminResult<http::Response<ByteStream>> {
    let path = req.uri().path().strip_prefix(wire::PREFIX).unwrap_or("").to_string();
    let params = Params(wire::parse_query(req.uri().query().unwrap_or("")).map_err(|e| AdminError::new(400, e))?);
    let method = req.method().clone();
    let admin = LocalAdmin::new(state.store.clone(), state.secrets.clone());
    let is_read = method == http::Method::GET || method == http::Method::HEAD;
    let is_write = method == http::Method::POST || method == http::Method::PUT;
    let wrong_method = || AdminError::new(405, format!("{method} is not allowed on {}{path}", wire::PREFIX));

    let one = |r: wire::Record| Ok(records_response(&[r]));
    match path.as_str() {
        "/ping" if is_read => Ok(text_response(200, "ozfs admin\n".into())),
        "/volume/list" if is_read => {
            let vols = admin.list_volumes().await?;
            Ok(records_response(
                &vols.iter().map(wire::volume_record).collect::<Vec<_>>(),
            ))
        }
        "/volume/create" if is_write => one(wire::volume_record(
            &admin.create_volume(params.get("volume")?, params.get("owner")?).await?,
        )),
        "/volume/info" if is_read => one(wire::volume_record(&admin.volume_info(params.get("volume")?).await?)),
        "/volume/delete" if is_write => {
            admin.delete_volume(params.get("volume")?).await?;
            Ok(records_response(&[]))
        }
        "/bucket/list" if is_read => {
            let buckets = admin.list_buckets(params.get("volume")?).await?;
            Ok(records_response(
                &buckets.iter().map(wire::bucket_record).collect::<Vec<_>>(),
            ))
        }
        "/bucket/create" if is_write => one(wire::bucket_record(
            &admin.create_bucket(&params.bucket()?, params.get("owner")?).await?,
        )),
        "/bucket/link" if is_write => {
            let target = BucketPath::parse(params.get("target")?).map_err(AdminError::from)?;
            one(wire::bucket_record(
                &admin
                    .create_link(&params.bucket()?, &target, params.get("owner")?)
                    .await?,
            ))
        }
        "/bucket/update" if is_write => {
            let update = match params.get("what")? {
                "acl" => BucketUpdate::Acl(
                    wire::grants_from_param(params.opt("grants").unwrap_or("")).map_err(|e| AdminError::new(400, e))?,
                ),
                "layout" => BucketUpdate::Layout(params.get("layout")?.parse().map_err(AdminError::from)?),
                w => return Err(AdminError::new(400, format!("cannot update {w:?}"))),
            };
            one(wire::bucket_record(
                &admin.update_bucket(&params.bucket()?, update).await?,
            ))
        }
        "/bucket/info" if is_read => one(wire::bucket_record(&admin.bucket_info(&params.bucket()?).await?)),
        "/bucket/delete" if is_write => {
            match params.opt("uploads") {
                None => admin.delete_bucket(&params.bucket()?).await?,
                Some("abort") => admin.delete_bucket_aborting_uploads(&params.bucket()?).await?,
                Some(o) => return Err(AdminError::new(400, format!("invalid uploads {o:?}"))),
            }
            Ok(records_response(&[]))
        }
        "/key/list" if is_read => {
            let max = match params.opt("max") {
                Some(m) => m
                    .parse()
                    .map_err(|_| AdminError::new(400, format!("invalid max {m:?}")))?,
                None => 1000,
            };
            let page = admin
                .list_keys(
                    &params.bucket()?,
                    params.opt("prefix").unwrap_or(""),
                    params.opt("start"),
                    max,
                )
                .await?;
            let mut resp = records_response(&page.keys.iter().map(wire::object_record).collect::<Vec<_>>());
            resp.headers_mut().insert(
                wire::TRUNCATED_HEADER,
                http::HeaderValue::from_static(if page.truncated { "true" } else { "false" }),
            );
            Ok(resp)
        }
        "/key/put" if is_write => {
            let len = req
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let bucket = params.bucket()?;
            let key = params.get("key")?.to_string();
            let owner = params.opt("owner").map(str::to_string);
            let info = admin
                .put_key(&bucket, &key, req.into_body(), len, owner.as_deref())
                .await?;
            one(wire::object_record(&info))
        }
        "/key/get" if is_read => {
            let (info, body) = admin.get_key(&params.bucket()?, params.get("key")?).await?;
            let mut resp = http::Response::new(body);
            resp.headers_mut()
                .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(info.size));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/octet-stream"),
            );
            Ok(resp)
        }
        "/key/info" if is_read => one(wire::object_record(
            &admin.key_info(&params.bucket()?, params.get("key")?).await?,
        )),
        "/key/delete" if is_write => {
            admin.delete_key(&params.bucket()?, params.get("key")?).await?;
            Ok(records_response(&[]))
        }
        "/key/rename" if is_write => {
            admin
                .rename_key(&params.bucket()?, params.get("from")?, params.get("to")?)
                .await?;
            Ok(records_response(&[]))
        }
        "/secret/get" if is_write => {
            let user = params.get("user")?;
            let secret = admin.get_secret(user).await?;
            let mut r = wire::Record::default();
            r.push("user", user);
            r.push("secret", secret);
            one(r)
        }
        "/secret/revoke" if is_write => {
            admin.revoke_secret(params.get("user")?).await?;
            Ok(records_response(&[]))
        }
        "/secret/set" if is_write => {
            let user = params.get("user")?.to_string();
            let body = ozfs::collect_body(req.into_body(), 4096).await?;
            let secret = String::from_utf8(body).map_err(|_| AdminError::new(400, "the secret must be UTF-8"))?;
            admin.set_secret(&user, &secret).await?;
            Ok(records_response(&[]))
        }
        "/ping" | "/volume/list" | "/volume/create" | "/volume/info" | "/volume/delete" | "/bucket/list"
        | "/bucket/create" | "/bucket/link" | "/bucket/info" | "/bucket/delete" | "/key/list" | "/key/put"
        | "/key/get" | "/key/info" | "/key/delete" | "/key/rename" | "/secret/get" | "/secret/revoke"
        | "/secret/set" => Err(wrong_method()),
        other => Err(AdminError::new(
            404,
            format!("no admin endpoint {}{other}", wire::PREFIX),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use ozfs::MemStore;

    fn state() -> AdminState {
        let mem = Arc::new(MemStore::new("s3v"));
        AdminState {
            store: mem.clone(),
            secrets: mem,
            token: "t0ken".into(),
        }
    }

    async fn call(
        st: &AdminState,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
        token: &str,
        body: &[u8],
    ) -> (u16, String) {
        let req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}?{}", wire::PREFIX, wire::query(params)))
            .header(wire::TOKEN_HEADER, token)
            .body(ozfs::body_from_bytes(Bytes::copy_from_slice(body)))
            .unwrap();
        let resp = handle(st, req).await;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut out = Vec::new();
        while let Some(c) = body.next().await {
            out.extend_from_slice(&c.unwrap());
        }
        (status, String::from_utf8(out).unwrap())
    }

    #[tokio::test]
    async fn token_is_required() {
        let st = state();
        assert_eq!(call(&st, "GET", "/ping", &[], "wrong", b"").await.0, 403);
        assert_eq!(call(&st, "GET", "/ping", &[], "", b"").await.0, 403);
        assert_eq!(call(&st, "GET", "/ping", &[], "t0ken", b"").await.0, 200);
    }

    #[tokio::test]
    async fn verbs_round_trip() {
        let st = state();
        let (s, body) = call(
            &st,
            "POST",
            "/volume/create",
            &[("volume", "vol1"), ("owner", "al")],
            "t0ken",
            b"",
        )
        .await;
        assert_eq!(s, 200, "{body}");
        let v = wire::volume_from(&wire::from_text(&body).unwrap()[0]).unwrap();
        assert_eq!((v.name.as_str(), v.owner.as_str()), ("vol1", "al"));
        let (s, body) = call(
            &st,
            "POST",
            "/volume/create",
            &[("volume", "vol1"), ("owner", "al")],
            "t0ken",
            b"",
        )
        .await;
        assert_eq!((s, body.as_str()), (409, "volume vol1 already exists\n"));

        let b = [("volume", "vol1"), ("bucket", "bucket1")];
        assert_eq!(
            call(
                &st,
                "POST",
                "/bucket/create",
                &[b[0], b[1], ("owner", "al")],
                "t0ken",
                b""
            )
            .await
            .0,
            200
        );
        let key = [b[0], b[1], ("key", "a//b?c")];
        let (s, body) = call(&st, "PUT", "/key/put", &key, "t0ken", b"hello").await;
        assert_eq!(s, 200, "{body}");
        let (s, body) = call(&st, "GET", "/key/get", &key, "t0ken", b"").await;
        assert_eq!((s, body.as_str()), (200, "hello"));
        let (s, body) = call(&st, "GET", "/key/list", &[b[0], b[1], ("max", "10")], "t0ken", b"").await;
        assert_eq!(s, 200);
        let o = wire::object_from(&wire::from_text(&body).unwrap()[0]).unwrap();
        assert_eq!((o.key.as_str(), o.size), ("a//b?c", 5));
        let (s, _) = call(&st, "POST", "/key/delete", &key, "t0ken", b"").await;
        assert_eq!(s, 200);
        let (s, body) = call(&st, "POST", "/key/delete", &key, "t0ken", b"").await;
        assert_eq!(s, 404, "{body}");

        // Secrets: shown once.
        let (s, body) = call(&st, "POST", "/secret/get", &[("user", "al")], "t0ken", b"").await;
        assert_eq!(s, 200);
        assert_eq!(wire::from_text(&body).unwrap()[0].get("secret").map(str::len), Some(64));
        assert_eq!(
            call(&st, "POST", "/secret/get", &[("user", "al")], "t0ken", b"")
                .await
                .0,
            409
        );
        assert_eq!(
            call(&st, "POST", "/secret/set", &[("user", "al")], "t0ken", b"long-enough")
                .await
                .0,
            200
        );
        assert_eq!(
            call(&st, "POST", "/secret/revoke", &[("user", "al")], "t0ken", b"")
                .await
                .0,
            200
        );
        assert_eq!(
            call(&st, "POST", "/secret/revoke", &[("user", "al")], "t0ken", b"")
                .await
                .0,
            404
        );
    }

    #[tokio::test]
    async fn bad_requests() {
        let st = state();
        assert_eq!(
            call(&st, "GET", "/volume/create", &[("volume", "v1x")], "t0ken", b"")
                .await
                .0,
            405
        );
        assert_eq!(call(&st, "GET", "/nothing", &[], "t0ken", b"").await.0, 404);
        let (s, body) = call(&st, "GET", "/volume/info", &[], "t0ken", b"").await;
        assert_eq!(s, 400);
        assert!(body.contains("volume"), "{body}");
        let (s, body) = call(&st, "GET", "/volume/info", &[("volume", "No")], "t0ken", b"").await;
        assert_eq!(s, 400);
        assert!(body.starts_with("invalid volume name"), "{body}");
    }

    #[test]
    fn core_errors_keep_their_message() {
        let e = AdminError::from(Error::NoSuchBucket("b1".into()));
        assert_eq!(e.status, 404);
        assert_eq!(e.message, "bucket b1 not found");
        let e = AdminError::from(Error::LinkLoop("/s3v/a".into()));
        assert_eq!(e.status, 400);
        assert!(e.message.contains("loop"));
    }
}
