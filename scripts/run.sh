#!/usr/bin/env bash
# ozfs's main job in one command: build ozfs, create a bucket in the embedded store if needed,
# then serve it from one process both as S3 (http://127.0.0.1:9878) and as a filesystem mounted
# at MOUNTPOINT. Ctrl-C stops the server and unmounts.
#
# Usage: ./scripts/run.sh [BUCKET [MOUNTPOINT [extra `ozfs serve` flags…]]]
#   BUCKET      default bucket1 (in the S3 volume, s3v)
#   MOUNTPOINT  default ~/ozfs/BUCKET
#   Data lives in $OZFS_DATA, else ~/.local/share/ozfs.
set -euo pipefail
cd "$(dirname "$0")/.."

BUCKET=${1:-bucket1}
MOUNTPOINT=${2:-$HOME/ozfs/$BUCKET}
shift $(( $# < 2 ? $# : 2 ))
VOLUME=${OZFS_S3_VOLUME:-s3v}

log() { printf '==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# FUSE 3 (fusermount3 and the kernel device).
if ! command -v fusermount3 >/dev/null 2>&1; then
    log "installing fuse3"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3
fi
if [ ! -e /dev/fuse ]; then
    as_root modprobe fuse 2>/dev/null || true
    [ -e /dev/fuse ] || { echo "ozfs: /dev/fuse is missing (is FUSE available in this machine/container?)" >&2; exit 1; }
fi

# A Rust toolchain.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    log "installing the Rust toolchain (rustup)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
fi

log "building ozfs (release)"
cargo build --release -p ozfs-fuse --bin ozfs
BIN="${CARGO_TARGET_DIR:-target}/release/ozfs"

if ! "$BIN" sh bucket info "/$VOLUME/$BUCKET" >/dev/null 2>&1; then
    log "creating bucket /$VOLUME/$BUCKET"
    "$BIN" sh bucket create "/$VOLUME/$BUCKET"
fi
mkdir -p "$MOUNTPOINT"

log "serving /$VOLUME/$BUCKET over S3 and at $MOUNTPOINT (Ctrl-C to stop)"
exec "$BIN" serve --mount "$BUCKET:$MOUNTPOINT" "$@"
