#!/bin/sh
# Install the S3 clients and servers the tests drive, idempotently and quietly: the aws CLI,
# boto3 and s3cmd (PyPI) for the end-to-end S3 scripts, rclone (Debian's package) for
# tests/e2e/rclone.rs and the SigV4 real-client check, and moto's S3 server (`moto[server]`,
# PyPI) that tests/core_remote.rs runs RemoteStore against. The tests install nothing
# themselves: without these they fail and name this script. Exits non-zero with a message when
# something cannot be installed. `test-deps-s3.sh --check` installs nothing: it only says what
# is missing (the tests run it that way).
set -u
have_py() {
    python3 -c 'import boto3, botocore, moto.server, flask, flask_cors' >/dev/null 2>&1 &&
        command -v aws >/dev/null 2>&1 && aws --version >/dev/null 2>&1 &&
        command -v s3cmd >/dev/null 2>&1 && s3cmd --version >/dev/null 2>&1
}
have_rclone() { command -v rclone >/dev/null 2>&1 && rclone version >/dev/null 2>&1; }
if have_py && have_rclone; then
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    have_py || echo "test-deps-s3: missing one of python3, boto3, moto[server], the aws CLI, s3cmd" >&2
    have_rclone || echo "test-deps-s3: missing rclone" >&2
    echo "test-deps-s3: run scripts/test-deps-s3.sh (scripts/test.sh does) to install them" >&2
    exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "test-deps-s3: python3 is required (apt-get install -y python3 python3-pip)" >&2
    exit 1
fi
if ! have_py; then
    python3 -m pip install --quiet --disable-pip-version-check awscli boto3 s3cmd 'moto[server]' >/dev/null 2>&1 ||
        python3 -m pip install --quiet --disable-pip-version-check --break-system-packages awscli boto3 s3cmd 'moto[server]' >/dev/null 2>&1
    # pyenv installs console scripts as shims that need a rehash.
    command -v pyenv >/dev/null 2>&1 && pyenv rehash >/dev/null 2>&1
fi
if ! have_rclone; then
    as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null 2>&1 || {
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null 2>&1
    }
fi
status=0
if ! have_py; then
    echo "test-deps-s3: could not install awscli, boto3, s3cmd and moto[server] with pip" >&2
    status=1
fi
if ! have_rclone; then
    echo "test-deps-s3: could not install rclone with apt-get" >&2
    status=1
fi
exit $status
