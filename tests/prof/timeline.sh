#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/prof/timeline.sh — POOLMALLOC_TIMELINE writes one line per
# POOLMALLOC_TIMELINE_MS from the helper thread (header, then increasing
# times, live <= mapped, one column per size class), and `pmprof plot`
# turns it into a PNG with gnuplot.  Only the first and the exit line are
# certain (the samples between depend on how fast the machine runs the
# program: tests never assert timings), so two lines are required.
. "$top_srcdir/tests/prof/prof.sh"
pm_need gnuplot
tap_plan 2
cd "$pm_prof_tmp"
pm_preload POOLMALLOC_TIMELINE="$pm_prof_tmp/t.tsv" POOLMALLOC_TIMELINE_MS=5 \
  "$top_builddir/tests/prof/leaker" 400000 >out 2>err
status=$?
awk -F'\t' '
  /^#/ { next }
  $1 == "t_ms" { cols = NF; next }
  { n++; if (NF != cols || $1 + 0 < last || $2 + 0 > $3 + 0) bad++; last = $1 + 0 }
  END { exit !(cols == 6 + 97 && n >= 2 && bad == 0) }' t.tsv
ok=$?
[ $status -eq 0 ] || { echo "# leaker exited with status $status"; ok=1; tap_diag <err; }
echo "# $(grep -vc '^[#t]' t.tsv) samples; last: $(tail -1 t.tsv | cut -f1-6)"
[ $ok -eq 0 ] || head -5 t.tsv | cut -c1-200 | tap_diag
tap_result $ok "the timeline has a header and well-formed samples"
pm_pmprof plot t.tsv t.png >/dev/null 2>plot.err && [ "$(head -c 4 t.png | od -An -c | tr -d ' ')" = '211PNG' ]
ok=$?
[ $ok -eq 0 ] || tap_diag <plot.err
tap_result $ok "pmprof plot draws a PNG"
tap_done
