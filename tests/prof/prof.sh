# SPDX-License-Identifier: MIT
# tests/prof/prof.sh — shared by the profiler's shell tests (sourced).
#
#   pm_prof_tmp          a private directory, removed at exit
#   pm_need CMD...       skip the whole test (1..0 # SKIP) if a command is missing
#   pm_pmprof ARGS...    the source tree's tools/pmprof
#   pm_preload CMD...    CMD with LD_PRELOAD=$PM_LIB (other env set by the caller)
# Sources preload.sh for the TAP helpers, PM_LIB and the clean environment.
. "$top_srcdir/tests/preload/preload.sh"
pm_prof_tmp=$pm_tmp
pm_need() {
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || { echo "1..0 # SKIP $c not installed (tools/install-deps)"; exit 0; }
  done
}
pm_pmprof() { sh "$top_srcdir/tools/pmprof" "$@"; }
pm_preload() { env LD_PRELOAD="$PM_LIB" "$@"; }
