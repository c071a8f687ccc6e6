//! The embedded store.
pub struct LocalStore;
