#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/misuse/misuse.sh — every fatal diagnostic, checked end to end.
#
# Runs each tests/misuse program with LD_PRELOAD=$PM_LIB (the shipped
# library, as real programs meet it) and requires: death by SIGABRT
# (shell status 134), and exactly one "poolmalloc:" line on stderr, equal to
# the line predicted from the address the program printed.  Also checks that
# POOLMALLOC_FOREIGN_FREE=1 hands a glibc block back to glibc instead.  The
# same again with $PM_SECURE_LIB, which reports every one of these the same
# way (its free_sized check is exact: secure.sh has its own properties).
# Environment (from make check): top_srcdir, top_builddir, PM_LIB, PM_SECURE_LIB.
. "$top_srcdir/tests/tap.sh"
# The tests set the POOLMALLOC_* options they need; none leak in from outside.
for v in $(env | sed -n 's/^\(POOLMALLOC_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

bin=$top_builddir/tests/misuse
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm-misuse.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# expect NAME EXPECTED-LINE-TEMPLATE PROGRAM ARGS...
# In the template, @ADDR@ and @USABLE@ are replaced by the first and second
# words the program printed on stdout.
expect() {
  name=$1 template=$2
  shift 2
  env LD_PRELOAD="$PM_LIB" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  addr=$(awk 'NR == 1 { print $1 }' "$tmp/out")
  usable=$(awk 'NR == 1 { print $2 }' "$tmp/out")
  want=$(printf '%s\n' "$template" | sed "s/@ADDR@/$addr/; s/@USABLE@/$usable/")
  ok=0
  [ "$rc" -eq 134 ] || { echo "# $name: status $rc, want 134 (SIGABRT)"; ok=1; }
  [ -n "$addr" ] || { echo "# $name: the program printed no address"; ok=1; }
  n=$(grep -c '^poolmalloc:' "$tmp/err")
  [ "$n" -eq 1 ] || { echo "# $name: $n poolmalloc lines on stderr, want 1"; ok=1; }
  grep -qxF "$want" "$tmp/err" || { echo "# $name: want: $want"; ok=1; }
  [ "$ok" -eq 0 ] || tap_diag <"$tmp/err"
  tap_result $ok "$name ($(basename "$PM_LIB"))"
}

tap_plan 40
NF='(not allocated by poolmalloc)'
NS='(not the start of a block)'
for PM_LIB in "$PM_LIB" "${PM_SECURE_LIB:-}"; do
if [ ! -f "$PM_LIB" ]; then
  for i in $(seq 20); do tap_skip "$PM_LIB" "not built"; done
  continue
fi
case $(basename "$PM_LIB") in
  *secure*) SIZED='poolmalloc: free_sized of @ADDR@ with size 4096 but it was allocated with @USABLE@ bytes' ;;
  *) SIZED='poolmalloc: free_sized of @ADDR@ with size 4096 but the block holds @USABLE@ bytes' ;;
esac
expect "double free, small block" "poolmalloc: double free of @ADDR@" "$bin/double_free" 32
expect "double free, 16-byte block" "poolmalloc: double free of @ADDR@" "$bin/double_free" 16
expect "double free, medium block" "poolmalloc: double free of @ADDR@" "$bin/double_free" 20000
expect "double free, first free in another thread" "poolmalloc: double free of @ADDR@" "$bin/double_free" 48 remote
expect "double free, another free in between" "poolmalloc: double free of @ADDR@" "$bin/double_free" 64 interleaved
expect "double free, large block (in the large cache)" "poolmalloc: double free of @ADDR@" "$bin/double_free" 1048576
expect "double free, 256 KiB block (in the thread's large cache)" "poolmalloc: double free of @ADDR@" "$bin/double_free" 262144
expect "free of a large block's first interior chunk" "poolmalloc: invalid free of @ADDR@ $NF" "$bin/interior_free" 3145728 1044480
expect "free of a page inside a large block's first chunk" "poolmalloc: invalid free of @ADDR@ $NS" "$bin/interior_free" 3145728 8192
expect "free of a large block whose header names another region" \
  "poolmalloc: invalid free of @ADDR@ (its large block header does not match its region)" "$bin/large_header"
expect "free of a stack address" "poolmalloc: invalid free of @ADDR@ $NF" "$bin/invalid_free" stack
expect "free of a static array" "poolmalloc: invalid free of @ADDR@ $NF" "$bin/invalid_free" static
expect "free inside an mmap region" "poolmalloc: invalid free of @ADDR@ $NF" "$bin/invalid_free" mmap
expect "free of a glibc block" "poolmalloc: invalid free of @ADDR@ $NF" "$bin/invalid_free" libc
expect "free of an interior pointer (small)" "poolmalloc: invalid free of @ADDR@ $NS" "$bin/interior_free" 64 16
expect "free of an interior pointer (medium)" "poolmalloc: invalid free of @ADDR@ $NS" "$bin/interior_free" 5000 2048
expect "realloc of a foreign pointer" "poolmalloc: invalid realloc of @ADDR@ $NF" "$bin/invalid_realloc"
expect "malloc_usable_size of a foreign pointer" "poolmalloc: invalid malloc_usable_size of @ADDR@ $NF" "$bin/invalid_usable_size"
expect "free_sized with the wrong size" "$SIZED" "$bin/free_sized_mismatch" 100 4096

# POOLMALLOC_FOREIGN_FREE=1: the glibc block goes to glibc's free, no abort.
env LD_PRELOAD="$PM_LIB" POOLMALLOC_FOREIGN_FREE=1 "$bin/invalid_free" libc >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] || { echo "# foreign free: status $rc, want 0"; tap_diag <"$tmp/err"; }
tap_result $rc "POOLMALLOC_FOREIGN_FREE=1 hands a glibc block to glibc ($(basename "$PM_LIB"))"
done
tap_done
