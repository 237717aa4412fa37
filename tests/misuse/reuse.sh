#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/misuse/reuse.sh — misuse that must never hand memory to a second
# owner (issue 7 §2-§4), checked end to end.
#
# Like misuse.sh: each program runs with LD_PRELOAD=$PM_LIB, prints the
# address it misuses, misbehaves, then allocates a lot, requiring that no
# block it holds is handed out again (tests/misuse/owners.h: exit 4 if one
# is, 3 if nothing was detected).  A point passes on death by SIGABRT
# (status 134) with exactly one "poolmalloc:" line on stderr, equal to one
# of the lines allowed for the case:
#   double frees (double_free_pool)   poolmalloc: double free of <a>
#       caught at reuse after the block was handed out and written once:
#                                     poolmalloc: double free or write after free of <a> (...)
#       caught in a remote-free message, named by the message's first block:
#                                     poolmalloc: corrupted remote-free chain at <any> (...)
#   never handed out (free_unallocated)
#                                     poolmalloc: invalid free of <p> (not the start of a block)
#                                     poolmalloc: invalid free of <p> (not allocated)
#                                     poolmalloc: invalid free of <p> (not allocated by poolmalloc)
#       a block carved but not yet handed out is a free block: freeing it
#       is a double free, caught at the latest at reuse as one:
#                                     poolmalloc: double free [or write after free] of <p>
# A line of ALLOWED-LINES that ends in '*' allows any line it begins.
#   forged free lists (forge_free_list): any one "poolmalloc: " line, or a
#                                     clean exit with "target never returned"
# Environment (from make check): top_srcdir, top_builddir, PM_LIB.
. "$top_srcdir/tests/tap.sh"
for v in $(env | sed -n 's/^\(POOLMALLOC_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

bin=$top_builddir/tests/misuse
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm-reuse.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# run PROGRAM ARGS...: runs it preloaded, with a watchdog (a hang fails).
run() {
  env LD_PRELOAD="$PM_LIB" timeout -s KILL 60 "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  addr=$(awk 'NR == 1 { print $1 }' "$tmp/out")
}

why() {   # the meaning of a status that is not the expected SIGABRT
  case $1 in
    3) echo "not detected" ;;
    4) echo "a block reached a second owner: $(grep -m1 -e '^second owner' -e '^malloc returned' "$tmp/err")" ;;
    137) echo "killed after 60 s (a hang)" ;;
    139) echo "SIGSEGV (the allocator followed a bad pointer)" ;;
    *) echo "status $1" ;;
  esac
}

# allowed_line FILE: is the line on stdin one of FILE's (exact, or a prefix
# when the allowed line ends in '*')?
allowed_line() {
  IFS= read -r line || return 1
  while IFS= read -r want; do
    case $want in
      *'*') [ "${line#"${want%'*'}"}" != "$line" ] && return 0 ;;
      *) [ "$line" = "$want" ] && return 0 ;;
    esac
  done <"$1"
  return 1
}

# expect NAME ALLOWED-LINES PROGRAM ARGS...: ALLOWED-LINES is one line per
# allowed diagnostic, with @ADDR@ for the address the program printed.
expect() {
  name=$1 allowed=$2
  shift 2
  run "$@"
  printf '%s\n' "$allowed" | sed "s/@ADDR@/$addr/" >"$tmp/allowed"
  ok=0
  n=$(grep -c '^poolmalloc:' "$tmp/err")
  if [ "$rc" -ne 134 ]; then
    echo "# $name: $(why $rc), want SIGABRT with a diagnostic"
    ok=1
  elif [ -z "$addr" ]; then
    echo "# $name: the program printed no address"
    ok=1
  elif [ "$n" -ne 1 ]; then
    echo "# $name: $n poolmalloc lines on stderr, want 1"
    ok=1
  elif ! grep '^poolmalloc:' "$tmp/err" | allowed_line "$tmp/allowed"; then
    echo "# $name: want one of:"
    tap_diag <"$tmp/allowed"
    ok=1
  fi
  [ "$ok" -eq 0 ] || tap_diag <"$tmp/err"
  tap_result $ok "$name"
}

# forge NAME PROGRAM ARGS...: an abort with one poolmalloc line, or a clean
# "target never returned".
forge() {
  name=$1
  shift
  run "$@"
  n=$(grep -c '^poolmalloc:' "$tmp/err")
  ok=1
  if [ "$rc" -eq 134 ] && [ "$n" -eq 1 ]; then ok=0
  elif [ "$rc" -eq 0 ] && grep -qx 'target never returned' "$tmp/out"; then ok=0
  else echo "# $name: $(why $rc), want SIGABRT with one poolmalloc line, or the target never returned"
  fi
  grep '^#' "$tmp/out"
  [ "$ok" -eq 0 ] || tap_diag <"$tmp/err"
  tap_result $ok "$name"
}

tap_plan 13
DF='poolmalloc: double free of @ADDR@
poolmalloc: double free or write after free of @ADDR@ (its free-list canary was overwritten)
poolmalloc: corrupted remote-free chain at *'
expect "double free a, b, a in the owner thread, a live neighbour in the pool" "$DF" "$bin/double_free_pool" local
expect "double free: owner frees a, another thread frees b, a" "$DF" "$bin/double_free_pool" local-remote
expect "double free a, a in another thread (remote, batched)" "$DF" "$bin/double_free_pool" remote
expect "double free a, b, a in another thread (remote, batched)" "$DF" "$bin/double_free_pool" remote-between
expect "double free a, 40 frees, a, b in another thread (batch pushed in between)" "$DF" "$bin/double_free_pool" remote-flushed
expect "double free a, a in a thread without a heap (remote, unbatched)" "$DF" "$bin/double_free_pool" remote-noheap

NA='poolmalloc: invalid free of @ADDR@ (not the start of a block)
poolmalloc: invalid free of @ADDR@ (not allocated)
poolmalloc: invalid free of @ADDR@ (not allocated by poolmalloc)'
CARVED='poolmalloc: double free of @ADDR@
poolmalloc: double free or write after free of @ADDR@ (its free-list canary was overwritten)'
expect "free of b + 100 * (b - a): a 48-byte block never carved" "$NA" "$bin/free_unallocated" far 48
expect "free of b + 100 * (b - a): a 32-byte block carved, never handed out" "$NA
$CARVED" "$bin/free_unallocated" far 32
expect "free of b + (b - a): the next block, never handed out" "$NA
$CARVED" "$bin/free_unallocated" next 48

forge "one use-after-free read, then a free list forged with the inferred key" "$bin/forge_free_list" keyed
forge "a use-after-free write of a raw pointer into a free block" "$bin/forge_free_list" raw
forge "a use-after-free write of a pointer to an inaccessible page" "$bin/forge_free_list" raw-unmapped
forge "a forged free list pointing at a live block" "$bin/forge_free_list" neighbour
tap_done
