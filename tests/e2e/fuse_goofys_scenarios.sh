#!/usr/bin/env bash
# Shell-level scenarios of a goofys-compatible mount (the behaviours goofys's own FUSE shell
# test checks, re-written here): sequential write, mv of a file and a directory, mkdir/rmdir,
# listing, ENOTEMPTY, a 25 MiB write and move, special characters, user xattrs, rm -rf.
# Usage: fuse_goofys_scenarios.sh MOUNTPOINT   (prints "ok NAME" per scenario, exits non-zero
# on the first failure)
set -euo pipefail

MNT=${1:?usage: $0 MOUNTPOINT}
WORK="$MNT/scenarios"
fail() { echo "FAIL $*" >&2; exit 1; }
ok() { echo "ok $1"; }

rm -rf "$WORK"
mkdir "$WORK"
cd "$WORK"

# Sequential write of several lines, read back.
for i in $(seq 1 15); do echo "line $i"; done > lines.txt
[ "$(wc -l < lines.txt)" -eq 15 ] || fail "line count"
[ "$(tail -n 1 lines.txt)" = "line 15" ] || fail "last line"
ok sequential_write

# Append with >> (goofys cannot do this; ozfs stages it).
echo "line 16" >> lines.txt
[ "$(wc -l < lines.txt)" -eq 16 ] || fail "append"
ok append

# mv of a file.
echo moved > before.txt
mv before.txt after.txt
[ ! -e before.txt ] || fail "source still there after mv"
[ "$(cat after.txt)" = moved ] || fail "content after mv"
ok mv_file

# mv of a directory with content.
mkdir d1
echo inner > d1/inner.txt
mv d1 d2
[ ! -e d1 ] || fail "old dir still there"
[ "$(cat d2/inner.txt)" = inner ] || fail "content after dir mv"
ok mv_directory

# mkdir / rmdir.
mkdir newdir
[ -d newdir ] || fail "mkdir"
rmdir newdir
[ ! -e newdir ] || fail "rmdir"
ok mkdir_rmdir

# Listing shows exactly what is there.
mkdir listdir
touch listdir/a listdir/b
[ "$(ls listdir | wc -l)" -eq 2 ] || fail "listing count"
ok list

# rmdir of a non-empty directory: Directory not empty.
if out=$(rmdir listdir 2>&1); then fail "rmdir of a non-empty dir succeeded"; fi
case "$out" in *"Directory not empty"*) ;; *) fail "unexpected rmdir error: $out" ;; esac
ok remove_nonempty_directory

# 25 MiB write, compare, move, compare.
dd if=/dev/urandom of=/tmp/ozfs-big.$$ bs=1M count=25 status=none
cp /tmp/ozfs-big.$$ big.bin
cmp /tmp/ozfs-big.$$ big.bin || fail "25 MiB copy differs"
mv big.bin big2.bin
cmp /tmp/ozfs-big.$$ big2.bin || fail "25 MiB file differs after mv"
rm -f /tmp/ozfs-big.$$
ok multipart_write_and_copy

# Special characters: a name that does not exist is ENOENT, names with odd bytes work.
if ls 'special?*~&@µ' 2>/dev/null; then fail "missing special name listed"; fi
echo s > 'sp ace+plus#hash@at~t%p'
[ "$(cat 'sp ace+plus#hash@at~t%p')" = s ] || fail "special name round trip"
ok special_characters

# Extended attributes.
if command -v setfattr > /dev/null; then
  echo x > xattr.txt
  setfattr -n user.color -v blue xattr.txt
  [ "$(getfattr --only-values -n user.color xattr.txt)" = blue ] || fail "getfattr value"
  getfattr -d xattr.txt | grep -q 'user.color="blue"' || fail "getfattr -d"
  setfattr -x user.color xattr.txt
  if getfattr -n user.color xattr.txt 2>/dev/null; then fail "xattr still there"; fi
  ok extended_attributes
fi

# rm -rf of a tree.
mkdir -p tree/a/b/c
touch tree/a/f1 tree/a/b/f2 tree/a/b/c/f3
rm -rf tree
[ ! -e tree ] || fail "tree still there"
ok rm_rf_dir

cd "$MNT"
rm -rf "$WORK"
[ ! -e "$WORK" ] || fail "cleanup"
ok cleanup
