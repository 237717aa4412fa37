# SPDX-License-Identifier: MIT
# tests/cxx/cxx.mk — C++ operator new/delete on poolmalloc (issue 11.7;
# lib/cxx_new.cc).  One program, tests/cxx/new.cc, built twice:
#   tests/cxx/new_linked  linked with the shipped libpoolmalloc (-no-install:
#                         a real binary that runs the build tree's library)
#   tests/cxx/new_plain   links nothing of ours; tests/cxx/preload.sh runs it
#                         under LD_PRELOAD, and the same source built by
#                         clang++ when clang++ is installed
PM_CXX_TESTS = tests/cxx/new_linked tests/cxx/new_plain
check_PROGRAMS += $(PM_CXX_TESTS)
# A sanitizer build's library has no operator new (the sanitizer's runtime
# owns it; lib/lib.mk), and cannot be preloaded into a program built without
# the sanitizer's runtime (as tests/preload): release builds only.
if !PM_SANITIZE
TESTS += tests/cxx/new_linked tests/cxx/preload.sh
endif
EXTRA_DIST += tests/cxx/preload.sh
tests_cxx_new_linked_SOURCES = tests/cxx/new.cc
tests_cxx_new_linked_LDADD = lib/libpoolmalloc.la -ldl
tests_cxx_new_linked_LDFLAGS = -no-install
tests_cxx_new_plain_SOURCES = tests/cxx/new.cc
tests_cxx_new_plain_LDADD = -ldl
