#!/usr/bin/env bash
# The benchmark command: sets up, runs and tears down every peer on the same workloads in one run,
# measures the machine's limits in the same run, and regenerates docs/benchmarks.md (figures,
# ratios vs ozfs, targets of issue 10 met / not met, PNG plots in docs/bench/).
#
#   ./scripts/bench.sh                 full run (needs root: FUSE mounts, apt, drop_caches)
#   BENCH_QUICK=1 ./scripts/bench.sh   small sizes: smoke-tests the harness in a few minutes
#
# Peers
#   FUSE, on one bucket served by `ozfs serve` (embedded store, durable):
#     ozfs-inproc (`ozfs serve --mount`), ozfs-endpoint (`ozfs mount --endpoint`), goofys
#     (scripts/install-goofys.sh), rclone mount (--vfs-cache-mode writes), s3fs (Debian), and
#     weed (SeaweedFS `weed mount` on its own store, `weed mini`).
#   S3, all driven by one load generator (benches/s3load, aws-sdk-go-v2): ozfs (`ozfs serve`),
#     minio (single drive), weed (`weed mini` S3), ozone (Apache Ozone's S3 gateway,
#     tests/ozone/cluster.sh).
# A peer that cannot be built or started is recorded as such (with the reason) in the doc; the
# run goes on with the others.
#
# Environment (defaults for a full run; BENCH_QUICK=1 lowers them):
#   BENCH_FUSE_PEERS   "ozfs-inproc ozfs-endpoint goofys rclone s3fs weed"
#   BENCH_S3_PEERS     "ozfs minio weed ozone"
#   BENCH_FILE_MIB     1024   big file (FUSE seq read/write) and the large single-part PUT/GET
#   BENCH_LS_ENTRIES   10000  entries of the `ls -l` directory
#   BENCH_SMALL_FILES  1000   create/stat/delete
#   BENCH_TREE_FANOUT  10     `find` tree: FANOUT dirs x FANOUT dirs x FANOUT files
#   BENCH_RAND_OPS     2000   random 4 KiB reads
#   BENCH_TTFB_SAMPLES 5      time-to-first-byte samples per FUSE peer (each on a fresh mount)
#   BENCH_SAMPLES      3      samples per FUSE peer of each cold or fresh-mount workload (cold
#                             reads, `ls -l`, `find`), each on a fresh mount; the median is the figure
#   BENCH_S3_SECS      10     duration of each S3 ops/s phase
#   BENCH_S3_KEYS      1000   objects a 4 KiB GET/HEAD phase reads
#   BENCH_LIST_KEYS    100000 keys of the LIST workload
#   BENCH_BIG_MIB      64     size of the c4 large-object PUT/GET
#   BENCH_STEP_TIMEOUT 900    bound of one workload, seconds (BENCH_LIST_TIMEOUT 2700 for LIST)
#   BENCH_CACHE        512M   ozfs page-cache budget (peak RSS target: budget + 100 MiB)
#   BENCH_CARGO        1      also run the project's cargo benches (raw output in the doc)
#   BENCH_OZFS         the ozfs binary (default: a release build made by this script)
#   BENCH_DOC          docs/benchmarks.md (BENCH_QUICK writes target/bench/benchmarks-quick.md)
# Peak RSS: per workload (the high-water mark of the peer's processes, reset before each workload;
# sections s3-rss and fuse-rss of results.tsv) and over the whole run (peak_rss).
# Every step is bounded by `timeout`; every mount is unmounted and every process this script
# started is stopped by PID on exit, failure included.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
QUICK=${BENCH_QUICK:-0}
q() { if [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi; }
FUSE_PEERS=${BENCH_FUSE_PEERS:-ozfs-inproc ozfs-endpoint goofys rclone s3fs weed}
S3_PEERS=${BENCH_S3_PEERS:-ozfs minio weed ozone}
FILE_MIB=${BENCH_FILE_MIB:-$(q 1024 32)}
LS_ENTRIES=${BENCH_LS_ENTRIES:-$(q 10000 300)}
SMALL_FILES=${BENCH_SMALL_FILES:-$(q 1000 50)}
FANOUT=${BENCH_TREE_FANOUT:-$(q 10 3)}
RAND_OPS=${BENCH_RAND_OPS:-$(q 2000 100)}
TTFB_SAMPLES=${BENCH_TTFB_SAMPLES:-$(q 5 3)}
SAMPLES=${BENCH_SAMPLES:-$(q 3 1)}
S3_SECS=${BENCH_S3_SECS:-$(q 10 1)}
S3_KEYS=${BENCH_S3_KEYS:-$(q 1000 64)}
LIST_KEYS=${BENCH_LIST_KEYS:-$(q 100000 2000)}
BIG_MIB=${BENCH_BIG_MIB:-$(q 64 8)}
CACHE=${BENCH_CACHE:-512M}
CARGO_BENCHES=${BENCH_CARGO:-$(q 1 0)}
DOC=${BENCH_DOC:-$(q docs/benchmarks.md "$TARGET/bench/benchmarks-quick.md")}
STEP=${BENCH_STEP_TIMEOUT:-$(q 900 120)}   # seconds any single workload may take
LIST_STEP=${BENCH_LIST_TIMEOUT:-$(q 2700 300)} # seconds the LIST workload may take, key creation included

OUT=$TARGET/bench
TOOLS=$TARGET/bench-tools
RESULTS=$OUT/results.tsv
STATUS=$OUT/status.tsv
mkdir -p "$OUT" "$TOOLS"
: >"$RESULTS"
: >"$STATUS"
: >"$OUT/commands.tsv"
WORK=$(mktemp -d /tmp/ozfs-bench.XXXXXX)
LOGS=$OUT/logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=benchsecret123456 AWS_REGION=us-east-1
# every endpoint here is plain http on loopback; a CA bundle in the environment makes rclone fail
unset AWS_CA_BUNDLE AWS_PROFILE
export GOWORK=off GOFLAGS=-buildvcs=false
PATH=$PATH:/usr/local/go/bin
OZFS=${BENCH_OZFS:-$TARGET/release/ozfs}
S3LOAD=$TOOLS/s3load
WEED=$TOOLS/weed
MINIO=$TOOLS/minio
GOOFYS=$TOOLS/goofys
T0=$(date +%s)

say() { echo "bench: $*" >&2; }
# record SECTION PEER WORKLOAD VALUE UNIT
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }
# status SECTION PEER ok|skipped|failed TEXT   (why a peer is missing, what it ran with)
status() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$STATUS"; }

