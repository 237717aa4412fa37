# SPDX-License-Identifier: MIT
# tests/install/install.mk — make installcheck: build and run small
# programs against the installed poolmalloc with pkg-config, and run the
# installed pmrun (tests/install/installcheck.sh says what is checked).
# make distcheck runs it on its own install, so CI does too.
PM_INSTALLCHECK_FILES = tests/install/installcheck.sh tests/install/use_api.c \
	tests/install/use_gc.c tests/install/use_cxx.cc
EXTRA_DIST += $(PM_INSTALLCHECK_FILES)

installcheck-local:
	prefix='$(prefix)' libdir='$(libdir)' includedir='$(includedir)' \
	bindir='$(bindir)' mandir='$(mandir)' srcdir='$(abs_top_srcdir)' \
	builddir='$(abs_top_builddir)' CC='$(CC)' CXX='$(CXX)' \
	PACKAGE_VERSION='$(PACKAGE_VERSION)' \
	$(SHELL) $(top_srcdir)/tests/install/installcheck.sh
