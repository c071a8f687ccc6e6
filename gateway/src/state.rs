//! The state every request shares: configuration, the store, the secrets, the admin API and the
//! timeouts. Its own module so that the service, the handlers and authentication all depend on
//! it without depending on each other.

use crate::GatewayConfig;
use ozfs::{ObjectStore, SecretStore};
use std::sync::Arc;
use std::time::Duration;

/// Shared server state.
pub struct State {
    pub cfg: GatewayConfig,
    pub store: Arc<dyn ObjectStore>,
    pub secrets: Arc<dyn SecretStore>,
    pub admin: Option<crate::admin::AdminState>,
    pub header_read_timeout: Duration,
    pub body_idle_timeout: Duration,
}
