#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/meta/abilist.sh — the symbols libpoolmalloc.so exports are exactly
# lib/libpoolmalloc.abilist (as glibc keeps its *.abilist files; issue 12
# §4): a symbol added, removed, or changed from function to data (or in
# size, for data) is an ABI change, and must show up in a diff of that file.
# libpoolmalloc-secure.so exports the same plus lib/libpoolmalloc-secure.abilist
# (its bounds-checked memcpy; docs/security.md).
#
# Each line: NAME F (a function) or NAME D SIZE (data, size in bytes).  The
# object layer's symbols (pm_gc_*, pm_obj_*, pm_type_*, pm_weak*_*, pm_finalize_*) are
# left out of the comparison in a --disable-gc build.  After a deliberate
# change:  top_srcdir=. top_builddir=. sh tests/meta/abilist.sh --update
. "$top_srcdir/tests/tap.sh"
so=$top_builddir/lib/.libs/libpoolmalloc.so
secure_so=$top_builddir/lib/.libs/libpoolmalloc-secure.so
list=$top_srcdir/lib/libpoolmalloc.abilist
secure_list=$top_srcdir/lib/libpoolmalloc-secure.abilist
exported() {   # [SO]
  nm -D --defined-only --format=posix -t d "${1:-$so}" |
    awk '$2 ~ /^[TWi]$/ { print $1 " F"; next }
         $2 ~ /^[DBRVG]$/ { printf "%s D %d\n", $1, $4 }' | LC_ALL=C sort
}
if [ "${1:-}" = --update ]; then
  tmp_want=$(mktemp "${TMPDIR:-/tmp}/pm-abi.XXXXXX") || exit 1
  exported >"$tmp_want"
  { sed -n '/^#/p' "$list"; exported; } >"$list.tmp" && mv "$list.tmp" "$list"
  { sed -n '/^#/p' "$secure_list"; exported "$secure_so" | LC_ALL=C comm -13 "$tmp_want" -; } >"$secure_list.tmp" &&
    mv "$secure_list.tmp" "$secure_list"
  rm -f "$tmp_want"
  exit 0
fi
tap_plan 2
if [ ! -f "$so" ]; then
  tap_skip "exported symbols match lib/libpoolmalloc.abilist" "no shared library built"
  tap_skip "exported symbols of libpoolmalloc-secure.so" "no shared library built"
  tap_done
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm-abi.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
grep -v '^#' "$list" | LC_ALL=C sort >"$tmp/want"
if ! grep -q '^#define PM_GC 1' "$top_builddir/config.h" 2>/dev/null; then
  grep -v -E '^pm_(gc|obj|type|weak[a-z]*|finalize)_' "$tmp/want" >"$tmp/w" && mv "$tmp/w" "$tmp/want"
fi
# check NAME SO WANT-FILE
check() {
  exported "$2" >"$tmp/have"
  if [ ! -s "$tmp/have" ]; then
    rc=1; echo "# no exported symbol read from $2"
  elif diff -u "$3" "$tmp/have" >"$tmp/diff"; then rc=0; else
    rc=1
    echo "# exported symbols differ from $1 (- listed but not exported, + exported but not listed):"
    grep '^[-+][^-+]' "$tmp/diff" | tap_diag
  fi
  tap_result $rc "exported symbols of $(basename "$2") match $1 ($(wc -l <"$tmp/have") symbols)"
}
check lib/libpoolmalloc.abilist "$so" "$tmp/want"
grep -v '^#' "$secure_list" | cat "$tmp/want" - | LC_ALL=C sort >"$tmp/secure_want"
if [ -f "$secure_so" ]; then
  check "lib/libpoolmalloc.abilist + lib/libpoolmalloc-secure.abilist" "$secure_so" "$tmp/secure_want"
else
  tap_skip "exported symbols of libpoolmalloc-secure.so" "not built"
fi
tap_done
