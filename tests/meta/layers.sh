#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/meta/layers.sh — lib/ calls go down, and only prim.c makes system
# calls (tools/check-layers reads the allowed edges from docs/design.md;
# issue 12 §3).
. "$top_srcdir/tests/tap.sh"
tap_plan 1
out=$(python3 "$top_srcdir/tools/check-layers" "$top_srcdir" 2>&1)
rc=$?
printf '%s\n' "$out" | tap_diag
tap_result $rc "lib/ files call only the layers below them"
tap_done
