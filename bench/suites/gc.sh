#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/suites/gc.sh — the GC layer's benchmarks (issue 4): collection time
# and peak RSS of poolmalloc's cycle collector against CPython's gc and the
# Boehm collector on the same graphs (suite "gc"), and refcount /
# allocation micro benchmarks against malloc/free (suite "gc-micro").
# Everything is in bench/gc/run.py; the graph shapes are described in
# bench/gc/graph.h.  Environment: the suite contract (docs/benchmarks.md).
set -eu
if [ ! -x "$PM_BENCH_BUILD/bench/gc/gcbench" ] && [ ! -x "$PM_BENCH_BUILD/bench/gc/allocbench" ]; then
	echo "gc.sh: bench/gc programs not built (run make; configure --disable-gc leaves them out)" >&2
fi
exec python3 "$PM_BENCH_SRC/bench/gc/run.py"
