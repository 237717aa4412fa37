#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/prof/api.sh — runs tests/prof/api (the snapshot API, estimates,
# dumps) with the profiler on at a 4 KiB interval.
. "$top_srcdir/tests/prof/prof.sh"
pm_need addr2line
export POOLMALLOC_PROF=1 POOLMALLOC_PROF_INTERVAL=4096 POOLMALLOC_PROF_FILE=/dev/null PROF_TEST_DIR="$pm_prof_tmp"
"$top_builddir/tests/prof/api"
