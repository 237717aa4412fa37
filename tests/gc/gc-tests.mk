# SPDX-License-Identifier: MIT
# tests/gc/gc-tests.mk — tests of the GC object layer (issue 4; docs/gc.md).
#
#   refcount  counts, prompt frees, the million-long chain, immortals, atomics
#   collect   cycles, generations, thresholds, bytes trigger, freeze, SAVEALL,
#             stats, callbacks, introspection, memory back to the OS
#   finalize  PEP 442 finalizers, resurrection, weak references + callbacks
#   random    random graphs against a reachability oracle
#   misuse    the diagnostics (child processes; abort in debug builds)
#   threads   mutators under a client lock + deaths racing collections
#   cxx       the public header from C++, linked to the shipped library
#   example   examples/minilang run through tests/gc/example.sh
# The C tests link libpm_internal.la (unit style, they may read config.h).
if PM_GC
PM_GC_TESTS = tests/gc/test_refcount tests/gc/test_collect \
	tests/gc/test_finalize tests/gc/test_random tests/gc/test_misuse \
	tests/gc/test_threads tests/gc/test_cxx
check_PROGRAMS += $(PM_GC_TESTS)
TESTS += $(PM_GC_TESTS) tests/gc/example.sh
EXTRA_DIST += tests/gc/gcnode.h tests/gc/example.sh
PM_GC_TEST_LIBS = lib/libpm_internal.la -lpthread
tests_gc_test_refcount_SOURCES = tests/gc/test_refcount.c tests/gc/gcnode.h
tests_gc_test_refcount_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_collect_SOURCES = tests/gc/test_collect.c tests/gc/gcnode.h
tests_gc_test_collect_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_finalize_SOURCES = tests/gc/test_finalize.c tests/gc/gcnode.h
tests_gc_test_finalize_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_random_SOURCES = tests/gc/test_random.c tests/gc/gcnode.h
tests_gc_test_random_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_misuse_SOURCES = tests/gc/test_misuse.c tests/gc/gcnode.h
tests_gc_test_misuse_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_threads_SOURCES = tests/gc/test_threads.c tests/gc/gcnode.h
tests_gc_test_threads_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_cxx_SOURCES = tests/gc/test_cxx.cc
tests_gc_test_cxx_LDADD = lib/libpoolmalloc.la
tests_gc_test_cxx_LDFLAGS = -no-install
endif
