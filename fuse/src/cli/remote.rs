//! [`RemoteAdmin`]: the [`Admin`] verbs over the admin HTTP API of a running `ozfs serve`
//! (see `ozfs_gateway::admin` for the endpoints and [`ozfs_gateway::admin::wire`] for the
//! format). Bodies stream both ways: `key put` sends the file as it reads it, `key get` hands the
//! response body on as a stream. A non-2xx answer becomes an [`AdminError`] carrying the
//! server's one-line message, so the user sees the same error as in local mode.

use super::admin::Admin;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use ozfs::{BucketInfo, BucketPath, BucketUpdate, ByteStream, ObjectInfo, VolumeInfo};
use ozfs_gateway::admin::wire::{self, Record};
use ozfs_gateway::admin::{AdminError, AdminResult, KeyPage};
use std::net::SocketAddr;

type ReqBody = UnsyncBoxBody<Bytes, ozfs::Error>;

/// How long the liveness check of a server may take.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Largest non-streamed answer accepted (records of a listing page).
const MAX_TEXT: usize = 256 * 1024 * 1024;

pub struct RemoteAdmin {
    addr: SocketAddr,
    token: String,
    client: Client<HttpConnector, ReqBody>,
}

fn empty() -> ReqBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

fn full(b: impl Into<Bytes>) -> ReqBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed_unsync()
}

fn protocol(msg: String) -> AdminError {
    AdminError::new(502, format!("unexpected answer from the ozfs server: {msg}"))
}

impl RemoteAdmin {
    pub fn new(addr: SocketAddr, token: String) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        RemoteAdmin { addr, token, client }
    }

    /// Send one request; a non-2xx answer becomes the server's error.
    async fn send(
        &self,
        method: http::Method,
        path: &str,
        params: &[(&str, &str)],
        body: ReqBody,
        len: Option<u64>,
    ) -> AdminResult<http::Response<hyper::body::Incoming>> {
        let uri = format!("http://{}{}{}?{}", self.addr, wire::PREFIX, path, wire::query(params));
        let mut req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header(wire::TOKEN_HEADER, &self.token);
        if let Some(len) = len {
            req = req.header(http::header::CONTENT_LENGTH, len);
        }
        let req = req
            .body(body)
            .map_err(|e| AdminError::new(400, format!("cannot build the admin request: {e}")))?;
        let resp = self.client.request(req).await.map_err(|e| {
            let mut msg = format!("cannot reach the ozfs server at {}: {e}", self.addr);
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            AdminError::new(503, msg)
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let text = self.text(resp).await.unwrap_or_default();
        let message = text.lines().next().unwrap_or("").trim().to_string();
        Err(AdminError::new(
            status,
            if message.is_empty() {
                format!("the ozfs server answered HTTP {status}")
            } else {
                message
            },
        ))
    }

    async fn text(&self, resp: http::Response<hyper::body::Incoming>) -> AdminResult<String> {
        let mut body = resp.into_body().into_data_stream();
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| AdminError::new(503, format!("connection to the ozfs server failed: {e}")))?;
            if out.len() + chunk.len() > MAX_TEXT {
                return Err(protocol("answer too large".into()));
            }
            out.extend_from_slice(&chunk);
        }
        String::from_utf8(out).map_err(|_| protocol("not UTF-8".into()))
    }

    async fn records(&self, method: http::Method, path: &str, params: &[(&str, &str)]) -> AdminResult<Vec<Record>> {
        let resp = self.send(method, path, params, empty(), None).await?;
        let text = self.text(resp).await?;
        wire::from_text(&text).map_err(protocol)
    }

    async fn record(&self, method: http::Method, path: &str, params: &[(&str, &str)]) -> AdminResult<Record> {
        self.records(method, path, params)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| protocol("empty answer".into()))
    }

    /// `GET /ping`: is a server with this token there?
    /// Bounded by [`PING_TIMEOUT`], so a hung server cannot hang every CLI command.
    pub async fn ping(&self) -> AdminResult<()> {
        let ping = async {
            let resp = self.send(http::Method::GET, "/ping", &[], empty(), None).await?;
            self.text(resp).await.map(|_| ())
        };
        tokio::time::timeout(PING_TIMEOUT, ping).await.map_err(|_| {
            AdminError::new(
                504,
                format!(
                    "the ozfs server at {} did not answer within {PING_TIMEOUT:?}",
                    self.addr
                ),
            )
        })?
    }
}

