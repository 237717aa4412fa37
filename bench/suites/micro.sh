#!/bin/sh
# bench/suites/micro.sh — the micro benchmarks (bench/pm-microbench) under
# each allocator, interleaved: rep 0 of every allocator, then rep 1, ...
# Each run is one process with LD_PRELOAD set (none for glibc); Google
# Benchmark's JSON is converted to the contract's jsonl by
# tools/bench-gbench2jsonl (metric ns_per_op).  Environment: see
# docs/benchmarks.md ("Suite contract").
set -u
bin="$PM_BENCH_BUILD/bench/pm-microbench"
tools="$PM_BENCH_SRC/tools"
suite=micro
title="Micro benchmarks (Google Benchmark, ns per op, single process per allocator)"
notes=""
columns=""

if [ "${PM_BENCH_QUICK:-0}" = 1 ]; then min_time=0.01; else min_time=0.1; fi
export PM_BENCH_QUICK

meta() {
	python3 - "$suite" "$title" "$columns" "$notes" <<'PY' >>"$PM_BENCH_OUT"
import json, sys
suite, title, columns, notes = sys.argv[1:]
cols = columns.split()
print(json.dumps({"suite": suite, "meta": {
    "title": title, "columns": cols,
    "baselines": [b for b in ("glibc", "jemalloc") if b in cols],
    "unit": "ns", "notes": [n for n in notes.split("|") if n]}}))
PY
}

for a in glibc poolmalloc poolmalloc-secure jemalloc mimalloc tcmalloc; do
	case " $PM_BENCH_ALLOCATORS " in
	*" $a "*) columns="$columns $a" ;;
	*) eval "why=\${PM_BENCH_SKIP_$(echo "$a" | tr - _):-not selected}"
	   notes="$notes|$a: not measured ($why)" ;;
	esac
done

if [ ! -x "$bin" ]; then
	notes="$notes|skipped: $bin not built (configure did not find Google Benchmark; apt-get install libbenchmark-dev)"
	columns=""
	meta
	echo "micro.sh: $bin not built, suite skipped" >&2
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
rep=0
while [ "$rep" -lt "$PM_BENCH_REPS" ]; do
	for a in $columns; do
		eval "preload=\${PM_BENCH_PRELOAD_$(echo "$a" | tr - _):-}"
		json="$tmp/$a-$rep.json"
		if [ -n "$preload" ]; then
			LD_PRELOAD="$preload" "$bin" --benchmark_min_time="$min_time" \
				--benchmark_out="$json" --benchmark_out_format=json >/dev/null 2>"$tmp/err"
		else
			env -u LD_PRELOAD "$bin" --benchmark_min_time="$min_time" \
				--benchmark_out="$json" --benchmark_out_format=json >/dev/null 2>"$tmp/err"
		fi
		rc=$?
		if [ "$rc" -ne 0 ]; then
			notes="$notes|$a: pm-microbench exited $rc on rep $rep: $(tail -n 1 "$tmp/err" | cut -c1-160); partial results only"
			status=1
		fi
		if [ -s "$json" ]; then
			"$tools/bench-gbench2jsonl" --suite "$suite" --variant "$a" --rep "$rep" "$json" \
				>>"$PM_BENCH_OUT" 2>>"$tmp/conv" ||
				notes="$notes|$a: some benchmarks reported errors on rep $rep: $(tail -n 1 "$tmp/conv" | cut -c1-160)"
		fi
	done
	rep=$((rep + 1))
	echo "micro.sh: rep $rep/$PM_BENCH_REPS done" >&2
done
meta
exit $status
