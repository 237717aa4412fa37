#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/suites/micro.sh — the micro benchmarks (bench/pm-microbench) under
# each allocator, interleaved: rep 0 of every allocator, then rep 1, ...
# Each run is one process with LD_PRELOAD set (none for glibc); Google
# Benchmark's JSON is converted to the contract's jsonl by the jq filter
# bench/gbench2jsonl.jq (metric ns_per_op).  The allocators are
# $PM_BENCH_ALL (tools/bench sets it from bench/allocators).  Prints
# "progress: K/N" after each run.  Environment: see docs/benchmarks.md
# ("Suite contract").
set -u
bin="$PM_BENCH_BUILD/bench/pm-microbench"
jqfilter="$PM_BENCH_SRC/bench/gbench2jsonl.jq"
suite=micro
title="Micro benchmarks (Google Benchmark, ns per op, single process per allocator)"
notes=""
columns=""

if [ "${PM_BENCH_QUICK:-0}" = 1 ]; then min_time=0.01; else min_time=0.1; fi
export PM_BENCH_QUICK

meta() {
	jq -cn --arg suite "$suite" --arg title "$title" --arg columns "$columns" --arg notes "$notes" '
		($columns | split(" ") | map(select(length > 0))) as $cols
		| {suite: $suite, meta: {title: $title, columns: $cols,
		   baselines: [("glibc", "jemalloc") as $b | select($cols | index($b)) | $b],
		   unit: "ns", notes: ($notes | split("|") | map(select(length > 0)))}}' >>"$PM_BENCH_OUT"
}

all=${PM_BENCH_ALL:-$(sed 's/#.*//' "$PM_BENCH_SRC/bench/allocators" | awk 'NF { print $1 }')}
for a in $all; do
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
runs=0
total=$((PM_BENCH_REPS * $(echo $columns | wc -w)))
while [ "$rep" -lt "$PM_BENCH_REPS" ]; do
	for a in $columns; do
		echo "progress: $runs/$total" >&2
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
			jq -c --arg suite "$suite" --arg variant "$a" --argjson rep "$rep" -f "$jqfilter" "$json" \
				>>"$PM_BENCH_OUT" 2>>"$tmp/conv" ||
				notes="$notes|$a: some benchmarks reported errors on rep $rep: $(tail -n 1 "$tmp/conv" | cut -c1-160)"
		fi
		runs=$((runs + 1))
	done
	rep=$((rep + 1))
	echo "micro.sh: rep $rep/$PM_BENCH_REPS done" >&2
done
meta
exit $status
