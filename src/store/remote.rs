//! Remote S3 store.
pub struct RemoteStore;
