#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/gc/example.sh — runs examples/minilang (linked against the shipped
# libpoolmalloc) and checks what it reports: the self-containing list, the
# immortal small ints, the interned keys shared by the tree's dicts, the
# weak cache, the 1000-node parent/child tree collected as 1002 objects
# (1000 dicts + the root + the self-containing list), the interned strings
# nobody uses leaving the table, nothing left but the small ints, the
# globals and the intern table, and the DOT dump (parsed by Graphviz's dot
# when it is installed).  TAP output.
bin=${top_builddir:-.}/examples/minilang
echo 1..10
if [ ! -x "$bin" ]; then
  for i in 1 2 3 4 5 6 7 8 9 10; do echo "ok $i # SKIP examples/minilang not built"; done
  exit 0
fi
dot_file=$(mktemp) || exit 1
trap 'rm -f "$dot_file"' EXIT
out=$("$bin" --dot "$dot_file" 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
check() { # n description pattern
  if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -qx "$3"; then echo "ok $1 - $2"; else echo "not ok $1 - $2"; fi
}
check 1 "list containing itself" 'len(x) = 3, x\[2\] is x: True'
check 2 "weakrefs cleared by refcount deaths" 'weak cache: 50 entries died by refcount'
check 3 "cycles collected" 'after del: collection found 1002 unreachable'
check 4 "weakrefs cleared by the collector" 'weak cache: 100 entries died in total'
check 5 "small ints are shared immortals" '256 is 256: True, 257 is 257: False'
check 6 "dict keys are interned" 'interned: 5 strings; the tree.s dicts share one "child" key: True'
check 7 "unused interned strings leave the table" 'interned after del: 3 strings .*'
check 8 "nothing else is left" 'left: .*: True'
check 9 "the DOT dump" 'dot: 9 objects written to .*'
if ! command -v dot >/dev/null 2>&1; then
  echo "ok 10 # SKIP Graphviz's dot not installed"
elif dot -Tsvg -o /dev/null "$dot_file" 2>/dev/null; then
  echo "ok 10 - dot renders the dump"
else
  echo "not ok 10 - dot renders the dump"
fi
