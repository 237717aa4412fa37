#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/cxx/preload.sh — tests/cxx/new.cc as a C++ program that knows nothing
# of poolmalloc, run with LD_PRELOAD=$PM_LIB: built by make with the
# configured C++ compiler (g++) as tests/cxx/new_plain, and here with clang++
# when it is installed (with -fsized-deallocation, which clang before 19
# leaves off).  The program's own TAP lines are the result, one plan per
# compiler; a missing clang++ is a SKIP.  Last, a C program under the same
# preload maps no C++ runtime: the library reaches libstdc++ only through
# weak references (lib/cxx_runtime.c).
. "$top_srcdir/tests/tap.sh"
: "${PM_LIB:?PM_LIB must name the built libpoolmalloc.so}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm-cxx.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
tap_plan 3
run() { # NAME BINARY: one TAP point for the whole program, its lines as comments
  env LD_PRELOAD="$PM_LIB" "$2" >"$tmp/out" 2>&1
  rc=$?
  grep -v '^ok' "$tmp/out" | tap_diag
  echo "# $(grep -c '^ok' "$tmp/out") checks passed"
  tap_result $rc "$1"
}
run "g++ program ($top_builddir/tests/cxx/new_plain) under LD_PRELOAD" "$top_builddir/tests/cxx/new_plain"
if command -v clang++ >/dev/null 2>&1; then
  if clang++ -std=c++17 -O2 -fsized-deallocation -o "$tmp/new_clang" "$top_srcdir/tests/cxx/new.cc" -ldl >"$tmp/cc.log" 2>&1; then
    run "clang++ program under LD_PRELOAD" "$tmp/new_clang"
  else
    tap_diag <"$tmp/cc.log"
    tap_result 1 "clang++ program under LD_PRELOAD (does not compile)"
  fi
else
  tap_skip "clang++ program under LD_PRELOAD" "clang++ not installed"
fi
env LD_PRELOAD="$PM_LIB" cat /proc/self/maps >"$tmp/maps"
grep -q 'libpoolmalloc' "$tmp/maps" && ! grep -q 'libstdc++' "$tmp/maps"
rc=$?
[ $rc -eq 0 ] || tap_diag <"$tmp/maps"
tap_result $rc "a C program (cat) under LD_PRELOAD maps the library and no libstdc++"
tap_done
