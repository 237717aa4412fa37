# SPDX-License-Identifier: MIT
# tests/tests.mk — the allocator test suite (make check).  See docs/testing.md.
#
#   tests/unit/     one program per module; links libpm_internal.la (pmi_*,
#                   the os.c fault seam); runs under valgrind (check-valgrind)
#   tests/api/      the libc names (malloc, free, ...) and pm_*; links the
#                   shipped libpoolmalloc.la, so the override is exercised
#   tests/stress/   threads, fork from threads, thread and process exit
#   tests/misuse/   one program per fatal diagnostic (plain libc binaries),
#                   run preloaded by misuse.sh: SIGABRT + the exact line
#   tests/preload/  real programs with and without LD_PRELOAD=$PM_LIB
# Every test speaks TAP (tests/tap.h for C, tests/tap.sh for shell).

# The programs call malloc and free for their effects: no builtin folding
# (GCC may delete a malloc/free pair); absurd sizes and use after a failed
# realloc are on purpose.
PM_TEST_CFLAGS = $(AM_CFLAGS) -fno-builtin -Wno-alloc-size-larger-than -Wno-use-after-free

EXTRA_DIST += tests/tap.h tests/tap.sh tests/unit/pattern.h tests/valgrind.sh \
	tests/pm-names.h

# The api and stress programs call malloc & co. by their libc names; in a
# sanitizer build tests/pm-names.h turns those calls into pm_* (the
# sanitizer owns the libc names there).  See docs/testing.md, "Sanitizers".
PM_API_CFLAGS = $(PM_TEST_CFLAGS) -include $(top_srcdir)/tests/pm-names.h
if PM_SANITIZE
PM_API_CFLAGS += -DPM_TEST_PM_NAMES=1
# A report fails the test.  ASan stops at its first error and checks for
# leaks at exit; UBSan is built -fno-sanitize-recover; TSan reports every
# race of the run (halt_on_error=0) and then exits 66.  die_after_fork=0:
# tests/stress/fork starts threads in children of a threaded parent.
# Options already in the environment come last, so they win.
AM_TESTS_ENVIRONMENT += \
	ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:$${ASAN_OPTIONS-}"; \
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:$${UBSAN_OPTIONS-}"; \
	TSAN_OPTIONS="halt_on_error=0:exitcode=66:second_deadlock_stack=1:die_after_fork=0:$${TSAN_OPTIONS-}"; \
	export ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS;
endif

# ---- Unit tests --------------------------------------------------------------
PM_UNIT_TESTS = tests/unit/sizeclass tests/unit/usable tests/unit/pool \
	tests/unit/pagemap tests/unit/arena tests/unit/large tests/unit/align tests/unit/calloc \
	tests/unit/realloc tests/unit/enomem tests/unit/adopt
check_PROGRAMS += $(PM_UNIT_TESTS)
TESTS += $(PM_UNIT_TESTS)
PM_UNIT_LIBS = lib/libpm_internal.la
tests_unit_sizeclass_SOURCES = tests/unit/sizeclass.c
tests_unit_sizeclass_CFLAGS = $(PM_TEST_CFLAGS)
tests_unit_sizeclass_LDADD = $(PM_UNIT_LIBS)
tests_unit_usable_SOURCES = tests/unit/usable.c
tests_unit_usable_CFLAGS = $(PM_TEST_CFLAGS)
tests_unit_usable_LDADD = $(PM_UNIT_LIBS)
tests_unit_pool_SOURCES = tests/unit/pool.c
tests_unit_pool_CFLAGS = $(PM_TEST_CFLAGS)
tests_unit_pool_LDADD = $(PM_UNIT_LIBS)
tests_unit_pagemap_SOURCES = tests/unit/pagemap.c
tests_unit_pagemap_CFLAGS = $(PM_TEST_CFLAGS)
tests_unit_pagemap_LDADD = $(PM_UNIT_LIBS)
tests_unit_arena_SOURCES = tests/unit/arena.c
tests_unit_arena_CFLAGS = $(PM_TEST_CFLAGS)
tests_unit_arena_LDADD = $(PM_UNIT_LIBS)
tests_unit_large_SOURCES = tests/unit/large.c
tests_unit_large_CFLAGS = $(PM_TEST_CFLAGS)
tests_unit_large_LDADD = $(PM_UNIT_LIBS)
tests_unit_align_SOURCES = tests/unit/align.c
tests_unit_align_CFLAGS = $(PM_TEST_CFLAGS)
tests_unit_align_LDADD = $(PM_UNIT_LIBS)
tests_unit_calloc_SOURCES = tests/unit/calloc.c
tests_unit_calloc_CFLAGS = $(PM_TEST_CFLAGS)
tests_unit_calloc_LDADD = $(PM_UNIT_LIBS)
tests_unit_realloc_SOURCES = tests/unit/realloc.c
tests_unit_realloc_CFLAGS = $(PM_TEST_CFLAGS)
tests_unit_realloc_LDADD = $(PM_UNIT_LIBS)
tests_unit_enomem_SOURCES = tests/unit/enomem.c
tests_unit_enomem_CFLAGS = $(PM_TEST_CFLAGS)
tests_unit_enomem_LDADD = $(PM_UNIT_LIBS)
tests_unit_adopt_SOURCES = tests/unit/adopt.c
tests_unit_adopt_CFLAGS = $(PM_TEST_CFLAGS)
tests_unit_adopt_LDADD = $(PM_UNIT_LIBS) -lpthread

