#!/usr/bin/env bash
# The long crash-consistency run of issue 13: ROUNDS (default 100) rounds of a random workload
# through both doors of `ozfs serve --mount` (S3 PUT, multipart, copy, delete, DeleteObjects,
# link changes; writes, appends, truncates, renames, rm -rf on the mount), each ended by a
# SIGKILL and checked against the model of acknowledged operations.
# Usage: ./scripts/crash-check.sh [ROUNDS] [SEED]   (needs root or /dev/fuse access, fuse3)
set -euo pipefail
cd "$(dirname "$0")/.."
export OZFS_CRASH_ROUNDS="${1:-100}"
if [ -n "${2:-}" ]; then export OZFS_CRASH_SEED="$2"; fi
cargo test -p ozfs-fuse --test reliability crash_consistency_of_both_doors -- --nocapture 2>&1 \
    | grep -E '^crash check|panicked|^test |test result' 
