//! The admin API of a running `ozfs serve`, under `/_ozfs/admin/` on the S3 port (a path no valid
//! bucket name can take). The `ozfs sh` / `ozfs s3` commands use it when a server already holds
//! the data directory, so a user never sees a database lock error. Requests carry the token the
//! server wrote into the data directory (readable only by its owner).

use bytes::Bytes;
use ozfs::{ByteStream, ObjectStore, SecretStore};
use std::sync::Arc;

/// What the admin API needs from the server.
pub struct AdminState {
    pub store: Arc<dyn ObjectStore>,
    pub secrets: Arc<dyn SecretStore>,
    /// The token a request must present (`x-ozfs-admin-token` header).
    pub token: String,
}

/// Handle one admin request (`req.uri().path()` still starts with `/_ozfs/admin`).
pub async fn handle(state: &AdminState, req: http::Request<ByteStream>) -> http::Response<ByteStream> {
    let _ = (&state.store, &state.secrets, &state.token, req.uri());
    http::Response::builder()
        .status(501)
        .body(ozfs::body_from_bytes(Bytes::from_static(
            b"admin API not available in this build\n",
        )))
        .expect("static response")
}
