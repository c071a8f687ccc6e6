//! What the wire-level gateway tests share: an in-process `Gateway` over a `MemStore` on
//! 127.0.0.1:0 (stopped on drop) and a parsed raw HTTP response.
#![allow(dead_code, reason = "shared by several test binaries, each using only part of it")]

use ozfs::{ObjectStore, SecretStore};
use ozfs_gateway::{Gateway, GatewayConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A running gateway; dropping it stops the server and joins its thread.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serve `mem` with `cfg` (its listen address is replaced by 127.0.0.1:0) on a runtime of its
/// own; `users` (new to the store) get these secrets first; `timeouts` are the header-read and
/// body-idle timeouts.
pub fn start_gateway(
    cfg: GatewayConfig,
    mem: Arc<ozfs::MemStore>,
    users: &[(&'static str, &'static str)],
    timeouts: Option<(Duration, Duration)>,
) -> Server {
    start_gateway_over(cfg, mem.clone(), mem, users, timeouts)
}

/// [`start_gateway`] over any store and secret store.
pub fn start_gateway_over(
    mut cfg: GatewayConfig,
    store: Arc<dyn ObjectStore>,
    secrets: Arc<dyn SecretStore>,
    users: &[(&'static str, &'static str)],
    timeouts: Option<(Duration, Duration)>,
) -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    cfg.listen = "127.0.0.1:0".parse().expect("addr");
    let users = users.to_vec();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (atx, arx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        rt.block_on(async move {
            for (u, s) in users {
                secrets.get_secret(u).await.expect("secret");
                secrets.set_secret(u, s).await.expect("set secret");
            }
            let mut gw = Gateway::bind(cfg, store, secrets).await.expect("bind");
            if let Some((header, body)) = timeouts {
                gw = gw.with_timeouts(header, body);
            }
            atx.send(gw.local_addr()).expect("addr");
            gw.run(async {
                let _ = rx.await;
            })
            .await
            .expect("run");
        })
    });
    let addr = arx.recv_timeout(Duration::from_secs(30)).expect("started");
    Server {
        addr,
        stop: Some(tx),
        thread: Some(thread),
    }
}

/// A response read off the socket.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The `<Code>` of an S3 error body ("" when there is none).
    pub fn code(&self) -> String {
        let t = self.text();
        t.split("<Code>")
            .nth(1)
            .and_then(|r| r.split("</Code>").next())
            .unwrap_or("")
            .to_string()
    }
}
