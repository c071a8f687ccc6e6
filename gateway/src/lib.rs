//! ozfs-gateway: the S3 endpoint. Behaves like Apache Ozone's S3 gateway (the `s3v` volume,
//! bucket links, secrets), with the deliberate deviations listed in DESIGN.md "The S3 endpoint"
//! (501 for every unknown sub-resource, GetBucketLocation answered, ListMultipartUploads, AWS
//! multipart ETags, SignatureDoesNotMatch / InvalidAccessKeyId, SigV2 accepted).
//!
//! ```text
//! server.rs   accept loop (tokio + hyper 1), graceful shutdown
//! conn.rs     per-connection limits, S3 XML for requests hyper cannot parse
//! service.rs  parse → auth → dispatch → render
//! router.rs   method + path/virtual host + query → Endpoint
//! auth.rs     ozfs::sigv4 verification, security on/off
//! body.rs     Incoming ↔ ByteStream, aws-chunked / signed payload decoding
//! error.rs    S3Error and the exhaustive mapping from ozfs::Error
//! xml.rs      quick-xml writer / request parser
//! handlers/   one file per S3 operation or resource
//! admin.rs    the `/_ozfs/admin` API (owned by the CLI)
//! metrics_page.rs  `GET /prom` and `GET /metrics` (ozfs::metrics, Prometheus text)
//! ```
//!
//! Use: `Gateway::bind(cfg, store, secrets).await?.run(shutdown).await`.

// A library reports through its return values and `log`; printing is the binary's job.
#![cfg_attr(not(test), warn(clippy::print_stdout, clippy::print_stderr))]

pub mod admin;
mod auth;
mod body;
mod conn;
mod error;
mod handlers;
mod metrics_page;
mod router;
mod server;
mod service;
mod state;
pub mod tls;
mod xml;

pub use error::S3Error;
pub use server::Gateway;

/// The tracing target of the access events (one INFO event per request, after its response
/// head): `ozfs serve --access-log FILE` sends them to FILE.
pub const ACCESS_TARGET: &str = "ozfs::access";

use std::net::SocketAddr;

/// Configuration of the S3 endpoint.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Address to listen on (port 0 picks a free port; see [`Gateway::local_addr`]).
    pub listen: SocketAddr,
    /// Security on: only access keys from the SecretStore, signatures verified, bucket ACLs
    /// enforced. Off (Ozone's default): any access key works and becomes the user.
    pub secure: bool,
    /// Domains for virtual-host style addressing (`bucket.<domain>`); path style always works.
    pub domains: Vec<String>,
    /// The volume whose buckets the endpoint shows (Ozone: `s3v`).
    pub s3_volume: String,
    /// Token of the `/_ozfs/admin` API; `None` disables it (404).
    pub admin_token: Option<String>,
}

impl GatewayConfig {
    /// Security off, path style, `s3v`, no admin API.
    pub fn new(listen: SocketAddr) -> Self {
        GatewayConfig {
            listen,
            secure: false,
            domains: Vec::new(),
            s3_volume: ozfs::namespace::DEFAULT_S3_VOLUME.to_string(),
            admin_token: None,
        }
    }
}
