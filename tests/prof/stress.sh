#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/prof/stress.sh — the stress programs (threads, fork from threads,
# thread and process exit, start-up races) and larson's abandoned heaps
# with the profiler sampling hard (a 2 KiB interval) and the leak report
# on: the same programs must pass as without it.  (larson under the
# profiler is what found the adopted-heap bug of tests/unit/adopt.)
. "$top_srcdir/tests/prof/prof.sh"
tap_plan 5
export POOLMALLOC_PROF=1 POOLMALLOC_PROF_INTERVAL=2048 POOLMALLOC_PROF_FILE=/dev/null \
  POOLMALLOC_LEAKS=1 POOLMALLOC_LEAKS_FILE=/dev/null
cd "$pm_prof_tmp"
for t in threads fork exit startup; do
  "$top_builddir/tests/stress/$t" >out 2>err
  rc=$?
  [ $rc -eq 0 ] && ! grep -q '^not ok' out
  ok=$?
  [ $ok -eq 0 ] || { tap_diag <out; tap_diag <err; }
  tap_result $ok "tests/stress/$t with the profiler on"
done
larson=$top_builddir/bench/programs/larson
if [ -x "$larson" ]; then
  ok=0
  for i in 1 2 3 4 5; do
    env LD_PRELOAD="$PM_LIB" "$larson" 2 2 20000 1000 16 512 >out 2>err || { ok=1; tap_diag <err; break; }
  done
  tap_result $ok "larson (threads adopting abandoned heaps), five runs"
else
  tap_skip "larson with the profiler on" "bench/programs/larson not built"
fi
tap_done