# ---- API tests (link the shipped library; -no-install: real binaries) ------
# static_basic links libpoolmalloc.a with -static: not under a sanitizer.
PM_API_TESTS = tests/api/basic tests/api/align tests/api/stats tests/api/sized
if !PM_SANITIZE
PM_API_TESTS += tests/api/static_basic
endif
check_PROGRAMS += $(PM_API_TESTS)
TESTS += $(PM_API_TESTS)
PM_API_LIBS = lib/libpoolmalloc.la
PM_API_LINK = -no-install
tests_api_basic_SOURCES = tests/api/basic.c
tests_api_basic_CFLAGS = $(PM_API_CFLAGS)
tests_api_basic_LDADD = $(PM_API_LIBS)
tests_api_basic_LDFLAGS = $(PM_API_LINK)
tests_api_align_SOURCES = tests/api/align.c
tests_api_align_CFLAGS = $(PM_API_CFLAGS)
tests_api_align_LDADD = $(PM_API_LIBS)
tests_api_align_LDFLAGS = $(PM_API_LINK)
tests_api_stats_SOURCES = tests/api/stats.c
tests_api_stats_CFLAGS = $(PM_API_CFLAGS)
tests_api_stats_LDADD = $(PM_API_LIBS)
tests_api_stats_LDFLAGS = $(PM_API_LINK)
tests_api_sized_SOURCES = tests/api/sized.c
tests_api_sized_CFLAGS = $(PM_API_CFLAGS)
tests_api_sized_LDADD = $(PM_API_LIBS)
tests_api_sized_LDFLAGS = $(PM_API_LINK)
# The same tests with libpoolmalloc.a linked into the program (direct
# linking: the executable's malloc interposes on libc's own calls).
tests_api_static_basic_SOURCES = tests/api/basic.c
tests_api_static_basic_CFLAGS = $(PM_API_CFLAGS)
tests_api_static_basic_LDADD = $(PM_API_LIBS) -lm
tests_api_static_basic_LDFLAGS = -static

# ---- Stress: threads, fork, exit ------------------------------------------
PM_STRESS_TESTS = tests/stress/threads tests/stress/fork tests/stress/exit \
	tests/stress/startup tests/stress/mapping_race tests/stress/large
check_PROGRAMS += $(PM_STRESS_TESTS)
TESTS += $(PM_STRESS_TESTS)
tests_stress_threads_SOURCES = tests/stress/threads.c
tests_stress_threads_CFLAGS = $(PM_API_CFLAGS)
tests_stress_threads_LDADD = $(PM_API_LIBS) -lpthread
tests_stress_threads_LDFLAGS = $(PM_API_LINK)
tests_stress_fork_SOURCES = tests/stress/fork.c
tests_stress_fork_CFLAGS = $(PM_API_CFLAGS)
tests_stress_fork_LDADD = $(PM_API_LIBS) -lpthread
tests_stress_fork_LDFLAGS = $(PM_API_LINK)
tests_stress_exit_SOURCES = tests/stress/exit.c
tests_stress_exit_CFLAGS = $(PM_API_CFLAGS)
tests_stress_exit_LDADD = $(PM_API_LIBS) -lpthread
tests_stress_exit_LDFLAGS = $(PM_API_LINK)
tests_stress_startup_SOURCES = tests/stress/startup.c
tests_stress_startup_CFLAGS = $(PM_API_CFLAGS)
tests_stress_startup_LDADD = $(PM_API_LIBS) -lpthread
tests_stress_startup_LDFLAGS = $(PM_API_LINK)
tests_stress_mapping_race_SOURCES = tests/stress/mapping_race.c
tests_stress_mapping_race_CFLAGS = $(PM_API_CFLAGS)
tests_stress_mapping_race_LDADD = $(PM_API_LIBS) -lpthread
tests_stress_mapping_race_LDFLAGS = $(PM_API_LINK)
# address_reuse defines mmap/munmap/mremap, which the sanitizers intercept.
if !PM_SANITIZE
check_PROGRAMS += tests/stress/address_reuse
TESTS += tests/stress/address_reuse
endif
tests_stress_address_reuse_SOURCES = tests/stress/address_reuse.c
tests_stress_address_reuse_CFLAGS = $(PM_API_CFLAGS)
tests_stress_address_reuse_LDADD = $(PM_API_LIBS) -lpthread
tests_stress_address_reuse_LDFLAGS = $(PM_API_LINK)
tests_stress_large_SOURCES = tests/stress/large.c
tests_stress_large_CFLAGS = $(PM_TEST_CFLAGS)
tests_stress_large_LDADD = $(PM_API_LIBS) -lpthread
tests_stress_large_LDFLAGS = $(PM_API_LINK)

