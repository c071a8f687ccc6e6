#!/usr/bin/env bash
# install-goofys.sh - build goofys v0.24.0 (test peer for ozfs) from the Go module proxy only.
#
# Usage: install-goofys.sh [DEST]        (DEST defaults to /usr/local/bin/goofys)
#        install-goofys.sh --suite DIR     build goofys's own test suite instead, from the same
#                                          pinned module graph: DIR gets goofys's source tree
#                                          (its tests run ../test/fuse-test.sh and
#                                          ../bench/bench.sh from internal/) and the compiled
#                                          `go test` binary DIR/internal/goofys.test
#                                          (tests/e2e/goofys_suite.rs runs it)
#
# Why this script exists:
#   * `go install github.com/kahing/goofys@latest` cannot work: the proxy refuses the version
#     list (403), so only exact versions can be fetched.
#   * The v0.24.0 tag (2020-04-04) predates goofys's go.mod (it used git submodules under vendor/),
#     so the dependencies must be chosen by hand. `go mod tidy` alone picks today's versions,
#     which do not compile (azure-sdk-for-go, azure-storage-blob-go, satori/go.uuid, and the
#     fuseops.OpMetadata API that only exists in goofys's fork of jacobsa/fuse).
#   * The pins below are versions of goofys's own era (2019-2020; the fuse fork commit is the
#     one goofys's upstream go.mod replaced jacobsa/fuse with). All verified to build with
#     go1.26 and CGO_ENABLED=0.
#
# Behaviour: idempotent (exits at once if DEST exists and `DEST --version` works), quiet unless
# something fails (then the failing command's output goes to stderr and the exit status is 1).
# It also makes sure a `fusermount` command exists (goofys runs `fusermount` to mount as
# non-root and to unmount on SIGINT/SIGTERM); if only fusermount3 exists, it links
# fusermount -> fusermount3 next to it; if neither exists and apt-get is usable as root,
# it installs fuse3.
#
# Using the binary against an S3 endpoint that is not AWS: pass `--region us-east-1` (or any
# region). Without --region, goofys first sends an UNSIGNED `HEAD /bucket`; if that answers 200,
# goofys switches to anonymous (unsigned) credentials for the whole mount (log line
# "anonymous bucket detected") and writes then fail with EACCES on an endpoint that checks auth.
# Example:
#   AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
#     goofys -f --region us-east-1 --endpoint http://127.0.0.1:9878 bucket /mnt/point
set -euo pipefail

MODE=binary
if [ "${1:-}" = "--suite" ]; then
	MODE=suite
	DEST=${2:?install-goofys: --suite needs a destination directory}
else
	DEST=${1:-/usr/local/bin/goofys}
fi
GOOFYS_MODULE=github.com/kahing/goofys
GOOFYS_VERSION=v0.24.0
STEP_TIMEOUT=${INSTALL_GOOFYS_TIMEOUT:-1200}   # seconds per go/apt step

# path version  (direct and test-only requirements of goofys v0.24.0, all pinned)
PINS='github.com/Azure/azure-pipeline-go v0.2.1
github.com/Azure/azure-sdk-for-go v32.5.0+incompatible
github.com/Azure/azure-storage-blob-go v0.8.0
github.com/Azure/go-autorest/autorest v0.9.0
github.com/Azure/go-autorest/autorest/adal v0.6.0
github.com/Azure/go-autorest/autorest/azure/auth v0.1.0
github.com/Azure/go-autorest/autorest/azure/cli v0.1.0
github.com/Azure/go-autorest/autorest/to v0.2.0 // indirect
github.com/Azure/go-autorest/autorest/validation v0.1.0 // indirect
github.com/aws/aws-sdk-go v1.30.0
github.com/google/uuid v1.1.1
github.com/jacobsa/fuse v0.0.0-20200327063725-ca77844c7bcc
github.com/kardianos/osext v0.0.0-20190222173326-2bc1f35cddc0
github.com/kylelemons/godebug v1.1.0 // indirect
github.com/mitchellh/go-homedir v1.1.0
github.com/satori/go.uuid v1.2.1-0.20181028125025-b2ce2384e17b
github.com/sevlyar/go-daemon v0.1.5
github.com/shirou/gopsutil v0.0.0-20190731134726-d80c43f9c984
github.com/sirupsen/logrus v1.4.3-0.20190807103436-de736cf91b92
github.com/smartystreets/goconvey v1.6.4 // indirect
github.com/urfave/cli v1.21.1-0.20190807111034-521735b7608a
golang.org/x/sys v0.0.0-20200323222414-85ca7c5b95cd
gopkg.in/check.v1 v1.0.0-20190902080502-41f04d3bba15
gopkg.in/ini.v1 v1.46.0'
# goofys v0.24.0 vendored kahing/fusego (a fork of jacobsa/fuse with fuseops.OpMetadata).
FUSE_REPLACE='github.com/jacobsa/fuse => github.com/kahing/fusego v0.0.0-20200327063725-ca77844c7bcc'

die() {
	echo "install-goofys: $*" >&2
	exit 1
}

