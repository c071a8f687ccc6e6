#!/usr/bin/env bash
# The whole ozfs test suite on a fresh machine: installs, up front and only here, everything the
# tests use (fuse3, attr, s3fs; the aws CLI / boto3 / s3cmd Python clients, rclone, moto's S3
# server; Java and Maven for Ozone; Chromium; Go, goofys and goofys's own Go test suite — through
# scripts/test-deps-*.sh; no test installs anything, a test whose tool is missing fails and
# names the script), then runs
# `cargo test --workspace` and prints the summary of every test binary.
# Usage: ./scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }

# ---- a Rust toolchain ----
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    log "installing the Rust toolchain (rustup)"
    command -v curl >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl ca-certificates; }
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
fi

# ---- test dependencies (owned by the FUSE and gateway test suites) ----
# A failed install does not stop the run: the tests that need the missing tool fail and say
# which one, the others still run; the summary repeats the install failure.
deps_failed=()
for deps in scripts/test-deps-fuse.sh scripts/test-deps-s3.sh scripts/test-deps-ozone.sh scripts/test-deps-browser.sh scripts/test-deps-goofys.sh; do
    if [ -f "$deps" ]; then
        log "installing test dependencies: $deps"
        bash "$deps" < /dev/null || deps_failed+=("$deps")
    else
        log "note: $deps not found; tests needing its tools will say so"
    fi
done

# Go from the official tarball lives in /usr/local/go/bin (the aws-sdk-go check runs `go`).
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    export PATH="/usr/local/go/bin:$PATH"
fi

# ---- the tests ----
log "cargo test --workspace --no-fail-fast $*"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
set +e
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e

# ---- summary ----
awk '
    /^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i) ~ /^(passed|failed|ignored);?$/) { k = $(i); sub(/;/, "", k); n[k] += $(i-1) }
        }
        bins++
    }
    END {
        printf "\n==> summary: %d test binaries, %d passed, %d failed, %d ignored\n",
            bins, n["passed"], n["failed"], n["ignored"]
    }' "$out"
grep -E '^test .* \.\.\. FAILED$' "$out" | sed 's/^/    /' || true
for d in ${deps_failed[@]+"${deps_failed[@]}"}; do log "warning: $d failed; see its output above"; done
if [ "$status" -eq 0 ]; then log "all tests passed"; else log "cargo test failed (exit $status)"; fi
exit "$status"
