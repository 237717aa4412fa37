#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/preload/sort.sh — GNU sort on a large generated file, under
# poolmalloc: lexical, numeric, keyed and unique sorts must give the same
# bytes as with glibc's malloc.  sort buffers its input through malloc in
# large blocks, so this exercises the large path and realloc growth.
. "$top_srcdir/tests/preload/preload.sh"

awk 'BEGIN { srand(42); for (i = 0; i < 300000; i++)
       printf "%08d %s %d.%d\n", int(rand() * 1e8), substr("qwertyuiopasdfghjklzxcvbnm", int(rand() * 20) + 1, 6), i % 977, int(rand() * 1000) }' \
  >"$pm_tmp/big.txt"
tap_plan 5
pm_compare "sort (lexical, 300k lines)" sort "$pm_tmp/big.txt"
pm_compare "sort -n -k3 -s" sort -n -k3 -s "$pm_tmp/big.txt"
pm_compare "sort -k2,2 -u" sort -k2,2 -u "$pm_tmp/big.txt"
pm_compare "sort -S 1M (external merge through temp files)" sort -S 1M -r "$pm_tmp/big.txt"
pm_compare "sort --parallel=2 (threads free each other's buffers)" sort --parallel=2 -S 64M -k2 "$pm_tmp/big.txt"
tap_done