# ---------------------------------------------------------------- processes and mounts
# Every process and mount is registered in a file, so subshells' registrations survive and the
# exit trap of the main shell can tear everything down.
: >"$WORK/pids"
: >"$WORK/mounts"
is_mounted() { awk -v m="$1" '$2 == m {f=1} END {exit !f}' /proc/mounts; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
# wait_until SECONDS CMD...: poll CMD every 0.1 s until it succeeds or SECONDS pass
wait_until() {
	local end=$(($(date +%s) + $1))
	shift
	while ! "$@" 2>/dev/null; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.1
	done
}
# start NAME CMD...: run CMD in the background, logging to $LOGS/NAME.log; sets $PID
start() {
	local name=$1
	shift
	printf '%s\t%s\n' "$name" "$*" >>"$OUT/commands.tsv"
	"$@" >>"$LOGS/$name.log" 2>&1 <"${START_STDIN:-/dev/null}" &
	PID=$!
	echo "$PID" >>"$WORK/pids"
}
# descendants PID: PID and all its descendants
descendants() {
	local p=$1 c
	echo "$p"
	for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do descendants "$c"; done
}
# peak_rss_mib PID: sum of VmHWM over PID's process tree, MiB
peak_rss_mib() {
	local k=0 p v
	for p in $(descendants "$1"); do
		v=$(awk '/^VmHWM/ {print $2}' /proc/"$p"/status 2>/dev/null || true)
		k=$((k + ${v:-0}))
	done
	echo $((k / 1024))
}
# Peak RSS per workload: the kernel's high-water mark (VmHWM) of every process of a peer's tree is
# reset (`echo 5 > /proc/PID/clear_refs`) before a workload and read after it. PEAK keeps the
# whole-run figure: every reading is folded into it before a reset.
PEAK=0
# hwm_reset PID: fold the tree's current peak into PEAK, then reset each process's VmHWM
hwm_reset() {
	local p r
	alive "$1" || return 0
	r=$(peak_rss_mib "$1")
	[ "$r" -gt "$PEAK" ] && PEAK=$r
	for p in $(descendants "$1"); do echo 5 >/proc/"$p"/clear_refs 2>/dev/null || true; done
}
# rss_point SECTION PEER WORKLOAD PID: record the tree's peak RSS since the last reset, then reset
rss_point() {
	alive "$4" || return 0
	record "$1" "$2" "$3" "$(peak_rss_mib "$4")" MiB
	hwm_reset "$4"
}
# stop_pid PID: SIGTERM, wait up to 30 s, then SIGKILL (the whole tree it started)
stop_pid() {
	local p=$1 tree
	alive "$p" || return 0
	tree=$(descendants "$p")
	kill "$p" 2>/dev/null || true
	wait_until 30 eval "! kill -0 $p" || true
	for p in $tree; do kill -9 "$p" 2>/dev/null || true; done
	wait_until 10 eval "! kill -0 $1" || true
}
unmount() {
	local m=$1
	is_mounted "$m" || return 0
	umount "$m" 2>/dev/null || fusermount3 -u "$m" 2>/dev/null || true
	wait_until 20 eval "! is_mounted $m" || umount -l "$m" 2>/dev/null || true
}
cleanup() {
	local m p
	set +e
	while read -r m; do [ -n "$m" ] && unmount "$m"; done < <(tac "$WORK/mounts")
	while read -r p; do [ -n "$p" ] && stop_pid "$p"; done < <(tac "$WORK/pids")
	while read -r m; do [ -n "$m" ] && unmount "$m"; done < <(tac "$WORK/mounts")
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_up() { curl -s -o /dev/null -m 2 "$1/"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
now() { date +%s.%N; }
# disk_written: sectors written so far, all block devices (whole disks only)
disk_written() { awk '$3 !~ /[0-9]$/ || $3 ~ /^nvme[0-9]+n[0-9]+$/ {s += $10} END {printf "%.0f\n", s}' /proc/diskstats; }
# settle: before a peer, let the last one's teardown finish (its dirty pages written back, its
# data deleted): sync, then wait (at most 60 s) until the disks wrote nothing for 2 s in a row.
# Runs 5 and 6 measured the first FUSE workloads while the Ozone cluster was still going away.
settle() {
	local last cur quiet=0 end=$(($(date +%s) + 60))
	sync
	last=$(disk_written)
	while [ "$quiet" -lt 4 ] && [ "$(date +%s)" -lt "$end" ]; do
		sleep 0.5
		cur=$(disk_written)
		if [ "$cur" = "$last" ]; then quiet=$((quiet + 1)); else quiet=0; fi
		last=$cur
	done
}
since() { echo "$(now) - $1" | bc -l; }

# ---------------------------------------------------------------- setup
setup() {
	say "setup (logs in $LOGS)"
	bash scripts/test-deps-fuse.sh </dev/null >"$LOGS/deps.log" 2>&1
	local need=()
	command -v rclone >/dev/null || need+=(rclone)
	command -v bc >/dev/null || need+=(bc)
	command -v curl >/dev/null || need+=(curl)
	if ((${#need[@]})); then
		apt-get install -y -qq "${need[@]}" >>"$LOGS/deps.log" 2>&1 ||
			{ apt-get update -qq >>"$LOGS/deps.log" 2>&1 && apt-get install -y -qq "${need[@]}" >>"$LOGS/deps.log" 2>&1; }
	fi
	python3 -c 'import matplotlib' 2>/dev/null || timeout 600 python3 -m pip install -q matplotlib >>"$LOGS/deps.log" 2>&1 ||
		say "matplotlib could not be installed: the doc will have no plots"
	if [ -z "${BENCH_OZFS:-}" ]; then
		say "building ozfs (release)"
		timeout 3600 nice -n 10 cargo build --release -q -p ozfs-fuse >"$LOGS/cargo-build.log" 2>&1 ||
			{ tail -30 "$LOGS/cargo-build.log" >&2; exit 1; }
	fi
	say "building the load generator"
	(cd benches/s3load && timeout 1200 nice -n 10 go build -o "$S3LOAD" .) >"$LOGS/s3load-build.log" 2>&1 ||
		{ cat "$LOGS/s3load-build.log" >&2; exit 1; }
	if [[ " $FUSE_PEERS " == *" goofys "* ]]; then
		timeout 2400 bash scripts/install-goofys.sh "$GOOFYS" >"$LOGS/goofys-build.log" 2>&1 ||
			say "goofys could not be built (see $LOGS/goofys-build.log)"
	fi
	if [[ " $FUSE_PEERS $S3_PEERS " == *" weed "* ]]; then
		say "building SeaweedFS weed (once; slow)"
		bash scripts/install-go-peer.sh weed "$WEED" >"$LOGS/weed-build.log" 2>&1 ||
			say "weed could not be built (see $LOGS/weed-build.log)"
	fi
	if [[ " $S3_PEERS " == *" minio "* ]]; then
		say "building MinIO (once; slow)"
		bash scripts/install-go-peer.sh minio "$MINIO" >"$LOGS/minio-build.log" 2>&1 ||
			say "minio could not be built (see $LOGS/minio-build.log)"
	fi
	if [[ " $S3_PEERS " == *" ozone "* ]]; then
		say "preparing the Ozone cluster harness"
		{ bash scripts/test-deps-ozone.sh && timeout 2400 bash tests/ozone/cluster.sh prepare; } >"$LOGS/ozone-prepare.log" 2>&1 ||
			say "the Ozone harness could not be prepared (see $LOGS/ozone-prepare.log)"
	fi
}

# ---------------------------------------------------------------- machine limits
limits() {
	say "machine limits"
	local lim=$FILE_MIB
	[ "$lim" -lt 256 ] && [ "$QUICK" != 1 ] && lim=256
	timeout "$STEP" "$S3LOAD" limits -dir "$WORK" -mib "$lim" >"$WORK/limits.tsv"
	while IFS=$'\t' read -r w v u; do record limits machine "$w" "$v" "$u"; done <"$WORK/limits.tsv"
	record limits machine mem_total "$(awk '/MemTotal/ {print $2/1024}' /proc/meminfo)" MiB
}

# ---------------------------------------------------------------- servers
# Each start_* sets SERVER_PID and ENDPOINT; the bucket "bench" exists afterwards.
# start_ozfs [MOUNTPOINT]: OZFS_DATA, OZFS_CACHE and OZFS_NAME (data directory, cache budget, log
# name) default to the run's shared server
start_ozfs() {
	local port data=${OZFS_DATA:-$WORK/ozfs-data}
	port=$(free_port)
	if [ ! -d "$data" ]; then
		mkdir -p "$data"
		"$OZFS" sh bucket create /s3v/bench --data "$data" >/dev/null
	fi
	local extra=() name=${OZFS_NAME:-ozfs-serve}
	[ -n "${1:-}" ] && { extra=(--mount "bench:$1"); name=ozfs-serve-mount; echo "$1" >>"$WORK/mounts"; }
	start "$name" "$OZFS" serve --data "$data" --listen "127.0.0.1:$port" --cache-size "${OZFS_CACHE:-$CACHE}" "${extra[@]}"
	SERVER_PID=$PID
	ENDPOINT=http://127.0.0.1:$port
	wait_until 60 http_up "$ENDPOINT" || { say "ozfs serve did not answer"; return 1; }
	if [ -n "${1:-}" ]; then wait_until 60 is_mounted "$1" || { say "ozfs serve --mount did not mount"; return 1; }; fi
}
start_minio() {
	local port cport
	port=$(free_port)
	cport=$(free_port)
	mkdir -p "$WORK/minio-data"
	MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off \
		start minio "$MINIO" server "$WORK/minio-data" --address "127.0.0.1:$port" --console-address "127.0.0.1:$cport"
	SERVER_PID=$PID
	ENDPOINT=http://127.0.0.1:$port
	wait_until 120 curl -sf -o /dev/null -m 2 "$ENDPOINT/minio/health/live" || { say "minio did not start"; return 1; }
	# live is not ready: CreateBucket answers 503 XMinioServerNotInitialized for a while
	wait_until 120 timeout 20 "$S3LOAD" mkbucket -endpoint "$ENDPOINT" -bucket bench || { say "minio: no bucket"; return 1; }
}
WEED_FILER=
start_weed() {
	local s3 master volume filer mg vg fg sg
	s3=$(free_port) master=$(free_port) volume=$(free_port) filer=$(free_port)
	mg=$(free_port) vg=$(free_port) fg=$(free_port) sg=$(free_port)
	# a fresh store at every start: weed mini restarted on an earlier one's data finds its volume
	# server's topology id stale, freezes volume growth, and every upload then fails
	rm -rf "$WORK/weed-data"
	mkdir -p "$WORK/weed-data"
	# every port explicit (the gRPC defaults, port + 10000, overflow for ephemeral ports); no
	# telemetry (it would post to the internet), no WebDAV / admin UI / Iceberg / Lance servers
	start weed "$WEED" mini -dir="$WORK/weed-data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
		-master.port="$master" -master.port.grpc="$mg" -volume.port="$volume" -volume.port.grpc="$vg" \
		-filer.port="$filer" -filer.port.grpc="$fg" -s3.port="$s3" -s3.port.grpc="$sg" \
		-s3.port.iceberg=0 -s3.port.lance=0 -webdav=false -admin.ui=false -master.telemetry=false
	SERVER_PID=$PID
	ENDPOINT=http://127.0.0.1:$s3
	WEED_FILER=127.0.0.1:$filer.$fg
	wait_until 120 http_up "$ENDPOINT" || { say "weed mini did not start"; return 1; }
	wait_until 60 timeout 20 "$S3LOAD" mkbucket -endpoint "$ENDPOINT" -bucket bench || { say "weed: no bucket"; return 1; }
}
start_ozone() {
	local base
	base=$((20000 + RANDOM % 20000))
	# the harness stops when its stdin reaches EOF: its stdin is a fifo this shell holds open
	# (other children inherit it too, so the harness is stopped by SIGTERM, which it handles)
	[ -p "$WORK/ozone-stdin" ] || mkfifo "$WORK/ozone-stdin"
	exec 8<>"$WORK/ozone-stdin"
	OZFS_OZONE_PORT_BASE=$base START_STDIN=$WORK/ozone-stdin start ozone bash tests/ozone/cluster.sh run
	SERVER_PID=$PID
	ENDPOINT=http://127.0.0.1:$((base + 39))
	wait_until 600 grep -q '^READY' "$LOGS/ozone.log" || { say "ozone did not start"; return 1; }
	timeout 120 "$S3LOAD" mkbucket -endpoint "$ENDPOINT" -bucket bench
}

# ---------------------------------------------------------------- S3 workloads
s3_workloads() { # PEER
	local peer=$1 line
	s3() { # label args...: one s3load phase; its lines recorded under PEER
		local label=$1 w
		shift
		hwm_reset "$SERVER_PID"
		if timeout "$STEP" "$S3LOAD" run -endpoint "$ENDPOINT" -bucket bench "$@" >"$WORK/s3.out" 2>>"$LOGS/s3load-$peer.log"; then
			while IFS=$'\t' read -r w v u; do record s3 "$peer" "$w" "$v" "$u"; done <"$WORK/s3.out"
		else
			say "$peer: $label failed (see $LOGS/s3load-$peer.log)"
			record s3 "$peer" "$label" NaN failed
		fi
		# the peak under the name s3load gave the phase (the label if it failed)
		w=$(head -1 "$WORK/s3.out" 2>/dev/null | cut -f1)
		rss_point s3-rss "$peer" "${w:-$label}" "$SERVER_PID"
	}
	local k4=4096 big=$((BIG_MIB << 20)) file=$((FILE_MIB << 20))
	# warm-up, not recorded (a fresh SeaweedFS allocates its volumes on the first writes)
	timeout 120 "$S3LOAD" run -endpoint "$ENDPOINT" -bucket bench -workload put -size $k4 -conc 4 -secs 3 -max-ops 200 -prefix warm/ >/dev/null 2>>"$LOGS/s3load-$peer.log" || true
	for c in 1 32; do
		s3 put4k -workload put -size $k4 -conc $c -secs "$S3_SECS" -max-ops 200000
		s3 get4k -workload get -size $k4 -conc $c -secs "$S3_SECS" -keys "$S3_KEYS" -prefix g4k/
		s3 head4k -workload head -size $k4 -conc $c -secs "$S3_SECS" -keys "$S3_KEYS" -prefix g4k/
	done
	s3 putbig -workload put -size $big -conc 4 -secs "$S3_SECS" -max-ops $(q 64 8)
	s3 getbig -workload get -size $big -conc 4 -secs "$S3_SECS" -keys 8 -max-ops $(q 200 16)
	s3 mixed -workload mixed -size 65536 -conc 16 -secs "$S3_SECS" -keys 256
	# single-part PUT of FILE_MIB, then GETs of it (the first after the PUT, the rest cached)
	s3 putfile -workload put -size $file -conc 1 -secs 120 -max-ops 2
	s3 getfile -workload get -size $file -conc 1 -secs 120 -max-ops 3 -keys 1 -prefix file/
	# creating the LIST keys takes long on the slower peers (Ozone: ~100 s per 10,000 keys here)
	STEP=$LIST_STEP s3 list -workload list -keys "$LIST_KEYS" -conc 32 -secs 600 -prefix list/
}

# Issue 10's cached-GET target needs an object the page cache holds: the main server's budget
# (CACHE) is smaller than the FILE_MIB object, so its GETs of it come from disk. A second ozfs
# server with a cache larger than the object serves GETs of it after one warm-up GET (not
# counted); recorded as s3 ozfs cached_get_<size>_c1 (peak RSS not recorded: other budget).
ozfs_cached_get() {
	local data=$WORK/ozfs-cached w v u
	say "ozfs: GETs of a cached $FILE_MIB MiB object (cache $((FILE_MIB + 256))M)"
	if OZFS_DATA=$data OZFS_CACHE=$((FILE_MIB + 256))M OZFS_NAME=ozfs-serve-cached start_ozfs &&
		timeout "$STEP" "$S3LOAD" run -endpoint "$ENDPOINT" -bucket bench -workload get -size $((FILE_MIB << 20)) -conc 1 \
			-secs 60 -max-ops 5 -keys 1 -warm 1 -prefix cached/ >"$WORK/s3.out" 2>>"$LOGS/s3load-ozfs.log"; then
		while IFS=$'\t' read -r w v u; do record s3 ozfs "cached_$w" "$v" "$u"; done <"$WORK/s3.out"
	else
		say "ozfs: the cached GET phase failed (see $LOGS/s3load-ozfs.log)"
		record s3 ozfs "cached_get" NaN failed
	fi
	stop_pid "${SERVER_PID:-}"
	rm -rf "$data"
}

s3_peer() { # PEER
	local peer=$1 dur=
	say "S3 peer $peer"
	case $peer in
	ozfs) [ -x "$OZFS" ] || { status s3 ozfs failed "no release build"; return 0; } ;;
	minio) [ -x "$MINIO" ] || { status s3 minio skipped "MinIO did not build from its Go module: $(tail -3 "$LOGS/minio-build.log" 2>/dev/null | tr '\n\t' '  ')"; return 0; } ;;
	weed) [ -x "$WEED" ] || { status s3 weed skipped "weed did not build: $(tail -3 "$LOGS/weed-build.log" 2>/dev/null | tr '\n\t' '  ')"; return 0; } ;;
	ozone) [ -f "${TMPDIR:-/tmp}/ozfs-ozone/classpath.txt" ] || { status s3 ozone skipped "the Ozone harness is not prepared (see $LOGS/ozone-prepare.log)"; return 0; } ;;
	esac
	case $peer in
	ozfs) dur="embedded store: data fsynced and metadata committed (group commit) before the PUT is acknowledged; page cache $CACHE" ;;
	minio) dur="single drive (zero-parity erasure set), defaults: part data fdatasynced (O_DIRECT where the disk allows) and xl.meta written synchronously before the PUT is acknowledged" ;;
	weed) dur="weed mini defaults: a write is fsynced only where the filer's path configuration asks for fsync, and none does here" ;;
	ozone) dur="MiniOzoneCluster, one datanode, replication ONE, Ozone 2.2.0 defaults" ;;
	esac
	settle
	if ! "start_$peer"; then
		status s3 "$peer" failed "did not start (see $LOGS/$peer*.log)"
		stop_pid "${SERVER_PID:-}"
		return 0
	fi
	local ver=
	case $peer in
	ozfs) ver=$("$OZFS" --version 2>&1 | head -1) ;;
	minio) ver="MinIO github.com/minio/minio v0.0.0-20260212201848-7aac2a2c5b7c" ;;
	weed) ver="SeaweedFS $("$WEED" version 2>&1 | head -1)" ;;
	ozone) ver="Apache Ozone 2.2.0 (tests/ozone/cluster.sh)" ;;
	esac
	PEAK=0
	s3_workloads "$peer"
	hwm_reset "$SERVER_PID"
	record s3 "$peer" peak_rss "$PEAK" MiB
	status s3 "$peer" ok "$ver; $dur"
	stop_pid "$SERVER_PID"
	[ "$peer" = ozfs ] && ozfs_cached_get
	[ "$peer" = ozone ] && exec 8>&-
	return 0
}

