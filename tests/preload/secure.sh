#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/preload/secure.sh — real programs and the stress tests again, under
# libpoolmalloc-secure.so.  Every check of docs/security.md is on there, so
# this is where a false positive (an abort on a correct program) would show:
# python3, sort, gcc/g++, git and coreutils must give the same output as
# with glibc's malloc (the preload scripts of this directory, run with
# PM_LIB pointing at the secure library), and tests/stress (threads freeing
# each other's blocks, fork from threads, exit with live threads) must pass.
# Their TAP results are renumbered into one stream.
. "$top_srcdir/tests/tap.sh"
: "${PM_SECURE_LIB:?PM_SECURE_LIB must name the built libpoolmalloc-secure.so}"
if [ ! -f "$PM_SECURE_LIB" ]; then
  echo "1..0 # SKIP $PM_SECURE_LIB not built"
  exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm-secure-preload.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# run NAME CMD...: the command's TAP lines, renumbered, named "NAME: ...".
i=0
run() {
  name=$1
  shift
  i=$((i + 1))
  "$@" >"$tmp/$i.out" 2>"$tmp/$i.err"
  echo $? >"$tmp/$i.rc"
  echo "$name" >"$tmp/$i.name"
}

for t in python sort gcc git coreutils; do
  run "$t under the secure library" env PM_LIB="$PM_SECURE_LIB" sh "$top_srcdir/tests/preload/$t.sh"
done
for t in threads fork exit startup; do
  if [ -x "$top_builddir/tests/stress/$t" ]; then
    run "tests/stress/$t under the secure library" env LD_PRELOAD="$PM_SECURE_LIB" "$top_builddir/tests/stress/$t"
  fi
done

total=0
for k in $(seq 1 $i); do
  n=$(grep -cE '^(not )?ok ' "$tmp/$k.out")
  # a program that died before its results, or skipped them all, counts once
  [ "$n" -eq 0 ] && n=1
  total=$((total + n))
done
tap_plan $total
for k in $(seq 1 $i); do
  name=$(cat "$tmp/$k.name")
  rc=$(cat "$tmp/$k.rc")
  if grep -qE '^(not )?ok ' "$tmp/$k.out"; then
    grep -E '^(not )?ok |^#' "$tmp/$k.out" | while IFS= read -r line; do
      case $line in
        "#"*) echo "$line" ;;
        "not ok "*) echo "not ok - $name: ${line#not ok * - }" ;;
        *"# SKIP"*) echo "ok - $name: ${line#ok * - }" ;;
        *) echo "ok - $name: ${line#ok * - }" ;;
      esac
    done
    grep -qE '^not ok ' "$tmp/$k.out" && tap_nfail=$((tap_nfail + 1))
    if [ "$rc" -ne 0 ] && ! grep -qE '^not ok ' "$tmp/$k.out"; then
      echo "# $name exited $rc"
      tap_diag <"$tmp/$k.err"
      tap_nfail=$((tap_nfail + 1))
    fi
  elif grep -q '^1\.\.0 # SKIP' "$tmp/$k.out"; then
    echo "ok - $name # SKIP $(sed -n 's/^1\.\.0 # SKIP //p' "$tmp/$k.out")"
  else
    echo "not ok - $name: exited $rc with no results"
    tap_diag <"$tmp/$k.err"
    tap_nfail=$((tap_nfail + 1))
  fi
done
tap_done
