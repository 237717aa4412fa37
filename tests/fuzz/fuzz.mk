# SPDX-License-Identifier: MIT
# tests/fuzz/fuzz.mk — the API fuzzer (issue 7 §6; docs/testing.md, "Fuzzer").
#
#   tests/fuzz/fuzz       linked with libpoolmalloc: -a libc (the libc names,
#                         answered by poolmalloc) or -a pm (the pm_* names;
#                         the only choice in sanitizer builds)
#   tests/fuzz/fuzz-libc  the same source linked with nothing: against the
#                         system allocator (a check of the fuzzer itself) or
#                         under LD_PRELOAD=libpoolmalloc.so
#   tests/fuzz/fuzz.sh    make check: ~30 s of runs with fixed seeds, TAP
#   make fuzz SECONDS=N [THREADS=N] [SEED=N] [API=libc|pm]
#                         one run as long as asked (random seed by default)
PM_FUZZ_SOURCES = tests/fuzz/fuzz.c tests/fuzz/api.h tests/fuzz/pattern.h
check_PROGRAMS += tests/fuzz/fuzz tests/fuzz/fuzz-libc
tests_fuzz_fuzz_SOURCES = $(PM_FUZZ_SOURCES)
tests_fuzz_fuzz_CPPFLAGS = $(AM_CPPFLAGS) -DFZ_HAVE_PM=1
tests_fuzz_fuzz_CFLAGS = $(PM_TEST_CFLAGS) -O2
tests_fuzz_fuzz_LDADD = $(PM_API_LIBS) -lpthread -ldl
tests_fuzz_fuzz_LDFLAGS = $(PM_API_LINK)
tests_fuzz_fuzz_libc_SOURCES = $(PM_FUZZ_SOURCES)
tests_fuzz_fuzz_libc_CFLAGS = $(PM_TEST_CFLAGS) -O2
tests_fuzz_fuzz_libc_LDADD = -lpthread -ldl
TESTS += tests/fuzz/fuzz.sh
EXTRA_DIST += tests/fuzz/fuzz.sh

SECONDS = 60
THREADS = 4
SEED =
if PM_SANITIZE
PM_FUZZ_API = pm
else
PM_FUZZ_API = libc
endif
API = $(PM_FUZZ_API)
fuzz: tests/fuzz/fuzz
	$(AM_V_at)$(top_builddir)/tests/fuzz/fuzz -s '$(SECONDS)' -t '$(THREADS)' -a '$(API)' \
	  $(if $(SEED),-S '$(SEED)')
.PHONY: fuzz
