# SPDX-License-Identifier: MIT
# bench/bench.mk — make bench: poolmalloc (and poolmalloc-secure) side by side with glibc, jemalloc,
# mimalloc and tcmalloc (issue 3; how to read the numbers: docs/benchmarks.md).
#
#   bench/programs/*        whole-program benchmarks, plain C (bigbuf: C++), built by every
#                           `make` (so CI compiles them) but run only by bench
#   bench/pm-bench-exec     runs one command, prints wall/CPU/peak RSS
#                           (tools/bench-run's measuring arm, bench/runner.c)
#   bench/pm-microbench     the micro benchmarks: C workloads + one C++ file
#                           registering them with Google Benchmark; built only
#                           when configure found libbenchmark (HAVE_GBENCH)
#
# None of these programs links poolmalloc: tools/bench runs each of them once
# per allocator under LD_PRELOAD (glibc = no preload), exactly as users
# deploy an allocator.  The targets:
#
#   make bench          full run (>= 5 interleaved repetitions), writes
#                       $(srcdir)/bench/results/<date>-<host>.{md,json,jsonl,png}
#   make bench-short    the Quick start's comparison (a few minutes: whole
#                       programs, 5 repetitions), tables on the terminal and
#                       in bench/results-short/ in the build tree
#   make bench-quick    smoke run (< 2 min), writes bench/results-quick/ in
#                       the build tree; proves the harness works, judges nothing
#   make bench-smoke    bench-quick, then checks that every report file exists
#                       and names every installed allocator (for CI)
#   make bench-icount   instructions per fast-path operation under callgrind,
#                       poolmalloc and the installed peers (tools/bench-icount;
#                       deterministic); BENCH_ICOUNT_FLAGS=--smoke in CI
# BENCH_FLAGS passes options through, e.g. make bench BENCH_FLAGS='--only micro'.

PM_BENCH_PROGS = bench/pm-bench-exec \
	bench/programs/larson bench/programs/xmalloc bench/programs/falseshare \
	bench/programs/mstress bench/programs/textbuild bench/programs/bigbuf bench/icount/ops
noinst_PROGRAMS += $(PM_BENCH_PROGS)
bench_icount_ops_SOURCES = bench/icount/ops.c
bench_icount_ops_CFLAGS = $(AM_CFLAGS) -fno-builtin
bench_icount_ops_LDADD = -lpthread
EXTRA_DIST += tools/bench-icount
bench_pm_bench_exec_SOURCES = bench/runner.c
bench_programs_larson_SOURCES = bench/programs/larson.c bench/programs/prog.h
bench_programs_larson_LDADD = -lpthread
bench_programs_xmalloc_SOURCES = bench/programs/xmalloc.c bench/programs/prog.h
bench_programs_xmalloc_LDADD = -lpthread
bench_programs_falseshare_SOURCES = bench/programs/falseshare.c bench/programs/prog.h
bench_programs_falseshare_LDADD = -lpthread
bench_programs_mstress_SOURCES = bench/programs/mstress.c bench/programs/prog.h
bench_programs_mstress_LDADD = -lpthread
bench_programs_textbuild_SOURCES = bench/programs/textbuild.c bench/programs/prog.h
bench_programs_textbuild_LDADD = -lpthread
# C++ on purpose: new[] + value-initialisation, which GCC cannot turn into
# calloc (bench/programs/bigbuf.cc explains why that matters).
bench_programs_bigbuf_SOURCES = bench/programs/bigbuf.cc bench/rng.h
# Not timed: the callgrind probe of the large malloc/free pair (issue 8 §1).
noinst_PROGRAMS += bench/programs/largepair
bench_programs_largepair_SOURCES = bench/programs/largepair.c
bench_programs_largepair_CFLAGS = $(AM_CFLAGS) -fno-builtin
# Not timed either: the probe of large realloc growth (issue 8 §1).
noinst_PROGRAMS += bench/programs/largegrow
bench_programs_largegrow_SOURCES = bench/programs/largegrow.c
bench_programs_largegrow_CFLAGS = $(AM_CFLAGS) -fno-builtin

if HAVE_GBENCH
PM_MICROBENCH = bench/pm-microbench
noinst_PROGRAMS += bench/pm-microbench
bench_pm_microbench_SOURCES = \
	bench/micro.cc bench/harness.h bench/workloads/table.c \
	bench/workloads/sizeclass.c bench/workloads/batch.c bench/workloads/calloc.c \
	bench/workloads/realloc.c bench/workloads/aligned.c bench/workloads/xthread.c \
	bench/workloads/churn.c
bench_pm_microbench_CPPFLAGS = -I$(top_srcdir)/bench
bench_pm_microbench_LDADD = $(GBENCH_LIBS) -lpthread
else
PM_MICROBENCH =
EXTRA_DIST += bench/micro.cc bench/harness.h bench/workloads
endif

EXTRA_DIST += \
	bench/rng.h bench/suites/micro.sh bench/suites/programs.sh bench/suites/real.sh \
	bench/programs/pyobjects.py bench/programs/gen-sqlite.py bench/programs/gen-csource.py \
	bench/results bench/allocators bench/gbench2jsonl.jq tools/benchlib.py tools/bench tools/bench-run \
	tools/bench-report tools/bench-readme tools/bench-smoke

PM_BENCH_RUN = $(top_srcdir)/tools/bench --build '$(abs_top_builddir)' --src '$(abs_top_srcdir)'

.PHONY: bench bench-short bench-quick bench-smoke bench-icount bench-programs bench-short-programs clean-local-bench
bench-programs: $(PM_BENCH_PROGS) $(PM_MICROBENCH) lib/libpoolmalloc.la lib/libpoolmalloc-secure.la
# What tools/quickstart builds: the short comparison's programs, the library
# and pmrun, not the test-only internal library or the micro benchmarks.
bench-short-programs: $(PM_BENCH_PROGS) lib/libpoolmalloc.la tools/pmrun

bench: bench-programs
	$(PM_BENCH_RUN) $(BENCH_FLAGS)

bench-short: bench-short-programs
	$(PM_BENCH_RUN) --short $(BENCH_FLAGS)

bench-quick: bench-programs
	$(PM_BENCH_RUN) --quick --out-dir '$(abs_top_builddir)/bench/results-quick' $(BENCH_FLAGS)

bench-smoke: bench-programs
	$(top_srcdir)/tools/bench-smoke --build '$(abs_top_builddir)' --src '$(abs_top_srcdir)'

bench-icount: bench-programs
	PM_BENCH_BUILD='$(abs_top_builddir)' $(top_srcdir)/tools/bench-icount $(BENCH_ICOUNT_FLAGS)

# Benchmark output in the build tree (published results live in the source
# tree and are never cleaned).  Other fragments may add their own
# prerequisites to clean-local the same way.
clean-local: clean-local-bench
clean-local-bench:
	-rm -rf bench/results-quick bench/results-short bench/results-smoke bench/work
