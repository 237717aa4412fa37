# SPDX-License-Identifier: MIT
# tools/tools.mk — installed wrappers and helper scripts.
#
#   tools/pmrun             run a command with libpoolmalloc.so preloaded.
#                           Two scripts come from pmrun.in, each naming one
#                           library: tools/pmrun (built by make) preloads the
#                           build tree's, and the pmrun that make install
#                           writes to $(bindir) preloads $(libdir)'s, under
#                           the soname (issue 11.4).  The installed one is
#                           generated at install time, so
#                           `make install prefix=...` is honoured.
#   tools/test              the test command of README (build + make check)
#   tools/gen-options-doc   the options tables from lib/options.def
#   tools/gen-man           a man page from man/<page>.in (man/man.mk)
#   tools/pmprof            heap profiles and timelines through google-pprof
#                           and gnuplot (docs/profiling.md); installed
#   tools/fastpath-count    callgrind count of a malloc+free pair
#   tools/prof-cost         callgrind count of the whole programs with the
#                           profiler off and on, next to jemalloc's
noinst_SCRIPTS += tools/pmrun
dist_bin_SCRIPTS = tools/pmprof
CLEANFILES += tools/pmrun
EXTRA_DIST += tools/pmrun.in tools/test tools/gen-options-doc tools/gen-man tools/quickstart \
	tools/build tools/install-deps tools/check-deb tools/fastpath-count \
	tools/prof-cost

pmrun_subst = sed -e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' -e "s|@PMRUN_LIB[@]|$$pmrun_lib|g" \
	-e "s|@PMRUN_SECURE_LIB[@]|$$pmrun_secure_lib|g"

tools/pmrun: $(top_srcdir)/tools/pmrun.in Makefile
	$(AM_V_GEN)$(MKDIR_P) tools && \
	pmrun_lib='$(abs_top_builddir)/lib/.libs/libpoolmalloc.so' && \
	pmrun_secure_lib='$(abs_top_builddir)/lib/.libs/libpoolmalloc-secure.so' && \
	$(pmrun_subst) $(top_srcdir)/tools/pmrun.in > $@.tmp && chmod +x $@.tmp && mv $@.tmp $@

# The library's soname (libpoolmalloc.so.0) from libtool's .la: the file the
# runtime package ships, where the bare .so is only the -dev symlink.
install-exec-local: lib/libpoolmalloc.la lib/libpoolmalloc-secure.la
	@pmrun_lib=`sed -n "s/^dlname='\(.*\)'$$/\1/p" lib/libpoolmalloc.la`; \
	pmrun_secure_lib=`sed -n "s/^dlname='\(.*\)'$$/\1/p" lib/libpoolmalloc-secure.la`; \
	if test -z "$$pmrun_lib"; then echo "pmrun needs the shared library (configure --enable-shared)" >&2; exit 1; fi; \
	pmrun_lib='$(libdir)'/$$pmrun_lib; \
	pmrun_secure_lib='$(libdir)'/$$pmrun_secure_lib; \
	$(MKDIR_P) '$(DESTDIR)$(bindir)' && \
	echo " generating $(DESTDIR)$(bindir)/pmrun (preloads $$pmrun_lib)" && \
	$(pmrun_subst) $(top_srcdir)/tools/pmrun.in > '$(DESTDIR)$(bindir)/pmrun' && \
	chmod 755 '$(DESTDIR)$(bindir)/pmrun'

uninstall-local: uninstall-local-pmrun
uninstall-local-pmrun:
	rm -f '$(DESTDIR)$(bindir)/pmrun'
.PHONY: uninstall-local-pmrun
