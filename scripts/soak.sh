#!/usr/bin/env bash
# The long soak of issue 13 (item 6): mixed S3 + mount load from 5 clients against one
# `ozfs serve --mount --cache-size 64M` for SECS seconds (default 1800 = 30 minutes); fails on
# any error, RSS above the cache budget + margin, descriptor growth, or a wrong final read-back.
# Usage: ./scripts/soak.sh [SECS]   (needs root or /dev/fuse access, fuse3)
set -euo pipefail
cd "$(dirname "$0")/.."
export OZFS_SOAK_SECS="${1:-1800}"
cargo test -p ozfs-fuse --test reliability soak_mixed_s3_and_mount_load -- --nocapture 2>&1 \
    | grep -E '^soak:|panicked|^test |test result'
