#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/gc/run.py — the GC layer's benchmark suites (issue 4), called by
bench/suites/gc.sh under the suite contract of docs/benchmarks.md
(PM_BENCH_BUILD, PM_BENCH_SRC, PM_BENCH_OUT, PM_BENCH_REPS, PM_BENCH_QUICK,
PM_BENCH_ALLOCATORS, PM_BENCH_PRELOAD_<name>).

Two suites, both appended to $PM_BENCH_OUT as JSON lines:

  gc        collection time (time_s, the timed section measured inside the
            process) and peak RSS (peak_rss_kb, the whole process) for the
            graphs of bench/gc/graph.h — live, cycles, tree — at 10^4, 10^5
            and 10^6 nodes (quick mode: 10^4 and 10^5), in three variants:
              poolmalloc  bench/gc/gcbench (the GC layer)
              cpython     bench/gc/graph.py under python3 (gc.collect())
              boehm       bench/gc/boehm (GC_gcollect(); needs libgc-dev)
            baselines: cpython, boehm.
  gc-micro  ns_per_op: incref+decref pairs (plain and atomic), and object
            allocation + release through the layer (pm_obj) against plain
            malloc/free of the same 32-byte payload under every allocator
            of $PM_BENCH_ALLOCATORS (bench/gc/allocbench with LD_PRELOAD).
            baseline: glibc.

