//! The reliability suite (issue 13): crash consistency of both doors, disk full through both
//! doors, the change-feed invalidation storm, a soak run, and the `--secure` isolation checks.
//! Each test drives the real `ozfs` binary. Long versions run from `scripts/crash-check.sh` and
//! `scripts/soak.sh` (see docs/reliability.md).
//!
//! Registered in `fuse/Cargo.toml` as `[[test]] name = "reliability"`; run:
//! `cargo test -p ozfs-fuse --test reliability`.

mod common;
mod crash;
mod nospace;
mod secure;
mod soak;
mod storm;
#[path = "../support.rs"]
mod support;
