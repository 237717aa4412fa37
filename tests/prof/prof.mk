# SPDX-License-Identifier: MIT
# tests/prof/prof.mk — the observability tests (issue 10; docs/profiling.md,
# docs/stats.md).  Programs are built with -g so addr2line finds file:line.
# One entry per program, as tests/tests.mk declares them.
PM_PROF_PROGS = tests/prof/leaker tests/prof/grower tests/prof/api
check_PROGRAMS += $(PM_PROF_PROGS)
PM_PROF_BUILT = $(PM_PROF_PROGS:=$(EXEEXT)) $(PM_PROF_PROGS:=.$(OBJEXT))
$(PM_PROF_BUILT): private AM_CFLAGS += $(PM_TEST_EXTRA_CFLAGS) -g -O1 -fno-inline -fno-optimize-sibling-calls
PM_PROF_LINKED = tests/prof/grower$(EXEEXT) tests/prof/api$(EXEEXT)
$(PM_PROF_LINKED): private AM_LDFLAGS += $(PM_API_LINK)
tests_prof_grower_LDADD = $(PM_API_LIBS)
tests_prof_api_LDADD = $(PM_API_LIBS) -lpthread
PM_PROF_TESTS = tests/prof/api.sh tests/prof/leaks.sh tests/prof/growth.sh \
	tests/prof/python.sh tests/prof/gcc.sh tests/prof/signal.sh \
	tests/prof/timeline.sh tests/prof/stats.sh tests/prof/installed.sh \
	tests/prof/stress.sh
# They preload the library (or need its libc names): not in sanitizer builds.
if !PM_SANITIZE
TESTS += $(PM_PROF_TESTS)
endif
EXTRA_DIST += $(PM_PROF_TESTS) tests/prof/prof.sh
