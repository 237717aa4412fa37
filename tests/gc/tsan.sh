#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/gc/tsan.sh — runs the ThreadSanitizer programs of tests/gc and fails
# on any report (TSan's exit status 66):
#   test_tsan        a -fsanitize=thread client of the uninstrumented library
#   test_tsan_layer  the allocator and the GC layer themselves instrumented
# Their TAP points pass through, renumbered, plus one point per program for
# its exit status; TSan's reports become "# " comments.
# Kernels with more address-space randomisation than GCC 12's TSan runtime
# expects make it stop with "unexpected memory mapping"; then a program is
# run again with randomisation off (setarch -R), and if that is not allowed
# either (some container seccomp profiles), its points are skipped, saying so.
dir=${top_builddir:-.}/tests/gc
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
k=0 nfail=0
point() { # ok|not-ok description
  k=$((k + 1))
  if [ "$1" = ok ]; then echo "ok $k - $2"; else echo "not ok $k - $2"; nfail=$((nfail + 1)); fi
}
for prog in test_tsan test_tsan_layer; do
  bin=$dir/$prog
  if [ ! -x "$bin" ]; then
    k=$((k + 1)); echo "ok $k - $prog # SKIP not built"
    continue
  fi
  TSAN_OPTIONS="exitcode=66 ${TSAN_OPTIONS:-}" "$bin" >"$out" 2>&1
  rc=$?
  if [ $rc -ne 0 ] && grep -q 'unexpected memory mapping' "$out"; then
    if setarch "$(uname -m)" -R true 2>/dev/null; then
      TSAN_OPTIONS="exitcode=66 ${TSAN_OPTIONS:-}" setarch "$(uname -m)" -R "$bin" >"$out" 2>&1
      rc=$?
    else
      k=$((k + 1))
      echo "ok $k - $prog # SKIP ThreadSanitizer cannot map its shadow memory here (ASLR, setarch -R refused)"
      continue
    fi
  fi
  while IFS= read -r line; do
    case $line in
      "ok "*) point ok "$prog: ${line#* - }" ;;
      "not ok "*) point not-ok "$prog: ${line#* - }" ;;
      1..*) ;;
      *) echo "# $line" ;;
    esac
  done <"$out"
  if [ $rc -eq 0 ]; then point ok "$prog: exit status 0, no ThreadSanitizer report"
  else point not-ok "$prog: exit status $rc (66: ThreadSanitizer reported something)"; fi
done
echo "1..$k"
[ $nfail -eq 0 ]
