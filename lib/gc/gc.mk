# lib/gc/gc.mk — the GC object layer (filled in by issue 4).
PM_GC_SOURCES =
