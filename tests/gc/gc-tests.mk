# tests/gc/gc-tests.mk — tests of the GC object layer.
