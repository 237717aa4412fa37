#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/prof/python.sh — python3 (PYTHONMALLOC=malloc, so every object
# comes from poolmalloc) building a large dict:
#   1. the largest live site of a snapshot (pm_snapshot_* called through
#      ctypes) is libpython's dict code, named by our symbolizer (debug
#      symbols: Debian's python3.11-dbg; without them the test says so);
#   2. the breakdown of pm_stats_json accounts for the process's RSS within
#      5%: resident_total against VmRSS minus the memory outside our
#      mappings (file mappings, stacks, ...), both read from
#      /proc/self/smaps at the same moment (the profiler off);
#   3. the profile written at that point by pm_prof_dump loads in
#      google-pprof --text.
. "$top_srcdir/tests/prof/prof.sh"
py=$(pm_python) || { echo "1..0 # SKIP no python3"; exit 0; }
pm_need google-pprof addr2line
tap_plan 3
cd "$pm_prof_tmp"
cat >dict.py <<'PY'
import ctypes, json, os, sys
lib = ctypes.CDLL(None)
lib.pm_snapshot_take.restype = ctypes.c_void_p
lib.pm_snapshot_symbolize.argtypes = [ctypes.c_void_p]
lib.pm_snapshot_print.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
lib.pm_prof_dump.argtypes = [ctypes.c_char_p]
mode = sys.argv[1]
d = {}
for i in range(1000000):
    d[i] = None          # the table (one 40 MB block) outweighs the 1M ints (32 MB in 32-byte
                         # blocks; at a 64 KiB interval that estimate has a 4.4% standard error)
if mode == "prof":
    assert lib.pm_prof_dump(b"dict.heap") == 0
    s = lib.pm_snapshot_take()
    assert s and lib.pm_snapshot_symbolize(s) == 0
    sys.stdout.flush()
    lib.pm_snapshot_print(s, 1, 1)
else:
    with open("/proc/self/smaps") as f:
        smaps = f.read()
    fd = os.open("stats.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    assert lib.pm_stats_json(fd) == 0
    os.close(fd)
    with open("stats.json") as f:
        doc = json.load(f)
    regions = [(a, b) for a, b, kind in doc["regions"]]
    heap = total = 0
    inside = False
    for line in smaps.splitlines():
        f = line.split()
        if len(f) >= 5 and "-" in f[0] and not f[0].endswith(":"):
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            inside = any(lo < b and a < hi for a, b in regions)
        elif f and f[0] == "Rss:":
            total += int(f[1]) * 1024
            if inside:
                heap += int(f[1]) * 1024
    acc = doc["accounting"]
    err = 100.0 * (acc["resident_total"] - heap) / heap
    print("VmRSS %d, outside our mappings %d, so heap RSS %d; accounted %d; error %.2f%%"
          % (total, total - heap, heap, acc["resident_total"], err))
    print(json.dumps(acc))
    sys.exit(0 if abs(err) <= 5.0 else 1)
PY
env PYTHONMALLOC=malloc LD_PRELOAD="$PM_LIB" POOLMALLOC_PROF=1 POOLMALLOC_PROF_INTERVAL=65536 POOLMALLOC_PROF_FILE=/dev/null \
  "$py" dict.py prof >top.txt 2>err.txt
rc=$?
site=$(sed -n '2,6p' top.txt)
if [ $rc -ne 0 ]; then
  tap_diag <err.txt
  tap_result 1 "python3 under the profiler"
elif echo "$site" | grep -q -E 'dict(resize|_ass_sub|_setitem|object\.c)|insertdict|new_keys_object|PyDict_'; then
  echo "# $(sed -n 1p top.txt)"
  echo "$site" | sed 's/^/#   /'
  tap_result 0 "the top site is libpython's dict code, symbolized"
elif echo "$site" | grep -q 'a local function after'; then
  echo "$site" | sed 's/^/#   /'
  tap_skip "the top site is libpython's dict code" "no debug symbols for $py (install python3.11-dbg)"
else
  tap_diag <top.txt
  tap_result 1 "the top site is libpython's dict code, symbolized"
fi
google-pprof --text "$py" dict.heap >pprof.txt 2>pprof.err && grep -q '^Total:' pprof.txt
ok=$?
[ $ok -eq 0 ] || tap_diag <pprof.err
tap_result $ok "the profile loads in google-pprof --text"
env PYTHONMALLOC=malloc LD_PRELOAD="$PM_LIB" "$py" dict.py rss >rss.txt 2>rss.err
ok=$?
sed 's/^/# /' rss.txt
[ $ok -eq 0 ] || tap_diag <rss.err
tap_result $ok "pm_stats_json accounts for python3's RSS within 5%"
tap_done
