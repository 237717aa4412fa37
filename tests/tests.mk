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

# ---- How a test program is declared (issue 12 §6) --------------------------
# A program is one entry in its group's list, plus one _LDADD line if it
# links anything.  The rest it takes from its group:
#   sources  Automake's default: tests/unit/pool is built from
#            tests/unit/pool.c (subdir-objects), which is distributed
#            like a listed source; headers a group shares go to EXTRA_DIST.
#   compile  a group adds its flags to AM_CFLAGS for its programs and their
#            objects only, with a GNU make target-specific variable:
#              PM_UNIT_BUILT = <the programs> <their .o files>
#              $(PM_UNIT_BUILT): private AM_CFLAGS += $(PM_TEST_EXTRA_CFLAGS)
#            The program is listed because the link line carries the
#            compile flags too (-fsanitize=...).  "private" keeps
#            prerequisites made for the program from inheriting the
#            value: its own object would get the flags twice, and a
#            library built on the way would get them too.
#   link     _LDADD per program, so that Automake still derives
#            _DEPENDENCIES (the library is built before the program);
#            -no-install goes to AM_LDFLAGS the way the flags go to
#            AM_CFLAGS.
#   targets  a variable, always: Automake reads a rule whose target is a
#            program's name written out (tests/oom/oom$(EXEEXT): ...) as
#            replacing its own link rule for that program.
# Why not Automake's per-program _CFLAGS/_LDFLAGS: a program with two or
# three settings that are not the defaults takes two or three lines, and
# the defaults themselves (AM_CFLAGS, LDADD, AM_LDFLAGS) are shared with
# bench/ and examples/ in this one Makefile, so they cannot be the tests'.
# The command lines are those the per-program variables gave (objects lose
# their per-program prefix: tests/unit/pool-pool.o is tests/unit/pool.o).  GNU make is already required
# (-Wno-portability; $(if) in tests/fuzz/fuzz.mk).  A program unlike the
# rest of its group (tests/api/static_basic, the fuzzer, the TSan programs)
# keeps Automake's per-program variables.

# The programs call malloc and free for their effects: no builtin folding
# (GCC may delete a malloc/free pair); absurd sizes and use after a failed
# realloc are on purpose.  PM_TEST_CFLAGS is the whole set, for a program
# with its own _CFLAGS (tests/fuzz/fuzz.mk).
PM_TEST_EXTRA_CFLAGS = -fno-builtin -Wno-alloc-size-larger-than -Wno-use-after-free
PM_TEST_CFLAGS = $(AM_CFLAGS) $(PM_TEST_EXTRA_CFLAGS)

EXTRA_DIST += tests/tap.h tests/tap.sh tests/unit/pattern.h tests/valgrind.sh \
	tests/pm-names.h

# The api and stress programs call malloc & co. by their libc names; in a
# sanitizer build tests/pm-names.h turns those calls into pm_* (the
# sanitizer owns the libc names there).  See docs/testing.md, "Sanitizers".
PM_API_EXTRA_CFLAGS = $(PM_TEST_EXTRA_CFLAGS) -include $(top_srcdir)/tests/pm-names.h
if PM_SANITIZE
PM_API_EXTRA_CFLAGS += -DPM_TEST_PM_NAMES=1
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
# The shipped library, linked into real binaries (-no-install) that run the
# build tree's libpoolmalloc.so.
PM_API_LIBS = lib/libpoolmalloc.la
PM_API_LINK = -no-install

# ---- Unit tests --------------------------------------------------------------
PM_UNIT_TESTS = tests/unit/sizeclass tests/unit/usable tests/unit/pool \
	tests/unit/pagemap tests/unit/arena tests/unit/large tests/unit/align tests/unit/calloc \
	tests/unit/realloc tests/unit/enomem tests/unit/adopt tests/unit/remote tests/unit/slotmap
check_PROGRAMS += $(PM_UNIT_TESTS)
TESTS += $(PM_UNIT_TESTS)
PM_UNIT_BUILT = $(PM_UNIT_TESTS:=$(EXEEXT)) $(PM_UNIT_TESTS:=.$(OBJEXT))
$(PM_UNIT_BUILT): private AM_CFLAGS += $(PM_TEST_EXTRA_CFLAGS)
PM_UNIT_LIBS = lib/libpm_internal.la
tests_unit_sizeclass_LDADD = $(PM_UNIT_LIBS)
tests_unit_usable_LDADD = $(PM_UNIT_LIBS)
tests_unit_pool_LDADD = $(PM_UNIT_LIBS)
tests_unit_pagemap_LDADD = $(PM_UNIT_LIBS)
tests_unit_arena_LDADD = $(PM_UNIT_LIBS)
tests_unit_large_LDADD = $(PM_UNIT_LIBS)
tests_unit_align_LDADD = $(PM_UNIT_LIBS)
tests_unit_calloc_LDADD = $(PM_UNIT_LIBS)
tests_unit_realloc_LDADD = $(PM_UNIT_LIBS)
tests_unit_enomem_LDADD = $(PM_UNIT_LIBS)
tests_unit_adopt_LDADD = $(PM_UNIT_LIBS) -lpthread
tests_unit_remote_LDADD = $(PM_UNIT_LIBS) -lpthread
tests_unit_slotmap_LDADD = $(PM_UNIT_LIBS)

# ---- API tests (link the shipped library; -no-install: real binaries) ------
PM_API_TESTS = tests/api/basic tests/api/align tests/api/stats tests/api/sized
check_PROGRAMS += $(PM_API_TESTS)
TESTS += $(PM_API_TESTS)
PM_API_BUILT = $(PM_API_TESTS:=$(EXEEXT)) $(PM_API_TESTS:=.$(OBJEXT)) \
	tests/api/static_basic$(EXEEXT)