# ---- Misuse: plain programs, run with LD_PRELOAD by misuse.sh -------------
PM_MISUSE_BINS = tests/misuse/double_free tests/misuse/invalid_free \
	tests/misuse/interior_free tests/misuse/invalid_realloc \
	tests/misuse/invalid_usable_size tests/misuse/free_sized_mismatch \
	tests/misuse/large_header
check_PROGRAMS += $(PM_MISUSE_BINS)
tests_misuse_double_free_SOURCES = tests/misuse/double_free.c tests/misuse/misuse.h
tests_misuse_double_free_CFLAGS = $(PM_TEST_CFLAGS)
tests_misuse_invalid_free_SOURCES = tests/misuse/invalid_free.c tests/misuse/misuse.h
tests_misuse_invalid_free_CFLAGS = $(PM_TEST_CFLAGS)
tests_misuse_interior_free_SOURCES = tests/misuse/interior_free.c tests/misuse/misuse.h
tests_misuse_interior_free_CFLAGS = $(PM_TEST_CFLAGS)
tests_misuse_invalid_realloc_SOURCES = tests/misuse/invalid_realloc.c tests/misuse/misuse.h
tests_misuse_invalid_realloc_CFLAGS = $(PM_TEST_CFLAGS)
tests_misuse_invalid_usable_size_SOURCES = tests/misuse/invalid_usable_size.c tests/misuse/misuse.h
tests_misuse_invalid_usable_size_CFLAGS = $(PM_TEST_CFLAGS)
tests_misuse_free_sized_mismatch_SOURCES = tests/misuse/free_sized_mismatch.c tests/misuse/misuse.h
tests_misuse_free_sized_mismatch_CFLAGS = $(PM_TEST_CFLAGS)
# Issue 7 §2-§4: misuse that must never give memory a second owner.
check_PROGRAMS += tests/misuse/double_free_pool tests/misuse/free_unallocated \
	tests/misuse/forge_free_list
tests_misuse_double_free_pool_SOURCES = tests/misuse/double_free_pool.c tests/misuse/misuse.h \
	tests/misuse/owners.h
tests_misuse_double_free_pool_CFLAGS = $(PM_TEST_CFLAGS)
tests_misuse_double_free_pool_LDADD = -lpthread
tests_misuse_free_unallocated_SOURCES = tests/misuse/free_unallocated.c tests/misuse/misuse.h \
	tests/misuse/owners.h
tests_misuse_free_unallocated_CFLAGS = $(PM_TEST_CFLAGS)
tests_misuse_free_unallocated_LDADD = -lpthread
tests_misuse_forge_free_list_SOURCES = tests/misuse/forge_free_list.c tests/misuse/misuse.h
tests_misuse_forge_free_list_CFLAGS = $(PM_TEST_CFLAGS)
tests_misuse_forge_free_list_LDADD = -lpthread
tests_misuse_large_header_SOURCES = tests/misuse/large_header.c tests/misuse/misuse.h
tests_misuse_large_header_CFLAGS = $(PM_TEST_CFLAGS)
if !PM_SANITIZE
TESTS += tests/misuse/misuse.sh tests/misuse/reuse.sh
endif
EXTRA_DIST += tests/misuse/misuse.sh tests/misuse/reuse.sh

# ---- Out of memory under RLIMIT_AS (issue 7 §5) ---------------------------
# A plain program run preloaded by oom.sh; sanitizers reserve terabytes of
# shadow memory, so RLIMIT_AS tests stay out of sanitizer builds.
check_PROGRAMS += tests/oom/oom
tests_oom_oom_SOURCES = tests/oom/oom.c
tests_oom_oom_CFLAGS = $(PM_TEST_CFLAGS)
if !PM_SANITIZE
TESTS += tests/oom/oom.sh
endif
EXTRA_DIST += tests/oom/oom.sh

