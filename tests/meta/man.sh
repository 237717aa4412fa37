#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/meta/man.sh — the man pages make builds (man/man.mk) render: groff
# reads each without a warning (-ww, tbl on), man -l formats it, and the
# sections a reader looks for are there.  poolmalloc(3)'s options table has
# every option of lib/options.def.  tools/gen-man's pages also render
# without a warning under a long install prefix (distcheck's _inst in a deep
# build tree made groff warn that it could not adjust the FILES lines).
# Needs man-db and groff (Debian: man-db, groff-base); without them the
# points are skipped.
. "$top_srcdir/tests/tap.sh"
pages="man/poolmalloc.3 man/pmrun.1"
[ -f "$top_builddir/man/poolmalloc_gc.3" ] && pages="$pages man/poolmalloc_gc.3"
tap_plan 5
if ! command -v groff >/dev/null 2>&1 || ! command -v man >/dev/null 2>&1; then
  tap_skip "groff reads every page without a warning" "groff or man not installed"
  tap_skip "man -l formats every page" "groff or man not installed"
  tap_skip "every page has NAME, SYNOPSIS, DESCRIPTION, SEE ALSO" "groff or man not installed"
  tap_skip "poolmalloc(3) lists every option" "groff or man not installed"
  tap_skip "pages render without a warning under a long install prefix" "groff or man not installed"
  tap_done
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm-man.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
ok=0
for p in $pages; do
  groff -man -t -ww -z -Tutf8 "$top_builddir/$p" >"$tmp/warn" 2>&1
  if [ -s "$tmp/warn" ] || [ ! -s "$top_builddir/$p" ]; then echo "# $p:"; tap_diag <"$tmp/warn"; ok=1; fi
done
tap_result $ok "groff reads every page without a warning"
ok=0
for p in $pages; do
  n=$(basename "$p")
  LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$top_builddir/$p" >"$tmp/$n.txt" 2>"$tmp/err" </dev/null
  if [ $? -ne 0 ] || [ -s "$tmp/err" ] || [ "$(wc -l <"$tmp/$n.txt")" -lt 20 ]; then echo "# man -l $p:"; tap_diag <"$tmp/err"; ok=1; fi
done
tap_result $ok "man -l formats every page"
ok=0
for p in $pages; do
  n=$(basename "$p")
  for s in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
    grep -q "^$s\$" "$tmp/$n.txt" || { echo "# $p has no $s section"; ok=1; }
  done
done
for s in OPTIONS ENVIRONMENT DIAGNOSTICS FILES; do
  grep -q "^$s\$" "$tmp/poolmalloc.3.txt" || { echo "# poolmalloc(3) has no $s section"; ok=1; }
done
tap_result $ok "every page has NAME, SYNOPSIS, DESCRIPTION, SEE ALSO (poolmalloc(3) also OPTIONS, ENVIRONMENT, DIAGNOSTICS, FILES)"
ok=0
for o in $(sed -n 's/^PM_OPTION(\([A-Z_0-9]*\),.*/\1/p' "$top_srcdir/lib/options.def"); do
  grep -q "POOLMALLOC_$o" "$tmp/poolmalloc.3.txt" || { echo "# POOLMALLOC_$o missing"; ok=1; }
done
tap_result $ok "poolmalloc(3) lists every option of lib/options.def"
ok=0
long=/home/builder/work/a-fairly-deep/checkout/of/poolmalloc-0.1.0/_build/sub/../_inst
for p in pmrun.1 poolmalloc.3 poolmalloc_gc.3; do
  sh "$top_srcdir/tools/gen-man" 0.1.0 2026-01-01 "$long/lib" "$long/include" "$top_srcdir/man/$p.in" |
    sed '/^@OPTIONS@$/d' >"$tmp/long-$p"
  groff -man -t -ww -z -Tutf8 "$tmp/long-$p" >"$tmp/warn" 2>&1
  LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$tmp/long-$p" 2>>"$tmp/warn" >/dev/null </dev/null
  grep -q "$long" "$tmp/long-$p" && { echo "# $p: a path without break points"; ok=1; }
  if [ -s "$tmp/warn" ]; then echo "# $p under $long:"; tap_diag <"$tmp/warn"; ok=1; fi
done
tap_result $ok "pages render without a warning under a long install prefix"
tap_done