$(PM_API_BUILT): private AM_CFLAGS += $(PM_API_EXTRA_CFLAGS)
PM_API_PROGS = $(PM_API_TESTS:=$(EXEEXT))
$(PM_API_PROGS): private AM_LDFLAGS += $(PM_API_LINK)
tests_api_basic_LDADD = $(PM_API_LIBS)
tests_api_align_LDADD = $(PM_API_LIBS)
tests_api_stats_LDADD = $(PM_API_LIBS)
tests_api_sized_LDADD = $(PM_API_LIBS)
# The same tests with libpoolmalloc.a linked into the program (direct
# linking: the executable's malloc interposes on libc's own calls).  It
# shares tests/api/basic.o, and is in PM_API_BUILT above.
# static_basic links libpoolmalloc.a with -static: not under a sanitizer.
if !PM_SANITIZE
check_PROGRAMS += tests/api/static_basic
TESTS += tests/api/static_basic
endif
tests_api_static_basic_SOURCES = tests/api/basic.c
tests_api_static_basic_LDADD = $(PM_API_LIBS) -lm
tests_api_static_basic_LDFLAGS = -static

# ---- Stress: threads, fork, exit ------------------------------------------
# Compiled and linked as the API tests, except that tests/stress/large has
# the test flags without tests/pm-names.h.
PM_STRESS_TESTS = tests/stress/threads tests/stress/fork tests/stress/exit \
	tests/stress/startup tests/stress/mapping_race
# address_reuse defines mmap/munmap/mremap, which the sanitizers intercept.
if !PM_SANITIZE
PM_STRESS_TESTS += tests/stress/address_reuse
endif
check_PROGRAMS += $(PM_STRESS_TESTS) tests/stress/large
TESTS += $(PM_STRESS_TESTS) tests/stress/large
PM_STRESS_BUILT = $(PM_STRESS_TESTS:=$(EXEEXT)) $(PM_STRESS_TESTS:=.$(OBJEXT))
$(PM_STRESS_BUILT): private AM_CFLAGS += $(PM_API_EXTRA_CFLAGS)
PM_STRESS_LARGE_BUILT = tests/stress/large$(EXEEXT) tests/stress/large.$(OBJEXT)
$(PM_STRESS_LARGE_BUILT): private AM_CFLAGS += $(PM_TEST_EXTRA_CFLAGS)
PM_STRESS_PROGS = $(PM_STRESS_TESTS:=$(EXEEXT)) tests/stress/large$(EXEEXT)
$(PM_STRESS_PROGS): private AM_LDFLAGS += $(PM_API_LINK)
tests_stress_threads_LDADD = $(PM_API_LIBS) -lpthread
tests_stress_fork_LDADD = $(PM_API_LIBS) -lpthread
tests_stress_exit_LDADD = $(PM_API_LIBS) -lpthread
tests_stress_startup_LDADD = $(PM_API_LIBS) -lpthread
tests_stress_mapping_race_LDADD = $(PM_API_LIBS) -lpthread
tests_stress_address_reuse_LDADD = $(PM_API_LIBS) -lpthread
tests_stress_large_LDADD = $(PM_API_LIBS) -lpthread

# ---- Misuse: plain programs, run with LD_PRELOAD by misuse.sh -------------
# Issue 7 §2-§4 added double_free_pool, free_unallocated and
# forge_free_list: misuse that must never give memory a second owner.
PM_MISUSE_BINS = tests/misuse/double_free tests/misuse/invalid_free \
	tests/misuse/interior_free tests/misuse/invalid_realloc \
	tests/misuse/invalid_usable_size tests/misuse/free_sized_mismatch \
	tests/misuse/large_header tests/misuse/double_free_pool \
	tests/misuse/free_unallocated tests/misuse/forge_free_list
check_PROGRAMS += $(PM_MISUSE_BINS)
PM_MISUSE_BUILT = $(PM_MISUSE_BINS:=$(EXEEXT)) $(PM_MISUSE_BINS:=.$(OBJEXT))
$(PM_MISUSE_BUILT): private AM_CFLAGS += $(PM_TEST_EXTRA_CFLAGS)
EXTRA_DIST += tests/misuse/misuse.h tests/misuse/owners.h
tests_misuse_double_free_pool_LDADD = -lpthread
tests_misuse_free_unallocated_LDADD = -lpthread
tests_misuse_forge_free_list_LDADD = -lpthread
if !PM_SANITIZE
TESTS += tests/misuse/misuse.sh tests/misuse/reuse.sh
endif
EXTRA_DIST += tests/misuse/misuse.sh tests/misuse/reuse.sh

# ---- Out of memory under RLIMIT_AS (issue 7 §5) ---------------------------
# A plain program run preloaded by oom.sh; sanitizers reserve terabytes of
# shadow memory, so RLIMIT_AS tests stay out of sanitizer builds.
check_PROGRAMS += tests/oom/oom
PM_OOM_BUILT = tests/oom/oom$(EXEEXT) tests/oom/oom.$(OBJEXT)
$(PM_OOM_BUILT): private AM_CFLAGS += $(PM_TEST_EXTRA_CFLAGS)
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
PM_SECURE_MISUSE_BUILT = $(PM_SECURE_MISUSE_BINS:=$(EXEEXT)) $(PM_SECURE_MISUSE_BINS:=.$(OBJEXT))
$(PM_SECURE_MISUSE_BUILT): private AM_CFLAGS += $(PM_TEST_EXTRA_CFLAGS) -Wno-array-bounds
tests_misuse_double_free_at_free_LDADD = -lpthread
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
