#!/usr/bin/env bash
# Install what the FUSE tests and benchmarks use, idempotently: fuse3 (fusermount3 and the
# kernel interface), attr (setfattr/getfattr for the xattr scenarios), s3fs (the peer that must
# read back what ozfs writes), python3 (copytree / fork scenarios). Safe to run repeatedly;
# installs only what is missing. Needs root (or sudo) for apt-get.
set -euo pipefail

need=()
command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
command -v setfattr >/dev/null 2>&1 || need+=(attr)
command -v s3fs >/dev/null 2>&1 || need+=(s3fs)
command -v python3 >/dev/null 2>&1 || need+=(python3)

if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y --no-install-recommends "${need[@]}"; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "${need[@]}"
  fi
fi

if [ ! -c /dev/fuse ]; then
  echo "test-deps-fuse: /dev/fuse is missing (load the fuse module: modprobe fuse)" >&2
  exit 1
fi
echo "test-deps-fuse: fusermount3 $(fusermount3 -V 2>&1 | awk '{print $NF}'), $(setfattr --version 2>&1 | head -1), $(s3fs --version 2>&1 | head -1)"
