#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/suites/real.sh — real programs from Debian under each allocator:
#   python-malloc    /usr/bin/python3 with PYTHONMALLOC=malloc running
#                    bench/programs/pyobjects.py: every object is a malloc
#   python-pymalloc  the same script with CPython's own pymalloc (reference
#                    row: shown, but left out of the geometric means, since
#                    the allocator under test only sees pymalloc's arenas
#                    and objects > 512 B)
#   sqlite3          an in-memory database fed a generated SQL script
#   gcc-O2           gcc -O2 -c on a generated C file (cc1 and as inherit
#                    LD_PRELOAD)
# Inputs are generated once, before timing, into the build tree.  A tool
# that is not installed is skipped with a note (apt-get install sqlite3).
# PM_BENCH_SCALE=short (the Quick start) runs python-malloc and sqlite3 only,
# at smaller sizes.
set -eu
unset PYTHONMALLOC  # python-pymalloc must run with the default allocator
work="$PM_BENCH_BUILD/bench/work"
mkdir -p "$work"
src="$PM_BENCH_SRC/bench/programs"
py=/usr/bin/python3
scale=${PM_BENCH_SCALE:-full}
[ "${PM_BENCH_QUICK:-0}" = 1 ] && scale=quick
case $scale in
quick) pyargs="1 10 4000 3000"; sqlrows=5000; nfuncs=10 ;;
short) pyargs="1 13 40000 25000"; sqlrows=40000; nfuncs=0 ;;
*) pyargs="2"; sqlrows=150000; nfuncs=120 ;;
esac
set --
if [ -x "$py" ]; then
	# -s, not -I: -I implies -E, which makes python ignore PYTHONMALLOC,
	# so the python-malloc row would silently measure pymalloc again.
	set -- "$@" --workload python-malloc "PYTHONMALLOC=malloc $py -s $src/pyobjects.py $pyargs"
	if [ "$scale" != short ]; then
		set -- "$@" --workload python-pymalloc "$py -s $src/pyobjects.py $pyargs"
		set -- "$@" --reference python-pymalloc
	fi
else
	echo "real.sh: $py missing, python rows skipped" >&2
fi
if command -v sqlite3 >/dev/null 2>&1; then
	python3 "$src/gen-sqlite.py" "$sqlrows" >"$work/sqlite-$sqlrows.sql"
	set -- "$@" --workload sqlite3 "sqlite3 :memory: <$work/sqlite-$sqlrows.sql"
else
	echo "real.sh: sqlite3 not installed (apt-get install sqlite3), row skipped" >&2
fi
if [ "$nfuncs" -gt 0 ] && command -v gcc >/dev/null 2>&1; then
	python3 "$src/gen-csource.py" "$nfuncs" >"$work/big-$nfuncs.c"
	set -- "$@" --workload gcc-O2 "gcc -O2 -c $work/big-$nfuncs.c -o $work/big-$nfuncs.o"
fi
[ $# -gt 0 ] || { echo "real.sh: no real program available" >&2; exit 1; }
exec "$PM_BENCH_SRC/tools/bench-run" --suite real \
	--title "Real programs (wall time, peak RSS)" "$@"
