# tests/tests.mk — the allocator test suite (make check).
