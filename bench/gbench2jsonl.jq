# SPDX-License-Identifier: MIT
# bench/gbench2jsonl.jq — Google Benchmark's JSON to the bench jsonl contract
# (docs/benchmarks.md), for bench/suites/micro.sh (issue 11.10: a jq filter
# instead of a hand-written converter).  Reads the --benchmark_format=json
# output of one pm-microbench run (one allocator, one repetition); prints one
# line per benchmark:
#   {"suite":S,"workload":"malloc_free/64","variant":V,"rep":R,"metric":"ns_per_op","value":X}
# X is Google Benchmark's real_time per iteration in ns (the workloads make
# one iteration one op, bench/harness.h), rounded to 1e-4 ns.  Aggregate rows
# (mean/median/stddev, present only with --benchmark_repetitions) are not
# copied.  Errored benchmarks are not copied either: they are named on stderr
# and the exit status is 1, as it is when nothing was measured, so the suite
# notes it instead of inventing a value.
# Usage: jq -c --arg suite S --arg variant V --argjson rep R -f bench/gbench2jsonl.jq FILE.json
def ns: .real_time * ({"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[.time_unit // "ns"]);

[.benchmarks[]?
 | select((.run_type // "iteration") == "iteration")
 | .workload = ((.run_name // .name) | sub("/real_time"; ""))] as $rows
| ($rows | map(select(.error_occurred | not))) as $ok
| ($rows | map(select(.error_occurred))) as $bad
| ($ok[] | {suite: $suite, workload, variant: $variant, rep: $rep, metric: "ns_per_op",
            value: ((ns * 10000 | round) / 10000)}),
  (if ($bad | length) > 0 then
     ($bad | map("bench-gbench2jsonl: \(.workload): \(.error_message // "error")\n") | add) | halt_error(1)
   elif ($ok | length) == 0 then
     "bench-gbench2jsonl: no benchmark results in \(input_filename)\n" | halt_error(1)
   else empty end)
