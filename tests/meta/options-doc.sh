#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/meta/options-doc.sh — README's options table is the one
# tools/gen-options-doc makes from lib/options.def (so an option added to
# the list without regenerating README fails here), and the list itself
# reads: one row per PM_OPTION and PM_OPTION_PATH line, every numeric
# default inside its range.
. "$top_srcdir/tests/tap.sh"
gen="$top_srcdir/tools/gen-options-doc"
tap_plan 2
out=$(sh "$gen" --check "$top_srcdir/README.md" 2>&1); rc=$?
[ $rc -eq 0 ] || printf '%s\n' "$out" | tap_diag
tap_result $rc "README.md's options table matches lib/options.def"
n_def=$(grep -c -E '^PM_OPTION(_PATH)?\(' "$top_srcdir/lib/options.def")
rows=$(sh "$gen" --markdown | grep -c '^| `POOLMALLOC_')
bad=$(sh "$gen" --markdown | awk -F' *[|] *' '/^[|] `POOLMALLOC_/ && $4 != "a path" { split($4, r, /[.][.]/); if ($3 + 0 < r[1] + 0 || $3 + 0 > r[2] + 0) print $2 }')
[ "$rows" -eq "$n_def" ] && [ -z "$bad" ]; rc=$?
[ $rc -eq 0 ] || echo "# $rows rows for $n_def PM_OPTION lines; defaults out of range: $bad"
tap_result $rc "one row per option, every default within its range"
tap_done
