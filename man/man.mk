# SPDX-License-Identifier: MIT
# man/man.mk — the man pages (issue 11.6).  Each page has one source,
# man/<page>.in, in man(7) macros; tools/gen-man fills in the version, the
# date (SOURCE_DATE_EPOCH when set, for reproducible packages) and the
# install paths, and make the options table of poolmalloc(3), made by
# tools/gen-options-doc --man from lib/options.def, the list README's table
# and the library's own table come from.  tests/meta/man.sh renders them.
man1_MANS = man/pmrun.1
man3_MANS = man/poolmalloc.3
if PM_GC
man3_MANS += man/poolmalloc_gc.3
endif
PM_MAN_INPUTS = man/pmrun.1.in man/poolmalloc.3.in man/poolmalloc_gc.3.in
EXTRA_DIST += $(PM_MAN_INPUTS)
CLEANFILES += man/pmrun.1 man/poolmalloc.3 man/poolmalloc_gc.3

PM_MAN_GEN = $(AM_V_GEN)$(MKDIR_P) man && \
	pm_date=`date -u $${SOURCE_DATE_EPOCH:+-d @$$SOURCE_DATE_EPOCH} +%Y-%m-%d` && \
	$(SHELL) $(srcdir)/tools/gen-man '$(PACKAGE_VERSION)' "$$pm_date" '$(libdir)' '$(includedir)'

man/pmrun.1: $(srcdir)/man/pmrun.1.in $(srcdir)/tools/gen-man Makefile
	$(PM_MAN_GEN) $(srcdir)/man/pmrun.1.in > $@.tmp && mv $@.tmp $@
man/poolmalloc_gc.3: $(srcdir)/man/poolmalloc_gc.3.in $(srcdir)/tools/gen-man Makefile
	$(PM_MAN_GEN) $(srcdir)/man/poolmalloc_gc.3.in > $@.tmp && mv $@.tmp $@
man/poolmalloc.3: $(srcdir)/man/poolmalloc.3.in $(srcdir)/lib/options.def $(srcdir)/tools/gen-options-doc $(srcdir)/tools/gen-man Makefile
	$(AM_V_at)$(MKDIR_P) man && CC='$(CC)' $(SHELL) $(srcdir)/tools/gen-options-doc --man > $@.opts
	$(PM_MAN_GEN) $(srcdir)/man/poolmalloc.3.in | sed -e '/^@OPTIONS@$$/{r $@.opts' -e 'd;}' > $@.tmp && \
	mv $@.tmp $@ && rm -f $@.opts
