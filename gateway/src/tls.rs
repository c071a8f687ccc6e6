//! https for the S3 endpoint: a rustls server configuration (ring provider, TLS 1.2 and 1.3,
//! HTTP/1.1 by ALPN) from a PEM certificate chain and a PEM private key, as `ozfs serve
//! --tls-cert FILE --tls-key FILE` names them. The handshake runs per connection in the accept
//! loop's task, bounded by the header read timeout (see `server.rs`).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// The server configuration for `cert` (chain, leaf first) and `key` (PKCS#8, PKCS#1 or SEC1).
/// Errors are one-line messages naming the file.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("TLS certificate {}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("TLS certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "TLS certificate {}: no PEM certificate in the file",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("TLS key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate {} and key do not fit: {e}", cert.display()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let e = server_config(&dir.path().join("nope.pem"), &empty).unwrap_err();
        assert!(e.contains("nope.pem"), "{e}");
        let e = server_config(&empty, &empty).unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
    }
}
