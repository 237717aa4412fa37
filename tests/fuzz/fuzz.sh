#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/fuzz/fuzz.sh — make check's share of the API fuzzer (~30 s in all).
#
# Fixed seeds, so a failure here replays with the command the fuzzer prints
# (docs/testing.md, "Fuzzer").  Each run is one TAP point:
#   libc names      fuzz -a libc: malloc & co., answered by the linked poolmalloc
#   pm names        fuzz -a pm
#   decay at once   POOLMALLOC_DECAY_MS=0: empty arenas and cached large
#                   mappings go back to the OS at every housekeeping tick
#   preloaded       fuzz-libc (links no poolmalloc) under LD_PRELOAD=$PM_LIB
#   one thread      -t 1 -n OPS twice: the same seed gives the same run
#   system malloc   fuzz-libc without poolmalloc: the fuzzer's own checks hold
#                   for another allocator (no false alarm built in)
#   self-test       -i: a corrupted byte must fail the run (SIGABRT, FAILED)
# In sanitizer builds (PM_SANITIZE set) only the pm_* runs are made: the
# sanitizer's runtime owns the libc names there.
# Environment (from make check): top_builddir, PM_LIB, PM_SANITIZE.
. "$top_srcdir/tests/tap.sh"
for v in $(env | sed -n 's/^\(POOLMALLOC_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

fuzz=$top_builddir/tests/fuzz/fuzz
fuzz_libc=$top_builddir/tests/fuzz/fuzz-libc
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# run NAME CMD...: one point; passes if CMD exits 0 and says "fuzz: ok".
run() {
  name=$1
  shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  grep -q '^fuzz: ok:' "$tmp/out" || [ "$rc" -ne 0 ] || rc=1
  echo "# $name: $(head -n 1 "$tmp/out")"
  sed -n 's/^fuzz: ok: /# /p' "$tmp/out"
  [ "$rc" -eq 0 ] || { echo "# $name: exit status $rc"; tail -n 40 "$tmp/err" | tap_diag; }
  tap_result $rc "$name"
}

if [ -n "${PM_SANITIZE:-}" ]; then
  tap_plan 4
  run "fuzz, pm names, 4 threads, 12 s" "$fuzz" -a pm -t 4 -s 12 -S 2
  run "fuzz, pm names, decay at once, 8 s" env POOLMALLOC_DECAY_MS=0 "$fuzz" -a pm -t 4 -s 8 -S 3
else
  tap_plan 7
  run "fuzz, libc names, 4 threads, 8 s" "$fuzz" -a libc -t 4 -s 8 -S 1
  run "fuzz, pm names, 4 threads, 8 s" "$fuzz" -a pm -t 4 -s 8 -S 2
  run "fuzz, decay at once, 6 s" env POOLMALLOC_DECAY_MS=0 "$fuzz" -a libc -t 4 -s 6 -S 3
  run "fuzz-libc under LD_PRELOAD, 4 s" env LD_PRELOAD="$PM_LIB" "$fuzz_libc" -t 4 -s 4 -S 4
  run "fuzz-libc on the system allocator, 2 s" "$fuzz_libc" -t 4 -s 2 -S 7
fi

# Same seed, one thread, fixed op count: identical operation counts.
api=libc
[ -n "${PM_SANITIZE:-}" ] && api=pm
"$fuzz" -a $api -t 1 -n 40000 -s 600 -S 5 >"$tmp/one" 2>&1
rc1=$?
"$fuzz" -a $api -t 1 -n 40000 -s 600 -S 5 >"$tmp/two" 2>&1
rc2=$?
grep '^fuzz:' "$tmp/one" | grep -v ' ops in ' >"$tmp/one.c"
grep '^fuzz:' "$tmp/two" | grep -v ' ops in ' >"$tmp/two.c"
ok=0
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && cmp -s "$tmp/one.c" "$tmp/two.c" || ok=1
[ $ok -eq 0 ] || { echo "# exit statuses $rc1 $rc2"; diff "$tmp/one" "$tmp/two" | tap_diag; }
tap_result $ok "fuzz, one thread, 40000 ops: the same seed replays the same run"

# Self-test: one corrupted byte must fail the run with the fuzzer's report
# (at the latest when the block is checked before the final free).
"$fuzz" -a $api -t 2 -n 2000 -s 120 -i 300 -S 6 >"$tmp/out" 2>"$tmp/err"
rc=$?
ok=0
[ "$rc" -eq 134 ] || { echo "# self-test: status $rc, want 134 (SIGABRT)"; ok=1; }
grep -q '^fuzz: FAILED: block 0x[0-9a-f]*: byte 0 of' "$tmp/err" || { echo "# self-test: no FAILED line"; ok=1; }
grep -q '^fuzz: rerun: ' "$tmp/err" || { echo "# self-test: no rerun line"; ok=1; }
[ $ok -eq 0 ] || tap_diag <"$tmp/err"
tap_result $ok "fuzz self-test: a corrupted byte is reported with seed and rerun command"
tap_done
