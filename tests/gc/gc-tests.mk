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
#   fork      children forked while another thread collects (issue 13, bug 1)
#   deep      finalizer / weakref-callback chains in bounded stack (bug 2)
#   wrthreads weak references whose referent dies in another thread (bug 3)
#   semantics CPython's meaning of uncollectable, collect's count, untrack
#             from finalizers, callback order, the quarantine (items 5-10)
#   weakref   getweakrefs, shared weakrefs, weakref.finalize, weak containers
#   introspect referrers/referents of many, DEBUG_* lines, duration and
#             candidates, the objgraph DOT dumps and type counts
#   tsan      a -fsanitize=thread client of the inline refcount (item 9),
#             and the allocator + layer themselves built with TSan running
#             the threaded paths (bug 3, pm_type_t.ready_), both run by
#             tests/gc/tsan.sh
#   cxx       the public header from C++, linked to the shipped library
#   example   examples/minilang run through tests/gc/example.sh
# The C tests link libpm_internal.la (unit style, they may read config.h).
# Each is built from its own .c (Automake's default source:
# tests/gc/test_refcount.c for tests/gc/test_refcount), and gcnode.h is
# distributed through EXTRA_DIST; tests/tests.mk says how a test program
# is declared.
if PM_GC
PM_GC_TESTS = tests/gc/test_refcount tests/gc/test_collect \
	tests/gc/test_finalize tests/gc/test_random tests/gc/test_misuse \
	tests/gc/test_threads tests/gc/test_cxx tests/gc/test_fork \
	tests/gc/test_deep tests/gc/test_wrthreads tests/gc/test_semantics \
	tests/gc/test_weakref tests/gc/test_introspect
check_PROGRAMS += $(PM_GC_TESTS)
TESTS += $(PM_GC_TESTS) tests/gc/example.sh
# The two TSan programs add -fsanitize=thread to a release build; a
# sanitizer build (--enable-sanitizers) already is one, and ASan cannot be
# combined with TSan.
if !PM_SANITIZE
check_PROGRAMS += tests/gc/test_tsan tests/gc/test_tsan_layer
TESTS += tests/gc/tsan.sh
endif
EXTRA_DIST += tests/gc/gcnode.h tests/gc/example.sh tests/gc/tsan.sh
PM_GC_TEST_LIBS = lib/libpm_internal.la -lpthread
tests_gc_test_refcount_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_collect_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_finalize_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_random_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_misuse_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_threads_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_fork_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_deep_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_wrthreads_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_semantics_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_weakref_LDADD = $(PM_GC_TEST_LIBS)
tests_gc_test_introspect_LDADD = $(PM_GC_TEST_LIBS)
# Only this program is instrumented; the library it links is not.
tests_gc_test_tsan_CFLAGS = $(AM_CFLAGS) -fsanitize=thread -g -O1
tests_gc_test_tsan_LDFLAGS = -fsanitize=thread
tests_gc_test_tsan_LDADD = $(PM_GC_TEST_LIBS)
# The allocator and the layer compiled into the program, instrumented.
tests_gc_test_tsan_layer_SOURCES = tests/gc/test_tsan_layer.c tests/gc/gcnode.h \
	$(PM_CORE_SOURCES) lib/alloc.c $(PM_GC_SOURCES)
tests_gc_test_tsan_layer_CFLAGS = $(PM_LIB_CFLAGS) -fsanitize=thread -g -O1
tests_gc_test_tsan_layer_LDFLAGS = -fsanitize=thread
tests_gc_test_tsan_layer_LDADD = -lpthread -ldl -lm
tests_gc_test_cxx_SOURCES = tests/gc/test_cxx.cc
tests_gc_test_cxx_LDADD = lib/libpoolmalloc.la
tests_gc_test_cxx_LDFLAGS = -no-install
endif
