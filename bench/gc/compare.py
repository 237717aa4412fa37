#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/gc/compare.py — two builds of bench/gc/gcbench side by side (issue 13):
the before/after tables of docs/gc.md, "Benchmarks".

  compare.py OLD_GCBENCH NEW_GCBENCH [REPS]              wall time, interleaved
  compare.py --callgrind OLD_GCBENCH NEW_GCBENCH         instructions

Wall time: every workload of the "gc" and "gc-micro" suites (the gcbench
rows of bench/gc/run.py), old and new alternately (which one goes first
alternates too), REPS repetitions (default 9); prints a Markdown table of
median [min-max] and the ratio of the medians.  On a shared machine only
large differences mean anything.

Instructions: each workload once under callgrind with --collect-atstart=no,
so only the timed section (gcbench's TIMED_BEGIN/END client requests) is
counted; deterministic.  Needs valgrind.

To compare with an older commit, build it in its own worktree with the
same bench/gc/gcbench.c (so both sides carry the client requests), e.g.
  git worktree add /tmp/old <commit> && cp bench/gc/gcbench.c /tmp/old/bench/gc/
  (cd /tmp/old && tools/build && make bench/gc/gcbench)
"""
import statistics
import subprocess
import sys

GRAPHS = [("%s-1e%d" % (shape, e), ["graph", shape, str(10 ** e)], "time_s")
          for shape in ("live", "cycles", "tree") for e in (4, 5, 6)]
MICRO = [("incref-decref", ["micro", "incref", str(10 ** 8)], "ns_per_op"),
         ("incref-decref-atomic", ["micro", "incref-atomic", str(10 ** 8)], "ns_per_op"),
         ("alloc-free-32B", ["micro", "obj-alloc", str(10 ** 7)], "ns_per_op")]
CALLGRIND = [("%s-1e%d" % (shape, e), ["graph", shape, str(10 ** e)])
             for e in (5, 6) for shape in ("live", "cycles", "tree")] + [
             ("incref-decref (10^6 pairs)", ["micro", "incref", str(10 ** 6)]),
             ("incref-decref-atomic (10^6 pairs)", ["micro", "incref-atomic", str(10 ** 6)]),
             ("alloc-free-32B (10^5 objects)", ["micro", "obj-alloc", str(10 ** 5)])]


def run(binary, args, metric):
    out = subprocess.run([binary] + args, capture_output=True, text=True, check=True).stdout
    kv = dict(tok.split("=", 1) for tok in out.split() if "=" in tok)
    return float(kv[metric])


def fmt(v, metric):
    return "%.3f ms" % (v * 1e3) if metric == "time_s" else "%.2f ns" % v


def wall(old, new, reps):
    jobs = GRAPHS + MICRO
    res = {}
    for rep in range(reps):
        for name, args, metric in jobs:
            order = [("old", old), ("new", new)] if rep % 2 == 0 else [("new", new), ("old", old)]
            for label, binary in order:
                res.setdefault((name, label), []).append(run(binary, args, metric))
    print("| workload | old median [min-max] | new median [min-max] | new/old (medians) |")
    print("|---|---:|---:|---:|")
    for name, args, metric in jobs:
        o, n = res[(name, "old")], res[(name, "new")]
        mo, mn = statistics.median(o), statistics.median(n)
        print("| %s | %s [%s-%s] | %s [%s-%s] | %.2f |" % (
            name, fmt(mo, metric), fmt(min(o), metric), fmt(max(o), metric),
            fmt(mn, metric), fmt(min(n), metric), fmt(max(n), metric), mn / mo))


def instructions(binary, args):
    r = subprocess.run(["valgrind", "--tool=callgrind", "--collect-atstart=no",
                        "--callgrind-out-file=/dev/null", binary] + args,
                       capture_output=True, text=True, check=True)
    for line in r.stderr.splitlines():
        if "Collected :" in line:
            return int(line.split()[-1])
    raise RuntimeError("no callgrind total for %s %s" % (binary, args))


def callgrind(old, new):
    print("| workload | old | new | new/old |")
    print("|---|---:|---:|---:|")
    for name, args in CALLGRIND:
        o, n = instructions(old, args), instructions(new, args)
        print("| %s | {:,} | {:,} | %.3f |".format(o, n) % (name, n / o))


if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv and argv[0] == "--callgrind" and len(argv) == 3:
        callgrind(argv[1], argv[2])
    elif len(argv) in (2, 3) and not argv[0].startswith("-"):
        wall(argv[0], argv[1], int(argv[2]) if len(argv) == 3 else 9)
    else:
        sys.exit(__doc__)
