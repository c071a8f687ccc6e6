//! SigV4.
