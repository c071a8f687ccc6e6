#!/usr/bin/env bash
# `ls -l` of one N-entry directory through FUSE mounts of one bucket served by `ozfs serve`, in
# one run, each round on a freshly started mount (its caches empty): two ozfs builds (BEFORE and
# AFTER, each mounted with `ozfs mount --endpoint` against its own `ozfs serve` on the same data
# directory), the AFTER mount against the BEFORE server (a server without the listing extension:
# one HEAD per entry), goofys and s3fs. Prints one line per round (with the S3 requests the
# server logged during the `ls -l`) and the median per peer.
#
#   scripts/bench-ls-endpoint.sh BEFORE_OZFS AFTER_OZFS [GOOFYS]
#
# Environment: LS_ENTRIES (10000), ROUNDS (3), PEERS ("before after after-on-before goofys
# s3fs"). Needs root (FUSE), python3 with boto3. Every step is bounded by `timeout`; every
# process it starts is stopped by PID and every mount it made is unmounted on exit.
set -euo pipefail
BEFORE=$1
AFTER=$2
GOOFYS=${3:-$(dirname "$0")/../target/test-tools/goofys}
N=${LS_ENTRIES:-10000}
ROUNDS=${ROUNDS:-3}
PEERS=${PEERS:-before after after-on-before goofys s3fs}
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=benchsecret123456 AWS_REGION=us-east-1
unset AWS_CA_BUNDLE AWS_PROFILE
WORK=$(mktemp -d /tmp/ozfs-bench-ls.XXXXXX)
PIDS=()
MNTS=()
cleanup() {
	for m in "${MNTS[@]}"; do
		awk -v m="$m" '$2 == m {f=1} END {exit !f}' /proc/mounts && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_until() { # SECONDS CMD...
	local end=$(($(date +%s) + $1))
	shift
	until "$@" 2>/dev/null; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.1
	done
}
mounted() { awk -v m="$1" '$2 == m {f=1} END {exit !f}' /proc/mounts; }
SERVER=
ENDPOINT=
serve() { # BINARY: (re)start `ozfs serve` of BINARY on the data directory
	[ -n "$SERVER" ] && { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; }
	local port
	port=$(free_port)
	"$1" serve --data "$WORK/data" --listen "127.0.0.1:$port" --access-log "$WORK/access.log" >"$WORK/serve.log" 2>&1 &
	SERVER=$!
	PIDS+=("$SERVER")
	ENDPOINT=http://127.0.0.1:$port
	wait_until 60 curl -s -o /dev/null -m 2 "$ENDPOINT/"
}
MNT=$WORK/mnt
mkdir -p "$MNT" "$WORK/data"
MNTS+=("$MNT")
"$AFTER" sh bucket create /s3v/bench --data "$WORK/data" >/dev/null
serve "$AFTER"
timeout 900 python3 - "$ENDPOINT" "$N" <<'EOF'
import sys, boto3, concurrent.futures as cf
ep, n = sys.argv[1], int(sys.argv[2])
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1")
s3.put_object(Bucket="bench", Key="data/", Body=b"")
s3.put_object(Bucket="bench", Key="data/ls/", Body=b"")
with cf.ThreadPoolExecutor(16) as ex:
    list(ex.map(lambda i: s3.put_object(Bucket="bench", Key=f"data/ls/f{i:05d}", Body=b"x" * 100), range(n)))
EOF
declare -A TIMES
for r in $(seq "$ROUNDS"); do
	for peer in $PEERS; do
		# a fresh server per round too (its caches empty)
		case $peer in
		before | after-on-before) serve "$BEFORE" ;;
		*) serve "$AFTER" ;;
		esac
		case $peer in
		before) "$BEFORE" mount -f --endpoint "$ENDPOINT" bench "$MNT" >"$WORK/mount.log" 2>&1 & ;;
		after | after-on-before) "$AFTER" mount -f --endpoint "$ENDPOINT" bench "$MNT" >"$WORK/mount.log" 2>&1 & ;;
		goofys) "$GOOFYS" -f --region us-east-1 --endpoint "$ENDPOINT" bench "$MNT" >"$WORK/mount.log" 2>&1 & ;;
		s3fs)
			echo "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" >"$WORK/passwd"
			chmod 600 "$WORK/passwd"
			s3fs bench "$MNT" -f -o "url=$ENDPOINT,use_path_request_style,passwd_file=$WORK/passwd" >"$WORK/mount.log" 2>&1 &
			;;
		esac
		mp=$!
		PIDS+=("$mp")
		wait_until 60 mounted "$MNT" || { echo "$peer did not mount:" >&2; cat "$WORK/mount.log" >&2; exit 1; }
		sync
		echo 3 >/proc/sys/vm/drop_caches
		: >"$WORK/access.log"
		t0=$(date +%s.%N)
		n=$(timeout 600 ls -l "$MNT/data/ls" | wc -l)
		t1=$(date +%s.%N)
		el=$(echo "$t1 - $t0" | bc -l)
		[ "$n" -gt "$N" ] || echo "$peer: ls -l listed $((n - 1)) of $N" >&2
		reqs=$(grep -ao 'operation=[A-Za-z0-9]*' "$WORK/access.log" | sort | uniq -c | awk '{sub("operation=", "", $2); printf "%s %s, ", $2, $1}')
		printf 'round %s\t%s\t%.3f s\t(%s lines; requests: %s)\n' "$r" "$peer" "$el" "$n" "${reqs%, }"
		TIMES[$peer]="${TIMES[$peer]:-} $el"
		umount "$MNT" || umount -l "$MNT"
		wait "$mp" 2>/dev/null || true
	done
done
echo "median of $ROUNDS rounds, ls -l of $N entries:"
for peer in $PEERS; do
	# shellcheck disable=SC2086
	printf '%s\t%.3f s\n' "$peer" "$(printf '%s\n' ${TIMES[$peer]} | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
done
