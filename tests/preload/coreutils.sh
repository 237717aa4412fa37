#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/preload/coreutils.sh — everyday coreutils (and friends) under
# poolmalloc: ls, find, xargs, wc, tr, uniq, cut, join, tac, seq, sha256sum,
# du, stat, awk and sed over real files of the system.
. "$top_srcdir/tests/preload/preload.sh"

tap_plan 5
pm_compare "ls -lR of /usr/include" sh -c 'ls -lR --time-style=+%s /usr/include | sha256sum'
pm_compare "find | xargs wc | sort" sh -c 'find /usr/include -name "*.h" | sort | xargs wc -l | tail -n 1'
pm_compare "seq | tac | sort -n | uniq | wc" sh -c 'seq 1 200000 | tac | sort -n | uniq -c | wc -l'
pm_compare "tr, cut, join, sha256sum" sh -c '
  seq 1 50000 | awk "{ print \$1, \$1 * 3 }" | sort >a.txt
  seq 1 3 50000 | awk "{ print \$1, \"x\" \$1 }" | sort >b.txt
  join a.txt b.txt | cut -d" " -f2,3 | tr x X | sha256sum
  sha256sum a.txt b.txt'
pm_compare "du, stat, sed over /usr/share" sh -c '
  du -s --apparent-size -B1 /usr/share/common-licenses 2>/dev/null
  stat -c "%n %s" /usr/share/common-licenses/* | sed "s/common/COMMON/" | sort'
tap_done