# ---------------------------------------------------------------- FUSE workloads
# Shared data, written once through S3: data/big (FILE_MIB), data/part0..3 (FILE_MIB/4 each),
# data/ls/ (LS_ENTRIES files), data/tree/ (FANOUT^3 files in FANOUT^2 dirs), with directory
# marker objects (s3fs needs them for listings of keys made elsewhere).
fill_shared() {
	local e=$ENDPOINT i j part=$(((FILE_MIB << 20) / 4))
	say "filling the shared data through $e"
	mk() { timeout "$STEP" "$S3LOAD" run -endpoint "$e" -bucket bench -workload fill "$@" >>"$WORK/fill.out"; }
	mk -key data/big -size $((FILE_MIB << 20)) -keys 1 -conc 1
	for i in 0 1 2 3; do mk -key "data/part$i" -size $part -keys 1 -conc 1; done
	mk -prefix data/ls/f -size 100 -keys "$LS_ENTRIES" -conc 32
	for i in $(seq 1 "$FANOUT"); do for j in $(seq 1 "$FANOUT"); do
		mk -prefix "data/tree/d$i/e$j/f" -size 100 -keys "$FANOUT" -conc 16
	done; done
	# directory markers
	local dirs=(data/ data/ls/ data/tree/)
	for i in $(seq 1 "$FANOUT"); do
		dirs+=("data/tree/d$i/")
		for j in $(seq 1 "$FANOUT"); do dirs+=("data/tree/d$i/e$j/"); done
	done
	for i in "${dirs[@]}"; do mk -key "$i" -size 0 -keys 1 -conc 1; done
}
BIGF=data/big
PARTF=(data/part0 data/part1 data/part2 data/part3)

