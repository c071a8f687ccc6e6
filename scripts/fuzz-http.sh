#!/usr/bin/env bash
# The long run of the hostile-HTTP fuzzer (issue 13, item 5): mutates real signed S3 requests
# against an in-process endpoint for SECS seconds (default 600); fails on a panic, a request
# neither answered nor closed within 30 s, an error without S3 XML, or RSS growth over 64 MiB.
# Usage: ./scripts/fuzz-http.sh [SECS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
export OZFS_FUZZ_SECS="${1:-600}"
if [ -n "${2:-}" ]; then export OZFS_FUZZ_SEED="$2"; fi
cargo test -p ozfs-gateway --test hostile fuzzed_signed_requests_never_panic_hang_or_grow_memory -- --nocapture 2>&1 \
    | grep -E '^fuzz:|panicked|^test |test result'
