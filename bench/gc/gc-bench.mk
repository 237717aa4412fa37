# SPDX-License-Identifier: MIT
# bench/gc/gc-bench.mk — the GC layer's benchmark programs (issue 4; moved
# out of lib/gc/gc.mk by issue 12: the library's fragment builds the
# library, this one the benchmarks).  Included from Makefile.am after
# bench/bench.mk; bench/suites/gc.sh runs them (docs/benchmarks.md).
#
#   bench/gc/gcbench      collection time, refcount and allocation micro
#                         benchmarks (links the shipped libpoolmalloc)
#   bench/gc/allocbench   the malloc/free side, run under each allocator
#   bench/gc/boehm        the same graphs under Boehm GC (HAVE_BDWGC)
# bench/gc/graph.py is the CPython side; bench/gc/compare.py runs two
# builds of gcbench side by side (docs/gc.md, "Benchmarks").  Built by
# `make`; `make bench` depends on them through bench-programs.
EXTRA_DIST += bench/gc/graph.h bench/gc/graph.py bench/gc/run.py bench/gc/compare.py \
	bench/suites/gc.sh
if PM_GC
PM_GC_BENCH_PROGS = bench/gc/gcbench bench/gc/allocbench
bench_gc_gcbench_SOURCES = bench/gc/gcbench.c bench/gc/graph.h
bench_gc_gcbench_LDADD = lib/libpoolmalloc.la
bench_gc_gcbench_LDFLAGS = -no-install
bench_gc_allocbench_SOURCES = bench/gc/allocbench.c bench/gc/graph.h
if HAVE_BDWGC
PM_GC_BENCH_PROGS += bench/gc/boehm
bench_gc_boehm_SOURCES = bench/gc/boehm.c bench/gc/graph.h
bench_gc_boehm_CFLAGS = $(AM_CFLAGS) $(BDWGC_CFLAGS)
bench_gc_boehm_LDADD = $(BDWGC_LIBS)
endif
noinst_PROGRAMS += $(PM_GC_BENCH_PROGS)
else
PM_GC_BENCH_PROGS =
endif
bench-programs: $(PM_GC_BENCH_PROGS)
