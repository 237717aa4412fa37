#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/prof/leaks.sh — a program that leaks from one known function among
# noise (tests/prof/leaker), run under the preloaded library: the leak
# report (POOLMALLOC_LEAKS=1) names leaky_function first, symbolized with
# its source line, with an estimate close to the bytes really leaked; the
# heap profile written at exit loads in google-pprof and `pmprof top`
# names leaky_function first; POOLMALLOC_LEAKS_FILE redirects the report;
# the report reaches stderr even from a program that closes fd 2 in an
# atexit handler (coreutils' sort does: close_stdout).
. "$top_srcdir/tests/prof/prof.sh"
pm_need google-pprof addr2line
tap_plan 6
leaker=$top_builddir/tests/prof/leaker
cd "$pm_prof_tmp"
pm_preload POOLMALLOC_PROF=1 POOLMALLOC_LEAKS=1 POOLMALLOC_PROF_INTERVAL=4096 \
  POOLMALLOC_PROF_FILE="$pm_prof_tmp/leak.heap" "$leaker" 200000 >out 2>err
rc=$?
[ $rc -eq 0 ] && [ "$(cat out)" = 2000000 ]
tap_result $? "the program runs unchanged under the profiler"
first=$(grep -A1 '^#1:' err | tail -1)
echo "$first" | grep -q 'leaky_function at .*leaker.c:[0-9]'
ok=$?
[ $ok -eq 0 ] || tap_diag <err
tap_result $ok "the leak report names leaky_function (with file:line) first"
# The estimate: 20,000 blocks of 100 bytes (112-byte blocks) leaked; at a
# 4 KiB interval about 540 of them are sampled (standard error 4.3%), so
# 20% is more than four standard errors.
est=$(sed -n 's/^#1: \([0-9]*\) bytes .* in \([0-9]*\) blocks.*/\2/p' err)
echo "# leak report: $(sed -n 1p err)"
echo "# site #1: $(grep '^#1:' err)"
[ -n "$est" ] && [ "$est" -ge 16000 ] && [ "$est" -le 24000 ]
tap_result $? "the estimated count is within 20% of the 20000 blocks leaked (got ${est:-none})"
top=$(pm_pmprof top leak.heap 5 2>pprof.err | awk 'NR > 1 && NF >= 6 { print $6; exit }')
[ "$top" = leaky_function ]
ok=$?
[ $ok -eq 0 ] && echo "# pmprof top: $(pm_pmprof top leak.heap 3 2>/dev/null | head -2 | tail -1)" || tap_diag <pprof.err
tap_result $ok "pmprof top (google-pprof --text) names leaky_function first (got ${top:-nothing})"
pm_preload POOLMALLOC_LEAKS=1 POOLMALLOC_PROF_INTERVAL=4096 POOLMALLOC_LEAKS_FILE="$pm_prof_tmp/leaks.txt" \
  "$leaker" 50000 >out 2>err2
[ ! -s err2 ] && grep -q 'leaky_function' leaks.txt && [ -z "$(ls poolmalloc.*.heap 2>/dev/null)" ]
tap_result $? "POOLMALLOC_LEAKS_FILE takes the report; LEAKS alone writes no profile"
seq 1 50000 >nums
pm_preload POOLMALLOC_LEAKS=1 sort -n nums >sorted 2>sort.err
grep -q '^poolmalloc: leak report' sort.err && cmp -s nums sorted
tap_result $? "the report reaches stderr after sort has closed fd 2"
tap_done
