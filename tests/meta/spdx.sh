#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/meta/spdx.sh — every source file names its licence: the line
# "SPDX-License-Identifier: MIT" in its first comment (one of its first three
# lines, after a #! line).  Sources are the files git tracks, or, in a tree
# without git (a tarball, make distcheck), every file under the source tree
# except what autotools generate.  Data (bench/results), prose (*.md), the
# licence texts and debian/'s changelog and copyright (formats without
# comments) are not sources.  One TAP point per directory.
. "$top_srcdir/tests/tap.sh"
cd "$top_srcdir" || exit 1
list=$(mktemp) && trap 'rm -f "$list"' EXIT
if command -v git >/dev/null 2>&1 && git rev-parse --is-inside-work-tree >/dev/null 2>&1 &&
   [ "$(git rev-parse --show-toplevel)" = "$(pwd -P)" ]; then
  git ls-files
else
  find . -type f ! -path './autom4te.cache/*' ! -path './build-aux/*' ! -path './m4/*' \
    ! -path './_build/*' ! -path './debian/.debhelper/*' | sed 's|^\./||'
fi | grep -v -E '(^|/)(Makefile\.in|configure|aclocal\.m4|config\.h\.in|\.gitignore|\.keep)$' |
  grep -v -E '^(bench/results/|LICENSE$|NEWS$|.*\.md$)' |
  grep -v -E '^debian/.*/' |
  grep -E '\.(c|h|cc|py|sh|mk|am|ac|in|def|jq)$|^tools/[a-z-]*$|^\.ci/|^debian/(control|rules|[a-z0-9-]*\.install)$|^bench/allocators$' |
  sort >"$list"
dirof='{ d = $0; if (!sub("/[^/]*$", "", d)) d = "."; print d "\t" $0 }'
dirs=$(awk "$dirof" "$list" | cut -f1 | sort -u)
tap_plan "$(printf '%s\n' "$dirs" | wc -l)"
for d in $dirs; do
  bad=
  for f in $(awk "$dirof" "$list" | awk -F'\t' -v d="$d" '$1 == d { print $2 }'); do
    head -n 3 "$f" | grep -q 'SPDX-License-Identifier: MIT' || bad="$bad $f"
  done
  [ -z "$bad" ] || echo "# no SPDX-License-Identifier: MIT in the first comment of:$bad"
  tap_result "$([ -z "$bad" ] && echo 0 || echo 1)" "SPDX identifier in every source file of $d/"
done
tap_done
