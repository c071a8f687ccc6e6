#!/usr/bin/env bash
# FUSE benchmark: ozfs mount of the embedded store, and — when the `ozfs` binary can serve the
# S3 endpoint with a mount in the same process (`ozfs serve --mount`) — s3fs mounting the same
# bucket through that endpoint, measured in the same run.
#
# Workloads (each prints one line: "<fs> <workload> <value> <unit>"):
#   seq_write     dd 1 MiB blocks of SIZE_MB MiB, then close (upload)            MB/s
#   cold_read     read of a file not in the kernel's or ozfs's page cache          MB/s
#   cached_read   second read of the same file                                     MB/s
#   ls_l_10k      ls -l of a 10,000-entry directory (fresh mount, nothing cached)  s
#   create_1000   create+close of 1,000 small files, one after another             s
#   peak_rss      peak resident memory of the ozfs process                         MiB
#
# Usage: scripts/bench-fuse.sh [SIZE_MB]   (default 1024). Needs root (FUSE mounts), a release
# build (`cargo build --release -p ozfs-fuse --examples` or the ozfs binary), fuse3 and s3fs
# (scripts/test-deps-fuse.sh). Bounded: every step has a timeout; all mounts are unmounted and
# every process it started is stopped on exit.
set -euo pipefail

SIZE_MB=${1:-1024}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN="$TARGET/release/ozfs"
MOUNT_BIN="$TARGET/release/examples/ozfs_mount"
WORK=$(mktemp -d /tmp/ozfs-bench.XXXXXX)
DATA="$WORK/data"
MNT="$WORK/ozfs"
S3FS_MNT="$WORK/s3fs"
PIDS=()
mkdir -p "$DATA" "$MNT" "$S3FS_MNT"

cleanup() {
  for m in "$S3FS_MNT" "$MNT"; do
    if grep -q " $m " /proc/mounts; then umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; fi
  done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }
report() { printf '%-6s %-12s %10.3f %s\n' "$1" "$2" "$3" "$4"; }

have_serve_mount() {
  [ -x "$BIN" ] && "$BIN" serve --help 2>/dev/null | grep -q -- '--mount'
}

PEAK=0
note_peak() { # keep the largest VmHWM seen of the ozfs process(es)
  local k
  k=$(awk '/VmHWM/ {print $2}' "/proc/${OZFS_PID:-0}/status" 2>/dev/null || echo 0)
  [ "${k:-0}" -gt "$PEAK" ] && PEAK=$k
  return 0
}

wait_mounted() {
  for _ in $(seq 1 100); do grep -q " $1 " /proc/mounts && return 0; sleep 0.1; done
  echo "bench: $1 did not mount" >&2
  return 1
}

pid_of_mount_daemon() {
  # The daemon is the process whose command line names our unique mount point.
  for d in /proc/[0-9]*; do
    if tr '\0' ' ' < "$d/cmdline" 2>/dev/null | grep -q -- "$MNT"; then basename "$d"; return 0; fi
  done
  return 1
}

workloads() { # $1 = label, $2 = mount point, $3 = remount command (for cold runs)
  local label=$1 mnt=$2 remount=$3 t
  mkdir -p "$mnt/bench"
  t=$(now)
  timeout 600 dd if=/dev/zero of="$mnt/bench/big" bs=1M count="$SIZE_MB" status=none
  report "$label" seq_write "$(echo "$SIZE_MB / $(elapsed "$t")" | bc -l)" MB/s

  mkdir -p "$mnt/bench/many"
  t=$(now)
  for i in $(seq 1 1000); do echo "$i" > "$mnt/bench/many/f$i"; done
  report "$label" create_1000 "$(elapsed "$t")" s

  # 10,000 entries (setup, not measured): 9,000 more files, created in parallel
  seq 1001 10000 | timeout 600 xargs -P 8 -n 200 sh -c 'for i; do : > "$0/f$i"; done' "$mnt/bench/many"

  eval "$remount"
  t=$(now)
  n=$(timeout 120 ls -l "$mnt/bench/many" | wc -l)
  report "$label" ls_l_10k "$(elapsed "$t")" s
  [ "$n" -ge 10000 ] || echo "bench: $label listed only $n lines" >&2

  eval "$remount"
  t=$(now)
  timeout 600 cat "$mnt/bench/big" > /dev/null
  report "$label" cold_read "$(echo "$SIZE_MB / $(elapsed "$t")" | bc -l)" MB/s
  t=$(now)
  timeout 600 cat "$mnt/bench/big" > /dev/null
  report "$label" cached_read "$(echo "$SIZE_MB / $(elapsed "$t")" | bc -l)" MB/s
}

echo "# ozfs FUSE benchmark, $(date -u +%FT%TZ), file size ${SIZE_MB} MiB, $(nproc) cores"

if have_serve_mount; then
  PORT=$((20000 + RANDOM % 20000))
  "$BIN" sh bucket create /s3v/bench --data "$DATA" > /dev/null
  "$BIN" serve --data "$DATA" --listen "127.0.0.1:$PORT" --mount "bench:$MNT" &
  SERVE=$!
  PIDS+=("$SERVE")
  wait_mounted "$MNT"
  # the bucket exists because the mount names it; s3fs mounts it through the endpoint
  echo "bench:bench" > "$WORK/passwd"; chmod 600 "$WORK/passwd"
  s3fs bench "$S3FS_MNT" -o "url=http://127.0.0.1:$PORT,use_path_request_style,passwd_file=$WORK/passwd,stat_cache_expire=1"
  wait_mounted "$S3FS_MNT"
  OZFS_PID=$SERVE
  # "remount" here = drop the kernel's caches (the serving process keeps running for s3fs); the
  # first read of a file written through the mount is cold in ozfs's page cache anyway.
  workloads ozfs "$MNT" 'echo 2 > /proc/sys/vm/drop_caches'
  rm -rf "$MNT/bench"
  workloads s3fs "$S3FS_MNT" 'echo 2 > /proc/sys/vm/drop_caches'
else
  [ -x "$MOUNT_BIN" ] || { echo "bench: build first: cargo build --release -p ozfs-fuse --examples" >&2; exit 1; }
  echo "# (ozfs serve --mount not available: s3fs skipped)"
  mount_ozfs() {
    "$MOUNT_BIN" mount --data "$DATA" bench "$MNT"
    wait_mounted "$MNT"
  }
  "$TARGET/release/examples/create_bucket" "$DATA" bench
  mount_ozfs
  OZFS_PID=$(pid_of_mount_daemon)
  PEAK=0
  remount='note_peak; umount "$MNT"; sleep 0.5; mount_ozfs; OZFS_PID=$(pid_of_mount_daemon)'
  workloads ozfs "$MNT" "$remount"
fi

note_peak
report ozfs peak_rss "$(echo "$PEAK / 1024" | bc -l)" MiB
