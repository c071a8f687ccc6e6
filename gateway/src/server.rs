//! The accept loop: tokio + hyper 1 HTTP/1.1 (hyper-util), with a header read timeout for slow
//! clients, a bound on the header count, and graceful shutdown (stop accepting, let requests
//! in flight finish, bounded wait).

use crate::service::{self, State};
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

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve until `shutdown` completes, then stop accepting and wait (bounded) for requests in
    /// flight.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
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
                    let state = self.state.clone();
                    let svc = service_fn(move |req| service::handle(state.clone(), peer, req));
                    let conn = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(self.state.header_read_timeout)
                        .max_headers(MAX_HEADERS)
                        .serve_connection(TokioIo::new(stream), svc);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            log::debug!("connection from {peer}: {e}");
                        }
                    });
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
