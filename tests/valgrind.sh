#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/valgrind.sh — run test programs under valgrind's memcheck.
#
# Usage: tests/valgrind.sh PROGRAM...   (make check-valgrind passes the unit
# tests: they link libpm_internal.la and do not preload, so memcheck sees
# poolmalloc's own code running on mmap'd memory, with glibc's malloc left
# alone for the harness).  Each program must pass its TAP plan and valgrind
# must report no error (--error-exitcode).  Prints TAP and a summary line;
# exits 1 if anything failed.  VALGRIND overrides the valgrind command.
#
# Why not autoconf-archive's AX_VALGRIND_CHECK (issue 11.10): its
# check-valgrind runs every compiled program of TESTS under the tool, through
# LOG_COMPILER, with no way to pick some.  Half of ours link the shipped
# libpoolmalloc, whose malloc replaces libc's just as memcheck's does; under
# memcheck tests/api/*, tests/stress/startup and tests/cxx/new_linked abort
# or fail (tried 2026-11-29).  Using the macro would mean running it as
# `make check-valgrind TESTS='...'` and leaving plain `make check-valgrind`
# broken, so this script stays: it runs exactly the programs that exercise
# poolmalloc's code without replacing malloc.
. "$(dirname "$0")/tap.sh"

vg=${VALGRIND:-valgrind}
command -v "$vg" >/dev/null 2>&1 || { echo "1..0 # SKIP valgrind not installed"; exit 0; }
tap_plan $#
for t in "$@"; do
  log=$t.valgrind.log
  case $t in /*) prog=$t ;; *) prog=./$t ;; esac
  "$vg" --error-exitcode=99 --quiet --log-file="$log.vg" "$prog" >"$log" 2>&1
  rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "# $t: exit status $rc (99 = valgrind found errors)"
    tap_diag <"$log.vg"
    grep '^not ok' "$log" | tap_diag
  fi
  tap_result $rc "valgrind $t"
done
echo "# $((tap_k - tap_nfail)) passed, $tap_nfail failed"
tap_done
