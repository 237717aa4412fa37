#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/oom/oom.sh — out of memory under RLIMIT_AS, and recovering from it
# (issue 7 §5).  Runs tests/oom/oom (a plain C program) with
# LD_PRELOAD=$PM_LIB.
#
#   recover   15 points: after filling a 64 MiB address-space budget until
#             NULL (errno ENOMEM each time) and freeing every block, each of
#             malloc, calloc, realloc, posix_memalign, aligned_alloc of 64 B,
#             64 KiB and 1 MiB must succeed at once (no malloc_trim).  A
#             control point makes the same 1 MiB malloc after malloc_trim(0).
#   budget    4 points: under the same absolute RLIMIT_AS (glibc's VmSize at
#             start + 64 MiB: what poolmalloc maps at load time counts, as
#             under ulimit -v), poolmalloc must fit at least 2/3 of what
#             glibc fits, in blocks of 64 B, 4 KiB, 100 000 B and 1 MiB.
# Why 2/3: measured on Debian 12 with this program, jemalloc 5.3 fits
# 67-101% of glibc's figure and tcmalloc 2.10 75-100% at these sizes, so
# 2/3 is what established allocators do; poolmalloc on c6a47e2 fits
# 37-59% (its flat 32 MiB chunk map counts against the limit), and 77-125%
# when its own load-time VmSize is taken as the base instead.
# Environment (from make check): top_srcdir, top_builddir, PM_LIB.
. "$top_srcdir/tests/tap.sh"
for v in $(env | sed -n 's/^\(POOLMALLOC_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

bin=$top_builddir/tests/oom/oom
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm-oom.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

tap_plan 20
for op in malloc calloc realloc posix_memalign aligned_alloc; do
  for size in 64 65536 1048576; do
    env LD_PRELOAD="$PM_LIB" "$bin" recover "$op" "$size" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq 3 ] && echo "# a NULL during the fill came with errno other than ENOMEM"
    [ "$rc" -eq 0 ] || tap_diag <"$tmp/err"
    tap_result $rc "after out of memory and freeing everything: $op($size) succeeds"
  done
done
env LD_PRELOAD="$PM_LIB" "$bin" recover trim+malloc 1048576 >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] || tap_diag <"$tmp/err"
tap_result $rc "control: after out of memory, freeing and malloc_trim: malloc(1048576) succeeds"

for size in 64 4096 100000 1048576; do
  "$bin" fill "$size" 64 >"$tmp/glibc" 2>&1
  base=$(sed -n 's/^base //p' "$tmp/glibc")
  glibc=$(sed -n 's/^filled \([0-9]*\) bytes.*/\1/p' "$tmp/glibc")
  env LD_PRELOAD="$PM_LIB" "$bin" fill "$size" 64 "$base" >"$tmp/pm" 2>&1
  pm=$(sed -n 's/^filled \([0-9]*\) bytes.*/\1/p' "$tmp/pm")
  ok=1
  if [ -n "$glibc" ] && [ -n "$pm" ] && [ "$glibc" -gt 0 ]; then
    echo "# $size-byte blocks under VmSize $base KiB + 64 MiB: glibc $((glibc >> 20)) MiB, poolmalloc $((pm >> 20)) MiB ($((pm * 100 / glibc))%)"
    [ $((pm * 3)) -ge $((glibc * 2)) ] && ok=0
  else
    tap_diag <"$tmp/glibc"
    tap_diag <"$tmp/pm"
  fi
  tap_result $ok "64 MiB of address space: poolmalloc fits >= 2/3 of glibc's data in $size-byte blocks"
done
tap_done
