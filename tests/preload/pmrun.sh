#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/preload/pmrun.sh — tools/pmrun CMD runs CMD with poolmalloc
# preloaded (found in the build tree here).  The command's output must be
# unchanged and poolmalloc's report must prove the preload happened; with
# --secure, the secure library is the one mapped.
. "$top_srcdir/tests/preload/preload.sh"

pmrun=
for p in "$top_builddir/tools/pmrun" "$top_srcdir/tools/pmrun"; do
  [ -f "$p" ] && { pmrun=$p; break; }
done
tap_plan 3
if [ -z "$pmrun" ]; then
  tap_skip "pmrun python3" "tools/pmrun not present"
  tap_skip "pmrun sort" "tools/pmrun not present"
  tap_skip "pmrun --secure" "tools/pmrun not present"
  tap_done
fi
py=$(pm_python) || py=python3

# pm_compare adds LD_PRELOAD itself; here pmrun must do it, so run both sides
# by hand: plain, and through pmrun with only POOLMALLOC_SHOW_STATS set.
pmrun_compare() {
  name=$1
  shift
  "$@" >"$pm_tmp/plain.out" 2>/dev/null
  prc=$?
  if [ -x "$pmrun" ]; then run="$pmrun"; else run="sh $pmrun"; fi
  env -u LD_PRELOAD POOLMALLOC_SHOW_STATS=1 $run "$@" >"$pm_tmp/pm.out" 2>"$pm_tmp/pm.err"
  rc=$?
  ok=0
  [ "$prc" -eq 0 ] && [ "$rc" -eq 0 ] || { echo "# $name: status $rc (plain $prc)"; ok=1; }
  cmp -s "$pm_tmp/plain.out" "$pm_tmp/pm.out" || { echo "# $name: output differs"; ok=1; }
  pm_proof "$pm_tmp/pm.err" || { echo "# $name: no proof of preload"; tap_diag <"$pm_tmp/pm.err"; ok=1; }
  tap_result $ok "$name"
}
pmrun_compare "pmrun python3" env PYTHONMALLOC=malloc "$py" -c 'print(sorted(str(i) for i in range(50000))[-3:])'
seq 1 100000 | sort -R --random-source=/dev/zero >"$pm_tmp/nums"
pmrun_compare "pmrun sort" sort -n "$pm_tmp/nums"
# --secure preloads libpoolmalloc-secure.so (and not the default library).
if [ -x "$pmrun" ]; then run="$pmrun"; else run="sh $pmrun"; fi
env -u LD_PRELOAD $run --secure cat /proc/self/maps >"$pm_tmp/maps" 2>"$pm_tmp/maps.err"
rc=$?
ok=0
[ "$rc" -eq 0 ] || { echo "# pmrun --secure: status $rc"; tap_diag <"$pm_tmp/maps.err"; ok=1; }
grep -q 'libpoolmalloc-secure\.so' "$pm_tmp/maps" || { echo "# pmrun --secure: libpoolmalloc-secure.so not mapped"; ok=1; }
grep -q 'libpoolmalloc\.so' "$pm_tmp/maps" && { echo "# pmrun --secure: the default library is mapped too"; ok=1; }
tap_result $ok "pmrun --secure preloads libpoolmalloc-secure.so"
tap_done
