# SPDX-License-Identifier: MIT
"""tools/benchlib.py — what the benchmark tools share (issue 11.10).

Owns: reading bench/allocators (the one list of compared allocators), the
names a reader sees for them, and the progress lines with which suites tell
tools/bench how far they are, so it can estimate the time left.  Imported by
tools/bench, tools/bench-run and tools/bench-report (Python puts a script's
own directory on sys.path, so a plain `import benchlib` finds this file).

Progress contract: a suite may print lines "progress: K/N" on stderr after
its K-th of N runs; tools/bench reads them (and does not echo them) to say
how much of the suite is left.
"""

import os
import sys

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What a reader sees in logs and terminal tables; reports use the bare names.
LABELS = {"glibc": "glibc (system malloc, no preload)"}


def read_allocators(src=SRC):
    """bench/allocators as [(name, debian_package or None, [shared objects])],
    then the peers named in $BENCH_PEERS ("name=/path/lib.so ...": allocators
    built from source, e.g. mimalloc 3 or snmalloc; docs/benchmarks.md)."""
    out = []
    with open(os.path.join(src, "bench", "allocators")) as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            name, pkg, sonames = words[0], words[1] if len(words) > 1 else "-", words[2:]
            out.append((name, None if pkg == "-" else pkg, [s for s in sonames if s != "-"]))
    for peer in os.environ.get("BENCH_PEERS", "").split():
        name, _, path = peer.partition("=")
        if name and path and name not in [n for n, _, _ in out]:
            out.append((name, None, [os.path.abspath(path)]))
    return out


def allocator_names(src=SRC):
    return [name for name, _, _ in read_allocators(src)]


def label(name):
    return LABELS.get(name, name)


def progress(done, total):
    """One progress line for tools/bench (see the contract above)."""
    print("progress: %d/%d" % (done, total), file=sys.stderr, flush=True)


def fmt_duration(seconds):
    """'45 s', '3 min 10 s', '1 h 05 min'."""
    s = int(round(max(seconds, 0)))
    if s < 60:
        return "%d s" % s
    if s < 3600:
        return "%d min %02d s" % (s // 60, s % 60)
    return "%d h %02d min" % (s // 3600, (s % 3600) // 60)