MNT=
MOUNT_PID=
# mount_peer PEER: (re)start what PEER needs, cold: the server restarts (its caches empty) and
# the kernel's caches are dropped. SeaweedFS's server is the exception: it is started once per
# peer run (fuse_peer) and only its mount restarts, because weed mini restarted on its own data
# finds its volume server's topology id stale and freezes volume growth (every upload then fails)
mount_peer() {
	local peer=$1
	MNT=$WORK/mnt-$peer
	mkdir -p "$MNT"
	case $peer in
	ozfs-inproc)
		start_ozfs "$MNT" || return 1
		MOUNT_PID=$SERVER_PID
		drop_caches
		return 0
		;;
	weed) alive "$SERVER_PID" || start_weed || return 1 ;;
	*) start_ozfs || return 1 ;;
	esac
	drop_caches
	echo "$MNT" >>"$WORK/mounts"
	case $peer in
	ozfs-endpoint) start "mount-$peer" "$OZFS" mount -f --endpoint "$ENDPOINT" bench "$MNT" ;;
	goofys) start "mount-$peer" "$GOOFYS" -f --region us-east-1 --endpoint "$ENDPOINT" bench "$MNT" ;;
	rclone)
		RCLONE_S3_PROVIDER=Other RCLONE_S3_ENDPOINT=$ENDPOINT RCLONE_S3_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID \
			RCLONE_S3_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY RCLONE_S3_FORCE_PATH_STYLE=true RCLONE_S3_ENV_AUTH=false \
			start "mount-$peer" env RCLONE_S3_PROVIDER=Other RCLONE_S3_ENDPOINT="$ENDPOINT" RCLONE_S3_FORCE_PATH_STYLE=true rclone mount :s3:bench "$MNT" --vfs-cache-mode writes --cache-dir "$WORK/rclone-cache" --config /dev/null
		;;
	s3fs)
		echo "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" >"$WORK/s3fs-passwd"
		chmod 600 "$WORK/s3fs-passwd"
		start "mount-$peer" s3fs bench "$MNT" -f -o "url=$ENDPOINT,use_path_request_style,passwd_file=$WORK/s3fs-passwd"
		;;
	weed) start "mount-$peer" "$WEED" mount -filer="$WEED_FILER" -dir="$MNT" -filer.path=/buckets/bench ;;
	esac
	MOUNT_PID=$PID
	wait_until 60 is_mounted "$MNT" || { say "$peer did not mount"; return 1; }
}
umount_peer() { # [keep]: a remount; SeaweedFS's server keeps running (see mount_peer)
	# the mount process only (for ozfs-inproc that is the server holding the mount)
	hwm_reset "$MOUNT_PID"
	unmount "$MNT"
	[ "$MOUNT_PID" != "$SERVER_PID" ] && stop_pid "$MOUNT_PID"
	[ "${1:-}" = keep ] && [ "$PEER" = weed ] && return 0
	stop_pid "$SERVER_PID"
}
remount() { umount_peer keep && mount_peer "$PEER"; }
uploaded() { # PREFIX N: at least N keys under PREFIX on the peer's server
	local n
	n=$(timeout 60 "$S3LOAD" run -endpoint "$ENDPOINT" -bucket bench -workload count -prefix "$1" -secs 30 | cut -f2)
	[ "${n:-0}" -ge "$2" ]
}
fsops() { timeout "$STEP" python3 scripts/bench-fsops.py "$@" --secs "$STEP"; }
rec() { # WORKLOAD VALUE UNIT: also the mount process's peak RSS since the last workload (or mount)
	record fuse "$PEER" "$@"
	rss_point fuse-rss "$PEER" "$1" "$MOUNT_PID"
}
timed_mbps() { # WORKLOAD MIB CMD...
	local w=$1 mib=$2 t el
	shift 2
	t=$(now)
	timeout "$STEP" "$@" >/dev/null
	el=$(since "$t")
	rec "$w" "$(echo "$mib / $el" | bc -l)" MB/s
}
fsrec() { # fsops ARGS...: record the line it prints
	local v
	v=$(fsops "$@")
	IFS=$'\t' read -r w x u <<<"$v"
	rec "$w" "$x" "$u"
}
# ttfb_samples FILE: time to the first byte of FILE (open + 1-byte read) on a fresh mount after
# drop_caches, TTFB_SAMPLES times (a remount before each sample but the first: every process of
# the stack restarts, as for any cold workload); records the median as ttfb and the fastest and
# slowest samples as ttfb_min and ttfb_max. The last sample's mount stays for the next workload.
ttfb_samples() {
	local i v vals=()
	for i in $(seq 1 "$TTFB_SAMPLES"); do
		[ "$i" -gt 1 ] && remount
		v=$(fsops ttfb "$1" | cut -f2)
		vals+=("$v")
	done
	rec_samples ttfb ms "${vals[@]}"
}
# rec_samples WORKLOAD UNIT V...: record the median of the samples as WORKLOAD and the lowest and
# highest as WORKLOAD_min and WORKLOAD_max (the spread, shown beside the median)
rec_samples() {
	local w=$1 u=$2 med lo hi
	shift 2
	read -r med lo hi < <(printf '%s\n' "$@" |
		python3 -c 'import statistics, sys; v = [float(x) for x in sys.stdin]; print(statistics.median(v), min(v), max(v))')
	say "$PEER: $w samples ($u): $*"
	rec "$w" "$med" "$u"
	record fuse "$PEER" "${w}_min" "$lo" "$u"
	record fuse "$PEER" "${w}_max" "$hi" "$u"
}
# cold_samples WORKLOAD CMD...: CMD (a read of FILE_MIB) SAMPLES times, each on a fresh mount
# after drop_caches (a remount before each sample but the first); records the median MB/s as
# WORKLOAD and the slowest and fastest samples as WORKLOAD_min and WORKLOAD_max (one cold read
# moves by ±15 % from run to run on this kind of VM, for every peer). The last sample's mount stays
# for the cached read that follows.
cold_samples() {
	local w=$1 i t el vals=()
	shift
	for i in $(seq 1 "$SAMPLES"); do
		[ "$i" -gt 1 ] && remount
		t=$(now)
		timeout "$STEP" "$@" >/dev/null
		el=$(since "$t")
		vals+=("$(echo "$FILE_MIB / $el" | bc -l)")
	done
	rec_samples "$w" MB/s "${vals[@]}"
}
# walk_samples WORKLOAD MIN CMD...: CMD (a listing) on a fresh mount, SAMPLES times (a remount
# before each); records the median seconds as WORKLOAD and the fastest and slowest samples as
# WORKLOAD_min and WORKLOAD_max, and says so when CMD printed fewer than MIN lines.
walk_samples() {
	local w=$1 min=$2 i t n vals=()
	shift 2
	for i in $(seq 1 "$SAMPLES"); do
		remount
		t=$(now)
		n=$(timeout "$STEP" "$@" | wc -l)
		vals+=("$(since "$t")")
		[ "$n" -ge "$min" ] || say "$PEER: $w printed $n lines, fewer than $min"
	done
	rec_samples "$w" s "${vals[@]}"
}
fuse_workloads() {
	local m=$MNT
	ttfb_samples "$m/$BIGF"
	cold_samples seq_read_1t_cold cat "$m/$BIGF"
	timed_mbps seq_read_1t_cached "$FILE_MIB" cat "$m/$BIGF"
	remount
	cold_samples seq_read_4t_cold bash -c 'for f; do cat "$f" >/dev/null & done; wait' _ "${PARTF[@]/#/$m/}"
	timed_mbps seq_read_4t_cached "$FILE_MIB" bash -c 'for f; do cat "$f" >/dev/null & done; wait' _ "${PARTF[@]/#/$m/}"
	remount
	fsrec rand4k "$m/$BIGF" "$RAND_OPS"
	# `ls -l` prints a "total" line before the entries
	walk_samples ls_l $((LS_ENTRIES + 1)) ls -l "$m/data/ls"
	walk_samples find_tree $((FANOUT * FANOUT * FANOUT)) find "$m/data/tree"
	mkdir -p "$m/w-$PEER"
	timed_mbps seq_write "$FILE_MIB" dd if=/dev/zero of="$m/w-$PEER/big" bs=1M count="$FILE_MIB" status=none
	fsrec create "$m/w-$PEER/small" "$SMALL_FILES"
	if [ "$PEER" = rclone ]; then
		# rclone uploads after close (--vfs-cache-mode writes) and drops pending uploads when
		# unmounted: wait (not measured) until the files are objects before the remount
		wait_until "$STEP" uploaded "w-$PEER/small/" "$SMALL_FILES" ||
			{ say "rclone: the small files were not uploaded within $STEP s"; return 1; }
	fi
	remount
	fsrec stat "$m/w-$PEER/small" "$SMALL_FILES"
	fsrec delete "$m/w-$PEER/small" "$SMALL_FILES"
	timeout "$STEP" rm -rf "$m/w-$PEER" || true
}
fuse_peer() { # PEER (runs in a subshell: a failure ends this peer only)
	PEER=$1
	PEAK=0
	SERVER_PID=
	MOUNT_PID=
	trap 'unmount "$MNT"; stop_pid "$MOUNT_PID"; stop_pid "$SERVER_PID"' EXIT
	if [ "$PEER" = weed ]; then
		# its own store, filled once; the server keeps running until this peer is done
		start_weed || return 1
		fill_shared
	fi
	mount_peer "$PEER"
	fuse_workloads
	umount_peer
	record fuse "$PEER" peak_rss "$PEAK" MiB
}
fuse_section() {
	local peer dur ver
	[ -n "${FUSE_PEERS// /}" ] || return 0
	[ -x "$OZFS" ] || { status fuse all failed "no release build of ozfs"; return 0; }
	# the shared data, once, on the ozfs store every endpoint peer mounts
	start_ozfs && fill_shared
	stop_pid "$SERVER_PID"
	for peer in $FUSE_PEERS; do
		case $peer in
		goofys) [ -x "$GOOFYS" ] || { status fuse goofys skipped "goofys did not build (see $LOGS/goofys-build.log)"; continue; } ;;
		weed) [ -x "$WEED" ] || { status fuse weed skipped "weed did not build (see $LOGS/weed-build.log)"; continue; } ;;
		esac
		case $peer in
		ozfs-inproc) dur="durable at close (data fsynced, metadata committed); page cache $CACHE"; ver=$("$OZFS" --version 2>&1 | head -1) ;;
		ozfs-endpoint) dur="durable at close (the PUT at close is acknowledged once ozfs serve made it durable)"; ver=$("$OZFS" --version 2>&1 | head -1) ;;
		goofys) dur="durable at close (upload at close through ozfs serve)"; ver=$("$GOOFYS" --version 2>&1 | head -1) ;;
		rclone) dur="--vfs-cache-mode writes: close returns before the upload (not durable at close)"; ver=$(rclone version 2>/dev/null | head -1) ;;
		s3fs) dur="durable at close (upload at flush through ozfs serve)"; ver=$(s3fs --version 2>&1 | head -1) ;;
		weed) dur="own store (weed mini, defaults: no fsync)"; ver=$("$WEED" version 2>&1 | head -1) ;;
		esac
		say "FUSE peer $peer"
		settle
		set +e
		(
			set -e
			fuse_peer "$peer"
		) >>"$LOGS/fuse-$peer.log" 2>&1
		local rc=$?
		set -e
		if [ "$rc" = 0 ]; then
			status fuse "$peer" ok "$ver; $dur"
		else
			status fuse "$peer" failed "$ver; a workload failed (see $LOGS/fuse-$peer.log); figures so far kept"
		fi
	done
}

