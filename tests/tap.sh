# SPDX-License-Identifier: MIT
# tests/tap.sh — TAP output for the shell tests (sourced, not run).
#
#   tap_plan N            print "1..N"
#   tap_result RC NAME    "ok K - NAME" if RC is 0, else "not ok K - NAME"
#   tap_skip NAME WHY     "ok K - NAME # SKIP WHY"
#   tap_diag < file       copy a file as "# " comment lines (first 40 lines)
#   tap_done              exit 1 if any result failed, else 0
# The shell twin of tests/tap.h; same conventions (see docs/testing.md).

tap_k=0
tap_nfail=0

tap_plan() { echo "1..$1"; }

tap_result() {
  tap_k=$((tap_k + 1))
  if [ "$1" -eq 0 ]; then
    echo "ok $tap_k - $2"
  else
    echo "not ok $tap_k - $2"
    tap_nfail=$((tap_nfail + 1))
  fi
}

tap_skip() {
  tap_k=$((tap_k + 1))
  echo "ok $tap_k - $1 # SKIP $2"
}

tap_diag() { head -n 40 | sed 's/^/# /'; }

tap_done() {
  [ "$tap_nfail" -eq 0 ] || exit 1
  exit 0
}
