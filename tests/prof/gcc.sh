#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/prof/gcc.sh — gcc -O2 on a real file (this project's lib/pool.c)
# with POOLMALLOC_PROF=1: every process of the compiler (the driver, cc1,
# as) writes poolmalloc.<pid>.heap in the working directory at exit; the
# compiler proper's profile (the largest) loads in google-pprof --text and
# shows where cc1 allocated (--alloc_space: the profile also counts what
# was freed, so the check does not depend on the few samples live at exit).
. "$top_srcdir/tests/prof/prof.sh"
cc=$(command -v gcc) || { echo "1..0 # SKIP no gcc"; exit 0; }
pm_need google-pprof
tap_plan 2
cd "$pm_prof_tmp"
pm_preload POOLMALLOC_PROF=1 "$cc" -O2 -c -I"$top_builddir" -I"$top_srcdir/lib" -I"$top_srcdir/include" \
  -o pool.o "$top_srcdir/lib/pool.c" 2>gcc.err
ok=$?
n=$(ls poolmalloc.*.heap 2>/dev/null | wc -l)
[ $ok -eq 0 ] && [ -s pool.o ] && [ "$n" -ge 2 ]
ok=$?
[ $ok -eq 0 ] || tap_diag <gcc.err
tap_result $ok "gcc -O2 compiles under the profiler; $n processes wrote a profile"
big=$(ls -S poolmalloc.*.heap 2>/dev/null | head -1)
cc1=$("$cc" -print-prog-name=cc1)
google-pprof --text --alloc_space "$cc1" "$big" >pprof.txt 2>pprof.err && grep -q '^Total: [0-9.]* MB' pprof.txt &&
  [ "$(grep -c '%' pprof.txt)" -ge 5 ]
ok=$?
echo "# $(head -c 300 "$big" | head -1)"
sed -n '1,4p' pprof.txt | sed 's/^/# /'
[ $ok -eq 0 ] || tap_diag <pprof.err
tap_result $ok "cc1's profile loads in google-pprof --text"
tap_done