# ---------------------------------------------------------------- run
setup
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "cores=$(nproc)"
	echo "mem=$(free -g | awk '/Mem:/ {print $2}') GiB"
	echo "kernel=$(uname -r)"
	echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "quick=$QUICK"
	echo "sizes=file ${FILE_MIB} MiB, ls ${LS_ENTRIES} entries, ${SMALL_FILES} small files, ${TTFB_SAMPLES} ttfb samples, ${SAMPLES} samples of cold and fresh-mount workloads, tree ${FANOUT}^3, ${RAND_OPS} random reads, S3 phases ${S3_SECS} s, ${S3_KEYS} GET keys, LIST ${LIST_KEYS} keys, big objects ${BIG_MIB} MiB, cache ${CACHE}"
	echo "command=$( [ "$QUICK" = 1 ] && echo 'BENCH_QUICK=1 ')./scripts/bench.sh"
	echo "ozfs=$("$OZFS" --version 2>&1 | head -1)"
	echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src gateway fuse Cargo.toml Cargo.lock 2>/dev/null || echo ' (with uncommitted changes)')"
} >"$OUT/meta.txt"
status fuse juicefs skipped "not built: the Go module proxy serves no version of github.com/juicedata/juicefs here (403 on its version list)"
status s3 warp skipped "MinIO's warp is not the load generator: the Go module proxy serves no version of github.com/minio/warp here (403); benches/s3load (aws-sdk-go-v2) drives every S3 peer instead"
limits
# The FUSE section first: its peers mount a store holding only the FUSE data (before, the S3
# section's ~140,000 objects were in it too), and no S3 peer's teardown runs under it.
fuse_section
for p in $S3_PEERS; do s3_peer "$p"; done
if [ "$CARGO_BENCHES" = 1 ]; then
	say "cargo benches"
	{
		cargo bench -q -p ozfs --bench store
		cargo bench -q -p ozfs --bench cache
		cargo bench -q -p ozfs --bench sigv4
		cargo bench -q -p ozfs-gateway --bench s3
		cargo bench -q -p ozfs-fuse --bench fuse
	} >"$OUT/cargo-benches.txt" 2>&1 || say "a cargo bench failed (see $OUT/cargo-benches.txt)"
fi
echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"
echo "duration_s=$(($(date +%s) - T0))" >>"$OUT/meta.txt"
python3 scripts/bench-report.py "$OUT" "$DOC"
say "done in $(($(date +%s) - T0)) s: $DOC"
