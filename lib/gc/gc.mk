# SPDX-License-Identifier: MIT
# lib/gc/gc.mk — the GC object layer (issue 4; docs/gc.md).
# PM_GC_SOURCES is compiled into both lib/libpoolmalloc.la and
# lib/libpm_internal.la (see lib/lib.mk) with $(PM_LIB_CFLAGS).
if PM_GC
PM_GC_SOURCES = \
	lib/gc/gc_internal.h \
	lib/gc/object.c \
	lib/gc/collect.c \
	lib/gc/weakref.c \
	lib/gc/control.c
pminclude_HEADERS += include/poolmalloc/gc.h
else
PM_GC_SOURCES =
endif

# ---- Benchmarks of the layer (bench/suites/gc.sh runs them) -----------------
#   bench/gc/gcbench      collection time, refcount and allocation micro
#                         benchmarks (links the shipped libpoolmalloc)
#   bench/gc/allocbench   the malloc/free side, run under each allocator
#   bench/gc/boehm        the same graphs under Boehm GC (HAVE_BDWGC)
# bench/gc/graph.py is the CPython side.  Built by `make`; `make bench`
# depends on them through bench-programs.
EXTRA_DIST += bench/gc/graph.h bench/gc/graph.py bench/gc/run.py bench/suites/gc.sh
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
