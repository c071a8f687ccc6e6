#!/usr/bin/env bash
# ozfs's main job in one command: build ozfs, create a bucket in the embedded store if needed,
# then serve it from one process both as S3 (http://127.0.0.1:9878) and as a filesystem mounted
# at MOUNTPOINT. Ctrl-C stops the server and unmounts.
#
# Usage: ./scripts/run.sh [BUCKET [MOUNTPOINT [extra `ozfs serve` flags…]]]
#   BUCKET      default bucket1 (in the S3 volume, s3v)
#   MOUNTPOINT  default ~/ozfs/BUCKET
#   Data lives in $OZFS_DATA, else ~/.local/share/ozfs.
#   The built binary is linked as $OZFS_BIN_DIR/ozfs (default ~/.local/bin/ozfs), so the
#   README's `ozfs …` commands work from any shell that has that directory on its PATH.
#   The first release build takes about 3.5-4 minutes on 2 idle cores, longer on a busy machine
#   (see README.md).
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

log "building ozfs (release; the first build takes about 4 minutes on 2 idle cores, more on a busy machine; later ones seconds)"
cargo build --release -p ozfs-fuse --bin ozfs
BIN="$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)/ozfs"

# Put `ozfs` on the PATH: a symbolic link to the build, so a rebuild updates it.
BIN_DIR=${OZFS_BIN_DIR:-$HOME/.local/bin}
mkdir -p "$BIN_DIR"
ln -sfn "$BIN" "$BIN_DIR/ozfs"
log "linked $BIN_DIR/ozfs -> $BIN"
case ":$PATH:" in
    *":$BIN_DIR:"*) ;;
    *) log "$BIN_DIR is not on your PATH; add it with: export PATH=\"$BIN_DIR:\$PATH\"" ;;
esac

if ! "$BIN" sh bucket info "/$VOLUME/$BUCKET" >/dev/null 2>&1; then
    log "creating bucket /$VOLUME/$BUCKET"
    "$BIN" sh bucket create "/$VOLUME/$BUCKET"
fi
mkdir -p "$MOUNTPOINT"

DATA=${OZFS_DATA:-${XDG_DATA_HOME:-$HOME/.local/share}/ozfs}
log "starting: bucket /$VOLUME/$BUCKET, S3 endpoint and mount at $MOUNTPOINT, data in $DATA"
log "stop with Ctrl-C (the mount is unmounted on the way out)"
# `ozfs serve` prints the endpoint, the mount, the data directory and the metrics URL once it
# is ready, and "ozfs: stopped" when it has shut down.
status=0
"$BIN" serve --mount "$BUCKET:$MOUNTPOINT" "$@" || status=$?
if [ "$status" -eq 0 ] || [ "$status" -eq 130 ]; then
    log "ozfs stopped; $MOUNTPOINT is unmounted, the data stays in $DATA"
else
    log "ozfs exited with status $status"
fi
exit "$status"
