//! In-memory store.
pub struct MemStore;
