# bench/bench.mk — make bench.
