#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/meta/headers.sh — each public header compiles alone (included twice,
# so its guard is tested too), with nothing else before it, under strict C
# and C++ flags (issue 12 §4): a client that builds with -Werror and these
# warnings must be able to include it.  Every C compiler found ($CC, gcc,
# clang) is tried on C99, C11 and C17; every C++ compiler ($CXX, g++,
# clang++) on C++11, C++17 and C++20.  One TAP point per header and language.
. "$top_srcdir/tests/tap.sh"
strict="-pedantic-errors -Wall -Wextra -Werror -Wconversion -Wsign-conversion -Wcast-qual -Wshadow -Wundef -Wredundant-decls"
CFLAGS_STRICT="$strict -Wstrict-prototypes -Wmissing-prototypes"
CXXFLAGS_STRICT=$strict
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm-headers.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
headers="poolmalloc.h"
[ -f "$top_srcdir/include/poolmalloc/gc.h" ] && headers="$headers poolmalloc/gc.h"
compilers() { # the distinct compilers among the arguments that exist (one word each)
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 && echo "$c"; done | awk '!seen[$0]++'
}
ccs=$(compilers "${CC%% *}" gcc clang)
cxxs=$(compilers "${CXX%% *}" g++ clang++)
tap_plan $(( $(echo $headers | wc -w) * 2 ))
for h in $headers; do
  printf '#include <%s>\n#include <%s>\n' "$h" "$h" >"$tmp/t.c"
  cp "$tmp/t.c" "$tmp/t.cc"
  for lang in C C++; do
    ok=0 tried=
    if [ $lang = C ]; then list=$ccs stds="c99 c11 c17" flags=$CFLAGS_STRICT file=$tmp/t.c
    else list=$cxxs stds="c++11 c++17 c++20" flags=$CXXFLAGS_STRICT file=$tmp/t.cc; fi
    for cc in $list; do
      for std in $stds; do
        # shellcheck disable=SC2086
        if ! $cc -std=$std $flags -I"$top_srcdir/include" -fsyntax-only "$file" >"$tmp/err" 2>&1; then
          echo "# $cc -std=$std: $h"; tap_diag <"$tmp/err"; ok=1
        fi
        tried="$tried $cc/$std"
      done
    done
    [ -n "$tried" ] || { tap_skip "$h alone as $lang" "no $lang compiler"; continue; }
    tap_result $ok "$h alone as $lang, strict flags:$tried"
  done
done
tap_done
