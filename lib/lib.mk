# SPDX-License-Identifier: MIT
# lib/lib.mk — the allocator libraries.
#
#   libpoolmalloc.la         the shipped library: core + override.c (which
#                            includes alloc.c so the malloc aliases sit in the
#                            same unit) + cxx_new.cc (C++ operator new/delete;
#                            makes libtool link the library with the C++
#                            compiler, so it needs libstdc++) + the GC object
#                            layer unless --disable-gc.  With
#                            --enable-sanitizers: alloc.c alone (pm_* names
#                            only: the sanitizer's runtime owns malloc and new).
#   libpoolmalloc-secure.la  the same sources compiled with -DPM_SECURE=1:
#                            every check of docs/security.md always on
#                            (issue 9); installed beside libpoolmalloc.
#   libpm_internal.la        noinst, for tests/unit: core + alloc.c, no libc
#                            override, and the os.c fault seam (pmi_os_fail_next).
PM_CORE_SOURCES = \
	lib/types.h lib/internal.h lib/os.h \
	lib/sizeclass.h lib/sizeclass.c \
	lib/prim.h lib/prim.c lib/atomic.h lib/os.c lib/fmt.c lib/options.c lib/pagemap.c lib/slotmap.c \
	lib/arena.c lib/pool.c lib/heap.c lib/large.c lib/large_region.c lib/large_tcache.c lib/zero.c lib/secure.c \
	lib/foreign.c lib/counters.c lib/stats.c lib/fork.c lib/init.c \
	lib/prof.h lib/prof.c lib/prof_stack.c lib/prof_table.c \
	lib/prof_dump.c lib/prof_symbol.h lib/prof_symbol.c lib/prof_report.c \
	lib/stats_json.c lib/timeline.c

lib_LTLIBRARIES += lib/libpoolmalloc.la
# options.def: the X-macro list of POOLMALLOC_* options (included, not compiled).
EXTRA_DIST += lib/options.def
# The exported symbols, checked by tests/meta/abilist.sh.
EXTRA_DIST += lib/libpoolmalloc.abilist lib/libpoolmalloc-secure.abilist

if PM_SANITIZE
# --enable-sanitizers: the sanitizer's runtime owns malloc & co. and
# operator new, so the library keeps to pm_* (alloc.c without override.c's
# libc aliases, and no cxx_new.cc).
lib_libpoolmalloc_la_SOURCES = $(PM_CORE_SOURCES) lib/alloc.c $(PM_GC_SOURCES)
else
lib_libpoolmalloc_la_SOURCES = $(PM_CORE_SOURCES) lib/override.c lib/cxx_new.cc lib/cxx_runtime.c $(PM_GC_SOURCES)
endif
# Linked by the C driver although cxx_new.cc is C++: no libstdc++.so.6 in
# DT_NEEDED, so a preloaded C program maps no C++ runtime (cxx_runtime.c).
PM_LIB_LINK = $(LIBTOOL) $(AM_V_lt) --tag=CC $(AM_LIBTOOLFLAGS) $(LIBTOOLFLAGS) --mode=link $(CCLD) \
	$(PM_LIB_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@
lib_libpoolmalloc_la_LINK = $(PM_LIB_LINK) $(lib_libpoolmalloc_la_LDFLAGS)
EXTRA_lib_libpoolmalloc_la_DEPENDENCIES = lib/alloc.c
lib_libpoolmalloc_la_CFLAGS = $(PM_LIB_CFLAGS)
lib_libpoolmalloc_la_CXXFLAGS = $(PM_LIB_CXXFLAGS)
lib_libpoolmalloc_la_LDFLAGS = -version-info 0:0:0 -Wl,-z,nodelete -Wl,-z,now -Wl,--as-needed
lib_libpoolmalloc_la_LIBADD = -lpthread -ldl -lm

noinst_LTLIBRARIES += lib/libpm_internal.la
lib_libpm_internal_la_SOURCES = $(PM_CORE_SOURCES) lib/alloc.c $(PM_GC_SOURCES)
lib_libpm_internal_la_CPPFLAGS = $(AM_CPPFLAGS) -DPM_FAULT_SEAM=1
lib_libpm_internal_la_CFLAGS = $(PM_LIB_CFLAGS)
lib_libpm_internal_la_LIBADD = -lpthread -ldl -lm

# Built in sanitizer builds too (pm_* names only there, like the default).
lib_LTLIBRARIES += lib/libpoolmalloc-secure.la
lib_libpoolmalloc_secure_la_SOURCES = $(lib_libpoolmalloc_la_SOURCES)
EXTRA_lib_libpoolmalloc_secure_la_DEPENDENCIES = lib/alloc.c
lib_libpoolmalloc_secure_la_CPPFLAGS = $(AM_CPPFLAGS) -DPM_SECURE=1
lib_libpoolmalloc_secure_la_CFLAGS = $(PM_LIB_CFLAGS)
lib_libpoolmalloc_secure_la_CXXFLAGS = $(PM_LIB_CXXFLAGS)
lib_libpoolmalloc_secure_la_LDFLAGS = $(lib_libpoolmalloc_la_LDFLAGS)
lib_libpoolmalloc_secure_la_LINK = $(PM_LIB_LINK) $(lib_libpoolmalloc_secure_la_LDFLAGS)
lib_libpoolmalloc_secure_la_LIBADD = $(lib_libpoolmalloc_la_LIBADD)