# run CMD...: run quietly with a time bound; on failure show its output and exit.
run() {
	local log rc=0
	log=$(mktemp)
	if command -v timeout >/dev/null 2>&1; then
		timeout "$STEP_TIMEOUT" "$@" >"$log" 2>&1 || rc=$?
	else
		"$@" >"$log" 2>&1 || rc=$?
	fi
	if [ "$rc" -ne 0 ]; then
		echo "install-goofys: command failed (exit $rc): $*" >&2
		cat "$log" >&2
		rm -f "$log"
		exit 1
	fi
	rm -f "$log"
}

is_root() { [ "$(id -u)" -eq 0 ]; }

ensure_fusermount() {
	command -v fusermount >/dev/null 2>&1 && return 0
	if ! command -v fusermount3 >/dev/null 2>&1; then
		if is_root && command -v apt-get >/dev/null 2>&1; then
			export DEBIAN_FRONTEND=noninteractive
			if ! (timeout "$STEP_TIMEOUT" apt-get install -y -q fuse3 >/dev/null 2>&1); then
				run apt-get update -q
				run apt-get install -y -q fuse3
			fi
		fi
	fi
	command -v fusermount >/dev/null 2>&1 && return 0
	local f3
	f3=$(command -v fusermount3 2>/dev/null) ||
		die "goofys is installed at $DEST but neither fusermount nor fusermount3 exists; install fuse3"
	ln -s "$f3" "$(dirname "$f3")/fusermount" 2>/dev/null ||
		die "cannot create $(dirname "$f3")/fusermount -> $f3 (goofys calls 'fusermount'); create it as root"
}

# answers_version BIN: BIN runs and prints "goofys version ...".
answers_version() {
	local out
	out=$("$1" --version 2>&1) || return 1   # goofys prints it on stderr
	case "$out" in "goofys version"*) return 0 ;; *) return 1 ;; esac
}

# lists_suite BIN: BIN is a Go test binary that knows goofys's top-level `Test`.
lists_suite() {
	local out
	out=$("$1" -test.list '^Test$' 2>&1) || return 1
	[ "$out" = "Test" ]
}

installed_ok() {
	if [ "$MODE" = suite ]; then
		[ -x "$DEST/internal/goofys.test" ] && [ -x "$DEST/test/fuse-test.sh" ] &&
			lists_suite "$DEST/internal/goofys.test"
	else
		[ -x "$DEST" ] && answers_version "$DEST"
	fi
}

if installed_ok; then
	ensure_fusermount
	exit 0
fi

GO=$(command -v go 2>/dev/null || true)
[ -z "$GO" ] && [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go
[ -n "$GO" ] || die "go is not installed (need Go >= 1.18 in PATH)"

export GOWORK=off GO111MODULE=on CGO_ENABLED=0 GOFLAGS=-buildvcs=false

BUILD=$(mktemp -d "${TMPDIR:-/tmp}/install-goofys.XXXXXX")
trap 'chmod -R u+w "$BUILD" 2>/dev/null; rm -rf "$BUILD"' EXIT

# 1. Fetch the exact goofys version into the module cache (works although @latest is refused).
cd "$BUILD"
run "$GO" mod download "$GOOFYS_MODULE@$GOOFYS_VERSION"
SRC="$("$GO" env GOMODCACHE)/$GOOFYS_MODULE@$GOOFYS_VERSION"
[ -f "$SRC/main.go" ] || die "goofys source not found at $SRC after download"

# 2. Copy it out of the (read-only) module cache.
cp -R "$SRC/." "$BUILD/src"
chmod -R u+w "$BUILD/src"
cd "$BUILD/src"

# 3. go.mod with the pinned requirements; tidy only fills go.sum (checked against sum.golang.org).
{
	printf 'module %s\n\ngo 1.14\n\nrequire (\n' "$GOOFYS_MODULE"
	printf '%s\n' "$PINS" | sed 's/^/\t/'
	printf ')\n\nreplace %s\n' "$FUSE_REPLACE"
} >go.mod
run "$GO" mod tidy

# tidy must not have moved any pin.
ACTUAL=$("$GO" list -m -f '{{.Path}} {{.Version}}' all)
while read -r path version _; do
	grep -qxF "$path $version" <<<"$ACTUAL" ||
		die "go mod tidy changed the pin $path $version; go.mod is now:
$(cat go.mod)"
done <<<"$PINS"

# 4. Build (static, no cgo) and install.
if [ "$MODE" = suite ]; then
	run "$GO" test -c -trimpath -o "$BUILD/src/internal/goofys.test" ./internal
	# Module zips drop the executable bits; the FUSE tests exec these scripts.
	find "$BUILD/src" -name '*.sh' -exec chmod 0755 {} +
	lists_suite "$BUILD/src/internal/goofys.test" || die "built test binary does not list goofys's Test"
	rm -rf "$DEST.new"
	mkdir -p "$(dirname "$DEST")"
	cp -R "$BUILD/src" "$DEST.new"
	rm -rf "$DEST"
	mv "$DEST.new" "$DEST"
	installed_ok || die "installed $DEST but $DEST/internal/goofys.test does not list goofys's Test"
	ensure_fusermount
	exit 0
fi
run "$GO" build -trimpath -ldflags "-s -w -X main.Version=modproxy" -o "$BUILD/goofys" .
answers_version "$BUILD/goofys" ||
	die "built binary does not answer --version"
mkdir -p "$(dirname "$DEST")"
install -m 0755 "$BUILD/goofys" "$DEST"
installed_ok || die "installed $DEST but '$DEST --version' fails"

ensure_fusermount
