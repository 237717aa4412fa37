#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/prof/installed.sh — everything works from an installed copy:
# `make install DESTDIR=...`, then the installed tools/pmrun runs the
# leaking program with POOLMALLOC_PROF=1 POOLMALLOC_LEAKS=1, the report
# names leaky_function, and the installed pmprof reads the profile.  The
# installed pmrun preloads $libdir's library, which a staged install holds
# under DESTDIR: PMRUN_LIB points it there (make installcheck runs the
# installed pmrun against a real prefix, tests/install).
. "$top_srcdir/tests/prof/prof.sh"
pm_need google-pprof addr2line
tap_plan 3
dest=$pm_prof_tmp/inst
${MAKE:-make} -s -C "$top_builddir" install DESTDIR="$dest" >"$pm_prof_tmp/install.log" 2>&1
pmrun=$(find "$dest" -path '*/bin/pmrun' | head -1)
pmprof=$(find "$dest" -path '*/bin/pmprof' | head -1)
[ -n "$pmrun" ] && [ -n "$pmprof" ] && [ -n "$(find "$dest" -name 'libpoolmalloc.so')" ] &&
  [ -n "$(find "$dest" -name poolmalloc.h)" ]
ok=$?
[ $ok -eq 0 ] || tap_diag <"$pm_prof_tmp/install.log"
tap_result $ok "make install puts pmrun, pmprof, the library and the header in place"
cd "$pm_prof_tmp"
lib=$(find "$dest" -name 'libpoolmalloc.so' | head -1)
env PMRUN_LIB="$lib" POOLMALLOC_PROF=1 POOLMALLOC_LEAKS=1 POOLMALLOC_PROF_INTERVAL=16384 POOLMALLOC_PROF_FILE="$pm_prof_tmp/i.heap" \
  POOLMALLOC_VERBOSE=1 "$pmrun" "$top_builddir/tests/prof/leaker" 100000 >out 2>err
grep -A1 '^#1:' err | tail -1 | grep -q leaky_function
ok=$?
[ $ok -eq 0 ] || tap_diag <err
tap_result $ok "the installed pmrun: the leak report names leaky_function"
top=$(sh "$pmprof" top i.heap 3 2>/dev/null | awk 'NR > 1 && NF >= 6 { print $6; exit }')
[ "$top" = leaky_function ]
tap_result $? "the installed pmprof top names leaky_function (got ${top:-nothing})"
tap_done
