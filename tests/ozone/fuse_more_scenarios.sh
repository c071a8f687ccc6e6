#!/usr/bin/env bash
# FUSE scenarios the goofys script (tests/e2e/fuse_goofys_scenarios.sh) does not cover, for a
# mount in front of a real Ozone: truncate, random write, symlink, chmod, read back after a
# directory rename (issue 13's hang: mkdir -p d1/sub; echo x > d1/sub/f; mv d1 d2; cat d2/sub/f).
# Usage: fuse_more_scenarios.sh MOUNTPOINT   (prints "ok NAME" per scenario, exits non-zero on
# the first failure)
set -euo pipefail

MNT=${1:?usage: $0 MOUNTPOINT}
WORK="$MNT/more"
fail() { echo "FAIL $*" >&2; exit 1; }
ok() { echo "ok $1"; }

rm -rf "$WORK"
mkdir "$WORK"
cd "$WORK"

mkdir -p d1/sub
echo x > d1/sub/f
mv d1 d2
[ "$(cat d2/sub/f)" = x ] || fail "content after directory rename"
[ ! -e d1 ] || fail "d1 still there"
ok read_after_directory_rename

printf 'hello world' > t.txt
truncate -s 5 t.txt
[ "$(cat t.txt)" = hello ] || fail "truncate down"
truncate -s 8 t.txt
[ "$(stat -c %s t.txt)" -eq 8 ] || fail "truncate up size"
[ "$(head -c 5 t.txt)" = hello ] || fail "truncate up keeps prefix"
ok truncate

printf '0123456789' > r.bin
printf 'AB' | dd of=r.bin bs=1 seek=3 conv=notrunc status=none
[ "$(cat r.bin)" = 012AB56789 ] || fail "random write: $(cat r.bin)"
ok random_write

ln -s r.bin link
[ "$(readlink link)" = r.bin ] || fail "readlink"
[ "$(cat link)" = 012AB56789 ] || fail "read through symlink"
ok symlink

# the randomly written file: its mode travels in user metadata, rewritten by a copy (Ozone
# answers a copy onto itself that names a storage class with 200 and changes nothing)
chmod 0600 r.bin
[ "$(stat -c %a r.bin)" = 600 ] || fail "chmod of the randomly written file: $(stat -c %a r.bin)"
[ "$(cat r.bin)" = 012AB56789 ] || fail "content after chmod: $(cat r.bin)"
echo m > m.txt
chmod 0640 m.txt
[ "$(stat -c %a m.txt)" = 640 ] || fail "chmod file: $(stat -c %a m.txt)"
mkdir cdir
# OZFS_FSO=1: an Ozone FILE_SYSTEM_OPTIMIZED bucket keeps no metadata on directories, so a
# directory's mode cannot be stored: chmod must fail cleanly, not pretend.
if [ "${OZFS_FSO:-0}" = 1 ]; then
  if out=$(chmod 0700 cdir 2>&1); then fail "chmod of an FSO directory claimed success"; fi
  case "$out" in *"not supported"*) ;; *) fail "unexpected chmod error: $out" ;; esac
else
  chmod 0700 cdir
  [ "$(stat -c %a cdir)" = 700 ] || fail "chmod dir: $(stat -c %a cdir)"
fi
echo in > cdir/x
[ "$(cat cdir/x)" = in ] || fail "write into chmod-ed dir"
ok chmod

cd "$MNT"
rm -rf "$WORK"
[ ! -e "$WORK" ] || fail "cleanup"
ok cleanup
