# lib/lib.mk — the allocator libraries.
#
#   libpoolmalloc.la   the shipped library: core + override.c (which includes
#                      alloc.c so the malloc aliases sit in the same unit)
#                      + the GC object layer unless --disable-gc.
#   libpm_internal.la  noinst, for tests/unit: core + alloc.c, no libc
#                      override, and the os.c fault seam (pmi_os_fail_next).
PM_CORE_SOURCES = \
	lib/types.h lib/internal.h lib/os.h \
	lib/sizeclass.h lib/sizeclass.c \
	lib/os.c lib/fmt.c lib/options.c lib/pagemap.c \
	lib/arena.c lib/pool.c lib/heap.c lib/large.c lib/large_region.c lib/large_tcache.c \
	lib/foreign.c lib/stats.c lib/fork.c lib/init.c

lib_LTLIBRARIES += lib/libpoolmalloc.la
lib_libpoolmalloc_la_SOURCES = $(PM_CORE_SOURCES) lib/override.c $(PM_GC_SOURCES)
EXTRA_lib_libpoolmalloc_la_DEPENDENCIES = lib/alloc.c
lib_libpoolmalloc_la_CFLAGS = $(PM_LIB_CFLAGS)
lib_libpoolmalloc_la_LDFLAGS = -version-info 0:0:0 -Wl,-z,nodelete -Wl,-z,now
lib_libpoolmalloc_la_LIBADD = -lpthread -ldl

noinst_LTLIBRARIES += lib/libpm_internal.la
lib_libpm_internal_la_SOURCES = $(PM_CORE_SOURCES) lib/alloc.c $(PM_GC_SOURCES)
lib_libpm_internal_la_CPPFLAGS = $(AM_CPPFLAGS) -DPM_FAULT_SEAM=1
lib_libpm_internal_la_CFLAGS = $(PM_LIB_CFLAGS)
lib_libpm_internal_la_LIBADD = -lpthread -ldl
