#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/suites/programs.sh — the whole-program benchmarks written here
# (bench/programs/*.c), each run as its own process under each allocator
# by tools/bench-run (wall, CPU, peak RSS; interleaved repetitions).
# Thread count = the number of online CPUs, so every core is busy and the
# cross-thread paths are really concurrent (bigbuf is single-threaded: it
# measures large-block reuse, not concurrency).  Arguments per program:
# docs/benchmarks.md, "Whole-program benchmarks".  PM_BENCH_SCALE=short (the
# Quick start) runs four of them at about half size and leaves out the two
# false-sharing ones (they measure cache-line placement more than malloc)
# and bigbuf.
set -eu
p="$PM_BENCH_BUILD/bench/programs"
t=$(nproc 2>/dev/null || echo 2)
for prog in larson xmalloc falseshare mstress textbuild bigbuf; do
	[ -x "$p/$prog" ] || { echo "programs.sh: $p/$prog not built (run make)" >&2; exit 1; }
done
scale=${PM_BENCH_SCALE:-full}
[ "${PM_BENCH_QUICK:-0}" = 1 ] && scale=quick
if [ "$scale" = quick ]; then
	larson="$t 2 20000 1000 16 512"; xmalloc="$t 100000 256"; fs="$t 200 8 1000"
	mstress="$t 20000 2000"; text="$t 20 100"; bigbuf="20 100 5 25"
elif [ "$scale" = short ]; then
	exec "$PM_BENCH_SRC/tools/bench-run" --suite programs \
		--title "Whole-program benchmarks ($t threads; wall time, peak RSS)" \
		--workload larson "$p/larson $t 10 500000 1000 16 512" \
		--workload xmalloc "$p/xmalloc $t 2000000 256" \
		--workload mstress "$p/mstress $t 600000 20000" \
		--workload textbuild "$p/textbuild $t 1000 400"
else
	larson="$t 30 500000 1000 16 512"; xmalloc="$t 6000000 256"; fs="$t 10000 8 5000"
	mstress="$t 2000000 20000"; text="$t 3000 400"; bigbuf="20 2000 5 25"
fi
# --variants: also the allocators with their heap profilers on
# (poolmalloc-prof, jemalloc-prof, tcmalloc-sample; tools/bench VARIANTS).
exec "$PM_BENCH_SRC/tools/bench-run" --suite programs --variants \
	--title "Whole-program benchmarks ($t threads; wall time, peak RSS)" \
	--workload larson "$p/larson $larson" \
	--workload xmalloc "$p/xmalloc $xmalloc" \
	--workload falseshare-active "$p/falseshare active $fs" \
	--workload falseshare-passive "$p/falseshare passive $fs" \
	--workload mstress "$p/mstress $mstress" \
	--workload textbuild "$p/textbuild $text" \
	--workload bigbuf "$p/bigbuf $bigbuf"
