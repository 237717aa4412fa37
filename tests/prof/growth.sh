#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/prof/growth.sh — a growing program (tests/prof/grower) dumps a
# profile at two points: `pmprof diff OLD NEW` (google-pprof --base) and
# the snapshot API's compare both name the growing site first, not the
# site that churns at a steady size.  Also `pmprof svg` draws the graph
# (graphviz) and `pmprof collapsed` prints folded stacks.
. "$top_srcdir/tests/prof/prof.sh"
pm_need google-pprof addr2line
tap_plan 4
cd "$pm_prof_tmp"
env POOLMALLOC_PROF=1 POOLMALLOC_PROF_INTERVAL=8192 POOLMALLOC_PROF_FILE=/dev/null \
  "$top_builddir/tests/prof/grower" "$pm_prof_tmp" >cmp.txt 2>err
ok=$?
grep -A1 '^#1:' cmp.txt | tail -1 | grep -q 'grow_site at .*grower.c'
ok=$((ok | $?))
[ $ok -eq 0 ] || { tap_diag <cmp.txt; tap_diag <err; }
echo "# compare: $(grep '^#1:' cmp.txt)"
tap_result $ok "pm_snapshot_compare names grow_site first"
top=$(pm_pmprof diff a.heap b.heap 5 2>diff.err | awk 'NR > 1 && NF >= 6 { print $6; exit }')
[ "$top" = grow_site ]
ok=$?
[ $ok -eq 0 ] || { tap_diag <diff.err; pm_pmprof diff a.heap b.heap 5 2>&1 | tap_diag; }
tap_result $ok "pmprof diff names grow_site first (got ${top:-nothing})"
if command -v dot >/dev/null 2>&1; then
  pm_pmprof svg b.heap b.svg >/dev/null 2>svg.err && grep -q '<svg' b.svg && grep -q grow_site b.svg
  tap_result $? "pmprof svg draws the call graph with graphviz"
else
  tap_skip "pmprof svg" "graphviz not installed"
fi
pm_pmprof collapsed b.heap 2>/dev/null | grep -q '^_start.*;main.*;grow_site.* [0-9][0-9]*$'
tap_result $? "pmprof collapsed prints folded stacks"
tap_done
