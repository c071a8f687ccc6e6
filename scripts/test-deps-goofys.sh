#!/usr/bin/env bash
# The Go side of the tests, installed up front (the tests build and fetch nothing themselves):
#  * Go itself (PATH or /usr/local/go/bin; else Debian's golang-go);
#  * the goofys v0.24.0 binary (tests/e2e/goofys.rs and the SigV2 fallback check in
#    src/sigv4/tests/fuse_clients.rs), built from the Go module proxy by install-goofys.sh into
#    $OZFS_GOOFYS, default /usr/local/bin/goofys (the tests read the same variable, else PATH);
#  * goofys's own Go test suite (package `internal` of github.com/kahing/goofys v0.24.0, with
#    the module graph pinned in install-goofys.sh): goofys's source tree with the compiled test
#    binary internal/goofys.test, which tests/e2e/goofys_suite.rs runs against `ozfs serve`.
#    Destination: $OZFS_GOOFYS_SUITE, default /usr/local/libexec/ozfs-test/goofys-suite (the
#    test reads the same variable and default);
#  * the aws-sdk-go module of src/sigv4/tests/awssdkgo (into the Go module cache).
# Idempotent (about 3 minutes the first time); needs the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
    echo "test-deps-goofys: installing Go (golang-go)"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null 2>&1 || {
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go
    }
fi
BIN=${OZFS_GOOFYS:-/usr/local/bin/goofys}
bash ./install-goofys.sh "$BIN"
DEST=${OZFS_GOOFYS_SUITE:-/usr/local/libexec/ozfs-test/goofys-suite}
bash ./install-goofys.sh --suite "$DEST"
(cd ../src/sigv4/tests/awssdkgo && GOFLAGS=-mod=mod go mod download)
echo "test-deps-goofys: $(go version), goofys $BIN, suite $DEST"
