#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/prof/signal.sh — POOLMALLOC_PROF_SIGNAL=USR2: kill -USR2 makes a
# running program write <POOLMALLOC_PROF_FILE>.1 (the handler only posts a
# semaphore; the profiler's thread writes), which loads in google-pprof,
# and the program goes on unharmed.
. "$top_srcdir/tests/prof/prof.sh"
py=$(pm_python) || { echo "1..0 # SKIP no python3"; exit 0; }
pm_need google-pprof
tap_plan 2
cd "$pm_prof_tmp"
env PYTHONMALLOC=malloc LD_PRELOAD="$PM_LIB" POOLMALLOC_PROF=1 POOLMALLOC_PROF_SIGNAL=USR2 \
  POOLMALLOC_PROF_FILE="$pm_prof_tmp/sig.heap" "$py" -c '
import sys, time
keep = [bytes(1000) for i in range(100000)]
print("ready", flush=True)
deadline = time.time() + 20
while time.time() < deadline and not open(sys.argv[1]).read():
    time.sleep(0.05)
print(len(keep))' "$pm_prof_tmp/go" >out 2>err &
pid=$!
: >go
i=0
while [ $i -lt 100 ] && ! grep -q ready out 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -USR2 $pid
i=0
while [ $i -lt 100 ] && ! grep -q MAPPED_LIBRARIES sig.heap.1 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
sleep 0.2
echo go >go
wait $pid
rc=$?
[ $rc -eq 0 ] && grep -q '^100000$' out && [ -s sig.heap.1 ]
ok=$?
[ $ok -eq 0 ] || { tap_diag <err; ls -la | tap_diag; }
tap_result $ok "kill -USR2 writes sig.heap.1 and the program carries on"
google-pprof --text "$py" sig.heap.1 >pprof.txt 2>/dev/null && grep -q '^Total: [0-9.]* MB' pprof.txt
tap_result $? "the profile written on the signal loads in google-pprof ($(head -1 pprof.txt))"
tap_done
