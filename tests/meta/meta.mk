# SPDX-License-Identifier: MIT
# tests/meta/meta.mk — tests of the project itself rather than the allocator:
# the files a packager, a newcomer or another program relies on.
#
#   spdx.sh         every source file names its licence (SPDX identifier)
#   options-doc.sh  README's options table is generated from lib/options.def
#   man.sh          the man pages render with groff and man -l
#   headers.sh      each public header compiles alone under strict C and C++
#   abilist.sh      libpoolmalloc.so exports exactly lib/libpoolmalloc.abilist
# Each is a TAP shell script run from make check like the other tests.
PM_META_TESTS = tests/meta/spdx.sh tests/meta/options-doc.sh tests/meta/man.sh \
	tests/meta/headers.sh tests/meta/abilist.sh
TESTS += tests/meta/spdx.sh tests/meta/options-doc.sh tests/meta/man.sh \
	tests/meta/headers.sh
# A sanitizer build's library has no libc aliases and no operator new
# (lib/lib.mk): it is not the library the ABI list describes.
if !PM_SANITIZE
TESTS += tests/meta/abilist.sh
endif
EXTRA_DIST += $(PM_META_TESTS)
# headers.sh compiles with the configured compilers (and gcc/clang if there).
AM_TESTS_ENVIRONMENT += CC='$(CC)'; export CC; CXX='$(CXX)'; export CXX;
