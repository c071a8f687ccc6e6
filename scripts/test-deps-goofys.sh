#!/usr/bin/env bash
# Build goofys's own Go test suite (package `internal` of github.com/kahing/goofys v0.24.0, with
# the module graph pinned in install-goofys.sh): goofys's source tree with the compiled test
# binary internal/goofys.test, which tests/e2e/goofys_suite.rs runs against `ozfs serve`.
# Idempotent (about 80 s the first time); needs Go (PATH or /usr/local/go/bin) and the Go
# module proxy. Destination: $OZFS_GOOFYS_SUITE, default /usr/local/libexec/ozfs-test/goofys-suite
# (the test reads the same variable and default).
set -euo pipefail
cd "$(dirname "$0")"
DEST=${OZFS_GOOFYS_SUITE:-/usr/local/libexec/ozfs-test/goofys-suite}
bash ./install-goofys.sh --suite "$DEST"
echo "test-deps-goofys: $DEST"
