#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/preload/git.sh — git under poolmalloc: init, add, commit, branch,
# merge, log, gc in a private repository.  Dates, names and config are fixed,
# so commit hashes (part of the output) are identical in both runs.
. "$top_srcdir/tests/preload/preload.sh"

command -v git >/dev/null || { echo "1..0 # SKIP no git"; exit 0; }
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=pm GIT_AUTHOR_EMAIL=pm@example.org \
  GIT_COMMITTER_NAME=pm GIT_COMMITTER_EMAIL=pm@example.org \
  GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z'
cat >"$pm_tmp/git-work.sh" <<'SH'
set -e
git init -q -b main repo
cd repo
i=0
while [ $i -lt 300 ]; do
  printf 'file %d\nline two %d\n' $i $((i * i)) >"f$i.txt"
  i=$((i + 1))
done
git add .
git commit -q -m "three hundred files"
git checkout -q -b side
sed -i 's/two/2/' f1*.txt
git commit -q -am "side edits"
git checkout -q main
printf 'main change\n' >>f7.txt
git commit -q -am "main edit"
git merge -q --no-edit side
git log --format='%H %s' --topo-order
git gc -q
git count-objects -v | grep -v size
git fsck --no-progress
git show --stat HEAD~1 | tail -n 3
SH
tap_plan 1
pm_compare "git init/add/commit/merge/log/gc/fsck" sh "$pm_tmp/git-work.sh"
tap_done
