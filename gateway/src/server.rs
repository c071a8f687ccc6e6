//! The accept loop: tokio + hyper 1 HTTP/1.1 (hyper-util), with a header read timeout for slow
//! clients, a bound on the header count, the connection limits of [`crate::conn`], and graceful
//! shutdown (stop accepting, let requests in flight finish, bounded wait). With
//! [`Gateway::with_tls`], each connection first does a rustls handshake (tokio-rustls), bounded
//! by the same header read timeout.

use crate::service;
use crate::state::State;
use crate::GatewayConfig;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use ozfs::{ObjectStore, SecretStore};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long a client may take to send the request line and headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Most header lines in one request.
pub const MAX_HEADERS: usize = 128;

/// A bound S3 endpoint, ready to [`Gateway::run`].
pub struct Gateway {
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    max_connections: usize,
}

impl Gateway {
    /// Bind the listening socket. Logs a warning when security is off and the address is not
    /// loopback (anyone who can reach the port can then read and write every bucket).
    pub async fn bind(
        cfg: GatewayConfig,
        store: Arc<dyn ObjectStore>,
        secrets: Arc<dyn SecretStore>,
    ) -> std::io::Result<Gateway> {
        let listener = TcpListener::bind(cfg.listen).await?;
        let addr = listener.local_addr()?;
        if !cfg.secure && !addr.ip().is_loopback() {
            log::warn!(
                "S3 endpoint on {addr} with security off: anyone who can reach this address can read and write every bucket (use --secure or listen on 127.0.0.1)"
            );
        }
        let admin = cfg.admin_token.clone().map(|token| crate::admin::AdminState {
            store: store.clone(),
            secrets: secrets.clone(),
            token,
        });
        Ok(Gateway {
            listener,
            addr,
            tls: None,
            max_connections: crate::conn::MAX_CONNECTIONS,
            state: Arc::new(State {
                cfg,
                store,
                secrets,
                admin,
                header_read_timeout: HEADER_READ_TIMEOUT,
                body_idle_timeout: service::BODY_IDLE_TIMEOUT,
            }),
        })
    }

    /// Change how long a client may take to send its request headers, and how long a request
    /// body may stall between two chunks (defaults: [`HEADER_READ_TIMEOUT`],
    /// [`crate::service::BODY_IDLE_TIMEOUT`]). Tests shorten them.
    pub fn with_timeouts(mut self, header_read: Duration, body_idle: Duration) -> Self {
        if let Some(st) = Arc::get_mut(&mut self.state) {
            st.header_read_timeout = header_read;
            st.body_idle_timeout = body_idle;
        }
        self
    }

    /// Serve https with this rustls configuration (see [`crate::tls::server_config`]).
    pub fn with_tls(mut self, cfg: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(tokio_rustls::TlsAcceptor::from(cfg));
        self
    }

    /// `https` when serving TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Change how many connections are served at once (default [`crate::conn::MAX_CONNECTIONS`]);
    /// one more is answered `503 SlowDown` and closed. Tests lower it.
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve until `shutdown` completes, then stop accepting and wait (bounded) for requests in
    /// flight.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        let connections = Arc::new(tokio::sync::Semaphore::new(self.max_connections));
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            // Out of descriptors and the like: back off instead of spinning.
                            log::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let Ok(permit) = connections.clone().try_acquire_owned() else {
                        // Over the bound: a short S3 answer, then close (no state kept).
                        tokio::spawn(crate::conn::refuse(stream));
                        continue;
                    };
                    let state = self.state.clone();
                    let watcher = graceful.watcher();
                    match &self.tls {
                        None => {
                            tokio::spawn(async move {
                                serve_io(TokioIo::new(crate::conn::S3Io::new(stream)), state, watcher, peer).await;
                                drop(permit);
                            });
                        }
                        Some(acceptor) => {
                            let acceptor = acceptor.clone();
                            tokio::spawn(async move {
                                let limit = state.header_read_timeout;
                                match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                                    Ok(Ok(tls)) => serve_io(TokioIo::new(crate::conn::S3Io::new(tls)), state, watcher, peer).await,
                                    Ok(Err(e)) => log::debug!("TLS handshake with {peer} failed: {e}"),
                                    Err(_) => log::debug!("TLS handshake with {peer}: no progress in {limit:?}"),
                                }
                                drop(permit);
                            });
                        }
                    }
                }
                _ = &mut shutdown => break,
            }
        }
        drop(self.listener);
        tokio::select! {
            _ = graceful.shutdown() => {}
            _ = tokio::time::sleep(SHUTDOWN_GRACE) => {
                log::warn!("shutdown: requests still running after {SHUTDOWN_GRACE:?}, stopping anyway");
            }
        }
        Ok(())
    }
}

/// Serve one connection (plain or TLS) until it closes or shutdown asks it to.
async fn serve_io<I>(
    io: TokioIo<I>,
    state: Arc<State>,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc_state = state.clone();
    let svc = service_fn(move |req| service::handle(svc_state.clone(), peer, req));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(state.header_read_timeout)
        .max_headers(MAX_HEADERS)
        .max_buf_size(crate::conn::MAX_BUF)
        .serve_connection(io, svc);
    if let Err(e) = watcher.watch(conn).await {
        log::debug!("connection from {peer}: {e}");
    }
}
