#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/gc/example.sh — runs examples/minilang (linked against the shipped
# libpoolmalloc) and checks what it reports: the self-containing list, the
# weak cache, the 1000-node parent/child tree collected as 1002 objects
# (1000 dicts + the root + the self-containing list), nothing left but the
# immortal globals.  TAP output.
bin=${top_builddir:-.}/examples/minilang
echo 1..5
if [ ! -x "$bin" ]; then
  for i in 1 2 3 4 5; do echo "ok $i # SKIP examples/minilang not built"; done
  exit 0
fi
out=$("$bin" 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check() { # n description pattern
  if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -qx "$3"; then echo "ok $1 - $2"; else echo "not ok $1 - $2"; fi
}
check 1 "list containing itself" 'len(x) = 3, x\[2\] is x: True'
check 2 "weakrefs cleared by refcount deaths" 'weak cache: 50 entries died by refcount'
check 3 "cycles collected" 'after del: collection found 1002 unreachable'
check 4 "weakrefs cleared by the collector" 'weak cache: 100 entries died in total'
check 5 "only the immortal globals are left" 'left: 7 objects .*'
