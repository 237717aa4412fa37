# SPDX-License-Identifier: MIT
# lib/gc/gc.mk — the GC object layer (issue 4; docs/gc.md).
# PM_GC_SOURCES is compiled into both lib/libpoolmalloc.la and
# lib/libpm_internal.la (see lib/lib.mk) with $(PM_LIB_CFLAGS).  The
# layer's benchmarks are bench/gc/gc-bench.mk's.
if PM_GC
PM_GC_SOURCES = \
	lib/gc/gc_internal.h \
	lib/gc/object.c \
	lib/gc/dealloc.c \
	lib/gc/collect.c \
	lib/gc/weakref.c \
	lib/gc/finalize.c \
	lib/gc/weakmap.c \
	lib/gc/introspect.c \
	lib/gc/control.c
pminclude_HEADERS += include/poolmalloc/gc.h
else
PM_GC_SOURCES =
endif
