#!/bin/sh
# Install the S3 clients the end-to-end S3 tests drive (aws CLI, boto3, s3cmd), idempotently
# and quietly. Exits non-zero with a message when they cannot be installed.
set -u
have() {
    python3 -c 'import boto3, botocore' >/dev/null 2>&1 &&
        command -v aws >/dev/null 2>&1 && aws --version >/dev/null 2>&1 &&
        command -v s3cmd >/dev/null 2>&1 && s3cmd --version >/dev/null 2>&1
}
if have; then
    exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "test-deps-s3: python3 is required (apt-get install -y python3 python3-pip)" >&2
    exit 1
fi
python3 -m pip install --quiet --disable-pip-version-check awscli boto3 s3cmd >/dev/null 2>&1 ||
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages awscli boto3 s3cmd >/dev/null 2>&1
# pyenv installs console scripts as shims that need a rehash.
command -v pyenv >/dev/null 2>&1 && pyenv rehash >/dev/null 2>&1
if ! have; then
    echo "test-deps-s3: could not install awscli, boto3 and s3cmd with pip" >&2
    exit 1
fi
