#!/bin/sh
# tests/gc/tsan.sh — runs tests/gc/test_tsan (built with -fsanitize=thread)
# and fails on any ThreadSanitizer report (TSan's exit status 66).
# Kernels with more address-space randomisation than GCC 12's TSan runtime
# expects make it stop with "unexpected memory mapping"; then the program is
# run again with randomisation off (setarch -R), and if that is not allowed
# either (some container seccomp profiles), the test is skipped, saying so.
bin=${top_builddir:-.}/tests/gc/test_tsan
if [ ! -x "$bin" ]; then
  echo "1..0 # SKIP tests/gc/test_tsan not built"
  exit 0
fi
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
TSAN_OPTIONS="exitcode=66 ${TSAN_OPTIONS:-}" "$bin" >"$out" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q 'unexpected memory mapping' "$out"; then
  if setarch "$(uname -m)" -R true 2>/dev/null; then
    TSAN_OPTIONS="exitcode=66 ${TSAN_OPTIONS:-}" setarch "$(uname -m)" -R "$bin" >"$out" 2>&1
    rc=$?
  else
    echo "1..0 # SKIP ThreadSanitizer cannot map its shadow memory here (ASLR, setarch -R refused)"
    exit 0
  fi
fi
# The program's TAP lines pass through with one more point in the plan
# (the exit status); everything else (TSan's report) becomes comments.
awk '/^1\.\.[0-9]+$/ { n = substr($0, 4) + 1; print "1.." n; next }
     /^(ok|not ok) / { print; k++; next }
     { print "# " $0 }
     END { if (!n) print "1..1" }' "$out"
k=$(grep -c -E '^(ok|not ok) ' "$out")
if [ $rc -eq 0 ]; then
  echo "ok $((k + 1)) - exit status 0: no ThreadSanitizer report"
else
  echo "not ok $((k + 1)) - exit status $rc (66: ThreadSanitizer reported a race)"
  exit 1
fi
exit 0
