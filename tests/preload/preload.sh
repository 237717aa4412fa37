# SPDX-License-Identifier: MIT
# tests/preload/preload.sh — shared by the preload tests (sourced, not run).
#
#   pm_compare NAME CMD [ARGS...]
#     runs CMD twice, in two fresh empty directories: plainly, and with
#     LD_PRELOAD=$PM_LIB POOLMALLOC_SHOW_STATS=1.  One TAP result: ok when the
#     exit statuses are equal, stdout is byte-identical, stderr is identical
#     once poolmalloc's reports are removed, and those reports prove that
#     poolmalloc served the program (pm_proof).
#   pm_proof FILE
#     true if FILE holds at least one "poolmalloc statistics" report with
#     peak_mapped > 0 and nheaps > 0: our allocator mapped memory for a
#     thread heap in that process, so its malloc was the one in use.
# Everything runs under LC_ALL=C with a private HOME and TMPDIR.
. "$top_srcdir/tests/tap.sh"
# The tests set the POOLMALLOC_* options they need; none leak in from outside.
for v in $(env | sed -n 's/^\(POOLMALLOC_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

: "${PM_LIB:?PM_LIB must name the built libpoolmalloc.so}"
if [ ! -f "$PM_LIB" ]; then
  echo "1..0 # SKIP $PM_LIB not built"
  exit 0
fi
pm_tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm-preload.XXXXXX") || exit 1
trap 'rm -rf "$pm_tmp"' EXIT
export LC_ALL=C HOME="$pm_tmp/home" TMPDIR="$pm_tmp/tmp"
mkdir -p "$HOME" "$TMPDIR"

# The first interpreter found that is not a wrapper script (pyenv shims are
# bash scripts: fine under preload, but the real binary is what we test).
pm_python() {
  for p in /usr/bin/python3 "$(command -v python3 2>/dev/null)"; do
    [ -n "$p" ] && [ -x "$p" ] && { echo "$p"; return 0; }
  done
  return 1
}

pm_proof() {
  awk '
    /^poolmalloc statistics/ { n++; inrep = 1; next }
    inrep && $1 == "peak_mapped" && $2 + 0 > 0 { peak++ }
    inrep && $1 == "nheaps" && $2 + 0 > 0 { heaps++ }
    END { exit !(n > 0 && peak > 0 && heaps > 0) }
  ' "$1"
}

# stderr without poolmalloc's reports (the header line and every indented
# line after it: the counters and the "in short" summary).
pm_strip() {
  awk '/^poolmalloc statistics/ { inrep = 1; next }
       inrep && /^  / { next }
       { inrep = 0; print }' "$1"
}

pm_compare() {
  name=$1
  shift
  d=$pm_tmp/run.$tap_k
  mkdir -p "$d/plain" "$d/pm"
  (cd "$d/plain" && "$@") >"$d/plain.out" 2>"$d/plain.err"
  prc=$?
  (cd "$d/pm" && env LD_PRELOAD="$PM_LIB" POOLMALLOC_SHOW_STATS=1 "$@") >"$d/pm.out" 2>"$d/pm.err"
  rc=$?
  ok=0
  if [ "$prc" -ne "$rc" ]; then
    echo "# $name: exit status $rc under poolmalloc, $prc without"
    ok=1
  fi
  if ! cmp -s "$d/plain.out" "$d/pm.out"; then
    echo "# $name: stdout differs under poolmalloc"
    diff "$d/plain.out" "$d/pm.out" | tap_diag
    ok=1
  fi
  pm_strip "$d/pm.err" >"$d/pm.err.stripped"
  if ! cmp -s "$d/plain.err" "$d/pm.err.stripped"; then
    echo "# $name: stderr differs under poolmalloc"
    diff "$d/plain.err" "$d/pm.err.stripped" | tap_diag
    ok=1
  fi
  if ! pm_proof "$d/pm.err"; then
    echo "# $name: no poolmalloc statistics report proving it was used"
    tap_diag <"$d/pm.err"
    ok=1
  fi
  [ "$prc" -eq 0 ] || { echo "# $name: the command itself failed (status $prc)"; ok=1; }
  tap_result $ok "$name"
}
