//! A stand-alone S3 endpoint for tests and benchmarks, until the `ozfs` binary serves one:
//! `cargo run -p ozfs-gateway --example serve_mem -- [--listen ADDR] [--secure]
//! [--domain D]... [--data DIR] [--user NAME:SECRET]...`.
//!
//! Without `--data` the store is an in-memory `MemStore`; with it, a `LocalStore` in DIR.
//! Prints `listening on ADDR` once the socket is bound, and stops on stdin EOF or Ctrl-C.

use ozfs::{ObjectStore, SecretStore};
use ozfs_gateway::{Gateway, GatewayConfig};
use std::sync::Arc;

#[allow(clippy::exit, reason = "an example binary's usage error ends the process")]
fn usage() -> ! {
    eprintln!("usage: serve_mem [--listen ADDR] [--secure] [--domain D]... [--data DIR] [--user NAME:SECRET]...");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    env_logger_init();
    let mut cfg = GatewayConfig::new("127.0.0.1:0".parse().expect("literal address"));
    let mut data = None;
    let mut users = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => cfg.listen = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()),
            "--secure" => cfg.secure = true,
            "--domain" => cfg.domains.push(args.next().unwrap_or_else(|| usage())),
            "--data" => data = Some(args.next().unwrap_or_else(|| usage())),
            "--user" => users.push(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    let (store, secrets): (Arc<dyn ObjectStore>, Arc<dyn SecretStore>) = match data {
        None => {
            let m = Arc::new(ozfs::MemStore::new("s3v"));
            (m.clone(), m)
        }
        Some(dir) => match ozfs::LocalStore::open(std::path::Path::new(&dir), "s3v") {
            Ok(l) => {
                let l = Arc::new(l);
                (l.clone(), l)
            }
            Err(e) => {
                eprintln!("cannot open {dir}: {e}");
                std::process::exit(1)
            }
        },
    };
    for u in users {
        let Some((name, secret)) = u.split_once(':') else {
            usage()
        };
        let r = async {
            if secrets.lookup_secret(name).await?.is_none() {
                secrets.get_secret(name).await?;
            }
            secrets.set_secret(name, secret).await
        };
        if let Err(e) = r.await {
            eprintln!("cannot set the secret of {name}: {e}");
            std::process::exit(1)
        }
    }
    let gw = match Gateway::bind(cfg, store, secrets).await {
        Ok(g) => g,
        Err(e) => {
            eprintln!("cannot listen: {e}");
            std::process::exit(1)
        }
    };
    println!("listening on {}", gw.local_addr());
    let shutdown = async {
        let stdin_eof = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            while std::io::stdin().read_line(&mut s).map(|n| n > 0).unwrap_or(false) {
                s.clear();
            }
        });
        tokio::select! {
            _ = stdin_eof => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    if let Err(e) = gw.run(shutdown).await {
        eprintln!("server failed: {e}");
        std::process::exit(1)
    }
}

/// Log to stderr at the level in `RUST_LOG` (default warn).
fn env_logger_init() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).try_init();
}
