#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/gc/graph.py — the graphs of bench/gc/graph.h built from CPython
objects, timing CPython's own collector (issue 4; bench/suites/gc.sh).

    python3 graph.py live|cycles|tree N

Node is a class with __slots__ ("a", "b"): a GC-tracked object with two
references and no __dict__, the closest CPython analogue of a 16-byte C
node (48 bytes with its GC links and object header — the same as ours).
Automatic collection is disabled while building (gc.disable()), as in the
C programs; the timed part ends with gc.collect(), a full collection.
Prints "time_s=... peak_rss_kb=... freed=..." like the C programs.
"""
import gc
import resource
import sys
import time

RING = 16


class Node:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = None
        self.b = None


def peak_rss_kb():
    """VmHWM (peak RSS of this image); ru_maxrss survives execve on Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cross(i, n):
    return (i * 7919 + 13) % n


def main():
    shape, n = sys.argv[1], int(sys.argv[2])
    gc.disable()
    nodes = [Node() for _ in range(n)]
    if shape == "tree":
        for i in range(n):
            if 2 * i + 1 < n:
                nodes[i].a = nodes[2 * i + 1]
            if 2 * i + 2 < n:
                nodes[i].b = nodes[2 * i + 2]
        root = nodes[0]
        del nodes
        gc.collect()
        t0 = time.perf_counter()
        del root
        freed = gc.collect()
        t1 = time.perf_counter()
    else:
        for i in range(n):
            ring, nxt = i // RING, i + 1
            if nxt == n or nxt // RING != ring:
                nxt = ring * RING
            nodes[i].a = nodes[nxt]
            nodes[i].b = nodes[cross(i, n)]
        roots = nodes[::RING]
        del nodes
        gc.collect()
        t0 = time.perf_counter()
        if shape == "cycles":
            del roots
        freed = gc.collect()
        t1 = time.perf_counter()
    rss = peak_rss_kb()
    print("time_s=%.9f peak_rss_kb=%d freed=%d" % (t1 - t0, rss, freed))


if __name__ == "__main__":
    main()
