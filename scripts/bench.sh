#!/usr/bin/env bash
# The benchmark command: builds in release and runs every benchmark of the project in one go,
# each printing its figures beside the limits it measured in the same run (MD5 and SHA-256 per
# core, loopback TCP, disk write + fdatasync) and the peers it compares with (s3fs on the same
# bucket). Figures go to stdout and to target/bench-results.txt; docs/benchmarks.md records a run.
# Usage: ./scripts/bench.sh            (needs root for the FUSE mounts; installs test deps)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${CARGO_TARGET_DIR:-target}/bench-results.txt"
mkdir -p "$(dirname "$out")"
bash scripts/test-deps-fuse.sh < /dev/null
bash scripts/test-deps-s3.sh < /dev/null
{
    echo "# ozfs benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "## embedded store (cargo bench -p ozfs --bench store)"
    cargo bench -q -p ozfs --bench store
    echo "## S3 endpoint (cargo bench -p ozfs-gateway --bench s3)"
    cargo bench -q -p ozfs-gateway --bench s3
    echo "## FUSE mount vs s3fs (cargo bench -p ozfs-fuse --bench fuse)"
    cargo bench -q -p ozfs-fuse --bench fuse
} 2>&1 | tee "$out"