Runs are interleaved (rep 0 of every workload and variant, then rep 1...).
After each run a "progress: K/N" line on stderr tells tools/bench how far
the script is (N grows when the second suite starts).
A variant that cannot run is absent and the meta line's notes say why;
a run that fails records nothing and is noted.  Never estimates a value.
"""
import json
import os
import shutil
import subprocess
import sys

build = os.environ["PM_BENCH_BUILD"]
src = os.environ["PM_BENCH_SRC"]
out_path = os.environ["PM_BENCH_OUT"]
reps = int(os.environ.get("PM_BENCH_REPS", "5"))
quick = os.environ.get("PM_BENCH_QUICK", "0") == "1"
allocators = os.environ.get("PM_BENCH_ALLOCATORS", "glibc").split()

gcbench = os.path.join(build, "bench/gc/gcbench")
boehm = os.path.join(build, "bench/gc/boehm")
allocbench = os.path.join(build, "bench/gc/allocbench")
graph_py = os.path.join(src, "bench/gc/graph.py")
python = shutil.which("python3")


PROGRESS = {"done": 0, "total": 0}


def progress(more_total=0):
    """Counts one finished run (or announces more_total planned ones)."""
    if more_total:
        PROGRESS["total"] += more_total
    else:
        PROGRESS["done"] += 1
    print("progress: %d/%d" % (PROGRESS["done"], PROGRESS["total"]), file=sys.stderr, flush=True)


def emit(rec):
    with open(out_path, "a") as f:
        f.write(json.dumps(rec) + "\n")


def run(argv, env=None):
    """Runs argv; returns its key=value output as a dict, or None."""
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)
    if env:
        e.update(env)
    try:
        r = subprocess.run(argv, env=e, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, str(exc)
    if r.returncode != 0:
        return None, "exit %d: %s" % (r.returncode, r.stderr.strip()[:200])
    kv = {}
    for tok in r.stdout.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            kv[k] = v
    return kv, None


# ---- Suite "gc": collection time and peak RSS ---------------------------------
def gc_suite():
    notes, variants = [], {}
    if os.access(gcbench, os.X_OK):
        variants["poolmalloc"] = lambda shape, n: [gcbench, "graph", shape, str(n)]
    else:
        notes.append("poolmalloc: %s not built (configure --disable-gc?)" % gcbench)
    if python:
        variants["cpython"] = lambda shape, n: [python, graph_py, shape, str(n)]
    else:
        notes.append("cpython: python3 not found")
    if os.access(boehm, os.X_OK):
        variants["boehm"] = lambda shape, n: [boehm, shape, str(n)]
    else:
        notes.append("boehm: bench/gc/boehm not built (libgc-dev missing at configure time)")
    notes.append("time_s is the timed section inside the process: live = one full collection of "
                 "a reachable graph; cycles = drop the roots + full collection freeing every node; "
                 "tree = drop the root + full collection (refcounting frees the tree at the drop; "
                 "Boehm in the collection).  peak_rss_kb is the whole process (build included).")
    notes.append("Boehm sweeps lazily: GC_gcollect() marks and queues the sweep, so its time "
                 "excludes most of the reclamation work that poolmalloc and CPython do eagerly.")
    sizes = [10**4, 10**5] if quick else [10**4, 10**5, 10**6]
    workloads = [(shape, n) for shape in ("live", "cycles", "tree") for n in sizes]
    failed = set()
    progress(more_total=reps * len(workloads) * len(variants))
    for rep in range(reps):
        for shape, n in workloads:
            w = "%s-1e%d" % (shape, len(str(n)) - 1)
            for v, argv in variants.items():
                kv, err = run(argv(shape, n))
                progress()
                if kv is None:
                    if (w, v) not in failed:
                        notes.append("%s/%s failed: %s" % (w, v, err))
                        failed.add((w, v))
                    continue
                for metric in ("time_s", "peak_rss_kb"):
                    emit({"suite": "gc", "workload": w, "variant": v, "rep": rep,
                          "metric": metric, "value": float(kv[metric])})
    emit({"suite": "gc", "meta": {
        "title": "GC layer: full-collection time and peak RSS vs CPython's gc and Boehm GC",
        "columns": [v for v in ("poolmalloc", "cpython", "boehm") if v in variants],
        "baselines": [b for b in ("cpython", "boehm") if b in variants],
        "unit": "s", "notes": notes}})


# ---- Suite "gc-micro": refcounts and allocation through the layer -------------
def micro_suite():
    notes, columns = [], []
    n_rc = 2 * 10**6 if quick else 10**8
    n_alloc = 10**5 if quick else 10**7
    jobs = []  # (workload, variant, argv, env)
    if os.access(gcbench, os.X_OK):
        columns.append("pm_obj")
        jobs.append(("incref-decref", "pm_obj", [gcbench, "micro", "incref", str(n_rc)], None))
        jobs.append(("incref-decref-atomic", "pm_obj", [gcbench, "micro", "incref-atomic", str(n_rc)], None))
        jobs.append(("alloc-free-32B", "pm_obj", [gcbench, "micro", "obj-alloc", str(n_alloc)], None))
    else:
        notes.append("pm_obj: bench/gc/gcbench not built")
    if os.access(allocbench, os.X_OK):
        for a in allocators:
            pre = os.environ.get("PM_BENCH_PRELOAD_" + a.replace("-", "_"), "")   # sh drops '-' names
            if a != "glibc" and not pre:
                notes.append("%s: no preload path" % a)
                continue
            columns.append(a)
            jobs.append(("alloc-free-32B", a, [allocbench, str(n_alloc)], {"LD_PRELOAD": pre} if pre else None))
    notes.append("pm_obj = pm_obj_new()/pm_decref() of a tracked object with a 32-byte payload "
                 "(a 32-byte header in front); the allocator columns = malloc(32)/free() under "
                 "that allocator; batches of 1000 (allocate all, then free all).")
    failed = set()
    progress(more_total=reps * len(jobs))
    for rep in range(reps):
        for w, v, argv, env in jobs:
            kv, err = run(argv, env)
            progress()
            if kv is None:
                if (w, v) not in failed:
                    notes.append("%s/%s failed: %s" % (w, v, err))
                    failed.add((w, v))
                continue
            emit({"suite": "gc-micro", "workload": w, "variant": v, "rep": rep,
                  "metric": "ns_per_op", "value": float(kv["ns_per_op"])})
    emit({"suite": "gc-micro", "meta": {
        "title": "GC layer micro benchmarks: refcounting, allocation through the layer vs malloc/free",
        "columns": columns, "baselines": ["glibc"] if "glibc" in columns else [],
        "unit": "ns", "notes": notes}})


if __name__ == "__main__":
    gc_suite()
    micro_suite()