fn bparams(b: &BucketPath) -> [(&'static str, &str); 2] {
    [("volume", b.volume.as_str()), ("bucket", b.bucket.as_str())]
}

#[async_trait]
impl Admin for RemoteAdmin {
    async fn create_volume(&self, name: &str, owner: &str) -> AdminResult<VolumeInfo> {
        let r = self
            .record(
                http::Method::POST,
                "/volume/create",
                &[("volume", name), ("owner", owner)],
            )
            .await?;
        wire::volume_from(&r).map_err(protocol)
    }

    async fn delete_volume(&self, name: &str) -> AdminResult<()> {
        self.records(http::Method::POST, "/volume/delete", &[("volume", name)])
            .await
            .map(drop)
    }

    async fn volume_info(&self, name: &str) -> AdminResult<VolumeInfo> {
        let r = self
            .record(http::Method::GET, "/volume/info", &[("volume", name)])
            .await?;
        wire::volume_from(&r).map_err(protocol)
    }

    async fn list_volumes(&self) -> AdminResult<Vec<VolumeInfo>> {
        let rs = self.records(http::Method::GET, "/volume/list", &[]).await?;
        rs.iter()
            .map(wire::volume_from)
            .collect::<Result<_, _>>()
            .map_err(protocol)
    }

    async fn create_bucket(&self, bucket: &BucketPath, owner: &str) -> AdminResult<BucketInfo> {
        let [v, b] = bparams(bucket);
        let r = self
            .record(http::Method::POST, "/bucket/create", &[v, b, ("owner", owner)])
            .await?;
        wire::bucket_from(&r).map_err(protocol)
    }

    async fn create_link(&self, link: &BucketPath, target: &BucketPath, owner: &str) -> AdminResult<BucketInfo> {
        let [v, b] = bparams(link);
        let t = target.to_string();
        let r = self
            .record(
                http::Method::POST,
                "/bucket/link",
                &[v, b, ("target", &t), ("owner", owner)],
            )
            .await?;
        wire::bucket_from(&r).map_err(protocol)
    }

    async fn delete_bucket(&self, bucket: &BucketPath) -> AdminResult<()> {
        self.records(http::Method::POST, "/bucket/delete", &bparams(bucket))
            .await
            .map(drop)
    }

    async fn delete_bucket_aborting_uploads(&self, bucket: &BucketPath) -> AdminResult<()> {
        let [v, b] = bparams(bucket);
        self.records(http::Method::POST, "/bucket/delete", &[v, b, ("uploads", "abort")])
            .await
            .map(drop)
    }

    async fn bucket_info(&self, bucket: &BucketPath) -> AdminResult<BucketInfo> {
        let r = self.record(http::Method::GET, "/bucket/info", &bparams(bucket)).await?;
        wire::bucket_from(&r).map_err(protocol)
    }

    async fn update_bucket(&self, bucket: &BucketPath, update: BucketUpdate) -> AdminResult<BucketInfo> {
        let [v, b] = bparams(bucket);
        let (what, key, value) = match &update {
            BucketUpdate::Acl(grants) => ("acl", "grants", wire::grants_param(grants)),
            BucketUpdate::Layout(l) => ("layout", "layout", l.as_str().to_string()),
            BucketUpdate::Tags(_) | BucketUpdate::Lifecycle(_) => {
                return Err(AdminError::new(400, "bucket tags and lifecycle are set over S3"))
            }
        };
        let r = self
            .record(
                http::Method::POST,
                "/bucket/update",
                &[v, b, ("what", what), (key, value.as_str())],
            )
            .await?;
        wire::bucket_from(&r).map_err(protocol)
    }

    async fn list_buckets(&self, volume: &str) -> AdminResult<Vec<BucketInfo>> {
        let rs = self
            .records(http::Method::GET, "/bucket/list", &[("volume", volume)])
            .await?;
        rs.iter()
            .map(wire::bucket_from)
            .collect::<Result<_, _>>()
            .map_err(protocol)
    }

    async fn list_keys(
        &self,
        bucket: &BucketPath,
        prefix: &str,
        start: Option<&str>,
        max: usize,
    ) -> AdminResult<KeyPage> {
        let [v, b] = bparams(bucket);
        let max_s = max.to_string();
        let mut params = vec![v, b, ("prefix", prefix), ("max", max_s.as_str())];
        if let Some(s) = start {
            params.push(("start", s));
        }
        let resp = self
            .send(http::Method::GET, "/key/list", &params, empty(), None)
            .await?;
        let truncated = resp
            .headers()
            .get(wire::TRUNCATED_HEADER)
            .is_some_and(|v| v.as_bytes() == b"true");
        let text = self.text(resp).await?;
        let keys = wire::from_text(&text)
            .map_err(protocol)?
            .iter()
            .map(wire::object_from)
            .collect::<Result<_, _>>()
            .map_err(protocol)?;
        Ok(KeyPage { keys, truncated })
    }

    async fn put_key(
        &self,
        bucket: &BucketPath,
        key: &str,
        body: ByteStream,
        len: Option<u64>,
        owner: Option<&str>,
    ) -> AdminResult<ObjectInfo> {
        let [v, b] = bparams(bucket);
        let body = StreamBody::new(body.map(|r| r.map(Frame::data))).boxed_unsync();
        let mut params = vec![v, b, ("key", key)];
        if let Some(o) = owner {
            params.push(("owner", o));
        }
        let resp = self.send(http::Method::PUT, "/key/put", &params, body, len).await?;
        let text = self.text(resp).await?;
        let recs = wire::from_text(&text).map_err(protocol)?;
        let r = recs.first().ok_or_else(|| protocol("empty answer".into()))?;
        wire::object_from(r).map_err(protocol)
    }

    async fn get_key(&self, bucket: &BucketPath, key: &str) -> AdminResult<ByteStream> {
        let [v, b] = bparams(bucket);
        let resp = self
            .send(http::Method::GET, "/key/get", &[v, b, ("key", key)], empty(), None)
            .await?;
        let stream = resp
            .into_body()
            .into_data_stream()
            .map(|r| r.map_err(|e| ozfs::Error::Body(Box::new(e))));
        Ok(Box::pin(stream))
    }

    async fn key_info(&self, bucket: &BucketPath, key: &str) -> AdminResult<ObjectInfo> {
        let [v, b] = bparams(bucket);
        let r = self
            .record(http::Method::GET, "/key/info", &[v, b, ("key", key)])
            .await?;
        wire::object_from(&r).map_err(protocol)
    }

    async fn delete_key(&self, bucket: &BucketPath, key: &str) -> AdminResult<()> {
        let [v, b] = bparams(bucket);
        self.records(http::Method::POST, "/key/delete", &[v, b, ("key", key)])
            .await
            .map(drop)
    }

    async fn rename_key(&self, bucket: &BucketPath, from: &str, to: &str) -> AdminResult<()> {
        let [v, b] = bparams(bucket);
        self.records(http::Method::POST, "/key/rename", &[v, b, ("from", from), ("to", to)])
            .await
            .map(drop)
    }

    async fn get_secret(&self, user: &str) -> AdminResult<String> {
        let r = self
            .record(http::Method::POST, "/secret/get", &[("user", user)])
            .await?;
        r.get("secret")
            .map(str::to_string)
            .ok_or_else(|| protocol("no secret in the answer".into()))
    }

    async fn revoke_secret(&self, user: &str) -> AdminResult<()> {
        self.records(http::Method::POST, "/secret/revoke", &[("user", user)])
            .await
            .map(drop)
    }

    async fn set_secret(&self, user: &str, secret: &str) -> AdminResult<()> {
        let resp = self
            .send(
                http::Method::POST,
                "/secret/set",
                &[("user", user)],
                full(secret.to_string()),
                Some(secret.len() as u64),
            )
            .await?;
        self.text(resp).await.map(drop)
    }
}