# ---- Misuse: one program per security property of the secure library ------
# (docs/security.md), run by secure.sh against libpoolmalloc-secure.so, where
# each must be caught, and against libpoolmalloc.so, whose outcome (caught
# later, or not at all) is recorded there as what the default does not promise.
PM_SECURE_MISUSE_BINS = tests/misuse/double_free_at_free tests/misuse/overflow \
	tests/misuse/write_after_free tests/misuse/zero_on_free tests/misuse/zero_size \
	tests/misuse/delayed_reuse tests/misuse/guard_pages tests/misuse/forged_link \
	tests/misuse/sized_free tests/misuse/bounded_memcpy
check_PROGRAMS += $(PM_SECURE_MISUSE_BINS)
# They read and write out of bounds on purpose.
PM_MISUSE_CFLAGS = $(PM_TEST_CFLAGS) -Wno-array-bounds
tests_misuse_double_free_at_free_SOURCES = tests/misuse/double_free_at_free.c tests/misuse/misuse.h
tests_misuse_double_free_at_free_CFLAGS = $(PM_MISUSE_CFLAGS)
tests_misuse_double_free_at_free_LDADD = -lpthread
tests_misuse_overflow_SOURCES = tests/misuse/overflow.c tests/misuse/misuse.h
tests_misuse_overflow_CFLAGS = $(PM_MISUSE_CFLAGS)
tests_misuse_write_after_free_SOURCES = tests/misuse/write_after_free.c tests/misuse/misuse.h
tests_misuse_write_after_free_CFLAGS = $(PM_MISUSE_CFLAGS)
tests_misuse_zero_on_free_SOURCES = tests/misuse/zero_on_free.c tests/misuse/misuse.h
tests_misuse_zero_on_free_CFLAGS = $(PM_MISUSE_CFLAGS)
tests_misuse_zero_size_SOURCES = tests/misuse/zero_size.c tests/misuse/misuse.h
tests_misuse_zero_size_CFLAGS = $(PM_MISUSE_CFLAGS)
tests_misuse_delayed_reuse_SOURCES = tests/misuse/delayed_reuse.c tests/misuse/misuse.h
tests_misuse_delayed_reuse_CFLAGS = $(PM_MISUSE_CFLAGS)
tests_misuse_guard_pages_SOURCES = tests/misuse/guard_pages.c tests/misuse/misuse.h
tests_misuse_guard_pages_CFLAGS = $(PM_MISUSE_CFLAGS)
tests_misuse_forged_link_SOURCES = tests/misuse/forged_link.c tests/misuse/misuse.h
tests_misuse_forged_link_CFLAGS = $(PM_MISUSE_CFLAGS)
tests_misuse_sized_free_SOURCES = tests/misuse/sized_free.c tests/misuse/misuse.h
tests_misuse_sized_free_CFLAGS = $(PM_MISUSE_CFLAGS)
tests_misuse_bounded_memcpy_SOURCES = tests/misuse/bounded_memcpy.c tests/misuse/misuse.h
tests_misuse_bounded_memcpy_CFLAGS = $(PM_MISUSE_CFLAGS)
if !PM_SANITIZE
TESTS += tests/misuse/secure.sh
endif
EXTRA_DIST += tests/misuse/secure.sh

# ---- Preload: real programs under LD_PRELOAD --------------------------------
PM_PRELOAD_TESTS = tests/preload/python.sh tests/preload/sort.sh \
	tests/preload/gcc.sh tests/preload/git.sh tests/preload/coreutils.sh \
	tests/preload/pmrun.sh tests/preload/options.sh tests/preload/secure.sh
if !PM_SANITIZE
TESTS += $(PM_PRELOAD_TESTS)
endif
EXTRA_DIST += $(PM_PRELOAD_TESTS) tests/preload/preload.sh

# ---- Meta: the structure of the code itself ----------------------------------
TESTS += tests/meta/layers.sh
EXTRA_DIST += tests/meta/layers.sh tools/check-layers

# ---- valgrind: the unit tests (they do not preload) -----------------------
# make check-valgrind — see docs/testing.md.
check-valgrind: $(PM_UNIT_TESTS)
	$(AM_V_at)VALGRIND='$(VALGRIND)' $(SHELL) $(srcdir)/tests/valgrind.sh $(PM_UNIT_TESTS)
.PHONY: check-valgrind
CLEANFILES += tests/unit/*.valgrind.log tests/unit/*.valgrind.log.vg

# tap.h exits 77 when every case of a program skipped; under the TAP driver
# the "# SKIP" lines already say so and 77 would read as an error.
AM_TESTS_ENVIRONMENT += TAP_SKIP_STATUS=0; export TAP_SKIP_STATUS;
