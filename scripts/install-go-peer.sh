#!/usr/bin/env bash
# install-go-peer.sh - build one benchmark peer's command from its Go module, at an exact version,
# from the Go module proxy only (no version lists: the proxy refuses @latest for some modules).
#
# Usage: install-go-peer.sh NAME DEST
#   NAME  weed   SeaweedFS `weed` (github.com/seaweedfs/seaweedfs, package ./weed)
#         minio  MinIO server (github.com/minio/minio, the module root)
#   DEST  where to install the binary (e.g. target/bench-tools/weed)
#
# Why not `go install MODULE/CMD@VERSION`: both modules' go.mod carry replace directives, which
# `go install pkg@version` refuses. So: `go mod download` the exact version, copy the source out
# of the read-only module cache and `go build` inside it, as its own main module (its go.sum is
# used as shipped). Idempotent: exits at once when DEST exists and runs. Built with `nice -n 19`
# (the machine is shared); each go step is bounded by INSTALL_GO_PEER_TIMEOUT seconds (2400).
set -euo pipefail

NAME=${1:?usage: install-go-peer.sh weed|minio DEST}
DEST=${2:?usage: install-go-peer.sh weed|minio DEST}
STEP_TIMEOUT=${INSTALL_GO_PEER_TIMEOUT:-2400}

case "$NAME" in
weed)
	MODULE=github.com/seaweedfs/seaweedfs
	VERSION=v0.0.0-20261109003541-7506e5f91cd6
	PKG=./weed
	CHECK=(version)
	;;
minio)
	MODULE=github.com/minio/minio
	VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
	PKG=.
	CHECK=(--version)
	;;
*)
	echo "install-go-peer: unknown peer $NAME (weed or minio)" >&2
	exit 2
	;;
esac

if [ -x "$DEST" ] && timeout 20 "$DEST" "${CHECK[@]}" >/dev/null 2>&1; then exit 0; fi

GO=$(command -v go 2>/dev/null || true)
[ -z "$GO" ] && [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go
[ -n "$GO" ] || { echo "install-go-peer: go is not installed" >&2; exit 1; }
export GOWORK=off GO111MODULE=on CGO_ENABLED=0 GOFLAGS=-buildvcs=false

BUILD=$(mktemp -d "${TMPDIR:-/tmp}/install-go-peer.XXXXXX")
trap 'chmod -R u+w "$BUILD" 2>/dev/null; rm -rf "$BUILD"' EXIT
LOG=$BUILD/log

run() {
	if ! timeout "$STEP_TIMEOUT" nice -n 19 "$@" >"$LOG" 2>&1; then
		echo "install-go-peer: $NAME: command failed: $*" >&2
		tail -40 "$LOG" >&2
		exit 1
	fi
}

cd "$BUILD"
run "$GO" mod download "$MODULE@$VERSION"
SRC="$("$GO" env GOMODCACHE)/$MODULE@$VERSION"
[ -f "$SRC/go.mod" ] || { echo "install-go-peer: $SRC/go.mod missing after download" >&2; exit 1; }
cp -R "$SRC/." "$BUILD/src"
chmod -R u+w "$BUILD/src"
cd "$BUILD/src"
run "$GO" build -trimpath -ldflags "-s -w" -o "$BUILD/bin" "$PKG"
mkdir -p "$(dirname "$DEST")"
install -m 0755 "$BUILD/bin" "$DEST"
timeout 20 "$DEST" "${CHECK[@]}" >/dev/null 2>&1 || { echo "install-go-peer: $DEST does not run" >&2; exit 1; }
