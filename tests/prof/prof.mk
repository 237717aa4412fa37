# SPDX-License-Identifier: MIT
# tests/prof/prof.mk — the observability tests (issue 10; docs/profiling.md,
# docs/stats.md).  Programs are built with -g so addr2line finds file:line.
PM_PROF_TEST_CFLAGS = $(PM_TEST_CFLAGS) -g -O1 -fno-inline -fno-optimize-sibling-calls
check_PROGRAMS += tests/prof/leaker tests/prof/grower tests/prof/api
tests_prof_leaker_SOURCES = tests/prof/leaker.c
tests_prof_leaker_CFLAGS = $(PM_PROF_TEST_CFLAGS)
tests_prof_grower_SOURCES = tests/prof/grower.c
tests_prof_grower_CFLAGS = $(PM_PROF_TEST_CFLAGS)
tests_prof_grower_LDADD = $(PM_API_LIBS)
tests_prof_grower_LDFLAGS = $(PM_API_LINK)
tests_prof_api_SOURCES = tests/prof/api.c
tests_prof_api_CFLAGS = $(PM_PROF_TEST_CFLAGS)
tests_prof_api_LDADD = $(PM_API_LIBS) -lpthread
tests_prof_api_LDFLAGS = $(PM_API_LINK)
PM_PROF_TESTS = tests/prof/api.sh tests/prof/leaks.sh tests/prof/growth.sh \
	tests/prof/python.sh tests/prof/gcc.sh tests/prof/signal.sh \
	tests/prof/timeline.sh tests/prof/stats.sh tests/prof/installed.sh \
	tests/prof/stress.sh
# They preload the library (or need its libc names): not in sanitizer builds.
if !PM_SANITIZE
TESTS += $(PM_PROF_TESTS)
endif
EXTRA_DIST += $(PM_PROF_TESTS) tests/prof/prof.sh
