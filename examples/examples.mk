# SPDX-License-Identifier: MIT
# examples/examples.mk — example programs (built by make, not installed).
#
#   examples/minilang   a tiny list/dict object model on the GC layer, the
#                       way an interpreter uses it (docs/gc.md, "Example");
#                       tests/gc/example.sh runs it under make check.
if PM_GC
noinst_PROGRAMS += examples/minilang
examples_minilang_SOURCES = examples/minilang.c
examples_minilang_LDADD = lib/libpoolmalloc.la
examples_minilang_LDFLAGS = -no-install
endif
