#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/preload/options.sh — POOLMALLOC_* options reach a preloaded program.
# VERBOSE lists the options in force; out-of-range values are clamped and
# reported, malformed and unknown ones reported and ignored; SHOW_STATS=0
# prints nothing; none of this changes the program's own output.
. "$top_srcdir/tests/preload/preload.sh"

run() {   # run ENV... : sort a small file under the preload, stderr to $pm_tmp/err
  printf '3\n1\n2\n' | env LD_PRELOAD="$PM_LIB" "$@" sort >"$pm_tmp/out" 2>"$pm_tmp/err"
  st=$?
  [ "$st" -eq 0 ] && [ "$(tr '\n' ' ' <"$pm_tmp/out")" = "1 2 3 " ]
  run_ok=$?
}
check() {   # check NAME GREP-PATTERN... : every pattern matches a line of stderr
  name=$1
  shift
  ok=0
  [ "$run_ok" -eq 0 ] || { echo "# $name: sort failed or printed the wrong thing"; ok=1; }
  for pat in "$@"; do
    grep -q -- "$pat" "$pm_tmp/err" || { echo "# $name: no line matching: $pat"; ok=1; }
  done
  [ "$ok" -eq 0 ] || tap_diag <"$pm_tmp/err"
  tap_result $ok "$name"
}

tap_plan 5
run POOLMALLOC_VERBOSE=1 POOLMALLOC_DECAY_MS=250 POOLMALLOC_LARGE_CACHE_MB=0
check "VERBOSE lists the options in force" '^poolmalloc: .*POOLMALLOC_DECAY_MS=250' \
  '^poolmalloc: .*POOLMALLOC_LARGE_CACHE_MB=0' '^poolmalloc: .*POOLMALLOC_SHOW_STATS=0'
run POOLMALLOC_VERBOSE=1 POOLMALLOC_DECAY_MS=99999999
check "out-of-range values are clamped" '^poolmalloc: .*POOLMALLOC_DECAY_MS=99999999.*3600000' \
  '^poolmalloc: .*POOLMALLOC_DECAY_MS=3600000'
run POOLMALLOC_VERBOSE=1 POOLMALLOC_DECAY_MS=soon
check "malformed values are reported and ignored" '^poolmalloc: .*POOLMALLOC_DECAY_MS=soon' \
  '^poolmalloc: .*POOLMALLOC_DECAY_MS=\([0-9]*\) (default \1)'
run POOLMALLOC_NO_SUCH_OPTION=1
check "unknown options are reported" '^poolmalloc: .*POOLMALLOC_NO_SUCH_OPTION'
run POOLMALLOC_SHOW_STATS=0
ok=$run_ok
[ -s "$pm_tmp/err" ] && { echo "# SHOW_STATS=0 printed:"; tap_diag <"$pm_tmp/err"; ok=1; }
tap_result $ok "SHOW_STATS=0 prints nothing"
tap_done
