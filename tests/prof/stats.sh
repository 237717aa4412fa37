#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/prof/stats.sh — POOLMALLOC_SHOW_STATS=json prints one JSON document
# at exit (jq parses it) whose parts add up: the size classes' bytes in use
# sum to the accounting's blocks_in_use and to pm_stats_get's
# small_allocated, the accounting's parts sum to resident_total; and the
# text report says what the mapped memory it keeps is for.
. "$top_srcdir/tests/prof/prof.sh"
pm_need jq
tap_plan 3
cd "$pm_prof_tmp"
seq 1 200000 | sort -R --random-source=/dev/zero >nums
pm_preload POOLMALLOC_SHOW_STATS=json sort -n nums >out 2>stats.json
jq -e . stats.json >/dev/null
ok=$?
[ $ok -eq 0 ] || tap_diag <stats.json
tap_result $ok "SHOW_STATS=json writes one JSON document"
jq -e '
  ([.size_classes[].bytes_in_use] | add) == .accounting.blocks_in_use and
  .accounting.blocks_in_use == .totals.small_allocated and
  (.accounting | .blocks_in_use + .free_in_pools + .pool_slack_resident + .dirty_free_slots +
     .arena_headers + .large_live + .large_cached + .heap_metadata + .profiler_tables) == .accounting.resident_total and
  (.size_classes | length) == 97 and (.heaps | length) >= 1 and .profiler.enabled == false and
  (.regions | length) >= 1 and .process.vm_rss > 0' stats.json >/dev/null
ok=$?
[ $ok -eq 0 ] || jq -c '.accounting, .totals' stats.json | tap_diag
tap_result $ok "the document's figures add up"
pm_preload POOLMALLOC_SHOW_STATS=1 sort -n nums >out 2>text
grep -q '^  held_by_program ' text && grep -q '^  kept_large_cache ' text && grep -q '^  kept_clean_slots .*no RSS' text
ok=$?
[ $ok -eq 0 ] || tap_diag <text
tap_result $ok "the text report says what the mapped memory it keeps is for"
tap_done
