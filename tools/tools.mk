# SPDX-License-Identifier: MIT
# tools/tools.mk — installed wrappers and helper scripts.
#
#   tools/pmrun             run a command with libpoolmalloc.so preloaded;
#                           generated from pmrun.in so it knows both the
#                           build tree and the install prefix
#   tools/test              the test command of README (build + make check)
#   tools/gen-options-doc   README's option table from lib/options.c
bin_SCRIPTS += tools/pmrun
CLEANFILES += tools/pmrun
EXTRA_DIST += tools/pmrun.in tools/test tools/gen-options-doc tools/quickstart \
	tools/build tools/install-deps tools/debian-packages

tools/pmrun: $(top_srcdir)/tools/pmrun.in Makefile
	$(AM_V_GEN)$(MKDIR_P) tools && \
	sed -e 's|@libdir[@]|$(libdir)|g' -e 's|@abs_top_builddir[@]|$(abs_top_builddir)|g' \
	    $(top_srcdir)/tools/pmrun.in > $@.tmp && chmod +x $@.tmp && mv $@.tmp $@
